//! The `checkpoint` file: 4 KiB of big-endian longs, as the reference lays it out, plus one
//! Apogee field that makes restarts after a crash fast and exact.
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | physicMsgTimestamp | store time of the last CommitLog record known flushed |
//! | 8 | logicsMsgTimestamp | store time of the last consume-queue entry flushed |
//! | 16 | indexMsgTimestamp | store time covered by the flushed index |
//! | 24 | masterFlushedOffset | (slaves) |
//! | 32 | confirmPhyOffset | (controller mode) |
//! | 40 | recoverFrom | Apogee: CommitLog offset up to which the log, every consume queue and the index were flushed |
//! | 48 | crc | Apogee: CRC32 of bytes 0..48; a mismatch (torn write, other writer) voids `recoverFrom` |
//!
//! The reference broker ignores bytes past 40, so a volume stays readable by it.

use std::{fs::OpenOptions, io::Write, os::unix::fs::FileExt, path::Path};

use super::error::StoreError;

/// Size of the file.
pub const FILE_SIZE: usize = 4096;

/// Checkpoint contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Field @0.
    pub physic_msg_timestamp: i64,
    /// Field @8.
    pub logics_msg_timestamp: i64,
    /// Field @16.
    pub index_msg_timestamp: i64,
    /// Field @24.
    pub master_flushed_offset: i64,
    /// Field @32.
    pub confirm_phy_offset: i64,
    /// Field @40, when its CRC checks out.
    pub recover_from: Option<u64>,
}

impl Checkpoint {
    /// Encodes the full 4 KiB page.
    pub fn encode(&self) -> [u8; FILE_SIZE] {
        let mut page = [0u8; FILE_SIZE];
        let fields = [
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.master_flushed_offset,
            self.confirm_phy_offset,
            self.recover_from.map_or(0, |v| v as i64),
        ];
        for (i, v) in fields.iter().enumerate() {
            page[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        let crc = crc32fast::hash(&page[..48]);
        page[48..52].copy_from_slice(&crc.to_be_bytes());
        page
    }

    /// Decodes a page (any length; missing bytes read as zero).
    pub fn decode(bytes: &[u8]) -> Self {
        let mut page = [0u8; 52];
        let n = bytes.len().min(52);
        page[..n].copy_from_slice(&bytes[..n]);
        let field = |i: usize| i64::from_be_bytes(page[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let crc = u32::from_be_bytes([page[48], page[49], page[50], page[51]]);
        let valid = crc != 0 && crc == crc32fast::hash(&page[..48]);
        Self {
            physic_msg_timestamp: field(0),
            logics_msg_timestamp: field(1),
            index_msg_timestamp: field(2),
            master_flushed_offset: field(3),
            confirm_phy_offset: field(4),
            recover_from: valid.then(|| field(5) as u64),
        }
    }

    /// Reads the file; a missing file is an empty checkpoint.
    pub fn read(path: &Path) -> Result<Self, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Self::decode(&bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(StoreError::io("read checkpoint", path)(err)),
        }
    }

    /// Writes the page in place and fdatasyncs it.
    pub fn write(&self, path: &Path) -> Result<(), StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(StoreError::io("open checkpoint", path))?;
        file.write_all_at(&self.encode(), 0)
            .map_err(StoreError::io("write checkpoint", path))?;
        file.sync_data()
            .map_err(StoreError::io("sync checkpoint", path))?;
        let mut f = &file;
        f.flush().map_err(StoreError::io("write checkpoint", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_crc() {
        let cp = Checkpoint {
            physic_msg_timestamp: 5,
            index_msg_timestamp: 7,
            recover_from: Some(4096),
            ..Default::default()
        };
        let page = cp.encode();
        assert_eq!(&page[..8], &5i64.to_be_bytes());
        assert_eq!(&page[16..24], &7i64.to_be_bytes());
        assert_eq!(&page[40..48], &4096i64.to_be_bytes());
        assert_eq!(Checkpoint::decode(&page), cp);
        let mut torn = page;
        torn[41] ^= 1;
        assert_eq!(
            Checkpoint::decode(&torn).recover_from,
            None,
            "torn page voids recoverFrom"
        );
        let mut reference = [0u8; FILE_SIZE];
        reference[..8].copy_from_slice(&9i64.to_be_bytes());
        let read = Checkpoint::decode(&reference);
        assert_eq!(
            (read.physic_msg_timestamp, read.recover_from),
            (9, None),
            "reference-written file"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint");
        cp.write(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), FILE_SIZE as u64);
        assert_eq!(Checkpoint::read(&path).unwrap(), cp);
    }
}
