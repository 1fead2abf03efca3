//! What the reconciler reads back: the cluster's broker pods, and readiness numbers from the
//! applied workloads.

use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::Pod};
use kube::{Api, Client, api::ListParams};

use super::{apply::Applied, error::ControllerError};
use crate::desired::{
    Names,
    labels::{self, Component},
};

/// The label selector of a component's pods (`app.kubernetes.io/instance=<cluster>,…`).
pub fn selector(names: &Names, component: Component) -> String {
    labels::selector(names, component)
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every broker pod of the cluster, every group (wanted or being removed) included.
pub async fn broker_pods(client: &Client, names: &Names) -> Result<Vec<Pod>, ControllerError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), names.namespace());
    let selector = selector(names, Component::Broker);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ControllerError::api("list", "Pod", selector))?;
    Ok(list.items)
}

/// Ready NameServer pods, from the Deployment's status.
pub fn name_server_ready(applied: &Applied) -> i32 {
    applied
        .name_server
        .status
        .as_ref()
        .and_then(|status| status.ready_replicas)
        .unwrap_or(0)
}

/// The StatefulSet's `updateRevision`, once its controller has seen its current generation
/// (before that it names the previous template's revision).
pub fn update_revision(set: &StatefulSet) -> Option<&str> {
    let status = set.status.as_ref()?;
    let current =
        status.observed_generation.is_some() && status.observed_generation == set.metadata.generation;
    current.then_some(status.update_revision.as_deref()).flatten()
}
