//! Ordered broker restarts, the I/O half: reads `status.restart`, asks [`crate::rollout`]
//! what is due, and does it (admin calls, pod deletion, events). Returns the new
//! `status.restart`; one step per reconcile, never a sleep (the reconcile requeues soon while
//! a restart is under way).

use std::time::Duration;

use k8s_openapi::{api::core::v1::Pod, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api,
    api::{DeleteParams, Preconditions},
    runtime::events::EventType,
};

use super::{apply::Applied, context::Context, error::ControllerError, events, observe};
use crate::{
    broker_admin::{self, PodAddress},
    desired::{DesiredObjects, Names},
    rollout::{self, Candidate, DrainSample, DrainVerdict, GroupPods, ReplacementVerdict, Target, plan},
    status::is_ready,
    types::{PodRestartStatus, RestartStep, RocketMQCluster, annotations},
};

/// Everything one restart step looks at.
#[derive(Debug)]
pub struct Scene<'a> {
    /// The cluster.
    pub cluster: &'a RocketMQCluster,
    /// Its names.
    pub names: &'a Names,
    /// What it should run.
    pub desired: &'a DesiredObjects,
    /// The workloads as applied.
    pub applied: &'a Applied,
    /// Its broker pods.
    pub pods: &'a [Pod],
}

fn elapsed(since: &Time) -> Duration {
    Duration::try_from(Timestamp::now().duration_since(since.0)).unwrap_or_default()
}

fn now() -> Time {
    Time(Timestamp::now())
}

impl Scene<'_> {
    fn pod(&self, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|pod| pod.metadata.name.as_deref() == Some(name))
    }

    fn address<'b>(&'b self, pod: &'b str) -> PodAddress<'b> {
        PodAddress {
            namespace: self.names.namespace(),
            service: self.headless(),
            pod,
        }
    }

    fn headless(&self) -> &str {
        self.desired
            .services
            .last()
            .and_then(|service| service.metadata.name.as_deref())
            .unwrap_or_default()
    }

    /// The wanted groups with their pods and targets.
    fn groups(&self) -> Vec<GroupPods<'_>> {
        let spec = &self.cluster.spec;
        let token = self
            .cluster
            .metadata
            .annotations
            .as_ref()
            .and_then(|all| all.get(annotations::RESTART))
            .map(String::as_str);
        self.desired
            .broker_config_hashes
            .iter()
            .enumerate()
            .map(|(index, hash)| {
                let group = u32::try_from(index).unwrap_or(u32::MAX);
                let group_name = self.names.broker_group(group);
                GroupPods {
                    group,
                    replicas: spec.broker.replicas_per_group(),
                    pods: self
                        .pods
                        .iter()
                        .filter(|pod| {
                            pod.metadata
                                .labels
                                .as_ref()
                                .and_then(|labels| labels.get(crate::desired::labels::BROKER_GROUP))
                                == Some(&group_name)
                        })
                        .collect(),
                    target: Target {
                        config_hash: hash,
                        image: &spec.image,
                        restart_token: token,
                        update_revision: self
                            .applied
                            .broker_groups
                            .get(index)
                            .and_then(observe::update_revision),
                    },
                }
            })
            .collect()
    }

    /// The permission a master runs with: `brokerPermission` from `spec.broker.config`, else
    /// read and write.
    fn master_permission(&self) -> u8 {
        self.cluster
            .spec
            .broker
            .config
            .get("brokerPermission")
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(broker_admin::READ_WRITE)
    }
}

/// Advances the restart in progress, or starts the next one; returns the new
/// `status.restart`.
pub async fn advance(ctx: &Context, scene: &Scene<'_>) -> Result<Option<PodRestartStatus>, ControllerError> {
    let Some(current) = scene.cluster.status.as_ref().and_then(|s| s.restart.clone()) else {
        let Some(candidate) = plan::next_restart(&scene.groups()) else {
            return Ok(None);
        };
        return start(ctx, scene, &candidate).await.map(Some);
    };
    match current.step {
        RestartStep::Draining => drain(ctx, scene, current).await.map(Some),
        RestartStep::Restarting => Ok(replaced(ctx, scene, current).await),
        RestartStep::Restoring => Ok(restore(ctx, scene, current).await),
    }
}

async fn start(
    ctx: &Context,
    scene: &Scene<'_>,
    candidate: &Candidate,
) -> Result<PodRestartStatus, ControllerError> {
    let reason = candidate.reason.as_str();
    let mut state = PodRestartStatus {
        pod: candidate.pod.clone(),
        uid: candidate.uid.clone(),
        reason: reason.to_owned(),
        step: RestartStep::Draining,
        since: now(),
        commit_log_offset: None,
    };
    let related = Some(events::pod_ref(
        scene.cluster,
        &candidate.pod,
        Some(&candidate.uid),
    ));
    if candidate.is_master() {
        let made_read_only = ctx
            .admin
            .set_permission(&scene.address(&candidate.pod), broker_admin::READ_ONLY)
            .await;
        match made_read_only {
            Ok(()) => {
                events::publish(
                    ctx,
                    scene.cluster,
                    EventType::Normal,
                    "DrainingMaster",
                    format!("{} made read-only before its restart ({reason})", candidate.pod),
                    related,
                )
                .await;
                return Ok(state);
            }
            // A master that does not answer takes no writes either: restart it directly.
            Err(err) => {
                events::publish(
                    ctx,
                    scene.cluster,
                    EventType::Warning,
                    "DrainSkipped",
                    format!(
                        "{} could not be made read-only ({err}); restarting it anyway",
                        candidate.pod
                    ),
                    related,
                )
                .await;
            }
        }
    }
    delete(ctx, scene, &mut state).await?;
    Ok(state)
}

