//! Apache's `mqadmin` against a live Apogee node (NameServer + Broker in this process, on
//! loopback): the commands that talk to brokers, with their output parsed and compared with
//! what the test did. mqadmin's own producer (`sendMessage`) writes the messages, so the send
//! path is the reference client's too.
//!
//! The consumer group of `consumerProgress` / `consumerConnection` is played by this test over
//! the remoting protocol (a heartbeat and committed offsets); the Java client suites cover real
//! consumers.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use apogee_broker::{
    config::FixedEnv,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{Connection, ConnectionConfig, RefuseCallbacks, connect},
    standalone::{Standalone, StandaloneOptions},
};

use crate::{
    mqadmin::quote_integer_keys,
    mqadmin_runner::{Mqadmin, Run, table_rows},
};

const CLUSTER: &str = "AdminCluster";
const BROKER: &str = "admin-broker";

/// A node on its own runtime, stopped cleanly on drop.
struct Node {
    rt: tokio::runtime::Runtime,
    node: Option<Standalone>,
    dir: tempfile::TempDir,
}

impl Node {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        // 16 MiB CommitLog segments rather than 2 GiB of disk reserved for a few messages.
        options.broker_properties =
            format!("brokerClusterName={CLUSTER}\nbrokerName={BROKER}\nmappedFileSizeCommitLog=16777216\n");
        let node = rt
            .block_on(Standalone::start(options, &env))
            .expect("node starts");
        Self {
            rt,
            node: Some(node),
            dir,
        }
    }

    fn node(&self) -> &Standalone {
        self.node.as_ref().expect("running")
    }

    fn mqadmin(&self) -> Mqadmin {
        Mqadmin {
            namesrv: self.node().namesrv_addr().to_string(),
            home: self.dir.path().join("home"),
        }
    }

    /// A client connection to the broker, for playing a consumer.
    fn connect(&self) -> Arc<Connection> {
        let addr = self.node().broker_addr().to_string();
        self.rt
            .block_on(connect(
                &addr,
                Arc::new(RefuseCallbacks),
                &ConnectionConfig::default(),
            ))
            .expect("connect to broker")
    }

    fn call(&self, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
        self.rt
            .block_on(conn.request(req, Duration::from_secs(5)))
            .expect("broker answers")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let _ = self.rt.block_on(node.shutdown());
        }
    }
}

/// `key : value` lines (brokerStatus).
fn colon_table(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `Name:   value` lines of queryMsgById's report.
fn report_field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
}

fn sent_ids(runs: Vec<Run>) -> Vec<String> {
    runs.into_iter()
        .map(|run| {
            let out = run.ok();
            let rows = table_rows(&out);
            assert_eq!(rows.len(), 1, "{out}");
            let row = &rows[0];
            assert_eq!((row[0], row[2]), (BROKER, "SEND_OK"), "{out}");
            row[3].to_owned()
        })
        .collect()
}

