//! A real Prometheus (Debian's `prometheus` package; `.ci/run` installs it) scrapes a running
//! Apogee broker, and PromQL over what it scraped tells a consumer group's lag: after producing
//! N messages the group has not consumed, `sum(rocketmq_group_diff{group="G"})` is N; once the
//! group consumed them, 0.
//!
//! The group's offsets are made the way they are in production: Apache's own Go client
//! (client-compat, `e2e/go/client-compat`, the version its `go.mod` pins) produces and consumes;
//! its push consumer commits offsets on its own (every 5 s, and at shutdown). Apogee runs
//! in-process with metrics on a free loopback port; Prometheus runs as a child with its own
//! configuration (1 s scrapes), TSDB directory and loopback port, killed when the test ends.
//!
//! Needs `prometheus` and `go` on PATH. Run just this with
//! `cargo test -p apogee-e2e --test suite prometheus -- --nocapture`.

mod go_client_compat;
mod http;
mod server;

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    thread,
    time::{Duration, Instant},
};

use go_client_compat::{Consumer, produce};
use server::Prometheus;

use crate::scenario::targets::ApogeeNode;

/// One broker, topics created on first send (the Go producer asks for 4 queues).
const BROKER_PROPERTIES: &str = "\
brokerClusterName=PromCluster
brokerName=prom-broker
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
autoCreateTopicEnable=true
mappedFileSizeCommitLog=16777216
";
const TOPIC: &str = "PromLagTopic";
const GROUP: &str = "PromLagGroup";
/// Messages the group consumes before the backlog (so that it has committed offsets).
const FIRST: usize = 4;
/// The backlog: messages produced while the group has no consumer.
const BACKLOG: usize = 7;
/// Longest wait for a consumer to receive what was sent.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for PromQL to show a lag. The Go client commits first 10 s after it starts,
/// then every 5 s; Prometheus scrapes every second.
const LAG_TIMEOUT: Duration = Duration::from_secs(45);

/// Apogee with metrics on, and where its NameServer and metrics are.
struct Node {
    /// Held for its drop: the broker stops (and is checked to stop cleanly) with the test.
    _apogee: ApogeeNode,
    namesrv: String,
    metrics: SocketAddr,
}

impl Node {
    fn start() -> Self {
        let apogee = ApogeeNode::start_with("prom-broker", BROKER_PROPERTIES.to_owned(), Some(0));
        let node = apogee.standalone();
        let metrics = node.broker().metrics_addr().expect("metrics are on");
        let namesrv = node.namesrv_addr().to_string();
        Self {
            _apogee: apogee,
            namesrv,
            metrics,
        }
    }
}

/// The single value of an aggregating query, `None` while it selects no series.
fn scalar(prometheus: &Prometheus, promql: &str) -> Option<f64> {
    let samples = prometheus.query(promql);
    let series: Vec<_> = samples.iter().map(|s| &s.labels).collect();
    assert!(samples.len() <= 1, "{promql} gave several series: {series:?}");
    samples.first().map(|s| s.value)
}

/// Polls PromQL until the group's lag is exactly `expected`: in total over every topic of the
/// group (its retry topic is one), on [`TOPIC`] itself (so a group that committed only on its
/// retry topic does not pass for 0), and summed from the per-queue gauge. On timeout, fails with
/// the last answers and the page the broker serves.
fn expect_lag(prometheus: &Prometheus, node: &Node, expected: usize, when: &str) {
    let queries = [
        format!(r#"sum(rocketmq_group_diff{{group="{GROUP}"}})"#),
        format!(r#"sum(rocketmq_group_diff{{group="{GROUP}",topic="{TOPIC}"}})"#),
        format!(r#"sum by (group) (apogee_consumer_lag{{group="{GROUP}",topic="{TOPIC}"}})"#),
    ];
    let started = Instant::now();
    loop {
        let answers: Vec<Option<f64>> = queries.iter().map(|q| scalar(prometheus, q)).collect();
        if answers.iter().all(|a| *a == Some(expected as f64)) {
            eprintln!(
                "prometheus: lag {expected} {when}, seen after {:.1?}",
                started.elapsed()
            );
            return;
        }
        if started.elapsed() > LAG_TIMEOUT {
            let page = http::get(node.metrics, "/metrics");
            let page = page.map_or_else(|e| e, |(status, body)| format!("HTTP {status}\n{body}"));
            panic!(
                "PromQL never showed lag {expected} {when} within {LAG_TIMEOUT:?}; last answers:\n{}\n\
                 --- the broker's /metrics ---\n{page}\n{}",
                queries
                    .iter()
                    .zip(&answers)
                    .map(|(q, a)| format!("  {q} = {a:?}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                prometheus.log()
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// Every key of `keys` delivered exactly once, and nothing else.
fn assert_exactly(received: &[String], keys: &BTreeSet<String>, consumer: &str) {
    let got: BTreeSet<String> = received.iter().cloned().collect();
    assert!(
        received.len() == keys.len() && &got == keys,
        "the {consumer} consumer received {received:?}, not each of {keys:?} once"
    );
}

#[test]
fn group_lag_in_promql() {
    // Built (or found) first, so that its build time is not the scenario's.
    go_client_compat::binary();
    let started = Instant::now();
    let node = Node::start();
    let prometheus = Prometheus::start(node.metrics);
    prometheus.wait_up();
    eprintln!("prometheus: scraping the broker after {:.1?}", started.elapsed());

    // The group consumes everything there is; its consumer commits while it runs.
    let first = produce(&node.namesrv, TOPIC, "first", FIRST);
    let mut consumer = Consumer::start(&node.namesrv, GROUP, TOPIC);
    consumer.wait_for(&first, DELIVERY_TIMEOUT);
    expect_lag(&prometheus, &node, 0, "once the group consumed everything");
    assert_exactly(&consumer.stop(), &first, "first");

    // A backlog while the group has no consumer.
    let backlog = produce(&node.namesrv, TOPIC, "backlog", BACKLOG);
    expect_lag(&prometheus, &node, BACKLOG, "with the backlog unconsumed");

    // A new consumer of the group resumes from the committed offsets and drains the backlog.
    let mut consumer = Consumer::start(&node.namesrv, GROUP, TOPIC);
    consumer.wait_for(&backlog, DELIVERY_TIMEOUT);
    expect_lag(&prometheus, &node, 0, "once the backlog was consumed");
    assert_exactly(&consumer.stop(), &backlog, "second");

    drop(prometheus);
    drop(node);
    eprintln!("prometheus: passed in {:.1?}", started.elapsed());
}
