//! The Apogee operator: the `RocketMQCluster` resource and the objects it becomes.
//!
//! ```text
//! types    RocketMQCluster (spec, status) ─▶ crd: CRD YAML with validation rules and columns
//! desired  RocketMQCluster ─▶ Deployment, StatefulSets, Services, ConfigMaps, PDBs (pure)
//! status   RocketMQCluster + observed pods ─▶ RocketMQClusterStatus (pure)
//! ```
//!
//! There is no control plane yet: nothing here talks to an API server. The reconciler will
//! render [`desired::build`], apply it with server-side apply, observe pods and write
//! [`status::derive`]'s result.

pub mod crd;
pub mod desired;
pub mod ports;
pub mod status;
pub mod types;
pub mod yaml;

pub use types::{RocketMQCluster, RocketMQClusterSpec, RocketMQClusterStatus};
