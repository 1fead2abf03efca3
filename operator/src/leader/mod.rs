//! Leader election with a `coordination.k8s.io/v1` Lease, so that of several operator
//! replicas exactly one reconciles.
//!
//! - A standby reads the Lease every retry period and takes it once it has gone unrenewed for
//!   a lease duration ([`decision`]). Writes carry the read `resourceVersion`, so of two
//!   replicas racing for it one wins and the other gets a conflict.
//! - The leader renews every third of the duration. If it cannot renew within the renew
//!   deadline (two thirds of the duration), or finds another holder, it has lost the lease:
//!   [`Elector::hold`] returns and the process exits, so its Deployment restarts it as a
//!   standby; a replica never reconciles without the lease.
//! - On shutdown the leader releases the Lease (clears the holder) so a standby takes over at
//!   once.

pub mod decision;

use std::time::{Duration, Instant};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{Api, api::PostParams};

use decision::{Decision, Observed, Record};

/// Election settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's identity (its pod name, where known).
    pub identity: String,
    /// How long a lease lasts unrenewed.
    pub duration: Duration,
}

/// A replica taking part in the election.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

/// Why the leader stopped leading.
#[derive(Debug, thiserror::Error)]
pub enum LeaseLost {
    /// Another replica holds the Lease now.
    #[error("lease {0} is held by another replica")]
    TakenOver(String),
    /// It could not be renewed within the renew deadline.
    #[error("lease {name} not renewed within {deadline:?}: {last_error}")]
    NotRenewed {
        /// The Lease.
        name: String,
        /// The deadline.
        deadline: Duration,
        /// The last failure.
        last_error: String,
    },
}

impl Elector {
    /// An elector for `config` through `client`.
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    fn seconds(&self) -> i32 {
        i32::try_from(self.config.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// One round: read the Lease and renew or take it if this replica may. `Ok(true)` when
    /// this replica holds it afterwards.
    pub async fn try_lead(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(self.seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(err) => Err(err),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let record = Record {
            holder: spec.holder_identity.clone(),
            renew_time: spec.renew_time.as_ref().map(|t| t.0.to_string()),
        };
        let observed = Observed::note(self.observed.take(), record, Instant::now());
        let decision = decision::decide(
            &self.config.identity,
            &observed,
            self.config.duration,
            Instant::now(),
        );
        self.observed = Some(observed);
        let mut new_spec = spec.clone();
        match decision {
            Decision::Standby => return Ok(false),
            Decision::Renew => new_spec.renew_time = Some(now),
            Decision::Acquire => {
                new_spec.holder_identity = Some(self.config.identity.clone());
                new_spec.lease_duration_seconds = Some(self.seconds());
                new_spec.acquire_time = Some(now.clone());
                new_spec.renew_time = Some(now);
                new_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        lease.spec = Some(new_spec);
        // `replace` sends the resourceVersion read above: a concurrent writer makes it fail.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Waits until this replica leads, trying every `retry`.
    pub async fn acquire(&mut self, retry: Duration) {
        loop {
            match self.try_lead().await {
                Ok(true) => return,
                Ok(false) => tracing::debug!(lease = %self.config.name, "standing by"),
                Err(err) => tracing::warn!(lease = %self.config.name, %err, "cannot read or take the lease"),
            }
            tokio::time::sleep(retry).await;
        }
    }

    /// Renews every third of the lease duration; returns once the lease is lost.
    pub async fn hold(&mut self) -> LeaseLost {
        let period = self.config.duration / 3;
        let deadline = self.config.duration * 2 / 3;
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(period).await;
            match self.try_lead().await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => return LeaseLost::TakenOver(self.config.name.clone()),
                Err(err) if renewed.elapsed() >= deadline => {
                    return LeaseLost::NotRenewed {
                        name: self.config.name.clone(),
                        deadline,
                        last_error: err.to_string(),
                    };
                }
                Err(err) => tracing::warn!(lease = %self.config.name, %err, "renewal failed; retrying"),
            }
        }
    }

    /// Gives the lease up (clears the holder) if this replica holds it.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        if let Err(err) = self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(lease = %self.config.name, %err, "cannot release the lease");
        }
    }
}
