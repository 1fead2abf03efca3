//! `RocketMQCluster` (`rocketmq.apogee.dev/v1alpha1`): the one resource a user writes.
//!
//! Doc comments on these types become the CRD's descriptions, so `kubectl explain rmq.spec…`
//! shows them; write them for a cluster operator, not for a Rust reader. Admission rules (CEL)
//! live in [`validation`], next to the lists of keys they refer to.

pub mod annotations;
mod broker;
mod cluster;
mod metrics;
mod name_server;
mod pod;
mod restart;
mod scale_down;
mod schema;
mod status;
mod storage;
pub mod validation;

pub use broker::{BrokerMode, BrokerSpec, FlushDiskType, Replication};
pub use cluster::{RocketMQCluster, RocketMQClusterSpec};
pub use metrics::MetricsSpec;
pub use name_server::NameServerSpec;
pub use pod::PodOptions;
pub use restart::{PodRestartStatus, RestartStep};
pub use scale_down::{ScaleDownPolicy, ScaleDownStatus, ScaleDownStep};
pub use status::{
    BrokerGroupStatus, BrokerPodStatus, BrokerRoleName, ConditionType, NameServerStatus, Phase,
    RocketMQClusterStatus,
};
pub use storage::StorageSpec;

/// The API group of every resource this operator defines.
pub const API_GROUP: &str = "rocketmq.apogee.dev";
/// The served and stored version of [`RocketMQCluster`].
pub const API_VERSION: &str = "v1alpha1";
