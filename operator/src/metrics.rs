//! The operator's own metrics, in Prometheus text through the broker crate's writer:
//!
//! | Metric | Type | Meaning |
//! |---|---|---|
//! | `apogee_operator_reconciles_total{result}` | counter | reconciles ended, `result` = `ok` or `error` |
//! | `apogee_operator_reconcile_errors_total` | counter | reconciles that failed |
//! | `apogee_operator_reconcile_duration_seconds` | histogram | time one reconcile took |
//! | `apogee_operator_pod_restarts_total{reason}` | counter | broker pods the operator restarted, by reason |
//! | `apogee_operator_leader` | gauge | 1 while this replica holds the leader Lease (or runs without election) |
//! | `apogee_operator_managed_clusters` | gauge | RocketMQClusters this replica reconciles |

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use apogee_broker::metrics::{
    exposition::{Kind, Page},
    latency::Latency,
};

/// Counters shared by the reconcilers, the elector and the HTTP endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    ok: AtomicU64,
    errors: AtomicU64,
    duration: Latency,
    restarts: Mutex<BTreeMap<String, u64>>,
    leader: AtomicBool,
    clusters: Mutex<BTreeSet<String>>,
}

impl Metrics {
    /// One reconcile of `cluster` (`namespace/name`) ended.
    pub fn reconciled(&self, cluster: &str, elapsed: Duration, ok: bool) {
        self.duration.observe(elapsed);
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.clusters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cluster.to_owned());
    }

    /// `cluster` is gone (its deletion cleanup finished).
    pub fn forget(&self, cluster: &str) {
        self.clusters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(cluster);
    }

    /// A broker pod was deleted for a restart.
    pub fn restarted(&self, reason: &str) {
        *self
            .restarts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// This replica became leader, or stopped being one.
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// Whether this replica leads.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// The page served on `/metrics`.
    pub fn render(&self) -> String {
        let mut page = Page::default();
        let (ok, errors) = (
            self.ok.load(Ordering::Relaxed) as f64,
            self.errors.load(Ordering::Relaxed) as f64,
        );
        page.family(
            "apogee_operator_reconciles_total",
            Kind::Counter,
            "Reconciles ended, by result.",
        );
        page.sample("apogee_operator_reconciles_total", &[("result", "ok")], ok);
        page.sample("apogee_operator_reconciles_total", &[("result", "error")], errors);
        page.single(
            "apogee_operator_reconcile_errors_total",
            Kind::Counter,
            "Reconciles that failed.",
            &[],
            errors,
        );
        let (buckets, count, sum) = self.duration.snapshot();
        let name = "apogee_operator_reconcile_duration_seconds";
        page.family(name, Kind::Histogram, "Time one reconcile took.");
        let bucket = format!("{name}_bucket");
        for (bound, cumulative) in buckets {
            page.sample(&bucket, &[("le", &bound.to_string())], cumulative as f64);
        }
        page.sample(&bucket, &[("le", "+Inf")], count as f64);
        page.sample(&format!("{name}_sum"), &[], sum);
        page.sample(&format!("{name}_count"), &[], count as f64);
        page.family(
            "apogee_operator_pod_restarts_total",
            Kind::Counter,
            "Broker pods the operator restarted, by reason.",
        );
        for (reason, n) in self
            .restarts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            page.sample(
                "apogee_operator_pod_restarts_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
        page.single(
            "apogee_operator_leader",
            Kind::Gauge,
            "1 while this replica leads (holds the Lease, or runs without leader election).",
            &[],
            if self.is_leader() { 1.0 } else { 0.0 },
        );
        let clusters = self.clusters.lock().unwrap_or_else(PoisonError::into_inner).len();
        page.single(
            "apogee_operator_managed_clusters",
            Kind::Gauge,
            "RocketMQClusters this replica reconciles.",
            &[],
            clusters as f64,
        );
        page.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_counts_reconciles_and_clusters() {
        let metrics = Metrics::default();
        metrics.reconciled("mq/a", Duration::from_millis(20), true);
        metrics.reconciled("mq/a", Duration::from_millis(30), false);
        metrics.reconciled("mq/b", Duration::from_millis(2), true);
        metrics.restarted("config changed");
        metrics.set_leader(true);
        let page = metrics.render();
        for line in [
            "apogee_operator_reconciles_total{result=\"ok\"} 2",
            "apogee_operator_reconciles_total{result=\"error\"} 1",
            "apogee_operator_reconcile_errors_total 1",
            "apogee_operator_reconcile_duration_seconds_bucket{le=\"0.025\"} 2",
            "apogee_operator_reconcile_duration_seconds_bucket{le=\"+Inf\"} 3",
            "apogee_operator_reconcile_duration_seconds_count 3",
            "apogee_operator_pod_restarts_total{reason=\"config changed\"} 1",
            "apogee_operator_leader 1",
            "apogee_operator_managed_clusters 2",
        ] {
            assert!(page.lines().any(|l| l == line), "missing {line} in\n{page}");
        }
        metrics.forget("mq/b");
        assert!(metrics.render().contains("apogee_operator_managed_clusters 1\n"));
    }
}
