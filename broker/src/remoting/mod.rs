//! Sockets for the remoting protocol: connections (either side), the accept loop, and their
//! errors. Frames and headers come from [`crate::protocol`]; what requests mean is the
//! handler's business.

pub mod connection;
pub mod error;
pub mod request_log;
pub mod server;

pub use connection::{Connection, ConnectionConfig, Handler, RefuseCallbacks, connect};
pub use error::RemotingError;
pub use server::Server;
