//! Apache RocketMQ's own Go client (`github.com/apache/rocketmq-client-go/v2`, the version pinned
//! in `e2e/go/client-compat/go.mod`, unmodified) against Apogee's NameServer + Broker, started
//! in-process, one node per test.
//!
//! The client is driven by client-compat (`e2e/go/client-compat`), a small program whose
//! subcommands (`produce`, `consume`, and for the messaging-semantics scenarios shared with the
//! Java and Rust suites (`crate::scenario`, see `semantics.rs`): `send`, `listen`, `produce-tx`)
//! print one line per event (`SENT`, `ASSIGNED`, `OWNED`, `RECV`, `CHECK`, ...); the scenarios
//! parse those lines and assert exact sets of keys, queues, offsets and ids, never just an exit
//! status. Each scenario is a function of the `Env` it is pointed at, so the reference broker
//! can run the very same ones.
//!
//! Every scenario also runs against the reference NameServer + Broker 5.3.3 (the Java client
//! suite's, `e2e/java/reference-broker`): the assertions are what RocketMQ itself does.
//!
//! Needs `go` (1.22+) on PATH; the first run fetches the client through the Go module proxy into
//! `${APOGEE_CACHE:-$HOME/.cache/apogee}/go` and builds it (about a minute). Run just these with
//! `cargo test -p apogee-e2e --test suite go_client -- --nocapture`.

mod client;
mod scenarios;
mod semantics;

use crate::scenario::{
    on_both_targets,
    targets::{BrokerNames, Suite},
};

const SUITE: Suite = Suite {
    name: "go_client",
    // Its own names (the reference's broker is `compat-broker`), on the settings every target
    // shares (`scenario::targets::BROKER_PROPERTIES`).
    apogee: BrokerNames {
        cluster: "GoCompatCluster",
        broker: "go-compat-broker",
    },
    prepare: client::prepare,
};

on_both_targets!(SUITE:
    scenarios::sync_send,
    scenarios::batch_send,
    scenarios::consumer_group,
    scenarios::tag_filter,
    scenarios::consumer_restart,
    semantics::orderly,
    semantics::retry_dlq,
    semantics::delayed,
    semantics::broadcasting,
    semantics::transactions,
);
