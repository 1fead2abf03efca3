//! prometheus-operator monitors of a cluster's brokers, when `spec.metrics.serviceMonitor` or
//! `spec.metrics.podMonitor` asks for them: `<cluster>-broker`, a ServiceMonitor on the
//! brokers' headless Service or a PodMonitor on the broker pods, scraping the `metrics` port.
//!
//! Their kinds are not part of Kubernetes, so they are built as JSON and applied as dynamic
//! objects; the reconciler turns "kind not installed" into a Warning condition.

use serde_json::{Value, json};

use super::{
    Names,
    labels::{self, Component},
    scope::Scope,
    services::METRICS,
};

/// `monitoring.coreos.com/v1`, the API of both kinds.
pub const API_VERSION: &str = "monitoring.coreos.com/v1";
/// The `job` label of every broker target: the one the chart's alerts and dashboard select
/// (its `monitoring.brokers.jobLabel` default), so both kinds of monitor feed them alike.
pub const JOB: &str = "apogee-broker";

/// A monitor kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MonitorKind {
    /// Targets from the brokers' headless Service endpoints.
    ServiceMonitor,
    /// Targets from the broker pods directly.
    PodMonitor,
}

impl MonitorKind {
    /// Both kinds, in apply order.
    pub const ALL: [Self; 2] = [Self::ServiceMonitor, Self::PodMonitor];

    /// The `kind`.
    pub const fn kind(self) -> &'static str {
        match self {
            Self::ServiceMonitor => "ServiceMonitor",
            Self::PodMonitor => "PodMonitor",
        }
    }

    /// The resource's plural (its URL path segment).
    pub const fn plural(self) -> &'static str {
        match self {
            Self::ServiceMonitor => "servicemonitors",
            Self::PodMonitor => "podmonitors",
        }
    }

    /// The spec field that asks for this kind.
    pub const fn field(self) -> &'static str {
        match self {
            Self::ServiceMonitor => "spec.metrics.serviceMonitor",
            Self::PodMonitor => "spec.metrics.podMonitor",
        }
    }
}

/// One monitor, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    /// Its kind.
    pub kind: MonitorKind,
    /// The whole object.
    pub object: Value,
}

/// `job`, and the cluster and group from the pod's labels as target labels: `up` carries
/// target labels only, and a broker that is down must still say where it belongs. Named
/// unlike the samples' own `cluster` and `broker`, which Prometheus would rename otherwise.
fn relabelings() -> Value {
    let label = |name: &str| {
        let mut meta = String::from("__meta_kubernetes_pod_label_");
        meta.extend(
            name.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
        meta
    };
    json!([
        {"action": "replace", "targetLabel": "job", "replacement": JOB},
        {"action": "replace", "sourceLabels": [label(labels::INSTANCE)], "targetLabel": "rocketmq_cluster"},
        {"action": "replace", "sourceLabels": [label(labels::BROKER_GROUP)], "targetLabel": "broker_group"},
    ])
}

/// The monitors the spec asks for (none by default).
pub fn monitors(scope: &Scope<'_>) -> Vec<Monitor> {
    let wanted = &scope.spec.metrics;
    MonitorKind::ALL
        .into_iter()
        .filter(|kind| match kind {
            MonitorKind::ServiceMonitor => wanted.service_monitor,
            MonitorKind::PodMonitor => wanted.pod_monitor,
        })
        .map(|kind| Monitor {
            kind,
            object: monitor(scope, kind),
        })
        .collect()
}

fn monitor(scope: &Scope<'_>, kind: MonitorKind) -> Value {
    let selector = labels::selector(&scope.names, Component::Broker);
    let meta = scope.meta(name(&scope.names), labels::object_labels(&selector));
    let endpoint = json!({
        "port": METRICS,
        "path": "/metrics",
        "relabelings": relabelings(),
    });
    // The headless Service carries the pods' selector labels (plus managed-by), so the same
    // labels select it among Services as they select the pods.
    let endpoints = match kind {
        MonitorKind::ServiceMonitor => json!({"endpoints": [endpoint]}),
        MonitorKind::PodMonitor => json!({"podMetricsEndpoints": [endpoint]}),
    };
    let mut spec = json!({"selector": {"matchLabels": selector}});
    if let (Some(spec), Some(endpoints)) = (spec.as_object_mut(), endpoints.as_object()) {
        spec.extend(endpoints.clone());
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": kind.kind(),
        "metadata": meta,
        "spec": spec,
    })
}

/// The name of either monitor of a cluster.
pub fn name(names: &Names) -> String {
    format!("{}-broker", names.cluster())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RocketMQCluster, RocketMQClusterSpec};

    fn cluster(metrics: Value) -> RocketMQCluster {
        let spec: RocketMQClusterSpec = serde_json::from_value(json!({
            "image": "apogee:0.1.0",
            "broker": {"mode": "MultiMaster", "groups": 2, "storage": {"size": "1Gi"}},
            "metrics": metrics,
        }))
        .expect("spec");
        let mut cluster = RocketMQCluster::new("prod", spec);
        cluster.metadata.namespace = Some("mq".into());
        cluster.metadata.uid = Some("6f1c2a5e-0000-4000-8000-000000000001".into());
        cluster
    }

    #[test]
    fn none_unless_asked() {
        let cluster = cluster(json!({}));
        let scope = Scope::new(&cluster).expect("scope");
        assert!(monitors(&scope).is_empty());
    }

    #[test]
    fn each_kind_scrapes_the_metrics_port_of_this_clusters_brokers() {
        let cluster = cluster(json!({"serviceMonitor": true, "podMonitor": true, "port": 9500}));
        let scope = Scope::new(&cluster).expect("scope");
        let made = monitors(&scope);
        let kinds: Vec<_> = made.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, MonitorKind::ALL);
        for monitor in &made {
            let object = &monitor.object;
            assert_eq!(object["apiVersion"], API_VERSION);
            assert_eq!(object["kind"], monitor.kind.kind());
            assert_eq!(object["metadata"]["name"], "prod-broker");
            assert_eq!(object["metadata"]["namespace"], "mq");
            assert_eq!(
                object["metadata"]["ownerReferences"][0]["kind"],
                "RocketMQCluster"
            );
            assert_eq!(object["metadata"]["ownerReferences"][0]["controller"], true);
            let selector = &object["spec"]["selector"]["matchLabels"];
            assert_eq!(selector[labels::INSTANCE], "prod");
            assert_eq!(selector[labels::COMPONENT], "broker");
            let endpoints = match monitor.kind {
                MonitorKind::ServiceMonitor => &object["spec"]["endpoints"],
                MonitorKind::PodMonitor => &object["spec"]["podMetricsEndpoints"],
            };
            assert_eq!(endpoints[0]["port"], "metrics");
            assert_eq!(endpoints[0]["path"], "/metrics");
            let relabel = &endpoints[0]["relabelings"];
            assert_eq!(relabel[0]["replacement"], JOB);
            assert_eq!(
                relabel[1]["sourceLabels"][0],
                "__meta_kubernetes_pod_label_app_kubernetes_io_instance"
            );
            assert_eq!(
                relabel[2]["sourceLabels"][0],
                "__meta_kubernetes_pod_label_rocketmq_apogee_dev_broker_group"
            );
        }
    }
}