/// Deletes the pod (only the very pod recorded: a precondition on its uid) and moves to
/// `Restarting`.
async fn delete(
    ctx: &Context,
    scene: &Scene<'_>,
    state: &mut PodRestartStatus,
) -> Result<(), ControllerError> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), scene.names.namespace());
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(state.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&state.pod, &params).await {
        Ok(_) => {}
        // Gone already, or replaced (the uid no longer matches): nothing left to delete.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
        Err(source) => return Err(ControllerError::api("delete", "Pod", state.pod.clone())(source)),
    }
    ctx.metrics.restarted(&state.reason);
    events::publish(
        ctx,
        scene.cluster,
        EventType::Normal,
        "RestartingPod",
        format!("restarting {}: {}", state.pod, state.reason),
        Some(events::pod_ref(scene.cluster, &state.pod, Some(&state.uid))),
    )
    .await;
    state.step = RestartStep::Restarting;
    state.since = now();
    state.commit_log_offset = None;
    Ok(())
}

async fn drain(
    ctx: &Context,
    scene: &Scene<'_>,
    mut state: PodRestartStatus,
) -> Result<PodRestartStatus, ControllerError> {
    let master = ctx
        .admin
        .commit_log_max_offset(&scene.address(&state.pod))
        .await
        .ok();
    let group_prefix = state
        .pod
        .rsplit_once('-')
        .map(|(group, _)| group)
        .unwrap_or_default();
    let mut slaves = Vec::new();
    for pod in scene.pods {
        let Some(name) = pod.metadata.name.as_deref() else {
            continue;
        };
        let is_slave = name
            .rsplit_once('-')
            .is_some_and(|(group, _)| group == group_prefix)
            && plan::ordinal(pod).is_some_and(|ordinal| ordinal > 0);
        if is_slave {
            slaves.push(ctx.admin.commit_log_max_offset(&scene.address(name)).await.ok());
        }
    }
    let sample = DrainSample { master, slaves };
    match rollout::drain_verdict(
        state.commit_log_offset,
        &sample,
        elapsed(&state.since),
        ctx.timeouts.drain,
    ) {
        DrainVerdict::Wait { offset } => state.commit_log_offset = offset,
        DrainVerdict::Drained => delete(ctx, scene, &mut state).await?,
        DrainVerdict::TimedOut => {
            events::publish(
                ctx,
                scene.cluster,
                EventType::Warning,
                "DrainTimedOut",
                format!(
                    "{} did not drain within {:?} (writes still arriving or slaves behind); restarting it anyway",
                    state.pod, ctx.timeouts.drain
                ),
                Some(events::pod_ref(scene.cluster, &state.pod, Some(&state.uid))),
            )
            .await;
            delete(ctx, scene, &mut state).await?;
        }
    }
    Ok(state)
}

async fn replaced(ctx: &Context, scene: &Scene<'_>, mut state: PodRestartStatus) -> Option<PodRestartStatus> {
    let seen = scene
        .pod(&state.pod)
        .map(|pod| (pod.metadata.uid.as_deref().unwrap_or_default(), is_ready(pod)));
    // Pod names end in their ordinal; 0 is the master.
    let is_master = state.pod.rsplit('-').next() == Some("0");
    match rollout::replacement(&state.uid, seen, elapsed(&state.since), ctx.timeouts.ready) {
        ReplacementVerdict::Wait => Some(state),
        ReplacementVerdict::Ready if is_master => {
            state.step = RestartStep::Restoring;
            state.since = now();
            restore(ctx, scene, state).await
        }
        ReplacementVerdict::Ready => {
            restarted(ctx, scene, &state).await;
            None
        }
        ReplacementVerdict::TimedOut => {
            events::publish(
                ctx,
                scene.cluster,
                EventType::Warning,
                "RestartTimedOut",
                format!(
                    "{} was not ready within {:?} of its restart; no other pod restarts until it is",
                    state.pod, ctx.timeouts.ready
                ),
                Some(events::pod_ref(scene.cluster, &state.pod, None)),
            )
            .await;
            None
        }
    }
}

/// Gives a restarted master its permission back. A broker that does not persist runtime
/// changes starts with its configured permission anyway; this re-asserts it for one that
/// does.
async fn restore(ctx: &Context, scene: &Scene<'_>, state: PodRestartStatus) -> Option<PodRestartStatus> {
    let permission = scene.master_permission();
    match ctx
        .admin
        .set_permission(&scene.address(&state.pod), permission)
        .await
    {
        Ok(()) => {
            restarted(ctx, scene, &state).await;
            None
        }
        Err(err) if elapsed(&state.since) >= ctx.timeouts.restore => {
            events::publish(
                ctx,
                scene.cluster,
                EventType::Warning,
                "RestoreFailed",
                format!(
                    "{} did not take brokerPermission={permission} within {:?}: {err}",
                    state.pod, ctx.timeouts.restore
                ),
                Some(events::pod_ref(scene.cluster, &state.pod, None)),
            )
            .await;
            None
        }
        Err(err) => {
            tracing::info!(pod = %state.pod, %err, "restarted master not writable yet; retrying");
            Some(state)
        }
    }
}

async fn restarted(ctx: &Context, scene: &Scene<'_>, state: &PodRestartStatus) {
    events::publish(
        ctx,
        scene.cluster,
        EventType::Normal,
        "PodRestarted",
        format!("{} restarted and ready ({})", state.pod, state.reason),
        Some(events::pod_ref(scene.cluster, &state.pod, None)),
    )
    .await;
}
