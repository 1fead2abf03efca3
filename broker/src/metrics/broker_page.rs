//! What a broker exposes at `/metrics`. Names follow Apache's rocketmq-exporter where it has
//! the same measurement (`rocketmq_producer_tps`, `rocketmq_group_diff`, …; the mapping is in
//! `docs/metrics.md`); the rest are `apogee_*`. Every sample carries `cluster` and `broker`.

use std::{collections::BTreeMap, time::Duration};

use super::exposition::{Kind, Page};
use crate::{
    broker::{context::BrokerContext, stats::Flow, transactions::PROGRESS_GROUP},
    store::retention,
};

/// Window of the TPS gauges (their help text and docs/metrics.md say "1 min average").
const MINUTE: Duration = Duration::from_secs(60);

/// What a pull family reads off a group's flow from one topic.
type FlowReading = fn(&Flow) -> f64;

/// Lag of one group on one topic: per queue, the queue's end minus the committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLag {
    /// Consumer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Queue id → messages behind.
    pub queues: BTreeMap<i32, i64>,
}

/// Every group's lag on every topic it has committed offsets on. Queues of such a topic that
/// the group never committed count from the queue's min offset (everything still there), and so
/// do queues it committed a negative offset on: clients commit -1 for a queue they hold no
/// offset for (the Go client does for its empty retry queue), which is no message consumed, not
/// one message fewer than none.
pub fn group_lags(ctx: &BrokerContext) -> Vec<GroupLag> {
    let mut out = Vec::new();
    for (key, committed) in ctx.offsets.snapshot() {
        let Some((topic, group)) = key.split_once('@') else {
            continue;
        };
        if group == PROGRESS_GROUP {
            continue;
        }
        let queue_count = ctx
            .topics
            .get(topic)
            .map_or(0, |t| t.read_queue_nums.max(t.write_queue_nums));
        let queues = (0..queue_count)
            .map(|q| {
                let max = ctx.store.max_offset(topic, q);
                let from = committed
                    .get(&q)
                    .copied()
                    .filter(|offset| *offset >= 0)
                    .unwrap_or_else(|| ctx.store.min_offset(topic, q));
                (q, (max - from).max(0))
            })
            .collect();
        out.push(GroupLag {
            group: group.to_owned(),
            topic: topic.to_owned(),
            queues,
        });
    }
    out
}

