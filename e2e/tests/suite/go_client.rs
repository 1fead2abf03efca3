//! Apache RocketMQ's own Go client (`github.com/apache/rocketmq-client-go/v2`, the version pinned
//! in `e2e/go/client-compat/go.mod`, unmodified) against Apogee's NameServer + Broker, started
//! in-process, one node per test.
//!
//! The client is driven by client-compat (`e2e/go/client-compat`), a small program whose
//! subcommands (`produce`, `consume`, and for the messaging-semantics scenarios of `ordering.rs`,
//! `semantics.rs` and `transactional.rs`: `send`, `listen`, `produce-tx`) print one line per
//! event (`SENT`, `ASSIGNED`, `OWNED`, `RECV`, `CHECK`, ...); the scenarios parse those lines
//! and assert exact sets of keys, queues, offsets and ids, never just an exit status. Each
//! scenario is a function of the [`scenarios::Env`] it is pointed at, so the reference broker
//! can run the very same ones.
//!
//! Every scenario also runs against the reference NameServer + Broker 5.3.3 (the Java client
//! suite's, `e2e/java/reference-broker`): the assertions are what RocketMQ itself does.
//!
//! Needs `go` (1.22+) on PATH; the first run fetches the client through the Go module proxy into
//! `${APOGEE_CACHE:-$HOME/.cache/apogee}/go` and builds it (about a minute). Run just these with
//! `cargo test -p apogee-e2e --test suite go_client -- --nocapture`.

mod client;
mod ordering;
mod runs;
mod scenarios;
mod semantics;
mod transactional;

use std::{
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

use crate::java_client::targets::Target;
use scenarios::Env;

/// The broker's settings: one broker, topics created on first send, small commit-log segments,
/// and transaction back-checks 1 s after a half message and every 2 s (defaults 6 s and 30 s),
/// as the reference has them (`java_client/targets.rs`), so `transactions` sees them within
/// seconds.
const BROKER_PROPERTIES: &str = "\
brokerClusterName=GoCompatCluster
brokerName=go-compat-broker
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
autoCreateTopicEnable=true
mappedFileSizeCommitLog=16777216
transactionTimeOut=1000
transactionCheckInterval=2000
";

/// Apogee on its own runtime, shut down (and checked to shut down cleanly) on drop.
struct ApogeeNode {
    rt: tokio::runtime::Runtime,
    node: Option<Standalone>,
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
            rt,
            node: Some(node),
            _dir: dir,
        }
    }

    fn env(&self) -> Env {
        let node = self.node.as_ref().expect("running");
        Env {
            namesrv: node.namesrv_addr().to_string(),
            broker: node.broker_addr(),
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

/// Taken (write) by a reference test while it gets the shared reference NameServer + Broker,
/// which the first one to ask starts: two JVMs booting take the machine's CPUs for seconds.
/// The Apogee runs of the scenarios that time deliveries against a 1.5 s tolerance
/// ([`TIMED`]) hold it (read) throughout, so that they are never measured on a machine starved
/// by that boot, as they would be when both targets of one scenario start at once
/// (`cargo test ... go_client::delayed`).
static REFERENCE_BOOT: RwLock<()> = RwLock::new(());
/// Whether a test of this module has had the reference (and so it is up).
static REFERENCE_UP: AtomicBool = AtomicBool::new(false);

/// The scenarios whose assertions include delivery times.
const TIMED: [&str; 2] = ["delayed", "retry_dlq"];

/// Runs `scenario` (named `name`) against a fresh Apogee node.
fn on_apogee(name: &str, scenario: fn(&Env)) {
    // Build (or find) the client first, so its build time is not counted as the scenario's.
    client::binary();
    let _no_boot = TIMED
        .contains(&name)
        .then(|| REFERENCE_BOOT.read().unwrap_or_else(PoisonError::into_inner));
    let node = ApogeeNode::start();
    let env = node.env();
    // The broker registers with the NameServer in the background; until it has, clients find
    // no route to create a topic with (TBW102).
    runs::wait_for_route(&env.namesrv, "TBW102", Duration::from_secs(30));
    let started = Instant::now();
    scenario(&env);
    drop(node);
    eprintln!(
        "go_client on Apogee: scenario passed in {:.1?}",
        started.elapsed()
    );
}

/// Runs `scenario` against the reference NameServer + Broker (one pair shared by the whole
/// test binary, as the Java client suite uses it; every scenario has topics and groups of its
/// own). When it fails, what the reference logged is printed.
fn on_reference(scenario: fn(&Env)) {
    client::binary();
    // Once it is up, getting it takes no time: no need to wait for timed runs then.
    let boot = (!REFERENCE_UP.load(Ordering::Acquire))
        .then(|| REFERENCE_BOOT.write().unwrap_or_else(PoisonError::into_inner));
    let target = crate::java_client::targets::Env::start(Target::Reference);
    REFERENCE_UP.store(true, Ordering::Release);
    drop(boot);
    let env = Env {
        namesrv: target.namesrv.clone(),
        broker: target.broker,
    };
    let started = Instant::now();
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| scenario(&env))) {
        eprintln!("--- reference logs ---\n{}", target.server_logs());
        resume_unwind(panic);
    }
    eprintln!(
        "go_client on the reference: scenario passed in {:.1?}",
        started.elapsed()
    );
}

/// One module per scenario: `go_client::<scenario>::{apogee, reference}`.
macro_rules! scenarios {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn apogee() {
                super::on_apogee(stringify!($scenario), super::scenarios::$scenario);
            }

            #[test]
            fn reference() {
                super::on_reference(super::scenarios::$scenario);
            }
        }
    )*};
}

scenarios!(
    sync_send,
    batch_send,
    consumer_group,
    tag_filter,
    consumer_restart,
    orderly,
    retry_dlq,
    delayed,
    broadcasting,
    transactions,
);
