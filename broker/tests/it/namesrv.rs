//! The NameServer over real loopback sockets: registration, routes, connection close and
//! expiry, KV config, bad requests.

use std::{sync::Arc, time::Duration};

use apogee_broker::{
    config::{FixedEnv, NamesrvConfig},
    namesrv::{
        NameServer,
        route_data::{ClusterInfo, RegisterBrokerBody, TopicConfig, TopicRouteData, to_json},
    },
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{Connection, ConnectionConfig, RefuseCallbacks, Server, connect},
    store::record::body_crc,
};
use tokio::sync::watch;

use crate::harness::runtime;

struct Namesrv {
    rt: tokio::runtime::Runtime,
    addr: String,
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

fn start() -> Namesrv {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
    let mut config = NamesrvConfig::defaults(&env).unwrap();
    config.kv_config_path = dir.path().join("kvConfig.json");
    config.scan_not_active_broker_interval = Duration::from_millis(50);
    let (stop, stop_rx) = watch::channel(false);
    let server = rt
        .block_on(Server::bind("127.0.0.1:0", ConnectionConfig::default()))
        .unwrap();
    let addr = server.local_addr().to_string();
    rt.spawn(NameServer::new(config).unwrap().run(server, stop_rx));
    Namesrv {
        rt,
        addr,
        _dir: dir,
        _stop: stop,
    }
}

fn register(name: &str, addr: &str, id: i64, topics: &[&str]) -> RemotingCommand {
    let mut body = RegisterBrokerBody::default();
    for t in topics {
        let config = TopicConfig {
            topic_name: (*t).into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            ..Default::default()
        };
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert((*t).into(), config);
    }
    let body = to_json(&body);
    RemotingCommand::request(request::REGISTER_BROKER, 0)
        .with_field("clusterName", "DefaultCluster")
        .with_field("brokerName", name)
        .with_field("brokerAddr", addr)
        .with_field("brokerId", id)
        .with_field("haServerAddr", addr.replace(":10911", ":10912"))
        .with_field("bodyCrc32", body_crc(&body))
        .with_body(body)
}

async fn call(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(5)).await.unwrap()
}

async fn route(conn: &Connection, topic: &str) -> RemotingCommand {
    call(
        conn,
        RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_field("topic", topic),
    )
    .await
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 5 s");
}

#[test]
fn routes_follow_registrations_and_connections() {
    let ns = start();
    ns.rt.block_on(async {
        let cfg = ConnectionConfig::default();
        let master = connect(&ns.addr, Arc::new(RefuseCallbacks), &cfg).await.unwrap();
        let slave = connect(&ns.addr, Arc::new(RefuseCallbacks), &cfg).await.unwrap();
        let client = connect(&ns.addr, Arc::new(RefuseCallbacks), &cfg).await.unwrap();
        let reply = call(
            &master,
            register("broker-a", "127.0.0.1:10911", 0, &["TopicTest", "TBW102"]),
        )
        .await;
        assert_eq!(reply.code, response::SUCCESS);
        let reply = call(&slave, register("broker-a", "127.0.0.2:10911", 1, &["TopicTest"])).await;
        assert_eq!(reply.field("masterAddr"), Some("127.0.0.1:10911"));
        assert_eq!(reply.field("haServerAddr"), Some("127.0.0.1:10912"));

        let found = route(&client, "TopicTest").await;
        assert_eq!(found.code, response::SUCCESS);
        let text = std::str::from_utf8(&found.body).unwrap();
        assert!(
            text.contains(r#""brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.2:10911"}"#),
            "{text}"
        );
        let parsed: TopicRouteData = serde_json::from_slice(&found.body).unwrap();
        assert_eq!(parsed.queue_datas[0].write_queue_nums, 4);

        let missing = route(&client, "Nope").await;
        assert_eq!(missing.code, response::TOPIC_NOT_EXIST);
        assert_eq!(
            missing.remark.as_deref(),
            Some("No topic route info in name server for the topic: Nope")
        );

        let info = call(
            &client,
            RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO, 0),
        )
        .await;
        let info: ClusterInfo = serde_json::from_slice(&info.body).unwrap();
        assert!(info.cluster_addr_table["DefaultCluster"].contains("broker-a"));

        // The master's connection closes: its address leaves the route at once.
        master.close();
        eventually("master removal", async || {
            let r: TopicRouteData =
                serde_json::from_slice(&route(&client, "TopicTest").await.body).unwrap_or_default();
            r.broker_datas
                .first()
                .is_some_and(|b| b.broker_addrs.keys().eq([&1]))
        })
        .await;
        // Explicit unregistration of the last address removes the group and its topics.
        let unregister = RemotingCommand::request(request::UNREGISTER_BROKER, 0)
            .with_field("clusterName", "DefaultCluster")
            .with_field("brokerName", "broker-a")
            .with_field("brokerAddr", "127.0.0.2:10911")
            .with_field("brokerId", 1);
        assert_eq!(call(&slave, unregister).await.code, response::SUCCESS);
        assert_eq!(route(&client, "TopicTest").await.code, response::TOPIC_NOT_EXIST);
    });
}

#[test]
fn silent_brokers_expire_and_bad_requests_get_clear_answers() {
    let ns = start();
    ns.rt.block_on(async {
        let conn = connect(&ns.addr, Arc::new(RefuseCallbacks), &ConnectionConfig::default())
            .await
            .unwrap();
        let short =
            register("broker-b", "127.0.0.3:10911", 0, &["Short"]).with_field("heartbeatTimeoutMillis", 300);
        assert_eq!(call(&conn, short).await.code, response::SUCCESS);
        assert_eq!(route(&conn, "Short").await.code, response::SUCCESS);
        eventually("expiry after 300 ms without registration", async || {
            route(&conn, "Short").await.code == response::TOPIC_NOT_EXIST
        })
        .await;

        let mut tampered = register("broker-c", "127.0.0.4:10911", 0, &["T"]);
        tampered.body = bytes::Bytes::from(tampered.body.iter().rev().copied().collect::<Vec<u8>>());
        let reply = call(&conn, tampered).await;
        assert_eq!(
            (reply.code, reply.remark.as_deref()),
            (response::SYSTEM_ERROR, Some("crc32 not match"))
        );

        let mut incomplete = register("broker-c", "127.0.0.4:10911", 0, &["T"]);
        incomplete.ext_fields.remove("brokerAddr");
        let reply = call(&conn, incomplete).await;
        assert_eq!(
            reply.remark.as_deref(),
            Some("the custom field <brokerAddr> is null")
        );

        let put = RemotingCommand::request(request::PUT_KV_CONFIG, 0)
            .with_field("namespace", "ns")
            .with_field("key", "k")
            .with_field("value", "v");
        assert_eq!(call(&conn, put).await.code, response::SUCCESS);
        let get = |key: &str| {
            RemotingCommand::request(request::GET_KV_CONFIG, 0)
                .with_field("namespace", "ns")
                .with_field("key", key)
        };
        assert_eq!(call(&conn, get("k")).await.field("value"), Some("v"));
        assert_eq!(call(&conn, get("other")).await.code, response::QUERY_NOT_FOUND);
        let unknown = call(&conn, RemotingCommand::request(4242, 0)).await;
        assert_eq!(unknown.code, response::REQUEST_CODE_NOT_SUPPORTED);
    });
}
