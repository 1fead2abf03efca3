//! The messaging-semantics scenarios this suite shares with the Go and Rust ones
//! (`crate::scenario`), on topics and groups named for the target: broadcasting, retries then
//! the dead-letter queue, delay levels and transactions.

use super::{client::DRIVER, scenarios::unique};
use crate::scenario::{
    order,
    semantics::{self, LISTENER_LEVELS},
    targets::Env,
    transactions::{self, Names},
};

/// See `scenario::order::broadcasting`.
pub fn broadcasting(env: &Env) {
    let (topic, group) = (unique(env, "T", "broadcast"), unique(env, "CG", "broadcast"));
    order::broadcasting(&DRIVER, env, &topic, &group);
}

/// See `scenario::semantics::retry_dlq`: the listener sets each rejection's
/// delayLevelWhenNextConsume (0 for `once`: the broker's choice).
pub fn retry_dlq(env: &Env) {
    let (topic, group) = (unique(env, "T", "retry"), unique(env, "CG", "retry"));
    semantics::retry_dlq(&DRIVER, env, &topic, &group, &LISTENER_LEVELS);
}

/// See `scenario::semantics::delayed`.
pub fn delayed(env: &Env) {
    let (topic, group) = (unique(env, "T", "delayed"), unique(env, "CG", "delayed"));
    semantics::delayed(&DRIVER, env, &topic, &group);
}

/// See `scenario::transactions::transactions`. Apogee commits a transaction at most once, so
/// there an `unknown` message is delivered exactly once; the reference may commit it once per
/// back-check.
pub fn transactions(env: &Env) {
    let (topic, group) = (unique(env, "T", "tx"), unique(env, "CG", "tx"));
    let producer_group = unique(env, "PG", "tx");
    let names = Names {
        topic: &topic,
        group: &group,
        producer_group: &producer_group,
    };
    transactions::transactions(&DRIVER, env, &names);
}
