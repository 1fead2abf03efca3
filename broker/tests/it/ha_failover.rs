//! What clients find when a master is killed (SIGKILL, real `apogee broker` processes): the
//! NameServer drops the master at once and keeps its slave in the route; a consumer, choosing
//! brokers as the reference client does, reads on from the slave where its group's offset was
//! and commits there; a producer of a cluster with two groups sends on to the surviving group.
//!
//! The reference client reads the group from any broker left in the route when its master is
//! gone, and sends only to groups whose route lists a master: these tests drive those rules
//! (`ha_client.rs`) against our NameServer and brokers.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::Path,
    time::{Duration, Instant},
};

use apogee_broker::{protocol::code::response, replication::metadata_sync::SYNC_INTERVAL};

use crate::{
    ha_client::{
        commit_offset, group_addrs, publish_queues, pull, query_offset, route_where, subscribe_addr,
    },
    ha_cluster::{BrokerProcess, BrokerSpec, connect_when_up, namesrv, send},
    ha_faults::until_replicating,
    harness::runtime,
};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const GROUP: &str = "FailoverGroup";

fn spec<'a>(name: &'a str, id: u32, role: &'a str, namesrv: SocketAddr, dir: &'a Path) -> BrokerSpec<'a> {
    BrokerSpec {
        name,
        id,
        role,
        ip: LOOPBACK,
        bind: None,
        namesrv,
        dir,
        netns: None,
        extra_conf: "",
        mem_total_kib: None,
    }
}

#[test]
fn consumers_read_on_from_the_slave_when_the_master_is_killed() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let ns = namesrv(LOOPBACK, dir.path()).await;
        let mut master = BrokerProcess::start(&spec("fo", 0, "SYNC_MASTER", ns.addr, dir.path()));
        let slave = BrokerProcess::start(&spec("fo", 1, "SLAVE", ns.addr, dir.path()));
        until_replicating(master.addr, &[&master, &slave]).await;

        // 40 messages, each acknowledged only once the slave had it; the group reads 15 of
        // them from the master and commits there.
        let m = connect_when_up(master.addr).await;
        for i in 0..40 {
            let reply = m
                .request(send("Failover", &format!("k{i:02}")), Duration::from_secs(5))
                .await;
            assert_eq!(reply.unwrap().code, response::SUCCESS, "send {i}");
        }
        let first = pull(&m, GROUP, "Failover", 0, 0, 15).await;
        assert_eq!(first.code, response::SUCCESS);
        assert_eq!(
            first.keys,
            (0..15).map(|i| format!("k{i:02}")).collect::<Vec<_>>()
        );
        assert_eq!(
            commit_offset(&m, GROUP, "Failover", 0, 15).await,
            response::SUCCESS
        );

        // The slave copies the group's offsets every SYNC_INTERVAL (as the reference's does): a
        // consumer that moves to it resumes from the last copy. Wait for it, so the numbers
        // below are exact.
        let s = connect_when_up(slave.addr).await;
        let deadline = Instant::now() + SYNC_INTERVAL + Duration::from_secs(5);
        while query_offset(&s, GROUP, "Failover", 0).await != Some(15) {
            assert!(Instant::now() < deadline, "the slave never copied the offset");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        master.kill();
        let route = route_where(ns.addr, "Failover", "the route drops the killed master", |r| {
            group_addrs(r, "fo").iter().all(|(id, _)| *id != 0)
        })
        .await;
        assert_eq!(
            group_addrs(&route, "fo"),
            [(1, slave.addr.to_string())],
            "the slave stays in the route"
        );
        assert!(
            route
                .queue_datas
                .iter()
                .any(|q| q.broker_name == "fo" && q.read_queue_nums > 0),
            "and so do the group's queues: {route:#?}"
        );
        // Wanting the master (id 0), the client finds only the slave.
        assert_eq!(subscribe_addr(&route, "fo", 0), Some(slave.addr.to_string()));

        // The group's offset is there, and the rest of the messages follow it.
        assert_eq!(query_offset(&s, GROUP, "Failover", 0).await, Some(15));
        let mut offset = 15;
        let mut rest = Vec::new();
        loop {
            let pulled = pull(&s, GROUP, "Failover", 0, offset, 8).await;
            if pulled.code != response::SUCCESS {
                assert_eq!(pulled.code, response::PULL_NOT_FOUND, "{pulled:?}");
                break;
            }
            assert_eq!(pulled.suggested_broker, 0, "a slave points back to the master");
            rest.extend(pulled.keys);
            offset = pulled.next_offset;
        }
        assert_eq!(rest, (15..40).map(|i| format!("k{i:02}")).collect::<Vec<_>>());
        assert_eq!(offset, 40);
        // Progress is committed on the slave, as the reference slave accepts it.
        assert_eq!(
            commit_offset(&s, GROUP, "Failover", 0, 40).await,
            response::SUCCESS
        );
        assert_eq!(query_offset(&s, GROUP, "Failover", 0).await, Some(40));
        s.close();
    });
}

