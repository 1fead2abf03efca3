//! Retries and dead letters. A consumer that fails a message sends it back
//! (CONSUMER_SEND_MSG_BACK, 36): the broker copies it into the group's retry topic
//! `%RETRY%<group>` behind a delay level (level `3 + reconsumeTimes` unless the consumer picked
//! one: 10 s, 30 s, 1 min, … 2 h), counting the reconsume. Once the group's max reconsume times
//! are used up (16 by default) the copy goes to `%DLQ%<group>` instead, undelayed, where it waits
//! for a human. Consumers that cannot send back re-send to the retry topic themselves; those
//! sends are redirected to the DLQ by the same rule ([`redirect_exhausted`]).

use super::{
    context::BrokerContext,
    response,
    send::schedule,
    subscription_groups::SubscriptionGroupConfig,
    topics::{PERM_READ, PERM_WRITE},
};
use crate::{
    namesrv::route_data::TopicConfig,
    protocol::{ProtocolError, RemotingCommand, code::request, code::response as codes},
    store::{
        PutStatus, StoreError,
        properties::{self, keys},
        query, record,
    },
};

/// Prefix of a group's retry topic.
pub const RETRY_PREFIX: &str = "%RETRY%";
/// Prefix of a group's dead-letter topic.
pub const DLQ_PREFIX: &str = "%DLQ%";
/// The first retry waits at this level (10 s); each retry waits one level longer.
const FIRST_RETRY_LEVEL: i32 = 3;

/// Creates `topic` with `queues` queues (read and write) if it does not exist. Returns whether
/// it was created (the caller re-registers so the route appears).
pub fn ensure_topic(ctx: &BrokerContext, topic: &str, queues: i32) -> Result<bool, StoreError> {
    if ctx.topics.get(topic).is_some() {
        return Ok(false);
    }
    ctx.topics.put(TopicConfig {
        topic_name: topic.to_owned(),
        read_queue_nums: queues.max(1),
        write_queue_nums: queues.max(1),
        perm: PERM_READ | PERM_WRITE,
        ..TopicConfig::default()
    })?;
    Ok(true)
}

/// The reconsume budget: the consumer's own setting when it sent one, else the group's.
fn max_reconsume_times(requested: Option<i32>, group: &SubscriptionGroupConfig) -> i32 {
    match requested {
        Some(max) if max >= 0 => max,
        _ => group.retry_max_times,
    }
}

/// Handles CONSUMER_SEND_MSG_BACK. Returns the answer and whether a topic was created.
pub async fn send_back(ctx: &BrokerContext, req: &RemotingCommand) -> (RemotingCommand, bool) {
    match send_back_inner(ctx, req).await {
        Ok(answer) => answer,
        Err(err) => (response::from_protocol(req, &err), false),
    }
}

