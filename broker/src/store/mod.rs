//! The storage engine: RocketMQ's on-disk format (CommitLog, ConsumeQueue, IndexFile,
//! checkpoint, abort and config files) on memory-mapped files.
//!
//! ```text
//! put ─▶ record::encode (+CRC, outside the lock) ─▶ commit_log::append (lock: patch offsets, memcpy)
//!     ─▶ flush (SYNC: group commit, reply after fdatasync | ASYNC: periodic)
//! dispatch thread ─▶ consume_queue (20-byte entries) + index (key → offset) ─▶ arrival (wake long polls)
//! open ─▶ segments::load ─▶ recovery (scan from checkpoint, cut + zero torn tail) ─▶ queues/index cut
//!      ─▶ dispatch catch-up ─▶ threads: dispatch, flush, logic flush (checkpoint), retention
//! ```
//!
//! The store knows nothing of the network: the broker maps [`StoreError`] and [`PutStatus`] to
//! response codes.

pub mod arrival;
pub mod checkpoint;
pub mod clock;
pub mod commit_log;
pub mod config;
pub mod config_file;
pub mod consume_queue;
pub mod dispatch;
pub mod error;
pub mod flush;
pub mod gate;
pub mod index;
pub mod index_file;
pub mod mapped_file;
pub mod properties;
pub mod query;
pub mod queue_table;
pub mod record;
pub mod recovery;
pub mod replica;
pub mod retention;
pub mod segments;

use std::{
    fs::{self, File},
    sync::{
        Arc, Condvar, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU32},
    },
    thread::JoinHandle,
    time::Duration,
};

pub use commit_log::{Appended, SegmentSlice};
pub use config::{FlushDiskType, StoreConfig};
pub use error::{NotWritable, StoreError};
pub use query::{GetResult, GetStatus};
pub use record::NewMessage;

use self::{
    arrival::Arrivals,
    checkpoint::Checkpoint,
    commit_log::{CommitLog, EncodedBatch},
    dispatch::{DispatchParts, Dispatcher},
    flush::{Flusher, LogicFlusher},
    gate::WriteGate,
    index::Index,
    queue_table::QueueTable,
    retention::Retention,
    segments::Segments,
};

/// How a put ended when the record is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    /// Stored (and flushed, under SYNC_FLUSH).
    Ok,
    /// Stored in the page cache, but the sync flush did not finish within `syncFlushTimeout`.
    FlushDiskTimeout,
}

/// Result of a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// Durability outcome.
    pub status: PutStatus,
    /// Where each record landed, in order.
    pub appended: Vec<Appended>,
}

/// What recovery found at open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The previous run did not shut down cleanly (the `abort` file existed).
    pub unclean: bool,
    /// CommitLog offset the scan started from.
    pub scanned_from: u64,
    /// Recovered CommitLog end.
    pub log_end: u64,
    /// Records verified by the scan.
    pub records_scanned: u64,
    /// Why the scan stopped early (a torn or corrupt tail), if it did.
    pub cut_reason: Option<String>,
}

