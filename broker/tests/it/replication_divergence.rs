//! Slaves whose history is not their master's refuse it, with an error naming the cause, and
//! take nothing from it: a slave whose log is ahead of the master's, one whose end is no record
//! boundary of the master's log, and one whose log ends exactly where the master's does but
//! with other records (the master restored from an older volume, then written again).

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use apogee_broker::{
    broker::{Listen, RunningBroker},
    config::{BrokerConfig, FixedEnv},
    protocol::{RemotingCommand, code::request, code::response},
    store::{MessageStore, StoreConfig, properties, query},
};

use crate::{
    broker::{call, client},
    ha_cluster::{free_port, namesrv},
    harness::{message, runtime},
    replication::{LOOPBACK, SEGMENT, eventually, master, slave},
};

/// A slave whose volume holds `records` messages the master never had (as after a master was
/// restored from an older backup) meets a master with one message.
fn refuses_foreign_history(records: u64) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("slave"));
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
        assert_eq!(
            call(&p, crate::replication::send("New", 0)).await.code,
            response::SUCCESS
        );
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

/// A master on fixed ports, so that a restart is found where the slave knows it.
async fn master_on(dir: &Path, namesrv: SocketAddr, ports: (u16, u16)) -> RunningBroker {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let text = format!(
        "brokerName=div\nbrokerRole=ASYNC_MASTER\nnamesrvAddr={namesrv}\nstorePathRootDir={}\n\
         listenPort={}\nhaListenPort={}\nregisterNameServerPeriod=10000\n{SEGMENT}",
        dir.join("master").display(),
        ports.0,
        ports.1
    );
    let config = BrokerConfig::from_properties(&text, "master.conf", &env).unwrap();
    let listen = Listen {
        bind_ip: LOOPBACK,
        advertised_ip: LOOPBACK,
    };
    RunningBroker::start(config, listen).await.expect("master starts")
}

/// A slave of group `div` (replication's slave helper is of group `rep`).
async fn div_slave(dir: &Path, namesrv: SocketAddr) -> RunningBroker {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let text = format!(
        "brokerName=div\nbrokerId=1\nbrokerRole=SLAVE\nnamesrvAddr={namesrv}\nstorePathRootDir={}\n\
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

/// Sends `old-NN` or `new-NN` messages: the same size whatever the history, other bytes.
async fn send_all(broker: SocketAddr, history: &str, seqs: std::ops::Range<usize>) {
    let (p, _rx) = client(broker).await;
    for seq in seqs {
        let key = format!("{history}-{seq:02}");
        let req = RemotingCommand::request(request::SEND_MESSAGE, 0)
            .with_field("producerGroup", "PG")
            .with_field("topic", "Div")
            .with_field("defaultTopic", "TBW102")
            .with_field("defaultTopicQueueNums", 1)
            .with_field("queueId", 0)
            .with_field("sysFlag", 0)
            .with_field("bornTimestamp", 1)
            .with_field("flag", 0)
            .with_field("properties", properties::encode([("KEYS", key.as_str())]))
            .with_body(vec![history.as_bytes()[0]; 1024]);
        assert_eq!(call(&p, req).await.code, response::SUCCESS, "{key}");
    }
    p.close();
}

/// The keys of topic `Div` in a store, in queue order.
fn keys(store: &MessageStore) -> Vec<String> {
    let got = store.get_messages("Div", 0, 0, 1000, usize::MAX, None);
    got.messages
        .iter()
        .map(|m| {
            let view = query::view(m).unwrap();
            properties::get(view.properties, "KEYS").unwrap().to_owned()
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_slave_refuses_a_master_restored_from_an_older_volume_at_the_same_length() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    rt.block_on(async {
        let ns = namesrv(LOOPBACK, root).await;
        let ports = (free_port(LOOPBACK), free_port(LOOPBACK));
        let caught_up = |s: &RunningBroker, m: &RunningBroker| {
            let (s, m) = (s.context().clone(), m.context().clone());
            move || s.store.max_physical_offset() == m.store.max_physical_offset()
        };

        // Both have old-00..19; the master's volume is backed up (stopped, copied).
        let m = master_on(root, ns.addr, ports).await;
        send_all(m.addr(), "old", 0..20).await;
        let s = div_slave(root, ns.addr).await;
        eventually("the slave catches up", Duration::from_secs(10), caught_up(&s, &m)).await;
        s.shutdown().await.unwrap();
        m.shutdown().await.unwrap();
        copy_dir(&root.join("master"), &root.join("backup"));

        // Both go on to old-24.
        let m = master_on(root, ns.addr, ports).await;
        send_all(m.addr(), "old", 20..25).await;
        let s = div_slave(root, ns.addr).await;
        eventually(
            "the slave catches up again",
            Duration::from_secs(10),
            caught_up(&s, &m),
        )
        .await;
        let slave_end = s.context().store.max_physical_offset();
        s.shutdown().await.unwrap();
        m.shutdown().await.unwrap();

        // The master's volume is restored from the backup and written again: new-20..24 end
        // exactly where the slave's old-24 does, on a record boundary.
        std::fs::remove_dir_all(root.join("master")).unwrap();
        std::fs::rename(root.join("backup"), root.join("master")).unwrap();
        let m = master_on(root, ns.addr, ports).await;
        send_all(m.addr(), "new", 20..25).await;
        let mc = m.context().clone();
        assert_eq!(mc.store.max_physical_offset(), slave_end, "the same length");

        let s = div_slave(root, ns.addr).await;
        let sc = s.context().clone();
        eventually("the slave refuses", Duration::from_secs(10), || {
            sc.replication.refusal().is_some()
        })
        .await;
        let reason = sc.replication.refusal().unwrap();
        assert!(
            reason.contains("differs from the master's record") && reason.contains("diverged"),
            "{reason}"
        );
        assert!(!sc.replication.is_connected());

        // The master writes on; the slave takes none of it and serves only its own history.
        send_all(m.addr(), "new", 25..30).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            assert_eq!(sc.store.max_physical_offset(), slave_end, "nothing mixed in");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let expected: Vec<String> = (0..25).map(|i| format!("old-{i:02}")).collect();
        assert_eq!(keys(&sc.store), expected);
        assert!(
            mc.replication.acks.slaves().is_empty(),
            "the master never counted the slave"
        );
        s.shutdown().await.unwrap();
        m.shutdown().await.unwrap();
    });
}
