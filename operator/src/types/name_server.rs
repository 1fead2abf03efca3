//! `spec.nameServer`: the NameServer Deployment.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{PodOptions, schema, validation};

/// The NameServers: a Deployment of `replicas` pods behind a client Service, and a headless
/// Service through which every broker finds (and registers with) each of them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameServerSpec {
    /// Number of NameServer pods (1 to 9). Brokers register with every one and find new ones
    /// by DNS, so changing it restarts no broker.
    #[serde(default = "name_server_replicas")]
    #[schemars(range(min = 1, max = 9))]
    pub replicas: i32,
    /// CPU and memory requests and limits of the NameServer container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra `namesrv.conf` settings under RocketMQ's key names, values as strings (quote
    /// numbers and booleans: `orderMessageEnable: "true"`). The operator owns `listenPort` and
    /// `kvConfigPath`; unknown keys are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::namesrv_config", transform = validation::namesrv_config_rules)]
    pub config: BTreeMap<String, String>,
    /// Scheduling and metadata of the NameServer pods.
    #[serde(default)]
    pub pod: PodOptions,
}

/// Two NameServers, so one can restart (or its node drain) while clients and brokers keep
/// using the other.
fn name_server_replicas() -> i32 {
    2
}

impl Default for NameServerSpec {
    fn default() -> Self {
        Self {
            replicas: name_server_replicas(),
            resources: None,
            config: BTreeMap::new(),
            pod: PodOptions::default(),
        }
    }
}
