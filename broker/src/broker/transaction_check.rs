//! Back-checks of unfinished transactions. Every `transactionCheckInterval` the master walks the
//! half queue from its saved progress:
//!
//! - a half with an op record (committed or rolled back) is passed;
//! - a half younger than `transactionTimeOut` stops the walk (the rest are younger still);
//! - a half checked `transactionCheckMax` times already is moved to
//!   `TRANS_CHECK_MAX_TIME_TOPIC` and finished, as the reference discards it;
//! - any other half is copied to the end of the half queue with its check count raised, and a
//!   live producer of its group is asked about the copy (CHECK_TRANSACTION_STATE, oneway); its
//!   END_TRANSACTION names the copy.
//!
//! Progress on the half and op queues is kept as offsets of the system group
//! [`PROGRESS_GROUP`] (persisted with the other consumer offsets), so a restart resumes the walk
//! and re-reads the op records it still needs.

use std::sync::Arc;

use tokio::sync::watch;

use super::{
    context::BrokerContext,
    retry::ensure_topic,
    topics::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC},
    transactions::{PROGRESS_GROUP, write_op},
};
use crate::{
    protocol::{RemotingCommand, code::request},
    store::{
        NewMessage, clock,
        properties::{self, keys},
        query,
        record::{self, RecordView},
    },
};

/// Where halves that were never resolved end up.
pub const CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Property counting the back-checks of a half.
const CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Entries read per step.
const BATCH: usize = 32;

/// Runs until `stop` turns true.
pub async fn run(ctx: Arc<BrokerContext>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(ctx.config.transaction_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        check_once(&ctx).await;
    }
}

/// Reads op records from the op progress on, marking their halves finished; advances the op
/// progress over records whose halves the walk has passed.
fn read_ops(ctx: &BrokerContext, half_progress: i64) {
    let start = ctx
        .offsets
        .query(PROGRESS_GROUP, TRANS_OP_HALF_TOPIC, 0)
        .unwrap_or(0);
    let mut offset = start.max(ctx.store.min_offset(TRANS_OP_HALF_TOPIC, 0));
    let mut passed = offset;
    let mut contiguous = true;
    loop {
        let got = ctx
            .store
            .get_messages(TRANS_OP_HALF_TOPIC, 0, offset, BATCH, usize::MAX, None);
        if got.messages.is_empty() {
            break;
        }
        for (slice, op_offset) in got.messages.iter().zip(&got.queue_offsets) {
            let halves: Vec<i64> = query::view(slice)
                .ok()
                .and_then(|v| std::str::from_utf8(v.body).ok().map(str::to_owned))
                .map(|text| text.split(',').filter_map(|o| o.trim().parse().ok()).collect())
                .unwrap_or_default();
            for half in &halves {
                ctx.transactions.finish(*half);
            }
            contiguous &= halves.iter().all(|h| *h < half_progress);
            if contiguous {
                passed = op_offset + 1;
            }
            offset = op_offset + 1;
        }
    }
    if passed != start {
        ctx.offsets.commit(PROGRESS_GROUP, TRANS_OP_HALF_TOPIC, 0, passed);
    }
}

/// One pass over the half queue. Returns how many halves were checked.
pub async fn check_once(ctx: &BrokerContext) -> usize {
    let mut progress = ctx
        .offsets
        .query(PROGRESS_GROUP, TRANS_HALF_TOPIC, 0)
        .unwrap_or(0)
        .max(ctx.store.min_offset(TRANS_HALF_TOPIC, 0));
    read_ops(ctx, progress);
    // Copies appended during this pass are for the next one.
    let end = ctx.store.max_offset(TRANS_HALF_TOPIC, 0);
    let timeout = i64::try_from(ctx.config.transaction_timeout.as_millis()).unwrap_or(i64::MAX);
    let mut checked = 0;
    'walk: while progress < end {
        let got = ctx
            .store
            .get_messages(TRANS_HALF_TOPIC, 0, progress, BATCH, usize::MAX, None);
        if got.messages.is_empty() {
            break;
        }
        for (slice, half_offset) in got.messages.iter().zip(&got.queue_offsets) {
            if *half_offset >= end {
                break 'walk;
            }
            if !ctx.transactions.is_finished(*half_offset) {
                let Ok(view) = query::view(slice) else {
                    progress = half_offset + 1;
                    continue;
                };
                if clock::now_millis().saturating_sub(view.store_timestamp) < timeout {
                    break 'walk;
                }
                if !check_half(ctx, &view).await {
                    // The store refused a write: try again next pass from here.
                    break 'walk;
                }
                checked += 1;
            }
            progress = half_offset + 1;
        }
    }
    ctx.offsets.commit(PROGRESS_GROUP, TRANS_HALF_TOPIC, 0, progress);
    ctx.transactions.prune_below(progress);
    checked
}

