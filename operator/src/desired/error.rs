//! Why a `RocketMQCluster` cannot be rendered into objects.

use apogee_broker::config::ConfigError;

/// A resource the builders cannot turn into objects. Each names the field to fix; the
/// reconciler reports it in the Degraded condition.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// Metadata the objects need is missing (a resource not read from the API server).
    #[error("metadata.{0} is missing: owned objects need it")]
    MissingMetadata(&'static str),
    /// The cluster's name cannot prefix the names of its objects.
    #[error(
        "metadata.name `{0}` must be a DNS label of at most {max} characters starting with a letter: \
         Services and StatefulSets are named after it",
        max = super::names::MAX_CLUSTER_NAME
    )]
    InvalidName(String),
    /// A free-form config map sets a key the operator owns (admission normally refuses it).
    #[error("{field} must not set `{key}`: the operator sets it from the resource")]
    OwnedKey {
        /// `spec.broker.config` or `spec.nameServer.config`.
        field: &'static str,
        /// The key.
        key: String,
    },
    /// The configuration the resource describes is not one the broker or NameServer accepts.
    #[error("{field}: {source}")]
    Config {
        /// `spec.broker.config` or `spec.nameServer.config`.
        field: &'static str,
        /// What the broker's own config reader refused, naming the key.
        #[source]
        source: ConfigError,
    },
}
