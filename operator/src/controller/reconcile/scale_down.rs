//! Removing broker groups, the I/O half: reads `status.scaleDown`, asks
//! [`crate::scale_down`] what is due, and does it (admin calls, deletions, events). Returns
//! the new `status.scaleDown`; one step per reconcile, never a sleep. Server-side apply never
//! prunes, so the objects of a group above `spec.broker.groups` are deleted here by name.

use std::{collections::BTreeSet, time::Duration};

use k8s_openapi::{
    api::{
        apps::v1::StatefulSet,
        core::v1::{ConfigMap, PersistentVolumeClaim, Pod},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use kube::{
    Api, Resource,
    api::{DeleteParams, ListParams, Preconditions},
    runtime::events::EventType,
};
use serde::de::DeserializeOwned;

use crate::{
    broker_admin::{self, PodAddress},
    controller::{context::Context, error::ControllerError, events, observe},
    desired::{
        Names,
        labels::{BROKER_GROUP, Component},
    },
    scale_down::{Decision, Input, Lag, decide},
    types::{RocketMQCluster, ScaleDownStatus, ScaleDownStep},
};

/// What one scale-down step looks at.
#[derive(Debug)]
pub struct Scene<'a> {
    /// The cluster.
    pub cluster: &'a RocketMQCluster,
    /// Its names.
    pub names: &'a Names,
    /// Its broker pods (every group).
    pub pods: &'a [Pod],
}

impl Scene<'_> {
    fn group_pods(&self, group: &str) -> Vec<&str> {
        let mut pods: Vec<&str> = self
            .pods
            .iter()
            .filter(|pod| {
                pod.metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(BROKER_GROUP))
                    .is_some_and(|g| g == group)
            })
            .filter_map(|pod| pod.metadata.name.as_deref())
            .collect();
        pods.sort_unstable();
        pods
    }

    fn address<'b>(&'b self, headless: &'b str, pod: &'b str) -> PodAddress<'b> {
        PodAddress {
            namespace: self.names.namespace(),
            service: headless,
            pod,
        }
    }

    /// The permission a group's brokers get back: `brokerPermission` from the config, else
    /// read and write (as after a restart).
    fn permission(&self) -> u8 {
        self.cluster
            .spec
            .broker
            .config
            .get("brokerPermission")
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(broker_admin::READ_WRITE)
    }
}

fn now() -> Time {
    Time(Timestamp::now())
}

fn elapsed(since: &Time) -> Duration {
    Duration::try_from(Timestamp::now().duration_since(since.0)).unwrap_or_default()
}

/// Advances the removal in progress, or starts the next one; the new `status.scaleDown`.
pub async fn advance(ctx: &Context, scene: &Scene<'_>) -> Result<Option<ScaleDownStatus>, ControllerError> {
    let names = scene.names;
    let sets = live_sets(ctx, names).await?;
    let live: BTreeSet<u32> = sets.iter().map(|(index, _)| *index).collect();
    let current = scene.cluster.status.as_ref().and_then(|s| s.scale_down.clone());
    let progress = current
        .as_ref()
        .and_then(|c| names.group_index(&c.group).map(|index| (index, c.step)));
    let headless = names.broker_headless();
    let lag = match (&current, progress) {
        (Some(c), Some((_, ScaleDownStep::Draining))) => {
            // A pod restarted meanwhile comes back writable: read-only again before the lag
            // is read, or it would keep taking messages that the removal then strands.
            let failed = make_read_only(ctx, scene, &headless, &c.group).await;
            Some(if failed.is_empty() {
                measure_lag(ctx, scene, &headless, &c.group).await
            } else {
                Lag::Unknown(format!(
                    "making the group read-only again failed: {}",
                    failed.join("; ")
                ))
            })
        }
        _ => None,
    };
    let spec = &scene.cluster.spec.broker;
    let input = Input {
        wanted: u32::try_from(spec.groups).unwrap_or(0),
        live: &live,
        progress,
        elapsed: current.as_ref().map_or(Duration::ZERO, |c| elapsed(&c.since)),
        policy: spec.scale_down_policy,
        drain_timeout: ctx.timeouts.drain,
        lag,
    };
    let group_name = |index: u32| names.broker_group(index);
    match decide(&input) {
        Decision::Idle => Ok(None),
        Decision::MakeReadOnly(index) => {
            let group = group_name(index);
            let failed = make_read_only(ctx, scene, &headless, &group).await;
            if failed.is_empty() {
                publish(
                    ctx,
                    scene,
                    &group,
                    EventType::Normal,
                    "ScaleDownDraining",
                    format!("{group} made read-only before its removal"),
                )
                .await;
                return Ok(Some(state(group, ScaleDownStep::Draining, None, None)));
            }
            let message = format!("making the group read-only failed: {}", failed.join("; "));
            let since = current
                .filter(|c| c.step == ScaleDownStep::ReadOnly)
                .map(|c| c.since);
            Ok(Some(ScaleDownStatus {
                since: since.unwrap_or_else(now),
                ..state(group, ScaleDownStep::ReadOnly, None, Some(message))
            }))
        }
        Decision::Wait {
            group: _,
            lag,
            message,
        } => Ok(current.map(|c| ScaleDownStatus {
            consumer_lag: lag,
            message: Some(message),
            ..c
        })),
        Decision::Remove { group: index, forced } => {
            let group = group_name(index);
            if forced {
                let lag = current.as_ref().and_then(|c| c.consumer_lag);
                let left = lag.map_or("an unknown number of".to_owned(), |n| n.to_string());
                let note = format!(
                    "{group} removed with {left} messages unconsumed after the drain timeout \
                     (scaleDownPolicy Force)"
                );
                publish(ctx, scene, &group, EventType::Warning, "ScaleDownForced", note).await;
            }
            let uid = sets
                .iter()
                .find(|(i, _)| *i == index)
                .and_then(|(_, uid)| uid.clone());
            remove(ctx, scene, &group, uid).await?;
            let since = current
                .filter(|c| c.step == ScaleDownStep::Removing)
                .map(|c| c.since);
            Ok(Some(ScaleDownStatus {
                since: since.unwrap_or_else(now),
                ..state(group, ScaleDownStep::Removing, None, None)
            }))
        }
        Decision::Finished(index) => {
            let kept = if spec.storage.delete_claim {
                "deleted"
            } else {
                "kept"
            };
            let group = group_name(index);
            publish(
                ctx,
                scene,
                &group,
                EventType::Normal,
                "BrokerGroupRemoved",
                format!("{group} removed; its volume claims were {kept}"),
            )
            .await;
            Ok(None)
        }
        Decision::Cancel(index) => {
            let group = group_name(index);
            for pod in scene.group_pods(&group) {
                let address = scene.address(&headless, pod);
                if let Err(err) = ctx.admin.set_permission(&address, scene.permission()).await {
                    // Still read-only: keep the record so the next reconcile tries again.
                    let message = format!(
                        "{group} is wanted again but {pod} could not get write permission back: {err}"
                    );
                    return Ok(current.map(|c| ScaleDownStatus {
                        message: Some(message),
                        ..c
                    }));
                }
            }
            publish(
                ctx,
                scene,
                &group,
                EventType::Normal,
                "ScaleDownCancelled",
                format!("{group} is wanted again; write permission restored"),
            )
            .await;
            Ok(None)
        }
    }
}

