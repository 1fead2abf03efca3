//! The Broker: what runs beside the store to serve producers, consumers and admin tools.
//! So far: keeping the broker registered with every NameServer, and its topic table.

pub mod registration;
pub mod topics;
