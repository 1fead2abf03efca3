//! Which broker pod to restart next.
//!
//! One pod at a time in the whole cluster, and only while every other pod of the wanted
//! groups exists and is ready: a restart never takes a second pod away, and a group whose
//! slave is still catching up keeps its master. The pod itself may be failing (a pod stuck
//! on a bad configuration must be replaced once the configuration is fixed). Slaves go
//! first, then masters, each in group order.

use k8s_openapi::api::core::v1::Pod;

use super::reason::{Reason, Target, reason};
use crate::{desired::broker_statefulset::POD_INDEX_LABEL, status::is_ready};

/// One wanted group as observed.
#[derive(Debug, Clone)]
pub struct GroupPods<'a> {
    /// Group index.
    pub group: u32,
    /// Pods the group should have.
    pub replicas: i32,
    /// The group's pods that exist.
    pub pods: Vec<&'a Pod>,
    /// What they should run.
    pub target: Target<'a>,
}

/// The pod to restart next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Pod name.
    pub pod: String,
    /// Its uid (the replacement has another).
    pub uid: String,
    /// Its group.
    pub group: u32,
    /// Its ordinal: its `brokerId`.
    pub ordinal: i64,
    /// Why it restarts.
    pub reason: Reason,
}

impl Candidate {
    /// Ordinal 0 takes writes: it is made read-only before it goes.
    pub fn is_master(&self) -> bool {
        self.ordinal == 0
    }
}

/// The pod's ordinal: the StatefulSet controller's label, else its name's suffix.
pub fn ordinal(pod: &Pod) -> Option<i64> {
    let from_label = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(POD_INDEX_LABEL))
        .map(String::as_str);
    from_label
        .or_else(|| pod.metadata.name.as_deref()?.rsplit('-').next())?
        .parse()
        .ok()
}

fn is_stable(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && is_ready(pod)
}

/// The next pod to restart, if any may restart now.
pub fn next_restart(groups: &[GroupPods<'_>]) -> Option<Candidate> {
    let mut due: Vec<Candidate> = Vec::new();
    for group in groups {
        for pod in &group.pods {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let (Some(name), Some(uid), Some(ordinal)) = (
                pod.metadata.name.as_ref(),
                pod.metadata.uid.as_ref(),
                ordinal(pod),
            ) else {
                continue;
            };
            if let Some(reason) = reason(pod, &group.target) {
                due.push(Candidate {
                    pod: name.clone(),
                    uid: uid.clone(),
                    group: group.group,
                    ordinal,
                    reason,
                });
            }
        }
    }
    // Slaves before masters; then group order, then ordinal.
    due.sort_by_key(|c| (c.is_master(), c.group, c.ordinal));
    due.into_iter().find(|candidate| others_ready(groups, candidate))
}

/// Every wanted pod other than `candidate` exists and is ready.
fn others_ready(groups: &[GroupPods<'_>], candidate: &Candidate) -> bool {
    groups.iter().all(|group| {
        let others: Vec<&&Pod> = group
            .pods
            .iter()
            .filter(|pod| pod.metadata.name.as_deref() != Some(candidate.pod.as_str()))
            .collect();
        let wanted_others = if group.group == candidate.group {
            group.replicas - 1
        } else {
            group.replicas
        };
        let ready = others.iter().filter(|pod| is_stable(pod)).count();
        i32::try_from(ready).unwrap_or(i32::MAX) >= wanted_others && others.iter().all(|pod| is_stable(pod))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::{
        api::core::v1::{PodCondition, PodStatus},
        apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };

    use super::*;
    use crate::desired::labels;

    fn pod(group: u32, ordinal: u32, hash: &str, ready: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(format!("mq-broker-{group}-{ordinal}")),
                uid: Some(format!("uid-{group}-{ordinal}")),
                annotations: Some(BTreeMap::from([(
                    labels::CONFIG_HASH.to_owned(),
                    hash.to_owned(),
                )])),
                labels: Some(BTreeMap::from([(
                    POD_INDEX_LABEL.to_owned(),
                    ordinal.to_string(),
                )])),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".to_owned(),
                    status: if ready { "True" } else { "False" }.to_owned(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    const TARGET: Target<'static> = Target {
        config_hash: "new",
        image: "apogee",
        restart_token: None,
        update_revision: None,
    };

    fn groups(pods: &[Vec<Pod>]) -> Vec<GroupPods<'_>> {
        pods.iter()
            .enumerate()
            .map(|(group, pods)| GroupPods {
                group: u32::try_from(group).unwrap(),
                replicas: 2,
                pods: pods.iter().collect(),
                target: TARGET,
            })
            .collect()
    }

    fn next(pods: &[Vec<Pod>]) -> Option<String> {
        next_restart(&groups(pods)).map(|c| c.pod)
    }

    #[test]
    fn slaves_go_before_any_master() {
        let pods = vec![
            vec![pod(0, 0, "old", true), pod(0, 1, "old", true)],
            vec![pod(1, 0, "old", true), pod(1, 1, "old", true)],
        ];
        assert_eq!(next(&pods).as_deref(), Some("mq-broker-0-1"));
        let pods = vec![
            vec![pod(0, 0, "old", true), pod(0, 1, "new", true)],
            vec![pod(1, 0, "old", true), pod(1, 1, "old", true)],
        ];
        assert_eq!(next(&pods).as_deref(), Some("mq-broker-1-1"));
        let pods = vec![
            vec![pod(0, 0, "old", true), pod(0, 1, "new", true)],
            vec![pod(1, 0, "old", true), pod(1, 1, "new", true)],
        ];
        let candidate = next_restart(&groups(&pods)).unwrap();
        assert_eq!(candidate.pod, "mq-broker-0-0");
        assert!(candidate.is_master());
        assert_eq!(candidate.reason, Reason::ConfigChanged);
    }

    #[test]
    fn nothing_restarts_while_another_pod_is_not_ready() {
        // The slave just restarted and is not ready yet: its master waits.
        let pods = vec![vec![pod(0, 0, "old", true), pod(0, 1, "new", false)]];
        assert_eq!(next(&pods), None);
        // Another group's pod is missing altogether.
        let pods = vec![
            vec![pod(0, 0, "old", true), pod(0, 1, "old", true)],
            vec![pod(1, 0, "new", true)],
        ];
        assert_eq!(next(&pods), None);
    }

    #[test]
    fn a_failing_out_of_date_pod_is_replaced() {
        let pods = vec![vec![pod(0, 0, "new", true), pod(0, 1, "old", false)]];
        assert_eq!(next(&pods).as_deref(), Some("mq-broker-0-1"));
    }

    #[test]
    fn an_up_to_date_cluster_has_nothing_to_restart() {
        let pods = vec![vec![pod(0, 0, "new", true), pod(0, 1, "new", true)]];
        assert_eq!(next(&pods), None);
    }
}
