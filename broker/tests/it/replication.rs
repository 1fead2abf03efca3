//! Master/slave replication between real brokers on loopback: a slave follows an ASYNC master
//! across segment boundaries and serves the same messages with the master's metadata (topics,
//! consumer offsets, delay progress, subscription groups); a SYNC_MASTER answers
//! SLAVE_NOT_AVAILABLE without a slave and only acknowledges what its slave has; a restarted
//! slave resumes. Slaves whose history differs from their master's: `replication_divergence.rs`.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
    time::{Duration, Instant},
};

use apogee_broker::{
    broker::{Listen, RunningBroker},
    config::{BrokerConfig, FixedEnv},
    protocol::{RemotingCommand, code::request, code::response},
    replication::metadata_sync::SYNC_INTERVAL,
    standalone::{Standalone, StandaloneOptions},
};

use crate::{
    broker::{call, client},
    harness::runtime,
};

/// Small segments so a few hundred messages cross several of them.
pub(crate) const SEGMENT: &str = "mappedFileSizeCommitLog=1048576\nmaxMessageSize=262144\n";
pub(crate) const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub(crate) async fn master(dir: &Path, role: &str) -> Standalone {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let mut options = StandaloneOptions::loopback(dir.join("master"));
    options.broker_properties = format!("brokerName=rep\nbrokerRole={role}\n{SEGMENT}");
    Standalone::start(options, &env).await.expect("master starts")
}

pub(crate) async fn slave(dir: &Path, namesrv: std::net::SocketAddr) -> RunningBroker {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let text = format!(
        "brokerName=rep\nbrokerId=1\nbrokerRole=SLAVE\nnamesrvAddr={namesrv}\nstorePathRootDir={}\n\
         registerNameServerPeriod=10000\n{SEGMENT}",
        dir.join("slave").display()
    );
    let mut config = BrokerConfig::from_properties(&text, "slave.conf", &env).unwrap();
    config.listen_port = 0;
    let listen = Listen {
        bind_ip: LOOPBACK,
        advertised_ip: LOOPBACK,
    };
    RunningBroker::start(config, listen).await.expect("slave starts")
}

pub(crate) fn send(topic: &str, seq: usize) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::SEND_MESSAGE, 0);
    for (k, v) in [
        ("producerGroup", "PG"),
        ("topic", topic),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "2"),
        ("queueId", &(seq % 2).to_string()),
        ("sysFlag", "0"),
        ("bornTimestamp", "1"),
        ("flag", "0"),
        ("properties", &format!("KEYS\u{1}k{seq}\u{2}")),
    ] {
        req = req.with_field(k, v);
    }
    req.with_body(vec![b'x'; 8 * 1024])
}

/// A send of delay level 1 (1 s) to queue 0 of `topic`.
fn delayed(topic: &str, seq: usize) -> RemotingCommand {
    send(topic, seq * 2).with_field("properties", format!("KEYS\u{1}d{seq}\u{2}DELAY\u{1}1\u{2}"))
}

/// Creates or updates subscription group `name` with `retry_max_times`.
fn group(name: &str, retry_max_times: i32) -> RemotingCommand {
    let body = serde_json::json!({
        "groupName": name, "retryMaxTimes": retry_max_times, "consumeBroadcastEnable": false,
        "whichBrokerWhenConsumeSlowly": 1
    });
    RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0)
        .with_body(serde_json::to_vec(&body).unwrap())
}

