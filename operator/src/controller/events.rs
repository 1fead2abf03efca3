//! Events on the `RocketMQCluster` (with the pod concerned as the related object), so
//! `kubectl describe rmq` tells why each pod restarted. A failure to publish one is logged,
//! never fatal: events are for people, not for the reconcile.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Resource,
    runtime::events::{Event, EventType},
};

use super::context::Context;
use crate::types::RocketMQCluster;

/// A reference to pod `name` of the cluster's namespace.
pub fn pod_ref(cluster: &RocketMQCluster, name: &str, uid: Option<&str>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("Pod".to_owned()),
        name: Some(name.to_owned()),
        namespace: cluster.metadata.namespace.clone(),
        uid: uid.map(str::to_owned),
        ..ObjectReference::default()
    }
}

/// Publishes one event about `cluster`.
pub async fn publish(
    ctx: &Context,
    cluster: &RocketMQCluster,
    severity: EventType,
    reason: &str,
    note: String,
    related: Option<ObjectReference>,
) {
    let event = Event {
        type_: severity,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Reconcile".to_owned(),
        secondary: related,
    };
    let regarding = cluster.object_ref(&());
    if let Err(err) = ctx.recorder.publish(&event, &regarding).await {
        tracing::warn!(%err, reason, "cannot publish event");
    }
}
