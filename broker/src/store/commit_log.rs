//! The CommitLog: one append-only log of every record, in fixed-size segments. Owns physical
//! offsets, queue-offset assignment and segment rolling.
//!
//! Records are encoded (and their body CRC computed) before the append lock is taken; under it
//! only the queue offset, physical offset and store timestamp are patched and the bytes copied
//! into the mapping. New segments are created and pre-faulted by a background allocator so a
//! roll rarely touches the disk inside the lock.

use std::{
    collections::HashMap,
    ops::Deref,
    sync::{
        Arc, Condvar, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread,
};

use super::{
    clock,
    error::StoreError,
    mapped_file::{MappedFile, Populate},
    record::{self, END_MARKER_LEN},
    segments::Segments,
};

/// A consume queue's identity.
pub type QueueKey = (String, i32);

/// Records encoded for one append: same topic and queue, laid out back to back.
#[derive(Debug, Default)]
pub struct EncodedBatch {
    /// Encoded records.
    pub bytes: Vec<u8>,
    /// `(start, len)` of each record in `bytes`.
    pub records: Vec<(usize, usize)>,
    /// Topic of every record.
    pub topic: String,
    /// Queue of every record.
    pub queue_id: i32,
    /// Prepared or rollback transaction records: queue offset 0, not counted.
    pub hidden: bool,
}

/// Where one record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Physical offset of the record.
    pub physical_offset: u64,
    /// Its size in bytes.
    pub size: usize,
    /// Its logical offset in the consume queue.
    pub queue_offset: i64,
    /// Store timestamp written into it.
    pub store_timestamp: i64,
}

/// Published bytes of a segment, kept mapped while this value lives.
#[derive(Debug, Clone)]
pub struct SegmentSlice {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
}

impl SegmentSlice {
    pub(crate) fn new(file: Arc<MappedFile>, pos: usize, len: usize) -> Option<Self> {
        file.read(pos, len)?;
        Some(Self { file, pos, len })
    }

    /// Global offset of the first byte.
    pub fn offset(&self) -> u64 {
        self.file.start_offset() + self.pos as u64
    }
}

impl Deref for SegmentSlice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // Checked at construction; published bytes of a shared file never move or shrink.
        self.file.read(self.pos, self.len).unwrap_or(&[])
    }
}

#[derive(Debug, Default)]
struct AllocState {
    wanted: Option<u64>,
    working: Option<u64>,
    ready: Option<MappedFile>,
    stop: bool,
}

/// Prepares the next segment in the background.
#[derive(Debug, Default)]
struct Allocator {
    state: Mutex<AllocState>,
    wake: Condvar,
    done: Condvar,
}

#[derive(Debug, Default)]
struct PutState {
    next_queue_offset: HashMap<QueueKey, i64>,
    last_store_timestamp: i64,
}

/// The log itself.
#[derive(Debug)]
pub struct CommitLog {
    segments: Segments,
    put: Mutex<PutState>,
    allocator: Arc<Allocator>,
    flushed: AtomicU64,
    flushes: AtomicU64,
}

