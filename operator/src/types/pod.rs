//! `spec.*.pod`: the scheduling and metadata knobs of a component's pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, PodSecurityContext, Toleration, TopologySpreadConstraint};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where and how a component's pods run. Every field is passed to the pod template as given;
/// the operator only fills in defaults for fields left out.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodOptions {
    /// Pod affinity rules. When unset, the operator prefers (without requiring) to place pods
    /// of the same group, or the NameServers, on different nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Tolerations, for running on tainted (e.g. dedicated) nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Topology spread constraints, e.g. to spread a group's master and slaves across zones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// PriorityClass of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Pod-level security context. When unset: `runAsNonRoot`, the `RuntimeDefault` seccomp
    /// profile and `fsGroup` 65532 (so the process can write the broker's volume whatever
    /// its user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Extra annotations on the pods (not on the workload). Annotations under
    /// `rocketmq.apogee.dev/` belong to the operator and are overwritten.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
