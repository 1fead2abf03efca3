//! Messaging semantics over a whole node on loopback: delayed delivery (also across a
//! restart), send-back into the retry topic and on to the dead-letter queue, the redirect of
//! exhausted plain retries, and queue locks for orderly consumers.

use std::time::{Duration, Instant};

use apogee_broker::{
    config::FixedEnv,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::Connection,
    standalone::{Standalone, StandaloneOptions},
    store::{properties, record},
};
use serde_json::Value;

use crate::{
    broker::{call, client, heartbeat, route_appears},
    harness::runtime,
};

/// Short levels so the test waits seconds, not minutes: retries start at level 3.
const LEVELS: &str = "1s 2s 1s 1s 1s";

pub(crate) async fn start(dir: &std::path::Path) -> Standalone {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let mut options = StandaloneOptions::loopback(dir.join("store"));
    options.broker_properties =
        format!("brokerName=msg-broker\nmessageDelayLevel={LEVELS}\nmappedFileSizeCommitLog=16777216\n");
    Standalone::start(options, &env).await.expect("node starts")
}

pub(crate) fn send(
    topic: &str,
    key: &str,
    extra: &[(&str, &str)],
    fields: &[(&str, &str)],
) -> RemotingCommand {
    let uniq = format!("U-{key}");
    let mut pairs = vec![("KEYS", key), ("UNIQ_KEY", uniq.as_str())];
    pairs.extend_from_slice(extra);
    let props = properties::encode(pairs);
    let mut req = RemotingCommand::request(request::SEND_MESSAGE_V2, 0);
    for (k, v) in [
        ("a", "PG"),
        ("b", topic),
        ("c", "TBW102"),
        ("d", "1"),
        ("e", "0"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", props.as_str()),
    ] {
        req = req.with_field(k, v);
    }
    for (k, v) in fields {
        req = req.with_field(*k, *v);
    }
    req.with_body(key.as_bytes().to_vec())
}

/// A pull with its own subscription (`*`), held up to `hold`.
pub(crate) fn pull(topic: &str, offset: i64, hold: Duration) -> RemotingCommand {
    RemotingCommand::request(request::PULL_MESSAGE, 0)
        .with_field("consumerGroup", "Reader")
        .with_field("topic", topic)
        .with_field("queueId", 0)
        .with_field("queueOffset", offset)
        .with_field("maxMsgNums", 32)
        .with_field("sysFlag", 2 | 4)
        .with_field("commitOffset", 0)
        .with_field("suspendTimeoutMillis", hold.as_millis())
        .with_field("subscription", "*")
        .with_field("subVersion", 0)
}

/// The one message a pull returned: (physical offset, reconsume times, properties, body).
pub(crate) fn only_message(reply: &RemotingCommand) -> (i64, i32, String, Vec<u8>) {
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    let record::Entry::Message(v) = record::decode(&reply.body, true).unwrap() else {
        panic!("a message")
    };
    assert_eq!(v.total_size, reply.body.len(), "exactly one message");
    (
        v.physical_offset,
        v.reconsume_times,
        v.properties.to_owned(),
        v.body.to_vec(),
    )
}

async fn pull_one(conn: &Connection, topic: &str) -> (i64, i32, String, Vec<u8>) {
    only_message(&call(conn, pull(topic, 0, Duration::from_secs(8))).await)
}

fn send_back(offset: i64, delay_level: i32, max: i32) -> RemotingCommand {
    RemotingCommand::request(request::CONSUMER_SEND_MSG_BACK, 0)
        .with_field("offset", offset)
        .with_field("group", "RG")
        .with_field("delayLevel", delay_level)
        .with_field("originMsgId", "ORIGIN-1")
        .with_field("maxReconsumeTimes", max)
}

#[test]
fn delayed_messages_arrive_after_their_level_even_across_a_restart() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        // Level 2 = 2 s. The topic exists at once; the message does not, until due.
        let sent_at = Instant::now();
        let reply = call(&c, send("Later", "d1", &[("DELAY", "2")], &[])).await;
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        route_appears(node.namesrv_addr(), "Later").await;
        let early = call(&c, pull("Later", 0, Duration::ZERO)).await;
        assert_eq!(early.code, response::PULL_NOT_FOUND, "nothing before the delay");
        let (_, _, props, body) = pull_one(&c, "Later").await;
        let waited = sent_at.elapsed();
        assert_eq!(body, b"d1");
        assert!(
            waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
            "level 2 (2 s) delivered after {waited:?}"
        );
        assert_eq!(
            properties::get(&props, "DELAY"),
            None,
            "DELAY is cleared on delivery"
        );
        assert_eq!(properties::get(&props, "REAL_TOPIC"), Some("Later"));

        // Due while the broker is down: delivered after it starts again.
        let reply = call(&c, send("Later", "d2", &[("DELAY", "1")], &[])).await;
        assert_eq!(reply.code, response::SUCCESS);
        node.shutdown().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        let got = call(&c, pull("Later", 1, Duration::from_secs(5))).await;
        let (_, _, _, body) = only_message(&got);
        assert_eq!(body, b"d2", "the schedule survived the restart");
        let again = call(&c, pull("Later", 2, Duration::from_millis(500))).await;
        assert_eq!(
            again.code,
            response::PULL_NOT_FOUND,
            "and nothing is delivered twice"
        );
        let offsets = call(&c, RemotingCommand::request(request::GET_ALL_DELAY_OFFSET, 0)).await;
        let offsets: Value = serde_json::from_slice(&offsets.body).unwrap();
        assert_eq!(
            (
                offsets["offsetTable"]["1"].as_i64(),
                offsets["offsetTable"]["2"].as_i64()
            ),
            (Some(1), Some(1))
        );
        node.shutdown().await.unwrap();
    });
}

