//! The reconciler: the part that talks to the API server.
//!
//! ```text
//! mod.rs          Controllers (one per watched namespace, or one for all) owning
//!                 Deployments, StatefulSets, Services, ConfigMaps, PDBs; broker pods watched
//! reconcile.rs    one reconcile: finalizer, pause, render, apply, restart step, status
//! apply.rs        server-side apply, field manager "apogee-operator", forced
//! observe.rs      broker pods, NameServer readiness, StatefulSet revisions
//! restart.rs      ordered broker restarts (the I/O half of crate::rollout)
//! status_patch.rs status merge patch, only when changed
//! volumes.rs      PVC growth, or a Warning when the StorageClass cannot expand
//! finalizer.rs    deletion: broker PVCs deleted or kept per deleteClaim
//! events.rs       Events on the cluster
//! context.rs      what reconciles share; backoff per cluster
//! ```

mod apply;
pub mod context;
mod error;
mod events;
mod finalizer;
mod observe;
mod reconcile;
mod restart;
mod status_patch;
mod volumes;

use std::{future::Future, sync::Arc, time::Duration};

use futures::{StreamExt, future::join_all};
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Pod, Service},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client,
    runtime::{
        Controller,
        reflector::{ObjectRef, Store},
        watcher,
    },
};

pub use context::{Context, FIELD_MANAGER, Requeue};
pub use error::ControllerError;
pub use finalizer::FINALIZER;

use crate::{desired::labels, types::RocketMQCluster};

/// Which namespaces the operator watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchScope {
    /// Every namespace (one cluster-wide watch per kind).
    All,
    /// These namespaces only (one Controller each).
    Namespaces(Vec<String>),
}

impl WatchScope {
    /// From a list of names: empty means every namespace.
    pub fn from_list(namespaces: Vec<String>) -> Self {
        let namespaces: Vec<String> = namespaces
            .into_iter()
            .map(|ns| ns.trim().to_owned())
            .filter(|ns| !ns.is_empty())
            .collect();
        if namespaces.is_empty() {
            Self::All
        } else {
            Self::Namespaces(namespaces)
        }
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the controllers of `scope` until `shutdown` resolves (each finishes the reconciles
/// in flight first). `synced` resolves once every watch has listed its objects.
pub async fn run(
    ctx: Arc<Context>,
    scope: WatchScope,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
    synced: impl FnOnce() + Send + 'static,
) {
    let namespaces: Vec<Option<String>> = match scope {
        WatchScope::All => vec![None],
        WatchScope::Namespaces(list) => list.into_iter().map(Some).collect(),
    };
    let client = ctx.client.clone();
    // Only what this operator made: its label is on every object and pod it creates.
    let managed = format!("{}={}", labels::MANAGED_BY, labels::OPERATOR);
    let owned = || watcher::Config::default().labels(&managed);
    let mut stores = Vec::new();
    let mut loops = Vec::new();
    for namespace in &namespaces {
        let ns = namespace.as_deref();
        let controller = Controller::new(api::<RocketMQCluster>(&client, ns), watcher::Config::default())
            .owns(api::<Deployment>(&client, ns), owned())
            .owns(api::<StatefulSet>(&client, ns), owned())
            .owns(api::<Service>(&client, ns), owned())
            .owns(api::<ConfigMap>(&client, ns), owned())
            .owns(api::<PodDisruptionBudget>(&client, ns), owned())
            // Broker pods are the StatefulSets', not the cluster's: map them by label.
            .watches(api::<Pod>(&client, ns), owned(), |pod: Pod| {
                let cluster = pod.metadata.labels.as_ref()?.get(labels::INSTANCE)?.clone();
                let namespace = pod.metadata.namespace.as_deref()?;
                Some(ObjectRef::<RocketMQCluster>::new(&cluster).within(namespace))
            })
            .graceful_shutdown_on(shutdown.clone());
        // Read before `run`, this is the store the controller's own reflector fills.
        stores.push(controller.store());
        loops.push(
            controller
                .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
                .for_each(|outcome| async move {
                    if let Err(err) = outcome {
                        tracing::debug!(%err, "controller event");
                    }
                }),
        );
    }
    tokio::spawn(async move {
        tokio::select! {
            () = all_listed(stores) => synced(),
            () = shutdown => {}
        }
    });
    join_all(loops).await;
}

/// How often [`all_listed`] looks at a store again.
const LISTED_RECHECK: Duration = Duration::from_millis(100);

/// Resolves once every store has had its first list (or its reflector is gone).
///
/// `Store::wait_until_ready` alone does not do: it waits on a one-shot channel that keeps
/// a single waker, and the controller's runner waits on the same store, so whichever of the
/// two polled first is never woken. A fresh wait sees a sent value at once, woken or not,
/// so each store is waited on afresh every [`LISTED_RECHECK`].
async fn all_listed(stores: Vec<Store<RocketMQCluster>>) {
    for store in stores {
        while tokio::time::timeout(LISTED_RECHECK, store.wait_until_ready())
            .await
            .is_err()
        {}
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector;

    use super::*;

    /// What the controller's runner does: wait on the store from another task, after us.
    #[tokio::test]
    async fn all_listed_resolves_though_the_runner_waits_on_the_same_store() {
        let (store, mut writer) = reflector::store::<RocketMQCluster>();
        let listed = tokio::spawn(all_listed(vec![store.clone()]));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let runner = tokio::spawn(async move { store.wait_until_ready().await.is_ok() });
        tokio::time::sleep(Duration::from_millis(50)).await;
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let runner = tokio::time::timeout(Duration::from_secs(10), runner).await;
        assert!(matches!(runner, Ok(Ok(true))), "the runner's wait: {runner:?}");
        let listed = tokio::time::timeout(Duration::from_secs(10), listed).await;
        assert!(listed.is_ok(), "all_listed never saw the first list");
    }
}
