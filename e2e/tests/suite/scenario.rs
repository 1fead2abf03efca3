//! What the three client suites (`java_client`, `go_client`, `rust_client`) share, so that the
//! three upstream clients meet the very same assertions on the very same targets:
//!
//! - [`targets`]: what a scenario is pointed at (Apogee in-process, or the reference NameServer +
//!   Broker) and running a scenario on either;
//! - [`jobs`]: a client driver's `send`, `listen` and `produce-tx` runs, watched together, and
//!   the [`jobs::Driver`] description through which each suite says how its program is started
//!   and where its lines differ;
//! - [`deliveries`]: what those runs print, parsed (messages sent, deliveries), grouped by key;
//! - [`order`]: orderly consumption by sharding key (per-key timelines across consumer
//!   hand-overs) and broadcasting;
//! - [`semantics`]: retries then the dead-letter queue, and delay levels;
//! - [`transactions`]: transactional messages and the broker's back-checks.
//!
//! A client suite keeps only what differs: how its driver is built and started and what its
//! lines look like (its `Driver`), its topic and group names, its basic scenarios, and its
//! client's quirks, documented where it passes them (a listener that cannot choose a retry's
//! delay level, a consumer that needs its retry topic routed before it starts, ...).

pub mod deliveries;
pub mod jobs;
pub mod order;
pub mod semantics;
pub mod targets;
pub mod transactions;

/// One module per scenario with a test per target, `<suite>::<scenario>::{apogee, reference}`
/// (the names cargo test filters and CI logs use), each running `<module>::<scenario>` through
/// [`targets::run`] with the calling suite's [`targets::Suite`] `$suite`.
macro_rules! on_both_targets {
    ($suite:ident: $($module:ident :: $scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use $crate::scenario::targets::{Target, run};

            #[test]
            fn apogee() {
                run(&super::$suite, Target::Apogee, stringify!($scenario), super::$module::$scenario);
            }

            #[test]
            fn reference() {
                run(&super::$suite, Target::Reference, stringify!($scenario), super::$module::$scenario);
            }
        }
    )*};
}

pub(crate) use on_both_targets;
