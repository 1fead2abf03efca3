//! What the scenarios are pointed at ([`Env`]): Apogee's NameServer + Broker in this process, on
//! loopback, on their own runtime (one per test), or the reference's (the Java client suite's,
//! shared by the test binary).

use std::{net::SocketAddr, time::Duration};

use apogee_broker::{
    config::FixedEnv,
    standalone::{Standalone, StandaloneOptions},
};

/// A NameServer with one broker registered.
#[derive(Debug, Clone)]
pub struct Env {
    /// `host:port`, what clients get as `--namesrv`.
    pub namesrv: String,
    /// The broker's advertised address: where offsets are asked for.
    pub broker: SocketAddr,
    /// The broker's name; clients name queues `brokerName:queueId`.
    pub broker_name: String,
}

/// The broker's name on Apogee (the reference's is `compat-broker`, see
/// `java_client/targets.rs`).
const BROKER: &str = "rust-client-broker";

/// One broker; topics created on first send (4 queues, the client's default); a small commit-log
/// segment, since each test preallocates its own; and transaction back-checks 1 s after a half
/// message and every 2 s (defaults 6 s and 30 s), as the reference has them
/// (`java_client/targets.rs`), so `transactions` sees them within seconds.
const BROKER_PROPERTIES: &str = "\
brokerClusterName=RustClientCluster
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
autoCreateTopicEnable=true
mappedFileSizeCommitLog=16777216
transactionTimeOut=1000
transactionCheckInterval=2000
";

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// A node, stopped cleanly on drop.
#[derive(Debug)]
pub struct Node {
    node: Option<Standalone>,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Node {
    pub fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir().expect("store directory");
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().expect("UTF-8 temp path"));
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties = format!("brokerName={BROKER}\n{BROKER_PROPERTIES}");
        let node = rt
            .block_on(Standalone::start(options, &env))
            .unwrap_or_else(|e| panic!("Apogee standalone did not start: {e}"));
        Self {
            node: Some(node),
            rt,
            _dir: dir,
        }
    }

    pub fn env(&self) -> Env {
        let node = self.node.as_ref().expect("running");
        Env {
            namesrv: node.namesrv_addr().to_string(),
            broker: node.broker_addr(),
            broker_name: BROKER.to_owned(),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let stopped = self
                .rt
                .block_on(async { tokio::time::timeout(SHUTDOWN_TIMEOUT, node.shutdown()).await });
            if !std::thread::panicking() {
                stopped
                    .expect("Apogee shut down within 30 s")
                    .expect("Apogee shut down cleanly");
            }
        }
    }
}
