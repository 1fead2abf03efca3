//! Configuration files in RocketMQ's own format and key names: `broker.conf` and
//! `namesrv.conf` (Java properties), loaded into typed, validated settings and written back.
//!
//! ```text
//! text ─▶ properties (JDK rules: separators, continuations, escapes; keys keep their line)
//!      ─▶ reader (known keys only, typed values; unknown keys refused with a suggestion)
//!      ─▶ BrokerConfig / NamesrvConfig ─▶ validate (ranges, cross-field rules)
//!      ─▶ errors located at `broker.conf:12` ─▶ BrokerConfig::store_config for the store
//! BrokerConfig::to_properties ─▶ text that RocketMQ and this module read back unchanged
//! ```
//!
//! Keys RocketMQ has and Apogee ignores are listed explicitly ([`broker::ACCEPTED_UNUSED_KEYS`],
//! [`broker::OFF_ONLY_KEYS`] and their name-server twins); everything else that is not a known
//! key is an error, because a mistyped key silently falling back to its default is the most
//! common way a RocketMQ deployment ends up not configured the way its file says.

pub mod broker;
mod broker_checks;
mod broker_keys;
mod broker_values;
pub mod env;
pub mod error;
pub mod namesrv;
pub mod properties;
mod reader;
mod values;

pub use broker::{BrokerConfig, BrokerRole, MetricsExporterType, NamesrvAddr};
pub use env::{ConfigEnv, FixedEnv, ProcessEnv};
pub use error::{ConfigError, Location};
pub use namesrv::NamesrvConfig;
pub use properties::Properties;
