//! Offset requests: QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15), GET_MAX_OFFSET (30),
//! GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32), SEARCH_OFFSET_BY_TIMESTAMP (29).

use super::{consumer_offsets::ConsumerOffsets, response};
use crate::{
    protocol::{ProtocolError, RemotingCommand, code::request, code::response as codes},
    store::{MessageStore, query},
};

/// Answers one of the offset requests; `None` for any other code.
pub fn handle(
    req: &RemotingCommand,
    store: &MessageStore,
    offsets: &ConsumerOffsets,
) -> Option<RemotingCommand> {
    let answer = match req.code {
        request::QUERY_CONSUMER_OFFSET => query_consumer_offset(req, store, offsets),
        request::UPDATE_CONSUMER_OFFSET => update_consumer_offset(req, offsets),
        request::GET_MAX_OFFSET => queue(req).map(|(t, q)| ok_offset(req, store.max_offset(&t, q))),
        request::GET_MIN_OFFSET => queue(req).map(|(t, q)| ok_offset(req, store.min_offset(&t, q))),
        request::GET_EARLIEST_MSG_STORETIME => queue(req).map(|(t, q)| earliest(req, store, &t, q)),
        request::SEARCH_OFFSET_BY_TIMESTAMP => queue(req).and_then(|(t, q)| {
            let timestamp: i64 = req.required("timestamp")?;
            Ok(ok_offset(req, store.offset_by_time(&t, q, timestamp)))
        }),
        _ => return None,
    };
    Some(answer.unwrap_or_else(|err| response::from_protocol(req, &err)))
}

fn queue(req: &RemotingCommand) -> Result<(String, i32), ProtocolError> {
    Ok((req.required("topic")?, req.required("queueId")?))
}

fn ok_offset(req: &RemotingCommand, offset: i64) -> RemotingCommand {
    RemotingCommand::response_to(req, codes::SUCCESS).with_field("offset", offset)
}

fn earliest(req: &RemotingCommand, store: &MessageStore, topic: &str, queue_id: i32) -> RemotingCommand {
    let min = store.min_offset(topic, queue_id);
    let got = store.get_messages(topic, queue_id, min, 1, usize::MAX, None);
    let timestamp = got
        .messages
        .first()
        .and_then(|m| query::view(m).ok())
        .map_or(-1, |v| v.store_timestamp);
    RemotingCommand::response_to(req, codes::SUCCESS).with_field("timestamp", timestamp)
}

/// Share of RAM the reference assumes the page cache holds (`accessMessageInMemoryMaxRatio`).
pub const IN_MEMORY_RATIO: f64 = 0.4;

/// Physical memory of the machine (8 GiB if it cannot be read).
pub fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .map_or(8 << 30, |kib| kib * 1024)
}

/// Whether the queue's first message is still "hot": the queue starts at 0 and its first record
/// lies within the part of the log the page cache is assumed to hold, as the reference estimates.
fn first_message_hot(store: &MessageStore, topic: &str, queue_id: i32) -> bool {
    if store.min_offset(topic, queue_id) > 0 {
        return false;
    }
    let got = store.get_messages(topic, queue_id, 0, 1, usize::MAX, None);
    got.messages.first().is_some_and(|first| {
        let behind = store.max_physical_offset().saturating_sub(first.offset());
        (behind as f64) < total_memory() as f64 * IN_MEMORY_RATIO
    })
}

/// A group that never committed on this queue gets QUERY_NOT_FOUND (22), and the client applies
/// its consume-from-where policy; except, as in the reference, when the queue's first message is
/// still hot: then 0, so a new group reads the whole (short) queue. `setZeroIfNotFound=false`
/// asks for 22 regardless.
fn query_consumer_offset(
    req: &RemotingCommand,
    store: &MessageStore,
    offsets: &ConsumerOffsets,
) -> Result<RemotingCommand, ProtocolError> {
    let group: String = req.required("consumerGroup")?;
    let (topic, queue_id) = queue(req)?;
    if let Some(offset) = offsets.query(&group, &topic, queue_id) {
        return Ok(ok_offset(req, offset));
    }
    let zero_if_not_found = req.optional::<bool>("setZeroIfNotFound")?.unwrap_or(true);
    if zero_if_not_found && first_message_hot(store, &topic, queue_id) {
        return Ok(ok_offset(req, 0));
    }
    Ok(response::refuse(
        req,
        codes::QUERY_NOT_FOUND,
        "Not found, maybe this group consumer boot first",
    ))
}

fn update_consumer_offset(
    req: &RemotingCommand,
    offsets: &ConsumerOffsets,
) -> Result<RemotingCommand, ProtocolError> {
    let group: String = req.required("consumerGroup")?;
    let (topic, queue_id) = queue(req)?;
    let offset: i64 = req.required("commitOffset")?;
    offsets.commit(&group, &topic, queue_id, offset);
    Ok(RemotingCommand::response_to(req, codes::SUCCESS))
}
