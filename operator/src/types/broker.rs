//! `spec.broker`: broker groups, their replication and their `broker.conf`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{PodOptions, ScaleDownPolicy, StorageSpec, schema, validation};

/// The brokers: `groups` broker groups (RocketMQ's `brokerName`), each a StatefulSet whose
/// pod 0 is the master and, in MasterSlave mode, whose other pods are its slaves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = validation::broker_rules)]
pub struct BrokerSpec {
    /// How groups are made up: `MultiMaster` (one master per group, no replicas) or
    /// `MasterSlave` (a master and one or more slaves per group). Fixed at creation.
    #[schemars(transform = validation::broker_mode_rules)]
    pub mode: BrokerMode,
    /// Number of broker groups (1 to 64). Topics spread their queues over the groups.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 64))]
    pub groups: i32,
    /// Pods per group, master included (1 to 4): 1 in MultiMaster mode, 2 or more in
    /// MasterSlave mode. Unset: 1 for MultiMaster, 2 for MasterSlave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4))]
    pub replicas_per_group: Option<i32>,
    /// MasterSlave only: `Sync` (a send is acknowledged once a slave has it; SYNC_MASTER) or
    /// `Async` (acknowledged once the master has it; ASYNC_MASTER). Unset means `Async`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<Replication>,
    /// When a send is acknowledged relative to the disk: `Async` (after the write, flushed in
    /// the background; ASYNC_FLUSH) or `Sync` (after an fsync covering it; SYNC_FLUSH).
    #[serde(default)]
    pub flush_disk_type: FlushDiskType,
    /// Each broker pod's persistent volume.
    pub storage: StorageSpec,
    /// CPU and memory requests and limits of the broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra `broker.conf` settings under RocketMQ's key names, values as strings (quote
    /// numbers and booleans: `fileReservedTime: "48"`). Keys the operator derives from this
    /// resource are refused (brokerClusterName, brokerName, brokerId, brokerRole, namesrvAddr,
    /// listenPort, haListenPort, storePathRootDir, storePathCommitLog, brokerIP1, brokerIP2,
    /// flushDiskType, metricsExporterType, metricsPromExporterPort), and so are keys the
    /// broker does not know. Values are checked when the operator renders the file; a bad
    /// one is reported in the Degraded condition.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::broker_config", transform = validation::broker_config_rules)]
    pub config: BTreeMap<String, String>,
    /// Scheduling and metadata of the broker pods.
    #[serde(default)]
    pub pod: PodOptions,
    /// Lowering `groups` removes the highest groups one at a time: each is made read-only,
    /// drained, then its StatefulSet goes (its volume claims stay unless deleteClaim).
    /// `Block` (the default) waits until consumers have read everything on it; `Force`
    /// waits at most the operator's drain timeout.
    #[serde(default)]
    pub scale_down_policy: ScaleDownPolicy,
}

fn one() -> i32 {
    1
}

impl BrokerSpec {
    /// Pods per group, with the mode's default filled in.
    pub fn replicas_per_group(&self) -> i32 {
        self.replicas_per_group.unwrap_or(match self.mode {
            BrokerMode::MultiMaster => 1,
            BrokerMode::MasterSlave => 2,
        })
    }

    /// The replication of a MasterSlave group, with the default filled in; `None` in
    /// MultiMaster mode, where nothing replicates.
    pub fn replication(&self) -> Option<Replication> {
        match self.mode {
            BrokerMode::MultiMaster => None,
            BrokerMode::MasterSlave => Some(self.replication.unwrap_or(Replication::Async)),
        }
    }
}

/// How a broker group is made up.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = schema::without_description)]
pub enum BrokerMode {
    /// Every group is a single master; losing a pod makes its group unavailable until it
    /// comes back (producers send to the other groups meanwhile).
    MultiMaster,
    /// Every group is a master (pod 0) with slaves (pods 1…) replicating its CommitLog.
    MasterSlave,
}

/// When a master acknowledges a send, relative to its slaves.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = schema::without_description)]
pub enum Replication {
    /// After at least one slave has the message (`SYNC_MASTER`).
    Sync,
    /// After the master has it; slaves catch up in the background (`ASYNC_MASTER`).
    Async,
}

/// When a broker acknowledges a send, relative to its disk.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = schema::without_description)]
pub enum FlushDiskType {
    /// After the write; a background flush follows (`ASYNC_FLUSH`).
    #[default]
    Async,
    /// After an fsync that covers the message (`SYNC_FLUSH`).
    Sync,
}
