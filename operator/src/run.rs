//! `apogee-operator run`: the HTTP endpoint, leader election, then the controllers.
//!
//! ```text
//! serve /metrics /healthz /readyz ─▶ (leader election) standby: ready, not reconciling
//!   ─▶ leader: controllers start; ready once their watches synced
//!   ─▶ shutdown signal: controllers finish in-flight reconciles, the Lease is released
//!   ─▶ lease lost: stop at once with an error (the Deployment restarts the process)
//! ```

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use kube::{
    Client,
    runtime::events::{Recorder, Reporter},
};
use tokio::sync::watch;

use crate::{
    broker_admin::{BrokerAddresses, BrokerAdmin},
    controller::{self, Context, FIELD_MANAGER, Requeue, WatchScope},
    http::{self, Readiness},
    leader::{Elector, LeaseConfig, LeaseLost},
    metrics::Metrics,
    rollout::Timeouts,
};

/// How long one broker admin call may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What `run` is asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Namespaces watched.
    pub scope: WatchScope,
    /// Leader election, or `None` to reconcile at once (a single replica).
    pub lease: Option<LeaseConfig>,
    /// This replica's name in Events and the Lease.
    pub identity: String,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub http_addr: SocketAddr,
    /// How broker pods are reached for admin calls.
    pub addresses: BrokerAddresses,
    /// Bounds of the restart waits.
    pub timeouts: Timeouts,
    /// Requeue periods.
    pub requeue: Requeue,
}

/// Why `run` stopped other than by a shutdown signal.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The HTTP endpoint could not bind.
    #[error("cannot serve HTTP on {addr}: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Leadership was lost: this replica must not reconcile any more.
    #[error(transparent)]
    LeaseLost(#[from] LeaseLost),
}

/// Runs until `shutdown` resolves (`Ok`) or the lease is lost (`Err`).
pub async fn run(
    client: Client,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let readiness = Arc::new(Readiness::default());
    let addr = options.http_addr;
    let bound = http::serve(addr, metrics.clone(), readiness.clone())
        .await
        .map_err(|source| RunError::Http { addr, source })?;
    tracing::info!(%bound, "serving /metrics, /healthz and /readyz");

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = {
        let rx = stop_rx.clone();
        move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        }
    };

    let mut elector = options
        .lease
        .clone()
        .map(|lease| Elector::new(client.clone(), lease));
    if let Some(elector) = elector.as_mut() {
        // A standby is ready: it serves, and takes over when the leader goes.
        readiness.set(true);
        tracing::info!(identity = %options.identity, "waiting for the leader lease");
        let retry = options
            .lease
            .as_ref()
            .map_or(Duration::from_secs(2), |l| l.duration / 5);
        tokio::select! {
            () = elector.acquire(retry) => {}
            () = stopped() => return Ok(()),
        }
        tracing::info!(identity = %options.identity, "leading");
    }
    metrics.set_leader(true);
    readiness.set(false);

    let reporter = Reporter {
        controller: FIELD_MANAGER.to_owned(),
        instance: Some(options.identity.clone()),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        Recorder::new(client, reporter),
        BrokerAdmin::new(options.addresses, ADMIN_TIMEOUT),
        metrics.clone(),
        options.timeouts,
        options.requeue,
    ));
    let synced = {
        let readiness = readiness.clone();
        move || readiness.set(true)
    };
    let controllers = controller::run(ctx, options.scope, shared(stopped), synced);
    let outcome = match elector.as_mut() {
        None => {
            controllers.await;
            Ok(())
        }
        Some(elector) => {
            let lost = tokio::select! {
                () = controllers => None,
                lost = elector.hold() => Some(lost),
            };
            match lost {
                Some(lost) => Err(RunError::LeaseLost(lost)),
                None => {
                    elector.release().await;
                    Ok(())
                }
            }
        }
    };
    metrics.set_leader(false);
    outcome
}

/// A cloneable, `Sync` future that resolves when `make()`'s futures do.
fn shared<F, Fut>(make: F) -> impl Future<Output = ()> + Send + Sync + Clone + 'static
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    use futures::FutureExt;
    let future: futures::future::BoxFuture<'static, ()> = make().boxed();
    future.shared()
}
