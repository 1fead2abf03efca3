//! `spec.broker.storage`: each broker pod's persistent volume.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{schema, validation};

/// One PersistentVolumeClaim per broker pod, holding its whole store (CommitLog,
/// ConsumeQueues, index, checkpoint and metadata).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = validation::storage_rules)]
pub struct StorageSpec {
    /// Size of each broker pod's volume, as a quantity (`100Gi`). It can grow (where the
    /// StorageClass allows expansion) but never shrink.
    #[schemars(schema_with = "schema::quantity_string", transform = validation::storage_size_rules)]
    pub size: Quantity,
    /// StorageClass of the volumes; the cluster's default class when unset. Fixed once the
    /// cluster exists, since existing volumes keep their class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Delete a broker pod's volume when the pod is removed for good (scale-down or deletion
    /// of the cluster). By default volumes are kept, with their data.
    #[serde(default)]
    pub delete_claim: bool,
}
