//! Broker group scaling on the real control plane: a group added gets its StatefulSet and
//! restarts nobody; a group removed is made read-only on its (real, loopback) broker, waits
//! under scaleDownPolicy Block while a consumer group lags, even past the drain timeout, and
//! once the lag is consumed loses its StatefulSet, ConfigMap and PDB but keeps its volume
//! claim (no deleteClaim). Under Force with deleteClaim, an operator killed mid-drain is
//! replaced by one that resumes the same drain, removes the lagging group at the drain
//! timeout and deletes its claim.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use apogee_broker::{
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{ConnectionConfig, RefuseCallbacks, connect},
};

use super::harness::{
    Operator, OperatorOptions, apply, broker_pods, cluster, events, json, kubectl, loopback_broker, manifest,
    permission, plane, runtime, wait_for, wait_ready,
};

const TOPIC: &str = "ScaleDownTopic";
const GROUP: &str = "scale-down-cg";

fn broker(groups: u32) -> String {
    format!(
        "    mode: MultiMaster
    groups: {groups}
    scaleDownPolicy: Block
    storage:
      size: 1Gi
"
    )
}

fn forced(groups: u32) -> String {
    format!(
        "    mode: MultiMaster
    groups: {groups}
    scaleDownPolicy: Force
    storage:
      size: 1Gi
      deleteClaim: true
"
    )
}

async fn call(broker: SocketAddr, command: RemotingCommand) -> RemotingCommand {
    let connection = connect(
        &broker.to_string(),
        Arc::new(RefuseCallbacks),
        &ConnectionConfig::default(),
    )
    .await
    .expect("connect to the loopback broker");
    let answer = connection
        .request(command, Duration::from_secs(5))
        .await
        .expect("the loopback broker answers");
    connection.close();
    answer
}

/// Creates a one-queue topic and stores `count` messages on it.
async fn produce(broker: SocketAddr, count: u32) {
    let create = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC, 0)
        .with_field("topic", TOPIC)
        .with_field("defaultTopic", "TBW102")
        .with_field("readQueueNums", 1)
        .with_field("writeQueueNums", 1)
        .with_field("perm", 6);
    assert_eq!(
        call(broker, create).await.code,
        response::SUCCESS,
        "topic created"
    );
    for _ in 0..count {
        let mut send = RemotingCommand::request(request::SEND_MESSAGE, 0);
        for (key, value) in [
            ("producerGroup", "scale-down-producer"),
            ("topic", TOPIC),
            ("defaultTopic", "TBW102"),
            ("defaultTopicQueueNums", "1"),
            ("queueId", "0"),
            ("sysFlag", "0"),
            ("bornTimestamp", "0"),
            ("flag", "0"),
            ("properties", ""),
            ("reconsumeTimes", "0"),
            ("unitMode", "false"),
            ("batch", "false"),
        ] {
            send = send.with_field(key, value);
        }
        let answer = call(broker, send.with_body(b"left for the consumer".to_vec())).await;
        assert_eq!(
            answer.code,
            response::SUCCESS,
            "message stored: {:?}",
            answer.remark
        );
    }
}

/// Commits `offset` on queue 0 of the topic for the consumer group.
async fn commit(broker: SocketAddr, offset: i64) {
    let update = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET, 0)
        .with_field("consumerGroup", GROUP)
        .with_field("topic", TOPIC)
        .with_field("queueId", 0)
        .with_field("commitOffset", offset);
    assert_eq!(
        call(broker, update).await.code,
        response::SUCCESS,
        "offset committed"
    );
}

