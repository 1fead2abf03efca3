//! Getting bytes to disk.
//!
//! - ASYNC_FLUSH: a thread flushes the CommitLog every `flushIntervalCommitLog` when at least
//!   `flushCommitLogLeastPages` are dirty, and everything at least every
//!   `flushCommitLogThoroughInterval`.
//! - SYNC_FLUSH (group commit): writers queue "flush up to N" requests; the thread takes every
//!   queued request, flushes once up to the current write position (which covers them all) and
//!   answers them together. While one flush runs, the next group gathers.
//! - A second thread flushes consume queues and the index, then records in the checkpoint the
//!   offset up to which log, queues and index are all on disk.

use std::{
    path::PathBuf,
    sync::{
        Arc, Condvar, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use super::{
    checkpoint::Checkpoint,
    commit_log::CommitLog,
    config::{FlushDiskType, StoreConfig},
    dispatch::Dispatcher,
    error::NotWritable,
    gate::WriteGate,
    index::Index,
    queue_table::QueueTable,
};

const PAGE: u64 = 4096;

#[derive(Debug, Default)]
struct Requests {
    waiting: Vec<(u64, oneshot::Sender<bool>)>,
    poke: bool,
    /// While the group-commit thread sleeps: how many waiting requests should wake it (0 while it
    /// is busy flushing, so writers then queue without a syscall).
    wake_at: usize,
}

/// The CommitLog flusher.
#[derive(Debug)]
pub struct Flusher {
    log: Arc<CommitLog>,
    gate: Arc<WriteGate>,
    mode: FlushDiskType,
    interval: Duration,
    least_bytes: u64,
    thorough: Duration,
    requests: Mutex<Requests>,
    wake: Condvar,
    stop: AtomicBool,
    dispatcher: Mutex<Option<Arc<Dispatcher>>>,
}

impl Flusher {
    /// A flusher for `log` configured by `config`.
    pub fn new(log: Arc<CommitLog>, gate: Arc<WriteGate>, config: &StoreConfig) -> Self {
        Self {
            log,
            gate,
            mode: config.flush_disk_type,
            interval: config.flush_interval,
            least_bytes: config.flush_least_pages as u64 * PAGE,
            thorough: config.flush_thorough_interval,
            requests: Mutex::default(),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            dispatcher: Mutex::new(None),
        }
    }

    /// The dispatcher to wake after each flush (it only reads flushed data under SYNC_FLUSH).
    pub fn set_dispatcher(&self, dispatcher: Arc<Dispatcher>) {
        *self.dispatcher.lock().unwrap_or_else(PoisonError::into_inner) = Some(dispatcher);
    }

    /// Queues a request to have everything below `end` on disk. The receiver gets `true` once it
    /// is, `false` if the flush failed.
    pub fn request(&self, end: u64) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        requests.waiting.push((end, tx));
        if requests.wake_at > 0 && requests.waiting.len() >= requests.wake_at {
            self.wake.notify_one();
        }
        rx
    }

    /// Wakes the thread without waiting for anything.
    pub fn poke(&self) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        requests.poke = true;
        self.wake.notify_one();
    }

    /// Makes the thread flush once more and exit.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.poke();
    }

    fn flush_now(&self) -> bool {
        match self.log.flush() {
            Ok(_) => {
                if let Some(d) = self
                    .dispatcher
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                {
                    d.wake();
                }
                true
            }
            Err(err) => {
                // After a failed fsync the kernel may have dropped the dirty pages: nothing more
                // can be promised durable, so stop accepting writes.
                tracing::error!(%err, "commit log flush failed; refusing further writes");
                self.gate.close(NotWritable::FlushFailed);
                false
            }
        }
    }

    /// The thread body.
    pub fn run(&self) {
        match self.mode {
            FlushDiskType::Sync => self.run_group_commit(),
            FlushDiskType::Async => self.run_periodic(),
        }
        self.flush_now();
    }

    fn run_group_commit(&self) {
        // Acknowledged writers come back one by one as their tasks are woken; flushing at the first
        // arrival would split a steady group of N writers into halves. So a group that was large
        // gets up to half a flush time (at most 2 ms) to reassemble; a lone writer never waits.
        let mut last_group = 0usize;
        let mut last_flush = Duration::ZERO;
        loop {
            let batch = {
                let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
                requests.wake_at = 1;
                while requests.waiting.is_empty() && !requests.poke && !self.stop.load(Ordering::Acquire) {
                    requests = self.wake.wait(requests).unwrap_or_else(PoisonError::into_inner);
                }
                requests.wake_at = last_group.max(1);
                let deadline = Instant::now() + (last_flush / 2).min(Duration::from_millis(2));
                while last_group > 1
                    && requests.waiting.len() < last_group
                    && !self.stop.load(Ordering::Acquire)
                {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    requests = self
                        .wake
                        .wait_timeout(requests, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                requests.poke = false;
                requests.wake_at = 0;
                std::mem::take(&mut requests.waiting)
            };
            last_group = batch.len();
            let started = Instant::now();
            let ok = self.flush_now();
            last_flush = started.elapsed();
            let flushed = self.log.flushed_offset();
            for (end, reply) in batch {
                let _ = reply.send(ok && flushed >= end);
            }
            if self.stop.load(Ordering::Acquire) {
                return;
            }
        }
    }

    fn run_periodic(&self) {
        let mut last_thorough = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            {
                let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
                let (mut requests, _) = self
                    .wake
                    .wait_timeout_while(requests, self.interval, |r| !r.poke)
                    .unwrap_or_else(PoisonError::into_inner);
                requests.poke = false;
                for (_, reply) in requests.waiting.drain(..) {
                    // Async mode never parks writers; answer anyone who asked anyway.
                    let _ = reply.send(true);
                }
            }
            let dirty = self.log.max_offset().saturating_sub(self.log.flushed_offset());
            let thorough = last_thorough.elapsed() >= self.thorough;
            if dirty >= self.least_bytes || (thorough && dirty > 0) {
                self.flush_now();
            }
            if thorough {
                last_thorough = Instant::now();
            }
        }
    }
}

