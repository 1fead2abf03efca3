//! One fixed-size, preallocated file mapped into memory: the only module of the crate that uses
//! `unsafe`.
//!
//! A mapped file has three areas:
//!
//! | area | bytes | access |
//! |---|---|---|
//! | atomic prefix | `0 .. prefix` | aligned atomic loads/stores only (index header and hash slots) |
//! | written | `prefix .. wrote` | immutable once published; shared reads through `&[u8]` |
//! | free | `wrote .. size` | written by the single appender, then published by moving `wrote` |
//!
//! Soundness rests on three rules that this module enforces itself:
//! 1. appends happen under `append_lock`, only in the free area, and are published with a
//!    release store of `wrote`; readers acquire-load `wrote` and never look past it;
//! 2. bytes below `wrote` are only ever changed through `&mut self` (recovery truncation), when
//!    no reader can exist;
//! 3. the atomic prefix is never handed out as a plain slice.
//!
//! Files are preallocated with `fallocate`, so a full disk surfaces as an error when a segment is
//! created, never as a `SIGBUS` on a later store into a sparse page.
#![allow(unsafe_code)]

use std::{
    fs::{File, OpenOptions},
    io,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
};

use memmap2::{MmapOptions, MmapRaw, UncheckedAdvice};
use rustix::fs::FallocateFlags;

/// How a new file's pages are brought in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Populate {
    /// Pre-fault every page now (`MAP_POPULATE`), so later appends take no major faults.
    Eager,
    /// Fault pages in on first touch.
    Lazy,
}

/// Which flushed pages [`MappedFile::release_flushed`] drops from the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Those flushed since the last release: cheap, for the flush path.
    New,
    /// All of them, pages that reads faulted back in included: a sweep of the whole range.
    All,
}

/// A fixed-size file mapped read-write, appended to by one writer and read by many.
#[derive(Debug)]
pub struct MappedFile {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    start_offset: u64,
    size: usize,
    prefix: usize,
    wrote: AtomicUsize,
    flushed: AtomicUsize,
    /// End of the range [`MappedFile::release_flushed`] last dropped.
    released: AtomicUsize,
    append_lock: Mutex<()>,
}

/// Returned when an append does not fit in the free area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom {
    /// Free bytes left in the file.
    pub remaining: usize,
}

impl MappedFile {
    /// Creates a new file of exactly `size` bytes (failing if it exists), reserves its blocks and
    /// maps it. `prefix` bytes at the start form the atomic area; appends start after them.
    pub fn create(
        path: &Path,
        start_offset: u64,
        size: usize,
        prefix: usize,
        populate: Populate,
    ) -> io::Result<Self> {
        if prefix > size || !prefix.is_multiple_of(4) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad atomic prefix"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let reserve = rustix::fs::fallocate(&file, FallocateFlags::empty(), 0, size as u64);
        if let Err(err) = reserve {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(err.into());
        }
        Self::map(
            path.to_path_buf(),
            file,
            start_offset,
            size,
            prefix,
            populate,
            prefix,
        )
    }

