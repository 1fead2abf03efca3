//! Status derivation: what the reconciler observed, turned into `status` by pure functions
//! (so every condition's logic is unit-tested without a cluster).
//!
//! ```text
//! broker pods ─▶ topology.rs: groups, pods, brokerId, role, ready, config hash
//! topology + NameServer readiness + reconcile outcome ─▶ conditions.rs: the five conditions
//! conditions ─▶ phase.rs: one word for `kubectl get`
//! ```

mod conditions;
mod phase;
mod topology;

use k8s_openapi::{api::core::v1::Pod, apimachinery::pkg::apis::meta::v1::Time};

use crate::{
    desired::Names,
    types::{NameServerStatus, RocketMQCluster, RocketMQClusterStatus},
};

use conditions::Facts;
pub use topology::is_ready;

/// What the reconciler saw of the running cluster.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Ready NameServer pods (the Deployment's `status.readyReplicas`).
    pub name_server_ready: i32,
    /// The cluster's broker pods (every pod labelled with the cluster and component broker).
    pub broker_pods: &'a [Pod],
}

/// What the reconcile itself concluded.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    /// The config hash each group's pods should carry (in group order), or why the resource
    /// could not be rendered.
    pub rendered: Result<&'a [String], &'a str>,
    /// The pause annotation is set.
    pub paused: bool,
    /// Changes refused this round, each `(reason, message)` (a CamelCase reason).
    pub warnings: &'a [(String, String)],
}

/// The status to write for `cluster`, given what was observed and concluded at `now`.
/// Transition times of conditions whose status did not change are kept from the current
/// status, so writing the result again changes nothing.
pub fn derive(
    cluster: &RocketMQCluster,
    observation: Observation<'_>,
    outcome: Outcome<'_>,
    now: &Time,
) -> RocketMQClusterStatus {
    let names = Names::new(
        cluster.metadata.name.as_deref().unwrap_or_default(),
        cluster.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let spec = &cluster.spec;
    let groups = topology::groups(&names, spec.broker.groups, observation.broker_pods);
    let previous = cluster.status.clone().unwrap_or_default();
    // While paused the operator has not acted on the current generation.
    let observed_generation = if outcome.paused {
        previous.observed_generation
    } else {
        cluster.metadata.generation
    };
    let facts = Facts::gather(spec, &groups, observation, outcome);
    let conditions = conditions::conditions(&facts, &previous.conditions, cluster.metadata.generation, now);
    RocketMQClusterStatus {
        observed_generation,
        phase: Some(phase::phase(&facts)),
        conditions,
        name_server: Some(NameServerStatus {
            ready: observation.name_server_ready,
            desired: spec.name_server.replicas,
            address: names.namesrv_client_addr(),
        }),
        groups,
        // The reconciler's to change: derivation only carries it over.
        restart: previous.restart,
        scale_down: previous.scale_down,
    }
}

#[cfg(test)]
mod tests;