#[test]
fn failed_messages_retry_then_go_to_the_dead_letter_queue() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        assert_eq!(
            call(&c, heartbeat("c@1", "RG", "Work")).await.code,
            response::SUCCESS
        );
        assert_eq!(
            call(&c, send("Work", "w1", &[("TAGS", "TagA")], &[])).await.code,
            response::SUCCESS
        );
        let (offset, reconsumed, _, _) = pull_one(&c, "Work").await;
        assert_eq!(reconsumed, 0);

        // First failure: into %RETRY%RG after level 3 (1 s here), counted once.
        assert_eq!(call(&c, send_back(offset, 0, 1)).await.code, response::SUCCESS);
        let (retry_offset, reconsumed, props, body) = pull_one(&c, "%RETRY%RG").await;
        assert_eq!((reconsumed, body.as_slice()), (1, &b"w1"[..]));
        assert_eq!(properties::get(&props, "RETRY_TOPIC"), Some("Work"));
        // The original's offsetMsgId (its physical offset is the last 16 hex digits), not the
        // client's header.
        let origin = properties::get(&props, "ORIGIN_MESSAGE_ID").unwrap().to_owned();
        assert_eq!(i64::from_str_radix(&origin[16..], 16).unwrap(), offset);
        assert_eq!(properties::get(&props, "TAGS"), Some("TagA"));

        // Second failure with a budget of one retry: straight to %DLQ%RG, which gets a route.
        assert_eq!(
            call(&c, send_back(retry_offset, 0, 1)).await.code,
            response::SUCCESS
        );
        let (_, reconsumed, props, _) = pull_one(&c, "%DLQ%RG").await;
        assert_eq!(reconsumed, 2);
        assert_eq!(
            properties::get(&props, "RETRY_TOPIC"),
            Some("Work"),
            "the first topic is kept"
        );
        route_appears(node.namesrv_addr(), "%DLQ%RG").await;

        // A consumer re-sending to the retry topic itself, past its budget: redirected to the DLQ.
        let resend = send("%RETRY%RG", "w2", &[], &[("j", "4"), ("l", "3")]);
        assert_eq!(call(&c, resend).await.code, response::SUCCESS);
        let got = call(&c, pull("%DLQ%RG", 1, Duration::from_secs(2))).await;
        assert_eq!(only_message(&got).3, b"w2");
        // Within budget: it stays a retry (no delay requested, so at once).
        let resend = send("%RETRY%RG", "w3", &[], &[("j", "2"), ("l", "3")]);
        assert_eq!(call(&c, resend).await.code, response::SUCCESS);
        let got = call(&c, pull("%RETRY%RG", 1, Duration::from_secs(2))).await;
        assert_eq!(only_message(&got).3, b"w3");

        let unknown = call(&c, send_back(1 << 40, 0, 1)).await;
        assert_eq!(unknown.code, response::SYSTEM_ERROR, "no message at that offset");
        node.shutdown().await.unwrap();
    });
}