    /// Opens an existing file, which must be exactly `size` bytes long. All its bytes count as
    /// written until recovery says otherwise with [`MappedFile::truncate`].
    pub fn open(path: &Path, start_offset: u64, size: usize, prefix: usize) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len();
        if len != size as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file is {len} bytes, expected {size}"),
            ));
        }
        Self::map(
            path.to_path_buf(),
            file,
            start_offset,
            size,
            prefix,
            Populate::Lazy,
            size,
        )
    }

    fn map(
        path: PathBuf,
        file: File,
        start_offset: u64,
        size: usize,
        prefix: usize,
        populate: Populate,
        wrote: usize,
    ) -> io::Result<Self> {
        let mut options = MmapOptions::new();
        options.len(size);
        if populate == Populate::Eager {
            options.populate();
        }
        let map = options.map_raw(&file)?;
        Ok(Self {
            path,
            file,
            map,
            start_offset,
            size,
            prefix,
            wrote: AtomicUsize::new(wrote),
            flushed: AtomicUsize::new(wrote),
            released: AtomicUsize::new(0),
            append_lock: Mutex::new(()),
        })
    }

    /// Path of the backing file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Global offset of the file's first byte (its name).
    pub fn start_offset(&self) -> u64 {
        self.start_offset
    }

    /// Length of the file in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Published write position inside the file.
    pub fn wrote(&self) -> usize {
        self.wrote.load(Ordering::Acquire)
    }

    /// Position up to which bytes are known to be on disk.
    pub fn flushed(&self) -> usize {
        self.flushed.load(Ordering::Acquire)
    }

    /// Whether the free area is empty.
    pub fn is_full(&self) -> bool {
        self.wrote() >= self.size
    }

    /// Last-modified time of the backing file.
    pub fn modified(&self) -> io::Result<std::time::SystemTime> {
        self.file.metadata()?.modified()
    }

    /// Appends `data` at the write position and publishes it. Returns the position it was written
    /// at, or how much room is left when it does not fit.
    pub fn append(&self, data: &[u8]) -> Result<usize, NoRoom> {
        self.append_with(data.len(), |dst| dst.copy_from_slice(data))
    }

    /// Appends `len` bytes produced by `fill` straight into the mapping (no staging copy).
    pub fn append_with(&self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<usize, NoRoom> {
        let _guard = self
            .append_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pos = self.wrote.load(Ordering::Relaxed);
        let remaining = self.size - pos;
        if len > remaining {
            return Err(NoRoom { remaining });
        }
        // SAFETY: `pos..pos + len` lies inside the mapping (checked above) and in the free area,
        // which no reader touches (readers stop at `wrote`) and no other appender writes
        // (`append_lock` is held). The mapping lives as long as `self`.
        let dst = unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), len) };
        fill(dst);
        self.wrote.store(pos + len, Ordering::Release);
        Ok(pos)
    }

    /// Marks the rest of the file as written (after an end-of-file marker was appended).
    pub fn seal(&self) {
        let _guard = self
            .append_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.wrote.store(self.size, Ordering::Release);
    }

    /// Published bytes `pos .. pos + len`, or `None` when any of them is not published yet or
    /// lies in the atomic prefix.
    pub fn read(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if pos < self.prefix || end > self.wrote() {
            return None;
        }
        // SAFETY: the range is inside the mapping and below the acquired `wrote`, so it is
        // published and immutable for as long as `&self` lives (rule 2 of the module docs).
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// All published bytes from `pos` on.
    pub fn read_from(&self, pos: usize) -> Option<&[u8]> {
        let wrote = self.wrote();
        self.read(pos, wrote.checked_sub(pos)?)
    }

    fn atomic_slot<T>(&self, pos: usize) -> *const T {
        let width = std::mem::size_of::<T>();
        assert!(
            pos.is_multiple_of(width) && pos + width <= self.prefix,
            "atomic access outside the prefix"
        );
        // SAFETY: in bounds of the mapping (checked against the prefix, which is ≤ size).
        unsafe { self.map.as_ptr().add(pos).cast::<T>() }
    }

    /// Reads a big-endian `u32` stored in the atomic prefix.
    pub fn load_u32(&self, pos: usize) -> u32 {
        // SAFETY: the pointer is aligned (the mapping is page-aligned and `pos` a multiple of 4),
        // in bounds, and the prefix is only ever accessed atomically.
        let cell = unsafe { &*self.atomic_slot::<AtomicU32>(pos) };
        u32::from_be_bytes(cell.load(Ordering::Acquire).to_ne_bytes())
    }

    /// Stores a big-endian `u32` into the atomic prefix.
    pub fn store_u32(&self, pos: usize, value: u32) {
        // SAFETY: as in `load_u32`.
        let cell = unsafe { &*self.atomic_slot::<AtomicU32>(pos) };
        cell.store(u32::from_ne_bytes(value.to_be_bytes()), Ordering::Release);
    }

    /// Reads a big-endian `u64` stored in the atomic prefix.
    pub fn load_u64(&self, pos: usize) -> u64 {
        // SAFETY: as in `load_u32`, with 8-byte alignment.
        let cell = unsafe { &*self.atomic_slot::<AtomicU64>(pos) };
        u64::from_be_bytes(cell.load(Ordering::Acquire).to_ne_bytes())
    }

    /// Stores a big-endian `u64` into the atomic prefix.
    pub fn store_u64(&self, pos: usize, value: u64) {
        // SAFETY: as in `load_u64`.
        let cell = unsafe { &*self.atomic_slot::<AtomicU64>(pos) };
        cell.store(u64::from_ne_bytes(value.to_be_bytes()), Ordering::Release);
    }

    /// Writes every published byte (and the prefix) to disk: `msync(MS_SYNC)` over the dirty
    /// range, which on Linux is an fdatasync of that range of the file.
    pub fn flush(&self) -> io::Result<usize> {
        let wrote = self.wrote();
        let flushed = self.flushed();
        if self.prefix > 0 {
            self.map.flush_range(0, self.prefix)?;
        }
        if wrote > flushed {
            self.map.flush_range(flushed, wrote - flushed)?;
        }
        self.flushed.fetch_max(wrote, Ordering::AcqRel);
        Ok(wrote)
    }

    /// Drops this process's mapping of the pages below the flush position (the atomic prefix
    /// aside): with [`Release::New`] only those flushed since the last call, with
    /// [`Release::All`] every one, pages read back since included. The bytes stay in the page
    /// cache and on disk; a later read faults the same bytes back in, a minor fault while the
    /// kernel keeps them cached. Without this, every page ever written or read stays counted in
    /// the broker's resident set until the kernel reclaims it, and mapped pages are the last page
    /// cache it reclaims. Returns the bytes covered.
    pub fn release_flushed(&self, scope: Release) -> io::Result<usize> {
        let page = rustix::param::page_size();
        let first = self.prefix.next_multiple_of(page);
        let start = match scope {
            Release::New => first.max(self.released.load(Ordering::Acquire)),
            Release::All => first,
        };
        let end = self.flushed().min(self.wrote()) / page * page;
        if end <= start {
            return Ok(0);
        }
        // SAFETY: `start..end` is page-aligned and inside the mapping. The mapping is a shared
        // mapping of a regular file (`map_raw`), for which MADV_DONTNEED only removes page-table
        // entries: later accesses repopulate from the file's page cache, which holds the same
        // bytes (dirty pages keep their dirty state), so slices readers hold still read what was
        // published. The range is below `flushed` and `wrote` and outside the prefix, so no
        // append or atomic store races with it for content.
        unsafe {
            self.map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)?;
        }
        self.released.fetch_max(end, Ordering::AcqRel);
        Ok(end - start)
    }

    /// Cuts the written area back to `pos` and zeroes everything after it, so stale bytes can
    /// never be read back as data by a later recovery. Needs `&mut self`: no reader may exist.
    pub fn truncate(&mut self, pos: usize) -> io::Result<()> {
        let pos = pos.clamp(self.prefix, self.size);
        let zeroed = rustix::fs::fallocate(
            &self.file,
            FallocateFlags::ZERO_RANGE,
            pos as u64,
            (self.size - pos) as u64,
        );
        if zeroed.is_err() {
            // Filesystems without ZERO_RANGE (tmpfs): zero through the mapping instead.
            // SAFETY: `&mut self` guarantees no reader or appender; the range is in bounds.
            unsafe { std::ptr::write_bytes(self.map.as_mut_ptr().add(pos), 0, self.size - pos) };
            self.map.flush_range(pos, self.size - pos)?;
        }
        *self.wrote.get_mut() = pos;
        *self.flushed.get_mut() = pos;
        Ok(())
    }

    /// Sets the write position of a freshly opened file without touching its bytes (recovery
    /// found them valid up to `pos` and zero after it).
    pub fn set_wrote(&mut self, pos: usize) {
        let pos = pos.clamp(self.prefix, self.size);
        *self.wrote.get_mut() = pos;
        *self.flushed.get_mut() = pos;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_read_flush_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000");
        let mut file = MappedFile::create(&path, 0, 4096, 0, Populate::Eager).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        assert_eq!(file.append(b"hello").unwrap(), 0);
        assert_eq!(file.append(b" world").unwrap(), 5);
        assert_eq!(file.read(0, 11).unwrap(), b"hello world");
        assert!(
            file.read(0, 12).is_none(),
            "unpublished bytes must not be readable"
        );
        assert_eq!(file.flush().unwrap(), 11);
        assert_eq!(file.append(&[1; 5000]).unwrap_err(), NoRoom { remaining: 4085 });
        file.truncate(5).unwrap();
        assert_eq!(file.wrote(), 5);
        drop(file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..5], b"hello");
        assert!(bytes[5..].iter().all(|b| *b == 0), "tail must be zeroed");
    }

    /// Resident kB of the mapping of `path` in this process (`/proc/self/smaps`).
    fn resident_kib(path: &Path) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let name = path.to_str().unwrap();
        let mut lines = smaps.lines().skip_while(|l| !l.ends_with(name));
        lines.next().expect("the file is mapped");
        let rss = lines.find(|l| l.starts_with("Rss:")).expect("an Rss line");
        rss.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn released_pages_leave_the_resident_set_and_read_back_the_same() {
        const SIZE: usize = 8 << 20;
        let page = rustix::param::page_size();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000");
        let file = MappedFile::create(&path, 0, SIZE, 64, Populate::Lazy).unwrap();
        let data: Vec<u8> = (0..6 << 20).map(|i: usize| (i % 251) as u8).collect();
        file.append(&data).unwrap();
        file.store_u32(0, 9);
        assert_eq!(
            file.release_flushed(Release::New).unwrap(),
            0,
            "nothing flushed yet"
        );
        let written = resident_kib(&path);
        assert!(written >= 6 << 10, "written pages are resident: {written} kB");
        file.flush().unwrap();
        // From the first page boundary after the prefix to the last one below the flush
        // position (6 MiB + 64 bytes written).
        let expected = ((6 << 20) + 64) / page * page - page;
        assert_eq!(file.release_flushed(Release::New).unwrap(), expected);
        // Huge pages of the page cache may keep up to 2 MiB around each end mapped.
        let released = resident_kib(&path);
        assert!(
            released <= 4 << 10,
            "released pages left the resident set: {released} kB"
        );
        assert_eq!(
            file.release_flushed(Release::New).unwrap(),
            0,
            "nothing new to release"
        );
        assert_eq!(file.load_u32(0), 9);
        assert!(
            file.read(64, data.len()).unwrap() == data.as_slice(),
            "same bytes"
        );
        assert!(resident_kib(&path) >= 6 << 10, "the read mapped them again");
        assert_eq!(file.release_flushed(Release::All).unwrap(), expected);
        let swept = resident_kib(&path);
        assert!(
            swept <= 4 << 10,
            "the sweep released the pages read back: {swept} kB"
        );
        file.append(b"after").unwrap();
        assert_eq!(file.read(64 + data.len(), 5).unwrap(), b"after");
    }

    #[test]
    fn open_rejects_wrong_size_and_prefix_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [0u8; 100]).unwrap();
        let err = MappedFile::open(&path, 0, 4096, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let other = dir.path().join("g");
        let file = MappedFile::create(&other, 0, 4096, 64, Populate::Lazy).unwrap();
        file.store_u64(8, 0x0102_0304_0506_0708);
        file.store_u32(60, 7);
        assert_eq!(file.load_u64(8), 0x0102_0304_0506_0708);
        assert_eq!(file.load_u32(60), 7);
        assert!(file.read(0, 4).is_none(), "prefix is not readable as plain bytes");
        assert_eq!(file.append(b"x").unwrap(), 64);
        file.flush().unwrap();
        let bytes = std::fs::read(&other).unwrap();
        assert_eq!(&bytes[8..16], &[1, 2, 3, 4, 5, 6, 7, 8], "big-endian on disk");
        assert_eq!(bytes[64], b'x');
    }
}
