//! PULL_MESSAGE (11): read a queue from an offset with a TAG filter, commit the consumer's
//! offset when asked, and hold the request (long polling) while there is nothing new. A group
//! that does not post its subscription is served what its heartbeats said, unless it consumes
//! in broadcasting mode and its subscription group forbids that.

use std::{collections::HashSet, time::Duration};

use bytes::{BufMut, BytesMut};

use super::{
    clients::GroupSubscription,
    consumer_offsets::ConsumerOffsets,
    response,
    topics::{PERM_READ, TopicTable},
};
use crate::{
    protocol::{ProtocolError, RemotingCommand, code::response as codes},
    store::{GetResult, GetStatus, MessageStore, properties},
};

/// Pull sys-flag bits.
pub mod flag {
    /// The request carries an offset to commit.
    pub const COMMIT_OFFSET: i32 = 1;
    /// Hold the request while there is nothing new.
    pub const SUSPEND: i32 = 1 << 1;
    /// The request carries its subscription expression.
    pub const SUBSCRIPTION: i32 = 1 << 2;
}

/// `forbiddenType` of a refused pull's header: why it was refused (the reference's values).
pub mod forbidden {
    /// The subscription group has `consumeEnable=false`.
    pub const GROUP: i32 = 2;
    /// The group consumes in broadcasting mode and has `consumeBroadcastEnable=false`.
    pub const BROADCASTING_DISABLED: i32 = 4;
}

/// Most messages per pull when the data is in memory, as the reference caps it.
pub const MAX_MESSAGES: usize = 32;
/// Most bytes per pull.
pub const MAX_BYTES: usize = 256 * 1024;

/// A TAG subscription: `*` (or empty) matches everything; `A || B` matches those tags' hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// Every message.
    All,
    /// Messages whose tag hash is in the set.
    Codes(HashSet<i64>),
}

impl TagFilter {
    /// Parses a TAG expression.
    pub fn parse(expression: &str) -> Self {
        let trimmed = expression.trim();
        if trimmed.is_empty() || trimmed == "*" {
            return Self::All;
        }
        Self::Codes(
            trimmed
                .split("||")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| properties::tags_code(Some(t)))
                .collect(),
        )
    }

    /// Whether an entry with this tag code passes.
    pub fn accepts(&self, tags_code: i64) -> bool {
        match self {
            Self::All => true,
            Self::Codes(codes) => codes.contains(&tags_code),
        }
    }
}

/// The store status name the reference puts in the remark.
fn status_name(status: GetStatus) -> &'static str {
    match status {
        GetStatus::Found => "FOUND",
        GetStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
        GetStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
        GetStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
        GetStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
        GetStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
        GetStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
        GetStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
    }
}

/// Response code and next offset for a read, per the reference's table.
pub fn outcome(result: &GetResult, requested: i64) -> (i32, i64) {
    match result.status {
        GetStatus::Found => (codes::SUCCESS, result.next_offset),
        GetStatus::NoMatchedMessage => (codes::PULL_RETRY_IMMEDIATELY, result.next_offset),
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue => (
            if requested == 0 {
                codes::PULL_NOT_FOUND
            } else {
                codes::PULL_OFFSET_MOVED
            },
            0,
        ),
        GetStatus::OffsetTooSmall | GetStatus::OffsetOverflowBadly => {
            (codes::PULL_OFFSET_MOVED, result.next_offset)
        }
        GetStatus::OffsetOverflowOne | GetStatus::OffsetFoundNull => {
            (codes::PULL_NOT_FOUND, result.next_offset)
        }
    }
}

/// The parsed request.
#[derive(Debug, Clone)]
struct PullHeader {
    group: String,
    topic: String,
    queue_id: i32,
    offset: i64,
    max: usize,
    sys_flag: i32,
    commit_offset: i64,
    suspend: Duration,
    subscription: Option<String>,
    max_bytes: usize,
}

impl PullHeader {
    fn parse(req: &RemotingCommand) -> Result<Self, ProtocolError> {
        Ok(Self {
            group: req.required("consumerGroup")?,
            topic: req.required("topic")?,
            queue_id: req.required("queueId")?,
            offset: req.required("queueOffset")?,
            max: req.required::<usize>("maxMsgNums")?.clamp(1, MAX_MESSAGES),
            sys_flag: req.required("sysFlag")?,
            commit_offset: req.required("commitOffset")?,
            suspend: Duration::from_millis(req.required("suspendTimeoutMillis")?),
            subscription: req.optional("subscription")?,
            max_bytes: req
                .optional::<usize>("maxMsgBytes")?
                .unwrap_or(MAX_BYTES)
                .clamp(1, MAX_BYTES),
        })
    }
}

/// What the pull path reads and writes.
#[derive(Debug, Clone, Copy)]
pub struct PullContext<'a> {
    /// The store.
    pub store: &'a MessageStore,
    /// Topics.
    pub topics: &'a TopicTable,
    /// Committed offsets.
    pub offsets: &'a ConsumerOffsets,
    /// Longest hold, below the clients' RPC timeout.
    pub max_suspend: Duration,
    /// The pulling group's `consumeBroadcastEnable`.
    pub consume_broadcast_enable: bool,
}

