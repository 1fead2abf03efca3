//! What every reconcile shares: the API client, the event recorder, the broker admin
//! client, the metrics, the timeouts, and each cluster's count of consecutive failures (for
//! the error policy's backoff).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use kube::{Client, runtime::events::Recorder};

use crate::{broker_admin::BrokerAdmin, metrics::Metrics, rollout::Timeouts};

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "apogee-operator";

/// How often clusters are looked at again without any change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requeue {
    /// A cluster at rest: a periodic full resync.
    pub idle: Duration,
    /// A cluster with pods starting or a restart under way.
    pub busy: Duration,
}

impl Default for Requeue {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(300),
            busy: Duration::from_secs(3),
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Calls brokers' admin API.
    pub admin: BrokerAdmin,
    /// The operator's metrics.
    pub metrics: Arc<Metrics>,
    /// Bounds of each restart wait.
    pub timeouts: Timeouts,
    /// Requeue periods.
    pub requeue: Requeue,
    failures: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    // The client and recorder have no Debug of their own.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("admin", &self.admin)
            .field("timeouts", &self.timeouts)
            .field("requeue", &self.requeue)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context from its parts.
    pub fn new(
        client: Client,
        recorder: Recorder,
        admin: BrokerAdmin,
        metrics: Arc<Metrics>,
        timeouts: Timeouts,
        requeue: Requeue,
    ) -> Self {
        Self {
            client,
            recorder,
            admin,
            metrics,
            timeouts,
            requeue,
            failures: Mutex::default(),
        }
    }

    /// Counts a failure of `cluster`; returns how long to wait before the next try:
    /// 1 s, 2 s, 4 s… up to 5 minutes.
    pub fn backoff(&self, cluster: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let count = failures.entry(cluster.to_owned()).or_default();
        *count = count.saturating_add(1);
        let seconds = 1u64 << (*count - 1).min(8);
        Duration::from_secs(seconds.min(300))
    }

    /// `cluster` reconciled fine: its backoff starts again from 1 s.
    pub fn succeeded(&self, cluster: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(cluster);
    }
}
