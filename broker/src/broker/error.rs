//! Why a broker could not start.

use crate::{remoting::RemotingError, store::StoreError};

/// Start-up failures of a broker or a standalone node.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The store or a metadata file could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    /// A listener could not be bound.
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    /// The configuration cannot run as given.
    #[error("configuration: {0}")]
    Config(String),
}
