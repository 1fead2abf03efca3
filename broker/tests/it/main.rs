//! Broker integration tests: real files in temp directories, real threads, real processes.

mod bad_clients;
mod broker;
mod broker_permission;
mod faults;
mod ha_cluster;
mod ha_faults;
mod harness;
mod messaging;
mod messaging_delay;
mod messaging_group_settings;
mod messaging_retry;
mod messaging_transactions;
mod metrics;
mod metrics_replication;
mod namesrv;
mod process;
mod pull;
mod recovery;
mod registration;
mod remoting;
mod replication;
mod retention;
mod send;
mod store_api;
