//! Apache RocketMQ's own Java client (`org.apache.rocketmq:rocketmq-client`, the version pinned in
//! `e2e/java/client-compat/pom.xml`, unmodified) against Apogee and against the reference
//! NameServer + Broker of the same release (`e2e/java/reference-broker`), in one harness: every
//! scenario is one function run on both targets, so what passes on the reference and fails on
//! Apogee is Apogee's bug, not the test's.
//!
//! The client is driven by ClientCompat (`e2e/java/client-compat`), a small program whose
//! subcommands (`produce`, `consume`, `lite-pull`, and for the messaging-semantics scenarios of
//! `ordering.rs`, `semantics.rs` and `transactional.rs`: `send`, `listen`, `produce-tx`) print
//! one line per event (`SENT`, `RECV`, `ASSIGNED`, `COMMITTED`, ...); the scenarios parse those
//! lines and assert exact sets of keys, queues and offsets, never just an exit status.
//!
//! The reference NameServer and Broker start once per test binary (about 5 s) and serve every
//! scenario, each on its own topics and groups; a watchdog ends them when the binary exits,
//! however it exits. Apogee runs in-process, one NameServer + Broker per test.
//!
//! Needs a JDK 17 and Maven on PATH; the first run fetches the client and the reference from
//! Maven Central into `${APOGEE_CACHE:-$HOME/.cache/apogee}`. Run just these with
//! `cargo test -p apogee-e2e --test suite java_client -- --nocapture`.

mod client;
mod jvm;
mod ordering;
mod reference;
mod runs;
mod scenarios;
mod semantics;
pub(crate) mod targets;
mod transactional;

use std::{
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    time::Instant,
};

use targets::{Env, Target};

/// Runs `scenario` on `target`; when it fails, prints what the servers logged.
fn run(target: Target, scenario: fn(&Env)) {
    let env = Env::start(target);
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| scenario(&env)));
    if let Err(panic) = outcome {
        eprintln!("{}", env.server_logs());
        resume_unwind(panic);
    }
    eprintln!("{target:?}: scenario passed in {:.1?}", started.elapsed());
}

/// One module per scenario, with a test per target: `java_client::<scenario>::{apogee,reference}`.
macro_rules! on_both_targets {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::{run, scenarios, targets::Target};

            #[test]
            fn apogee() {
                run(Target::Apogee, scenarios::$scenario);
            }

            #[test]
            fn reference() {
                run(Target::Reference, scenarios::$scenario);
            }
        }
    )*};
}

on_both_targets!(
    sync_send,
    async_send,
    oneway_send,
    batch_send,
    lite_pull,
    tag_filter,
    consumer_group,
    consumer_restart,
    orderly,
    retry_dlq,
    delayed,
    broadcasting,
    transactions,
);