#[test]
fn orderly_consumers_hold_queue_locks() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        let body = |client: &str| {
            serde_json::to_vec(&serde_json::json!({
                "consumerGroup": "OG", "clientId": client, "onlyThisBroker": false,
                "mqSet": [{"topic": "Ordered", "brokerName": "msg-broker", "queueId": 0},
                          {"topic": "Ordered", "brokerName": "msg-broker", "queueId": 1}]
            }))
            .unwrap()
        };
        let lock = |client: &str| RemotingCommand::request(request::LOCK_BATCH_MQ, 0).with_body(body(client));
        let granted = |reply: RemotingCommand| -> usize {
            let v: Value = serde_json::from_slice(&reply.body).unwrap();
            v["lockOKMQSet"].as_array().unwrap().len()
        };
        assert_eq!(granted(call(&c, lock("a")).await), 2);
        assert_eq!(granted(call(&c, lock("b")).await), 0, "a holds both");
        assert_eq!(granted(call(&c, lock("a")).await), 2, "a renews");
        let unlock = RemotingCommand::request(request::UNLOCK_BATCH_MQ, 0).with_body(body("a"));
        assert_eq!(call(&c, unlock).await.code, response::SUCCESS);
        assert_eq!(granted(call(&c, lock("b")).await), 2, "released to b");
        node.shutdown().await.unwrap();
    });
}

/// A transactional producer's connection: it records the back-checks the broker sends it.
#[derive(Debug)]
struct Checks(tokio::sync::mpsc::UnboundedSender<RemotingCommand>);

impl apogee_broker::remoting::Handler for Checks {
    async fn handle(&self, _: std::sync::Arc<Connection>, req: RemotingCommand) -> Option<RemotingCommand> {
        let _ = self.0.send(req);
        None
    }
}

pub(crate) fn half(key: &str) -> RemotingCommand {
    send(
        "Tx",
        key,
        &[("TRAN_MSG", "true"), ("PGROUP", "TPG")],
        &[("f", "4")], // TRANSACTION_PREPARED
    )
}

pub(crate) fn end(
    half_offset: &str,
    commit_log_offset: &str,
    decision: i32,
    from_check: bool,
) -> RemotingCommand {
    RemotingCommand::request(request::END_TRANSACTION, 0)
        .with_field("producerGroup", "TPG")
        .with_field("tranStateTableOffset", half_offset)
        .with_field("commitLogOffset", commit_log_offset)
        .with_field("commitOrRollback", decision)
        .with_field("fromTransactionCheck", from_check)
        .with_field("msgId", "x")
}

/// (queueOffset, commit log offset) of a half, as the client takes them from the send reply.
pub(crate) fn half_position(reply: &RemotingCommand) -> (String, String) {
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    let offset_msg_id = reply.field("msgId").unwrap();
    let physical = i64::from_str_radix(&offset_msg_id[16..], 16).unwrap();
    (
        reply.field("queueOffset").unwrap().to_owned(),
        physical.to_string(),
    )
}

