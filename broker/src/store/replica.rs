//! The store's side of master/slave replication. A master hands out raw CommitLog ranges
//! ([`MessageStore::log_range`]); a slave appends exactly those bytes at exactly the same
//! offsets ([`MessageStore::append_replicated`]), so both logs are byte-identical and each side
//! builds its own consume queues and index from them.
//!
//! Appended data must be whole entries (records, or an end-of-segment marker followed by the
//! segment's padding): the replication client reassembles them from the stream and checks each
//! record before it gets here, so a slave's log never holds half a record or foreign bytes.
//!
//! Two walks over record headers serve replication too: a slave's last record (what it compares
//! with its master's before taking more, [`MessageStore::last_record`]) and how many records a
//! slave still lacks (a master's lag metric, [`MessageStore::records_after`]).

use std::sync::Arc;

use super::{
    FlushDiskType, MessageStore, SegmentSlice, StoreError,
    mapped_file::MappedFile,
    record::{self, BLANK_MAGIC, END_MARKER_LEN, Entry, MAGIC_V1, MAGIC_V2},
};

/// Records [`MessageStore::records_after`] steps over before it estimates the rest: bounds the
/// work of one metrics scrape per slave (a few milliseconds) however far behind the slave is.
pub const COUNT_LIMIT: u64 = 1_000_000;

/// What starts at a position of a segment, judged by the size and magic fields alone (the
/// records were checked when they were written or recovered).
enum Head {
    /// A record of this many bytes.
    Record(usize),
    /// The end-of-segment marker: the rest of the segment is padding.
    End,
    /// No record starts here (unwritten, or the middle of a record).
    Nothing,
}

fn head(file: &MappedFile, pos: usize) -> Head {
    let Some(bytes) = file.read(pos, END_MARKER_LEN) else {
        return Head::Nothing;
    };
    let size = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    match u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) {
        BLANK_MAGIC => Head::End,
        MAGIC_V1 | MAGIC_V2 => match usize::try_from(size) {
            Ok(len) if len >= END_MARKER_LEN && file.read(pos, len).is_some() => Head::Record(len),
            _ => Head::Nothing,
        },
        _ => Head::Nothing,
    }
}

/// The last record of one segment, walking from its start (segments start on a record).
fn last_in(file: &Arc<MappedFile>) -> Option<SegmentSlice> {
    let (mut pos, mut last) = (0, None);
    while let Head::Record(len) = head(file, pos) {
        last = Some((pos, len));
        pos += len;
    }
    let (pos, len) = last?;
    SegmentSlice::new(file.clone(), pos, len)
}

impl MessageStore {
    /// Up to `max` published CommitLog bytes from `offset`, never crossing a segment end. `None`
    /// when nothing is published there yet. An offset at the end of a sealed segment moves on
    /// to the next segment's start.
    pub fn log_range(&self, offset: u64, max: usize) -> Option<SegmentSlice> {
        let segments = self.log.segments();
        let file = segments.find(offset)?;
        let rel = usize::try_from(offset - file.start_offset()).ok()?;
        let available = file.wrote().checked_sub(rel)?;
        if available == 0 {
            return None;
        }
        self.log.slice(offset, available.min(max))
    }

    /// The log's last record (the newest segment holding one is walked from its start), `None`
    /// for a log without records.
    pub fn last_record(&self) -> Option<SegmentSlice> {
        self.log.segments().snapshot().iter().rev().find_map(last_in)
    }

