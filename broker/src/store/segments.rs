//! An ordered run of equally sized mapped files in one directory, each named by the 20-digit
//! offset of its first byte (`00000000000000000000`, `00000000001073741824`, …). The CommitLog
//! and every consume queue are one of these.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use super::{
    error::StoreError,
    mapped_file::{MappedFile, Populate, Release},
};

/// The file name for a start offset.
pub fn file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Lists and opens a directory's segment files, checking names, sizes and contiguity. Returns
/// them owned (recovery may still truncate them). A zero-length last file — a crash while it was
/// being created — is removed; any other size mismatch or gap is an error naming the file.
pub fn load_files(
    dir: &Path,
    file_size: usize,
    size_key: &'static str,
) -> Result<Vec<MappedFile>, StoreError> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(StoreError::io("read directory", dir)(err)),
    };
    for entry in entries {
        let entry = entry.map_err(StoreError::io("read directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
            let offset: u64 = name.parse().map_err(|_| StoreError::Corrupted {
                path: entry.path(),
                offset: 0,
                reason: "file name is not an offset".into(),
            })?;
            found.push((offset, entry.path()));
        } else {
            tracing::warn!(file = %entry.path().display(), "ignoring a file that is not a segment");
        }
    }
    found.sort_by_key(|(offset, _)| *offset);
    let mut files: Vec<MappedFile> = Vec::with_capacity(found.len());
    let count = found.len();
    for (i, (offset, path)) in found.into_iter().enumerate() {
        let len = fs::metadata(&path).map_err(StoreError::io("stat", &path))?.len();
        if len == 0 && i + 1 == count {
            tracing::warn!(file = %path.display(), "removing an empty last segment left by a crash");
            fs::remove_file(&path).map_err(StoreError::io("remove", &path))?;
            continue;
        }
        if len != file_size as u64 {
            return Err(StoreError::Corrupted {
                path,
                offset: 0,
                reason: format!("segment is {len} bytes, but {size_key} is {file_size}"),
            });
        }
        if !offset.is_multiple_of(file_size as u64) {
            return Err(StoreError::Corrupted {
                path,
                offset,
                reason: format!("start offset is not a multiple of {size_key} ({file_size})"),
            });
        }
        if let Some(prev) = files.last() {
            let expected = prev.start_offset() + file_size as u64;
            if offset != expected {
                return Err(StoreError::Corrupted {
                    path,
                    offset,
                    reason: format!("segment gap: expected a file starting at {expected}"),
                });
            }
        }
        let file = MappedFile::open(&path, offset, file_size, 0).map_err(StoreError::io("map", &path))?;
        files.push(file);
    }
    Ok(files)
}

/// How often, at most, flushing also drops the mapping of newly flushed pages
/// ([`MappedFile::release_flushed`]): often enough to bound the resident set to about this much
/// writing, rarely enough that SYNC_FLUSH's many small flushes do not pay for it each time.
const RELEASE_EVERY: Duration = Duration::from_millis(500);
/// How often, at most, [`Segments::release_flushed_pages`] sweeps every file's whole flushed range
/// (the pages consumers read back). A sweep walks the page tables of everything ever mapped
/// (about 2 MiB of entries per GiB of store), so it runs on the background flusher, not on the
/// write path.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A shared, ordered list of segments.
#[derive(Debug)]
pub struct Segments {
    dir: PathBuf,
    file_size: usize,
    files: RwLock<Vec<Arc<MappedFile>>>,
    released_at: Mutex<Option<Instant>>,
    swept_at: Mutex<Option<Instant>>,
}

impl Segments {
    /// Wraps recovered files.
    pub fn new(dir: PathBuf, file_size: usize, files: Vec<MappedFile>) -> Self {
        Self {
            dir,
            file_size,
            files: RwLock::new(files.into_iter().map(Arc::new).collect()),
            released_at: Mutex::new(None),
            swept_at: Mutex::new(None),
        }
    }

