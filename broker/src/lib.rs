//! Apogee's NameServer and Broker: Apache RocketMQ's wire protocols and storage engine in Rust.
//!
//! Module map (dependencies point downwards only):
//!
//! ```text
//! broker       the Broker around the store: request router, send/pull, groups, admin, registration
//! config       broker.conf / namesrv.conf in RocketMQ's key names, validated (errors name the key)
//! metrics      Prometheus text format, the broker's /metrics page, health endpoints
//! namesrv      NameServer: route table, registration and expiry, KV config (over remoting)
//! protocol     sans-IO remoting codec: frames, RemotingCommand, JSON and ROCKETMQ headers, codes
//! replication  master/slave CommitLog replication (classic HA wire), sync acks, metadata sync
//! remoting     tokio connections and accept loop over protocol (bounded frames and write queues)
//! standalone   a NameServer and a Broker in one process (`apogee standalone`, e2e suites)
//! store        CommitLog, ConsumeQueue, IndexFile, flush, recovery, retention (no networking)
//! ```
//!
//! Replication lands on top of these; `store` and `protocol` never import each other or
//! anything above them.

pub mod broker;
pub mod config;
pub mod metrics;
pub mod namesrv;
pub mod protocol;
pub mod remoting;
pub mod replication;
pub mod standalone;
pub mod store;
