//! Annotations a user puts on a `RocketMQCluster` (or one of its broker pods) to steer the
//! operator, and the one the operator copies into pod templates to act on them.

/// On a `RocketMQCluster`, value `"true"`: reconciliation is paused. Nothing is applied,
/// restarted or deleted (a deletion still runs its cleanup); status shows
/// `ReconciliationPaused`.
pub const PAUSE: &str = "rocketmq.apogee.dev/pause-reconciliation";

/// On a `RocketMQCluster`, any value: changing it restarts every pod once, brokers in the
/// operator's safe order (slaves first, the master made read-only first). Set it to a time
/// stamp, as `kubectl rollout restart` does.
pub const RESTART: &str = "rocketmq.apogee.dev/restart";

/// On a broker pod, value `"true"`: restart this pod, in the same safe order.
pub const RESTART_POD: &str = "rocketmq.apogee.dev/restart-pod";

/// Pod-template annotation holding the cluster's [`RESTART`] value, so a new value changes
/// the template (a Deployment rolls; broker pods become due for a restart).
pub const RESTART_TOKEN: &str = "rocketmq.apogee.dev/restart-token";

/// Whether `annotations` (a `RocketMQCluster`'s) pause reconciliation.
pub fn is_paused(annotations: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    annotations
        .and_then(|all| all.get(PAUSE))
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}
