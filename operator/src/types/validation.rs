//! Admission rules: CEL (`x-kubernetes-validations`) attached to the schema, so the API server
//! refuses a bad `RocketMQCluster` with a readable message before the operator ever sees it.
//!
//! Rules are written here rather than as derive attributes so that each reads next to its
//! message and the key lists it uses, and so a rule can carry both a `messageExpression`
//! (naming the offending keys or values) and a static `message` (what the API server shows if
//! the expression cannot be evaluated). Ranges and enums come from the types themselves.
//!
//! Requires Kubernetes 1.29+ for the CEL quantity library (`isQuantity`, `quantity`).

use apogee_broker::config::{broker, namesrv};
use schemars::Schema;
use serde::Serialize;

use crate::ports;

/// `broker.conf` keys the operator writes itself, from the resource or from the pod's
/// identity; `spec.broker.config` may not set them.
pub const OPERATOR_BROKER_KEYS: &[&str] = &[
    // Identity: the cluster's name, the group's StatefulSet, the pod's ordinal.
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerRole",
    // Addresses: the NameServers' headless Service; the pod's own IP, found at start-up.
    "namesrvAddr",
    "brokerIP1",
    "brokerIP2",
    // Ports and paths the pod template, Services and volume mounts are built around.
    "listenPort",
    "haListenPort",
    "storePathRootDir",
    "storePathCommitLog",
    // Typed fields of the resource.
    "flushDiskType",
    // The probes depend on the Prometheus endpoint (spec.metrics.port).
    "metricsExporterType",
    "metricsPromExporterPort",
];

/// `namesrv.conf` keys the operator writes itself; `spec.nameServer.config` may not set them.
pub const OPERATOR_NAMESRV_KEYS: &[&str] = &[
    // The Services and probes target it.
    "listenPort",
    // Lives on the pod's data volume.
    "kvConfigPath",
];

/// Every key the broker reads or accepts (including the switches it accepts only as
/// `false`), in the broker's own lists: the operator refuses what the broker would refuse.
pub fn broker_keys() -> Vec<&'static str> {
    let switches = broker::OFF_ONLY_KEYS.iter().map(|(key, _)| *key);
    broker::KNOWN_KEYS
        .iter()
        .chain(broker::ACCEPTED_UNUSED_KEYS)
        .copied()
        .chain(switches)
        .collect()
}

/// Every key the NameServer reads or accepts.
pub fn namesrv_keys() -> Vec<&'static str> {
    let switches = namesrv::OFF_ONLY_KEYS.iter().map(|(key, _)| *key);
    namesrv::KNOWN_KEYS
        .iter()
        .chain(namesrv::ACCEPTED_UNUSED_KEYS)
        .copied()
        .chain(switches)
        .collect()
}

/// One entry of `x-kubernetes-validations`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    rule: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field_path: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl Rule {
    fn new(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            message: message.into(),
            message_expression: None,
            field_path: None,
            reason: None,
        }
    }

    fn message_expression(mut self, expression: impl Into<String>) -> Self {
        self.message_expression = Some(expression.into());
        self
    }

    /// Blames a field below the one the rule is attached to (`.replication`).
    fn field_path(mut self, path: &'static str) -> Self {
        self.field_path = Some(path);
        self
    }

    /// `FieldValueForbidden`: the value is well-formed but not allowed here.
    fn forbidden(mut self) -> Self {
        self.reason = Some("FieldValueForbidden");
        self
    }
}

fn add(schema: &mut Schema, rules: Vec<Rule>) {
    let entry = schema
        .ensure_object()
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let serde_json::Value::Array(list) = entry {
        list.extend(rules.iter().filter_map(|rule| serde_json::to_value(rule).ok()));
    }
}

