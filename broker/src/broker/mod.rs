//! The Broker: what runs beside the store to serve producers, consumers and admin tools.
//! So far: keeping the broker registered with every NameServer, its topic table and committed consumer offsets.

pub mod consumer_offsets;
pub mod registration;
pub mod topics;
