//! The store's side of master/slave replication. A master hands out raw CommitLog ranges
//! ([`MessageStore::log_range`]); a slave appends exactly those bytes at exactly the same
//! offsets ([`MessageStore::append_replicated`]), so both logs are byte-identical and each side
//! builds its own consume queues and index from them.
//!
//! Appended data must be whole entries (records, or an end-of-segment marker followed by the
//! segment's padding): the replication client reassembles them from the stream and checks each
//! record before it gets here, so a slave's log never holds half a record or foreign bytes.

use super::{
    FlushDiskType, MessageStore, SegmentSlice, StoreError,
    record::{self, END_MARKER_LEN, Entry},
};

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
