//! A NameServer (in this process) with masters and slaves as real `apogee broker` processes,
//! for the replication fault tests: configs written to a temp dir, children killed on drop,
//! optionally in a network namespace or seeing a machine of a given memory size, a producer that
//! records what was acknowledged, and a reader of the slave's store.

use std::{
    collections::BTreeSet,
    net::{IpAddr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use apogee_broker::{
    config::{FixedEnv, NamesrvConfig},
    namesrv::NameServer,
    protocol::{RemotingCommand, code::request},
    remoting::{Connection, ConnectionConfig, RefuseCallbacks, Server, connect},
    store::{MessageStore, StoreConfig, properties, query},
};
use tokio::sync::watch;

/// Segment size of the test brokers: small, so runs cross segments.
pub const SEGMENT: usize = 1 << 20;
const MAX_MESSAGE: usize = 64 * 1024;

/// A free TCP port on `ip` (bound and released; the children bind it right after).
pub fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

/// A NameServer in this process.
pub struct Namesrv {
    pub addr: SocketAddr,
    _stop: watch::Sender<bool>,
}

pub async fn namesrv(ip: IpAddr, dir: &Path) -> Namesrv {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let mut config = NamesrvConfig::defaults(&env).unwrap();
    config.kv_config_path = dir.join("kv.json");
    let server = Server::bind(&SocketAddr::new(ip, 0).to_string(), ConnectionConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, rx) = watch::channel(false);
    tokio::spawn(NameServer::new(config).unwrap().run(server, rx));
    Namesrv { addr, _stop: stop }
}

/// One `apogee broker` child.
pub struct BrokerProcess {
    child: Child,
    /// Its remoting address.
    pub addr: SocketAddr,
    /// Its store root.
    pub store: PathBuf,
    log: PathBuf,
}

/// How to start a broker child.
pub struct BrokerSpec<'a> {
    pub name: &'a str,
    pub id: u32,
    pub role: &'a str,
    pub ip: IpAddr,
    /// What its listeners bind (its advertised `ip` when `None`).
    pub bind: Option<IpAddr>,
    pub namesrv: SocketAddr,
    pub dir: &'a Path,
    /// Runs the child inside this network namespace (`ip netns exec`).
    pub netns: Option<&'a str>,
    /// More `broker.conf` lines (each ending in a newline).
    pub extra_conf: &'a str,
    /// The memory the child sees as the machine's (`MemTotal` of its `/proc/meminfo`), in KiB:
    /// it runs in its own mount namespace with a file mounted over `/proc/meminfo`, as LXCFS
    /// does for containers. (Not combined with `netns`.)
    pub mem_total_kib: Option<u64>,
}

impl BrokerProcess {
    pub fn start(spec: &BrokerSpec<'_>) -> Self {
        // A fresh namespace has every port free; any unused number will do there.
        let probe_ip = if spec.netns.is_some() {
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            spec.ip
        };
        let port = free_port(probe_ip);
        let ha = free_port(probe_ip);
        let store = spec.dir.join(format!("store-{}", spec.id));
        let conf = spec.dir.join(format!("broker-{}.conf", spec.id));
        let text = format!(
            "brokerClusterName=HaCluster\nbrokerName={}\nbrokerId={}\nbrokerRole={}\nbrokerIP1={}\n\
             listenPort={port}\nhaListenPort={ha}\nnamesrvAddr={}\nstorePathRootDir={}\n\
             mappedFileSizeCommitLog={SEGMENT}\nmaxMessageSize={MAX_MESSAGE}\nregisterNameServerPeriod=10000\n{}",
            spec.name,
            spec.id,
            spec.role,
            spec.ip,
            spec.namesrv,
            store.display(),
            spec.extra_conf
        );
        std::fs::write(&conf, text).unwrap();
        let bin = env!("CARGO_BIN_EXE_apogee");
        let mut command = match (spec.netns, spec.mem_total_kib) {
            (Some(ns), _) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin]);
                c
            }
            (None, Some(kib)) => {
                let meminfo = spec.dir.join(format!("meminfo-{}", spec.id));
                std::fs::write(&meminfo, format!("MemTotal:       {kib} kB\n")).unwrap();
                // `unshare` and `sh` exec in turn, so the child's pid is the broker's.
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "sh", "-c"])
                    .arg(r#"mount --bind "$0" /proc/meminfo && exec "$@""#)
                    .arg(&meminfo)
                    .arg(bin);
                c
            }
            (None, None) => Command::new(bin),
        };
        // Each child logs to a file the test prints when it fails.
        let log = spec.dir.join(format!("broker-{}.log", spec.id));
        let sink = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = command
            .args([
                "broker",
                "--bind",
                &spec.bind.unwrap_or(spec.ip).to_string(),
                "-c",
            ])
            .arg(&conf)
            .env("APOGEE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(sink)
            .spawn()
            .expect("spawn apogee broker");
        Self {
            child,
            addr: SocketAddr::new(spec.ip, port),
            store,
            log,
        }
    }

    /// What the child logged so far (every start of this broker id in this test).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no flush, no unregistration.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGINT (what Ctrl-C sends): a clean shutdown. Waits up to 20 s.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("broker did not stop within 20 s of SIGINT");
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A connection that retries until the broker listens (children take a moment to start).
pub async fn connect_when_up(addr: SocketAddr) -> Arc<Connection> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connect(
            &addr.to_string(),
            Arc::new(RefuseCallbacks),
            &ConnectionConfig::default(),
        )
        .await
        {
            Ok(c) => return c,
            Err(err) => {
                assert!(Instant::now() < deadline, "broker at {addr} not up: {err}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A send of `key` to queue 0 of `topic`.
pub fn send(topic: &str, key: &str) -> RemotingCommand {
    let props = properties::encode([("KEYS", key)]);
    let mut req = RemotingCommand::request(request::SEND_MESSAGE, 0);
    for (k, v) in [
        ("producerGroup", "HaPG"),
        ("topic", topic),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "1"),
        ("queueId", "0"),
        ("sysFlag", "0"),
        ("bornTimestamp", "1"),
        ("flag", "0"),
        ("properties", props.as_str()),
    ] {
        req = req.with_field(k, v);
    }
    req.with_body(vec![b'm'; 1024])
}

/// Every key in queue 0 of `topic` in the store at `root` (opened, recovered, closed).
pub fn stored_keys(root: &Path, topic: &str) -> BTreeSet<String> {
    let config = StoreConfig {
        commit_log_segment_size: SEGMENT,
        max_message_size: MAX_MESSAGE,
        ..StoreConfig::new(root)
    };
    let store = MessageStore::open(config).expect("slave store opens");
    let mut keys = BTreeSet::new();
    let mut offset = store.min_offset(topic, 0);
    loop {
        let got = store.get_messages(topic, 0, offset, 32, usize::MAX, None);
        if got.messages.is_empty() {
            break;
        }
        for slice in &got.messages {
            let view = query::view(slice).expect("stored record decodes");
            if let Some(k) = properties::get(view.properties, "KEYS") {
                keys.insert(k.to_owned());
            }
        }
        offset = got.next_offset;
    }
    store.shutdown().unwrap();
    keys
}
