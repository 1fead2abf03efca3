//! The key index: a run of [`IndexFile`]s, newest last, answering "which records carry this key
//! (or unique key) within this time range".

use std::{
    fs,
    path::PathBuf,
    sync::{Arc, RwLock},
};

use super::{clock, error::StoreError, index_file::IndexFile};

/// Most offsets one query returns (`maxMsgsNumBatch`).
pub const MAX_QUERY_RESULTS: usize = 64;

/// All index files.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    slots: u32,
    max_entries: u32,
    files: RwLock<Vec<Arc<IndexFile>>>,
}

/// The key an index entry is stored under.
pub fn key(topic: &str, key: &str) -> String {
    format!("{topic}#{key}")
}

impl Index {
    /// Loads the index files of `dir`, dropping any that start at or past `log_end` (their
    /// records were cut by recovery).
    pub fn load(dir: PathBuf, slots: u32, max_entries: u32, log_end: u64) -> Result<Self, StoreError> {
        let mut names = Vec::new();
        match fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(StoreError::io("read directory", &dir))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.len() == 17 && name.bytes().all(|b| b.is_ascii_digit()) {
                        names.push(name);
                    }
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(StoreError::io("read directory", &dir)(err)),
        }
        names.sort();
        let mut files = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let file = IndexFile::open(&path, slots, max_entries)?;
            if file.count() > 1 && file.begin_physical_offset() as u64 >= log_end {
                drop(file);
                fs::remove_file(&path).map_err(StoreError::io("remove index file", &path))?;
                continue;
            }
            files.push(Arc::new(file));
        }
        Ok(Self {
            dir,
            slots,
            max_entries,
            files: RwLock::new(files),
        })
    }

    fn snapshot(&self) -> Vec<Arc<IndexFile>> {
        self.files
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Physical offset of the newest indexed record, if any.
    pub fn last_indexed(&self) -> Option<i64> {
        self.snapshot()
            .last()
            .filter(|f| f.count() > 1)
            .map(|f| f.end_physical_offset())
    }

    /// Newest store time covered by a *full* index file (0 when none is full). The reference
    /// checkpoints this as `indexMsgTimestamp`, so after a crash it rebuilds the partial newest
    /// file instead of trusting it.
    pub fn sealed_end_timestamp(&self) -> i64 {
        let files = self.snapshot();
        files.len().checked_sub(2).map_or(0, |i| files[i].end_timestamp())
    }

    /// Indexes `key` for the record at `physical_offset`, rolling to a new file when full.
    pub fn put(&self, key: &str, physical_offset: i64, store_timestamp: i64) -> Result<(), StoreError> {
        if let Some(last) = self.snapshot().last()
            && last.put(key, physical_offset, store_timestamp)
        {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(StoreError::io("create directory", &self.dir))?;
        let mut stamp = clock::now_millis();
        let mut path = self.dir.join(clock::file_stamp(stamp));
        while path.exists() {
            stamp += 1;
            path = self.dir.join(clock::file_stamp(stamp));
        }
        let file = Arc::new(IndexFile::create(&path, self.slots, self.max_entries)?);
        if !file.put(key, physical_offset, store_timestamp) {
            return Err(StoreError::Config {
                key: "maxIndexNum",
                reason: "index file holds no entries".into(),
            });
        }
        if let Some(previous) = self.snapshot().last() {
            previous
                .flush()
                .map_err(StoreError::io("flush index file", previous.path()))?;
        }
        self.files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(file);
        Ok(())
    }

    /// Physical offsets indexed under `key` with store time in `[begin, end]`, newest first.
    pub fn query(&self, key: &str, max: usize, begin: i64, end: i64) -> Vec<i64> {
        let max = max.min(MAX_QUERY_RESULTS);
        let mut out = Vec::new();
        for file in self.snapshot().iter().rev() {
            if out.len() >= max {
                break;
            }
            if file.count() > 1 && file.overlaps(begin, end) {
                file.query(key, max, begin, end, &mut out);
            }
        }
        out.dedup();
        out
    }

    /// Flushes every file.
    pub fn flush(&self) -> Result<(), StoreError> {
        for file in self.snapshot() {
            file.flush()
                .map_err(StoreError::io("flush index file", file.path()))?;
        }
        Ok(())
    }

    /// Deletes files (never the newest) whose every entry points before `log_min`.
    pub fn delete_expired(&self, log_min: u64) -> Result<usize, StoreError> {
        let removed: Vec<Arc<IndexFile>> = {
            let mut files = self
                .files
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let keep_from = files
                .iter()
                .take(files.len().saturating_sub(1))
                .take_while(|f| (f.end_physical_offset() as u64) < log_min)
                .count();
            files.drain(..keep_from).collect()
        };
        for file in &removed {
            fs::remove_file(file.path()).map_err(StoreError::io("delete index file", file.path()))?;
        }
        Ok(removed.len())
    }
}
