//! The upstream Rust RocketMQ client (`rocketmq-client-rust` from crates.io, the version pinned in
//! `e2e/rust-client/Cargo.lock`, unmodified) against Apogee's NameServer + Broker, started
//! in-process on loopback, one node per test, and against the reference NameServer + Broker
//! 5.3.3 (the Java client suite's, `e2e/java/reference-broker`, shared by the test binary): every
//! scenario is a function of the [`node::Env`] it is pointed at and runs on both, so the
//! assertions are what RocketMQ itself does.
//!
//! The client is driven by rust-client-compat (`e2e/rust-client`), a small program whose
//! subcommands (`produce`, `consume`, and for the messaging-semantics scenarios of `ordering.rs`,
//! `semantics.rs` and `transactional.rs`: `send`, `listen`, `produce-tx`) print one line per
//! event (`SENT`, `RECV`, `ASSIGNED`, `OWNED`, `CHECK`, ...); the tests parse those lines and
//! assert exact sets of keys, queues, offsets and ids, never just an exit status. That program
//! is a standalone Cargo project, not a workspace member: the first run builds it (about 350
//! crates, minutes) into `${APOGEE_CACHE:-$HOME/.cache/apogee}`; later runs find it fresh. A
//! build that cannot run fails these tests, it never skips them. The reference needs a JDK 17
//! and Maven (see the Java client suite).
//!
//! Where the client falls short, a scenario does what the client can: its concurrent listener
//! cannot choose a retry's delay level (`retry_dlq` takes the broker's, see
//! `e2e/rust-client/src/listen.rs`), and it hashes a tag expression's tags before trimming them
//! (`tag_subscriptions_get_only_their_tags` writes `TagB||TagC`, see there).
//!
//! Run just these with `cargo test -p apogee-e2e --test suite rust_client -- --nocapture`;
//! `RUST_CLIENT_COMPAT_LOG=debug` turns up the client's own logging (shown on failure).

mod basics;
mod client;
mod node;
mod ordering;
mod runs;
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

use crate::java_client::targets::{self, Target};
use node::{Env, Node};

/// Longest the tests wait for deliveries they expect (each usually arrives within seconds).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a consumer keeps being read after the expected deliveries, so that extra or
/// duplicate ones have the time to show up.
const SETTLE: Duration = Duration::from_secs(2);
/// Queues of a topic created on first send: the client's `defaultTopicQueueNums`.
const QUEUES: i32 = 4;

/// Taken (write) by a reference test while it gets the shared reference NameServer + Broker,
/// which the first one to ask starts: two JVMs booting take the machine's CPUs for seconds. The
/// Apogee runs of the scenarios that time deliveries against a 1.5 s tolerance ([`TIMED`]) hold
/// it (read) throughout, so that they are never measured on a machine starved by that boot (as
/// the Go client suite does; this lock is this suite's own).
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
    let node = Node::start();
    let env = node.env();
    crate::broker_probe::wait_for_route(&env.namesrv, "TBW102", Duration::from_secs(30));
    let started = Instant::now();
    scenario(&env);
    drop(node);
    eprintln!(
        "rust_client::{name} on Apogee: passed in {:.1?}",
        started.elapsed()
    );
}

/// Runs `scenario` against the reference NameServer + Broker (one pair shared by the whole test
/// binary; every scenario has topics and groups of its own). When it fails, what the reference
/// logged is printed.
fn on_reference(name: &str, scenario: fn(&Env)) {
    client::binary();
    // Once it is up, getting it takes no time: no need to wait for timed runs then.
    let boot = (!REFERENCE_UP.load(Ordering::Acquire))
        .then(|| REFERENCE_BOOT.write().unwrap_or_else(PoisonError::into_inner));
    let target = targets::Env::start(Target::Reference);
    REFERENCE_UP.store(true, Ordering::Release);
    drop(boot);
    let broker_name = targets::BROKER_PROPERTIES
        .lines()
        .find_map(|l| l.strip_prefix("brokerName="))
        .expect("the reference's brokerName");
    let env = Env {
        namesrv: target.namesrv.clone(),
        broker: target.broker,
        broker_name: broker_name.to_owned(),
    };
    let started = Instant::now();
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| scenario(&env))) {
        eprintln!("--- reference logs ---\n{}", target.server_logs());
        resume_unwind(panic);
    }
    eprintln!(
        "rust_client::{name} on the reference: passed in {:.1?}",
        started.elapsed()
    );
}

/// One module per scenario: `rust_client::<scenario>::{apogee, reference}`.
macro_rules! scenarios {
    ($($module:ident :: $scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn apogee() {
                super::on_apogee(stringify!($scenario), super::$module::$scenario);
            }

            #[test]
            fn reference() {
                super::on_reference(stringify!($scenario), super::$module::$scenario);
            }
        }
    )*};
}

scenarios!(
    basics::every_send_mode_is_consumed_as_sent,
    basics::a_group_of_two_shares_the_messages,
    basics::tag_subscriptions_get_only_their_tags,
    basics::a_restarted_consumer_resumes_from_committed_offsets,
    ordering::orderly,
    semantics::retry_dlq,
    semantics::delayed,
    ordering::broadcasting,
    transactional::transactions,
);
