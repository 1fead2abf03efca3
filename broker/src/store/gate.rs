//! Whether the store accepts writes, and why not.

use std::sync::atomic::{AtomicU8, Ordering};

use super::error::NotWritable;

const DISK_FULL: u8 = 1;
const FLUSH_FAILED: u8 = 2;
const DISPATCH_FAILED: u8 = 4;
const SHUTTING_DOWN: u8 = 8;

fn bit(reason: NotWritable) -> u8 {
    match reason {
        NotWritable::DiskFull => DISK_FULL,
        NotWritable::FlushFailed => FLUSH_FAILED,
        NotWritable::DispatchFailed => DISPATCH_FAILED,
        NotWritable::ShuttingDown => SHUTTING_DOWN,
    }
}

/// A set of reasons to refuse writes.
#[derive(Debug, Default)]
pub struct WriteGate {
    flags: AtomicU8,
}

impl WriteGate {
    /// Adds a reason.
    pub fn close(&self, reason: NotWritable) {
        self.flags.fetch_or(bit(reason), Ordering::AcqRel);
    }

    /// Removes a reason.
    pub fn open(&self, reason: NotWritable) {
        self.flags.fetch_and(!bit(reason), Ordering::AcqRel);
    }

    /// `Err` with the first reason when writes are refused.
    pub fn check(&self) -> Result<(), NotWritable> {
        let flags = self.flags.load(Ordering::Acquire);
        for reason in [
            NotWritable::ShuttingDown,
            NotWritable::FlushFailed,
            NotWritable::DispatchFailed,
            NotWritable::DiskFull,
        ] {
            if flags & bit(reason) != 0 {
                return Err(reason);
            }
        }
        Ok(())
    }
}
