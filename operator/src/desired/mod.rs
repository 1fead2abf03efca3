//! Desired state: the objects a `RocketMQCluster` becomes, as pure functions of the resource.
//! The reconciler applies them with server-side apply (one field manager); golden files in
//! `operator/tests/golden/` pin their exact shape.
//!
//! ```text
//! RocketMQCluster ─▶ Scope (names, namespace, owner)          scope.rs, names.rs, labels.rs
//!   spec ─▶ namesrv.conf, broker.conf per group (broker's own reader + writer), hash
//!                                                             config_file.rs, hash.rs
//!        ─▶ ConfigMaps                                        config_map.rs
//!        ─▶ NameServer Deployment                             namesrv.rs
//!        ─▶ Services (NameServer client + headless, broker headless)   services.rs
//!        ─▶ one StatefulSet per broker group                  broker_statefulset.rs
//!        ─▶ PodDisruptionBudgets                              pdb.rs
//!        ─▶ ServiceMonitor / PodMonitor, when asked for       monitors.rs
//! ```

pub mod broker_statefulset;
pub mod config_file;
mod config_map;
mod error;
pub mod hash;
pub mod labels;
pub mod monitors;
pub mod names;
mod namesrv;
mod pdb;
mod pod;
mod scope;
pub mod services;

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Service},
    policy::v1::PodDisruptionBudget,
};
use serde::Serialize;

pub use error::DesiredError;
pub use monitors::{Monitor, MonitorKind};
pub use names::Names;

use crate::types::RocketMQCluster;

/// Every object of one cluster, in the order they are best applied: configuration before
/// the workloads that mount it, Services before the pods that resolve them.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObjects {
    /// `namesrv.conf`, then each group's `broker.conf`.
    pub config_maps: Vec<ConfigMap>,
    /// NameServer client and headless Services, then the brokers' headless Service.
    pub services: Vec<Service>,
    /// The NameServers.
    pub name_server: Deployment,
    /// One per broker group, in group order.
    pub broker_groups: Vec<StatefulSet>,
    /// The NameServers' budget, then one per broker group.
    pub disruption_budgets: Vec<PodDisruptionBudget>,
    /// The prometheus-operator monitors `spec.metrics` asks for (often none).
    pub monitors: Vec<Monitor>,
    /// The config hash each group's pods should carry, in group order (what status compares
    /// a pod's annotation against).
    pub broker_config_hashes: Vec<String>,
}

/// One object of any kind, for code that handles them uniformly (applying, printing).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// A Service.
    Service(Service),
    /// A Deployment.
    Deployment(Deployment),
    /// A StatefulSet.
    StatefulSet(StatefulSet),
    /// A PodDisruptionBudget.
    PodDisruptionBudget(PodDisruptionBudget),
    /// A prometheus-operator ServiceMonitor or PodMonitor.
    Monitor(serde_json::Value),
}

impl DesiredObjects {
    /// Every object, in apply order.
    pub fn objects(&self) -> Vec<Object> {
        let mut all: Vec<Object> = Vec::new();
        all.extend(self.config_maps.iter().cloned().map(Object::ConfigMap));
        all.extend(self.services.iter().cloned().map(Object::Service));
        all.push(Object::Deployment(self.name_server.clone()));
        all.extend(self.broker_groups.iter().cloned().map(Object::StatefulSet));
        all.extend(
            self.disruption_budgets
                .iter()
                .cloned()
                .map(Object::PodDisruptionBudget),
        );
        all.extend(self.monitors.iter().map(|m| Object::Monitor(m.object.clone())));
        all
    }
}

/// Renders every object of `cluster`. Fails, naming the field, when the resource cannot be
/// rendered (metadata the API server sets is missing, or a configuration the broker would
/// refuse); nothing is partially built.
pub fn build(cluster: &RocketMQCluster) -> Result<DesiredObjects, DesiredError> {
    let scope = scope::Scope::new(cluster)?;
    let spec = scope.spec;
    let groups: Vec<u32> = (0..u32::try_from(spec.broker.groups).unwrap_or(0)).collect();
    let namesrv_file = config_file::namesrv(spec)?;
    let broker_files = groups
        .iter()
        .map(|group| config_file::broker(spec, &scope.names, *group))
        .collect::<Result<Vec<_>, _>>()?;

    let mut config_maps = vec![config_map::namesrv(&scope, &namesrv_file)];
    config_maps.extend(
        groups
            .iter()
            .zip(&broker_files)
            .map(|(group, file)| config_map::broker(&scope, *group, file)),
    );
    let mut disruption_budgets = vec![pdb::namesrv(&scope)];
    disruption_budgets.extend(groups.iter().map(|group| pdb::broker_group(&scope, *group)));
    Ok(DesiredObjects {
        config_maps,
        services: vec![
            services::namesrv_client(&scope),
            services::namesrv_headless(&scope),
            services::broker_headless(&scope),
        ],
        name_server: namesrv::deployment(&scope, &namesrv_file),
        broker_groups: groups
            .iter()
            .zip(&broker_files)
            .map(|(group, file)| broker_statefulset::stateful_set(&scope, *group, file))
            .collect(),
        disruption_budgets,
        monitors: monitors::monitors(&scope),
        broker_config_hashes: broker_files.into_iter().map(|file| file.hash).collect(),
    })
}