/// A CEL list literal of strings: `['a', 'b']`. The keys are identifiers, never quotes.
fn cel_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("'{item}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Rules for a free-form config map: one per operator-owned key (so the message names it),
/// then one refusing keys the server does not know.
///
/// Messages are static: a `messageExpression` quoting the offending key would be refused by
/// the API server, whose cost estimate for a map key (a string of unbounded length) puts any
/// expression that copies one far over the budget. The reconciler's render error names an
/// unknown key, with a suggestion for a likely typo.
fn config_rules(file: &str, owned: &[&str], known: &[&str]) -> Vec<Rule> {
    // Owned keys count as known, so that one is reported by its own rule only.
    let mut allowed: Vec<&str> = known.to_vec();
    allowed.extend(owned.iter().filter(|key| !known.contains(key)));
    let mut rules: Vec<Rule> = owned
        .iter()
        .map(|key| {
            Rule::new(
                format!("!('{key}' in self)"),
                format!("must not set {key}: the operator sets it from the resource"),
            )
            .forbidden()
        })
        .collect();
    rules.push(Rule::new(
        format!("self.all(k, k in {})", cel_list(&allowed)),
        format!("holds a key that is not a {file} key (keys are case-sensitive; check the spelling)"),
    ));
    rules
}

/// `spec.broker.config`.
pub(super) fn broker_config_rules(schema: &mut Schema) {
    add(
        schema,
        config_rules("broker.conf", OPERATOR_BROKER_KEYS, &broker_keys()),
    );
}

/// `spec.nameServer.config`.
pub(super) fn namesrv_config_rules(schema: &mut Schema) {
    add(
        schema,
        config_rules("namesrv.conf", OPERATOR_NAMESRV_KEYS, &namesrv_keys()),
    );
}

/// `spec.broker`: what the mode allows.
pub(super) fn broker_rules(schema: &mut Schema) {
    add(
        schema,
        vec![
            Rule::new(
                "self.mode == 'MasterSlave' || !has(self.replication)",
                "replication applies to mode MasterSlave only: a MultiMaster group has no slave \
                 to replicate to",
            )
            .field_path(".replication")
            .forbidden(),
            Rule::new(
                "self.mode != 'MultiMaster' || !has(self.replicasPerGroup) || self.replicasPerGroup == 1",
                "must be 1 in mode MultiMaster (each group is a lone master); use mode MasterSlave \
                 for slaves",
            )
            .field_path(".replicasPerGroup"),
            Rule::new(
                "self.mode != 'MasterSlave' || !has(self.replicasPerGroup) || self.replicasPerGroup >= 2",
                "must be at least 2 in mode MasterSlave (a master and at least one slave)",
            )
            .field_path(".replicasPerGroup"),
        ],
    );
}

/// `spec.broker.mode`: fixed at creation.
pub(super) fn broker_mode_rules(schema: &mut Schema) {
    add(
        schema,
        vec![Rule::new(
            "self == oldSelf",
            "is immutable: the groups' data and roles follow from it; create a new cluster to \
             change it",
        )],
    );
}

/// `spec.broker.storage`: the class is fixed once volumes exist.
pub(super) fn storage_rules(schema: &mut Schema) {
    add(
        schema,
        vec![
            Rule::new(
                "has(self.storageClassName) == has(oldSelf.storageClassName) && \
                 (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",
                "is immutable: existing volumes keep their StorageClass",
            )
            .field_path(".storageClassName"),
        ],
    );
}

/// `spec.broker.storage.size`: a positive quantity that never shrinks.
pub(super) fn storage_size_rules(schema: &mut Schema) {
    add(
        schema,
        vec![
            Rule::new(
                "isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
                "must be a positive quantity such as 100Gi",
            ),
            // Guarded so that a malformed value reports the rule above, not an evaluation error.
            Rule::new(
                "!isQuantity(self) || !isQuantity(oldSelf) || quantity(self).compareTo(quantity(oldSelf)) >= 0",
                "cannot shrink: a volume only grows",
            )
            .message_expression("'cannot shrink from ' + oldSelf + ' to ' + self + ': a volume only grows'")
            .forbidden(),
        ],
    );
}

/// `spec.metrics.port`: not one of the broker's own ports.
pub(super) fn metrics_port_rules(schema: &mut Schema) {
    let (vip, clients, ha) = (ports::BROKER_VIP, ports::BROKER, ports::BROKER_HA);
    add(
        schema,
        vec![Rule::new(
            format!("!(self in [{vip}, {clients}, {ha}])"),
            format!(
                "must differ from the broker's ports {vip} (VIP channel), {clients} (clients) and \
                 {ha} (replication)"
            ),
        )],
    );
}

/// The resource's root: its name prefixes every object name (see `desired::names`). The
/// derive gives no hook on the root schema, so [`crate::crd::crd`] adds this one.
pub fn root_rules() -> Vec<serde_json::Value> {
    let max = crate::desired::names::MAX_CLUSTER_NAME;
    let rule = Rule::new(
        format!(
            "size(self.metadata.name) <= {max} && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"
        ),
        format!(
            "metadata.name must be a DNS label of at most {max} characters starting with a letter: \
             Services and StatefulSets are named after it"
        ),
    );
    // No fieldPath: `metadata` is not part of the schema, so the API server refuses a path
    // into it; the message names the field instead.
    serde_json::to_value(rule).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_plain_identifiers() {
        // They are pasted into CEL string literals unescaped.
        let all = broker_keys().into_iter().chain(namesrv_keys());
        for key in all.chain(OPERATOR_BROKER_KEYS.iter().copied()) {
            assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
        }
    }

    #[test]
    fn owned_keys_are_keys_the_servers_read() {
        // A key renamed in the broker must be renamed here too, or the operator would stop
        // setting it without noticing.
        let broker = broker::KNOWN_KEYS;
        for key in OPERATOR_BROKER_KEYS {
            assert!(broker.contains(key), "{key} is not a broker key");
        }
        for key in OPERATOR_NAMESRV_KEYS {
            assert!(namesrv::KNOWN_KEYS.contains(key), "{key} is not a NameServer key");
        }
    }
}
