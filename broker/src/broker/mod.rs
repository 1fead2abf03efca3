//! The Broker: what runs beside the store to serve producers, consumers and admin tools.
//!
//! ```text
//! runtime ─▶ listeners ─▶ router (one match on the request code)
//!              ├─ send, pull, offsets          messaging over the store
//!              ├─ membership ─▶ clients        heartbeats, groups, rebalance notifications
//!              ├─ admin, reports               topics and groups, runtime and queue stats
//!              └─ message_query                by offsetMsgId, key, unique key
//! runtime ─▶ registration (every NameServer), housekeeping (offsets, expiry, counters)
//! ```
//! `response` is the one place failures become response codes.

pub mod admin;
pub mod client_data;
pub mod clients;
pub mod consumer_offsets;
pub mod context;
pub mod delay_offsets;
pub mod error;
pub mod membership;
pub mod message_query;
pub mod offsets;
pub mod pull;
pub mod queue_locks;
pub mod registration;
pub mod reports;
pub mod response;
pub mod retry;
pub mod router;
pub mod runtime;
pub mod schedule;
pub mod send;
pub mod stats;
pub mod subscription_groups;
pub mod topics;
pub mod transaction_check;
pub mod transactions;

pub use error::BrokerError;
pub use runtime::{Listen, RunningBroker};
