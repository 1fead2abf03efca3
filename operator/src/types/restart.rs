//! `status.restart`: the broker pod restart in progress, kept in status so that an operator
//! that restarts halfway resumes it (and restores a master it made read-only).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema;

/// One broker pod being restarted by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodRestartStatus {
    /// The pod's name.
    pub pod: String,
    /// The uid of the pod being replaced; a pod of that name with another uid is its
    /// replacement.
    pub uid: String,
    /// Why it restarts: config changed, image changed, pod template changed or manual restart.
    pub reason: String,
    /// Where the restart is.
    pub step: RestartStep,
    /// When the step began; every step has a bounded wait.
    pub since: Time,
    /// Draining a master: its CommitLog end offset at the last look, to tell when writes
    /// have stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_log_offset: Option<i64>,
}

/// The steps of a restart. Slaves go straight to `Restarting`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = schema::without_description)]
pub enum RestartStep {
    /// A master made read-only: waiting for writes to stop and its slaves to catch up.
    Draining,
    /// The pod was deleted: waiting for its replacement to be ready.
    Restarting,
    /// A master's replacement is ready: giving it back write permission.
    Restoring,
}
