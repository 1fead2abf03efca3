//! Retention: deletes CommitLog segments past `fileReservedTime` at the `deleteWhen` hours or
//! when the disk is fuller than `diskMaxUsedSpaceRatio` (oldest first, regardless of age above
//! `diskSpaceCleanForciblyRatio`), then the queue and index files that only pointed into them.
//! Above `diskSpaceWarningLevelRatio` writes are refused until usage drops.
//!
//! Files are taken out of their lists under a short lock and unlinked outside it, so writers
//! never wait for a deletion, and readers holding a file keep a valid mapping until they drop it.

use std::{
    path::Path,
    sync::{
        Arc, Condvar, Mutex, PoisonError,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, SystemTime},
};

use super::{
    clock,
    commit_log::CommitLog,
    config::StoreConfig,
    dispatch::Dispatcher,
    error::{NotWritable, StoreError},
    gate::WriteGate,
    index::Index,
    queue_table::QueueTable,
    segments,
};

/// Fraction of the filesystem holding `path` that is used.
pub fn disk_usage(path: &Path) -> Result<f64, StoreError> {
    let stat = rustix::fs::statvfs(path).map_err(|e| StoreError::io("statvfs", path)(e.into()))?;
    if stat.f_blocks == 0 {
        return Ok(0.0);
    }
    Ok((stat.f_blocks - stat.f_bfree) as f64 / stat.f_blocks as f64)
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pass {
    /// Disk usage seen.
    pub usage: f64,
    /// CommitLog segments deleted.
    pub segments: usize,
    /// Consume queue files deleted.
    pub queue_files: usize,
    /// Index files deleted.
    pub index_files: usize,
}

/// The cleaner.
#[derive(Debug)]
pub struct Retention {
    pub(crate) log: Arc<CommitLog>,
    pub(crate) queues: Arc<QueueTable>,
    pub(crate) index: Option<Arc<Index>>,
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) gate: Arc<WriteGate>,
    pub(crate) config: StoreConfig,
    pub(crate) manual_passes: AtomicU32,
    pub(crate) stop: (Mutex<bool>, Condvar),
}

impl Retention {
    /// Requests deletion of expired files at the next passes whatever the hour.
    pub fn request_manual(&self) {
        self.manual_passes.store(20, Ordering::Release);
    }

    /// One pass at wall-clock `now_ms`.
    pub fn run_once(&self, now_ms: i64) -> Result<Pass, StoreError> {
        let usage = disk_usage(self.log.segments().dir()).or_else(|_| disk_usage(&self.config.root_dir))?;
        let mut pass = Pass {
            usage,
            ..Pass::default()
        };
        if usage > self.config.disk_space_warning_level_ratio {
            if self.gate.check() != Err(NotWritable::DiskFull) {
                tracing::error!(
                    usage,
                    "disk usage above diskSpaceWarningLevelRatio; refusing writes"
                );
            }
            self.gate.close(NotWritable::DiskFull);
        } else {
            self.gate.open(NotWritable::DiskFull);
        }
        let at_hour = self.config.delete_when.contains(&clock::hour_of_day(now_ms));
        let space = usage > self.config.disk_max_used_space_ratio;
        let forcibly = usage > self.config.disk_space_clean_forcibly_ratio;
        let manual = self
            .manual_passes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !(at_hour || space || manual) {
            return Ok(pass);
        }
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(now_ms.max(0) as u64);
        let dispatched = self.dispatcher.dispatched();
        while pass.segments < self.config.delete_file_batch_max {
            let reserved = self.config.file_reserved_time;
            let Some(file) = self.log.segments().pop_first_if(|f| {
                let expired = f.modified().is_ok_and(|m| m + reserved <= now);
                let dispatched_past = f.start_offset() + f.size() as u64 <= dispatched;
                (expired || forcibly) && dispatched_past
            }) else {
                break;
            };
            tracing::info!(file = %file.path().display(), forcibly, "deleting expired commit log segment");
            segments::delete(&file)?;
            pass.segments += 1;
        }
        let log_min = self.log.min_offset();
        for queue in self.queues.all() {
            pass.queue_files += queue.delete_expired(log_min)?;
        }
        if let Some(index) = &self.index {
            pass.index_files += index.delete_expired(log_min)?;
        }
        Ok(pass)
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
                    .wait_timeout_while(stopped, self.config.clean_resource_interval, |s| !*s)
                    .unwrap_or_else(PoisonError::into_inner);
                if *stopped {
                    return;
                }
            }
            if let Err(err) = self.run_once(clock::now_millis()) {
                tracing::warn!(%err, "retention pass failed");
            }
        }
    }
}
