//! The Broker: what runs beside the store to serve producers, consumers and admin tools.
//! So far: registration with every NameServer, the topic table, committed consumer offsets, the
//! send and pull paths, and the one mapping from failures to response codes.

pub mod consumer_offsets;
pub mod pull;
pub mod registration;
pub mod response;
pub mod send;
pub mod topics;