impl CommitLog {
    /// Wraps recovered segments and starts the segment allocator.
    pub fn new(segments: Segments, warm: bool) -> Arc<Self> {
        let allocator = Arc::new(Allocator::default());
        let flushed = AtomicU64::new(segments.max_offset().unwrap_or(0));
        let log = Arc::new(Self {
            segments,
            put: Mutex::default(),
            allocator: allocator.clone(),
            flushed,
            flushes: AtomicU64::new(0),
        });
        let dir = log.segments.dir().to_path_buf();
        let size = log.segments.file_size();
        let populate = if warm { Populate::Eager } else { Populate::Lazy };
        let spawned = thread::Builder::new()
            .name("segment-alloc".into())
            .spawn(move || {
                let template = Segments::new(dir, size, Vec::new());
                loop {
                    let start = {
                        let mut state = allocator.state.lock().unwrap_or_else(PoisonError::into_inner);
                        loop {
                            if state.stop {
                                return;
                            }
                            match state.wanted.take() {
                                Some(start)
                                    if state.ready.as_ref().is_none_or(|r| r.start_offset() != start) =>
                                {
                                    state.working = Some(start);
                                    break start;
                                }
                                _ => {
                                    state = allocator.wake.wait(state).unwrap_or_else(PoisonError::into_inner)
                                }
                            }
                        }
                    };
                    let created = template.create(start, populate);
                    let mut state = allocator.state.lock().unwrap_or_else(PoisonError::into_inner);
                    state.working = None;
                    match created {
                        Ok(file) => {
                            if let Some(stale) = state.ready.replace(file) {
                                let _ = super::segments::delete(&stale);
                            }
                        }
                        Err(err) => tracing::warn!(%err, "could not prepare the next commit log segment"),
                    }
                    allocator.done.notify_all();
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "no segment allocator thread; segments will be created inline");
        }
        if log.segments.is_empty() {
            // A new store gets its first segment now, unfaulted: pre-faulting a whole segment
            // would make the first put wait for it.
            match log.segments.create(0, Populate::Lazy) {
                Ok(first) => log.segments.push(Arc::new(first)),
                Err(err) => tracing::warn!(%err, "could not create the first commit log segment"),
            }
        }
        log.request_next();
        log
    }

    /// Stops the allocator thread.
    pub fn stop(&self) {
        let mut state = self
            .allocator
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.stop = true;
        self.allocator.wake.notify_all();
    }

    fn request_next(&self) {
        let next = self
            .segments
            .last()
            .map_or(0, |l| l.start_offset() + self.segments.file_size() as u64);
        let mut state = self
            .allocator
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.wanted = Some(next);
        self.allocator.wake.notify_all();
    }

    /// The segments.
    pub fn segments(&self) -> &Segments {
        &self.segments
    }

    /// Size of one segment.
    pub fn segment_size(&self) -> usize {
        self.segments.file_size()
    }

    /// Global write position.
    pub fn max_offset(&self) -> u64 {
        self.segments.max_offset().unwrap_or(0)
    }

    /// First offset still kept.
    pub fn min_offset(&self) -> u64 {
        self.segments.min_offset().unwrap_or(0)
    }

    /// Replaces the queue-offset table (after recovery rebuilt the consume queues).
    pub fn set_queue_offsets(&self, table: HashMap<QueueKey, i64>) {
        self.put
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_queue_offset = table;
    }

    /// Next queue offset the table would assign to `key`.
    pub fn next_queue_offset(&self, key: &QueueKey) -> i64 {
        let put = self.put.lock().unwrap_or_else(PoisonError::into_inner);
        put.next_queue_offset.get(key).copied().unwrap_or(0)
    }

    /// Appends a batch under the log's lock; returns where each record landed.
    pub fn append(&self, batch: &mut EncodedBatch) -> Result<Vec<Appended>, StoreError> {
        let len = batch.bytes.len();
        let max = self.segment_size() - END_MARKER_LEN;
        if len > max {
            return Err(StoreError::MessageTooLarge { size: len, max });
        }
        let mut put = self.put.lock().unwrap_or_else(PoisonError::into_inner);
        let now = clock::now_millis().max(put.last_store_timestamp);
        put.last_store_timestamp = now;
        let key = (std::mem::take(&mut batch.topic), batch.queue_id);
        let base_queue_offset = if batch.hidden {
            0
        } else {
            put.next_queue_offset.get(&key).copied().unwrap_or(0)
        };
        let segment = self.writable_segment(len)?;
        let physical_base = segment.start_offset() + segment.wrote() as u64;
        let mut appended = Vec::with_capacity(batch.records.len());
        for (i, (start, rec_len)) in batch.records.iter().enumerate() {
            let queue_offset = if batch.hidden {
                0
            } else {
                base_queue_offset + i as i64
            };
            let physical_offset = physical_base + *start as u64;
            record::patch(
                &mut batch.bytes[*start..start + rec_len],
                queue_offset,
                physical_offset as i64,
                now,
            );
            appended.push(Appended {
                physical_offset,
                size: *rec_len,
                queue_offset,
                store_timestamp: now,
            });
        }
        // Each record's size field is written last, after a release fence: a process killed in
        // the middle of the copy leaves a zero size, which recovery reads as unwritten space
        // instead of a record with a torn tail.
        let records = &batch.records;
        let bytes = &batch.bytes;
        let at = segment
            .append_with(len, |dst| {
                dst.copy_from_slice(bytes);
                for (start, _) in records {
                    dst[*start..start + 4].fill(0);
                }
                std::sync::atomic::fence(Ordering::Release);
                for (start, _) in records.iter().rev() {
                    dst[*start..start + 4].copy_from_slice(&bytes[*start..start + 4]);
                }
            })
            .map_err(|_| StoreError::MessageTooLarge { size: len, max })?;
        debug_assert_eq!(segment.start_offset() + at as u64, physical_base);
        if !batch.hidden {
            put.next_queue_offset
                .insert(key.clone(), base_queue_offset + batch.records.len() as i64);
        }
        batch.topic = key.0;
        Ok(appended)
    }

    /// The segment to write `len` bytes into, rolling to a new one (after an end marker) when the
    /// current one cannot keep `END_MARKER_LEN` bytes spare.
    fn writable_segment(&self, len: usize) -> Result<Arc<MappedFile>, StoreError> {
        if let Some(last) = self.segments.last() {
            let remaining = last.size() - last.wrote();
            if len + END_MARKER_LEN <= remaining {
                return Ok(last);
            }
            if !last.is_full() {
                let _ = last.append(&record::end_marker(remaining));
                last.seal();
            }
        }
        let start = self
            .segments
            .last()
            .map_or(0, |l| l.start_offset() + l.size() as u64);
        self.open_next(start)
    }

    /// Adds the segment starting at `start` (the one the allocator prepared, if it did) as the
    /// newest, and asks for the one after it.
    pub(crate) fn open_next(&self, start: u64) -> Result<Arc<MappedFile>, StoreError> {
        let prepared = {
            let mut state = self
                .allocator
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // The allocator may be creating this very file: wait for it rather than race it.
            while state.working == Some(start) {
                state = self
                    .allocator
                    .done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            // Withdraw a request for this file the allocator has not picked up yet: it is about
            // to be created here.
            if state.wanted == Some(start) {
                state.wanted = None;
            }
            state.ready.take_if(|f| f.start_offset() == start)
        };
        let file = match prepared {
            Some(file) => file,
            None => self.segments.create(start, Populate::Lazy)?,
        };
        let file = Arc::new(file);
        self.segments.push(file.clone());
        self.request_next();
        Ok(file)
    }

    /// `len` published bytes at global `offset`, if they lie in one segment.
    pub fn slice(&self, offset: u64, len: usize) -> Option<SegmentSlice> {
        let file = self.segments.find(offset)?;
        SegmentSlice::new(file.clone(), (offset - file.start_offset()) as usize, len)
    }

    /// The whole record starting at `offset`.
    pub fn record_at(&self, offset: u64) -> Result<SegmentSlice, StoreError> {
        let head = self.slice(offset, 4).ok_or(StoreError::NoMessage(offset))?;
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s >= 91)
            .ok_or(StoreError::NoMessage(offset))?;
        self.slice(offset, size).ok_or(StoreError::NoMessage(offset))
    }

    /// Flushes published bytes; returns the global offset now on disk.
    pub fn flush(&self) -> std::io::Result<u64> {
        let reached = self.segments.flush()?.unwrap_or(0);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(self.flushed.fetch_max(reached, Ordering::AcqRel).max(reached))
    }

    /// Number of flush rounds so far.
    pub fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Offset known to be on disk.
    pub fn flushed_offset(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }
}