async fn send_back_inner(
    ctx: &BrokerContext,
    req: &RemotingCommand,
) -> Result<(RemotingCommand, bool), ProtocolError> {
    let offset: i64 = req.required("offset")?;
    let group: String = req.required("group")?;
    let delay_level: i32 = req.required("delayLevel")?;
    let requested_max: Option<i32> = req.optional("maxReconsumeTimes")?;
    let config = match ctx.groups.find_or_create(&group) {
        Ok(Some(config)) => config,
        Ok(None) => {
            let remark = format!("subscription group not exist, {group}");
            return Ok((
                response::refuse(req, codes::SUBSCRIPTION_GROUP_NOT_EXIST, remark),
                false,
            ));
        }
        Err(err) => return Ok((response::from_store(req, &err), false)),
    };
    // A group without retry queues drops failed messages, as the reference does.
    if config.retry_queue_nums <= 0 {
        return Ok((RemotingCommand::response_to(req, codes::SUCCESS), false));
    }
    let found = u64::try_from(offset)
        .ok()
        .and_then(|o| ctx.store.message_at(o).ok());
    let Some(slice) = found else {
        let remark = format!("look message by offset failed, {offset}");
        return Ok((response::refuse(req, codes::SYSTEM_ERROR, remark), false));
    };
    let Ok(view) = query::view(&slice) else {
        let remark = format!("look message by offset failed, {offset}");
        return Ok((response::refuse(req, codes::SYSTEM_ERROR, remark), false));
    };
    let mut msg = view.to_message();
    let mut props = view.properties.to_owned();
    if properties::get(&props, keys::RETRY_TOPIC).is_none() {
        props = properties::with(&props, keys::RETRY_TOPIC, view.topic);
    }
    // The first failure names the stored original by its offsetMsgId; later retries keep it.
    // The client's `originMsgId` header is ignored, as the reference ignores it.
    if properties::get(view.properties, keys::ORIGIN_MESSAGE_ID).is_none() {
        let origin = record::offset_msg_id(view.store_host, view.physical_offset);
        props = properties::with(&props, keys::ORIGIN_MESSAGE_ID, &origin);
    }
    props = properties::without(&props, keys::DELAY);
    let max = max_reconsume_times(requested_max, &config);
    let exhausted = view.reconsume_times >= max || delay_level < 0;
    let (target, queues) = if exhausted {
        (format!("{DLQ_PREFIX}{group}"), 1)
    } else {
        (format!("{RETRY_PREFIX}{group}"), config.retry_queue_nums)
    };
    let created = match ensure_topic(ctx, &target, queues) {
        Ok(created) => created,
        Err(err) => return Ok((response::from_store(req, &err), false)),
    };
    msg.topic.clone_from(&target);
    // Spread over the retry queues; any queue will do.
    msg.queue_id = if exhausted {
        0
    } else {
        view.reconsume_times.rem_euclid(queues)
    };
    msg.properties = props;
    msg.reconsume_times = view.reconsume_times + 1;
    msg.store_host = ctx.send.store_host;
    if !exhausted {
        let level = if delay_level == 0 {
            FIRST_RETRY_LEVEL + view.reconsume_times
        } else {
            delay_level
        };
        schedule(&mut msg, level, ctx.send.delay_levels);
    }
    let reply = match ctx.store.put(msg).await {
        Ok(put) if put.status == PutStatus::Ok => {
            ctx.stats.record_put(&target, 1, view.body.len() as u64);
            RemotingCommand::response_to(req, codes::SUCCESS)
        }
        Ok(_) => response::refuse(req, codes::FLUSH_DISK_TIMEOUT, "flush disk timeout"),
        Err(err) => response::from_store(req, &err),
    };
    Ok((reply, created))
}

/// A plain send to a retry topic whose reconsume count is past the budget becomes a send to the
/// group's DLQ (queue 0, no delay), as the reference redirects it. Returns the rewritten request
/// and whether the DLQ topic was created, or `None` when the send goes where it was addressed.
pub fn redirect_exhausted(ctx: &BrokerContext, req: &RemotingCommand) -> Option<(RemotingCommand, bool)> {
    let short = req.code != request::SEND_MESSAGE;
    let name = |long: &'static str, letter: &'static str| if short { letter } else { long };
    let topic = req.field(name("topic", "b"))?;
    let group = topic.strip_prefix(RETRY_PREFIX)?;
    if req.code == request::SEND_BATCH_MESSAGE {
        return None;
    }
    let reconsume: i32 = req.field(name("reconsumeTimes", "j"))?.parse().ok()?;
    let requested_max = req
        .field(name("maxReconsumeTimes", "l"))
        .and_then(|m| m.parse().ok());
    let config = ctx.groups.find_or_create(group).ok().flatten()?;
    if reconsume <= max_reconsume_times(requested_max, &config) {
        return None;
    }
    let dlq = format!("{DLQ_PREFIX}{group}");
    let created = ensure_topic(ctx, &dlq, 1).ok()?;
    let props_key = name("properties", "i");
    let props = properties::without(req.field(props_key).unwrap_or_default(), keys::DELAY);
    let rewritten = req
        .clone()
        .with_field(name("topic", "b"), &dlq)
        .with_field(name("queueId", "e"), 0)
        .with_field(props_key, props);
    Some((rewritten, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_budget_wins_when_set() {
        let group = SubscriptionGroupConfig::default();
        assert_eq!(max_reconsume_times(Some(3), &group), 3);
        assert_eq!(max_reconsume_times(Some(-1), &group), 16);
        assert_eq!(max_reconsume_times(None, &group), 16);
    }
}
