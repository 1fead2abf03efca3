//! The upstream Rust RocketMQ client (`rocketmq-client-rust` from crates.io, the version pinned in
//! `e2e/rust-client/Cargo.lock`, unmodified) against Apogee's NameServer + Broker, started
//! in-process on loopback, one node per test, and against the reference NameServer + Broker
//! 5.3.3 (the Java client suite's, `e2e/java/reference-broker`, shared by the test binary): every
//! scenario is a function of the `Env` it is pointed at and runs on both, so the assertions are
//! what RocketMQ itself does.
//!
//! The client is driven by rust-client-compat (`e2e/rust-client`), a small program whose
//! subcommands (`produce`, `consume`, and for the messaging-semantics scenarios shared with the
//! Java and Go suites (`crate::scenario`, see `semantics.rs`): `send`, `listen`, `produce-tx`)
//! print one line per event (`SENT`, `RECV`, `ASSIGNED`, `OWNED`, `CHECK`, ...); the tests parse
//! those lines and assert exact sets of keys, queues, offsets and ids, never just an exit
//! status. That program is a standalone Cargo project, not a workspace member: the first run
//! builds it (about 350 crates, minutes) into `${APOGEE_CACHE:-$HOME/.cache/apogee}`; later runs
//! find it fresh. A build that cannot run fails these tests, it never skips them. The reference
//! needs a JDK 17 and Maven (see the Java client suite).
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
mod semantics;

use std::time::Duration;

use crate::scenario::{
    on_both_targets,
    targets::{BrokerNames, Suite},
};

/// Longest the tests wait for deliveries they expect (each usually arrives within seconds).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a consumer keeps being read after the expected deliveries, so that extra or
/// duplicate ones have the time to show up.
const SETTLE: Duration = Duration::from_secs(2);
/// Queues of a topic created on first send: the client's `defaultTopicQueueNums`.
const QUEUES: i32 = 4;

const SUITE: Suite = Suite {
    name: "rust_client",
    // Its own names (the reference's broker is `compat-broker`), on the settings every target
    // shares (`scenario::targets::BROKER_PROPERTIES`).
    apogee: BrokerNames {
        cluster: "RustClientCluster",
        broker: "rust-client-broker",
    },
    prepare: client::prepare,
};

on_both_targets!(SUITE:
    basics::every_send_mode_is_consumed_as_sent,
    basics::a_group_of_two_shares_the_messages,
    basics::tag_subscriptions_get_only_their_tags,
    basics::a_restarted_consumer_resumes_from_committed_offsets,
    semantics::orderly,
    semantics::retry_dlq,
    semantics::delayed,
    semantics::broadcasting,
    semantics::transactions,
);
