//! The alert rules and the dashboard query only metrics docs/metrics.md lists (the broker's
//! documented names), and the ones the issue names among them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{one, repo_root, template};

const MONITORING: &[&str] = &[
    "--set",
    "monitoring.prometheusRule.enabled=true",
    "--set",
    "monitoring.operator.serviceMonitor.enabled=true",
    "--set",
    "dashboard.enabled=true",
];

/// The metric names in PromQL text: Apogee's and RocketMQ's prefixes, and `up`.
fn metric_names(expr: &str, into: &mut BTreeSet<String>) {
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic()
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b'$'))
        {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            // A label name is followed by a matcher (`=`, `!=`, `=~`, `!~`).
            let label = expr[i..].trim_start().starts_with(['=', '!']);
            let metric = ["rocketmq_", "apogee_", "process_"]
                .iter()
                .any(|p| word.starts_with(p))
                || word == "up";
            if metric && !label {
                into.insert(word.to_owned());
            }
        } else {
            i += 1;
        }
    }
}

/// The names docs/metrics.md lists (`a` / `_suffix` rows expanded).
fn documented_metrics() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("docs/metrics.md")).expect("docs/metrics.md");
    let mut names = BTreeSet::new();
    for row in text.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or_default();
        let mut previous = String::new();
        for token in first.split('`').skip(1).step_by(2) {
            let name = match token.strip_prefix('_') {
                Some(suffix) => {
                    let segments = suffix.split('_').count();
                    let base: Vec<&str> = previous.rsplitn(segments + 1, '_').collect();
                    format!("{}_{suffix}", base.last().copied().unwrap_or_default())
                }
                None => token.to_owned(),
            };
            names.insert(name.clone());
            previous = name;
        }
    }
    names
}

#[test]
fn alerts_and_dashboard_use_the_documented_metric_names() {
    let objects = template(MONITORING);
    let mut used = BTreeSet::new();
    let rules = &one(&objects, "PrometheusRule")["spec"]["groups"];
    for group in rules.as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            metric_names(rule["expr"].as_str().expect("expr"), &mut used);
        }
    }
    let dashboard: Value = serde_json::from_str(
        one(&objects, "ConfigMap")["data"]["apogee-brokers.json"]
            .as_str()
            .expect("JSON"),
    )
    .expect("dashboard");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            metric_names(target["expr"].as_str().expect("expr"), &mut used);
        }
    }
    let documented = documented_metrics();
    assert!(
        documented.contains("apogee_commitlog_min_offset_bytes"),
        "{documented:?}"
    );
    let histogram_series = |name: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(|base| documented.contains(base)))
    };
    let unknown: Vec<&String> = used
        .iter()
        .filter(|name| *name != "up" && !documented.contains(*name) && !histogram_series(name))
        .collect();
    assert!(unknown.is_empty(), "not in docs/metrics.md: {unknown:?}");
    for name in [
        "up",
        "rocketmq_group_diff",
        "apogee_replication_lag_bytes",
        "rocketmq_brokeruntime_commitlog_disk_ratio",
    ] {
        assert!(used.contains(name), "{name} is not used");
    }
}
