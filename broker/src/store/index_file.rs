//! One IndexFile: a hash table from `topic#key` to physical offsets, in `index/<yyyyMMddHHmmssSSS>`.
//!
//! | area | layout |
//! |---|---|
//! | header (40 B) | begin timestamp i64 @0, end timestamp i64 @8, begin phys offset i64 @16, end phys offset i64 @24, used slot count i32 @32, entry count i32 @36 |
//! | slots (`maxHashSlotNum` × 4 B) | number of the newest entry of the bucket (0 = none) |
//! | entries (`maxIndexNum` × 20 B) | key hash i32, phys offset i64, seconds since begin timestamp i32, previous entry i32 |
//!
//! Entry 0 is never used, so the entry count starts at 1. Buckets chain backwards through the
//! previous-entry field. Header and slots are updated with atomic stores (readers run
//! concurrently); entries are appended and published before the slot points at them.

use std::path::Path;

use super::{
    error::StoreError,
    mapped_file::{MappedFile, Populate, Release},
    properties::java_hash,
};

const HEADER: usize = 40;
const ENTRY: usize = 20;
const BEGIN_TS: usize = 0;
const END_TS: usize = 8;
const BEGIN_PHY: usize = 16;
const END_PHY: usize = 24;
const SLOT_COUNT: usize = 32;
const INDEX_COUNT: usize = 36;

/// One index file.
#[derive(Debug)]
pub struct IndexFile {
    file: MappedFile,
    slots: u32,
    max_entries: u32,
}

/// The bucket hash RocketMQ uses: `abs(String.hashCode(key))`, with `i32::MIN` mapped to 0.
fn positive_hash(key: &str) -> i32 {
    java_hash(key).checked_abs().unwrap_or(0)
}

impl IndexFile {
    fn entries_base(slots: u32) -> usize {
        HEADER + slots as usize * 4
    }

    /// Size of a file with these dimensions.
    pub fn file_size(slots: u32, max_entries: u32) -> usize {
        Self::entries_base(slots) + max_entries as usize * ENTRY
    }

    /// Creates an empty index file.
    pub fn create(path: &Path, slots: u32, max_entries: u32) -> Result<Self, StoreError> {
        let size = Self::file_size(slots, max_entries);
        let file = MappedFile::create(path, 0, size, Self::entries_base(slots), Populate::Lazy)
            .map_err(StoreError::io("create index file", path))?;
        // Entry 0 is the "null" entry.
        let _ = file.append(&[0u8; ENTRY]);
        file.store_u32(INDEX_COUNT, 1);
        Ok(Self {
            file,
            slots,
            max_entries,
        })
    }

