//! Removing broker groups when `spec.broker.groups` goes down: the policy a user picks and
//! `status.scaleDown`, the removal in progress, kept in status so that an operator that
//! restarts halfway resumes it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema;

/// What removing a broker group waits for once it is read-only.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = schema::without_description)]
pub enum ScaleDownPolicy {
    /// Until every consumer group has consumed everything on the group's brokers (lag 0),
    /// however long that takes; status.scaleDown says what it waits for.
    #[default]
    Block,
    /// As Block, but for at most the operator's drain timeout; then the group is removed
    /// with its unconsumed messages (kept on its volumes unless deleteClaim).
    Force,
}

/// One broker group being removed (the highest one first, one at a time).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleDownStatus {
    /// The group's `brokerName` (its StatefulSet's name).
    pub group: String,
    /// Where the removal is.
    pub step: ScaleDownStep,
    /// When the step began.
    pub since: Time,
    /// Draining: the consumer lag (messages not yet consumed, every consumer group summed)
    /// on the group's brokers at the last look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_lag: Option<i64>,
    /// What the removal waits for, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The steps of a group's removal.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = schema::without_description)]
pub enum ScaleDownStep {
    /// Making the group's brokers read-only (brokerPermission 4), so producers move away.
    ReadOnly,
    /// Read-only: waiting for consumers to finish the group's messages.
    Draining,
    /// Deleting the group's StatefulSet, ConfigMap and PodDisruptionBudget (and its volume
    /// claims if deleteClaim).
    Removing,
}
