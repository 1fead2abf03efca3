//! CommitLog recovery: find where valid data ends, cut there, zero what follows.
//!
//! The scan starts at the checkpoint's `recoverFrom` (log, queues and index all flushed up to
//! it), or at the oldest segment when there is none, and walks record by record checking
//! length, magic, the recorded physical offset and (with `checkCRCOnRecover`) the body CRC. The
//! first record that fails is the cut point. Only a *tail* may be cut: if a later segment still
//! begins with a valid record, the damage is in the middle of the log and the store refuses to
//! start instead of throwing away good data.

use super::{
    error::StoreError,
    mapped_file::MappedFile,
    record::{self, Entry},
    segments,
};

/// Result of the scan.
#[derive(Debug)]
pub struct RecoveredLog {
    /// Segments, the last one cut at `end`.
    pub files: Vec<MappedFile>,
    /// Where the scan began (dispatch resumes here).
    pub scanned_from: u64,
    /// First offset after the last valid record.
    pub end: u64,
    /// Records verified by the scan.
    pub records: u64,
    /// Why the scan stopped, when it was not clean unwritten space.
    pub stop_reason: Option<String>,
}

/// Scans and cuts the CommitLog segments.
pub fn recover_log(
    mut files: Vec<MappedFile>,
    recover_from: Option<u64>,
    check_crc: bool,
) -> Result<RecoveredLog, StoreError> {
    let Some(first) = files.first().map(MappedFile::start_offset) else {
        return Ok(RecoveredLog {
            files,
            scanned_from: 0,
            end: 0,
            records: 0,
            stop_reason: None,
        });
    };
    let size = files[0].size() as u64;
    let end_of_files = first + size * files.len() as u64;
    let scanned_from = recover_from
        .filter(|f| (first..=end_of_files).contains(f))
        .unwrap_or(first);
    let mut pos = scanned_from;
    let mut records = 0;
    let mut stop_reason = None;
    while pos < end_of_files {
        let file = &files[((pos - first) / size) as usize];
        let rel = (pos - file.start_offset()) as usize;
        let bytes = file.read_from(rel).unwrap_or(&[]);
        match record::decode(bytes, check_crc) {
            Ok(Entry::Message(view)) if view.physical_offset as u64 == pos => {
                pos += view.total_size as u64;
                records += 1;
            }
            Ok(Entry::Message(view)) => {
                stop_reason = Some(format!("record claims offset {}", view.physical_offset));
                break;
            }
            Ok(Entry::EndOfSegment) => pos = file.start_offset() + size,
            Ok(Entry::Unwritten) => break,
            Err(err) => {
                stop_reason = Some(err.to_string());
                break;
            }
        }
    }
    let cut_index = (((pos - first) / size) as usize).min(files.len());
    for later in files.iter().skip(cut_index + 1) {
        if let Ok(Entry::Message(_)) = record::decode(later.read_from(0).unwrap_or(&[]), check_crc) {
            return Err(StoreError::Corrupted {
                path: files[cut_index.min(files.len() - 1)].path().to_path_buf(),
                offset: pos,
                reason: format!(
                    "{} — and {} holds valid data after it, so this is not a torn tail",
                    stop_reason.as_deref().unwrap_or("unwritten gap"),
                    later.path().display()
                ),
            });
        }
    }
    if let Some(reason) = &stop_reason {
        tracing::warn!(offset = pos, %reason, "commit log cut at the first invalid record");
    }
    for later in files.drain((cut_index + 1).min(files.len())..) {
        segments::delete(&later)?;
    }
    if let Some(file) = files.get_mut(cut_index) {
        let rel = (pos - file.start_offset()) as usize;
        file.truncate(rel)
            .map_err(StoreError::io("truncate segment", file.path()))?;
    }
    Ok(RecoveredLog {
        files,
        scanned_from,
        end: pos,
        records,
        stop_reason,
    })
}
