//! A whole node over real loopback sockets (`Standalone`: NameServer + Broker): producers and
//! consumers as the clients drive them (heartbeat, rebalance notifications, send, pull, offsets),
//! admin requests, lookups, bad clients, and a restart that keeps topics and offsets.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use apogee_broker::{
    config::FixedEnv,
    namesrv::route_data::{KvTable, TopicRouteData},
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{Connection, ConnectionConfig, Handler, RefuseCallbacks, connect},
    standalone::{Standalone, StandaloneOptions},
    store::{properties, record},
};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::harness::runtime;

const WAIT: Duration = Duration::from_secs(5);

/// A client connection that records the requests the broker sends it.
#[derive(Debug)]
struct Recorder(mpsc::UnboundedSender<RemotingCommand>);

impl Handler for Recorder {
    async fn handle(&self, _: Arc<Connection>, req: RemotingCommand) -> Option<RemotingCommand> {
        let _ = self.0.send(req);
        None
    }
}

pub(crate) async fn client(addr: SocketAddr) -> (Arc<Connection>, mpsc::UnboundedReceiver<RemotingCommand>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let conn = connect(
        &addr.to_string(),
        Arc::new(Recorder(tx)),
        &ConnectionConfig::default(),
    )
    .await
    .expect("connect");
    (conn, rx)
}

pub(crate) async fn call(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, WAIT).await.expect("broker answers")
}

pub(crate) fn heartbeat(client_id: &str, group: &str, topic: &str) -> RemotingCommand {
    let body = serde_json::json!({
        "clientID": client_id,
        "producerDataSet": [{"groupName": "PG"}],
        "consumerDataSet": [{
            "groupName": group, "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "unitMode": false,
            "subscriptionDataSet": [{"topic": topic, "subString": "TagA", "tagsSet": ["TagA"],
                "codeSet": [], "subVersion": 1, "expressionType": "TAG", "classFilterMode": false}]
        }]
    });
    RemotingCommand::request(request::HEART_BEAT, 0).with_body(serde_json::to_vec(&body).unwrap())
}

pub(crate) fn send(topic: &str, tag: &str, key: &str, body: &str) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::SEND_MESSAGE_V2, 0);
    let props = properties::encode([("TAGS", tag), ("KEYS", key), ("UNIQ_KEY", &format!("U-{key}"))]);
    for (k, v) in [
        ("a", "PG"),
        ("b", topic),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "0"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", props.as_str()),
    ] {
        req = req.with_field(k, v);
    }
    req.with_body(body.as_bytes().to_vec())
}

fn pull(group: &str, topic: &str, offset: i64, suspend_ms: u64) -> RemotingCommand {
    RemotingCommand::request(request::PULL_MESSAGE, 0)
        .with_field("consumerGroup", group)
        .with_field("topic", topic)
        .with_field("queueId", 0)
        .with_field("queueOffset", offset)
        .with_field("maxMsgNums", 32)
        .with_field("sysFlag", 2) // suspend, no subscription: it comes from the heartbeat
        .with_field("commitOffset", 0)
        .with_field("suspendTimeoutMillis", suspend_ms)
        .with_field("subVersion", 1)
}

async fn route(namesrv: SocketAddr, topic: &str) -> Option<TopicRouteData> {
    let conn = connect(
        &namesrv.to_string(),
        Arc::new(RefuseCallbacks),
        &ConnectionConfig::default(),
    )
    .await
    .unwrap();
    let reply = call(
        &conn,
        RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_field("topic", topic),
    )
    .await;
    conn.close();
    (reply.code == response::SUCCESS).then(|| serde_json::from_slice(&reply.body).unwrap())
}