/// Waits until `check` holds, for at most `limit`.
pub(crate) async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_slave_follows_an_async_master_across_segments_and_restarts() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = master(dir.path(), "ASYNC_MASTER").await;
        let (p, _rx) = client(node.broker_addr()).await;
        for seq in 0..150 {
            assert_eq!(call(&p, send("Rep", seq)).await.code, response::SUCCESS);
        }
        let commit = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET, 0)
            .with_field("consumerGroup", "CG")
            .with_field("topic", "Rep")
            .with_field("queueId", 0)
            .with_field("commitOffset", 40);
        assert_eq!(call(&p, commit).await.code, response::SUCCESS);
        assert_eq!(call(&p, group("SG", 3)).await.code, response::SUCCESS);
        let m = node.broker().context().clone();
        // A delayed message delivered moves level 1's delay progress to 1.
        assert_eq!(call(&p, delayed("Later", 0)).await.code, response::SUCCESS);
        eventually(
            "the master delivers the delayed message",
            Duration::from_secs(10),
            || m.delay_offsets.get(1) == 1,
        )
        .await;
        assert!(
            m.store.max_physical_offset() > 1_048_576,
            "more than one segment written"
        );

        let s = slave(dir.path(), node.namesrv_addr()).await;
        let sc = s.context().clone();
        eventually("the slave catches up", Duration::from_secs(10), || {
            sc.store.max_physical_offset() == m.store.max_physical_offset()
        })
        .await;
        eventually("the slave builds its queues", Duration::from_secs(5), || {
            (0..2).all(|q| sc.store.max_offset("Rep", q) == 75)
        })
        .await;
        eventually(
            "the slave copies topics and offsets",
            Duration::from_secs(5),
            || sc.topics.get("Rep").is_some() && sc.offsets.query("CG", "Rep", 0) == Some(40),
        )
        .await;
        eventually(
            "the slave copies delay progress and subscription groups",
            Duration::from_secs(5),
            || sc.delay_offsets.get(1) == 1 && sc.groups.get("SG") == m.groups.get("SG"),
        )
        .await;
        assert_eq!(sc.groups.get("SG").map(|g| g.retry_max_times), Some(3));
        // And keeps copying them: changes made on the master reach it by the next round.
        assert_eq!(call(&p, delayed("Later", 1)).await.code, response::SUCCESS);
        assert_eq!(call(&p, group("SG", 5)).await.code, response::SUCCESS);
        eventually(
            "the master delivers the second delayed message",
            Duration::from_secs(10),
            || m.delay_offsets.get(1) == 2,
        )
        .await;
        eventually(
            "the next metadata round reaches the slave",
            SYNC_INTERVAL + Duration::from_secs(5),
            || sc.delay_offsets.get(1) == 2 && sc.groups.get("SG").map(|g| g.retry_max_times) == Some(5),
        )
        .await;
        // Byte-identical logs: the same record at the same offset on both.
        let last = m.store.get_messages("Rep", 1, 74, 1, usize::MAX, None);
        let mirrored = sc.store.get_messages("Rep", 1, 74, 1, usize::MAX, None);
        assert_eq!(last.messages[0].offset(), mirrored.messages[0].offset());
        assert_eq!(&last.messages[0][..], &mirrored.messages[0][..]);
        // A slave refuses sends.
        let (sp, _srx) = client(s.addr()).await;
        assert_eq!(
            call(&sp, send("Rep", 0)).await.code,
            response::SERVICE_NOT_AVAILABLE
        );
        sp.close();

        // Restarted, it resumes from its own end.
        s.shutdown().await.unwrap();
        for seq in 150..200 {
            assert_eq!(call(&p, send("Rep", seq)).await.code, response::SUCCESS);
        }
        let s = slave(dir.path(), node.namesrv_addr()).await;
        let sc = s.context().clone();
        assert!(sc.store.max_physical_offset() < m.store.max_physical_offset());
        eventually("the restarted slave catches up", Duration::from_secs(10), || {
            sc.store.max_physical_offset() == m.store.max_physical_offset()
                && (0..2).all(|q| sc.store.max_offset("Rep", q) == 100)
        })
        .await;
        assert!(sc.replication.refusal().is_none());
        s.shutdown().await.unwrap();
        node.shutdown().await.unwrap();
    });
}

#[test]
fn a_sync_master_acknowledges_only_what_its_slave_has() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = master(dir.path(), "SYNC_MASTER").await;
        let (p, _rx) = client(node.broker_addr()).await;
        let started = Instant::now();
        let alone = call(&p, send("Sync", 0)).await;
        assert_eq!(
            alone.code,
            response::SLAVE_NOT_AVAILABLE,
            "no slave: told at once"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no hang: {:?}",
            started.elapsed()
        );
        assert!(
            alone.field("msgId").is_some(),
            "the message is stored on the master regardless"
        );

        let s = slave(dir.path(), node.namesrv_addr()).await;
        let m = node.broker().context().clone();
        eventually("the slave connects", Duration::from_secs(10), || {
            !m.replication.acks.slaves().is_empty()
        })
        .await;
        for seq in 1..40 {
            let reply = call(&p, send("Sync", seq)).await;
            assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
            // Acknowledged means the slave has it now, not later.
            let id = reply.field("msgId").unwrap();
            let offset = u64::from_str_radix(&id[16..], 16).unwrap();
            assert!(
                s.context().store.max_physical_offset() > offset,
                "send {seq} acked before the slave had it"
            );
        }
        s.shutdown().await.unwrap();
        eventually(
            "the master notices the slave left",
            Duration::from_secs(5),
            || m.replication.acks.slaves().is_empty(),
        )
        .await;
        assert_eq!(
            call(&p, send("Sync", 99)).await.code,
            response::SLAVE_NOT_AVAILABLE
        );
        node.shutdown().await.unwrap();
    });
}
