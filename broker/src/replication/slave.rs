//! The slave's side: follows the master's HA address (learned from the NameServer's answer to
//! its registration), reports its log end, and appends what arrives.
//!
//! Transfers may cut records anywhere (a reference master sends raw 32 KiB ranges), so the
//! bytes are reassembled here and only whole entries — records, or an end-of-segment marker
//! with its padding — reach the store, each checked (magic, CRC, offset) on the way in. Before
//! its first report the slave checks that the master holds its last record ([`consistency`]); a
//! master that does not, whose data does not continue this log, or that says its log ends
//! before ours, stops replication with an error instead of mixing two histories.

use std::{sync::Arc, time::Duration};

use bytes::{Buf, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
};

use super::{
    MAX_TRANSFER,
    consistency::{self, LastRecord, Verdict},
    master::SILENCE,
    wire,
};
use crate::{
    broker::context::BrokerContext,
    store::{
        StoreError,
        record::{BLANK_MAGIC, END_MARKER_LEN},
    },
};

/// How often the slave reports its offset while nothing arrives.
const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// Pause between connection attempts.
const RECONNECT: Duration = Duration::from_secs(1);

/// Why a session ended.
enum Ended {
    /// Try again (network trouble, master restart).
    Retry(String),
    /// Do not (the logs diverged).
    Refuse(String),
}

/// Follows the master until `stop` turns true.
pub async fn run(ctx: Arc<BrokerContext>, mut stop: watch::Receiver<bool>) {
    let mut last_record = None;
    loop {
        if ctx.replication.refusal().is_some() {
            let _ = stop.wait_for(|s| *s).await;
            return;
        }
        let session = async {
            let Some(ha) = ctx.replication.master().ha else {
                return Some(Ended::Retry("master not known yet".into()));
            };
            Some(
                match tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(&ha)).await {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        follow(stream, &ctx, &mut last_record).await
                    }
                    Ok(Err(err)) => Ended::Retry(format!("connect to {ha}: {err}")),
                    Err(_) => Ended::Retry(format!("connect to {ha}: timed out")),
                },
            )
        };
        let ended = tokio::select! {
            e = session => e,
            _ = stop.wait_for(|s| *s) => None,
        };
        ctx.replication.set_connected(false);
        let Some(ended) = ended else {
            return;
        };
        match ended {
            Ended::Refuse(reason) => ctx.replication.refuse(reason),
            Ended::Retry(reason) => {
                tracing::debug!(%reason, "replication session ended");
                tokio::select! {
                    () = tokio::time::sleep(RECONNECT) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }
}

/// The whole entries at the front of a reassembly buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Whole {
    /// Their length.
    len: usize,
    /// Where the last record among them starts, relative to the buffer (none when they are only
    /// an end-of-segment marker and its padding).
    last_record: Option<usize>,
}

/// The whole entries at the front of `pending` (which starts at global `offset`).
fn whole_entries(pending: &[u8], offset: u64, segment: u64, max_record: usize) -> Result<Whole, String> {
    let mut pos = 0;
    let mut last_record = None;
    while pending.len() - pos >= END_MARKER_LEN {
        let size = i32::from_be_bytes(pending[pos..pos + 4].try_into().unwrap_or_default());
        let magic = u32::from_be_bytes(pending[pos + 4..pos + 8].try_into().unwrap_or_default());
        let at = offset + pos as u64;
        let len = if magic == BLANK_MAGIC {
            usize::try_from(segment - at % segment).unwrap_or(usize::MAX)
        } else {
            match usize::try_from(size) {
                Ok(len) if (END_MARKER_LEN..=max_record).contains(&len) => len,
                _ => return Err(format!("the master sent a record of size {size} at {at}")),
            }
        };
        if pending.len() - pos < len {
            break;
        }
        if magic != BLANK_MAGIC {
            last_record = Some(pos);
        }
        pos += len;
    }
    Ok(Whole {
        len: pos,
        last_record,
    })
}

