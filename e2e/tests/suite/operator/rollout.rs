//! Ordered broker restarts against real brokers standing in for the pods: a config change
//! restarts the slave before the master (as the API server's pod watch records the
//! deletions) and the master only after it was made read-only; an operator killed in the
//! middle of a master's drain leaves it read-only, and the next one resumes the restart and
//! gives the master its write permission back.

use std::collections::BTreeMap;

use apogee_e2e::control_plane::ControlPlane;

use super::harness::{
    Operator, OperatorOptions, PodDeletions, apply, broker_pods, cluster, events, kubectl, loopback_broker,
    manifest, permission, plane, runtime, wait_for, wait_ready,
};

const MASTER_SLAVE: &str = "    mode: MasterSlave
    groups: 1
    replicasPerGroup: 2
    storage:
      size: 1Gi
";

/// The pods' names in the order their RestartingPod events came.
fn restart_order(plane: &ControlPlane, ns: &str) -> Vec<String> {
    events(plane, ns, &["RestartingPod"])
        .into_iter()
        .map(|(_, note)| note)
        .collect()
}

#[test]
fn a_config_change_restarts_the_slave_first_and_the_master_read_only() {
    let plane = plane();
    let ns = plane.create_namespace("op-roll").expect("namespace");
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (master, slave) = rt.block_on(async {
        (
            loopback_broker(dir.path(), "master").await,
            loopback_broker(dir.path(), "slave").await,
        )
    });
    let brokers = BTreeMap::from([
        (format!("{ns}/roll-broker-0-0"), master.broker_addr().to_string()),
        (format!("{ns}/roll-broker-0-1"), slave.broker_addr().to_string()),
    ]);
    let operator = Operator::start(
        &rt,
        plane,
        &ns,
        OperatorOptions {
            brokers,
            ..OperatorOptions::default()
        },
    );
    apply(plane, &manifest(&ns, "roll", MASTER_SLAVE, 1, ""));
    wait_ready(plane, &ns, "roll");
    let before = broker_pods(plane, &ns, "roll");
    assert_eq!(before.len(), 2);

    let deletions = PodDeletions::watch(plane, &ns);
    kubectl(
        plane,
        &[
            "patch",
            "rocketmqcluster",
            "roll",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"broker":{"config":{"fileReservedTime":"24"}}}}"#,
        ],
    );
    wait_for(plane, "both broker pods to be replaced", || {
        let now = broker_pods(plane, &ns, "roll");
        let replaced = before
            .iter()
            .all(|(name, uid)| now.get(name).is_some_and(|new| new != uid));
        replaced.then_some(())
    });
    let status = wait_ready(plane, &ns, "roll");
    assert_eq!(
        deletions.stop(),
        ["roll-broker-0-1", "roll-broker-0-0"],
        "pods deleted one at a time, the slave first"
    );
    assert_eq!(
        status["status"]["conditions"][1]["reason"], "UpToDate",
        "{status}"
    );

    let order = restart_order(plane, &ns);
    assert_eq!(order.len(), 2, "{order:?}");
    assert!(
        order[0].starts_with("restarting roll-broker-0-1"),
        "slave first: {order:?}"
    );
    assert!(
        order[1].starts_with("restarting roll-broker-0-0"),
        "then the master: {order:?}"
    );
    assert!(
        order.iter().all(|note| note.ends_with("config changed")),
        "{order:?}"
    );
    let steps = events(plane, &ns, &["DrainingMaster", "RestartingPod", "PodRestarted"]);
    let draining = steps.iter().position(|(reason, _)| reason == "DrainingMaster");
    let master_restart = steps
        .iter()
        .position(|(reason, note)| reason == "RestartingPod" && note.contains("roll-broker-0-0"));
    assert!(
        draining.is_some() && draining < master_restart,
        "the master is made read-only before its restart: {steps:?}"
    );
    assert_eq!(
        steps
            .iter()
            .filter(|(reason, _)| reason == "PodRestarted")
            .count(),
        2,
        "{steps:?}"
    );
    // The restarted master has its write permission back.
    rt.block_on(async {
        assert_eq!(permission(master.broker_addr()).await, 6);
        assert_eq!(
            permission(slave.broker_addr()).await,
            6,
            "a slave is never made read-only"
        );
    });
    operator.stop(&rt);
    rt.block_on(async {
        master.shutdown().await.expect("master stops");
        slave.shutdown().await.expect("slave stops");
    });
}

#[test]
fn an_operator_killed_mid_drain_is_resumed_by_the_next_which_restores_the_master() {
    let plane = plane();
    let ns = plane.create_namespace("op-resume").expect("namespace");
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let master = rt.block_on(loopback_broker(dir.path(), "master"));
    // The slave's stand-in answers nothing: the master never counts as drained, so the
    // restart waits in Draining until the drain timeout.
    let brokers = BTreeMap::from([
        (
            format!("{ns}/resume-broker-0-0"),
            master.broker_addr().to_string(),
        ),
        (format!("{ns}/resume-broker-0-1"), "127.0.0.1:1".to_owned()),
    ]);
    let mut options = OperatorOptions {
        brokers,
        ..OperatorOptions::default()
    };
    options.timeouts.drain = std::time::Duration::from_secs(15);
    let first = Operator::start(&rt, plane, &ns, options.clone());
    apply(plane, &manifest(&ns, "resume", MASTER_SLAVE, 1, ""));
    wait_ready(plane, &ns, "resume");
    let before = broker_pods(plane, &ns, "resume");

    // A manual restart of every pod.
    kubectl(
        plane,
        &[
            "annotate",
            "rocketmqcluster",
            "resume",
            "-n",
            &ns,
            "rocketmq.apogee.dev/restart=now",
        ],
    );
    wait_for(plane, "the master to be draining", || {
        let object = cluster(plane, &ns, "resume")?;
        let restart = &object["status"]["restart"];
        (restart["pod"] == "resume-broker-0-0" && restart["step"] == "Draining").then_some(())
    });
    first.kill(&rt);
    // Left read-only by the killed operator.
    assert_eq!(rt.block_on(permission(master.broker_addr())), 4);

    let second = Operator::start(&rt, plane, &ns, options);
    wait_for(plane, "the master pod to be replaced", || {
        let now = broker_pods(plane, &ns, "resume");
        now.get("resume-broker-0-0")
            .is_some_and(|uid| Some(uid) != before.get("resume-broker-0-0"))
            .then_some(())
    });
    wait_ready(plane, &ns, "resume");
    assert_eq!(
        rt.block_on(permission(master.broker_addr())),
        6,
        "write permission restored"
    );
    let timed_out = events(plane, &ns, &["DrainTimedOut"]);
    assert_eq!(timed_out.len(), 1, "{timed_out:?}");
    let order = restart_order(plane, &ns);
    assert_eq!(order.len(), 2, "{order:?}");
    assert!(
        order.iter().all(|note| note.ends_with("manual restart")),
        "{order:?}"
    );
    second.stop(&rt);
    rt.block_on(async { master.shutdown().await.expect("master stops") });
}
