//! The five conditions, from facts gathered once.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::{Observation, Outcome, topology};
use crate::types::{BrokerGroupStatus, ConditionType, RocketMQClusterSpec};

/// Everything the conditions and the phase are decided from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// NameServer pods ready and wanted.
    pub name_servers: (i32, i32),
    /// Broker pods ready and wanted (wanted groups × pods per group).
    pub brokers: (i32, i32),
    /// Broker pods that exist at all.
    pub broker_pods: usize,
    /// Pods of wanted groups still missing or not ready.
    pub not_ready: Vec<String>,
    /// Pods running a configuration other than their group's current one.
    pub outdated: Vec<String>,
    /// Pods stuck (`name: reason`).
    pub failing: Vec<String>,
    /// Why the resource could not be rendered.
    pub render_error: Option<String>,
    /// The pause annotation is set.
    pub paused: bool,
    /// Refused changes, `(reason, message)`.
    pub warnings: Vec<(String, String)>,
}

impl Facts {
    /// Gathers the facts from the status topology and what was observed and concluded.
    pub fn gather(
        spec: &RocketMQClusterSpec,
        groups: &[BrokerGroupStatus],
        observation: Observation<'_>,
        outcome: Outcome<'_>,
    ) -> Self {
        let per_group = spec.broker.replicas_per_group();
        let wanted_groups = usize::try_from(spec.broker.groups).unwrap_or(0);
        let mut not_ready = Vec::new();
        let mut ready = 0;
        for group in groups.iter().take(wanted_groups) {
            for ordinal in 0..i64::from(per_group) {
                match group.pods.iter().find(|pod| pod.broker_id == ordinal) {
                    Some(pod) if pod.ready => ready += 1,
                    Some(pod) => not_ready.push(pod.name.clone()),
                    None => not_ready.push(format!("{}-{ordinal}", group.name)),
                }
            }
        }
        let outdated = match outcome.rendered {
            Ok(hashes) => groups
                .iter()
                .zip(hashes)
                .flat_map(|(group, hash)| {
                    group
                        .pods
                        .iter()
                        .filter(move |pod| pod.config_hash.as_deref() != Some(hash.as_str()))
                        .map(|pod| pod.name.clone())
                })
                .collect(),
            // Without a rendered configuration there is nothing to be out of date with.
            Err(_) => Vec::new(),
        };
        let failing = observation
            .broker_pods
            .iter()
            .filter_map(|pod| {
                let reason = topology::failing_reason(pod)?;
                Some(format!(
                    "{}: {reason}",
                    pod.metadata.name.as_deref().unwrap_or("?")
                ))
            })
            .collect();
        Self {
            name_servers: (observation.name_server_ready, spec.name_server.replicas),
            brokers: (ready, spec.broker.groups * per_group),
            broker_pods: groups.iter().map(|group| group.pods.len()).sum(),
            not_ready,
            outdated,
            failing,
            render_error: outcome.rendered.err().map(str::to_owned),
            paused: outcome.paused,
            warnings: outcome.warnings.to_vec(),
        }
    }

    /// Every NameServer and every wanted broker pod is ready.
    pub fn ready(&self) -> bool {
        self.name_servers.0 >= self.name_servers.1 && self.not_ready.is_empty()
    }

    /// Pods are still starting or due for a restart onto the current configuration.
    pub fn progressing(&self) -> bool {
        !self.ready() || !self.outdated.is_empty()
    }

    /// The configuration cannot be rendered, or pods are stuck.
    pub fn degraded(&self) -> bool {
        self.render_error.is_some() || !self.failing.is_empty()
    }
}

/// One condition's `(status, reason, message)`.
struct State {
    status: bool,
    reason: String,
    message: String,
}

fn state(status: bool, reason: &str, message: impl Into<String>) -> State {
    State {
        status,
        reason: reason.to_owned(),
        message: message.into(),
    }
}

/// Lists a few names and how many more there are.
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let shown = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    match names.len().saturating_sub(SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

fn decide(facts: &Facts, kind: ConditionType) -> State {
    let (ns_ready, ns_wanted) = facts.name_servers;
    let (b_ready, b_wanted) = facts.brokers;
    let counts = format!("{b_ready}/{b_wanted} broker pods and {ns_ready}/{ns_wanted} NameServers ready");
    match kind {
        ConditionType::Ready if facts.ready() => state(true, "AllPodsReady", counts),
        ConditionType::Ready => state(false, "PodsNotReady", counts),
        ConditionType::Progressing if !facts.ready() => {
            let message = if facts.not_ready.is_empty() {
                counts
            } else {
                format!("{counts}; waiting for {}", some_of(&facts.not_ready))
            };
            state(true, "PodsStarting", message)
        }
        ConditionType::Progressing if !facts.outdated.is_empty() => state(
            true,
            "RestartPending",
            format!("on an older configuration: {}", some_of(&facts.outdated)),
        ),
        ConditionType::Progressing => state(false, "UpToDate", "every pod runs the current configuration"),
        ConditionType::Degraded => match (&facts.render_error, facts.failing.is_empty()) {
            (Some(error), _) => state(true, "InvalidConfiguration", error.clone()),
            (None, false) => state(true, "PodsFailing", some_of(&facts.failing)),
            (None, true) => state(false, "AsExpected", "nothing is failing"),
        },
        ConditionType::ReconciliationPaused if facts.paused => state(
            true,
            "PauseAnnotation",
            "reconciliation is paused by annotation; nothing is changed",
        ),
        ConditionType::ReconciliationPaused => state(false, "NotPaused", "reconciliation is running"),
        ConditionType::Warning => match facts.warnings.first() {
            // The first refusal names the reason; the message lists them all.
            Some((reason, _)) => {
                let messages: Vec<&str> = facts
                    .warnings
                    .iter()
                    .map(|(_, message)| message.as_str())
                    .collect();
                state(true, reason, messages.join("; "))
            }
            None => state(false, "NoWarnings", "no change was refused"),
        },
    }
}

/// Every condition, in [`ConditionType::ALL`] order. A condition keeps its previous
/// `lastTransitionTime` unless its status changed.
pub fn conditions(
    facts: &Facts,
    previous: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    ConditionType::ALL
        .iter()
        .map(|kind| {
            let State {
                status,
                reason,
                message,
            } = decide(facts, *kind);
            let status = if status { "True" } else { "False" }.to_owned();
            let last_transition_time = previous
                .iter()
                .find(|old| old.type_ == kind.as_str() && old.status == status)
                .map_or_else(|| now.clone(), |old| old.last_transition_time.clone());
            Condition {
                type_: kind.as_str().to_owned(),
                status,
                reason,
                message,
                last_transition_time,
                observed_generation: generation,
            }
        })
        .collect()
}