async fn follow(stream: TcpStream, ctx: &Arc<BrokerContext>, last_record: &mut Option<LastRecord>) -> Ended {
    let master = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let (mut reader, mut writer) = stream.into_split();
    let store = &ctx.store;
    let segment = store.config().commit_log_segment_size as u64;
    let max_record = store.config().max_message_size + 64 * 1024;
    // Checked on every session: a master that was away may come back with another history.
    match consistency::check(ctx, last_record).await {
        Verdict::Agree => {}
        Verdict::Diverged(reason) => return Ended::Refuse(reason),
        Verdict::Unknown(reason) => return Ended::Retry(reason),
    }
    if let Err(err) = writer.write_all(&wire::report(store.max_physical_offset())).await {
        return Ended::Retry(format!("report: {err}"));
    }
    tracing::info!(%master, from = store.max_physical_offset(), "replicating");
    ctx.replication.set_connected(true);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut pending = BytesMut::new();
    let mut pending_offset = store.max_physical_offset();
    let mut report_tick = tokio::time::interval(REPORT_INTERVAL);
    loop {
        tokio::select! {
            read = tokio::time::timeout(SILENCE, reader.read_buf(&mut buf)) => match read {
                Ok(Ok(0)) => return Ended::Retry("master closed the connection".into()),
                Ok(Err(err)) => return Ended::Retry(format!("read: {err}")),
                Err(_) => return Ended::Retry("master silent".into()),
                Ok(Ok(_)) => {}
            },
            _ = report_tick.tick() => {
                if let Err(err) = writer.write_all(&wire::report(store.max_physical_offset())).await {
                    return Ended::Retry(format!("report: {err}"));
                }
                continue;
            }
        }
        let mut appended = false;
        loop {
            let transfer = match wire::take_transfer(&mut buf, MAX_TRANSFER) {
                Ok(Some(t)) => t,
                Ok(None) => break,
                Err(err) => return Ended::Retry(format!("bad frame: {err}")),
            };
            let ours = pending_offset + pending.len() as u64;
            let fresh = store.max_physical_offset() == 0 && pending.is_empty();
            if transfer.data.is_empty() {
                // A heartbeat names where the master continues: anywhere but our end means the
                // master does not have our history (it refused us, or its log is shorter).
                if transfer.offset != ours && !fresh {
                    return Ended::Refuse(format!(
                        "the master continues at {} but this slave's log ends at {ours}: the logs \
                         diverged; wipe this slave's store to resync it",
                        transfer.offset
                    ));
                }
                continue;
            }
            if fresh && transfer.offset != ours {
                // An empty slave adopts the master's start; anything else is a gap.
                pending_offset = transfer.offset;
            } else if transfer.offset != ours {
                return Ended::Refuse(format!(
                    "the master sent data at {} where this slave expected {ours}",
                    transfer.offset
                ));
            }
            pending.extend_from_slice(&transfer.data);
            let whole = match whole_entries(&pending, pending_offset, segment, max_record) {
                Ok(w) => w,
                Err(reason) => return Ended::Refuse(reason),
            };
            if whole.len == 0 {
                continue;
            }
            match store.append_replicated(pending_offset, &pending[..whole.len]) {
                Ok(()) => {}
                Err(err @ StoreError::Diverged { .. }) => return Ended::Refuse(err.to_string()),
                Err(err) => return Ended::Retry(format!("append: {err}")),
            }
            // Keep the last record's place current, so that the next session need not walk.
            match (whole.last_record, last_record.as_mut()) {
                (Some(rel), _) => {
                    *last_record = Some(LastRecord {
                        start: pending_offset + rel as u64,
                        log_end: store.max_physical_offset(),
                    });
                }
                // Only a segment's padding: the last record stays, the log end moves.
                (None, Some(known)) if known.log_end == pending_offset => {
                    known.log_end = store.max_physical_offset();
                }
                (None, _) => {}
            }
            pending.advance(whole.len);
            pending_offset += whole.len as u64;
            appended = true;
        }
        if appended && let Err(err) = writer.write_all(&wire::report(store.max_physical_offset())).await {
            return Ended::Retry(format!("report: {err}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_entries_are_taken() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&100i32.to_be_bytes());
        bytes.extend_from_slice(&0xDAA3_20A7u32.to_be_bytes());
        bytes.resize(100, 1);
        let one = Whole {
            len: 100,
            last_record: Some(0),
        };
        assert_eq!(whole_entries(&bytes, 0, 4096, 1000).unwrap(), one);
        assert_eq!(
            whole_entries(&bytes[..99], 0, 4096, 1000).unwrap().len,
            0,
            "a cut record waits"
        );
        // An end marker at 4000 of a 4096-byte segment needs its 96 bytes of padding.
        let mut marker = Vec::new();
        marker.extend_from_slice(&96i32.to_be_bytes());
        marker.extend_from_slice(&BLANK_MAGIC.to_be_bytes());
        marker.resize(50, 0);
        assert_eq!(whole_entries(&marker, 4000, 4096, 1000).unwrap().len, 0);
        marker.resize(96, 0);
        let padding = Whole {
            len: 96,
            last_record: None,
        };
        assert_eq!(whole_entries(&marker, 4000, 4096, 1000).unwrap(), padding);
        let mut bogus = vec![0u8; 16];
        bogus[..4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(whole_entries(&bogus, 0, 4096, 1000).is_err());
    }
}