#[test]
fn producers_send_on_to_the_other_group_when_a_master_is_killed() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let ns = namesrv(LOOPBACK, dir.path()).await;
        // A directory per group: a broker's files are named by its id.
        let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&dir_a).unwrap();
        std::fs::create_dir_all(&dir_b).unwrap();
        let mut a = BrokerProcess::start(&spec("mm-a", 0, "ASYNC_MASTER", ns.addr, &dir_a));
        let a_slave = BrokerProcess::start(&spec("mm-a", 1, "SLAVE", ns.addr, &dir_a));
        let b = BrokerProcess::start(&spec("mm-b", 0, "ASYNC_MASTER", ns.addr, &dir_b));
        // The topic on both groups (created by a first send to each master).
        for (broker, key) in [(a.addr, "first-a"), (b.addr, "first-b")] {
            let conn = connect_when_up(broker).await;
            let reply = conn.request(send("Spread", key), Duration::from_secs(5)).await;
            assert_eq!(reply.unwrap().code, response::SUCCESS);
            conn.close();
        }
        let route = route_where(ns.addr, "Spread", "both groups and a's slave in the route", |r| {
            let a = group_addrs(r, "mm-a");
            publish_queues(r).len() == 2 && a.len() == 2
        })
        .await;
        let sent = produce(&publish_queues(&route), "before", 10).await;
        assert_eq!(
            sent.keys().cloned().collect::<Vec<_>>(),
            ["mm-a", "mm-b"],
            "sends go to both groups"
        );

        a.kill();
        let route = route_where(ns.addr, "Spread", "the route drops a's master", |r| {
            group_addrs(r, "mm-a").iter().all(|(id, _)| *id != 0)
        })
        .await;
        // a's slave still serves reads, but a producer has no queue of group a to send to.
        assert_eq!(group_addrs(&route, "mm-a"), [(1, a_slave.addr.to_string())]);
        let queues = publish_queues(&route);
        assert_eq!(queues, [("mm-b".to_owned(), b.addr.to_string(), 0)]);
        let sent = produce(&queues, "after", 20).await;
        assert_eq!(sent.get("mm-b").map(Vec::len), Some(20), "{sent:?}");

        // Group b stored them all, after what it had.
        let conn = connect_when_up(b.addr).await;
        let pulled = pull(&conn, "SpreadGroup", "Spread", 0, 0, 32).await;
        let after: Vec<&String> = pulled.keys.iter().filter(|k| k.starts_with("after-")).collect();
        assert_eq!(after.len(), 20, "{:?}", pulled.keys);
        assert!(pulled.keys.contains(&"first-b".to_owned()));
        conn.close();
    });
}

/// Sends `count` messages round-robin over `queues`, as a producer without a preferred queue
/// does; every send must succeed. Returns the keys by the group that took them.
async fn produce(queues: &[(String, String, i32)], tag: &str, count: usize) -> BTreeMap<String, Vec<String>> {
    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..count {
        let (group, addr, _queue) = &queues[i % queues.len()];
        let conn = connect_when_up(addr.parse().unwrap()).await;
        let key = format!("{tag}-{i:02}");
        let reply = conn.request(send("Spread", &key), Duration::from_secs(5)).await;
        assert_eq!(reply.unwrap().code, response::SUCCESS, "{key} to {group}");
        conn.close();
        sent.entry(group.clone()).or_default().push(key);
    }
    sent
}
