//! The pause annotation: nothing is applied while it is set; status says so.

use super::harness::{
    Operator, OperatorOptions, apply, cluster, condition, json, kubectl, manifest, plane, runtime, wait_for,
    wait_ready,
};

const BROKER: &str = "    mode: MultiMaster
    groups: 1
    storage:
      size: 1Gi
";

#[test]
fn a_paused_cluster_is_left_alone_until_resumed() {
    let plane = plane();
    let ns = plane.create_namespace("op-pause").expect("namespace");
    let rt = runtime();
    let operator = Operator::start(&rt, plane, &ns, OperatorOptions::default());
    apply(plane, &manifest(&ns, "idle", BROKER, 2, ""));
    wait_ready(plane, &ns, "idle");

    kubectl(
        plane,
        &[
            "annotate",
            "rocketmqcluster",
            "idle",
            "-n",
            &ns,
            "rocketmq.apogee.dev/pause-reconciliation=true",
        ],
    );
    kubectl(
        plane,
        &[
            "patch",
            "rocketmqcluster",
            "idle",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"nameServer":{"replicas":4}}}"#,
        ],
    );
    // The operator has seen the new generation while paused.
    let paused = wait_for(plane, "ReconciliationPaused for the new generation", || {
        let object = cluster(plane, &ns, "idle")?;
        let paused = condition(&object, "ReconciliationPaused")?;
        (paused["status"] == "True" && paused["observedGeneration"] == object["metadata"]["generation"])
            .then_some(object)
    });
    assert_eq!(paused["status"]["phase"], "Paused");
    assert_ne!(
        paused["status"]["observedGeneration"], paused["metadata"]["generation"],
        "a paused cluster's observedGeneration stays behind"
    );
    let deployment = json(plane, &["get", "deployment", "idle-namesrv", "-n", &ns]).expect("deployment");
    assert_eq!(
        deployment["spec"]["replicas"], 2,
        "a paused cluster's change was applied"
    );

    kubectl(
        plane,
        &[
            "annotate",
            "rocketmqcluster",
            "idle",
            "-n",
            &ns,
            "rocketmq.apogee.dev/pause-reconciliation-",
        ],
    );
    let resumed = wait_ready(plane, &ns, "idle");
    assert_eq!(resumed["status"]["nameServer"]["ready"], 4);
    operator.stop(&rt);
}
