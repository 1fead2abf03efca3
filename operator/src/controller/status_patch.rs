//! Writing `status`: one merge patch of the status subresource, sent only when the status
//! changed (conditions keep their transition times, so an unchanged cluster writes nothing).

use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::{Map, Value};

use super::{context::Context, error::ControllerError};
use crate::types::{RocketMQCluster, RocketMQClusterStatus};

/// The merge patch turning `old` into `new`: `new` whole, plus `null` for every top-level
/// field `old` has and `new` lacks (a merge patch keeps fields it does not mention).
pub fn patch_body(old: Option<&RocketMQClusterStatus>, new: &RocketMQClusterStatus) -> Value {
    let mut status = match serde_json::to_value(new) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(Ok(Value::Object(old))) = old.map(serde_json::to_value) {
        for key in old.keys() {
            status.entry(key.clone()).or_insert(Value::Null);
        }
    }
    serde_json::json!({ "status": status })
}

/// Patches the status of `cluster` to `new` if it differs from what it has.
pub async fn write(
    ctx: &Context,
    cluster: &RocketMQCluster,
    new: &RocketMQClusterStatus,
) -> Result<(), ControllerError> {
    if cluster.status.as_ref() == Some(new) {
        return Ok(());
    }
    let namespace = cluster
        .metadata
        .namespace
        .as_deref()
        .ok_or(ControllerError::Metadata("namespace"))?;
    let name = cluster
        .metadata
        .name
        .as_deref()
        .ok_or(ControllerError::Metadata("name"))?;
    let api: Api<RocketMQCluster> = Api::namespaced(ctx.client.clone(), namespace);
    let body = patch_body(cluster.status.as_ref(), new);
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map_err(ControllerError::api("patch status of", "RocketMQCluster", name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{PodRestartStatus, RestartStep};

    #[test]
    fn fields_gone_from_status_are_nulled() {
        let old = RocketMQClusterStatus {
            observed_generation: Some(1),
            restart: Some(PodRestartStatus {
                pod: "p".into(),
                uid: "u".into(),
                reason: "config changed".into(),
                step: RestartStep::Restarting,
                since: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                ),
                commit_log_offset: None,
            }),
            ..RocketMQClusterStatus::default()
        };
        let new = RocketMQClusterStatus {
            observed_generation: Some(2),
            ..RocketMQClusterStatus::default()
        };
        let body = patch_body(Some(&old), &new);
        assert_eq!(body["status"]["observedGeneration"], 2);
        assert_eq!(body["status"]["restart"], Value::Null);
        assert!(body["status"].as_object().unwrap().contains_key("restart"));
    }
}
