//! The chart's alert rules under Prometheus' own rule engine: `promtool check rules` on what
//! the chart renders, then `promtool test rules` with series shaped as the broker monitors
//! scrape them (sample labels `cluster` and `broker`; target labels `job`, `namespace`, `pod`,
//! `rocketmq_cluster`, `broker_group`). Each alert must fire, with its labels and annotations,
//! on the series it is about, and stay silent on healthy ones.

use std::process::Command;

use serde_json::{Value, json};

use super::{one, succeed, template};

const JOB: &str = "apogee-broker";

/// Every monitoring object on (the operator's alert group needs its ServiceMonitor).
const VALUES: &[&str] = &[
    "--set",
    "monitoring.prometheusRule.enabled=true",
    "--set",
    "monitoring.operator.serviceMonitor.enabled=true",
];

/// The labels of a broker pod's samples: `pod` is `<cluster>-broker-<g>-<ordinal>`.
fn broker(pod: &str) -> Value {
    let (group, _) = pod.rsplit_once('-').expect("ordinal");
    let (cluster, _) = group.split_once("-broker-").expect("group");
    json!({
        "job": JOB, "namespace": "mq", "pod": pod, "rocketmq_cluster": cluster, "broker_group": group,
        "cluster": cluster, "broker": group,
    })
}

fn with(mut labels: Value, extra: Value) -> Value {
    for (key, value) in extra.as_object().expect("labels") {
        labels[key] = value.clone();
    }
    labels
}

/// A promtool series selector: `name{a="x", ...}`.
fn series(name: &str, labels: &Value) -> String {
    let pairs: Vec<String> = labels
        .as_object()
        .expect("labels")
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    format!("{name}{{{}}}", pairs.join(", "))
}

fn input(name: &str, labels: &Value, values: &str) -> Value {
    json!({"series": series(name, labels), "values": values})
}

fn alert(labels: Value, summary: String, description: String) -> Value {
    json!({"exp_labels": labels, "exp_annotations": {"summary": summary, "description": description}})
}

/// The rule's annotation text for a description that does not depend on the series.
fn description(rules: &Value, name: &str) -> String {
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            if rule["alert"] == name {
                return rule["annotations"]["description"]
                    .as_str()
                    .expect("description")
                    .to_owned();
            }
        }
    }
    panic!("no alert {name}")
}

