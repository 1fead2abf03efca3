//! `spec.metrics.serviceMonitor` / `podMonitor`: the operator makes prometheus-operator
//! monitors for the cluster's brokers, which the real API server accepts against
//! prometheus-operator's own CRDs, and deletes one once it is no longer asked for.

use super::harness::{
    Operator, OperatorOptions, apply, condition, json, kubectl, manifest, plane, runtime, wait_for,
    wait_ready,
};

const WITH_MONITORS: &str = "    mode: MultiMaster
    groups: 1
    storage:
      size: 1Gi
  metrics:
    serviceMonitor: true
    podMonitor: true
";

#[test]
fn monitors_follow_the_spec() {
    let plane = plane();
    let ns = plane.create_namespace("op-monitors").expect("namespace");
    let rt = runtime();
    let operator = Operator::start(&rt, plane, &ns, OperatorOptions::default());
    apply(plane, &manifest(&ns, "mon", WITH_MONITORS, 1, ""));
    let object = wait_ready(plane, &ns, "mon");
    assert!(
        condition(&object, "Warning").is_none_or(|w| w["status"] == "False"),
        "{object}"
    );

    let service_monitor =
        json(plane, &["get", "servicemonitor", "mon-broker", "-n", &ns]).expect("the ServiceMonitor");
    let pod_monitor = json(plane, &["get", "podmonitor", "mon-broker", "-n", &ns]).expect("the PodMonitor");
    for monitor in [&service_monitor, &pod_monitor] {
        let owner = &monitor["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "RocketMQCluster", "{monitor}");
        assert_eq!(owner["name"], "mon", "{monitor}");
        assert_eq!(
            monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"], "mon",
            "{monitor}"
        );
    }
    assert_eq!(service_monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(pod_monitor["spec"]["podMetricsEndpoints"][0]["port"], "metrics");
    // The ServiceMonitor's selector picks exactly the brokers' headless Service.
    let selector =
        "app.kubernetes.io/name=rocketmq,app.kubernetes.io/instance=mon,app.kubernetes.io/component=broker";
    let services = kubectl(
        plane,
        &["get", "services", "-n", &ns, "-l", selector, "-o", "name"],
    );
    assert_eq!(services.trim(), "service/mon-broker-hl");

    // No longer asked for: the ServiceMonitor goes, the PodMonitor stays.
    kubectl(
        plane,
        &[
            "patch",
            "rocketmqcluster",
            "mon",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"metrics":{"serviceMonitor":false}}}"#,
        ],
    );
    wait_for(plane, "the ServiceMonitor to be deleted", || {
        json(plane, &["get", "servicemonitor", "mon-broker", "-n", &ns])
            .is_none()
            .then_some(())
    });
    wait_ready(plane, &ns, "mon");
    assert!(
        json(plane, &["get", "podmonitor", "mon-broker", "-n", &ns]).is_some(),
        "the PodMonitor is still asked for"
    );
    operator.stop(&rt);
}