    /// Opens an existing index file whose size must match the configured dimensions.
    pub fn open(path: &Path, slots: u32, max_entries: u32) -> Result<Self, StoreError> {
        let size = Self::file_size(slots, max_entries);
        let mut file = MappedFile::open(path, 0, size, Self::entries_base(slots)).map_err(|err| {
            StoreError::Corrupted {
                path: path.to_path_buf(),
                offset: 0,
                reason: format!("{err} (maxHashSlotNum={slots}, maxIndexNum={max_entries})"),
            }
        })?;
        let count = file.load_u32(INDEX_COUNT).clamp(1, max_entries);
        file.set_wrote(Self::entries_base(slots) + count as usize * ENTRY);
        Ok(Self {
            file,
            slots,
            max_entries,
        })
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Next entry number (entries 1..count are used).
    pub fn count(&self) -> u32 {
        self.file.load_u32(INDEX_COUNT)
    }

    /// Whether no more entries fit.
    pub fn is_full(&self) -> bool {
        self.count() >= self.max_entries
    }

    /// Store time of the first entry.
    pub fn begin_timestamp(&self) -> i64 {
        self.file.load_u64(BEGIN_TS) as i64
    }

    /// Store time of the newest entry.
    pub fn end_timestamp(&self) -> i64 {
        self.file.load_u64(END_TS) as i64
    }

    /// Physical offset of the first entry.
    pub fn begin_physical_offset(&self) -> i64 {
        self.file.load_u64(BEGIN_PHY) as i64
    }

    /// Physical offset of the newest entry.
    pub fn end_physical_offset(&self) -> i64 {
        self.file.load_u64(END_PHY) as i64
    }

    /// Adds `key → physical_offset`. Returns false when the file is full.
    pub fn put(&self, key: &str, physical_offset: i64, store_timestamp: i64) -> bool {
        let count = self.count();
        if count >= self.max_entries {
            return false;
        }
        let hash = positive_hash(key);
        let slot_pos = HEADER + (hash as u32 % self.slots) as usize * 4;
        let mut prev = self.file.load_u32(slot_pos) as i32;
        if prev <= 0 || prev as u32 >= count {
            prev = 0;
        }
        let begin = self.begin_timestamp();
        let diff = if count <= 1 || begin <= 0 {
            0
        } else {
            (store_timestamp - begin).max(0) / 1000
        };
        let diff = i32::try_from(diff).unwrap_or(i32::MAX);
        let mut entry = [0u8; ENTRY];
        entry[..4].copy_from_slice(&hash.to_be_bytes());
        entry[4..12].copy_from_slice(&physical_offset.to_be_bytes());
        entry[12..16].copy_from_slice(&diff.to_be_bytes());
        entry[16..].copy_from_slice(&prev.to_be_bytes());
        if self.file.append(&entry).is_err() {
            return false;
        }
        self.file.store_u32(slot_pos, count);
        if count <= 1 {
            self.file.store_u64(BEGIN_PHY, physical_offset as u64);
            self.file.store_u64(BEGIN_TS, store_timestamp as u64);
        }
        if prev == 0 {
            self.file
                .store_u32(SLOT_COUNT, self.file.load_u32(SLOT_COUNT) + 1);
        }
        self.file.store_u64(END_PHY, physical_offset as u64);
        self.file.store_u64(END_TS, store_timestamp as u64);
        self.file.store_u32(INDEX_COUNT, count + 1);
        true
    }

    /// Whether the file's time range overlaps `[begin, end]`.
    pub fn overlaps(&self, begin: i64, end: i64) -> bool {
        let (b, e) = (self.begin_timestamp(), self.end_timestamp());
        (begin < b && end > e) || (begin >= b && begin <= e) || (end >= b && end <= e)
    }

    /// Physical offsets stored under `key` (newest first) with store time in `[begin, end]`,
    /// appended to `out` until it holds `max`. Hash collisions are possible: callers check the
    /// record's real key.
    pub fn query(&self, key: &str, max: usize, begin: i64, end: i64, out: &mut Vec<i64>) {
        let count = self.count();
        let hash = positive_hash(key);
        let slot_pos = HEADER + (hash as u32 % self.slots) as usize * 4;
        let mut next = self.file.load_u32(slot_pos);
        let begin_ts = self.begin_timestamp();
        let base = Self::entries_base(self.slots);
        let mut steps = 0u32;
        while out.len() < max && next > 0 && next < count && steps < count {
            steps += 1;
            let Some(e) = self.file.read(base + next as usize * ENTRY, ENTRY) else {
                break;
            };
            let read_hash = i32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let phys = i64::from_be_bytes([e[4], e[5], e[6], e[7], e[8], e[9], e[10], e[11]]);
            let diff = i32::from_be_bytes([e[12], e[13], e[14], e[15]]);
            let prev = i32::from_be_bytes([e[16], e[17], e[18], e[19]]);
            let time = begin_ts + i64::from(diff) * 1000;
            if read_hash == hash && time >= begin && time <= end {
                out.push(phys);
            }
            if prev <= 0 || prev as u32 >= next || time < begin {
                break;
            }
            next = prev as u32;
        }
    }

    /// Flushes header, slots and entries, then drops the mapping of the flushed entries (see
    /// `MappedFile::release_flushed`; the slots stay mapped). Not dropping them only costs
    /// memory, so that failure is logged rather than failing the flush.
    pub fn flush(&self) -> std::io::Result<()> {
        self.file.flush()?;
        if let Err(err) = self.file.release_flushed(Release::New) {
            tracing::warn!(%err, path = %self.file.path().display(), "could not drop the mapping of flushed index entries");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_and_query_with_collisions_and_time_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("20240101000000000");
        let index = IndexFile::create(&path, 4, 10).unwrap();
        let t0 = 1_700_000_000_000;
        for i in 0..6i64 {
            assert!(index.put(&format!("T#k{}", i % 3), i * 100, t0 + i * 1000));
        }
        let mut hits = Vec::new();
        index.query("T#k1", 10, 0, i64::MAX, &mut hits);
        assert_eq!(hits, vec![400, 100], "newest first, only matching hashes");
        hits.clear();
        index.query("T#k1", 10, t0 + 2000, i64::MAX, &mut hits);
        assert_eq!(hits, vec![400], "time range filters");
        assert_eq!(index.count(), 7);
        assert_eq!(index.begin_physical_offset(), 0);
        assert_eq!(index.end_physical_offset(), 500);
        for i in 6..9 {
            assert!(index.put("T#x", i, t0));
        }
        assert!(!index.put("T#x", 10, t0), "full after maxIndexNum - 1 entries");
        index.flush().unwrap();
        drop(index);
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.len(), 40 + 16 + 200);
        assert_eq!(&raw[36..40], &10i32.to_be_bytes(), "entry count in the header");
        let reopened = IndexFile::open(&path, 4, 10).unwrap();
        let mut hits = Vec::new();
        reopened.query("T#k0", 10, 0, i64::MAX, &mut hits);
        assert_eq!(hits, vec![300, 0]);
        assert!(
            IndexFile::open(&path, 8, 10).is_err(),
            "dimension mismatch is an error"
        );
    }
}