fn cases(rules: &Value) -> Vec<Value> {
    let d = |name| description(rules, name);
    let (up, down) = (broker("prod-broker-0-0"), broker("prod-broker-1-0"));
    let (half, high, full) = (
        broker("prod-broker-0-0"),
        broker("prod-broker-1-0"),
        broker("prod-broker-2-0"),
    );
    let (master, slave) = (broker("ha-broker-0-0"), broker("ha-broker-0-1"));
    let (sync, asynchronous) = (broker("sync-broker-0-0"), broker("async-broker-0-0"));
    let lag = |labels: &Value, group: &str| with(labels.clone(), json!({"group": group, "topic": "Orders"}));
    let (g0, g0_slave, g1) = (
        broker("prod-broker-0-0"),
        broker("prod-broker-0-1"),
        broker("prod-broker-1-0"),
    );
    let operator = json!({"job": "apogee-operator", "namespace": "apogee-system", "pod": "op-0"});
    let (near, far) = ("10.0.0.2:41000", "10.0.0.3:41000");
    vec![
        json!({"interval": "1m", "input_series": [input("up", &up, "1x10"), input("up", &down, "1 0x9")],
               "alert_rule_test": [
                   {"eval_time": "2m", "alertname": "ApogeeBrokerDown", "exp_alerts": []},
                   {"eval_time": "5m", "alertname": "ApogeeBrokerDown", "exp_alerts": [alert(
                       with(down.clone(), json!({"severity": "critical"})),
                       "Broker mq/prod-broker-1-0 does not answer scrapes".into(),
                       d("ApogeeBrokerDown").replace("{{ $labels.broker_group }}", "prod-broker-1")
                           .replace("{{ $labels.rocketmq_cluster }}", "prod"))]}]}),
        json!({"interval": "1m", "input_series": [
                   input("rocketmq_brokeruntime_commitlog_disk_ratio", &half, "0.5x10"),
                   input("rocketmq_brokeruntime_commitlog_disk_ratio", &high, "0.85x10"),
                   input("rocketmq_brokeruntime_commitlog_disk_ratio", &full, "0.95x10")],
               "alert_rule_test": [
                   {"eval_time": "10m", "alertname": "ApogeeBrokerDiskUsageHigh", "exp_alerts": [
                       alert(with(high.clone(), json!({"severity": "warning"})),
                             "Broker mq/prod-broker-1-0 volume is 85% full".into(), d("ApogeeBrokerDiskUsageHigh")),
                       alert(with(full.clone(), json!({"severity": "warning"})),
                             "Broker mq/prod-broker-2-0 volume is 95% full".into(), d("ApogeeBrokerDiskUsageHigh"))]},
                   {"eval_time": "10m", "alertname": "ApogeeBrokerDiskUsageCritical", "exp_alerts": [
                       alert(with(full.clone(), json!({"severity": "critical"})),
                             "Broker mq/prod-broker-2-0 volume is 95% full".into(),
                             d("ApogeeBrokerDiskUsageCritical"))]}]}),
        json!({"interval": "1m", "input_series": [
                   input("apogee_replication_lag_bytes", &with(master.clone(), json!({"slave": far})), "209715200x10"),
                   input("apogee_replication_lag_bytes", &with(master.clone(), json!({"slave": near})), "1024x10"),
                   input("apogee_replication_refused", &slave, "1x10"),
                   input("apogee_replication_master_known", &slave, "0x10")],
               "alert_rule_test": [
                   {"eval_time": "10m", "alertname": "ApogeeSlaveLagHigh", "exp_alerts": [alert(
                       json!({"namespace": "mq", "cluster": "ha", "broker": "ha-broker-0", "slave": far,
                              "severity": "warning"}),
                       format!("Slave {far} of ha-broker-0 is 200MiB behind its master"), d("ApogeeSlaveLagHigh"))]},
                   {"eval_time": "10m", "alertname": "ApogeeSlaveReplicationRefused", "exp_alerts": [alert(
                       with(slave.clone(), json!({"severity": "critical"})),
                       "Slave mq/ha-broker-0-1 stopped replicating: its log diverged from the master's".into(),
                       d("ApogeeSlaveReplicationRefused"))]},
                   {"eval_time": "10m", "alertname": "ApogeeSlaveMasterUnknown", "exp_alerts": [alert(
                       with(slave.clone(), json!({"severity": "warning"})),
                       "Slave mq/ha-broker-0-1 does not know its master".into(), d("ApogeeSlaveMasterUnknown"))]}]}),
        json!({"interval": "1m", "input_series": [
                   input("apogee_replication_slaves_connected", &sync, "0x10"),
                   input("apogee_broker_info", &with(sync.clone(), json!({"role": "SYNC_MASTER", "version": "0.1.0"})), "1x10"),
                   input("apogee_replication_slaves_connected", &asynchronous, "0x10"),
                   input("apogee_broker_info", &with(asynchronous.clone(), json!({"role": "ASYNC_MASTER", "version": "0.1.0"})), "1x10")],
               "alert_rule_test": [
                   {"eval_time": "10m", "alertname": "ApogeeSyncMasterWithoutSlave", "exp_alerts": [alert(
                       with(sync.clone(), json!({"severity": "critical"})),
                       "SYNC_MASTER mq/sync-broker-0-0 has no slave connected".into(),
                       d("ApogeeSyncMasterWithoutSlave"))]}]}),
        // A group's master and slave report the same lag once; the groups add up.
        json!({"interval": "1m", "input_series": [
                   input("rocketmq_group_diff", &lag(&g0, "billing"), "6000x15"),
                   input("rocketmq_group_diff", &lag(&g0_slave, "billing"), "6000x15"),
                   input("rocketmq_group_diff", &lag(&g1, "billing"), "5000x15"),
                   input("rocketmq_group_diff", &lag(&g0, "audit"), "9000x15"),
                   input("rocketmq_group_diff", &lag(&g0_slave, "audit"), "9000x15")],
               "alert_rule_test": [
                   {"eval_time": "15m", "alertname": "ApogeeConsumerLagHigh", "exp_alerts": [alert(
                       json!({"namespace": "mq", "cluster": "prod", "group": "billing", "topic": "Orders",
                              "severity": "warning"}),
                       "Consumer group billing is 11000 messages behind on Orders".into(),
                       "Messages of topic Orders in cluster prod that group billing has not consumed.".into())]}]}),
        json!({"interval": "1m", "input_series": [input("up", &operator, "0x10")],
               "alert_rule_test": [{"eval_time": "10m", "alertname": "ApogeeOperatorDown", "exp_alerts": [alert(
                   with(operator.clone(), json!({"severity": "warning"})),
                   "Operator pod apogee-system/op-0 does not answer scrapes".into(), d("ApogeeOperatorDown"))]}]}),
    ]
}

fn promtool() -> Command {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "promtool is not on PATH: install Debian's prometheus package (.ci/run does)"
    );
    Command::new("promtool")
}

#[test]
fn alerts_fire_on_what_they_are_about_and_only_then() {
    let objects = template(VALUES);
    let rules = one(&objects, "PrometheusRule")["spec"].clone();
    let dir = tempfile::tempdir().expect("rules directory");
    // JSON is YAML: promtool reads it as a rule file.
    let rules_file = dir.path().join("apogee.rules.json");
    std::fs::write(&rules_file, serde_json::to_string_pretty(&rules).expect("JSON")).expect("rules file");
    let checked = succeed(promtool().args(["check", "rules"]).arg(&rules_file));
    assert!(checked.contains("SUCCESS: 9 rules found"), "{checked}");
    let tests =
        json!({"rule_files": ["apogee.rules.json"], "evaluation_interval": "1m", "tests": cases(&rules)});
    let tests_file = dir.path().join("apogee.tests.json");
    std::fs::write(&tests_file, serde_json::to_string_pretty(&tests).expect("JSON")).expect("tests file");
    let out = succeed(
        promtool()
            .current_dir(dir.path())
            .args(["test", "rules", "apogee.tests.json"]),
    );
    assert!(out.contains("SUCCESS"), "{out}");
}
