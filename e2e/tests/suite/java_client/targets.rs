//! What the Java client is pointed at: Apogee's NameServer + Broker in-process (one per test), or
//! the reference's (see `reference.rs`), and the broker settings both share.

use std::{net::SocketAddr, time::Duration};

use apogee_broker::{
    config::FixedEnv,
    standalone::{Standalone, StandaloneOptions},
};

use super::reference::reference;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Apogee,
    Reference,
}

/// A NameServer with one broker registered, ready for clients.
#[derive(Debug)]
pub struct Env {
    pub target: Target,
    /// `host:port`, what clients get as `--namesrv`.
    pub namesrv: String,
    /// The broker's advertised address (what offset message ids encode).
    pub broker: SocketAddr,
    _apogee: Option<ApogeeNode>,
}

impl Env {
    pub fn start(target: Target) -> Self {
        match target {
            Target::Apogee => {
                let node = ApogeeNode::start();
                Self {
                    target,
                    namesrv: node.namesrv.to_string(),
                    broker: node.broker,
                    _apogee: Some(node),
                }
            }
            Target::Reference => {
                let reference = reference();
                Self {
                    target,
                    namesrv: reference.namesrv.to_string(),
                    broker: reference.broker,
                    _apogee: None,
                }
            }
        }
    }

    /// What the servers logged, for a failed test's output.
    pub fn server_logs(&self) -> String {
        match self.target {
            // Apogee runs in the test process; its errors surface as the test's own.
            Target::Apogee => String::new(),
            Target::Reference => reference().logs(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Apogee: one NameServer + Broker per test, in-process.

#[derive(Debug)]
struct ApogeeNode {
    namesrv: SocketAddr,
    broker: SocketAddr,
    node: Option<Standalone>,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl ApogeeNode {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir().expect("store directory");
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().expect("UTF-8 temp path"));
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties = BROKER_PROPERTIES.to_owned();
        let node = rt
            .block_on(Standalone::start(options, &env))
            .unwrap_or_else(|e| panic!("Apogee standalone did not start: {e}"));
        Self {
            namesrv: node.namesrv_addr(),
            broker: node.broker_addr(),
            node: Some(node),
            rt,
            _dir: dir,
        }
    }
}

impl Drop for ApogeeNode {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let stopped = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(30), node.shutdown()).await });
            if !std::thread::panicking() {
                stopped
                    .expect("Apogee shut down within 30 s")
                    .expect("Apogee shut down cleanly");
            }
        }
    }
}

/// The broker settings both targets share (the reference gets the same lines in its broker.conf):
/// one broker, topics created on first send, a small commit-log segment, and transaction
/// back-checks 1 s after a half message and every 2 s (defaults 6 s and 30 s), so the
/// `transactions` scenario sees them within seconds.
pub const BROKER_PROPERTIES: &str = "\
brokerClusterName=CompatCluster
brokerName=compat-broker
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
autoCreateTopicEnable=true
mappedFileSizeCommitLog=16777216
transactionTimeOut=1000
transactionCheckInterval=2000
";
