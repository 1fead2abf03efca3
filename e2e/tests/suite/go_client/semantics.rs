//! The messaging-semantics scenarios (`crate::scenario`) as the Go client runs them: orderly
//! consumption, broadcasting, retries then the dead-letter queue, delay levels, transactions;
//! and where this client needs them run its way.

use super::client::DRIVER;
use crate::scenario::{
    order::{self, Orderly, QUEUES},
    semantics::{self, LISTENER_LEVELS, Retries},
    targets::Env,
    transactions::{self, Names},
};

/// The queue the client's hash queue selector (`NewHashQueueSelector`) picks for a sharding key:
/// FNV-1a, 32 bits, of the key, modulo the queue count. The shards `a`-`f` land in queues 0, 1,
/// 2, 3, 0, 1, so every queue holds a sequence.
fn fnv1a_queue(key: &str) -> usize {
    let hash = key.bytes().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (hash % QUEUES as u32) as usize
}

/// See `scenario::order::orderly`. A live member of this client does not hand a queue over: it
/// keeps the broker's lock of a queue a rebalance takes from it (it unlocks only at shutdown),
/// so a member joining a running one would wait for the broker's lock lifetime (60 s). Hence
/// members only leave while another runs, and A and B start with `-members 2` (no queue until
/// both are there; B2 alone with 1), and a member is stopped only once it has consumed
/// everything sent so far (see listen.go's quiesce).
pub fn orderly(env: &Env) {
    let how = Orderly {
        topic: "GoOrderTopic",
        group: "GoOrderGroup",
        queue_of: fnv1a_queue,
        pair_args: &[("members", "2")],
        single_args: &[("members", "1")],
    };
    order::orderly(&DRIVER, env, &how);
}

/// See `scenario::order::broadcasting`.
pub fn broadcasting(env: &Env) {
    order::broadcasting(&DRIVER, env, "GoBroadcastTopic", "GoBroadcastGroup");
}

/// The listener sets each rejection's delay level (`ConsumeRetryLater` with
/// DelayLevelWhenNextConsume; 0 for `once`: the broker's choice). The Go consumer looks up its
/// topics' routes when it starts, before its first heartbeat makes the broker create the group's
/// retry topic, and again only every 30 s: the tested consumer starts only once the NameServer
/// routes the retry topic.
const RETRIES: Retries = Retries {
    route_retry_topic_first: true,
    ..LISTENER_LEVELS
};

/// See `scenario::semantics::retry_dlq` and [`RETRIES`].
pub fn retry_dlq(env: &Env) {
    semantics::retry_dlq(&DRIVER, env, "GoRetryTopic", "GoRetryGroup", &RETRIES);
}

/// See `scenario::semantics::delayed` (WithDelayTimeLevel).
pub fn delayed(env: &Env) {
    semantics::delayed(&DRIVER, env, "GoDelayTopic", "GoDelayGroup");
}

/// See `scenario::transactions::transactions` (a `producer.NewTransactionProducer`).
pub fn transactions(env: &Env) {
    let names = Names {
        topic: "GoTxTopic",
        group: "GoTxGroup",
        producer_group: "GoTxProducerGroup",
    };
    transactions::transactions(&DRIVER, env, &names);
}
