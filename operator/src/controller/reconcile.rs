//! One reconcile of one `RocketMQCluster`:
//!
//! ```text
//! finalizer (deletion → cleanup) ─▶ paused? observe only, status ReconciliationPaused
//!   ─▶ render (desired::build; a render error goes to status, not to the error policy)
//!   ─▶ server-side apply in order ─▶ grow PVCs (or warn) ─▶ monitors (or warn) ─▶ observe pods
//!   ─▶ one restart step
//!   ─▶ one scale-down step (groups above spec.broker.groups; not during a restart) ─▶ status (status::derive), patched only when changed ─▶ requeue soon while busy
//! ```

mod scale_down;

use std::{sync::Arc, time::Instant};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Resource,
    runtime::{
        controller::Action,
        finalizer::{Event as Finalizer, finalizer},
    },
};

use super::{
    apply,
    context::Context,
    error::ControllerError,
    finalizer::{FINALIZER, cleanup},
    monitors, observe, restart, status_patch, volumes,
};
use crate::{
    desired::{self, Names},
    status::{self, Observation, Outcome},
    types::{RocketMQCluster, RocketMQClusterStatus, annotations},
};

/// `namespace/name`.
pub fn key(cluster: &RocketMQCluster) -> String {
    format!(
        "{}/{}",
        cluster.metadata.namespace.as_deref().unwrap_or_default(),
        cluster.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The controller's reconcile function.
pub async fn reconcile(cluster: Arc<RocketMQCluster>, ctx: Arc<Context>) -> Result<Action, ControllerError> {
    let started = Instant::now();
    let key = key(&cluster);
    let namespace = cluster
        .metadata
        .namespace
        .clone()
        .ok_or(ControllerError::Metadata("namespace"))?;
    let api: Api<RocketMQCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    // The restart and scale-down progress lives in status, and the controller's cache may not
    // have seen the status the previous reconcile wrote when a pod event triggers this one:
    // acting on the older status would skip a step (a slave's restart never confirmed, say).
    // A read from the API server always has it.
    let name = cluster
        .metadata
        .name
        .clone()
        .ok_or(ControllerError::Metadata("name"))?;
    let cluster = match api.get_opt(&name).await {
        Ok(Some(fresh)) => Arc::new(fresh),
        // Deleted meanwhile: nothing left to do.
        Ok(None) => return Ok(Action::await_change()),
        Err(source) => {
            ctx.metrics.reconciled(&key, started.elapsed(), false);
            return Err(ControllerError::api("get", "RocketMQCluster", name)(source));
        }
    };
    let result = finalizer(&api, FINALIZER, cluster, |event| async {
        match event {
            Finalizer::Apply(cluster) => reconcile_live(&ctx, &cluster).await,
            Finalizer::Cleanup(cluster) => cleanup(&ctx, &cluster).await,
        }
    })
    .await
    .map_err(|err| match err {
        kube::runtime::finalizer::Error::ApplyFailed(err)
        | kube::runtime::finalizer::Error::CleanupFailed(err) => err,
        other => ControllerError::Finalizer(other.to_string()),
    });
    ctx.metrics.reconciled(&key, started.elapsed(), result.is_ok());
    if result.is_ok() {
        ctx.succeeded(&key);
    }
    result
}

/// The error policy: log, and retry with a backoff per cluster.
pub fn error_policy(cluster: Arc<RocketMQCluster>, error: &ControllerError, ctx: Arc<Context>) -> Action {
    let key = key(&cluster);
    let wait = ctx.backoff(&key);
    tracing::warn!(cluster = %key, %error, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

async fn reconcile_live(ctx: &Context, cluster: &RocketMQCluster) -> Result<Action, ControllerError> {
    let name = cluster
        .metadata
        .name
        .as_deref()
        .ok_or(ControllerError::Metadata("name"))?;
    let namespace = cluster
        .metadata
        .namespace
        .as_deref()
        .ok_or(ControllerError::Metadata("namespace"))?;
    let names = Names::new(name, namespace);
    let paused = annotations::is_paused(cluster.meta().annotations.as_ref());
    let rendered = desired::build(cluster);
    let now = Time(Timestamp::now());
    if paused {
        // Nothing is applied, restarted or deleted; status still says what runs.
        let pods = observe::broker_pods(&ctx.client, &names).await?;
        let error = rendered.as_ref().err().map(ToString::to_string);
        let hashes = rendered
            .as_ref()
            .map(|objects| objects.broker_config_hashes.clone())
            .unwrap_or_default();
        let ready = cluster
            .status
            .as_ref()
            .and_then(|s| s.name_server.as_ref())
            .map_or(0, |ns| ns.ready);
        let outcome = Outcome {
            rendered: error.as_deref().map_or(Ok(hashes.as_slice()), Err),
            paused: true,
            warnings: &[],
        };
        let observation = Observation {
            name_server_ready: ready,
            broker_pods: &pods,
        };
        let status = status::derive(cluster, observation, outcome, &now);
        status_patch::write(ctx, cluster, &status).await?;
        return Ok(Action::requeue(ctx.requeue.idle));
    }
    let objects = match rendered {
        Ok(objects) => objects,
        Err(error) => {
            // The user's to fix: report it and wait for a change.
            let message = error.to_string();
            let pods = observe::broker_pods(&ctx.client, &names).await?;
            let outcome = Outcome {
                rendered: Err(&message),
                paused: false,
                warnings: &[],
            };
            let observation = Observation {
                name_server_ready: 0,
                broker_pods: &pods,
            };
            let status = status::derive(cluster, observation, outcome, &now);
            status_patch::write(ctx, cluster, &status).await?;
            return Ok(Action::requeue(ctx.requeue.idle));
        }
    };
    let applied = apply::apply_all(&ctx.client, namespace, &objects).await?;
    let mut warnings = volumes::grow(ctx, cluster, &names).await?;
    warnings.extend(monitors::reconcile(ctx, &names, &objects.monitors).await?);
    let pods = observe::broker_pods(&ctx.client, &names).await?;
    let scene = restart::Scene {
        cluster,
        names: &names,
        desired: &objects,
        applied: &applied,
        pods: &pods,
    };
    let restart = restart::advance(ctx, &scene).await?;
    // One disruption at a time: a group is removed only while no pod restarts.
    let scale_down = if restart.is_none() {
        let scene = scale_down::Scene {
            cluster,
            names: &names,
            pods: &pods,
        };
        scale_down::advance(ctx, &scene).await?
    } else {
        cluster.status.as_ref().and_then(|s| s.scale_down.clone())
    };
    let observation = Observation {
        name_server_ready: observe::name_server_ready(&applied),
        broker_pods: &pods,
    };
    let outcome = Outcome {
        rendered: Ok(&objects.broker_config_hashes),
        paused: false,
        warnings: &warnings,
    };
    let mut status: RocketMQClusterStatus = status::derive(cluster, observation, outcome, &now);
    status.restart = restart;
    status.scale_down = scale_down;
    status_patch::write(ctx, cluster, &status).await?;
    let busy = status.restart.is_some()
        || status.scale_down.is_some()
        || status.phase != Some(crate::types::Phase::Ready);
    Ok(Action::requeue(if busy {
        ctx.requeue.busy
    } else {
        ctx.requeue.idle
    }))
}
