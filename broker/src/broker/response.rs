//! The one place where failures become RocketMQ response codes and remarks.

use crate::{
    protocol::{ProtocolError, RemotingCommand, code::response},
    store::{NotWritable, StoreError},
};

/// Code and remark for a store failure, as the reference reports the same conditions.
pub fn store_error(err: &StoreError) -> (i32, String) {
    let code = match err {
        StoreError::NotWritable(NotWritable::ShuttingDown) => response::SERVICE_NOT_AVAILABLE,
        StoreError::NotWritable(_) => response::SERVICE_NOT_AVAILABLE,
        StoreError::MessageTooLarge { .. }
        | StoreError::InvalidMessage(_)
        | StoreError::InvalidTopic(_)
        | StoreError::InvalidBatch => response::MESSAGE_ILLEGAL,
        StoreError::NoMessage(_) => response::QUERY_NOT_FOUND,
        _ => response::SYSTEM_ERROR,
    };
    (code, err.to_string())
}

/// The response to `request` for a store failure.
pub fn from_store(request: &RemotingCommand, err: &StoreError) -> RemotingCommand {
    let (code, remark) = store_error(err);
    RemotingCommand::response_to(request, code).with_remark(remark)
}

/// The response to `request` for a malformed request (missing or invalid header fields, bad
/// bodies): the reference answers these with SYSTEM_ERROR and the parser's message.
pub fn from_protocol(request: &RemotingCommand, err: &ProtocolError) -> RemotingCommand {
    RemotingCommand::response_to(request, response::SYSTEM_ERROR).with_remark(err.to_string())
}

/// A refusal with a code and an explanation.
pub fn refuse(request: &RemotingCommand, code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_map_to_reference_codes() {
        assert_eq!(
            store_error(&StoreError::NotWritable(NotWritable::DiskFull)).0,
            response::SERVICE_NOT_AVAILABLE
        );
        assert_eq!(
            store_error(&StoreError::MessageTooLarge { size: 9, max: 1 }).0,
            response::MESSAGE_ILLEGAL
        );
        assert_eq!(
            store_error(&StoreError::InvalidBatch).0,
            response::MESSAGE_ILLEGAL
        );
        let io = StoreError::Io {
            op: "create segment",
            path: "/x".into(),
            source: std::io::Error::other("full"),
        };
        let (code, remark) = store_error(&io);
        assert_eq!(code, response::SYSTEM_ERROR);
        assert!(remark.contains("/x"));
    }
}
