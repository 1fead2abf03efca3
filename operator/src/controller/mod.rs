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
//! monitors.rs     ServiceMonitor / PodMonitor applied or deleted, or a Warning when unavailable
//! finalizer.rs    deletion: broker PVCs deleted or kept per deleteClaim
//! events.rs       Events on the cluster
//! context.rs      what reconciles share; backoff per cluster
//! ```

mod apply;
pub mod context;
mod error;
mod events;
mod finalizer;
mod monitors;
mod observe;
mod reconcile;
mod restart;
mod status_patch;
mod volumes;

use std::{future::Future, sync::Arc};

use futures::{Stream, StreamExt, future::join_all};
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Pod, Service},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client,
    runtime::{
        Controller, WatchStreamExt,
        reflector::{self, ObjectRef, store::Writer},
        watcher,
    },
};
use tokio::sync::watch;

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
    let mut listed_watches = Vec::new();
    let mut loops = Vec::new();
    for namespace in &namespaces {
        let ns = namespace.as_deref();
        let (reader, writer) = reflector::store();
        let (listed, listed_rx) = watch::channel(false);
        let events =
            watcher(api::<RocketMQCluster>(&client, ns), watcher::Config::default()).default_backoff();
        let controller = Controller::for_stream(cluster_triggers(events, writer, listed), reader)
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
        listed_watches.push(listed_rx);
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
            () = all_listed(listed_watches) => synced(),
            () = shutdown => {}
        }
    });
    join_all(loops).await;
}

/// The clusters' watch events, reflected into `writer` (the controller's store) and turned
/// into reconcile triggers; `listed` turns true once the first list is in the store.
///
/// Readiness is taken from the stream itself rather than from `Store::wait_until_ready`: that
/// waits on a one-shot channel that remembers a single waker, and the controller's runner
/// already waits on it, so a second waiter would leave one of the two asleep.
fn cluster_triggers(
    events: impl Stream<Item = watcher::Result<watcher::Event<RocketMQCluster>>> + Send + 'static,
    writer: Writer<RocketMQCluster>,
    listed: watch::Sender<bool>,
) -> impl Stream<Item = watcher::Result<RocketMQCluster>> + Send + 'static {
    events
        .reflect(writer)
        .inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) {
                listed.send_replace(true);
            }
        })
        .applied_objects()
}

/// Resolves once every watch has had its first list (or its stream is gone).
async fn all_listed(watches: Vec<watch::Receiver<bool>>) {
    for mut listed in watches {
        // An error means the stream was dropped (shutdown): nothing left to wait for.
        let _ = listed.wait_for(|listed| *listed).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::channel::mpsc;

    use super::*;
    use crate::types::RocketMQClusterSpec;

    fn cluster(name: &str) -> RocketMQCluster {
        let spec: RocketMQClusterSpec = serde_json::from_value(serde_json::json!({
            "image": "apogee:0.1.0",
            "broker": {"mode": "MultiMaster", "groups": 1, "storage": {"size": "1Gi"}},
        }))
        .expect("a valid spec");
        let mut cluster = RocketMQCluster::new(name, spec);
        cluster.metadata.namespace = Some("mq".into());
        cluster
    }

    /// Both the controller's runner (waiting on the store) and the readiness task (waiting
    /// on `listed`) wake when the first list completes, both having waited before it.
    #[tokio::test]
    async fn the_first_list_wakes_the_runner_and_readiness_alike() {
        let (reader, writer) = reflector::store::<RocketMQCluster>();
        let (listed, listed_rx) = watch::channel(false);
        let (events, source) = mpsc::unbounded();
        let mut triggers = Box::pin(cluster_triggers(source, writer, listed));
        let mut ready = tokio::spawn(all_listed(vec![listed_rx]));
        let mut runner = tokio::spawn(async move { reader.wait_until_ready().await.is_ok() });
        for event in [watcher::Event::Init, watcher::Event::InitApply(cluster("a"))] {
            events.unbounded_send(Ok(event)).expect("stream open");
        }
        let first = tokio::time::timeout(Duration::from_secs(10), triggers.next()).await;
        let first = first.expect("a trigger").expect("stream open").expect("no error");
        assert_eq!(first.metadata.name.as_deref(), Some("a"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !runner.is_finished(),
            "the list is not done: the runner still waits"
        );
        assert!(
            !ready.is_finished(),
            "the list is not done: readiness still waits"
        );

        events
            .unbounded_send(Ok(watcher::Event::InitDone))
            .expect("stream open");
        // Polling the stream handles InitDone, which triggers no reconcile itself.
        let next = tokio::time::timeout(Duration::from_millis(100), triggers.next()).await;
        assert!(next.is_err(), "InitDone triggers nothing: {next:?}");
        let runner = tokio::time::timeout(Duration::from_secs(10), &mut runner).await;
        assert!(matches!(runner, Ok(Ok(true))), "the runner's wait: {runner:?}");
        let ready = tokio::time::timeout(Duration::from_secs(10), &mut ready).await;
        assert!(matches!(ready, Ok(Ok(()))), "readiness never saw the first list");
    }
}
