//! The NameServer: brokers register their topics here, clients ask it for routes.
//!
//! ```text
//! REGISTER_BROKER ─▶ handler ─▶ route_table (groups, addresses, queues, liveness)
//! GET_ROUTEINFO_BY_TOPIC ─▶ handler ─▶ route_table::route ─▶ route_data (JSON body)
//! expiry scan (every scanNotActiveBrokerInterval) and closed connections ─▶ route_table
//! ```

pub mod handler;
pub mod kv_config;
pub mod route_data;
pub mod route_table;

pub use handler::NameServer;
