//! Apache RocketMQ's own Go client (`github.com/apache/rocketmq-client-go/v2`, the version pinned
//! in `e2e/go/client-compat/go.mod`, unmodified) against Apogee's NameServer + Broker, started
//! in-process, one node per test.
//!
//! The client is driven by client-compat (`e2e/go/client-compat`), a small program whose
//! subcommands (`produce`, `consume`) print one line per event (`SENT`, `ASSIGNED`, `RECV`,
//! `SUMMARY`); the scenarios parse those lines and assert exact sets of keys, queues, offsets
//! and ids, never just an exit status. Each scenario is a function of the [`scenarios::Env`] it
//! is pointed at, so the reference broker can run the very same ones.
//!
//! Every scenario also runs against the reference NameServer + Broker 5.3.3 (the Java client
//! suite's, `e2e/java/reference-broker`): the assertions are what RocketMQ itself does.
//!
//! Needs `go` (1.22+) on PATH; the first run fetches the client through the Go module proxy into
//! `${APOGEE_CACHE:-$HOME/.cache/apogee}/go` and builds it (about a minute). Run just these with
//! `cargo test -p apogee-e2e --test suite go_client -- --nocapture`.

mod client;
mod scenarios;

use std::{
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    time::{Duration, Instant},
};

use apogee_broker::{
    config::FixedEnv,
    standalone::{Standalone, StandaloneOptions},
};

use crate::java_client::targets::Target;
use scenarios::Env;

/// The broker's settings: one broker, topics created on first send, small commit-log segments.
const BROKER_PROPERTIES: &str = "\
brokerClusterName=GoCompatCluster
brokerName=go-compat-broker
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
autoCreateTopicEnable=true
mappedFileSizeCommitLog=16777216
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

/// Runs `scenario` against a fresh Apogee node.
fn on_apogee(scenario: fn(&Env)) {
    // Build (or find) the client first, so its build time is not counted as the scenario's.
    client::binary();
    let node = ApogeeNode::start();
    let started = Instant::now();
    scenario(&node.env());
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
    let reference = Target::Reference;
    let target = crate::java_client::targets::Env::start(reference);
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
                super::on_apogee(super::scenarios::$scenario);
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
    consumer_restart
);
