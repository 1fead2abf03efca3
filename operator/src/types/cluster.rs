//! The resource itself: what [`RocketMQClusterSpec`] holds and how `kubectl get` shows it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BrokerSpec, MetricsSpec, NameServerSpec, RocketMQClusterStatus};

/// The cluster wanted: its image, NameServers, broker groups (each a master and, in
/// MasterSlave mode, its slaves) with their storage and configuration, and metrics.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "rocketmq.apogee.dev",
    version = "v1alpha1",
    kind = "RocketMQCluster",
    plural = "rocketmqclusters",
    namespaced,
    shortname = "rmq",
    shortname = "rocketmq",
    status = "RocketMQClusterStatus",
    derive = "PartialEq",
    doc = "A RocketMQ cluster served by Apogee: NameServers, broker groups, storage, configuration \
           and metrics. The operator turns it into a NameServer Deployment, one StatefulSet per \
           broker group, their Services, ConfigMaps and PodDisruptionBudgets.",
    // Raw JSON rather than `printcolumn(name = …, type_ = …)`: clippy takes the repeated
    // `type_ = "string"` in those for duplicated attributes.
    printcolumn = r#"{"name": "Mode", "type": "string", "jsonPath": ".spec.broker.mode", "description": "Broker mode"}"#,
    printcolumn = r#"{"name": "Groups", "type": "integer", "jsonPath": ".spec.broker.groups", "description": "Broker groups (brokerName)"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status", "description": "Every NameServer and broker pod is ready"}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Summary of the conditions", "priority": 1}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RocketMQClusterSpec {
    /// Container image holding the `apogee` binary (its `namesrv` and `broker` subcommands),
    /// e.g. `registry.example/apogee:0.1.0`. Changing it restarts the pods: NameServers
    /// through their Deployment, brokers one at a time under the operator's control.
    #[schemars(length(min = 1))]
    pub image: String,
    /// The NameServers: brokers register with every one of them, clients ask any of them
    /// for routes.
    #[serde(default)]
    pub name_server: NameServerSpec,
    /// The brokers: how many groups, how each group replicates, its storage and
    /// `broker.conf` settings.
    pub broker: BrokerSpec,
    /// The brokers' Prometheus endpoint and the monitors that scrape it.
    #[serde(default)]
    pub metrics: MetricsSpec,
}
