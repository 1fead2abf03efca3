//! What a scenario is pointed at ([`Env`]): Apogee's NameServer + Broker in this process, on
//! loopback, on a runtime of their own, one node per test ([`ApogeeNode`]); or the reference
//! NameServer + Broker 5.3.3 (`java_client/reference.rs`), started once per test binary and
//! shared by every suite, each scenario on topics and groups of its own. [`run`] runs one
//! scenario of a client suite on either.

use std::{
    net::SocketAddr,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use apogee_broker::{
    config::FixedEnv,
    standalone::{Standalone, StandaloneOptions},
};

use crate::{broker_probe::wait_for_route, java_client::reference};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Apogee,
    Reference,
}

/// A NameServer with one broker registered, ready for clients.
#[derive(Debug, Clone)]
pub struct Env {
    pub target: Target,
    /// `host:port`, what clients get as their NameServer address.
    pub namesrv: String,
    /// The broker's advertised address: what offset message ids encode, where offsets are asked.
    pub broker: SocketAddr,
    /// The broker's name; clients name queues `brokerName:queueId`.
    pub broker_name: String,
}

/// The broker settings every target has, Apogee nodes and the reference alike (each adds its
/// cluster and broker names): one broker, topics created on first send (4 queues, the clients'
/// default), a small commit-log segment, since each test preallocates its own, and transaction
/// back-checks 1 s after a half message and every 2 s (defaults 6 s and 30 s), so the
/// `transactions` scenarios see them within seconds.
pub const BROKER_PROPERTIES: &str = "\
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
autoCreateTopicEnable=true
mappedFileSizeCommitLog=16777216
transactionTimeOut=1000
transactionCheckInterval=2000
";

/// A broker's cluster and broker names (clients name queues `brokerName:queueId`).
#[derive(Debug, Clone, Copy)]
pub struct BrokerNames {
    pub cluster: &'static str,
    pub broker: &'static str,
}

impl BrokerNames {
    /// Its broker.conf lines: the names, then [`BROKER_PROPERTIES`].
    pub fn properties(self) -> String {
        let Self { cluster, broker } = self;
        format!("brokerClusterName={cluster}\nbrokerName={broker}\n{BROKER_PROPERTIES}")
    }
}

/// Apogee on its own runtime, shut down (and checked to shut down cleanly) on drop.
#[derive(Debug)]
pub struct ApogeeNode {
    rt: tokio::runtime::Runtime,
    node: Option<Standalone>,
    broker_name: String,
    _dir: tempfile::TempDir,
}

impl ApogeeNode {
    /// Starts a node whose broker is named `names` and runs with [`BROKER_PROPERTIES`], its
    /// store and HOME in a scratch directory.
    pub fn start(names: BrokerNames) -> Self {
        Self::start_with(names.broker, names.properties(), None)
    }

    /// Starts a node whose broker (named `broker_name`) runs with `properties` (broker.conf
    /// lines), serving metrics on `metrics_port` if given (0: any free port).
    pub fn start_with(broker_name: &str, properties: String, metrics_port: Option<u16>) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir().expect("store directory");
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().expect("UTF-8 temp path"));
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties = properties;
        options.metrics_port = metrics_port;
        let node = rt
            .block_on(Standalone::start(options, &env))
            .unwrap_or_else(|e| panic!("Apogee standalone did not start: {e}"));
        Self {
            rt,
            node: Some(node),
            broker_name: broker_name.to_owned(),
            _dir: dir,
        }
    }

    /// The running NameServer + Broker.
    pub fn standalone(&self) -> &Standalone {
        self.node.as_ref().expect("running")
    }

    pub fn env(&self) -> Env {
        let node = self.standalone();
        Env {
            target: Target::Apogee,
            namesrv: node.namesrv_addr().to_string(),
            broker: node.broker_addr(),
            broker_name: self.broker_name.clone(),
        }
    }
}

impl Drop for ApogeeNode {
    fn drop(&mut self) {
        let Some(node) = self.node.take() else { return };
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

/// The shared reference NameServer + Broker, started on first use (about 5 s).
pub fn reference_env() -> Env {
    let reference = reference::reference();
    Env {
        target: Target::Reference,
        namesrv: reference.namesrv.to_string(),
        broker: reference.broker,
        broker_name: reference::NAMES.broker.to_owned(),
    }
}

/// What a client suite runs its scenarios with.
pub struct Suite {
    /// The suite's module (`go_client`, ...), as the logs name it.
    pub name: &'static str,
    /// The names of its Apogee node's broker.
    pub apogee: BrokerNames,
    /// Builds (or finds) the client's driver program, so that its build time is not counted as
    /// a scenario's, nor spent while holding [`REFERENCE_BOOT`].
    pub prepare: fn(),
}

/// Taken (write) by a reference test while it gets the shared reference NameServer + Broker,
/// which the first one to ask starts: two JVMs booting take the machine's CPUs for seconds. The
/// Apogee runs of the scenarios that time deliveries against a 1.5 s tolerance ([`TIMED`]) hold
/// it (read) throughout, so that they are never measured on a machine starved by that boot, as
/// they would be when both targets of one scenario start at once
/// (`cargo test ... go_client::delayed`). One lock for every suite: the boot is the same one.
static REFERENCE_BOOT: RwLock<()> = RwLock::new(());
/// Whether a test has had the reference through [`run`] (and so it is up).
static REFERENCE_UP: AtomicBool = AtomicBool::new(false);

/// The scenarios whose assertions include delivery times.
const TIMED: [&str; 2] = ["delayed", "retry_dlq"];

/// Runs `scenario` (named `name`) of `suite` on `target`: on Apogee a fresh node, stopped
/// cleanly after; on the reference the shared pair, whose logs are printed when it fails.
pub fn run(suite: &Suite, target: Target, name: &str, scenario: fn(&Env)) {
    (suite.prepare)();
    match target {
        Target::Apogee => {
            let _no_boot = TIMED
                .contains(&name)
                .then(|| REFERENCE_BOOT.read().unwrap_or_else(PoisonError::into_inner));
            let node = ApogeeNode::start(suite.apogee);
            let env = node.env();
            // The broker registers with the NameServer in the background; until it has, clients
            // find no route to create a topic with (TBW102).
            wait_for_route(&env.namesrv, "TBW102", Duration::from_secs(30));
            let started = Instant::now();
            scenario(&env);
            drop(node);
            eprintln!(
                "{}::{name} on Apogee: passed in {:.1?}",
                suite.name,
                started.elapsed()
            );
        }
        Target::Reference => {
            // Once it is up, getting it takes no time: no need to wait for timed runs then.
            let boot = (!REFERENCE_UP.load(Ordering::Acquire))
                .then(|| REFERENCE_BOOT.write().unwrap_or_else(PoisonError::into_inner));
            let env = reference_env();
            REFERENCE_UP.store(true, Ordering::Release);
            drop(boot);
            let started = Instant::now();
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| scenario(&env))) {
                eprintln!("--- reference logs ---\n{}", reference::reference().logs());
                resume_unwind(panic);
            }
            eprintln!(
                "{}::{name} on the reference: passed in {:.1?}",
                suite.name,
                started.elapsed()
            );
        }
    }
}