    /// Records from `from` to the log's end: what a slave that confirmed `from` still lacks.
    /// Every stored message is a record (each message of a batch too, and the system topics'
    /// messages: delays, retries, transaction halves and markers). A `from` inside a record (a
    /// reference slave reports raw byte positions) counts that record as well. Exact up to
    /// [`COUNT_LIMIT`] records; beyond it the rest is estimated at the average size of those
    /// stepped over.
    pub fn records_after(&self, from: u64) -> u64 {
        let end = self.log.max_offset();
        let from = from.max(self.log.min_offset());
        if from >= end {
            return 0;
        }
        let (mut steps, mut stepped_bytes, mut counted) = (0u64, 0u64, 0u64);
        for file in self.log.segments().snapshot() {
            let start = file.start_offset();
            let file_end = start + file.size() as u64;
            if file_end <= from {
                continue;
            }
            // From `from` when a record starts there (always, for our slaves); else from the
            // segment's start, the nearest position known to start one.
            let mut pos = usize::try_from(from.saturating_sub(start)).unwrap_or(usize::MAX);
            if matches!(head(&file, pos), Head::Nothing) {
                pos = 0;
            }
            loop {
                if steps == COUNT_LIMIT {
                    let at = (start + pos as u64).max(from);
                    let average = (stepped_bytes / steps).max(1);
                    return counted + end.saturating_sub(at) / average;
                }
                match head(&file, pos) {
                    Head::Record(len) => {
                        if start + (pos + len) as u64 > from {
                            counted += 1;
                        }
                        steps += 1;
                        stepped_bytes += len as u64;
                        pos += len;
                    }
                    Head::End | Head::Nothing => break,
                }
            }
        }
        counted
    }

    /// Whether this store holds no records at all (a new slave adopts its master's start).
    fn log_is_empty(&self) -> bool {
        self.log.segments().len() <= 1 && self.log.max_offset() == self.log.min_offset()
    }

    /// Appends replicated `entries` starting at global `offset`, which must be where this log
    /// ends — except for an empty log, which starts over at `offset` (a segment boundary: the
    /// master's oldest retained segment).
    pub fn append_replicated(&self, offset: u64, entries: &[u8]) -> Result<(), StoreError> {
        self.gate.check().map_err(StoreError::NotWritable)?;
        let size = self.log.segment_size() as u64;
        let end = self.log.max_offset();
        if offset != end {
            if !(self.log_is_empty() && offset.is_multiple_of(size)) {
                return Err(StoreError::Diverged {
                    expected: end,
                    got: offset,
                    reason: "not where this log ends".into(),
                });
            }
            self.restart_log_at(offset)?;
        }
        let mut pos = 0;
        while pos < entries.len() {
            let at = offset + pos as u64;
            let file = match self.log.segments().last() {
                Some(last) if !last.is_full() => last,
                _ => self.log.open_next(at)?,
            };
            match record::decode(&entries[pos..], true).map_err(|e| diverged(at, e.to_string()))? {
                Entry::Message(view) => {
                    if view.physical_offset as u64 != at {
                        let why = format!("record claims offset {}", view.physical_offset);
                        return Err(diverged(at, why));
                    }
                    let len = view.total_size;
                    file.append(&entries[pos..pos + len])
                        .map_err(|_| diverged(at, "record crosses the segment end".into()))?;
                    pos += len;
                }
                Entry::EndOfSegment => {
                    let padding = file.size() - file.wrote();
                    if entries.len() - pos < padding {
                        return Err(diverged(at, "end-of-segment marker without its padding".into()));
                    }
                    let _ = file.append(&entries[pos..pos + END_MARKER_LEN]);
                    file.seal();
                    pos += padding;
                }
                Entry::Unwritten => return Err(diverged(at, "zeros where a record should start".into())),
            }
        }
        self.services.dispatcher.notify_append();
        if self.config.flush_disk_type == FlushDiskType::Sync {
            self.services.flusher.poke();
        }
        Ok(())
    }

    /// Drops the (empty) segments and starts the log at `offset`.
    fn restart_log_at(&self, offset: u64) -> Result<(), StoreError> {
        let segments = self.log.segments();
        while let Some(old) = segments.pop_first_if(|_| true) {
            super::segments::delete(&old)?;
        }
        if let Some(last) = segments.pop_only() {
            super::segments::delete(&last)?;
        }
        self.log.open_next(offset)?;
        self.services.dispatcher.reset_to(offset);
        Ok(())
    }
}

fn diverged(at: u64, reason: String) -> StoreError {
    StoreError::Diverged {
        expected: at,
        got: at,
        reason,
    }
}
