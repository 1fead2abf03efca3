//! The master's side: serves its CommitLog to every slave that connects to `haListenPort`.
//!
//! The slave's first report says where it is. An empty slave (report 0) gets everything the
//! master still has; any other report must be a point of this master's log (its end or a
//! record boundary before it), otherwise the slave's log diverged (for example the master was
//! restored from an older volume) and it is refused with an error on both sides' logs: the
//! master answers with a heartbeat carrying its own end, which a slave ahead of it recognises.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::BytesMut;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use super::wire;
use crate::broker::context::BrokerContext;

/// Most CommitLog bytes per transfer (`haTransferBatchSize`).
pub const TRANSFER_BATCH: usize = 32 * 1024;
/// A heartbeat goes out after this long without data (`haSendHeartbeatInterval`).
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A slave silent for this long is dropped (`haHousekeepingInterval`).
pub const SILENCE: Duration = Duration::from_secs(20);
/// How long an idle sender sleeps before looking for new data when nothing woke it.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// Accepts slaves until `stop` turns true.
pub async fn serve(listener: TcpListener, ctx: Arc<BrokerContext>, mut stop: watch::Receiver<bool>) {
    let ids = AtomicU64::new(1);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let id = ids.fetch_add(1, Ordering::Relaxed);
                let ctx = ctx.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    if let Err(reason) = follow(stream, peer, id, &ctx, stop).await {
                        tracing::warn!(slave = %peer, %reason, "slave connection ended");
                    }
                    ctx.replication.acks.disconnected(id);
                });
            }
            Err(err) => {
                tracing::warn!(%err, "HA accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Where to start sending for a slave that reported `reported`; `Err` refuses it.
fn start_point(ctx: &BrokerContext, reported: u64) -> Result<u64, String> {
    let store = &ctx.store;
    let (min, max) = (store.min_physical_offset(), store.max_physical_offset());
    if reported == 0 {
        return Ok(min);
    }
    if reported > max {
        return Err(format!(
            "the slave's log ends at {reported}, past this master's end {max}: the logs diverged \
             (was this master restored from an older volume?); wipe the slave's store to resync it"
        ));
    }
    if reported < min {
        return Err(format!(
            "the slave's log ends at {reported}, before this master's oldest data at {min}: \
             wipe the slave's store to resync it"
        ));
    }
    let boundary = reported == max
        || reported.is_multiple_of(store.config().commit_log_segment_size as u64)
        || store.message_at(reported).is_ok();
    if !boundary {
        return Err(format!(
            "the slave's log ends at {reported}, which is not a record boundary of this master's \
             log: the logs diverged; wipe the slave's store to resync it"
        ));
    }
    Ok(reported)
}

async fn follow(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    ctx: &BrokerContext,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = BytesMut::with_capacity(64);
    let first = tokio::time::timeout(SILENCE, async {
        loop {
            if let Some(offset) = wire::take_reports(&mut buf) {
                return Ok(offset);
            }
            match reader.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return Err("closed before reporting its offset".to_owned()),
                Ok(_) => {}
            }
        }
    })
    .await
    .map_err(|_| "no offset report".to_owned())??;
    let mut next = match start_point(ctx, first) {
        Ok(start) => start,
        Err(reason) => {
            tracing::error!(slave = %peer, %reason, "refusing a slave");
            let mut hb = BytesMut::new();
            wire::header(ctx.store.max_physical_offset(), 0, &mut hb);
            let _ = writer.write_all(&hb).await;
            return Err(reason);
        }
    };
    tracing::info!(slave = %peer, from = next, "slave connected");
    ctx.replication.acks.connected(id, peer, first);
    let reports = async {
        let mut last = Instant::now();
        loop {
            match tokio::time::timeout(SILENCE, reader.read_buf(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return "closed".to_owned(),
                Ok(Ok(_)) => {
                    if let Some(offset) = wire::take_reports(&mut buf) {
                        ctx.replication.acks.report(id, offset);
                        last = Instant::now();
                    }
                }
                Err(_) => return format!("silent for {:?}", last.elapsed()),
            }
        }
    };
    let sending = async {
        let mut frame = BytesMut::with_capacity(wire::HEADER_LEN + TRANSFER_BATCH);
        let mut last_sent = Instant::now();
        loop {
            frame.clear();
            // Armed before looking, so an append between the look and the wait still wakes us.
            let grew = ctx.log_grew.notified();
            tokio::pin!(grew);
            grew.as_mut().enable();
            match ctx.store.log_range(next, TRANSFER_BATCH) {
                Some(slice) => {
                    wire::header(next, slice.len(), &mut frame);
                    frame.extend_from_slice(&slice);
                    next += slice.len() as u64;
                }
                None if last_sent.elapsed() >= HEARTBEAT => wire::header(next, 0, &mut frame),
                None => {
                    let _ = tokio::time::timeout(IDLE_POLL, grew).await;
                    continue;
                }
            }
            if let Err(err) = writer.write_all(&frame).await {
                return format!("write failed: {err}");
            }
            last_sent = Instant::now();
        }
    };
    let reason = tokio::select! {
        r = reports => r,
        r = sending => r,
        _ = stop.wait_for(|s| *s) => "broker stopping".to_owned(),
    };
    Err(reason)
}
