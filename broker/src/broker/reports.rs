//! What the broker reports about itself and its queues: GET_BROKER_RUNTIME_INFO (28),
//! GET_TOPIC_STATS_INFO (202), GET_CONSUME_STATS (208), the connection lists (203, 204) and the
//! topic/group cross-references (300, 343).
//!
//! TopicStatsTable and ConsumeStats are maps keyed by MessageQueue objects, which the reference
//! (fastjson) writes with JSON *objects* as keys. mqadmin only parses that form, so those two
//! bodies are written by hand here.

use std::{collections::BTreeSet, fmt::Write as _, time::Duration};

use super::{
    client_data::{ConsumerIdList, GroupList},
    context::BrokerContext,
    response,
    stats::tps_triplet,
};
use crate::{
    namesrv::route_data::{KvTable, TopicList, to_json},
    protocol::{ProtocolError, RemotingCommand, code::request, code::response as codes},
    store::{clock, query, retention},
};

/// The version name reported with the ordinal [`crate::protocol::command::APOGEE_VERSION`].
pub const VERSION_DESC: &str = "V5_3_1";

/// Answers one of this module's requests; `None` for any other code.
pub fn handle(ctx: &BrokerContext, req: &RemotingCommand) -> Option<RemotingCommand> {
    let answer = match req.code {
        request::GET_BROKER_RUNTIME_INFO => Ok(ok_body(req, to_json(&runtime_info(ctx)))),
        request::GET_TOPIC_STATS_INFO => topic_stats(ctx, req),
        request::GET_CONSUME_STATS => consume_stats(ctx, req),
        request::GET_CONSUMER_LIST_BY_GROUP => consumer_ids(ctx, req),
        request::GET_CONSUMER_CONNECTION_LIST => {
            req.required::<String>("consumerGroup")
                .map(|g| match ctx.clients.consumer_connection(&g) {
                    Some(c) => ok_body(req, to_json(&c)),
                    None => response::refuse(
                        req,
                        codes::CONSUMER_NOT_ONLINE,
                        format!("the consumer group[{g}] not online"),
                    ),
                })
        }
        request::GET_PRODUCER_CONNECTION_LIST => {
            req.required::<String>("producerGroup")
                .map(|g| match ctx.clients.producer_connection(&g) {
                    Some(c) => ok_body(req, to_json(&c)),
                    None => response::refuse(
                        req,
                        codes::SYSTEM_ERROR,
                        format!("the producer group[{g}] not exist"),
                    ),
                })
        }
        request::QUERY_TOPIC_CONSUME_BY_WHO => req.required::<String>("topic").map(|t| {
            let mut groups = ctx.clients.groups_subscribing(&t);
            groups.extend(ctx.offsets.groups_of_topic(&t));
            ok_body(req, to_json(&GroupList { group_list: groups }))
        }),
        request::QUERY_TOPICS_BY_CONSUMER => req.required::<String>("group").map(|g| {
            let mut topics: BTreeSet<String> = ctx.clients.topics_of(&g);
            topics.extend(ctx.offsets.topics_of_group(&g));
            ok_body(req, to_json(&TopicList { topic_list: topics }))
        }),
        _ => return None,
    };
    Some(answer.unwrap_or_else(|err| response::from_protocol(req, &err)))
}

fn ok_body(req: &RemotingCommand, body: Vec<u8>) -> RemotingCommand {
    RemotingCommand::response_to(req, codes::SUCCESS).with_body(body)
}

fn consumer_ids(ctx: &BrokerContext, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group: String = req.required("consumerGroup")?;
    let ids = ctx.clients.consumer_ids(&group);
    if ids.is_empty() {
        return Ok(response::refuse(
            req,
            codes::SYSTEM_ERROR,
            format!("no consumer for this group, {group}"),
        ));
    }
    Ok(ok_body(
        req,
        to_json(&ConsumerIdList {
            consumer_id_list: ids,
        }),
    ))
}