#[test]
fn transactions_commit_roll_back_and_are_checked_back() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties =
            "brokerName=tx-broker\ntransactionTimeOut=1000\ntransactionCheckInterval=500\nmappedFileSizeCommitLog=16777216\n".into();
        let node = Standalone::start(options.clone(), &env).await.unwrap();
        let (checks_tx, mut checks) = tokio::sync::mpsc::unbounded_channel();
        let producer = apogee_broker::remoting::connect(
            &node.broker_addr().to_string(),
            std::sync::Arc::new(Checks(checks_tx)),
            &apogee_broker::remoting::ConnectionConfig::default(),
        )
        .await
        .unwrap();
        let hb = serde_json::json!({"clientID": "p@1", "producerDataSet": [{"groupName": "TPG"}]});
        let hb = RemotingCommand::request(request::HEART_BEAT, 0).with_body(serde_json::to_vec(&hb).unwrap());
        assert_eq!(call(&producer, hb).await.code, response::SUCCESS);

        // Committed: delivered, marked COMMIT. Rolled back: never delivered.
        let (q, c) = half_position(&call(&producer, half("t-commit")).await);
        let (q2, c2) = half_position(&call(&producer, half("t-rollback")).await);
        let hidden = call(&producer, pull("Tx", 0, Duration::ZERO)).await;
        assert_eq!(hidden.code, response::PULL_NOT_FOUND, "halves are invisible");
        assert_eq!(
            call(&producer, end(&q, &c, 8, false)).await.code,
            response::SUCCESS
        );
        assert_eq!(
            call(&producer, end(&q2, &c2, 12, false)).await.code,
            response::SUCCESS
        );
        let got = call(&producer, pull("Tx", 0, Duration::from_secs(5))).await;
        assert_eq!(only_message(&got).3, b"t-commit");
        let record::Entry::Message(v) = record::decode(&got.body, true).unwrap() else {
            panic!()
        };
        assert_eq!(v.sys_flag & (3 << 2), 2 << 2, "stored as a transaction commit");
        assert_eq!(
            call(&producer, end(&q, &c, 8, false)).await.code,
            response::SUCCESS
        );

        // Unresolved: the producer is asked after the timeout, answers from the check, and the
        // message is delivered once.
        let (_, _) = half_position(&call(&producer, half("t-checked")).await);
        let check = tokio::time::timeout(Duration::from_secs(6), checks.recv())
            .await
            .expect("a back-check")
            .unwrap();
        assert_eq!(check.code, request::CHECK_TRANSACTION_STATE);
        let record::Entry::Message(shown) = record::decode(&check.body, false).unwrap() else {
            panic!()
        };
        assert_eq!(
            (shown.topic, shown.body),
            ("Tx", &b"t-checked"[..]),
            "the body shows the real topic"
        );
        let (cq, cc) = (
            check.field("tranStateTableOffset").unwrap(),
            check.field("commitLogOffset").unwrap(),
        );
        assert_eq!(
            call(&producer, end(cq, cc, 8, true)).await.code,
            response::SUCCESS
        );
        let got = call(&producer, pull("Tx", 1, Duration::from_secs(5))).await;
        assert_eq!(only_message(&got).3, b"t-checked");
        assert_eq!(
            call(&producer, end(cq, cc, 8, true)).await.code,
            response::SUCCESS
        );
        let none = call(&producer, pull("Tx", 2, Duration::from_millis(300))).await;
        assert_eq!(
            none.code,
            response::PULL_NOT_FOUND,
            "a repeated commit delivers nothing"
        );

        // After a restart nothing finished is checked again.
        producer.close();
        node.shutdown().await.unwrap();
        let node = Standalone::start(options, &env).await.unwrap();
        let (checks_tx, mut checks) = tokio::sync::mpsc::unbounded_channel();
        let producer = apogee_broker::remoting::connect(
            &node.broker_addr().to_string(),
            std::sync::Arc::new(Checks(checks_tx)),
            &apogee_broker::remoting::ConnectionConfig::default(),
        )
        .await
        .unwrap();
        let hb = serde_json::json!({"clientID": "p@2", "producerDataSet": [{"groupName": "TPG"}]});
        let hb = RemotingCommand::request(request::HEART_BEAT, 0).with_body(serde_json::to_vec(&hb).unwrap());
        assert_eq!(call(&producer, hb).await.code, response::SUCCESS);
        let quiet = tokio::time::timeout(Duration::from_millis(2500), checks.recv()).await;
        assert!(quiet.is_err(), "no check after the restart: {quiet:?}");
        let none = call(&producer, pull("Tx", 2, Duration::ZERO)).await;
        assert_eq!(none.code, response::PULL_NOT_FOUND);
        node.shutdown().await.unwrap();
    });
}