/// Flushes consume queues, index and checkpoint.
#[derive(Debug)]
pub struct LogicFlusher {
    /// The log.
    pub log: Arc<CommitLog>,
    /// All queues.
    pub queues: Arc<QueueTable>,
    /// The index, when enabled.
    pub index: Option<Arc<Index>>,
    /// The dispatcher whose progress is checkpointed.
    pub dispatcher: Arc<Dispatcher>,
    /// Path of the checkpoint file.
    pub checkpoint: PathBuf,
    /// How often to run.
    pub interval: Duration,
    /// Stop request and its condition variable.
    pub stop: (Mutex<bool>, Condvar),
    /// Store time the last checkpoint vouched for.
    pub covered_timestamp: AtomicI64,
}

impl LogicFlusher {
    /// One round: flush queues and index, then checkpoint `min(dispatched, log flushed)`.
    pub fn flush_once(&self) -> Result<(), super::error::StoreError> {
        // Timestamp before offset: it then never belongs to a record past `dispatched`.
        let timestamp = self.dispatcher.last_store_timestamp();
        let dispatched = self.dispatcher.dispatched();
        for queue in self.queues.all() {
            queue.flush().map_err(super::error::StoreError::io(
                "flush consume queue",
                queue.topic().to_owned(),
            ))?;
        }
        if let Some(index) = &self.index {
            index.flush()?;
        }
        // The CommitLog flusher drops the log's flushed pages when it flushes; when nothing is
        // written it does not run, and pages that consumers read back would stay mapped.
        self.log.segments().release_flushed_pages();
        let recover_from = dispatched.min(self.log.flushed_offset());
        // The reference's recovery trusts these timestamps, so they must never claim more than
        // `recover_from` covers: when the log flush lags dispatch, keep the older value.
        let covered = if recover_from == dispatched {
            timestamp
        } else {
            self.covered_timestamp.load(Ordering::Acquire)
        };
        self.covered_timestamp.store(covered, Ordering::Release);
        let index_timestamp = self
            .index
            .as_ref()
            .map_or(covered, |i| i.sealed_end_timestamp().min(covered));
        Checkpoint {
            physic_msg_timestamp: covered,
            logics_msg_timestamp: covered,
            index_msg_timestamp: index_timestamp,
            recover_from: Some(recover_from),
            ..Checkpoint::default()
        }
        .write(&self.checkpoint)
    }

    /// Asks the thread to exit.
    pub fn stop(&self) {
        *self.stop.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.stop.1.notify_all();
    }

    /// The thread body.
    pub fn run(&self) {
        loop {
            {
                let stopped = self.stop.0.lock().unwrap_or_else(PoisonError::into_inner);
                let (stopped, _) = self
                    .stop
                    .1
                    .wait_timeout_while(stopped, self.interval, |s| !*s)
                    .unwrap_or_else(PoisonError::into_inner);
                if *stopped {
                    return;
                }
            }
            if let Err(err) = self.flush_once() {
                tracing::error!(%err, "flushing consume queues failed");
            }
        }
    }
}
