//! Apogee's NameServer and Broker: Apache RocketMQ's wire protocols and storage engine in Rust.
//!
//! Module map (dependencies point downwards only):
//!
//! ```text
//! store        CommitLog, ConsumeQueue, IndexFile, flush, recovery, retention (no networking)
//! ```
//!
//! The remoting protocol, NameServer, broker handlers and replication land on top of `store`;
//! `store` never imports them.

pub mod store;
