//! Broker groups and their pods, as the pods themselves report them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use crate::{
    desired::{Names, broker_statefulset::POD_INDEX_LABEL, labels},
    types::{BrokerGroupStatus, BrokerPodStatus, BrokerRoleName},
};

/// Container waiting reasons that mean a pod will not come up without a change.
const FAILING_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Every group the spec wants (`groups` of them), plus any group whose pods still exist
/// beyond it (a group being removed), in group order; each with its pods by ordinal.
pub fn groups(names: &Names, wanted: i32, pods: &[Pod]) -> Vec<BrokerGroupStatus> {
    let mut by_group: BTreeMap<u32, Vec<BrokerPodStatus>> = (0..u32::try_from(wanted).unwrap_or(0))
        .map(|group| (group, Vec::new()))
        .collect();
    for pod in pods {
        if let Some((group, status)) = pod_status(names, pod) {
            by_group.entry(group).or_default().push(status);
        }
    }
    by_group
        .into_iter()
        .map(|(group, mut pods)| {
            pods.sort_by_key(|pod| pod.broker_id);
            BrokerGroupStatus {
                name: names.broker_group(group),
                pods,
            }
        })
        .collect()
}

/// The group index and status of a broker pod of this cluster; `None` for other pods.
fn pod_status(names: &Names, pod: &Pod) -> Option<(u32, BrokerPodStatus)> {
    let name = pod.metadata.name.clone()?;
    let labels = pod.metadata.labels.as_ref()?;
    let group_name = labels.get(labels::BROKER_GROUP)?;
    let group = names.group_index(group_name)?;
    // The StatefulSet controller's label, else the name's suffix (pods it created before the
    // label existed).
    let ordinal: i64 = labels
        .get(POD_INDEX_LABEL)
        .map(String::as_str)
        .or_else(|| name.rsplit('-').next())?
        .parse()
        .ok()?;
    let config_hash = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(labels::CONFIG_HASH))
        .cloned();
    Some((
        group,
        BrokerPodStatus {
            name,
            broker_id: ordinal,
            // Pod 0 starts as the master; the others as its slaves.
            role: if ordinal == 0 {
                BrokerRoleName::Master
            } else {
                BrokerRoleName::Slave
            },
            ready: is_ready(pod),
            config_hash,
        },
    ))
}

/// The pod's Ready condition is True and it is not being deleted.
pub fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|status| status.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|condition| condition.type_ == "Ready" && condition.status == "True")
            })
}

/// Why the pod will not start without a change (`CrashLoopBackOff`, `ImagePullBackOff`…),
/// if it is stuck so.
pub fn failing_reason(pod: &Pod) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find_map(|status| {
        let reason = status.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
        FAILING_REASONS.contains(&reason.as_str()).then_some(reason)
    })
}
