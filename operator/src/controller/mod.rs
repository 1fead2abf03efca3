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

use std::{future::Future, sync::Arc};

use futures::{StreamExt, future::join_all};
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Pod, Service},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client,
    runtime::{Controller, reflector::ObjectRef, watcher},
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
        for store in stores {
            let _ = store.wait_until_ready().await;
        }
        synced();
    });
    join_all(loops).await;
}