fn scale(plane: &apogee_e2e::control_plane::ControlPlane, ns: &str, name: &str, groups: u32) {
    let patch = format!(r#"{{"spec":{{"broker":{{"groups":{groups}}}}}}}"#);
    kubectl(
        plane,
        &[
            "patch",
            "rocketmqcluster",
            name,
            "-n",
            ns,
            "--type=merge",
            "-p",
            &patch,
        ],
    );
}

#[test]
fn groups_scale_up_then_down_draining_the_removed_group_first() {
    let plane = plane();
    let ns = plane.create_namespace("op-scale").expect("namespace");
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let removed = rt.block_on(loopback_broker(dir.path(), "sc-broker-2"));
    let addr = removed.broker_addr();
    let brokers = BTreeMap::from([(format!("{ns}/sc-broker-2-0"), addr.to_string())]);
    let mut options = OperatorOptions {
        brokers,
        ..OperatorOptions::default()
    };
    // Short, so that the test sees Block keep waiting past it.
    options.timeouts.drain = Duration::from_secs(2);
    let operator = Operator::start(&rt, plane, &ns, options);
    apply(plane, &manifest(&ns, "sc", &broker(2), 1, ""));
    wait_ready(plane, &ns, "sc");
    let before = broker_pods(plane, &ns, "sc");
    assert_eq!(before.len(), 2, "{before:?}");

    // Up: a third group, the first two untouched.
    scale(plane, &ns, "sc", 3);
    let status = wait_ready(plane, &ns, "sc");
    assert_eq!(
        status["status"]["groups"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );
    let set = json(plane, &["get", "statefulset", "sc-broker-2", "-n", &ns]).expect("sc-broker-2 exists");
    assert_eq!(set["status"]["readyReplicas"], 1, "{set}");
    let after = broker_pods(plane, &ns, "sc");
    for (pod, uid) in &before {
        assert_eq!(
            after.get(pod),
            Some(uid),
            "{pod} was not restarted by the scale-up"
        );
    }

    // A consumer group 2 messages behind on the group about to go.
    rt.block_on(async {
        produce(addr, 3).await;
        commit(addr, 1).await;
    });

    // Down: the group is made read-only and, lag 2 under Block, waits past the drain timeout.
    scale(plane, &ns, "sc", 2);
    let draining = wait_for(plane, "the scale-down to report lag 2", || {
        let object = cluster(plane, &ns, "sc")?;
        let progress = &object["status"]["scaleDown"];
        (progress["step"] == "Draining" && progress["consumerLag"] == 2).then(|| progress.clone())
    });
    assert_eq!(draining["group"], "sc-broker-2", "{draining}");
    assert_eq!(
        rt.block_on(permission(addr)),
        4,
        "the removed group's master is read-only"
    );
    std::thread::sleep(Duration::from_secs(4));
    let object = cluster(plane, &ns, "sc").expect("cluster");
    let progress = &object["status"]["scaleDown"];
    assert_eq!(
        progress["step"], "Draining",
        "Block still waits past the drain timeout: {object}"
    );
    assert!(
        progress["message"].as_str().is_some_and(|m| m.contains("Block")),
        "status says what it waits for: {progress}"
    );
    assert!(
        json(plane, &["get", "statefulset", "sc-broker-2", "-n", &ns]).is_some(),
        "nothing is removed while the consumer lags"
    );

    // The consumer catches up: the group goes, its claim stays.
    rt.block_on(commit(addr, 3));
    wait_for(plane, "sc-broker-2's StatefulSet to be deleted", || {
        json(plane, &["get", "statefulset", "sc-broker-2", "-n", &ns])
            .is_none()
            .then_some(())
    });
    for kind in ["configmap", "pdb"] {
        assert!(
            json(plane, &["get", kind, "sc-broker-2", "-n", &ns]).is_none(),
            "the removed group's {kind} is deleted"
        );
    }
    // The removed group's pods may linger a moment (garbage collection), and status lists
    // every broker pod it sees: wait for both.
    wait_for(plane, "status.scaleDown to clear and two groups listed", || {
        let object = cluster(plane, &ns, "sc")?;
        let groups = object["status"]["groups"].as_array().map(Vec::len);
        (object["status"]["scaleDown"].is_null() && groups == Some(2)).then_some(())
    });
    let claims = kubectl(
        plane,
        &[
            "get",
            "pvc",
            "-n",
            &ns,
            "-l",
            "rocketmq.apogee.dev/broker-group=sc-broker-2",
            "-o",
            "name",
        ],
    );
    assert_eq!(
        claims.lines().count(),
        1,
        "the removed group's claim is kept: {claims:?}"
    );
    let notes = events(plane, &ns, &["ScaleDownDraining", "BrokerGroupRemoved"]);
    assert_eq!(
        notes
            .iter()
            .map(|(reason, _)| reason.as_str())
            .collect::<Vec<_>>(),
        ["ScaleDownDraining", "BrokerGroupRemoved"],
        "{notes:?}"
    );
    wait_ready(plane, &ns, "sc");
    operator.stop(&rt);
    rt.block_on(async { removed.shutdown().await.expect("broker stops") });
}

/// The claims of `group` not being deleted.
fn live_claims(plane: &apogee_e2e::control_plane::ControlPlane, ns: &str, group: &str) -> Vec<String> {
    let selector = format!("rocketmq.apogee.dev/broker-group={group}");
    let list = json(plane, &["get", "pvc", "-n", ns, "-l", &selector]).unwrap_or_default();
    super::harness::items(&list)
        .iter()
        .filter(|claim| claim["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|claim| claim["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn force_removes_a_lagging_group_at_the_drain_timeout_across_an_operator_kill() {
    let plane = plane();
    let ns = plane.create_namespace("op-force").expect("namespace");
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let removed = rt.block_on(loopback_broker(dir.path(), "fc-broker-1"));
    let addr = removed.broker_addr();
    let mut options = OperatorOptions {
        brokers: BTreeMap::from([(format!("{ns}/fc-broker-1-0"), addr.to_string())]),
        ..OperatorOptions::default()
    };
    options.timeouts.drain = Duration::from_secs(12);
    let first = Operator::start(&rt, plane, &ns, options.clone());
    apply(plane, &manifest(&ns, "fc", &forced(2), 1, ""));
    wait_ready(plane, &ns, "fc");
    assert_eq!(live_claims(plane, &ns, "fc-broker-1"), ["store-fc-broker-1-0"]);
    // A consumer group that will never catch up.
    rt.block_on(async {
        produce(addr, 3).await;
        commit(addr, 1).await;
    });

    scale(plane, &ns, "fc", 1);
    wait_for(plane, "the scale-down to report lag 2", || {
        let object = cluster(plane, &ns, "fc")?;
        let progress = &object["status"]["scaleDown"];
        (progress["step"] == "Draining" && progress["consumerLag"] == 2).then_some(())
    });
    assert_eq!(rt.block_on(permission(addr)), 4, "read-only while draining");
    first.kill(&rt);

    // The next operator resumes the same drain (same start), and Force removes the group
    // when the drain timeout has passed since then, lag or not.
    let second = Operator::start(&rt, plane, &ns, options);
    wait_for(plane, "fc-broker-1's StatefulSet to be deleted", || {
        json(plane, &["get", "statefulset", "fc-broker-1", "-n", &ns])
            .is_none()
            .then_some(())
    });
    let forced = events(plane, &ns, &["ScaleDownDraining", "ScaleDownForced"]);
    assert_eq!(
        forced
            .iter()
            .map(|(reason, _)| reason.as_str())
            .collect::<Vec<_>>(),
        ["ScaleDownDraining", "ScaleDownForced"],
        "one drain, resumed rather than started again: {forced:?}"
    );
    assert!(
        forced[1]
            .1
            .contains("fc-broker-1 removed with 2 messages unconsumed"),
        "{forced:?}"
    );
    wait_for(plane, "fc-broker-1's claim to be deleted (deleteClaim)", || {
        live_claims(plane, &ns, "fc-broker-1").is_empty().then_some(())
    });
    assert_eq!(
        live_claims(plane, &ns, "fc-broker-0"),
        ["store-fc-broker-0-0"],
        "the remaining group keeps its claim"
    );
    wait_for(plane, "status.scaleDown to clear", || {
        let object = cluster(plane, &ns, "fc")?;
        let groups = object["status"]["groups"].as_array().map(Vec::len);
        (object["status"]["scaleDown"].is_null() && groups == Some(1)).then_some(())
    });
    let removed_note = events(plane, &ns, &["BrokerGroupRemoved"]);
    assert!(
        removed_note.len() == 1 && removed_note[0].1.contains("claims were deleted"),
        "{removed_note:?}"
    );
    second.stop(&rt);
    rt.block_on(async { removed.shutdown().await.expect("broker stops") });
}
