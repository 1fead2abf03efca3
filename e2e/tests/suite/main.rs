//! End-to-end suites: real processes, real files, real signals.

mod broker_probe;
mod control_plane;
mod go_client;
mod helm_chart;
mod java_client;
mod mqadmin;
mod mqadmin_broker;
mod mqadmin_runner;
mod operator;
mod prometheus;
mod reference_store;
mod rust_client;
mod scenario;
mod store_crash;
