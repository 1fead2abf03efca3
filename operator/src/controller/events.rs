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

/// A reference to object `name` of `kind` (`api_version`) in the cluster's namespace.
///
/// Events of one reason about one cluster are folded into a single series by the recorder
/// unless their related object differs, so each event about a particular claim, group or pod
/// names it here: otherwise the second claim's resize would only bump the first's count.
pub fn object_ref(cluster: &RocketMQCluster, api_version: &str, kind: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(name.to_owned()),
        namespace: cluster.metadata.namespace.clone(),
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
