//! Delivery of delayed messages. A message sent with delay level `L` waits in queue `L - 1` of
//! `SCHEDULE_TOPIC_XXXX`; each entry's tag code there is its delivery time. Every
//! [`TICK`] the scheduler walks each level's queue from its saved offset, re-puts every due
//! message to its REAL_TOPIC / REAL_QID (DELAY removed, everything else kept), and stops at the
//! first message not yet due: within a level, delivery times only grow.
//!
//! Only a master delivers; a slave's copy of the schedule queues is for failover.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use super::{context::BrokerContext, topics::SCHEDULE_TOPIC};
use crate::store::{
    clock,
    properties::{self, keys},
    query,
};

/// How often due messages are looked for: the delivery error stays below it.
pub const TICK: Duration = Duration::from_millis(100);
/// How often delivery progress is saved (`flushDelayOffsetInterval`).
const PERSIST_INTERVAL: Duration = Duration::from_secs(10);
/// Entries read per step.
const BATCH: usize = 32;

/// Runs until `stop` turns true, then saves progress.
pub async fn run(ctx: Arc<BrokerContext>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut saved_at = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        for level in 1..=ctx.config.message_delay_level.len() {
            deliver_due(&ctx, i32::try_from(level).unwrap_or(i32::MAX)).await;
        }
        if saved_at.elapsed() >= PERSIST_INTERVAL {
            save(&ctx);
            saved_at = std::time::Instant::now();
        }
    }
    save(&ctx);
}

fn save(ctx: &BrokerContext) {
    if let Err(err) = ctx.delay_offsets.persist() {
        tracing::error!(%err, "persisting delay offsets failed");
    }
}

/// Delivers what is due on one level. Returns how many messages it delivered.
pub async fn deliver_due(ctx: &BrokerContext, level: i32) -> usize {
    let queue_id = level - 1;
    let delay = usize::try_from(queue_id)
        .ok()
        .and_then(|i| ctx.config.message_delay_level.get(i))
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut offset = ctx
        .delay_offsets
        .get(level)
        .max(ctx.store.min_offset(SCHEDULE_TOPIC, queue_id));
    let mut delivered = 0;
    loop {
        let got = ctx
            .store
            .get_messages(SCHEDULE_TOPIC, queue_id, offset, BATCH, usize::MAX, None);
        if got.messages.is_empty() {
            return delivered;
        }
        for (slice, queue_offset) in got.messages.iter().zip(&got.queue_offsets) {
            let Ok(view) = query::view(slice) else {
                // Unreadable records are skipped, not retried forever.
                tracing::warn!(level, queue_offset, "unreadable delayed message skipped");
                offset = queue_offset + 1;
                ctx.delay_offsets.set(level, offset);
                continue;
            };
            if view.store_timestamp.saturating_add(delay) > clock::now_millis() {
                return delivered;
            }
            let mut msg = view.to_message();
            let real_topic = properties::get(view.properties, keys::REAL_TOPIC);
            let real_queue = properties::get(view.properties, keys::REAL_QID).and_then(|q| q.parse().ok());
            let (Some(topic), Some(queue)) = (real_topic, real_queue) else {
                tracing::warn!(
                    level,
                    queue_offset,
                    "delayed message without REAL_TOPIC/REAL_QID skipped"
                );
                offset = queue_offset + 1;
                ctx.delay_offsets.set(level, offset);
                continue;
            };
            msg.topic = topic.to_owned();
            msg.queue_id = queue;
            msg.properties = properties::without(view.properties, keys::DELAY);
            if let Err(err) = ctx.store.put(msg).await {
                // Try again next tick; nothing is skipped.
                tracing::warn!(%err, level, queue_offset, "delivering a delayed message failed");
                return delivered;
            }
            ctx.stats.record_put(topic, 1, view.body.len() as u64);
            offset = queue_offset + 1;
            ctx.delay_offsets.set(level, offset);
            delivered += 1;
        }
        offset = offset.max(got.next_offset);
    }
}