#[derive(Debug)]
struct Services {
    flusher: Arc<Flusher>,
    dispatcher: Arc<Dispatcher>,
    logic: Arc<LogicFlusher>,
    retention: Arc<Retention>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The message store.
#[derive(Debug)]
pub struct MessageStore {
    config: StoreConfig,
    log: Arc<CommitLog>,
    queues: Arc<QueueTable>,
    index: Option<Arc<Index>>,
    arrivals: Arc<Arrivals>,
    gate: Arc<WriteGate>,
    services: Services,
    report: RecoveryReport,
    /// Held (flock) while the store is open; released by [`MessageStore::close`].
    lock: Mutex<Option<File>>,
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(StoreError::io("spawn thread", name))
}

impl MessageStore {
    /// Opens (creating if needed) and recovers the store, then starts its background threads.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let root = config.root_dir.clone();
        fs::create_dir_all(&root).map_err(StoreError::io("create store directory", &root))?;
        let lock_path = root.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(StoreError::io("open lock file", &lock_path))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(root));
        }
        let abort = root.join("abort");
        let unclean = abort.exists();
        let checkpoint_path = root.join("checkpoint");
        let checkpoint = Checkpoint::read(&checkpoint_path)?;
        let log_files = segments::load_files(
            &config.commit_log_dir(),
            config.commit_log_segment_size,
            "mappedFileSizeCommitLog",
        )?;
        let recovered =
            recovery::recover_log(log_files, checkpoint.recover_from, config.check_crc_on_recover)?;
        let log_min = recovered.files.first().map_or(0, |f| f.start_offset());
        let report = RecoveryReport {
            unclean,
            scanned_from: recovered.scanned_from,
            log_end: recovered.end,
            records_scanned: recovered.records,
            cut_reason: recovered.stop_reason.clone(),
        };
        let loaded = queue_table::load(&config.consume_queue_dir(), config.consume_queue_file_size)?;
        let queues = Arc::new(QueueTable::recover(
            config.consume_queue_dir(),
            config.consume_queue_file_size,
            loaded,
            log_min,
            recovered.end,
        )?);
        let index = if config.message_index_enable {
            Some(Arc::new(Index::load(
                config.index_dir(),
                config.max_hash_slot_num,
                config.max_index_num,
                recovered.end,
            )?))
        } else {
            None
        };
        let log = CommitLog::new(
            Segments::new(
                config.commit_log_dir(),
                config.commit_log_segment_size,
                recovered.files,
            ),
            config.warm_segments,
        );
        log.flush()
            .map_err(StoreError::io("flush commit log", config.commit_log_dir()))?;
        let gate = Arc::new(WriteGate::default());
        let arrivals = Arc::new(Arrivals::default());
        let parts = DispatchParts {
            log: log.clone(),
            queues: queues.clone(),
            index: index.clone(),
            arrivals: arrivals.clone(),
            gate: gate.clone(),
            delay_levels_ms: config
                .delay_levels
                .iter()
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .collect(),
        };
        let only_flushed = config.flush_disk_type == FlushDiskType::Sync;
        let dispatcher = Arc::new(Dispatcher::new(
            parts,
            only_flushed,
            recovered.scanned_from,
            recovered.end,
        ));
        while dispatcher.run_once()? > 0 {}
        log.set_queue_offsets(queues.max_offsets());
        let flusher = Arc::new(Flusher::new(log.clone(), gate.clone(), &config));
        flusher.set_dispatcher(dispatcher.clone());
        let logic = Arc::new(LogicFlusher {
            log: log.clone(),
            queues: queues.clone(),
            index: index.clone(),
            dispatcher: dispatcher.clone(),
            checkpoint: checkpoint_path,
            interval: config.flush_consume_queue_interval,
            stop: (Mutex::new(false), Condvar::new()),
            covered_timestamp: AtomicI64::new(checkpoint.physic_msg_timestamp),
        });
        logic.flush_once()?;
        let retention = Arc::new(Retention {
            log: log.clone(),
            queues: queues.clone(),
            index: index.clone(),
            dispatcher: dispatcher.clone(),
            gate: gate.clone(),
            config: config.clone(),
            manual_passes: AtomicU32::new(0),
            stop: (Mutex::new(false), Condvar::new()),
        });
        fs::write(&abort, std::process::id().to_string())
            .map_err(StoreError::io("write abort file", &abort))?;
        let threads = vec![
            spawn("store-flush", {
                let f = flusher.clone();
                move || f.run()
            })?,
            spawn("store-dispatch", {
                let d = dispatcher.clone();
                move || d.run()
            })?,
            spawn("store-logic-flush", {
                let l = logic.clone();
                move || l.run()
            })?,
            spawn("store-retention", {
                let r = retention.clone();
                move || r.run()
            })?,
        ];
        if unclean {
            tracing::warn!(?report, "store recovered after an unclean stop");
        } else {
            tracing::info!(?report, "store opened");
        }
        Ok(Self {
            config,
            log,
            queues,
            index,
            arrivals,
            gate,
            services: Services {
                flusher,
                dispatcher,
                logic,
                retention,
                threads: Mutex::new(threads),
            },
            report,
            lock: Mutex::new(Some(lock)),
        })
    }

    /// What recovery did at open.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The configuration in force.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Stores one message.
    pub async fn put(&self, message: NewMessage) -> Result<PutResult, StoreError> {
        self.put_batch(vec![message]).await
    }

    /// Stores messages of one topic and queue as one contiguous append with consecutive queue
    /// offsets (RocketMQ's batch send).
    pub async fn put_batch(&self, messages: Vec<NewMessage>) -> Result<PutResult, StoreError> {
        self.gate.check().map_err(StoreError::NotWritable)?;
        let mut batch = self.encode(&messages)?;
        let appended = self.log.append(&mut batch)?;
        let end = appended.last().map_or(0, |a| a.physical_offset + a.size as u64);
        let status = match self.config.flush_disk_type {
            FlushDiskType::Async => {
                self.services.dispatcher.notify_append();
                PutStatus::Ok
            }
            FlushDiskType::Sync => {
                let wait = messages
                    .iter()
                    .all(|m| properties::get(&m.properties, properties::keys::WAIT) != Some("false"));
                if wait {
                    let reply = self.services.flusher.request(end);
                    match tokio::time::timeout(self.config.sync_flush_timeout, reply).await {
                        Ok(Ok(true)) => PutStatus::Ok,
                        Ok(_) => return Err(StoreError::NotWritable(NotWritable::FlushFailed)),
                        Err(_) => PutStatus::FlushDiskTimeout,
                    }
                } else {
                    self.services.flusher.poke();
                    PutStatus::Ok
                }
            }
        };
        Ok(PutResult { status, appended })
    }

    fn encode(&self, messages: &[NewMessage]) -> Result<EncodedBatch, StoreError> {
        let first = messages
            .first()
            .ok_or(StoreError::MessageTooLarge { size: 0, max: 0 })?;
        if !queue_table::is_safe_topic(&first.topic) {
            return Err(StoreError::InvalidMessage(record::RecordError::Utf8(
                "topic name",
            )));
        }
        let mut batch = EncodedBatch {
            topic: first.topic.clone(),
            queue_id: first.queue_id,
            hidden: first.is_hidden_transaction_state(),
            ..EncodedBatch::default()
        };
        for message in messages {
            if message.topic != first.topic || message.queue_id != first.queue_id {
                return Err(StoreError::InvalidBatch);
            }
            if message.body.len() > self.config.max_message_size {
                return Err(StoreError::MessageTooLarge {
                    size: message.body.len(),
                    max: self.config.max_message_size,
                });
            }
            let start = batch.bytes.len();
            let len = message.encode_into(&mut batch.bytes)?;
            batch.records.push((start, len));
        }
        Ok(batch)
    }

    /// Physical write position of the CommitLog.
    pub fn max_physical_offset(&self) -> u64 {
        self.log.max_offset()
    }

    /// Oldest CommitLog offset still kept.
    pub fn min_physical_offset(&self) -> u64 {
        self.log.min_offset()
    }

    /// CommitLog offset known to be on disk.
    pub fn flushed_physical_offset(&self) -> u64 {
        self.log.flushed_offset()
    }

    /// Number of CommitLog flushes (fdatasync rounds) since open; with SYNC_FLUSH, fewer than
    /// the number of puts when group commit shares them.
    pub fn flush_count(&self) -> u64 {
        self.log.flush_count()
    }

    /// CommitLog offset dispatched into queues and index.
    pub fn dispatched_offset(&self) -> u64 {
        self.services.dispatcher.dispatched()
    }

    /// Whether writes are accepted now, and why not.
    pub fn writable(&self) -> Result<(), NotWritable> {
        self.gate.check()
    }

    /// Runs one retention pass now (as the background thread would at `now_ms`).
    pub fn run_retention(&self, now_ms: i64) -> Result<retention::Pass, StoreError> {
        self.services.retention.run_once(now_ms)
    }

    /// Deletes expired files at the next passes regardless of `deleteWhen`.
    pub fn request_manual_delete(&self) {
        self.services.retention.request_manual();
    }

    /// Reads parked in [`MessageStore::wait_for_message`] right now (long-poll pulls).
    pub fn parked_reads(&self) -> usize {
        self.arrivals.parked()
    }

    /// Waits until queue `(topic, queue_id)` has a message at `offset` or `timeout` passes.
    /// Returns whether one arrived. Parks without polling: dispatch wakes it.
    pub async fn wait_for_message(&self, topic: &str, queue_id: i32, offset: i64, timeout: Duration) -> bool {
        let notify = self.arrivals.notifier(topic, queue_id);
        let deadline = tokio::time::Instant::now() + timeout;
        // Counted as parked only once it has to wait, so a read answered at once is not.
        let mut parked = None;
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.max_offset(topic, queue_id) > offset {
                return true;
            }
            parked.get_or_insert_with(|| self.arrivals.park());
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.max_offset(topic, queue_id) > offset;
            }
        }
    }

    /// Stops the threads, flushes everything, writes the checkpoint and removes the `abort`
    /// file, so the next open knows the stop was clean.
    pub fn shutdown(self) -> Result<(), StoreError> {
        self.close()
    }

    /// [`MessageStore::shutdown`] in place, for a store shared by a running broker: writes
    /// after it fail with "shutting down", the directory lock is released (so the same process
    /// may open the store again at once), and a second call finds nothing left to do.
    pub fn close(&self) -> Result<(), StoreError> {
        self.gate.close(NotWritable::ShuttingDown);
        self.stop_threads();
        while self.services.dispatcher.run_once()? > 0 {}
        self.services.logic.flush_once()?;
        let abort = self.config.root_dir.join("abort");
        match fs::remove_file(&abort) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::io("remove abort file", &abort)(err));
            }
            _ => {}
        }
        drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner).take());
        Ok(())
    }

    fn stop_threads(&self) {
        self.services.flusher.stop();
        self.services.dispatcher.stop();
        self.services.logic.stop();
        self.services.retention.stop();
        self.log.stop();
        let threads = std::mem::take(
            &mut *self
                .services
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for MessageStore {
    /// Dropping without [`MessageStore::shutdown`] stops the threads but leaves the `abort` file,
    /// like a crash would (minus the page-cache loss).
    fn drop(&mut self) {
        self.stop_threads();
    }
}