/// `[ d days, h hours, m minutes, s seconds ]`, the reference's uptime text.
fn uptime(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        s / 86_400,
        s % 86_400 / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// The KVTable mqadmin's clusterList and brokerStatus print. Numbers that mqadmin parses
/// outside its error handling (earliestMessageTimeStamp, commitLogDiskRatio) are always numeric.
pub fn runtime_info(ctx: &BrokerContext) -> KvTable {
    let store = &ctx.store;
    let stats = &ctx.stats;
    let day = stats.day_totals();
    let now = clock::now_millis();
    let disk_ratio = retention::disk_usage(&ctx.config.commit_log_dir())
        .or_else(|_| retention::disk_usage(ctx.store_root()))
        .unwrap_or(0.0);
    // -1 when the log is empty, as the reference reports it.
    let earliest = earliest_store_time(ctx).unwrap_or(-1);
    let mut t = KvTable::default();
    let mut put = |k: &str, v: String| {
        t.table.insert(k.to_owned(), v);
    };
    put("brokerVersionDesc", VERSION_DESC.into());
    put(
        "brokerVersion",
        crate::protocol::command::APOGEE_VERSION.to_string(),
    );
    put("brokerActive", "true".into());
    put("bootTimestamp", ctx.started_ms.to_string());
    put("runtime", uptime(now - ctx.started_ms));
    put(
        "msgPutTotalYesterdayMorning",
        day.put_yesterday_morning.to_string(),
    );
    put("msgPutTotalTodayMorning", day.put_today_morning.to_string());
    put("msgPutTotalTodayNow", stats.put_messages.total().to_string());
    put(
        "msgGetTotalYesterdayMorning",
        day.get_yesterday_morning.to_string(),
    );
    put("msgGetTotalTodayMorning", day.get_today_morning.to_string());
    put("msgGetTotalTodayNow", stats.got_messages.total().to_string());
    put("putTps", tps_triplet(&stats.put_messages));
    put("getTransferredTps", tps_triplet(&stats.got_messages));
    put("getTotalTps", tps_triplet(&stats.got_messages));
    // Requests run on their own tasks; there is no thread-pool queue to wait in.
    for k in [
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "queryThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "queryThreadPoolQueueHeadWaitTimeMills",
        "pageCacheLockTimeMills",
        "timerReadBehind",
        "timerOffsetBehind",
        "timerCongestNum",
    ] {
        put(k, "0".into());
    }
    put("timerEnqueueTps", "0.0".into());
    put("timerDequeueTps", "0.0".into());
    put("earliestMessageTimeStamp", earliest.to_string());
    put("commitLogDiskRatio", format!("{disk_ratio:.4}"));
    put("commitLogMinOffset", store.min_physical_offset().to_string());
    put("commitLogMaxOffset", store.max_physical_offset().to_string());
    put(
        "dispatchBehindBytes",
        store
            .max_physical_offset()
            .saturating_sub(store.dispatched_offset())
            .to_string(),
    );
    put(
        "remainHowManyDataToFlush",
        store
            .max_physical_offset()
            .saturating_sub(store.flushed_physical_offset())
            .to_string(),
    );
    put("storePathRootDir", ctx.store_root().display().to_string());
    put("brokerRole", ctx.config.broker_role.to_string());
    put("connectionCount", ctx.clients.connection_count().to_string());
    t
}

/// Store time of the oldest message still in the log.
fn earliest_store_time(ctx: &BrokerContext) -> Option<i64> {
    let slice = ctx.store.message_at(ctx.store.min_physical_offset()).ok()?;
    query::view(&slice).ok().map(|v| v.store_timestamp)
}

/// Store time of the message at `offset` of a queue.
fn store_time_at(ctx: &BrokerContext, topic: &str, queue_id: i32, offset: i64) -> i64 {
    if offset < 0 {
        return 0;
    }
    let got = ctx
        .store
        .get_messages(topic, queue_id, offset, 1, usize::MAX, None);
    got.messages
        .first()
        .and_then(|m| query::view(m).ok())
        .map_or(0, |v| v.store_timestamp)
}

/// `{"brokerName":"b","queueId":0,"topic":"t"}`.
fn message_queue_key(out: &mut String, broker: &str, topic: &str, queue_id: i32) {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let _ = write!(
        out,
        "{{\"brokerName\":{},\"queueId\":{queue_id},\"topic\":{}}}",
        quote(broker),
        quote(topic)
    );
}

fn topic_stats(ctx: &BrokerContext, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let topic: String = req.required("topic")?;
    let Some(config) = ctx.topics.get(&topic) else {
        return Ok(response::refuse(
            req,
            codes::TOPIC_NOT_EXIST,
            format!("topic[{topic}] not exist"),
        ));
    };
    let mut out = String::from("{\"offsetTable\":{");
    for queue_id in 0..config.write_queue_nums {
        if queue_id > 0 {
            out.push(',');
        }
        let (min, max) = (
            ctx.store.min_offset(&topic, queue_id),
            ctx.store.max_offset(&topic, queue_id),
        );
        message_queue_key(&mut out, &ctx.config.broker_name, &topic, queue_id);
        let last = if max > 0 {
            store_time_at(ctx, &topic, queue_id, max - 1)
        } else {
            0
        };
        let _ = write!(
            out,
            ":{{\"lastUpdateTimestamp\":{last},\"maxOffset\":{max},\"minOffset\":{min}}}"
        );
    }
    let tps = ctx.stats.topic(&topic).messages.rate(Duration::from_secs(60));
    let _ = write!(out, "}},\"topicPutTps\":{tps:.2}}}");
    Ok(ok_body(req, out.into_bytes()))
}

fn consume_stats(ctx: &BrokerContext, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group: String = req.required("consumerGroup")?;
    let mut topics: BTreeSet<String> = BTreeSet::new();
    match (
        req.optional::<String>("topic")?,
        req.optional::<String>("topicList")?,
    ) {
        (Some(t), _) if !t.is_empty() => {
            topics.insert(t);
        }
        (_, Some(list)) if !list.is_empty() => {
            topics.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            );
        }
        _ => {
            topics.extend(ctx.offsets.topics_of_group(&group));
            topics.extend(ctx.clients.topics_of(&group));
        }
    }
    let mut out = String::from("{\"offsetTable\":{");
    let mut first = true;
    for topic in &topics {
        let Some(config) = ctx.topics.get(topic) else {
            continue;
        };
        let committed = ctx.offsets.of(&group, topic);
        for queue_id in 0..config.write_queue_nums {
            if !first {
                out.push(',');
            }
            first = false;
            let broker_offset = ctx.store.max_offset(topic, queue_id);
            let consumer_offset = committed.get(&queue_id).copied().unwrap_or(0).max(0);
            let last = if consumer_offset > 0 {
                store_time_at(ctx, topic, queue_id, consumer_offset - 1)
            } else {
                0
            };
            message_queue_key(&mut out, &ctx.config.broker_name, topic, queue_id);
            let _ = write!(
                out,
                ":{{\"brokerOffset\":{broker_offset},\"consumerOffset\":{consumer_offset},\"lastTimestamp\":{last},\"pullOffset\":{consumer_offset}}}"
            );
        }
    }
    let tps = ctx.stats.group(&group).messages.rate(Duration::from_secs(60));
    let _ = write!(out, "}},\"consumeTps\":{tps:.2}}}");
    Ok(ok_body(req, out.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_text() {
        assert_eq!(uptime(90_061_000), "[ 1 days, 1 hours, 1 minutes, 1 seconds ]");
    }

    #[test]
    fn queue_keys_are_objects() {
        let mut out = String::new();
        message_queue_key(&mut out, "b\"x", "T", 3);
        assert_eq!(out, r#"{"brokerName":"b\"x","queueId":3,"topic":"T"}"#);
    }
}