/// Waits until the NameServer has a route for `topic`.
pub(crate) async fn route_appears(namesrv: SocketAddr, topic: &str) -> TopicRouteData {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(r) = route(namesrv, topic).await {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no route for {topic} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next_request(rx: &mut mpsc::UnboundedReceiver<RemotingCommand>) -> RemotingCommand {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("broker sent a request in time")
        .expect("connection open")
}

async fn start(dir: &std::path::Path) -> Standalone {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let mut options = StandaloneOptions::loopback(dir.join("store"));
    options.broker_properties =
        "brokerClusterName=ItCluster\nbrokerName=it-broker\nmappedFileSizeCommitLog=16777216\n".into();
    Standalone::start(options, &env).await.expect("node starts")
}

#[test]
fn producers_consumers_and_admin_over_real_sockets() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = start(dir.path()).await;
        let broker = node.broker_addr();
        // Registered before start returned: a client started now finds the default topic.
        let default_topic = route(node.namesrv_addr(), "TBW102").await;
        assert!(default_topic.is_some(), "TBW102 routed when start returns");
        let (c1, mut c1_rx) = client(broker).await;

        // A consumer's heartbeat creates its group and its retry topic, which reaches the
        // NameServer at once.
        assert_eq!(call(&c1, heartbeat("c1@1", "CG", "Orders")).await.code, response::SUCCESS);
        let retry = route_appears(node.namesrv_addr(), "%RETRY%CG").await;
        assert_eq!(retry.queue_datas[0].read_queue_nums, 1);
        let ids = call(
            &c1,
            RemotingCommand::request(request::GET_CONSUMER_LIST_BY_GROUP, 0).with_field("consumerGroup", "CG"),
        )
        .await;
        let ids: Value = serde_json::from_slice(&ids.body).unwrap();
        assert_eq!(ids["consumerIdList"], serde_json::json!(["c1@1"]));

        // A second member joins: the first is told to rebalance; it leaves: told again.
        let (c2, _c2_rx) = client(broker).await;
        assert_eq!(call(&c2, heartbeat("c2@1", "CG", "Orders")).await.code, response::SUCCESS);
        let notice = next_request(&mut c1_rx).await;
        assert_eq!(notice.code, request::NOTIFY_CONSUMER_IDS_CHANGED);
        assert_eq!(notice.field("consumerGroup"), Some("CG"));
        assert!(notice.is_oneway());
        c2.close();
        assert_eq!(next_request(&mut c1_rx).await.code, request::NOTIFY_CONSUMER_IDS_CHANGED);

        // A parked pull (subscription from the heartbeat: TagA) is answered by the matching send.
        let (p, _p_rx) = client(broker).await;
        let sent = call(&p, send("Orders", "TagB", "k0", "skipped")).await;
        assert_eq!(sent.code, response::SUCCESS, "{:?}", sent.remark);
        // Dispatch is asynchronous, as in the reference: wait until the queue shows the message.
        let max_offset = || {
            RemotingCommand::request(request::GET_MAX_OFFSET, 0)
                .with_field("topic", "Orders")
                .with_field("queueId", 0)
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        while call(&p, max_offset()).await.field("offset") != Some("1") {
            assert!(tokio::time::Instant::now() < deadline, "dispatch did not catch up");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let pull_conn = c1.clone();
        let parked = tokio::spawn(async move { call(&pull_conn, pull("CG", "Orders", 1, 10_000)).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!parked.is_finished(), "nothing new: the pull is held");
        let sent = call(&p, send("Orders", "TagA", "k1", "wanted")).await;
        assert_eq!(sent.code, response::SUCCESS);
        let offset_msg_id = sent.field("msgId").unwrap().to_owned();
        let pulled = tokio::time::timeout(WAIT, parked).await.expect("pull answered").unwrap();
        assert_eq!(pulled.code, response::SUCCESS, "{:?}", pulled.remark);
        let view = record::decode(&pulled.body, true).unwrap();
        let record::Entry::Message(view) = view else { panic!("a message") };
        assert_eq!(view.body, b"wanted", "TagB was filtered out");
        let physical = view.physical_offset;
        route_appears(node.namesrv_addr(), "Orders").await;

        // Offsets: commit, query; a group that never committed gets 22 only when told not to
        // start from 0.
        let commit = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET, 0)
            .with_field("consumerGroup", "CG")
            .with_field("topic", "Orders")
            .with_field("queueId", 0)
            .with_field("commitOffset", 2);
        assert_eq!(call(&c1, commit).await.code, response::SUCCESS);
        let query = |group: &str| {
            RemotingCommand::request(request::QUERY_CONSUMER_OFFSET, 0)
                .with_field("consumerGroup", group)
                .with_field("topic", "Orders")
                .with_field("queueId", 0)
                .with_field("setZeroIfNotFound", false)
        };
        assert_eq!(call(&c1, query("CG")).await.field("offset"), Some("2"));
        assert_eq!(call(&c1, query("Nobody")).await.code, response::QUERY_NOT_FOUND);

        // Admin and reports.
        let create = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC, 0)
            .with_field("topic", "Admin")
            .with_field("defaultTopic", "TBW102")
            .with_field("readQueueNums", 3)
            .with_field("writeQueueNums", 3)
            .with_field("perm", 6)
            .with_field("topicFilterType", "SINGLE_TAG")
            .with_field("order", false);
        assert_eq!(call(&p, create).await.code, response::SUCCESS);
        assert_eq!(route_appears(node.namesrv_addr(), "Admin").await.queue_datas[0].write_queue_nums, 3);
        let bad = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC, 0)
            .with_field("topic", "bad/name")
            .with_field("defaultTopic", "TBW102")
            .with_field("readQueueNums", 1)
            .with_field("writeQueueNums", 1)
            .with_field("perm", 6);
        assert_eq!(call(&p, bad).await.code, response::INVALID_PARAMETER);

        let stats = call(&p, RemotingCommand::request(request::GET_TOPIC_STATS_INFO, 0).with_field("topic", "Orders")).await;
        let text = String::from_utf8(stats.body.to_vec()).unwrap();
        assert!(
            text.starts_with(r#"{"offsetTable":{{"brokerName":"it-broker","queueId":0,"topic":"Orders"}:{"lastUpdateTimestamp":"#)
                && text.contains(r#""maxOffset":2,"minOffset":0}"#),
            "{text}"
        );
        let consume = call(
            &p,
            RemotingCommand::request(request::GET_CONSUME_STATS, 0)
                .with_field("consumerGroup", "CG")
                .with_field("topic", "Orders"),
        )
        .await;
        let text = String::from_utf8(consume.body.to_vec()).unwrap();
        assert!(text.contains(r#""queueId":0,"topic":"Orders"}:{"brokerOffset":2,"consumerOffset":2,"#), "{text}");

        let info = call(&p, RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO, 0)).await;
        let info: KvTable = serde_json::from_slice(&info.body).unwrap();
        assert_eq!(info.table["msgPutTotalTodayNow"], "2");
        assert!(info.table["commitLogDiskRatio"].parse::<f64>().is_ok());
        assert!(info.table["earliestMessageTimeStamp"].parse::<i64>().unwrap() > 0);
        let conns = call(
            &p,
            RemotingCommand::request(request::GET_CONSUMER_CONNECTION_LIST, 0).with_field("consumerGroup", "CG"),
        )
        .await;
        let conns: Value = serde_json::from_slice(&conns.body).unwrap();
        assert_eq!(conns["connectionSet"][0]["clientId"], "c1@1");
        assert_eq!(conns["subscriptionTable"]["Orders"]["subString"], "TagA");

        // Lookups by offsetMsgId, key and unique key.
        // offsetMsgId = hex(ip, port, physical offset): its last 16 digits are the offset.
        let offset = i64::from_str_radix(&offset_msg_id[16..], 16).unwrap();
        assert_eq!((offset_msg_id.len(), offset), (32, physical));
        let viewed = call(&p, RemotingCommand::request(request::VIEW_MESSAGE_BY_ID, 0).with_field("offset", offset)).await;
        assert_eq!(viewed.code, response::SUCCESS);
        let by_key = |key: &str, unique: bool| {
            let mut req = RemotingCommand::request(request::QUERY_MESSAGE, 0)
                .with_field("topic", "Orders")
                .with_field("key", key)
                .with_field("maxNum", 10)
                .with_field("beginTimestamp", 0)
                .with_field("endTimestamp", i64::MAX);
            if unique {
                req = req.with_field("_UNIQUE_KEY_QUERY", "true");
            }
            req
        };
        assert_eq!(call(&p, by_key("k1", false)).await.code, response::SUCCESS);
        assert_eq!(call(&p, by_key("U-k0", true)).await.code, response::SUCCESS);
        assert_eq!(call(&p, by_key("none", false)).await.code, response::QUERY_NOT_FOUND);

        // Unknown codes and malformed requests get answers; the connection keeps serving.
        let unknown = call(&p, RemotingCommand::request(9999, 0)).await;
        assert_eq!(unknown.code, response::REQUEST_CODE_NOT_SUPPORTED);
        let missing = call(&p, RemotingCommand::request(request::PULL_MESSAGE, 0).with_field("consumerGroup", "CG")).await;
        assert_eq!(missing.code, response::SYSTEM_ERROR);
        let garbage = call(&p, RemotingCommand::request(request::HEART_BEAT, 0).with_body(b"{".to_vec())).await;
        assert_eq!(garbage.code, response::SYSTEM_ERROR);
        assert_eq!(call(&p, query("CG")).await.field("offset"), Some("2"));

        node.shutdown().await.unwrap();

        // A restart keeps topics and committed offsets.
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        assert_eq!(call(&c, query("CG")).await.field("offset"), Some("2"));
        route_appears(node.namesrv_addr(), "Admin").await;
        node.shutdown().await.unwrap();
    });
}
