//! `slaveReadEnable` with real `apogee broker` processes: a master answers a pull of data so far
//! behind its log's end that it is probably out of the page cache (more than 40 % of the
//! machine's memory, as the reference estimates) with `suggestWhichBrokerId` = the group's
//! `whichBrokerWhenConsumeSlowly`; the consumer, following it, reads the same messages from the
//! slave, which points it back to the master. Without `slaveReadEnable` a master never steers.
//!
//! The brokers see a 16 MiB machine (their own `/proc/meminfo`, see `BrokerSpec::mem_total_kib`),
//! so "cold" starts 6.7 MB behind the end instead of 40 % of the test machine's memory.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::Path,
    time::{Duration, Instant},
};

use apogee_broker::protocol::{RemotingCommand, code::request, code::response};

use crate::{
    ha_client::{Pulled, pull, route, subscribe_addr},
    ha_cluster::{BrokerProcess, BrokerSpec, connect_when_up, namesrv, send},
    harness::runtime,
};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const MACHINE_KIB: u64 = 16 * 1024;
/// 140 records of about 61 KB: 8.6 MB, more than 40 % of the brokers' 16 MiB.
const MESSAGES: usize = 140;
const BODY: usize = 60 * 1024;
const GROUP: &str = "SlowGroup";

fn spec<'a>(
    name: &'a str,
    id: u32,
    role: &'a str,
    conf: &'a str,
    ns: SocketAddr,
    dir: &'a Path,
) -> BrokerSpec<'a> {
    BrokerSpec {
        name,
        id,
        role,
        ip: LOOPBACK,
        bind: None,
        namesrv: ns,
        dir,
        netns: None,
        extra_conf: conf,
        mem_total_kib: Some(MACHINE_KIB),
    }
}

async fn fill(broker: SocketAddr) {
    let conn = connect_when_up(broker).await;
    for i in 0..MESSAGES {
        let req = send("Cold", &format!("c{i:03}")).with_body(vec![b'c'; BODY]);
        let reply = conn.request(req, Duration::from_secs(5)).await.unwrap();
        assert_eq!(reply.code, response::SUCCESS, "send {i}");
    }
    conn.close();
}

/// Sets the group's `whichBrokerWhenConsumeSlowly` on `broker`.
async fn slow_consumers_go_to(broker: SocketAddr, broker_id: i64) {
    let body = serde_json::json!({"groupName": GROUP, "whichBrokerWhenConsumeSlowly": broker_id});
    let req = RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0)
        .with_body(serde_json::to_vec(&body).unwrap());
    let conn = connect_when_up(broker).await;
    let reply = conn.request(req, Duration::from_secs(5)).await.unwrap();
    assert_eq!(reply.code, response::SUCCESS);
    conn.close();
}

async fn pull_at(broker: SocketAddr, offset: i64) -> Pulled {
    let conn = connect_when_up(broker).await;
    let pulled = pull(&conn, GROUP, "Cold", 0, offset, 4).await;
    conn.close();
    assert_eq!(pulled.code, response::SUCCESS, "{pulled:?}");
    pulled
}

#[test]
fn a_master_with_slave_read_sends_consumers_of_cold_data_to_its_slave() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let ns = namesrv(LOOPBACK, dir.path()).await;
        let (steering, plain) = (dir.path().join("steering"), dir.path().join("plain"));
        std::fs::create_dir_all(&steering).unwrap();
        std::fs::create_dir_all(&plain).unwrap();
        let read = "slaveReadEnable=true\n";
        let master = BrokerProcess::start(&spec("sr", 0, "ASYNC_MASTER", read, ns.addr, &steering));
        let slave = BrokerProcess::start(&spec("sr", 1, "SLAVE", read, ns.addr, &steering));
        let other = BrokerProcess::start(&spec("plain", 0, "ASYNC_MASTER", "", ns.addr, &plain));
        fill(master.addr).await;
        fill(other.addr).await;

        // Reading from the start: cold on the master, so go to the slave (id 1 by default).
        let cold = pull_at(master.addr, 0).await;
        assert_eq!(cold.keys, ["c000", "c001", "c002", "c003"]);
        assert_eq!(cold.suggested_broker, 1, "{cold:?}");
        // Reading near the end: hot, stay on the master.
        let hot = pull_at(master.addr, MESSAGES as i64 - 4).await;
        assert_eq!(hot.suggested_broker, 0, "{hot:?}");
        // Without slaveReadEnable a master keeps every consumer.
        let kept = pull_at(other.addr, 0).await;
        assert_eq!(kept.suggested_broker, 0, "{kept:?}");

        // The consumer follows the suggestion to the broker the route lists as id 1, which has
        // the same messages once it caught up, and points it back to the master.
        let topic_route = route(ns.addr, "Cold").await.expect("a route");
        let target = subscribe_addr(&topic_route, "sr", cold.suggested_broker);
        assert_eq!(target, Some(slave.addr.to_string()));
        let deadline = Instant::now() + Duration::from_secs(15);
        let from_slave = loop {
            let conn = connect_when_up(slave.addr).await;
            let pulled = pull(&conn, GROUP, "Cold", 0, MESSAGES as i64 - 1, 1).await;
            conn.close();
            if pulled.code == response::SUCCESS {
                break pull_at(slave.addr, 0).await;
            }
            assert!(Instant::now() < deadline, "the slave never caught up: {pulled:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(from_slave.keys, cold.keys);
        assert_eq!(from_slave.suggested_broker, 0, "the slave sends it back");

        // The id comes from the group's settings.
        slow_consumers_go_to(master.addr, 2).await;
        assert_eq!(pull_at(master.addr, 0).await.suggested_broker, 2);
    });
}
