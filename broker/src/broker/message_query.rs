//! Looking messages up: VIEW_MESSAGE_BY_ID (33, by the physical offset an offsetMsgId encodes)
//! and QUERY_MESSAGE (12, by key, or by unique key when `_UNIQUE_KEY_QUERY` is set), both
//! answered with whole stored records, as the clients decode them.

use bytes::{BufMut, BytesMut};

use super::{context::BrokerContext, response};
use crate::{
    protocol::{ProtocolError, RemotingCommand, code::request, code::response as codes},
    store::SegmentSlice,
};

/// Most records one QUERY_MESSAGE returns (`defaultQueryMaxNum`).
pub const MAX_QUERY_RESULTS: usize = 64;

/// Answers one of this module's requests; `None` for any other code.
pub fn handle(ctx: &BrokerContext, req: &RemotingCommand) -> Option<RemotingCommand> {
    let answer = match req.code {
        request::VIEW_MESSAGE_BY_ID => view_by_offset(ctx, req),
        request::QUERY_MESSAGE => query(ctx, req),
        _ => return None,
    };
    Some(answer.unwrap_or_else(|err| response::from_protocol(req, &err)))
}

fn view_by_offset(ctx: &BrokerContext, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let offset: i64 = req.required("offset")?;
    let found = u64::try_from(offset)
        .ok()
        .and_then(|o| ctx.store.message_at(o).ok());
    Ok(match found {
        Some(slice) => RemotingCommand::response_to(req, codes::SUCCESS).with_body(slice.to_vec()),
        None => response::refuse(
            req,
            codes::SYSTEM_ERROR,
            format!("can not find message by the offset, {offset}"),
        ),
    })
}

fn query(ctx: &BrokerContext, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let topic: String = req.required("topic")?;
    let key: String = req.required("key")?;
    let max = req.required::<usize>("maxNum")?.clamp(1, MAX_QUERY_RESULTS);
    let begin: i64 = req.required("beginTimestamp")?;
    let end: i64 = req.required("endTimestamp")?;
    let unique = req.field("_UNIQUE_KEY_QUERY") == Some("true");
    let found: Vec<SegmentSlice> = if unique {
        ctx.store.query_by_unique_key(&topic, &key, max, begin, end)
    } else {
        ctx.store.query_by_key(&topic, &key, max, begin, end)
    };
    if found.is_empty() {
        return Ok(response::refuse(
            req,
            codes::QUERY_NOT_FOUND,
            "can not find message, maybe time range not correct",
        ));
    }
    let mut body = BytesMut::with_capacity(found.iter().map(|s| s.len()).sum());
    for slice in &found {
        body.put_slice(slice);
    }
    let newest = found
        .iter()
        .filter_map(|s| crate::store::query::view(s).ok().map(|v| v.store_timestamp))
        .max()
        .unwrap_or(0);
    Ok(RemotingCommand::response_to(req, codes::SUCCESS)
        .with_field("indexLastUpdateTimestamp", newest)
        .with_field("indexLastUpdatePhyoffset", ctx.store.dispatched_offset())
        .with_body(body.freeze()))
}
