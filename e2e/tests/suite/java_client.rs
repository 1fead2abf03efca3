//! Apache RocketMQ's own Java client (`org.apache.rocketmq:rocketmq-client`, the version pinned in
//! `e2e/java/client-compat/pom.xml`, unmodified) against Apogee and against the reference
//! NameServer + Broker of the same release (`e2e/java/reference-broker`), in one harness: every
//! scenario is one function run on both targets, so what passes on the reference and fails on
//! Apogee is Apogee's bug, not the test's.
//!
//! The client is driven by ClientCompat (`e2e/java/client-compat`), a small program whose
//! subcommands (`produce`, `consume`, `lite-pull`, and for the messaging-semantics scenarios:
//! `send`, `listen`, `produce-tx`) print one line per event (`SENT`, `RECV`, `ASSIGNED`,
//! `COMMITTED`, ...); the scenarios parse those lines and assert exact sets of keys, queues and
//! offsets, never just an exit status. The messaging-semantics scenarios are those of the Go and
//! Rust suites too (`crate::scenario`), but for `orderly` (`ordering.rs`), where this suite hands
//! keys over to a member joining a running one.
//!
//! The reference NameServer and Broker (`reference.rs`) start once per test binary (about 5 s)
//! and serve every scenario of every client suite, each on its own topics and groups; a watchdog
//! ends them when the binary exits, however it exits. Apogee runs in-process, one NameServer +
//! Broker per test.
//!
//! Needs a JDK 17 and Maven on PATH; the first run fetches the client and the reference from
//! Maven Central into `${APOGEE_CACHE:-$HOME/.cache/apogee}`. Run just these with
//! `cargo test -p apogee-e2e --test suite java_client -- --nocapture`.

mod client;
mod jvm;
mod ordering;
pub(crate) mod reference;
mod scenarios;
mod semantics;

use crate::scenario::{on_both_targets, targets::Suite};

const SUITE: Suite = Suite {
    name: "java_client",
    // The reference's names, so both targets name their queues `compat-broker:<id>`.
    apogee: reference::NAMES,
    prepare: jvm::prepare,
};

on_both_targets!(SUITE:
    scenarios::sync_send,
    scenarios::async_send,
    scenarios::oneway_send,
    scenarios::batch_send,
    scenarios::lite_pull,
    scenarios::tag_filter,
    scenarios::consumer_group,
    scenarios::consumer_restart,
    ordering::orderly,
    semantics::retry_dlq,
    semantics::delayed,
    semantics::broadcasting,
    semantics::transactions,
);
