//! Apache RocketMQ's own admin tool, `mqadmin` (`org.apache.rocketmq:rocketmq-tools`, the version
//! pinned in `e2e/java/mqadmin/pom.xml`, run unmodified through its `MQAdminStartup`), against
//! Apogee's NameServer. Fake brokers register over real loopback sockets; every command's output is
//! parsed and compared with what they registered.
//!
//! mqadmin exits 0 even when a command fails (it prints the stack trace on stderr and returns), so
//! no check relies on the exit status: each reads the success line, the table or the JSON the
//! command printed, or the exact failure it reported.
//!
//! Left to the broker suite, because only a live broker can answer them: `clusterList`'s runtime
//! stats (GET_BROKER_RUNTIME_INFO; here every broker shows as unreachable and inactive), the
//! consumer groups `topicList -c` asks brokers for (QUERY_TOPIC_CONSUME_BY_WHO; here the column
//! stays empty), and every command that talks to brokers only (`updateTopic`, `topicStatus`,
//! `brokerStatus`, ...).
//!
//! Needs Java 17 and Maven on PATH; the first run fetches rocketmq-tools from Maven Central into
//! `${APOGEE_CACHE:-$HOME/.cache/apogee}` (see `e2e/java/mqadmin/build.sh`).

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use apogee_broker::{
    config::{FixedEnv, NamesrvConfig},
    namesrv::{
        NameServer,
        route_data::{RegisterBrokerBody, TopicConfig, to_json},
    },
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{Connection, ConnectionConfig, RefuseCallbacks, Server, connect},
    store::record::body_crc,
};
use serde_json::Value;

use crate::mqadmin_runner::{Mqadmin, single_line, table_rows};
use tokio::sync::watch;

const CLUSTER: &str = "ApogeeCluster";
const PERM_READ: i32 = 4;
const PERM_WRITE: i32 = 2;
const PERM_INHERIT: i32 = 1;
/// The KV namespace of ordered-topic configs (`NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG`).
const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

// ---------------------------------------------------------------------------------------------
// The fake brokers.

#[derive(Debug, Clone)]
struct Topic {
    name: &'static str,
    read: i32,
    write: i32,
    perm: i32,
    order: bool,
}

const fn topic(name: &'static str, read: i32, write: i32, perm: i32) -> Topic {
    Topic {
        name,
        read,
        write,
        perm,
        order: false,
    }
}

#[derive(Debug, Clone)]
struct FakeBroker {
    group: &'static str,
    addr: &'static str,
    id: i64,
    topics: Vec<Topic>,
}

/// Two broker groups of one cluster: broker-a a master and a slave, broker-b a master alone. The
/// slave registers its master's topics, as real slaves do; only masters define queues.
fn fleet() -> Vec<FakeBroker> {
    let a = vec![
        topic("TopicTest", 4, 4, PERM_READ | PERM_WRITE),
        Topic {
            order: true,
            ..topic("TopicOrder", 8, 8, PERM_READ | PERM_WRITE)
        },
        // The auto-create template topic, with the inherit bit reference brokers register it with.
        topic("TBW102", 8, 8, PERM_READ | PERM_WRITE | PERM_INHERIT),
        topic("%RETRY%GroupA", 1, 1, PERM_READ | PERM_WRITE),
    ];
    let b = vec![
        topic("TopicTest", 4, 4, PERM_READ | PERM_WRITE),
        Topic {
            order: true,
            ..topic("TopicOrder", 4, 4, PERM_READ | PERM_WRITE)
        },
        topic("TopicB", 2, 3, PERM_READ),
    ];
    vec![
        FakeBroker {
            group: "broker-a",
            addr: "127.0.0.1:10911",
            id: 0,
            topics: a.clone(),
        },
        FakeBroker {
            group: "broker-a",
            addr: "127.0.0.2:10911",
            id: 1,
            topics: a,
        },
        FakeBroker {
            group: "broker-b",
            addr: "127.0.0.3:10911",
            id: 0,
            topics: b,
        },
    ]
}

fn masters(brokers: &[FakeBroker]) -> impl Iterator<Item = &FakeBroker> {
    brokers.iter().filter(|b| b.id == 0)
}

/// Every topic some master registered.
fn registered_topics(brokers: &[FakeBroker]) -> BTreeSet<String> {
    masters(brokers)
        .flat_map(|b| b.topics.iter().map(|t| t.name.to_owned()))
        .collect()
}

