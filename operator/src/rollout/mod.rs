//! Ordered broker restarts, as pure decisions (the reconciler does the I/O):
//!
//! ```text
//! pods + what they should run ─▶ reason.rs: why a pod is out of date (config, image,
//!                                 template, manual restart)
//! out-of-date pods + readiness ─▶ plan.rs: the next pod to restart (one at a time, slaves
//!                                 first, only while every other pod is ready)
//! status.restart + what is seen ─▶ step.rs: drained? replaced? timed out?
//! ```
//!
//! A master is made read-only (`brokerPermission=4`) before its pod is deleted, so producers
//! move to other groups, and its slaves catch up before it goes; its replacement gets write
//! permission back once ready. Every wait is bounded.

pub mod plan;
pub mod reason;
pub mod step;

pub use plan::{Candidate, GroupPods, next_restart};
pub use reason::{Reason, Target, reason};
pub use step::{DrainSample, DrainVerdict, ReplacementVerdict, Timeouts, drain_verdict, replacement};
