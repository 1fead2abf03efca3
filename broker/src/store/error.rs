//! The store's error type: every failure names the file or key involved.

use std::{io, path::PathBuf};

use super::record::RecordError;

/// Why the store refuses writes right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotWritable {
    /// Disk usage is above `diskSpaceWarningLevelRatio`.
    DiskFull,
    /// A flush failed: data may not have reached the disk, so nothing more is accepted.
    FlushFailed,
    /// Dispatch met a record it could not parse.
    DispatchFailed,
    /// The store is shutting down.
    ShuttingDown,
}

impl std::fmt::Display for NotWritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DiskFull => "disk usage above the warning level",
            Self::FlushFailed => "an earlier flush to disk failed",
            Self::DispatchFailed => "building consume queues failed",
            Self::ShuttingDown => "store is shutting down",
        })
    }
}

/// Errors of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A configuration value is invalid; `key` is RocketMQ's key name.
    #[error("invalid store config `{key}`: {reason}")]
    Config {
        /// The offending key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another process holds the store's lock file.
    #[error("store directory {0} is locked by another process")]
    Locked(PathBuf),
    /// On-disk data is damaged somewhere recovery must not cut.
    #[error("corrupted data in {path} at offset {offset}: {reason}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// Global (or file-relative, for non-log files) offset.
        offset: u64,
        /// What was found.
        reason: String,
    },
    /// The message cannot be stored as given.
    #[error("message rejected: {0}")]
    InvalidMessage(#[from] RecordError),
    /// A topic name that cannot be stored (empty, or would escape the queue directory).
    #[error("invalid topic name {0:?}")]
    InvalidTopic(String),
    /// A batch that is empty or mixes topics or queues.
    #[error("a batch must hold at least one message, all of one topic and queue")]
    InvalidBatch,
    /// The message (or batch) is larger than allowed.
    #[error("message of {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Writes are refused (the broker answers "service not available").
    #[error("store not writable: {0}")]
    NotWritable(NotWritable),
    /// No record at that physical offset.
    #[error("no message at physical offset {0}")]
    NoMessage(u64),
    /// Replicated data does not continue this log where it ends: the two logs have diverged.
    #[error("replicated data starts at {got} but this log ends at {expected}: {reason}")]
    Diverged {
        /// Where this log ends.
        expected: u64,
        /// Where the data claims to start.
        got: u64,
        /// Why it cannot be appended.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }
}
