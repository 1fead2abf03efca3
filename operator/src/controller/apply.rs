//! Server-side apply of the desired objects, in their apply order, with one field manager
//! and `force` (the operator owns every field it sets; a conflicting manager, such as a
//! `kubectl edit`, is overridden rather than blocking the reconcile).

use std::fmt::Debug;

use k8s_openapi::{
    NamespaceResourceScope,
    api::{
        apps::v1::{Deployment, StatefulSet},
        core::v1::{ConfigMap, Service},
        policy::v1::PodDisruptionBudget,
    },
};
use kube::{
    Api, Client, Resource,
    api::{Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{context::FIELD_MANAGER, error::ControllerError};
use crate::desired::{DesiredObjects, Object};

/// The workloads as the API server returned them after the apply (status included).
#[derive(Debug, Clone)]
pub struct Applied {
    /// The NameServer Deployment.
    pub name_server: Deployment,
    /// The broker StatefulSets, in group order.
    pub broker_groups: Vec<StatefulSet>,
}

/// Applies one object; returns it as stored.
pub async fn apply_one<K>(client: &Client, namespace: &str, object: &K) -> Result<K, ControllerError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(object))
        .await
        .map_err(ControllerError::api(
            "apply",
            <K as k8s_openapi::Resource>::KIND,
            name,
        ))
}

/// A StatefulSet's `volumeClaimTemplates` cannot change once it exists (the API server
/// refuses the whole update), so an existing set keeps its own; a larger `storage.size`
/// reaches the volumes by resizing their PVCs instead (see `volumes`).
async fn keep_claim_templates(
    client: &Client,
    namespace: &str,
    mut set: StatefulSet,
) -> Result<StatefulSet, ControllerError> {
    let name = set.metadata.name.clone().unwrap_or_default();
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let live = api
        .get_opt(&name)
        .await
        .map_err(ControllerError::api("get", "StatefulSet", name))?;
    if let (Some(live), Some(spec)) = (live.and_then(|l| l.spec), set.spec.as_mut()) {
        spec.volume_claim_templates = live.volume_claim_templates;
    }
    Ok(set)
}

/// Applies every object of `desired` in `namespace`.
pub async fn apply_all(
    client: &Client,
    namespace: &str,
    desired: &DesiredObjects,
) -> Result<Applied, ControllerError> {
    let mut name_server = None;
    let mut broker_groups = Vec::with_capacity(desired.broker_groups.len());
    for object in desired.objects() {
        match object {
            Object::ConfigMap(o) => drop(apply_one::<ConfigMap>(client, namespace, &o).await?),
            Object::Service(o) => drop(apply_one::<Service>(client, namespace, &o).await?),
            Object::Deployment(o) => {
                name_server = Some(apply_one::<Deployment>(client, namespace, &o).await?)
            }
            Object::StatefulSet(o) => {
                let o = keep_claim_templates(client, namespace, o).await?;
                broker_groups.push(apply_one::<StatefulSet>(client, namespace, &o).await?);
            }
            Object::PodDisruptionBudget(o) => {
                drop(apply_one::<PodDisruptionBudget>(client, namespace, &o).await?)
            }
            // Not a built-in kind, and optional: `monitors` applies them after the rest.
            Object::Monitor(_) => {}
        }
    }
    Ok(Applied {
        name_server: name_server.unwrap_or_else(|| desired.name_server.clone()),
        broker_groups,
    })
}
