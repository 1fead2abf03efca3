//! One consume queue: `consumequeue/<topic>/<queueId>/`, a dense array of 20-byte entries, entry
//! N describing the queue's message with logical offset N.
//!
//! | field | size | meaning |
//! |---|---|---|
//! | commit log offset | 8 (i64) | physical offset of the record |
//! | size | 4 (i32) | record size |
//! | tags code | 8 (i64) | Java hash of the tag (delivery time for the schedule topic) |
//!
//! Files hold `mappedFileSizeConsumeQueue / 20` entries and are named by the byte offset of their
//! first entry. An all-zero entry is unwritten space; `(0, i32::MAX, 0)` is a placeholder for
//! logical offsets before a queue's first real entry.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use super::{
    error::StoreError,
    mapped_file::{MappedFile, Populate},
    segments::{self, Segments},
};

/// Bytes per entry.
pub const ENTRY_SIZE: usize = 20;

/// One consume-queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    /// Physical offset of the record in the CommitLog.
    pub physical_offset: i64,
    /// Record size.
    pub size: i32,
    /// Tag hash code.
    pub tags_code: i64,
}

impl QueueEntry {
    const PLACEHOLDER: Self = Self {
        physical_offset: 0,
        size: i32::MAX,
        tags_code: 0,
    };

    /// The 20 bytes on disk.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        out[..8].copy_from_slice(&self.physical_offset.to_be_bytes());
        out[8..12].copy_from_slice(&self.size.to_be_bytes());
        out[12..].copy_from_slice(&self.tags_code.to_be_bytes());
        out
    }

    /// Reads 20 bytes.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let b: &[u8; ENTRY_SIZE] = b.get(..ENTRY_SIZE)?.try_into().ok()?;
        Some(Self {
            physical_offset: i64::from_be_bytes(b[..8].try_into().ok()?),
            size: i32::from_be_bytes(b[8..12].try_into().ok()?),
            tags_code: i64::from_be_bytes(b[12..].try_into().ok()?),
        })
    }

    /// Whether this is real data (not unwritten space).
    pub fn is_written(&self) -> bool {
        self.physical_offset >= 0 && self.size > 0
    }

    /// Whether this is a placeholder before the queue's first entry.
    pub fn is_placeholder(&self) -> bool {
        *self == Self::PLACEHOLDER
    }

    /// First byte after the record.
    pub fn end(&self) -> u64 {
        (self.physical_offset as u64).saturating_add(self.size as u64)
    }
}

/// Recovers a queue's files before they are shared: finds the end of the written entries, cuts
/// entries that point at or past `log_end` (the recovered CommitLog end) and zeroes the cut tail.
pub fn recover_files(mut files: Vec<MappedFile>, log_end: u64) -> Result<Vec<MappedFile>, StoreError> {
    while let Some(mut last) = files.pop() {
        let mut end = 0;
        while let Some(entry) = last.read(end, ENTRY_SIZE).and_then(QueueEntry::decode) {
            if !entry.is_written() {
                break;
            }
            end += ENTRY_SIZE;
        }
        // Step back over entries whose record is gone from the log.
        while end > 0 {
            let entry = last
                .read(end - ENTRY_SIZE, ENTRY_SIZE)
                .and_then(QueueEntry::decode);
            match entry {
                Some(e) if !e.is_placeholder() && e.end() > log_end => end -= ENTRY_SIZE,
                _ => break,
            }
        }
        if end == 0 && !files.is_empty() {
            segments::delete(&last)?;
            continue;
        }
        last.truncate(end)
            .map_err(StoreError::io("truncate consume queue", last.path()))?;
        files.push(last);
        break;
    }
    Ok(files)
}

/// A live consume queue.
#[derive(Debug)]
pub struct ConsumeQueue {
    topic: String,
    queue_id: i32,
    segments: Segments,
    min_offset: AtomicI64,
}

impl ConsumeQueue {
    /// Wraps recovered files; `log_min` is the CommitLog's first kept offset.
    pub fn new(topic: String, queue_id: i32, segments: Segments, log_min: u64) -> Self {
        let queue = Self {
            topic,
            queue_id,
            segments,
            min_offset: AtomicI64::new(0),
        };
        queue.correct_min_offset(log_min);
        queue
    }

