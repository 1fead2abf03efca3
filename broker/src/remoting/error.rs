//! Errors of the remoting layer.

use std::io;

use crate::protocol::ProtocolError;

/// Why a remote call or a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum RemotingError {
    /// Socket failure.
    #[error("{op} {peer}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The remote address.
        peer: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The peer sent bytes that are not a frame.
    #[error("bad frame from {peer}: {source}")]
    Protocol {
        /// The remote address.
        peer: String,
        /// What was wrong.
        #[source]
        source: ProtocolError,
    },
    /// No response within the deadline.
    #[error("no response from {peer} to request code {code} within {millis} ms")]
    Timeout {
        /// The remote address.
        peer: String,
        /// Request code.
        code: i32,
        /// Deadline.
        millis: u128,
    },
    /// The connection closed before the response arrived.
    #[error("connection to {0} closed")]
    Closed(String),
    /// The peer does not drain its responses (its bounded write queue stayed full).
    #[error("write queue to {0} is full")]
    Backpressure(String),
}