/// Renders the page.
pub fn render(ctx: &BrokerContext) -> String {
    let cluster = ctx.config.broker_cluster_name.as_str();
    let broker = ctx.config.broker_name.as_str();
    let base = [("cluster", cluster), ("broker", broker)];
    let mut page = Page::default();

    let topics = ctx.stats.topics();
    page.family(
        "rocketmq_producer_tps",
        Kind::Gauge,
        "Messages stored per second (1 min average), per topic.",
    );
    for (topic, flow) in &topics {
        page.sample(
            "rocketmq_producer_tps",
            &[base[0], base[1], ("topic", topic)],
            flow.messages.rate(MINUTE),
        );
    }
    page.family(
        "apogee_messages_in_total",
        Kind::Counter,
        "Messages stored, per topic.",
    );
    for (topic, flow) in &topics {
        page.sample(
            "apogee_messages_in_total",
            &[base[0], base[1], ("topic", topic)],
            flow.messages.total() as f64,
        );
    }
    page.family(
        "apogee_bytes_in_total",
        Kind::Counter,
        "Message body bytes stored, per topic.",
    );
    for (topic, flow) in &topics {
        page.sample(
            "apogee_bytes_in_total",
            &[base[0], base[1], ("topic", topic)],
            flow.bytes.total() as f64,
        );
    }
    // Per group and topic, as rocketmq-exporter labels `rocketmq_consumer_tps`; a group's
    // total is a `sum by (group)` away.
    let pulled = ctx.stats.group_topics();
    let out: [(&str, Kind, &str, FlowReading); 3] = [
        (
            "rocketmq_consumer_tps",
            Kind::Gauge,
            "Messages pulled per second (1 min average), per group and topic.",
            |flow| flow.messages.rate(MINUTE),
        ),
        (
            "apogee_messages_out_total",
            Kind::Counter,
            "Messages returned by pulls, per group and topic.",
            |flow| flow.messages.total() as f64,
        ),
        (
            "apogee_bytes_out_total",
            Kind::Counter,
            "Record bytes returned by pulls, per group and topic.",
            |flow| flow.bytes.total() as f64,
        ),
    ];
    for (name, kind, help, value) in out {
        page.family(name, kind, help);
        for (group, topic, flow) in &pulled {
            let labels = [
                base[0],
                base[1],
                ("group", group.as_str()),
                ("topic", topic.as_str()),
            ];
            page.sample(name, &labels, value(flow));
        }
    }

    let lags = group_lags(ctx);
    page.family(
        "rocketmq_group_diff",
        Kind::Gauge,
        "Messages a group has not consumed yet, per topic.",
    );
    for lag in &lags {
        let total: i64 = lag.queues.values().sum();
        let labels = [
            base[0],
            base[1],
            ("group", lag.group.as_str()),
            ("topic", lag.topic.as_str()),
        ];
        page.sample("rocketmq_group_diff", &labels, total as f64);
    }
    page.family(
        "apogee_consumer_lag",
        Kind::Gauge,
        "Messages a group has not consumed yet, per queue.",
    );
    for lag in &lags {
        for (queue, behind) in &lag.queues {
            let queue = queue.to_string();
            let labels = [
                base[0],
                base[1],
                ("group", lag.group.as_str()),
                ("topic", lag.topic.as_str()),
                ("queue", queue.as_str()),
            ];
            page.sample("apogee_consumer_lag", &labels, *behind as f64);
        }
    }

    let (buckets, count, sum) = ctx.stats.put_latency.snapshot();
    page.family(
        "apogee_put_latency_seconds",
        Kind::Histogram,
        "Time from a send's arrival to its answer.",
    );
    for (bound, n) in &buckets {
        let le = bound.to_string();
        page.sample(
            "apogee_put_latency_seconds_bucket",
            &[base[0], base[1], ("le", le.as_str())],
            *n as f64,
        );
    }
    page.sample(
        "apogee_put_latency_seconds_bucket",
        &[base[0], base[1], ("le", "+Inf")],
        count as f64,
    );
    page.sample("apogee_put_latency_seconds_sum", &base, sum);
    page.sample("apogee_put_latency_seconds_count", &base, count as f64);

    let in_flight = ctx
        .stats
        .pulls_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    page.single(
        "apogee_pull_requests_in_flight",
        Kind::Gauge,
        "Pulls being answered or held by long polling.",
        &base,
        in_flight as f64,
    );
    page.single(
        "apogee_pulls_parked",
        Kind::Gauge,
        "Pulls held by long polling right now, waiting for a message.",
        &base,
        ctx.store.parked_reads() as f64,
    );
    page.single(
        "apogee_client_connections",
        Kind::Gauge,
        "Client connections that sent a heartbeat.",
        &base,
        ctx.clients.connection_count() as f64,
    );
    let store = &ctx.store;
    let disk = retention::disk_usage(&ctx.config.commit_log_dir()).unwrap_or(0.0);
    page.single(
        "rocketmq_brokeruntime_commitlog_disk_ratio",
        Kind::Gauge,
        "Used share of the CommitLog's filesystem.",
        &base,
        disk,
    );
    let behind = store
        .max_physical_offset()
        .saturating_sub(store.dispatched_offset());
    page.single(
        "rocketmq_brokeruntime_dispatch_behind_bytes",
        Kind::Gauge,
        "CommitLog bytes not yet in consume queues.",
        &base,
        behind as f64,
    );
    page.single(
        "rocketmq_brokeruntime_msg_put_total_today_now",
        Kind::Counter,
        "Messages stored since start.",
        &base,
        ctx.stats.put_messages.total() as f64,
    );
    page.single(
        "rocketmq_brokeruntime_msg_gettotal_today_now",
        Kind::Counter,
        "Messages pulled since start.",
        &base,
        ctx.stats.got_messages.total() as f64,
    );
    page.single(
        "apogee_commitlog_max_offset_bytes",
        Kind::Gauge,
        "End of the CommitLog.",
        &base,
        store.max_physical_offset() as f64,
    );
    page.single(
        "apogee_commitlog_min_offset_bytes",
        Kind::Gauge,
        "Start of the CommitLog (older segments deleted).",
        &base,
        store.min_physical_offset() as f64,
    );
    let unflushed = store
        .max_physical_offset()
        .saturating_sub(store.flushed_physical_offset());
    page.single(
        "apogee_commitlog_unflushed_bytes",
        Kind::Gauge,
        "CommitLog bytes written but not yet flushed.",
        &base,
        unflushed as f64,
    );
    super::replication_page::render(ctx, &base, &mut page);
    let role = ctx.config.broker_role.to_string();
    page.single(
        "apogee_broker_info",
        Kind::Gauge,
        "Always 1; the labels describe the broker.",
        &[
            base[0],
            base[1],
            ("role", role.as_str()),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    page.single(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process.",
        &base,
        ctx.started_ms as f64 / 1000.0,
    );
    if let Some(rss) = resident_bytes() {
        page.single(
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory of the process.",
            &base,
            rss as f64,
        );
    }
    page.finish()
}

/// Resident set size from `/proc/self/statm` (pages × page size).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}
