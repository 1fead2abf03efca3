//! Dispatch: tails the CommitLog and builds consume queues and the key index from it, then wakes
//! parked readers of the queues it appended to.
//!
//! It reads up to the flushed offset under SYNC_FLUSH (consumers see only durable data, as in
//! the reference) and up to the write position under ASYNC_FLUSH. Replaying records that are
//! already dispatched is harmless, which is what lets recovery restart it from a checkpoint.

use std::{
    collections::HashSet,
    sync::{
        Arc, Condvar, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use super::{
    arrival::Arrivals,
    commit_log::{CommitLog, QueueKey},
    consume_queue::QueueEntry,
    error::{NotWritable, StoreError},
    gate::WriteGate,
    index::{self, Index},
    properties::{self, KEY_SEPARATOR, keys},
    queue_table::QueueTable,
    record::{self, Entry, RecordView, sys_flag},
};

/// What dispatch reads from and writes to.
#[derive(Debug)]
pub struct DispatchParts {
    /// The log to tail.
    pub log: Arc<CommitLog>,
    /// Consume queues to build.
    pub queues: Arc<QueueTable>,
    /// The key index, when enabled.
    pub index: Option<Arc<Index>>,
    /// Parked readers to wake.
    pub arrivals: Arc<Arrivals>,
    /// Closed when dispatch fails.
    pub gate: Arc<WriteGate>,
    /// Delay of each level, in ms (schedule-queue entries carry their delivery time).
    pub delay_levels_ms: Vec<i64>,
}

/// The topic delayed messages wait in, one queue per delay level.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// The dispatcher's shared state.
#[derive(Debug)]
pub struct Dispatcher {
    log: Arc<CommitLog>,
    queues: Arc<QueueTable>,
    index: Option<Arc<Index>>,
    arrivals: Arc<Arrivals>,
    gate: Arc<WriteGate>,
    delay_levels_ms: Vec<i64>,
    only_flushed: bool,
    dispatched: AtomicU64,
    last_indexed: AtomicI64,
    last_store_timestamp: AtomicI64,
    pending: Mutex<bool>,
    wake: Condvar,
    idle: AtomicBool,
    stop: AtomicBool,
}

impl Dispatcher {
    /// A dispatcher that resumes at `from`, over a log recovered up to `log_end`.
    pub fn new(parts: DispatchParts, only_flushed: bool, from: u64, log_end: u64) -> Self {
        let DispatchParts {
            log,
            queues,
            index,
            arrivals,
            gate,
            delay_levels_ms,
        } = parts;
        // Index entries past the recovered end point at records that were cut; new records will
        // be written there and must be indexed again (stale entries are filtered by key checks).
        let last_indexed = index
            .as_ref()
            .and_then(|i| i.last_indexed())
            .unwrap_or(-1)
            .min(log_end as i64 - 1);
        Self {
            log,
            queues,
            index,
            arrivals,
            gate,
            delay_levels_ms,
            only_flushed,
            dispatched: AtomicU64::new(from),
            last_indexed: AtomicI64::new(last_indexed),
            last_store_timestamp: AtomicI64::new(0),
            pending: Mutex::new(false),
            wake: Condvar::new(),
            idle: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// CommitLog offset up to which everything is dispatched.
    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::Acquire)
    }

    /// Store time of the newest record covered by [`Dispatcher::dispatched`] when read before it.
    pub fn last_store_timestamp(&self) -> i64 {
        self.last_store_timestamp.load(Ordering::Acquire)
    }

    /// Bytes written but not yet dispatched.
    pub fn backlog(&self) -> u64 {
        self.log.max_offset().saturating_sub(self.dispatched())
    }

    /// Called after every append: wakes the thread only if it is (about to be) asleep, so a
    /// busy dispatcher costs writers no syscall.
    pub fn notify_append(&self) {
        // Orders the append's publication before reading `idle` (store-load: needs a full fence).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.idle.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    /// Continues from `offset` (a replica's log now starts there).
    pub fn reset_to(&self, offset: u64) {
        self.dispatched.store(offset, Ordering::Release);
        self.wake();
    }

    /// Asks the thread to run a round now.
    pub fn wake(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        *pending = true;
        self.wake.notify_one();
    }

    /// Makes the thread exit after its current round.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// The thread body: rounds until stopped, sleeping until woken (or 100 ms) when idle.
    pub fn run(&self) {
        while !self.stop.load(Ordering::Acquire) {
            let round = self.run_once();
            if round.is_ok() {
                // A transient failure (a full disk while creating a queue file) has passed.
                self.gate.open(NotWritable::DispatchFailed);
            }
            match round {
                Ok(0) => {
                    // Announce sleep, then look once more: a writer that appended before seeing
                    // `idle` is caught by this check, one that appended after it wakes us.
                    self.idle.store(true, Ordering::SeqCst);
                    if self.has_work() {
                        self.idle.store(false, Ordering::SeqCst);
                        continue;
                    }
                    let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                    let (mut pending, _) = self
                        .wake
                        .wait_timeout_while(pending, Duration::from_millis(100), |p| !*p)
                        .unwrap_or_else(PoisonError::into_inner);
                    *pending = false;
                    self.idle.store(false, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::error!(%err, "dispatch stopped; the store refuses writes");
                    self.gate.close(NotWritable::DispatchFailed);
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    fn readable_end(&self) -> u64 {
        if self.only_flushed {
            self.log.flushed_offset()
        } else {
            self.log.max_offset()
        }
    }

    fn has_work(&self) -> bool {
        self.readable_end() > self.dispatched()
    }

    /// Dispatches everything readable now. Returns how many records it handled.
    pub fn run_once(&self) -> Result<usize, StoreError> {
        let end = self.readable_end();
        let mut pos = self.dispatched().max(self.log.min_offset());
        let mut touched: HashSet<QueueKey> = HashSet::new();
        let mut handled = 0;
        let mut newest_timestamp = self.last_store_timestamp();
        while pos < end {
            let Some(segment) = self.log.segments().find(pos) else {
                break;
            };
            let rel = (pos - segment.start_offset()) as usize;
            let limit = segment.wrote().min((end - segment.start_offset()) as usize);
            let Some(bytes) = segment.read(rel, limit.saturating_sub(rel)) else {
                break;
            };
            match record::decode(bytes, false) {
                Ok(Entry::Message(view)) => {
                    if view.physical_offset as u64 != pos {
                        return Err(StoreError::Corrupted {
                            path: segment.path().to_path_buf(),
                            offset: pos,
                            reason: format!("record claims offset {}", view.physical_offset),
                        });
                    }
                    self.dispatch(&view, pos, &mut touched)?;
                    newest_timestamp = view.store_timestamp;
                    pos += view.total_size as u64;
                    handled += 1;
                }
                Ok(Entry::EndOfSegment) => pos = segment.start_offset() + segment.size() as u64,
                Ok(Entry::Unwritten) => break,
                Err(err) => {
                    return Err(StoreError::Corrupted {
                        path: segment.path().to_path_buf(),
                        offset: pos,
                        reason: err.to_string(),
                    });
                }
            }
            // Publish progress in steps so readers see data while a large backlog is replayed.
            if handled % 1024 == 0 {
                // Timestamp first: a reader taking it before the offset never gets a newer one.
                self.last_store_timestamp
                    .store(newest_timestamp, Ordering::Release);
                self.dispatched.store(pos, Ordering::Release);
                self.arrivals.notify(touched.iter());
                touched.clear();
            }
        }
        // Timestamp first: a reader taking it before the offset never gets a newer one.
        self.last_store_timestamp
            .store(newest_timestamp, Ordering::Release);
        self.dispatched.store(pos, Ordering::Release);
        self.arrivals.notify(touched.iter());
        Ok(handled)
    }

    fn dispatch(
        &self,
        view: &RecordView<'_>,
        pos: u64,
        touched: &mut HashSet<QueueKey>,
    ) -> Result<(), StoreError> {
        let tx = view.sys_flag & sys_flag::TRANSACTION_MASK;
        if !record::is_hidden_transaction_state(view.sys_flag) {
            let queue = self.queues.get_or_create(view.topic, view.queue_id);
            // A delayed message's tag code is its delivery time, as in the reference, so the
            // scheduler can tell from the queue alone what is due.
            let tags_code = if view.topic == SCHEDULE_TOPIC {
                let delay = usize::try_from(view.queue_id)
                    .ok()
                    .and_then(|level| self.delay_levels_ms.get(level))
                    .copied()
                    .unwrap_or(0);
                view.store_timestamp + delay
            } else {
                properties::tags_code(properties::get(view.properties, keys::TAGS))
            };
            let entry = QueueEntry {
                physical_offset: pos as i64,
                size: view.total_size as i32,
                tags_code,
            };
            queue.put(view.queue_offset, entry)?;
            touched.insert((view.topic.to_owned(), view.queue_id));
        }
        if let Some(index) = &self.index
            && tx != sys_flag::TRANSACTION_ROLLBACK
            && pos as i64 > self.last_indexed.load(Ordering::Acquire)
        {
            if let Some(uniq) = properties::get(view.properties, keys::UNIQ_KEY).filter(|k| !k.is_empty()) {
                index.put(&index::key(view.topic, uniq), pos as i64, view.store_timestamp)?;
            }
            if let Some(keys) = properties::get(view.properties, keys::KEYS) {
                for key in keys.split(KEY_SEPARATOR).filter(|k| !k.is_empty()) {
                    index.put(&index::key(view.topic, key), pos as i64, view.store_timestamp)?;
                }
            }
            self.last_indexed.store(pos as i64, Ordering::Release);
        }
        Ok(())
    }
}
