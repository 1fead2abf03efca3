//! `spec.metrics`: the brokers' Prometheus endpoint.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::validation;

/// The brokers' HTTP endpoint (`/metrics` in Prometheus text, `/healthz`, `/readyz`). It is
/// always on: the operator's probes use it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Port of the endpoint on every broker pod (`metricsPromExporterPort`), 5557 by default.
    /// It must differ from the broker's own ports 10909, 10911 and 10912.
    #[serde(default = "metrics_port")]
    #[schemars(range(min = 1, max = 65535), transform = validation::metrics_port_rules)]
    pub port: i32,
    /// Create a prometheus-operator ServiceMonitor for the brokers' headless Service.
    #[serde(default)]
    pub service_monitor: bool,
    /// Create a prometheus-operator PodMonitor selecting every broker pod.
    #[serde(default)]
    pub pod_monitor: bool,
}

/// RocketMQ's `metricsPromExporterPort` default.
fn metrics_port() -> i32 {
    5557
}

impl Default for MetricsSpec {
    fn default() -> Self {
        Self {
            port: metrics_port(),
            service_monitor: false,
            pod_monitor: false,
        }
    }
}