fn register_request(broker: &FakeBroker) -> RemotingCommand {
    let mut body = RegisterBrokerBody::default();
    for t in &broker.topics {
        let config = TopicConfig {
            topic_name: t.name.into(),
            read_queue_nums: t.read,
            write_queue_nums: t.write,
            perm: t.perm,
            order: t.order,
            ..Default::default()
        };
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(t.name.into(), config);
    }
    let body = to_json(&body);
    RemotingCommand::request(request::REGISTER_BROKER, 0)
        .with_field("clusterName", CLUSTER)
        .with_field("brokerName", broker.group)
        .with_field("brokerAddr", broker.addr)
        .with_field("brokerId", broker.id)
        .with_field("haServerAddr", broker.addr.replace(":10911", ":10912"))
        .with_field("bodyCrc32", body_crc(&body))
        .with_body(body)
}

// ---------------------------------------------------------------------------------------------
// Our NameServer, with the brokers registered.

struct Namesrv {
    brokers: Vec<FakeBroker>,
    mqadmin: Mqadmin,
    kv_path: PathBuf,
    // Held for the test's duration: closing a registration's connection removes its broker.
    _registrations: Vec<Arc<Connection>>,
    _stop: watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// Starts a NameServer on an ephemeral loopback port and registers `brokers`, each on its own
/// connection, kept open for the test's duration.
fn start(brokers: Vec<FakeBroker>) -> Namesrv {
    for b in &brokers {
        let addr: SocketAddr = b.addr.parse().unwrap();
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "something listens at {}, a fake broker's address: mqadmin would talk to it",
            b.addr
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
    let mut config = NamesrvConfig::defaults(&env).unwrap();
    config.kv_config_path = dir.path().join("kvConfig.json");
    // Routes carry the ordered-topic config from the KV store (the reference's switch too).
    config.order_message_enable = true;
    let kv_path = config.kv_config_path.clone();
    let (stop, stop_rx) = watch::channel(false);
    let server = rt
        .block_on(Server::bind("127.0.0.1:0", ConnectionConfig::default()))
        .unwrap();
    let addr = server.local_addr().to_string();
    rt.spawn(NameServer::new(config).unwrap().run(server, stop_rx));
    let registrations = rt.block_on(async {
        let mut connections = Vec::new();
        for broker in &brokers {
            let conn = connect(&addr, Arc::new(RefuseCallbacks), &ConnectionConfig::default())
                .await
                .unwrap();
            let reply = conn
                .request(register_request(broker), Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(
                (reply.code, reply.remark.as_deref()),
                (response::SUCCESS, None),
                "registration of {broker:?}"
            );
            connections.push(conn);
        }
        connections
    });
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    Namesrv {
        brokers,
        mqadmin: Mqadmin { namesrv: addr, home },
        kv_path,
        _registrations: registrations,
        _stop: stop,
        _rt: rt,
        _dir: dir,
    }
}

// ---------------------------------------------------------------------------------------------
// What the output must say.

/// A topic's route as `topicRoute` shows it, reduced to what the brokers determine.
#[derive(Debug, PartialEq, Eq)]
struct Route {
    /// Group → (cluster, broker id → address).
    brokers: BTreeMap<String, (String, BTreeMap<i64, String>)>,
    /// Group → (read queues, write queues, perm, topic sys flag).
    queues: BTreeMap<String, (i64, i64, i64, i64)>,
    order_topic_conf: Option<String>,
}

/// The route the registrations define: each group whose master registered `topic`, with every
/// address registered under that group (slaves too) and the master's queues, their perm passed
/// through `perm(group, registered perm)`.
fn expected_route(brokers: &[FakeBroker], topic: &str, perm: impl Fn(&str, i32) -> i32) -> Route {
    let mut route = Route {
        brokers: BTreeMap::new(),
        queues: BTreeMap::new(),
        order_topic_conf: None,
    };
    for master in masters(brokers) {
        let Some(t) = master.topics.iter().find(|t| t.name == topic) else {
            continue;
        };
        let addrs = brokers
            .iter()
            .filter(|b| b.group == master.group)
            .map(|b| (b.id, b.addr.to_owned()))
            .collect();
        route.brokers.insert(master.group.into(), (CLUSTER.into(), addrs));
        route.queues.insert(
            master.group.into(),
            (
                t.read.into(),
                t.write.into(),
                perm(master.group, t.perm).into(),
                0, // topicSysFlag: the fake brokers register none
            ),
        );
    }
    route
}

fn as_registered(_: &str, perm: i32) -> i32 {
    perm
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

fn int_field(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer {key:?} in {v}"))
}

/// fastjson, which mqadmin prints JSON with, writes integer map keys bare (`"brokerAddrs":
/// {0:"127.0.0.1:10911"}`). This quotes them, making the text standard JSON.
pub(crate) fn quote_integer_keys(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    // The last byte outside strings that is not whitespace: a key may follow `{` or `,`.
    let mut last = b' ';
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(last, b'{' | b',') && (b.is_ascii_digit() || b == b'-') {
            let end = i + 1 + bytes[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            let rest = text[end..].trim_start();
            if rest.starts_with(':') {
                out.push('"');
                out.push_str(&text[i..end]);
                out.push('"');
                last = b'"';
                i = end;
                continue;
            }
        }
        if !b.is_ascii_whitespace() {
            last = b;
        }
        // One character, all its bytes.
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

/// Parses what `topicRoute -t <topic>` printed: Java's `TopicRouteData.toJson(true)`.
fn parse_route(stdout: &str) -> Route {
    let json: Value = serde_json::from_str(&quote_integer_keys(stdout.trim()))
        .unwrap_or_else(|e| panic!("topicRoute printed no JSON ({e}):\n{stdout}"));
    let mut route = Route {
        brokers: BTreeMap::new(),
        queues: BTreeMap::new(),
        order_topic_conf: json["orderTopicConf"].as_str().map(str::to_owned),
    };
    for b in json["brokerDatas"].as_array().expect("brokerDatas") {
        let addrs = b["brokerAddrs"]
            .as_object()
            .expect("brokerAddrs")
            .iter()
            .map(|(id, addr)| (id.parse().unwrap(), addr.as_str().unwrap().to_owned()))
            .collect();
        let previous = route.brokers.insert(
            str_field(b, "brokerName").into(),
            (str_field(b, "cluster").into(), addrs),
        );
        assert!(previous.is_none(), "a group listed twice:\n{stdout}");
    }
    for q in json["queueDatas"].as_array().expect("queueDatas") {
        let previous = route.queues.insert(
            str_field(q, "brokerName").into(),
            (
                int_field(q, "readQueueNums"),
                int_field(q, "writeQueueNums"),
                int_field(q, "perm"),
                int_field(q, "topicSysFlag"),
            ),
        );
        assert!(previous.is_none(), "a group's queues listed twice:\n{stdout}");
    }
    route
}

/// The `orderConf=[...]` value of `updateOrderConf`'s success line.
fn order_conf(stdout: &str) -> &str {
    let line = single_line(stdout);
    let start = line
        .find("orderConf=[")
        .unwrap_or_else(|| panic!("no orderConf in {line:?}"))
        + "orderConf=[".len();
    let end = line[start..]
        .find(']')
        .unwrap_or_else(|| panic!("unterminated orderConf in {line:?}"));
    &line[start..start + end]
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn quote_integer_keys_leaves_everything_else() {
    let text = r#"{"a":{0:"x:1",-1:"y"},"b":[1,2],"c":"{3:4}","d":{ 12 :"\"z"}}"#;
    assert_eq!(
        quote_integer_keys(text),
        r#"{"a":{"0":"x:1","-1":"y"},"b":[1,2],"c":"{3:4}","d":{ "12" :"\"z"}}"#
    );
}

#[test]
fn mqadmin_reads_routes_and_listings() {
    let ns = start(fleet());
    let brokers = &ns.brokers;
    let [route, route_b, missing, list, list_by_cluster, topic_cluster] = ns.mqadmin.run_all([
        &["topicRoute", "-t", "TopicTest"],
        &["topicRoute", "-t", "TopicB"],
        &["topicRoute", "-t", "NoSuchTopic"],
        &["topicList"],
        &["topicList", "-c"],
        &["topicClusterList", "-t", "TopicTest"],
    ]);
    let [cluster_list, get_config, update_config] = ns.mqadmin.run_all([
        &["clusterList"],
        &["getNamesrvConfig"],
        &["updateNamesrvConfig", "-k", "orderMessageEnable", "-v", "false"],
    ]);

    // A topic on both groups (one with a slave), and one on broker-b alone, read-only.
    assert_eq!(
        parse_route(&route.ok()),
        expected_route(brokers, "TopicTest", as_registered)
    );
    assert_eq!(
        parse_route(&route_b.ok()),
        expected_route(brokers, "TopicB", as_registered)
    );
    assert_eq!(
        missing.client_error(),
        (
            response::TOPIC_NOT_EXIST,
            "No topic route info in name server for the topic: NoSuchTopic".to_owned()
        )
    );

    // One topic a line, retry topics included.
    let listed: BTreeSet<String> = list.ok().lines().map(|l| l.trim().to_owned()).collect();
    assert_eq!(listed, registered_topics(brokers));

    // `-c`: the cluster of each topic (from the route and the cluster table), retry and DLQ
    // topics left out by mqadmin itself. The consumer-group column stays empty: mqadmin asks a
    // broker for it and swallows the connection failure.
    let out = list_by_cluster.ok();
    let rows = table_rows(&out);
    assert!(rows.iter().all(|r| r.len() == 2 && r[0] == CLUSTER), "{out}");
    let by_cluster: BTreeSet<String> = rows.iter().map(|r| r[1].to_owned()).collect();
    let expected: BTreeSet<String> = registered_topics(brokers)
        .into_iter()
        .filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
        .collect();
    assert_eq!(by_cluster, expected);
    assert_eq!(rows.len(), expected.len(), "{out}");

    assert_eq!(single_line(&topic_cluster.ok()), CLUSTER);

    // Every registered address under its cluster, group and id, from GET_BROKER_CLUSTER_INFO.
    // The other columns come from each broker's GET_BROKER_RUNTIME_INFO; no broker listens, so
    // each shows as not activated and its connection failure goes to stderr (the broker suite
    // checks the columns against a live broker).
    let rows = table_rows(&cluster_list.stdout);
    let listed: BTreeSet<(String, String, i64, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[0].to_owned(),
                r[1].to_owned(),
                r[2].parse().unwrap(),
                r[3].to_owned(),
                r[r.len() - 1].to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<_> = brokers
        .iter()
        .map(|b| {
            (
                CLUSTER.to_owned(),
                b.group.to_owned(),
                b.id,
                b.addr.to_owned(),
                "false".to_owned(),
            )
        })
        .collect();
    assert_eq!(listed, expected, "{cluster_list}");
    assert_eq!(rows.len(), brokers.len(), "{cluster_list}");
    for b in brokers {
        let failure = format!("RemotingConnectException: connect to {} failed", b.addr);
        assert!(cluster_list.stderr.contains(&failure), "{cluster_list}");
    }

    // GET_NAMESRV_CONFIG and UPDATE_NAMESRV_CONFIG are not implemented: mqadmin reports our
    // answer as the reference words it for an unknown request.
    for (run, code) in [(&get_config, 319), (&update_config, 318)] {
        let (got, remark) = run.client_error();
        assert_eq!(
            (got, remark.trim()),
            (
                response::REQUEST_CODE_NOT_SUPPORTED,
                format!("request type {code} not supported").as_str()
            ),
            "{run}"
        );
    }
}

/// The ordered-topic config of `topic`: every group serving it, all its write queues.
fn order_conf_of(brokers: &[FakeBroker], topic: &str) -> String {
    masters(brokers)
        .filter_map(|b| {
            let t = b.topics.iter().find(|t| t.name == topic)?;
            Some(format!("{}:{}", b.group, t.write))
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[test]
fn mqadmin_kv_config_and_ordered_topic_routes() {
    let ns = start(fleet());
    let topic = "TopicOrder";
    let conf = order_conf_of(&ns.brokers, topic);
    let with_order_conf = |conf: Option<&str>| Route {
        order_topic_conf: conf.map(str::to_owned),
        ..expected_route(&ns.brokers, topic, as_registered)
    };

    // updateKvConfig writes the namespace routes read ordered-topic configs from ...
    let put = ns.mqadmin.run(&[
        "updateKvConfig",
        "-s",
        ORDER_TOPIC_CONFIG,
        "-k",
        topic,
        "-v",
        &conf,
    ]);
    assert_eq!(
        single_line(&put.ok()),
        "create or update kv config to namespace success."
    );
    // ... which two other commands read back: updateOrderConf's get, and the route.
    let [get, route] = ns.mqadmin.run_all([
        &["updateOrderConf", "-m", "get", "-t", topic],
        &["topicRoute", "-t", topic],
    ]);
    assert_eq!(order_conf(&get.ok()), conf);
    assert_eq!(parse_route(&route.ok()), with_order_conf(Some(&conf)));

    // updateOrderConf's put replaces it (PUT_KV_CONFIG too), and the KV file holds the new value.
    let first_group_only = conf.split(';').next().unwrap().to_owned();
    assert_ne!(first_group_only, conf, "the fleet orders {topic} on two groups");
    let put = ns.mqadmin.run(&[
        "updateOrderConf",
        "-m",
        "put",
        "-t",
        topic,
        "-v",
        &first_group_only,
    ]);
    assert_eq!(order_conf(&put.ok()), first_group_only);
    let get = ns.mqadmin.run(&["updateOrderConf", "-m", "get", "-t", topic]);
    assert_eq!(order_conf(&get.ok()), first_group_only);
    let file: Value = serde_json::from_slice(&std::fs::read(&ns.kv_path).unwrap()).unwrap();
    assert_eq!(
        file["configTable"][ORDER_TOPIC_CONFIG][topic].as_str(),
        Some(first_group_only.as_str()),
        "{file}"
    );

    // deleteKvConfig removes it: the get fails as the reference fails it, the route loses it.
    let delete = ns
        .mqadmin
        .run(&["deleteKvConfig", "-s", ORDER_TOPIC_CONFIG, "-k", topic]);
    assert_eq!(
        single_line(&delete.ok()),
        "delete kv config from namespace success."
    );
    let [get, route] = ns.mqadmin.run_all([
        &["updateOrderConf", "-m", "get", "-t", topic],
        &["topicRoute", "-t", topic],
    ]);
    assert_eq!(
        get.client_error(),
        (
            response::QUERY_NOT_FOUND,
            format!("No config item, Namespace: {ORDER_TOPIC_CONFIG} Key: {topic}")
        )
    );
    assert_eq!(parse_route(&route.ok()), with_order_conf(None));
}

#[test]
fn mqadmin_wipes_and_adds_write_permission() {
    let ns = start(fleet());
    let brokers = &ns.brokers;
    let (group, namesrv) = ("broker-a", ns.mqadmin.namesrv.as_str());
    // The reference counts the topics whose queues it changed: all the group's master registered.
    let topics_of_group = masters(brokers)
        .filter(|b| b.group == group)
        .map(|b| b.topics.len())
        .sum::<usize>();
    let routes = |topics: [&str; 2]| {
        let args = topics.map(|t| ["topicRoute", "-t", t]);
        ns.mqadmin
            .run_all(args.each_ref().map(|a| a.as_slice()))
            .map(|r| parse_route(&r.ok()))
    };
    let topics = ["TopicTest", "TBW102"];

    let [wipe, wipe_unknown] = ns.mqadmin.run_all([
        &["wipeWritePerm", "-b", group],
        &["wipeWritePerm", "-b", "no-such-group"],
    ]);
    assert_eq!(
        single_line(&wipe.ok()),
        format!("wipe write perm of broker[{group}] in name server[{namesrv}] OK, {topics_of_group}")
    );
    assert_eq!(
        single_line(&wipe_unknown.ok()),
        format!("wipe write perm of broker[no-such-group] in name server[{namesrv}] OK, 0")
    );
    let wiped = |g: &str, perm: i32| if g == group { perm & !PERM_WRITE } else { perm };
    let [test, tbw] = routes(topics);
    assert_eq!(test, expected_route(brokers, topics[0], wiped));
    assert_eq!(tbw, expected_route(brokers, topics[1], wiped));

    let add = ns.mqadmin.run(&["addWritePerm", "-b", group]);
    assert_eq!(
        single_line(&add.ok()),
        format!("add write perm of broker[{group}] in name server[{namesrv}] OK, {topics_of_group}")
    );
    // The reference sets the group's queues to read and write, whatever they were (TBW102's
    // inherit bit is gone); other groups keep theirs.
    let added = |g: &str, perm: i32| if g == group { PERM_READ | PERM_WRITE } else { perm };
    let [test, tbw] = routes(topics);
    assert_eq!(test, expected_route(brokers, topics[0], added));
    assert_eq!(tbw, expected_route(brokers, topics[1], added));
}
