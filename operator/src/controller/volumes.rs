//! Growing broker volumes: when `spec.broker.storage.size` grows, each broker PVC asking for
//! less is patched to the new size if its StorageClass allows expansion; otherwise nothing
//! changes and the Warning condition says why (reason `StorageNotExpandable`).

use k8s_openapi::api::{core::v1::PersistentVolumeClaim, storage::v1::StorageClass};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams},
    runtime::events::EventType,
};

use super::{context::Context, error::ControllerError, events, observe};
use crate::{
    desired::{
        Names,
        labels::{BROKER_GROUP, Component},
    },
    storage::{self, Resize},
    types::RocketMQCluster,
};

/// The Warning condition's reason when the size cannot be applied.
pub const NOT_EXPANDABLE: &str = "StorageNotExpandable";

fn requested(claim: &PersistentVolumeClaim) -> Option<&str> {
    let requests = claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?;
    requests.get("storage").map(|q| q.0.as_str())
}

/// Grows what can grow; returns the warnings for status (`(reason, message)`).
pub async fn grow(
    ctx: &Context,
    cluster: &RocketMQCluster,
    names: &Names,
) -> Result<Vec<(String, String)>, ControllerError> {
    let wanted = cluster.spec.broker.storage.size.0.as_str();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), names.namespace());
    let selector = observe::selector(names, Component::Broker);
    let claims = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ControllerError::api("list", "PersistentVolumeClaim", selector))?;
    let groups = u32::try_from(cluster.spec.broker.groups).unwrap_or(0);
    // Claims kept from removed groups stay as they were: nothing runs on them.
    let live_group = |claim: &&PersistentVolumeClaim| {
        claim
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(BROKER_GROUP))
            .and_then(|group| names.group_index(group))
            .is_some_and(|index| index < groups)
    };
    let small: Vec<&PersistentVolumeClaim> = claims
        .items
        .iter()
        .filter(|claim| claim.metadata.deletion_timestamp.is_none())
        .filter(live_group)
        .filter(|claim| storage::resize(requested(claim).unwrap_or(wanted), wanted) == Resize::Grow)
        .collect();
    let Some(first) = small.first() else {
        return Ok(Vec::new());
    };
    let current = requested(first).unwrap_or("?").to_owned();
    let class = first
        .spec
        .as_ref()
        .and_then(|spec| spec.storage_class_name.clone());
    let refused = |why: String| {
        Ok(vec![(
            NOT_EXPANDABLE.to_owned(),
            format!("spec.broker.storage.size {wanted} is not applied ({why}); the volumes keep {current}"),
        )])
    };
    let Some(class) = class else {
        return refused("the volumes have no StorageClass".to_owned());
    };
    let classes: Api<StorageClass> = Api::all(ctx.client.clone());
    let allowed = match classes.get_opt(&class).await {
        Ok(Some(found)) => found.allow_volume_expansion == Some(true),
        Ok(None) => return refused(format!("StorageClass {class} does not exist")),
        Err(err) => return refused(format!("cannot read StorageClass {class}: {err}")),
    };
    if !allowed {
        return refused(format!("StorageClass {class} does not allow volume expansion"));
    }
    let patch = serde_json::json!({"spec": {"resources": {"requests": {"storage": wanted}}}});
    for claim in &small {
        let name = claim.metadata.name.as_deref().unwrap_or_default();
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(ControllerError::api("resize", "PersistentVolumeClaim", name))?;
        events::publish(
            ctx,
            cluster,
            EventType::Normal,
            "VolumeExpanding",
            format!("{name}: {} to {wanted}", requested(claim).unwrap_or("?")),
            Some(events::object_ref(cluster, "v1", "PersistentVolumeClaim", name)),
        )
        .await;
    }
    Ok(Vec::new())
}
