//! The operator (`apogee_operator::run`, in-process) against a real control plane
//! (`apogee_e2e::control_plane`: etcd, kube-apiserver, controller manager, scheduler, kwok).
//! Each test has its own namespace and its own operator watching only it.
//!
//! kwok's pods run no process, so broker pods whose admin API a test needs are mapped to
//! real Apogee brokers on loopback (the operator's broker address map).
//!
//! Run just these: `cargo test -p apogee-e2e --test suite operator -- --nocapture`.

mod harness;
mod leader;
mod lifecycle;
mod monitors;
mod pause;
mod rollout;
mod scale;