fn state(group: String, step: ScaleDownStep, lag: Option<i64>, message: Option<String>) -> ScaleDownStatus {
    ScaleDownStatus {
        group,
        step,
        since: now(),
        consumer_lag: lag,
        message,
    }
}

/// An event about the removal of `group` (its StatefulSet the related object, so the events
/// of two groups' removals are not folded into one).
async fn publish(ctx: &Context, scene: &Scene<'_>, group: &str, kind: EventType, reason: &str, note: String) {
    let related = events::object_ref(scene.cluster, "apps/v1", "StatefulSet", group);
    events::publish(ctx, scene.cluster, kind, reason, note, Some(related)).await;
}

/// The cluster's broker StatefulSets: group index and uid.
async fn live_sets(ctx: &Context, names: &Names) -> Result<Vec<(u32, Option<String>)>, ControllerError> {
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), names.namespace());
    let selector = observe::selector(names, Component::Broker);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ControllerError::api("list", "StatefulSet", selector))?;
    Ok(list
        .items
        .iter()
        .filter_map(|set| {
            let index = names.group_index(set.metadata.name.as_deref()?)?;
            Some((index, set.metadata.uid.clone()))
        })
        .collect())
}

/// Makes every broker of `group` read-only; the errors, one per pod that refused.
async fn make_read_only(ctx: &Context, scene: &Scene<'_>, headless: &str, group: &str) -> Vec<String> {
    let mut failed = Vec::new();
    for pod in scene.group_pods(group) {
        let address = scene.address(headless, pod);
        if let Err(err) = ctx.admin.set_permission(&address, broker_admin::READ_ONLY).await {
            failed.push(err.to_string());
        }
    }
    failed
}

/// The lag on the group's master (pod 0, where consumers commit); unknown without one.
async fn measure_lag(ctx: &Context, scene: &Scene<'_>, headless: &str, group: &str) -> Lag {
    let pods = scene.group_pods(group);
    let Some(master) = pods.iter().find(|pod| pod.ends_with("-0")) else {
        return Lag::Unknown(format!("{group} has no master pod"));
    };
    match ctx.admin.consumer_lag(&scene.address(headless, master)).await {
        Ok(lag) => Lag::Known(lag),
        Err(err) => Lag::Unknown(err.to_string()),
    }
}

/// Deletes the group's StatefulSet (only the one seen, by uid), ConfigMap and PDB, and with
/// deleteClaim its volume claims; each gone already is fine.
async fn remove(
    ctx: &Context,
    scene: &Scene<'_>,
    group: &str,
    uid: Option<String>,
) -> Result<(), ControllerError> {
    let ns = scene.names.namespace();
    let guarded = DeleteParams {
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    delete::<StatefulSet>(ctx, ns, ("StatefulSet", group), &guarded).await?;
    delete::<ConfigMap>(ctx, ns, ("ConfigMap", group), &DeleteParams::default()).await?;
    delete::<PodDisruptionBudget>(ctx, ns, ("PodDisruptionBudget", group), &DeleteParams::default()).await?;
    if scene.cluster.spec.broker.storage.delete_claim {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
        let selector = format!(
            "{},{BROKER_GROUP}={group}",
            observe::selector(scene.names, Component::Broker)
        );
        let claims = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(ControllerError::api("list", "PersistentVolumeClaim", selector))?;
        for claim in claims.items.iter().filter_map(|c| c.metadata.name.as_deref()) {
            delete::<PersistentVolumeClaim>(
                ctx,
                ns,
                ("PersistentVolumeClaim", claim),
                &DeleteParams::default(),
            )
            .await?;
        }
    }
    Ok(())
}

async fn delete<K>(
    ctx: &Context,
    ns: &str,
    (kind, name): (&'static str, &str),
    params: &DeleteParams,
) -> Result<(), ControllerError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    match api.delete(name, params).await {
        Ok(_) => Ok(()),
        // Gone already, or (409) replaced by a new one since it was seen: not ours to delete.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(source) => Err(ControllerError::api("delete", kind, name)(source)),
    }
}
