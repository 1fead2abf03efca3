//! Transactions, the end of them: END_TRANSACTION (37) commits a half message (a copy goes to
//! its REAL_TOPIC / REAL_QID, marked COMMIT and pointing back at the half) or rolls it back
//! (nothing is delivered). Either way an op record (`RMQ_SYS_TRANS_OP_HALF_TOPIC`, tag `d`,
//! body = the half's queue offset) says the half is finished, so restarts and back-checks
//! neither lose it nor end it twice. Half messages are written by the send path; back-checks
//! of unfinished ones are [`super::transaction_check`]'s.

use std::{
    collections::BTreeSet,
    sync::{Mutex, MutexGuard, PoisonError},
};

use super::{
    context::BrokerContext,
    response,
    topics::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC},
};
use crate::{
    protocol::{ProtocolError, RemotingCommand, code::response as codes},
    store::{
        NewMessage, PutStatus, StoreError,
        properties::{self, keys},
        query,
        record::sys_flag,
    },
};

/// The system group whose "consumer offsets" record back-check progress on the half and op
/// queues, as the reference keeps them.
pub const PROGRESS_GROUP: &str = "CID_RMQ_SYS_TRANS";
/// Tag of op records.
pub const OP_TAG: &str = "d";

/// `commitOrRollback` values.
pub mod outcome {
    /// The producer does not know yet.
    pub const UNKNOWN: i32 = 0;
    /// Deliver the message.
    pub const COMMIT: i32 = 8;
    /// Discard the message.
    pub const ROLLBACK: i32 = 12;
}

/// Which halves are finished. The back-check walk passes a half only once it is finished:
/// ended by END_TRANSACTION, replaced by a copy under check, or discarded. So every half below
/// its progress (the floor) is finished, and only those above need remembering one by one.
///
/// The floor is what makes an answer that comes late harmless, across restarts too (the
/// progress is persisted): a repeated END_TRANSACTION, or the producer's own answer for a half
/// the walk has already copied, must not commit a second time when the copy's check is
/// answered. The reference commits such answers; here the copy's check decides.
#[derive(Debug, Default)]
pub struct TransactionLog {
    state: Mutex<Finished>,
}

#[derive(Debug, Default)]
struct Finished {
    floor: i64,
    above: BTreeSet<i64>,
}

impl TransactionLog {
    /// A log whose halves below `progress` (the persisted back-check progress) are finished.
    pub fn from_progress(progress: i64) -> Self {
        let log = Self::default();
        log.prune_below(progress);
        log
    }

    fn lock(&self) -> MutexGuard<'_, Finished> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a half as finished; false if it already was.
    pub fn finish(&self, half_offset: i64) -> bool {
        let mut state = self.lock();
        half_offset >= state.floor && state.above.insert(half_offset)
    }

    /// Undoes [`TransactionLog::finish`] when ending failed (the half stays open).
    pub fn release(&self, half_offset: i64) {
        self.lock().above.remove(&half_offset);
    }

    /// Whether a half is finished.
    pub fn is_finished(&self, half_offset: i64) -> bool {
        let state = self.lock();
        half_offset < state.floor || state.above.contains(&half_offset)
    }

    /// Raises the floor to `progress` (the back-check walked past everything below it for
    /// good) and forgets the offsets under it. The floor never goes down.
    pub fn prune_below(&self, progress: i64) {
        let mut state = self.lock();
        state.floor = state.floor.max(progress);
        let floor = state.floor;
        state.above = state.above.split_off(&floor);
    }
}

/// Writes the op record that finishes the half at `half_offset`.
pub async fn write_op(ctx: &BrokerContext, half_offset: i64) -> Result<(), StoreError> {
    let props = properties::encode([(keys::TAGS, OP_TAG)]);
    let mut op = NewMessage::new(
        TRANS_OP_HALF_TOPIC,
        0,
        half_offset.to_string().into_bytes(),
        props,
    );
    op.store_host = ctx.send.store_host;
    op.born_host = ctx.send.store_host;
    ctx.store.put(op).await.map(|_| ())
}

/// Handles END_TRANSACTION. The request is usually oneway: the answer only matters to clients
/// that ask for one, but failures are logged by the router either way.
pub async fn end(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    match end_inner(ctx, req).await {
        Ok(reply) => reply,
        Err(err) => response::from_protocol(req, &err),
    }
}

