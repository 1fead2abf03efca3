//! A slave's check, before it takes anything from its master, that the master's log holds the
//! slave's own last record, byte for byte.
//!
//! The classic HA wire cannot say it: a slave's only frame is its log end, and a master can
//! judge only that offset (it is its end, or a record starts there). A master restored from an
//! older volume and written again can have a record boundary — even its end — exactly where
//! the slave's log ends, with other records before it; streaming from there would append the
//! master's history to the slave's. (The reference's newer, controller-mode HA detects this by
//! exchanging epoch histories in a handshake; the classic wire has no handshake and no epochs.)
//!
//! So the slave asks over the master's ordinary remoting port, with VIEW_MESSAGE_BY_ID (what
//! `mqadmin queryMsgById` sends, answered by the reference and by us with the raw stored
//! record), for the record at the offset where its own last record starts. Two histories agree
//! up to the slave's end exactly when that record is the same: a record carries its own offset,
//! queue offset and store time, so the master's history, once it departs from the slave's,
//! never has the slave's last record at that offset again. Nothing changes on the HA wire, so
//! reference masters and slaves pair with ours as before.

use std::{sync::Arc, time::Duration};

use crate::{
    broker::context::BrokerContext,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{ConnectionConfig, RefuseCallbacks, connect},
};

/// Longest wait for the master's answer; a timeout means "try again", never "diverged".
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where a slave's last record is, remembered between sessions so that only the first check
/// after a start walks the log to find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastRecord {
    /// Offset of its first byte.
    pub start: u64,
    /// The log's end when it was the last record.
    pub log_end: u64,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The master has this slave's history (or the slave has none): replicate.
    Agree,
    /// It does not: replicating would mix two histories.
    Diverged(String),
    /// No answer to judge by (the master is unreachable or its address unknown): try later.
    Unknown(String),
}

/// Compares this slave's last record with the master's record at the same offset.
pub async fn check(ctx: &Arc<BrokerContext>, known: &mut Option<LastRecord>) -> Verdict {
    let end = ctx.store.max_physical_offset();
    let mine = match known.filter(|k| k.log_end == end) {
        Some(k) => ctx.store.message_at(k.start).ok(),
        // Walking a segment's records can read a whole cold segment from disk: not on a
        // runtime thread that serves connections.
        None => {
            let owned = ctx.clone();
            match tokio::task::spawn_blocking(move || owned.store.last_record()).await {
                Ok(found) => found,
                Err(err) => return Verdict::Unknown(format!("looking for the last record: {err}")),
            }
        }
    };
    let Some(mine) = mine else {
        return Verdict::Agree;
    };
    let at = mine.offset();
    *known = Some(LastRecord {
        start: at,
        log_end: end,
    });
    let Some(master) = ctx.replication.master().broker else {
        return Verdict::Unknown("the master's remoting address is not known yet".into());
    };
    let conn = match tokio::time::timeout(
        TIMEOUT,
        connect(&master, Arc::new(RefuseCallbacks), &ConnectionConfig::default()),
    )
    .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => return Verdict::Unknown(format!("connect to {master}: {err}")),
        Err(_) => return Verdict::Unknown(format!("connect to {master}: timed out")),
    };
    let ask = RemotingCommand::request(request::VIEW_MESSAGE_BY_ID, 0).with_field("offset", at);
    let reply = conn.request(ask, TIMEOUT).await;
    conn.close();
    let reply = match reply {
        Ok(reply) => reply,
        Err(err) => return Verdict::Unknown(format!("asking {master} for its record at {at}: {err}")),
    };
    judge(at, &mine, &reply)
}

/// The verdict on the master's answer about the record at `at`.
fn judge(at: u64, mine: &[u8], reply: &RemotingCommand) -> Verdict {
    match reply.code {
        response::SUCCESS if reply.body[..] == *mine => Verdict::Agree,
        response::SUCCESS => Verdict::Diverged(format!(
            "this slave's last record (at {at}, {} bytes) differs from the master's record at that \
             offset: the logs diverged (was the master restored from an older volume and written \
             again?); wipe this slave's store to resync it",
            mine.len()
        )),
        // What both we and the reference answer when no record starts at that offset.
        response::SYSTEM_ERROR => Verdict::Diverged(format!(
            "the master has no record at {at}, where this slave's last record starts ({}): the \
             logs diverged, or the master no longer keeps that data; wipe this slave's store to \
             resync it",
            reply.remark.as_deref().unwrap_or("no remark")
        )),
        code => Verdict::Unknown(format!(
            "the master answered {code} for its record at {at}: {:?}",
            reply.remark
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: i32, body: &[u8]) -> RemotingCommand {
        let req = RemotingCommand::request(request::VIEW_MESSAGE_BY_ID, 7);
        RemotingCommand::response_to(&req, code)
            .with_remark("can not find message by the offset, 100")
            .with_body(body.to_vec())
    }

    #[test]
    fn only_the_same_bytes_agree() {
        assert_eq!(
            judge(100, b"record", &answer(response::SUCCESS, b"record")),
            Verdict::Agree
        );
        let other = judge(100, b"record", &answer(response::SUCCESS, b"recorD"));
        assert!(
            matches!(&other, Verdict::Diverged(why) if why.contains("differs") && why.contains("at 100")),
            "{other:?}"
        );
        let missing = judge(100, b"record", &answer(response::SYSTEM_ERROR, b""));
        assert!(
            matches!(&missing, Verdict::Diverged(why) if why.contains("no record at 100")),
            "{missing:?}"
        );
        // Busy or any other answer says nothing about the logs.
        assert!(matches!(
            judge(100, b"record", &answer(response::SYSTEM_BUSY, b"")),
            Verdict::Unknown(_)
        ));
    }
}
