//! Deletion. Owner references garbage-collect every object the operator made; what they do
//! not cover is the broker volumes (a StatefulSet's PVCs outlive it). The finalizer
//! `rocketmq.apogee.dev/cleanup` holds the deletion until the PVCs are dealt with:
//! `spec.broker.storage.deleteClaim: true` deletes every PVC of the cluster's brokers (by
//! label), otherwise they are kept with their data (a cluster re-created under the same
//! name gets them back).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{
    Api,
    api::{DeleteParams, ListParams},
    runtime::{controller::Action, events::EventType},
};

use super::{context::Context, error::ControllerError, events, observe};
use crate::{
    desired::{Names, labels::Component},
    types::RocketMQCluster,
};

/// The finalizer's name.
pub const FINALIZER: &str = "rocketmq.apogee.dev/cleanup";

/// Runs the deletion cleanup of `cluster`.
pub async fn cleanup(ctx: &Context, cluster: &RocketMQCluster) -> Result<Action, ControllerError> {
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
    let selector = observe::selector(&names, Component::Broker);
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let claims = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ControllerError::api(
            "list",
            "PersistentVolumeClaim",
            selector.clone(),
        ))?;
    let count = claims.items.len();
    if cluster.spec.broker.storage.delete_claim {
        // One by one rather than a delete-collection: plain `delete` is all the chart's RBAC
        // grants.
        for claim in &claims.items {
            let Some(claim_name) = claim.metadata.name.as_deref() else {
                continue;
            };
            match api.delete(claim_name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => {
                    return Err(ControllerError::api(
                        "delete",
                        "PersistentVolumeClaim",
                        claim_name,
                    )(source));
                }
            }
        }
        events::publish(
            ctx,
            cluster,
            EventType::Normal,
            "VolumesDeleted",
            format!("deleted {count} broker volume claims (deleteClaim is true)"),
            None,
        )
        .await;
    } else if count > 0 {
        events::publish(
            ctx,
            cluster,
            EventType::Normal,
            "VolumesKept",
            format!("kept {count} broker volume claims with their data (deleteClaim is false)"),
            None,
        )
        .await;
    }
    ctx.metrics.forget(&format!("{namespace}/{name}"));
    Ok(Action::await_change())
}