    /// Topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Queue id.
    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }

    /// The next logical offset to be written (= number of entries ever written).
    pub fn max_offset(&self) -> i64 {
        self.segments
            .max_offset()
            .map_or(0, |end| (end / ENTRY_SIZE as u64) as i64)
    }

    /// The first logical offset still readable.
    pub fn min_offset(&self) -> i64 {
        let first_file = self
            .segments
            .min_offset()
            .map_or(0, |s| (s / ENTRY_SIZE as u64) as i64);
        self.min_offset
            .load(Ordering::Acquire)
            .max(first_file)
            .min(self.max_offset())
    }

    /// Writes the entry for `logical`. Entries already present are left alone (dispatch replays
    /// after recovery); a gap before `logical` is filled with placeholders.
    pub fn put(&self, logical: i64, entry: QueueEntry) -> Result<(), StoreError> {
        let target = logical as u64 * ENTRY_SIZE as u64;
        if self.segments.is_empty() {
            let file_size = self.segments.file_size() as u64;
            let file = self
                .segments
                .create(target / file_size * file_size, Populate::Lazy)?;
            self.segments.push(Arc::new(file));
            self.min_offset.store(logical, Ordering::Release);
        }
        loop {
            let current = self.segments.max_offset().unwrap_or(0);
            if current > target {
                return Ok(());
            }
            let bytes = if current == target {
                entry.encode()
            } else {
                QueueEntry::PLACEHOLDER.encode()
            };
            let last = match self.segments.last() {
                Some(last) if !last.is_full() => last,
                other => {
                    let start = other.map_or(0, |l| l.start_offset() + l.size() as u64);
                    let file = Arc::new(self.segments.create(start, Populate::Lazy)?);
                    self.segments.push(file.clone());
                    file
                }
            };
            // Files are a multiple of 20 bytes, so an entry always fits in a non-full file.
            let _ = last.append(&bytes);
            if current == target {
                return Ok(());
            }
        }
    }

    /// The entry at `logical`, if written.
    pub fn get(&self, logical: i64) -> Option<QueueEntry> {
        let pos = u64::try_from(logical).ok()? * ENTRY_SIZE as u64;
        let file = self.segments.find(pos)?;
        file.read((pos - file.start_offset()) as usize, ENTRY_SIZE)
            .and_then(QueueEntry::decode)
    }

    /// Up to `max` consecutive entries from `from`, with their logical offsets.
    pub fn entries(&self, from: i64, max: usize) -> Vec<(i64, QueueEntry)> {
        let mut out = Vec::new();
        let mut logical = from.max(self.min_offset());
        let end = self.max_offset();
        while out.len() < max && logical < end {
            let pos = logical as u64 * ENTRY_SIZE as u64;
            let Some(file) = self.segments.find(pos) else {
                break;
            };
            let Some(bytes) = file.read_from((pos - file.start_offset()) as usize) else {
                break;
            };
            for chunk in bytes.chunks_exact(ENTRY_SIZE) {
                if out.len() >= max {
                    break;
                }
                if let Some(entry) = QueueEntry::decode(chunk) {
                    out.push((logical, entry));
                }
                logical += 1;
            }
            if bytes.is_empty() {
                break;
            }
        }
        out
    }

    /// Flushes written entries.
    pub fn flush(&self) -> std::io::Result<()> {
        self.segments.flush().map(|_| ())
    }

    /// Deletes files whose every entry points before `log_min`, then moves the min offset to the
    /// first entry still in the log. Returns the number of files deleted.
    pub fn delete_expired(&self, log_min: u64) -> Result<usize, StoreError> {
        let mut deleted = 0;
        while let Some(file) = self.segments.pop_first_if(|f| {
            let last = f.size().min(f.wrote()).saturating_sub(ENTRY_SIZE);
            f.read(last, ENTRY_SIZE)
                .and_then(QueueEntry::decode)
                .is_some_and(|e| e.is_written() && !e.is_placeholder() && e.end() <= log_min)
        }) {
            segments::delete(&file)?;
            deleted += 1;
        }
        self.correct_min_offset(log_min);
        Ok(deleted)
    }

    fn correct_min_offset(&self, log_min: u64) {
        let Some(first) = self.segments.first() else {
            return;
        };
        let base = (first.start_offset() / ENTRY_SIZE as u64) as i64;
        let Some(bytes) = first.read_from(0) else { return };
        let mut min = base + (bytes.len() / ENTRY_SIZE) as i64;
        for (i, chunk) in bytes.chunks_exact(ENTRY_SIZE).enumerate() {
            if let Some(e) = QueueEntry::decode(chunk)
                && e.is_written()
                && !e.is_placeholder()
                && e.physical_offset as u64 >= log_min
            {
                min = base + i as i64;
                break;
            }
        }
        self.min_offset.fetch_max(min, Ordering::AcqRel);
    }

    /// Largest physical end referenced by the queue (0 when empty).
    pub fn max_physical_end(&self) -> u64 {
        let max = self.max_offset();
        if max == 0 {
            0
        } else {
            self.get(max - 1)
                .filter(|e| !e.is_placeholder())
                .map_or(0, |e| e.end())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::segments::load_files;

    fn queue(dir: &std::path::Path) -> ConsumeQueue {
        ConsumeQueue::new(
            "T".into(),
            0,
            Segments::new(dir.to_path_buf(), 5 * ENTRY_SIZE, Vec::new()),
            0,
        )
    }

    #[test]
    fn entry_layout_round_trips() {
        let e = QueueEntry {
            physical_offset: 0x0102,
            size: 300,
            tags_code: -5,
        };
        let bytes = e.encode();
        assert_eq!(&bytes[..8], &0x0102i64.to_be_bytes());
        assert_eq!(&bytes[8..12], &300i32.to_be_bytes());
        assert_eq!(QueueEntry::decode(&bytes), Some(e));
        assert_eq!(QueueEntry::decode(&bytes).unwrap().encode(), bytes);
    }

    #[test]
    fn put_get_roll_and_idempotent_replay() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        for i in 0..12i64 {
            q.put(
                i,
                QueueEntry {
                    physical_offset: i * 100,
                    size: 100,
                    tags_code: i,
                },
            )
            .unwrap();
        }
        q.put(
            3,
            QueueEntry {
                physical_offset: 999,
                size: 1,
                tags_code: 0,
            },
        )
        .unwrap();
        assert_eq!(q.max_offset(), 12);
        assert_eq!(
            q.get(3).unwrap().physical_offset,
            300,
            "replayed entry must not overwrite"
        );
        assert_eq!(q.entries(4, 100).len(), 8);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            3,
            "5 entries per file"
        );
        assert_eq!(q.max_physical_end(), 1200);
    }

    #[test]
    fn gaps_get_placeholders_and_recovery_cuts_past_log_end() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        q.put(
            7,
            QueueEntry {
                physical_offset: 50,
                size: 10,
                tags_code: 0,
            },
        )
        .unwrap();
        assert_eq!(
            q.min_offset(),
            7,
            "placeholders before the first entry are not readable"
        );
        assert!(
            dir.path().join("00000000000000000100").exists(),
            "first file is the one holding offset 7"
        );
        assert!(q.get(5).unwrap().is_placeholder());
        q.put(
            8,
            QueueEntry {
                physical_offset: 60,
                size: 10,
                tags_code: 0,
            },
        )
        .unwrap();
        q.flush().unwrap();
        drop(q);
        let files = load_files(dir.path(), 5 * ENTRY_SIZE, "size").unwrap();
        let files = recover_files(files, 65).unwrap();
        let q = ConsumeQueue::new(
            "T".into(),
            0,
            Segments::new(dir.path().to_path_buf(), 100, files),
            0,
        );
        assert_eq!(q.max_offset(), 8, "entry 8 ends at 70 > 65 and is cut");
        let raw = std::fs::read(dir.path().join("00000000000000000100")).unwrap();
        assert!(raw[60..].iter().all(|b| *b == 0), "cut entries are zeroed");
    }
}