/// The filter of a pull that relies on its group's heartbeats, with the reference's checks in
/// its order: a group online, broadcasting allowed if it broadcasts, the topic subscribed.
/// Pulls that post their subscription are not checked for broadcasting, as in the reference.
fn heartbeat_filter(
    req: &RemotingCommand,
    header: &PullHeader,
    ctx: PullContext<'_>,
    heartbeats_of: impl Fn(&str, &str) -> Option<GroupSubscription>,
) -> Result<TagFilter, RemotingCommand> {
    let Some(group) = heartbeats_of(&header.group, &header.topic) else {
        let remark = format!("the consumer's group info not exist, group: {}", header.group);
        return Err(response::refuse(req, codes::SUBSCRIPTION_NOT_EXIST, remark));
    };
    if group.broadcasting && !ctx.consume_broadcast_enable {
        let remark = format!(
            "the consumer group[{}] can not consume by broadcast way",
            header.group
        );
        return Err(response::refuse(req, codes::NO_PERMISSION, remark)
            .with_field("forbiddenType", forbidden::BROADCASTING_DISABLED));
    }
    match group.subscription {
        Some(subscription) => Ok(TagFilter::parse(&subscription.sub_string)),
        None => {
            let remark = format!("the consumer's subscription not exist, group: {}", header.group);
            Err(response::refuse(req, codes::SUBSCRIPTION_NOT_EXIST, remark))
        }
    }
}

/// Handles a pull. `heartbeats_of(group, topic)` tells what the heartbeats of consumers that do
/// not post their subscription said (`None`: no member online, which answers
/// SUBSCRIPTION_NOT_EXIST, as the reference does before the first heartbeat).
pub async fn handle(
    req: &RemotingCommand,
    ctx: PullContext<'_>,
    heartbeats_of: impl Fn(&str, &str) -> Option<GroupSubscription>,
) -> RemotingCommand {
    let header = match PullHeader::parse(req) {
        Ok(h) => h,
        Err(err) => return response::from_protocol(req, &err),
    };
    let Some(topic) = ctx.topics.get(&header.topic) else {
        return response::refuse(
            req,
            codes::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", header.topic),
        );
    };
    if topic.perm & PERM_READ == 0 {
        return response::refuse(
            req,
            codes::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", header.topic),
        );
    }
    if header.queue_id < 0 || header.queue_id >= topic.read_queue_nums {
        let remark = format!(
            "queueId[{}] is illegal, topic has {} read queues",
            header.queue_id, topic.read_queue_nums
        );
        return response::refuse(req, codes::INVALID_PARAMETER, remark);
    }
    let filter = if header.sys_flag & flag::SUBSCRIPTION != 0 {
        TagFilter::parse(header.subscription.as_deref().unwrap_or("*"))
    } else {
        match heartbeat_filter(req, &header, ctx, heartbeats_of) {
            Ok(filter) => filter,
            Err(refusal) => return refusal,
        }
    };
    if header.sys_flag & flag::COMMIT_OFFSET != 0 && header.commit_offset >= 0 {
        ctx.offsets.commit(
            &header.group,
            &header.topic,
            header.queue_id,
            header.commit_offset,
        );
    }
    let read = || {
        let accept = |code: i64| filter.accepts(code);
        ctx.store.get_messages(
            &header.topic,
            header.queue_id,
            header.offset,
            header.max,
            header.max_bytes,
            Some(&accept),
        )
    };
    let mut result = read();
    let (mut code, _) = outcome(&result, header.offset);
    if code == codes::PULL_NOT_FOUND && header.sys_flag & flag::SUSPEND != 0 && !header.suspend.is_zero() {
        let hold = header.suspend.min(ctx.max_suspend);
        if ctx
            .store
            .wait_for_message(&header.topic, header.queue_id, header.offset, hold)
            .await
        {
            result = read();
        }
        code = outcome(&result, header.offset).0;
    }
    let (_, next) = outcome(&result, header.offset);
    let mut body = BytesMut::with_capacity(result.bytes());
    for message in &result.messages {
        body.put_slice(message);
    }
    RemotingCommand::response_to(req, code)
        .with_remark(status_name(result.status))
        .with_field("suggestWhichBrokerId", 0)
        .with_field("nextBeginOffset", next)
        .with_field("minOffset", result.min_offset)
        .with_field("maxOffset", result.max_offset)
        .with_body(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expressions() {
        assert_eq!(TagFilter::parse("*"), TagFilter::All);
        assert_eq!(TagFilter::parse(" "), TagFilter::All);
        let f = TagFilter::parse("TagA || TagB");
        assert!(f.accepts(properties::tags_code(Some("TagA"))));
        assert!(f.accepts(properties::tags_code(Some("TagB"))));
        assert!(!f.accepts(properties::tags_code(Some("TagC"))));
        assert!(!f.accepts(0), "untagged messages do not match a tag list");
    }
}
