//! Replication under faults, with real `apogee broker` processes:
//!
//! - SYNC_MASTER killed with SIGKILL at random moments under load: every acknowledged message
//!   is in the slave's store. `APOGEE_HA_KILLS` sets the iterations (CI: 3; long runs: see
//!   docs/benchmarks.md).
//! - ASYNC_MASTER killed the same way: the loss window (acknowledged but not replicated), in
//!   messages and in how long before the kill the lost ones were acknowledged, is
//!   measured and printed; what the slave has is exactly a prefix of what was acknowledged.
//! - Master and slave in different network namespaces, the link between them cut: sync sends
//!   fail with the reference's statuses within the slave timeout; after the link heals they
//!   succeed again and the slave has caught up.
//! - Slave restarted with its disk wiped: it copies everything again and sync acks resume.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use apogee_broker::protocol::code::response;

use crate::{
    ha_cluster::{BrokerProcess, BrokerSpec, connect_when_up, namesrv, send, stored_keys},
    harness::runtime,
};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const TOPIC: &str = "HaTopic";

fn iterations() -> usize {
    std::env::var("APOGEE_HA_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// A pseudo-random delay in `[lo, hi)` ms (no RNG dependency: the clock's low bits vary).
fn jitter_ms(lo: u64, hi: u64) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    Duration::from_millis(lo + u64::from(nanos) % (hi - lo))
}

/// Sends with 4 producers until the master dies (or `limit` passes); returns the keys whose
/// send was answered SUCCESS, in acknowledgement order, each with when its answer arrived.
async fn produce_until_dead(
    master: std::net::SocketAddr,
    run: usize,
    limit: Duration,
) -> Vec<(String, Instant)> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + limit;
    let mut producers = Vec::new();
    for p in 0..4 {
        let acked = acked.clone();
        producers.push(tokio::spawn(async move {
            let conn = connect_when_up(master).await;
            for seq in 0.. {
                if Instant::now() > deadline {
                    return;
                }
                let key = format!("r{run}-p{p}-{seq}");
                match conn.request(send(TOPIC, &key), Duration::from_secs(5)).await {
                    Ok(reply) if reply.code == response::SUCCESS => {
                        acked.lock().unwrap().push((key, Instant::now()))
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    for p in producers {
        let _ = p.await;
    }
    std::mem::take(&mut *acked.lock().unwrap())
}

/// Waits until a sync send succeeds (the slave is connected and acking); on failure shows
/// what the brokers logged.
pub(crate) async fn until_replicating(master: std::net::SocketAddr, brokers: &[&BrokerProcess]) {
    let conn = connect_when_up(master).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = conn
            .request(send(TOPIC, "probe"), Duration::from_secs(5))
            .await
            .unwrap();
        if reply.code == response::SUCCESS {
            conn.close();
            return;
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = brokers.iter().map(|b| b.logs()).collect();
            panic!(
                "slave never acknowledged: last code {}\n{}",
                reply.code,
                logs.join("\n----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a message sent to the master can be pulled from the slave.
async fn until_slave_serves(master: std::net::SocketAddr, slave: std::net::SocketAddr, run: usize) {
    use apogee_broker::protocol::{RemotingCommand, code::request};
    let m = connect_when_up(master).await;
    let reply = m
        .request(send("HaProbe", &format!("probe-{run}")), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply.code, response::SUCCESS);
    let s = connect_when_up(slave).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pull = RemotingCommand::request(request::PULL_MESSAGE, 0)
            .with_field("consumerGroup", "HaProbeGroup")
            .with_field("topic", "HaProbe")
            .with_field("queueId", 0)
            .with_field("queueOffset", run)
            .with_field("maxMsgNums", 1)
            .with_field("sysFlag", 4)
            .with_field("commitOffset", 0)
            .with_field("suspendTimeoutMillis", 0)
            .with_field("subscription", "*")
            .with_field("subVersion", 0);
        if let Ok(reply) = s.request(pull, Duration::from_secs(5)).await
            && reply.code == response::SUCCESS
        {
            break;
        }
        assert!(Instant::now() < deadline, "the slave never served the probe");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    m.close();
    s.close();
}

/// One kill iteration's outcome.
#[derive(Debug, Clone, Copy)]
struct KillRun {
    acked: usize,
    /// Acknowledged (in any run so far) but not in the slave's store.
    lost: usize,
    /// How long before the kill the earliest lost message of this run was acknowledged: the
    /// loss window in time (zero when nothing of this run was lost).
    window: Duration,
}

/// Runs kill iterations against `role`.
fn kill_runs(role: &str) -> Vec<KillRun> {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let ns = namesrv(LOOPBACK, dir.path()).await;
        let mut results = Vec::new();
        let mut all_acked: Vec<String> = Vec::new();
        for run in 0..iterations() {
            let spec = |id, role| BrokerSpec {
                name: "ha",
                id,
                role,
                ip: LOOPBACK,
                bind: None,
                namesrv: ns.addr,
                dir: dir.path(),
                netns: None,
                extra_conf: "",
                mem_total_kib: None,
            };
            let mut master = BrokerProcess::start(&spec(0, role));
            let mut slave = BrokerProcess::start(&spec(1, "SLAVE"));
            if role == "SYNC_MASTER" {
                until_replicating(master.addr, &[&master, &slave]).await;
            } else {
                until_slave_serves(master.addr, slave.addr, run).await;
            }
            let producing = tokio::spawn(produce_until_dead(master.addr, run, Duration::from_secs(20)));
            tokio::time::sleep(jitter_ms(300, 1500)).await;
            let killed_at = Instant::now();
            master.kill();
            let acked_at = producing.await.unwrap();
            let acked: Vec<String> = acked_at.iter().map(|(key, _)| key.clone()).collect();
            // Let the slave apply what it had received, then stop it cleanly and read its store.
            tokio::time::sleep(Duration::from_millis(300)).await;
            slave.stop();
            let stored = stored_keys(&slave.store, TOPIC);
            all_acked.extend(acked.iter().cloned());
            let lost: Vec<&String> = all_acked.iter().filter(|k| !stored.contains(*k)).collect();
            let window = acked_at
                .iter()
                .filter(|(key, _)| !stored.contains(key))
                .map(|(_, at)| killed_at.saturating_duration_since(*at))
                .max()
                .unwrap_or_default();
            let lost_here = acked_at.iter().filter(|(key, _)| !stored.contains(key)).count();
            eprintln!(
                "{role} run {run}: {} acknowledged, {} missing on the slave ({lost_here} of this \
                 run, acknowledged up to {window:?} before the kill)",
                acked.len(),
                lost.len(),
            );
            if role == "SYNC_MASTER" {
                assert!(lost.is_empty(), "acknowledged but not on the slave: {lost:?}");
            } else {
                // What the slave has of this run is a prefix of each producer's sequence.
                for p in 0..4 {
                    let prefix = format!("r{run}-p{p}-");
                    let sent: Vec<&String> = acked.iter().filter(|k| k.starts_with(&prefix)).collect();
                    let kept = sent.iter().take_while(|k| stored.contains(**k)).count();
                    let after: BTreeSet<&&String> =
                        sent[kept..].iter().filter(|k| stored.contains(**k)).collect();
                    assert!(
                        after.is_empty(),
                        "holes in what the slave kept of producer {p}: {after:?}"
                    );
                }
            }
            results.push(KillRun {
                acked: acked.len(),
                lost: lost.len(),
                window,
            });
            // The next run starts the master on the same store (as a restarted pod would); the
            // slave resumes from its own.
            drop(master);
            drop(slave);
            let keep = all_acked
                .iter()
                .filter(|k| stored.contains(*k))
                .cloned()
                .collect();
            all_acked = keep;
        }
        results
    })
}

#[test]
fn sync_master_killed_loses_nothing_acknowledged() {
    let runs = kill_runs("SYNC_MASTER");
    assert!(
        runs.iter().all(|r| r.acked > 0),
        "every run acknowledged something: {runs:?}"
    );
}

#[test]
fn async_master_killed_loss_window_is_measured() {
    let runs = kill_runs("ASYNC_MASTER");
    let acked: usize = runs.iter().map(|r| r.acked).sum();
    let lost: usize = runs.iter().map(|r| r.lost).sum();
    let most = runs.iter().map(|r| r.lost).max().unwrap_or(0);
    let window = runs.iter().map(|r| r.window).max().unwrap_or_default();
    eprintln!(
        "ASYNC loss window: {lost} of {acked} acknowledged messages over {} kills; at most {most} \
         in one kill, acknowledged at most {window:?} before it",
        runs.len()
    );
    assert!(acked > 0);
}

/// Two network namespaces joined by a veth pair, removed on drop.
struct Netns {
    name: String,
    host_if: String,
    peer_if: String,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("the `ip` tool (iproute2) is needed");
    assert!(status.success(), "ip {args:?} failed: {status}");
}

impl Netns {
    /// A namespace `<tag>` holding `10.251.<net>.2/30`, reached from here at `10.251.<net>.1`.
    fn create(tag: &str, net: u8) -> Self {
        let name = format!("apogee-{tag}-{}", std::process::id());
        let host_if = format!("apg{net}h{}", std::process::id() % 10000);
        let peer_if = format!("apg{net}p{}", std::process::id() % 10000);
        ip(&["netns", "add", &name]);
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        ip(&["link", "add", &host_if, "type", "veth", "peer", "name", &peer_if]);
        ip(&["link", "set", &peer_if, "netns", &name]);
        ip(&["addr", "add", &format!("10.251.{net}.1/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&[
            "netns",
            "exec",
            &name,
            "ip",
            "addr",
            "add",
            &format!("10.251.{net}.2/30"),
            "dev",
            &peer_if,
        ]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &peer_if, "up"]);
        Self {
            name,
            host_if,
            peer_if,
        }
    }

    /// Takes the namespace's end of the link down or up (this side keeps its address).
    fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&[
            "netns",
            "exec",
            &self.name,
            "ip",
            "link",
            "set",
            &self.peer_if,
            state,
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn part_spec<'a>(
    id: u32,
    role: &'a str,
    ip: IpAddr,
    netns: Option<&'a str>,
    namesrv: std::net::SocketAddr,
    dir: &'a std::path::Path,
) -> BrokerSpec<'a> {
    BrokerSpec {
        name: "part",
        id,
        role,
        ip,
        // The master also listens on loopback, where this test's producer reaches it.
        bind: netns.is_none().then_some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        namesrv,
        dir,
        netns,
        extra_conf: "",
        mem_total_kib: None,
    }
}

#[test]
fn partitioned_slave_fails_sync_sends_then_catches_up_and_survives_a_wipe() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let net = Netns::create("slave", 7);
    let host = IpAddr::V4(Ipv4Addr::new(10, 251, 7, 1));
    let inside = IpAddr::V4(Ipv4Addr::new(10, 251, 7, 2));
    rt.block_on(async {
        let ns = namesrv(host, dir.path()).await;
        let spec = |id, role, ip, netns| part_spec(id, role, ip, netns, ns.addr, dir.path());
        let _master = BrokerProcess::start(&spec(0, "SYNC_MASTER", host, None));
        let master_addr = std::net::SocketAddr::new(LOOPBACK, _master.addr.port());
        let mut slave = BrokerProcess::start(&spec(1, "SLAVE", inside, Some(net.name.as_str())));
        until_replicating(master_addr, &[&_master, &slave]).await;
        let conn = connect_when_up(master_addr).await;

        // Cut the link: sends are stored on the master but not acknowledged as replicated.
        net.link(false);
        let mut statuses = BTreeSet::new();
        for i in 0..3 {
            let started = Instant::now();
            let reply = conn
                .request(send(TOPIC, &format!("cut-{i}")), Duration::from_secs(10))
                .await
                .unwrap();
            assert!(
                // The slave timeout is 3 s; the rest is margin for a loaded 2-core machine.
                started.elapsed() < Duration::from_secs(5),
                "a partitioned sync send answered after {:?}",
                started.elapsed()
            );
            statuses.insert(reply.code);
        }
        assert!(
            statuses
                .iter()
                .all(|c| [response::FLUSH_SLAVE_TIMEOUT, response::SLAVE_NOT_AVAILABLE].contains(c)),
            "statuses during the partition: {statuses:?}"
        );

        // Heal: acks resume, and the slave has what was written meanwhile.
        net.link(true);
        until_replicating(master_addr, &[&_master, &slave]).await;
        let reply = conn
            .request(send(TOPIC, "healed"), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(reply.code, response::SUCCESS);

        // Wipe the slave's disk: it copies everything again, then acks resume.
        slave.stop();
        std::fs::remove_dir_all(&slave.store).unwrap();
        let mut slave = BrokerProcess::start(&spec(1, "SLAVE", inside, Some(net.name.as_str())));
        until_replicating(master_addr, &[&_master, &slave]).await;
        let reply = conn
            .request(send(TOPIC, "after-wipe"), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(reply.code, response::SUCCESS);
        slave.stop();
        let stored = stored_keys(&slave.store, TOPIC);
        for key in ["cut-0", "cut-1", "cut-2", "healed", "after-wipe"] {
            assert!(stored.contains(key), "{key} missing on the resynced slave");
        }
        conn.close();
    });
}
