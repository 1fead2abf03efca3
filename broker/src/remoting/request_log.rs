//! One log line per failed request, the same on the NameServer and the Broker, so one query
//! over either's logs (`fields.client`, `fields.request`, `fields.code`) finds who asked what
//! and what they were told.

use std::net::SocketAddr;

use crate::protocol::{RemotingCommand, code::response as codes};

/// Response codes that are not failures: ordinary answers a client expects many of (an empty
/// long poll, a moved offset, a missing optional key or record, a group with no one online).
/// Logging them would drown the failures a client or operator should know about.
fn is_failure(code: i32) -> bool {
    !matches!(
        code,
        codes::SUCCESS
            | codes::PULL_NOT_FOUND
            | codes::PULL_RETRY_IMMEDIATELY
            | codes::PULL_OFFSET_MOVED
            | codes::QUERY_NOT_FOUND
            | codes::CONSUMER_NOT_ONLINE
    )
}

/// Logs `reply` to `request` from `client` when it is a failure; true when it logged.
pub fn log_failure(client: SocketAddr, request: &RemotingCommand, reply: &RemotingCommand) -> bool {
    if !is_failure(reply.code) {
        return false;
    }
    tracing::info!(
        client = %client,
        request = request.code,
        code = reply.code,
        remark = reply.remark.as_deref().unwrap_or(""),
        "request failed"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::code::request;

    #[test]
    fn ordinary_answers_are_not_failures() {
        let client: SocketAddr = "10.0.0.7:50123".parse().unwrap();
        let req = RemotingCommand::request(request::PULL_MESSAGE, 0);
        for quiet in [codes::SUCCESS, codes::PULL_NOT_FOUND, codes::QUERY_NOT_FOUND] {
            let reply = RemotingCommand::response_to(&req, quiet);
            assert!(!log_failure(client, &req, &reply), "code {quiet}");
        }
        for failed in [codes::SYSTEM_ERROR, codes::TOPIC_NOT_EXIST, codes::NO_PERMISSION] {
            let reply = RemotingCommand::response_to(&req, failed);
            assert!(log_failure(client, &req, &reply), "code {failed}");
        }
    }
}
