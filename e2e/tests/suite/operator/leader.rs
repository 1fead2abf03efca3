//! Leader election: of two operators sharing a Lease only the holder reconciles; when it
//! stops it releases the Lease and the standby takes over.

use super::harness::{
    Operator, OperatorOptions, apply, json, kubectl, manifest, plane, runtime, wait_for, wait_ready,
};

const BROKER: &str = "    mode: MultiMaster
    groups: 1
    storage:
      size: 1Gi
";

fn holder(plane: &apogee_e2e::control_plane::ControlPlane, ns: &str) -> Option<String> {
    let lease = json(plane, &["get", "lease", "apogee-operator", "-n", ns])?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

#[test]
fn the_standby_takes_over_when_the_leader_stops() {
    let plane = plane();
    let ns = plane.create_namespace("op-leader").expect("namespace");
    let rt = runtime();
    let options = |identity: &str| OperatorOptions {
        lease_identity: Some(identity.to_owned()),
        ..OperatorOptions::default()
    };
    let first = Operator::start(&rt, plane, &ns, options("first"));
    wait_for(plane, "the first operator to lead", || {
        (holder(plane, &ns).as_deref() == Some("first")).then_some(())
    });
    let second = Operator::start(&rt, plane, &ns, options("second"));
    apply(plane, &manifest(&ns, "led", BROKER, 1, ""));
    wait_ready(plane, &ns, "led");
    assert_eq!(
        holder(plane, &ns).as_deref(),
        Some("first"),
        "the standby took the lease"
    );

    first.stop(&rt);
    wait_for(plane, "the second operator to lead", || {
        (holder(plane, &ns).as_deref() == Some("second")).then_some(())
    });
    kubectl(
        plane,
        &[
            "patch",
            "rocketmqcluster",
            "led",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"nameServer":{"replicas":2}}}"#,
        ],
    );
    let status = wait_ready(plane, &ns, "led");
    assert_eq!(
        status["status"]["nameServer"]["ready"], 2,
        "the new leader reconciles"
    );
    second.stop(&rt);
    let lease = json(plane, &["get", "lease", "apogee-operator", "-n", &ns]).expect("lease");
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "a stopping leader releases the lease: {lease}"
    );
    assert!(lease["spec"]["leaseTransitions"].as_i64() >= Some(1), "{lease}");
}
