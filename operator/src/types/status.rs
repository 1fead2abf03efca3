//! `status`: what the operator last observed. Written only by the operator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{PodRestartStatus, ScaleDownStatus, schema};

/// What the operator last observed of the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RocketMQClusterStatus {
    /// The `metadata.generation` this status describes. Older than the resource's generation
    /// while the operator has not caught up with a change (or while reconciliation is paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// One-word summary of the conditions: Pending, Progressing, Ready, Degraded or Paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Ready (every NameServer and broker pod is ready), Progressing (pods are being
    /// created, started or restarted onto the current configuration), Degraded (the
    /// configuration cannot be rendered, or pods are failing), ReconciliationPaused, and
    /// Warning (a change was refused and the previous value kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::list_map_by_type)]
    pub conditions: Vec<Condition>,
    /// The NameServers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_server: Option<NameServerStatus>,
    /// Every broker group and its pods, in group order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::list_map_by_name)]
    pub groups: Vec<BrokerGroupStatus>,
    /// The broker pod the operator is restarting now (one at a time), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<PodRestartStatus>,
    /// The broker group the operator is removing now (after `groups` went down), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScaleDownStatus>,
}

/// The NameServers' readiness and where clients reach them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameServerStatus {
    /// NameServer pods ready.
    pub ready: i32,
    /// NameServer pods wanted (`spec.nameServer.replicas`).
    pub desired: i32,
    /// The address for clients' `namesrvAddr` inside the cluster (`host:port` of the client
    /// Service).
    pub address: String,
}

/// One broker group (`brokerName`) and its pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerGroupStatus {
    /// The group's `brokerName`, which is also its StatefulSet's name.
    pub name: String,
    /// The group's pods that exist, by ordinal.
    #[serde(default)]
    #[schemars(transform = schema::list_map_by_name)]
    pub pods: Vec<BrokerPodStatus>,
}

/// One broker pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerPodStatus {
    /// Pod name.
    pub name: String,
    /// The pod's `brokerId`: its ordinal in the StatefulSet (0 is the master).
    pub broker_id: i64,
    /// Master or Slave.
    pub role: BrokerRoleName,
    /// The pod passes its readiness probe (store recovered, registered with a NameServer).
    pub ready: bool,
    /// Hash of the `broker.conf` the pod was started with. A pod whose hash differs from its
    /// group's current one is due for an (ordered) restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
}

/// A broker's role in its group.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = schema::without_description)]
pub enum BrokerRoleName {
    /// Takes writes (`brokerId` 0).
    Master,
    /// Replicates the master's CommitLog and serves reads.
    Slave,
}

/// One-word summary of the cluster's conditions, for `kubectl get`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = schema::without_description)]
pub enum Phase {
    /// Nothing is running yet.
    Pending,
    /// Pods are being created, started or restarted.
    Progressing,
    /// Every pod is ready and on the current configuration.
    Ready,
    /// The configuration cannot be rendered or pods are failing.
    Degraded,
    /// Reconciliation is paused by annotation.
    Paused,
}

/// The condition types the operator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// Every NameServer and broker pod is ready.
    Ready,
    /// Pods are being created, started or restarted onto the current configuration.
    Progressing,
    /// The configuration cannot be rendered, or pods are failing.
    Degraded,
    /// The pause annotation is set; nothing is changed.
    ReconciliationPaused,
    /// A change was refused and the previous value kept (e.g. a storage change the
    /// StorageClass cannot make).
    Warning,
}

impl ConditionType {
    /// Every type, in the order they are written.
    pub const ALL: [Self; 5] = [
        Self::Ready,
        Self::Progressing,
        Self::Degraded,
        Self::ReconciliationPaused,
        Self::Warning,
    ];

    /// The `type` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Progressing => "Progressing",
            Self::Degraded => "Degraded",
            Self::ReconciliationPaused => "ReconciliationPaused",
            Self::Warning => "Warning",
        }
    }
}