#[test]
fn mqadmin_administers_and_inspects_a_live_broker() {
    let node = Node::start();
    let admin = node.mqadmin();
    let broker_addr = node.node().broker_addr().to_string();

    let created = admin
        .run(&["updateTopic", "-c", CLUSTER, "-t", "Orders", "-r", "4", "-w", "4"])
        .ok();
    assert!(
        created.contains(&format!("create topic to {broker_addr} success.")),
        "{created}"
    );
    assert!(
        created.contains("readQueueNums=4, writeQueueNums=4, perm=RW-"),
        "{created}"
    );

    let [s0, s1, s2] = admin.run_all([
        &[
            "sendMessage",
            "-t",
            "Orders",
            "-p",
            "body-0",
            "-k",
            "key-0",
            "-c",
            "TagA",
        ],
        &[
            "sendMessage",
            "-t",
            "Orders",
            "-p",
            "body-1",
            "-k",
            "key-1",
            "-c",
            "TagA",
        ],
        &[
            "sendMessage",
            "-t",
            "Orders",
            "-p",
            "body-2",
            "-k",
            "key-2",
            "-c",
            "TagB",
        ],
    ]);
    let ids = sent_ids(vec![s0, s1, s2]);

    // A consumer group: one member (this test's connection), offsets committed on queue 0..4.
    let member = node.connect();
    let heartbeat = serde_json::json!({
        "clientID": "127.0.0.1@progress",
        "consumerDataSet": [{"groupName": "ProgressGroup", "consumeType": "CONSUME_PASSIVELY",
            "messageModel": "CLUSTERING", "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET",
            "subscriptionDataSet": [{"topic": "Orders", "subString": "*", "expressionType": "TAG"}]}]
    });
    let hb =
        RemotingCommand::request(request::HEART_BEAT, 0).with_body(serde_json::to_vec(&heartbeat).unwrap());
    assert_eq!(node.call(&member, hb).code, response::SUCCESS);
    let max_offsets: Vec<i64> = (0..4)
        .map(|q| {
            let max = node.call(
                &member,
                RemotingCommand::request(request::GET_MAX_OFFSET, 0)
                    .with_field("topic", "Orders")
                    .with_field("queueId", q),
            );
            max.field("offset").unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(max_offsets.iter().sum::<i64>(), 3);
    // Everything consumed except queue 0's messages.
    for (q, max) in max_offsets.iter().enumerate() {
        let commit = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET, 0)
            .with_field("consumerGroup", "ProgressGroup")
            .with_field("topic", "Orders")
            .with_field("queueId", q)
            .with_field("commitOffset", if q == 0 { 0 } else { *max });
        assert_eq!(node.call(&member, commit).code, response::SUCCESS);
    }

    let [
        list,
        route,
        cluster,
        status,
        topic_status,
        by_key,
        by_id,
        progress,
        connection,
    ] = admin.run_all([
        &["topicList"],
        &["topicRoute", "-t", "Orders"],
        &["clusterList"],
        &["brokerStatus", "-b", &broker_addr],
        &["topicStatus", "-t", "Orders"],
        &["queryMsgByKey", "-t", "Orders", "-k", "key-1"],
        &["queryMsgById", "-t", "Orders", "-i", &ids[2]],
        &["consumerProgress", "-g", "ProgressGroup"],
        &["consumerConnection", "-g", "ProgressGroup"],
    ]);

    let topics: Vec<String> = list.ok().lines().map(|l| l.trim().to_owned()).collect();
    for t in ["Orders", "%RETRY%ProgressGroup", "TBW102", CLUSTER, BROKER] {
        assert!(topics.iter().any(|x| x == t), "{t} missing from {topics:?}");
    }

    let route: serde_json::Value = serde_json::from_str(&quote_integer_keys(&route.ok())).unwrap();
    assert_eq!(route["brokerDatas"][0]["brokerAddrs"]["0"], broker_addr.as_str());
    assert_eq!(route["brokerDatas"][0]["cluster"], CLUSTER);
    let queues = &route["queueDatas"][0];
    assert_eq!(
        (queues["readQueueNums"].as_i64(), queues["perm"].as_i64()),
        (Some(4), Some(6))
    );

    // #Cluster #Broker #BID #Addr #Version ... #ACTIVATED: a live broker answers its runtime info.
    let out = cluster.ok();
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(
        &rows[0][..5],
        &[CLUSTER, BROKER, "0", broker_addr.as_str(), "V5_3_1"],
        "{out}"
    );
    assert_eq!(rows[0].last(), Some(&"true"), "{out}");

    let status = colon_table(&status.ok());
    assert_eq!(status["msgPutTotalTodayNow"], "3");
    assert_eq!(status["brokerActive"], "true");
    assert_eq!(status["brokerRole"], "ASYNC_MASTER");

    // #Broker #QID #Min #Max #Last Updated: one row per queue, maxima summing to the sends.
    let out = topic_status.ok();
    let rows: Vec<Vec<&str>> = table_rows(&out).into_iter().filter(|r| r[0] == BROKER).collect();
    assert_eq!(rows.len(), 4, "{out}");
    let maxima: Vec<i64> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
    assert_eq!(maxima, max_offsets, "{out}");

    let out = by_key.ok();
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0][0], ids[1], "the key finds the message sent with it");

    // By its client id (UNIQ_KEY): mqadmin first tries it as an offsetMsgId, fails (caught),
    // then queries the index by unique key.
    let out = by_id.stdout;
    assert_eq!(report_field(&out, "Topic"), "Orders", "{out}");
    assert_eq!(report_field(&out, "Tags"), "[TagB]");
    assert_eq!(report_field(&out, "Keys"), "[key-2]");
    assert_eq!(report_field(&out, "Store Host"), broker_addr);

    // #Topic #Broker #QID #Broker Offset #Consumer Offset #Client IP #Diff #Inflight #LastTime
    let out = progress.ok();
    let rows: Vec<Vec<&str>> = table_rows(&out)
        .into_iter()
        .filter(|r| r[0] == "Orders")
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    let diff: i64 = rows
        .iter()
        .map(|r| r[3].parse::<i64>().unwrap() - r[4].parse::<i64>().unwrap())
        .sum();
    assert_eq!(diff, max_offsets[0], "only queue 0 is behind:\n{out}");
    assert!(out.contains("Diff Total"), "{out}");

    let out = connection.ok();
    assert!(out.contains("127.0.0.1@progress"), "{out}");
    assert!(
        out.contains("CONSUME_PASSIVELY") && out.contains("CLUSTERING"),
        "{out}"
    );

    // Group settings, then the topic removed everywhere.
    let sub = admin
        .run(&["updateSubGroup", "-c", CLUSTER, "-g", "SettingsGroup", "-r", "5"])
        .ok();
    assert!(
        sub.contains(&format!("create subscription group to {broker_addr} success.")),
        "{sub}"
    );
    let config = admin.run(&["getConsumerConfig", "-g", "SettingsGroup"]).ok();
    let retry_max = config
        .lines()
        .find_map(|l| l.strip_prefix("retryMaxTimes"))
        .map(|v| v.trim_start_matches([' ', '=']).trim());
    assert_eq!(retry_max, Some("5"), "{config}");

    let deleted = admin.run(&["deleteTopic", "-c", CLUSTER, "-t", "Orders"]).ok();
    assert!(
        deleted.contains(&format!(
            "delete topic [Orders] from cluster [{CLUSTER}] success."
        )) && deleted.contains("delete topic [Orders] from NameServer success."),
        "{deleted}"
    );
    let gone = admin.run(&["topicRoute", "-t", "Orders"]);
    assert_eq!(gone.client_error().0, response::TOPIC_NOT_EXIST);
    member.close();
}
