//! Master/slave replication between real brokers on loopback: a slave follows an ASYNC master
//! across segment boundaries and serves the same messages with the master's metadata; a
//! SYNC_MASTER answers SLAVE_NOT_AVAILABLE without a slave and only acknowledges what its slave
//! has; a restarted slave resumes; a slave whose log is ahead of its master's refuses it.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
    time::{Duration, Instant},
};

use apogee_broker::{
    broker::{Listen, RunningBroker},
    config::{BrokerConfig, FixedEnv},
    protocol::{RemotingCommand, code::request, code::response},
    standalone::{Standalone, StandaloneOptions},
    store::MessageStore,
};

use crate::{
    broker::{call, client},
    harness::{message, runtime},
};

/// Small segments so a few hundred messages cross several of them.
const SEGMENT: &str = "mappedFileSizeCommitLog=1048576\nmaxMessageSize=262144\n";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn master(dir: &Path, role: &str) -> Standalone {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let mut options = StandaloneOptions::loopback(dir.join("master"));
    options.broker_properties = format!("brokerName=rep\nbrokerRole={role}\n{SEGMENT}");
    Standalone::start(options, &env).await.expect("master starts")
}

async fn slave(dir: &Path, namesrv: std::net::SocketAddr) -> RunningBroker {
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

fn send(topic: &str, seq: usize) -> RemotingCommand {
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

/// Waits until `check` holds, for at most `limit`.
async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
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
        let m = node.broker().context().clone();
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

/// A slave whose volume holds `records` messages the master never had (as after a master was
/// restored from an older backup) meets a master with one message.
fn refuses_foreign_history(records: u64) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut config = apogee_broker::store::StoreConfig::new(dir.path().join("slave"));
    config.commit_log_segment_size = 1_048_576;
    config.max_message_size = 262_144;
    let foreign = MessageStore::open(config).unwrap();
    for seq in 0..records {
        rt.block_on(foreign.put(message("Old", 0, seq, 200, None)))
            .unwrap();
    }
    let slave_end = foreign.max_physical_offset();
    foreign.shutdown().unwrap();
    rt.block_on(async {
        let node = master(dir.path(), "ASYNC_MASTER").await;
        let (p, _rx) = client(node.broker_addr()).await;
        assert_eq!(call(&p, send("New", 0)).await.code, response::SUCCESS);
        let s = slave(dir.path(), node.namesrv_addr()).await;
        let sc = s.context().clone();
        eventually("the slave refuses", Duration::from_secs(10), || {
            sc.replication.refusal().is_some()
        })
        .await;
        let reason = sc.replication.refusal().unwrap();
        assert!(reason.contains("diverged"), "{reason}");
        assert_eq!(
            sc.store.max_physical_offset(),
            slave_end,
            "nothing of the master's was mixed in"
        );
        s.shutdown().await.unwrap();
        node.shutdown().await.unwrap();
    });
}

#[test]
fn a_slave_ahead_of_its_master_refuses_to_mix_histories() {
    refuses_foreign_history(100);
}

#[test]
fn a_slave_whose_end_is_no_record_boundary_of_the_master_refuses() {
    // 20 small records end inside the master's first (8 KiB) record.
    refuses_foreign_history(20);
}
