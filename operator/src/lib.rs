//! The Apogee operator: the `RocketMQCluster` resource, the objects it becomes, and the
//! reconciler that keeps them so.
//!
//! ```text
//! types        RocketMQCluster (spec, status) ─▶ crd: CRD YAML with validation rules and columns
//! desired      RocketMQCluster ─▶ Deployment, StatefulSets, Services, ConfigMaps, PDBs (pure)
//! status       RocketMQCluster + observed pods ─▶ RocketMQClusterStatus (pure)
//! rollout      which broker pod restarts next, and when a step is done (pure)
//! storage      volume sizes and PVC growth (pure)
//! controller   the reconciler: apply, observe, restart, status, finalizer, events
//! broker_admin the brokers' admin API (read-only before a master restarts)
//! leader       Lease-based leader election
//! metrics/http the operator's /metrics, /healthz, /readyz
//! run          `apogee-operator run`: all of the above together
//! ```

pub mod broker_admin;
pub mod controller;
pub mod crd;
pub mod desired;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod ports;
pub mod rollout;
pub mod run;
pub mod scale_down;
pub mod status;
pub mod storage;
pub mod types;
pub mod yaml;

pub use types::{RocketMQCluster, RocketMQClusterSpec, RocketMQClusterStatus};