    /// Directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Size of every file.
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<MappedFile>>> {
        self.files
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<MappedFile>>> {
        self.files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The oldest file.
    pub fn first(&self) -> Option<Arc<MappedFile>> {
        self.read().first().cloned()
    }

    /// The newest file.
    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.read().last().cloned()
    }

    /// All files, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<MappedFile>> {
        self.read().clone()
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The file holding global `offset`.
    pub fn find(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.read();
        let first = files.first()?.start_offset();
        let index = usize::try_from(offset.checked_sub(first)? / self.file_size as u64).ok()?;
        files.get(index).filter(|f| f.start_offset() <= offset).cloned()
    }

    /// Offset of the first byte still kept.
    pub fn min_offset(&self) -> Option<u64> {
        self.first().map(|f| f.start_offset())
    }

    /// Global write position (end of the newest file's published bytes).
    pub fn max_offset(&self) -> Option<u64> {
        self.last().map(|f| f.start_offset() + f.wrote() as u64)
    }

    /// Creates (but does not add) the file starting at `start`.
    pub fn create(&self, start: u64, populate: Populate) -> Result<MappedFile, StoreError> {
        fs::create_dir_all(&self.dir).map_err(StoreError::io("create directory", &self.dir))?;
        let path = self.dir.join(file_name(start));
        MappedFile::create(&path, start, self.file_size, 0, populate)
            .map_err(StoreError::io("create segment", path))
    }

    /// Appends a file that starts where the newest one ends.
    pub fn push(&self, file: Arc<MappedFile>) {
        let mut files = self.write();
        debug_assert!(
            files
                .last()
                .is_none_or(|l| l.start_offset() + self.file_size as u64 == file.start_offset())
        );
        files.push(file);
    }

    /// Takes the only file out of the list (a replica restarting its log elsewhere).
    pub fn pop_only(&self) -> Option<Arc<MappedFile>> {
        let mut files = self.write();
        if files.len() != 1 {
            return None;
        }
        files.pop()
    }

    /// Takes the oldest file out of the list if `pred` holds for it and it is not the newest.
    /// The caller deletes it; readers still holding it keep a valid mapping until they drop it.
    pub fn pop_first_if(&self, pred: impl FnOnce(&MappedFile) -> bool) -> Option<Arc<MappedFile>> {
        let mut files = self.write();
        if files.len() < 2 || !pred(&files[0]) {
            return None;
        }
        Some(files.remove(0))
    }

    /// Flushes every file with unflushed bytes. Returns the global offset now on disk.
    pub fn flush(&self) -> std::io::Result<Option<u64>> {
        let files = self.snapshot();
        let mut reached = None;
        for file in &files {
            if file.flushed() < file.wrote() {
                file.flush()?;
            }
            reached = Some(file.start_offset() + file.flushed() as u64);
        }
        if due(&self.released_at, RELEASE_EVERY) {
            release(&files, Release::New);
        }
        Ok(reached)
    }

    /// At most every [`SWEEP_EVERY`]: drops every file's mapping of all its flushed pages, those
    /// read back since included (flushing drops only the newly flushed ones). For a background
    /// thread: the sweep is not cheap on a large store.
    pub fn release_flushed_pages(&self) {
        if due(&self.swept_at, SWEEP_EVERY) {
            release(&self.snapshot(), Release::All);
        }
    }

    /// Bytes published but not yet flushed.
    pub fn dirty_bytes(&self) -> u64 {
        self.read()
            .iter()
            .rev()
            .take(2)
            .map(|f| (f.wrote() - f.flushed().min(f.wrote())) as u64)
            .sum()
    }
}

/// Whether `every` has passed since the time in `last` (then reset to now).
fn due(last: &Mutex<Option<Instant>>, every: Duration) -> bool {
    let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_some_and(|at| at.elapsed() < every) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

/// [`MappedFile::release_flushed`] over `files`. A failure only costs memory, so it is logged,
/// not returned.
fn release(files: &[Arc<MappedFile>], scope: Release) {
    for file in files {
        if let Err(err) = file.release_flushed(scope) {
            tracing::warn!(%err, path = %file.path().display(), "could not drop the mapping of flushed pages");
        }
    }
}

/// Deletes a file that was taken out of its list.
pub fn delete(file: &MappedFile) -> Result<(), StoreError> {
    match fs::remove_file(file.path()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(StoreError::io("delete segment", file.path())(err)),
    }
}