/// Discards or re-checks one unfinished half. False when a store write failed.
async fn check_half(ctx: &BrokerContext, view: &RecordView<'_>) -> bool {
    let checks: u32 = properties::get(view.properties, CHECK_TIMES)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Claimed before anything is written, so an END_TRANSACTION racing with this check either
    // ended the half first (it is skipped) or finds it finished (it is ignored): never both a
    // commit and a copy under check, or a commit of a discarded half.
    if !ctx.transactions.finish(view.queue_offset) {
        return true;
    }
    let mut copy = view.to_message();
    if checks >= ctx.config.transaction_check_max {
        tracing::warn!(
            half = view.queue_offset,
            checks,
            "transaction never resolved; discarded"
        );
        copy.topic = CHECK_MAX_TIME_TOPIC.to_owned();
        copy.queue_id = 0;
        let stored = match ensure_topic(ctx, CHECK_MAX_TIME_TOPIC, 1) {
            Ok(created) => {
                if created {
                    // Registered at once, as the reference does, so tools find the discards.
                    ctx.register_now.notify_one();
                }
                ctx.store.put(copy).await.is_ok()
            }
            Err(_) => false,
        };
        if !stored {
            ctx.transactions.release(view.queue_offset);
            return false;
        }
        // Discarded either way; without its op record a restart may discard it once more.
        return write_op(ctx, view.queue_offset).await.is_ok();
    }
    copy.properties = properties::with(view.properties, CHECK_TIMES, &(checks + 1).to_string());
    let appended = match ctx.store.put(copy.clone()).await {
        Ok(put) => put.appended.first().copied(),
        Err(_) => None,
    };
    let Some(appended) = appended else {
        ctx.transactions.release(view.queue_offset);
        return false;
    };
    // The copy replaces the original, which an op record finishes so a later pass skips it
    // (without it a restart may check the original once more: a second copy, not a loss).
    if write_op(ctx, view.queue_offset).await.is_err() {
        return false;
    }
    let group = properties::get(view.properties, keys::PRODUCER_GROUP).unwrap_or_default();
    let Some(producer) = ctx.clients.producer_of(group) else {
        tracing::info!(
            group,
            half = appended.queue_offset,
            "no producer online for a transaction check"
        );
        return true;
    };
    let request = check_request(ctx, &copy, appended.queue_offset, appended.physical_offset);
    tokio::spawn(async move {
        let _ = producer.oneway(request).await;
    });
    true
}

/// CHECK_TRANSACTION_STATE for the copy at (`half_offset`, `physical`): the body is the stored
/// record with its real topic and queue, as the client hands it to the producer's checker.
fn check_request(ctx: &BrokerContext, copy: &NewMessage, half_offset: i64, physical: u64) -> RemotingCommand {
    let mut shown = copy.clone();
    if let Some(topic) = properties::get(&copy.properties, keys::REAL_TOPIC) {
        shown.topic = topic.to_owned();
    }
    if let Some(queue) = properties::get(&copy.properties, keys::REAL_QID).and_then(|q| q.parse().ok()) {
        shown.queue_id = queue;
    }
    let mut body = Vec::new();
    if shown.encode_into(&mut body).is_ok() {
        record::patch(&mut body, half_offset, physical as i64, clock::now_millis());
    }
    let uniq = properties::get(&copy.properties, keys::UNIQ_KEY).unwrap_or_default();
    RemotingCommand::request(request::CHECK_TRANSACTION_STATE, 0)
        .with_field("topic", &shown.topic)
        .with_field("tranStateTableOffset", half_offset)
        .with_field("commitLogOffset", physical)
        .with_field("msgId", uniq)
        .with_field("transactionId", uniq)
        .with_field(
            "offsetMsgId",
            record::offset_msg_id(ctx.send.store_host, physical as i64),
        )
        .with_field("bname", &ctx.config.broker_name)
        .with_body(body)
}