async fn end_inner(ctx: &BrokerContext, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let _group: String = req.required("producerGroup")?;
    let half_offset: i64 = req.required("tranStateTableOffset")?;
    let commit_log_offset: i64 = req.required("commitLogOffset")?;
    let decision: i32 = req.required("commitOrRollback")?;
    if decision == outcome::UNKNOWN {
        // Left for the back-check.
        return Ok(RemotingCommand::response_to(req, codes::SUCCESS));
    }
    if decision != outcome::COMMIT && decision != outcome::ROLLBACK {
        let remark = format!("commitOrRollback {decision} is neither 8 (commit) nor 12 (rollback)");
        return Ok(response::refuse(req, codes::ILLEGAL_OPERATION, remark));
    }
    // Claimed first, so two concurrent answers for one half cannot both commit it.
    if !ctx.transactions.finish(half_offset) {
        // A repeat (the first answer decided), or an answer for a half the back-check has
        // replaced by a copy (the answer to the copy's check decides).
        tracing::info!(
            half_offset,
            decision,
            "END_TRANSACTION for a finished half ignored"
        );
        return Ok(RemotingCommand::response_to(req, codes::SUCCESS));
    }
    let reply = finish_half(ctx, req, half_offset, commit_log_offset, decision).await;
    if reply.code != codes::SUCCESS {
        ctx.transactions.release(half_offset);
    }
    Ok(reply)
}

async fn finish_half(
    ctx: &BrokerContext,
    req: &RemotingCommand,
    half_offset: i64,
    commit_log_offset: i64,
    decision: i32,
) -> RemotingCommand {
    let found = u64::try_from(commit_log_offset)
        .ok()
        .and_then(|o| ctx.store.message_at(o).ok());
    let Some(slice) = found else {
        let remark = format!("find prepared transaction message failed, offset {commit_log_offset}");
        return response::refuse(req, codes::SYSTEM_ERROR, remark);
    };
    let Ok(view) = query::view(&slice) else {
        return response::refuse(req, codes::SYSTEM_ERROR, "unreadable half message");
    };
    if view.topic != TRANS_HALF_TOPIC || view.queue_offset != half_offset {
        let remark =
            format!("the message at offset {commit_log_offset} is not the half message {half_offset}");
        return response::refuse(req, codes::SYSTEM_ERROR, remark);
    }
    if decision == outcome::COMMIT {
        let mut msg = view.to_message();
        let real_topic = properties::get(view.properties, keys::REAL_TOPIC);
        let real_queue = properties::get(view.properties, keys::REAL_QID).and_then(|q| q.parse().ok());
        let (Some(topic), Some(queue)) = (real_topic, real_queue) else {
            return response::refuse(req, codes::SYSTEM_ERROR, "half message without REAL_TOPIC");
        };
        msg.topic = topic.to_owned();
        msg.queue_id = queue;
        let props = properties::without(view.properties, keys::REAL_TOPIC);
        msg.properties = properties::without(&props, keys::REAL_QID);
        msg.sys_flag = (view.sys_flag & !sys_flag::TRANSACTION_MASK) | sys_flag::TRANSACTION_COMMIT;
        msg.prepared_transaction_offset = commit_log_offset;
        match ctx.store.put(msg).await {
            Ok(put) if put.status == PutStatus::Ok => ctx.stats.record_put(topic, 1, view.body.len() as u64),
            Ok(_) => {}
            Err(err) => return response::from_store(req, &err),
        }
    }
    if let Err(err) = write_op(ctx, half_offset).await {
        return response::from_store(req, &err);
    }
    RemotingCommand::response_to(req, codes::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_offsets_are_remembered_until_pruned() {
        let log = TransactionLog::default();
        assert!(log.finish(3));
        assert!(!log.finish(3), "a second end is a repeat");
        assert!(log.finish(7));
        log.prune_below(5);
        assert!(log.is_finished(3) && log.is_finished(7));
        assert!(
            !log.finish(3),
            "below the floor a half was passed by the back-check: finished"
        );
        log.prune_below(2);
        assert!(log.is_finished(4), "the floor never goes down");
        assert!(!log.is_finished(8) && log.finish(8));
        let restarted = TransactionLog::from_progress(6);
        assert!(restarted.is_finished(5) && !restarted.finish(5));
        assert!(restarted.finish(6));
    }
}
