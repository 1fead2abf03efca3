//! The messaging-semantics scenarios (`crate::scenario`) as the Rust client runs them: orderly
//! consumption, broadcasting, retries then the dead-letter queue, delay levels, transactions;
//! and where this client needs them run its way.

use apogee_broker::store::properties::java_hash;

use super::client::DRIVER;
use crate::scenario::{
    order::{self, Orderly, QUEUES},
    semantics::{self, Retries},
    targets::Env,
    transactions::{self, Names},
};

/// The queue the client's `SelectMessageQueueByHash` picks for a sharding key: Java's
/// `String.hashCode` (the store's own, which the broker's tag codes use) modulo the queue count,
/// made non-negative. The shards `a`-`f` land in queues 1, 2, 3, 0, 1, 2, so every queue holds a
/// sequence.
fn java_hash_queue(key: &str) -> usize {
    (i64::from(java_hash(key)) % QUEUES as i64).unsigned_abs() as usize
}

/// See `scenario::order::orderly` (`MessageListenerOrderly`).
pub fn orderly(env: &Env) {
    let how = Orderly {
        topic: "RustOrderTopic",
        group: "RustOrderGroup",
        queue_of: java_hash_queue,
        pair_args: &[],
        single_args: &[],
    };
    order::orderly(&DRIVER, env, &how);
}

/// See `scenario::order::broadcasting` (`MessageModel::Broadcasting`).
pub fn broadcasting(env: &Env) {
    order::broadcasting(&DRIVER, env, "RustBroadcastTopic", "RustBroadcastGroup");
}

/// The client's concurrent listener cannot choose a retry's delay level (see
/// `e2e/rust-client/src/listen.rs`): it only answers `ReconsumeLater`, and the broker gives the
/// retry of a delivery with reconsume times `i` the level 3 + `i` (10 s, then 30 s).
const RETRIES: Retries = Retries {
    fail: "rt-once=1,rt-twice=2,rt-dead=always",
    level: |_, i| 3 + i,
    route_retry_topic_first: false,
};

/// See `scenario::semantics::retry_dlq` and [`RETRIES`].
pub fn retry_dlq(env: &Env) {
    semantics::retry_dlq(&DRIVER, env, "RustRetryTopic", "RustRetryGroup", &RETRIES);
}

/// See `scenario::semantics::delayed` (`MessageBuilder::delay_level`).
pub fn delayed(env: &Env) {
    semantics::delayed(&DRIVER, env, "RustDelayTopic", "RustDelayGroup");
}

/// See `scenario::transactions::transactions` (a `TransactionMQProducer`).
pub fn transactions(env: &Env) {
    let names = Names {
        topic: "RustTxTopic",
        group: "RustTxGroup",
        producer_group: "RustTxProducerGroup",
    };
    transactions::transactions(&DRIVER, env, &names);
}
