//! How far the scheduler has delivered each delay level: `config/delayOffset.json`
//! (`{"offsetTable":{1:12,2:0}}`, the reference's fastjson shape with integer keys, which we
//! read and write with quoted keys), saved every few seconds and at shutdown. After a crash the
//! scheduler resumes from the last save: a message may be delivered twice, never lost.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Mutex, MutexGuard, PoisonError},
};

use serde::{Deserialize, Serialize};

use super::consumer_offsets::quote_integer_keys;
use crate::store::{StoreError, config_file};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OnDisk {
    offset_table: BTreeMap<i32, i64>,
}

/// Level → next schedule-queue offset to deliver.
#[derive(Debug)]
pub struct DelayOffsets {
    path: PathBuf,
    table: Mutex<BTreeMap<i32, i64>>,
}

impl DelayOffsets {
    /// Loads the file (or its `.bak`); missing means every level starts at 0.
    pub fn load(path: PathBuf) -> Result<Self, StoreError> {
        let parsed = config_file::read_with_backup(&path, |text| {
            serde_json::from_str::<OnDisk>(&quote_integer_keys(text)).map_err(|e| e.to_string())
        })?;
        Ok(Self {
            path,
            table: Mutex::new(parsed.unwrap_or_default().offset_table),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<i32, i64>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next offset of `level` to deliver.
    pub fn get(&self, level: i32) -> i64 {
        self.lock().get(&level).copied().unwrap_or(0)
    }

    /// Records delivery up to (not including) `offset`.
    pub fn set(&self, level: i32, offset: i64) {
        self.lock().insert(level, offset);
    }

    /// The whole table (GET_ALL_DELAY_OFFSET, slaves' metadata sync).
    pub fn snapshot(&self) -> BTreeMap<i32, i64> {
        self.lock().clone()
    }

    /// The file's JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&OnDisk {
            offset_table: self.snapshot(),
        })
        .unwrap_or_default()
    }

    /// Writes the table atomically.
    pub fn persist(&self) -> Result<(), StoreError> {
        config_file::write_atomic(&self.path, &self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_file_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/delayOffset.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"offsetTable":{1:12,3:4}}"#).unwrap();
        let offsets = DelayOffsets::load(path.clone()).unwrap();
        assert_eq!((offsets.get(1), offsets.get(2), offsets.get(3)), (12, 0, 4));
        offsets.set(2, 7);
        offsets.persist().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            r#"{"offsetTable":{"1":12,"2":7,"3":4}}"#
        );
        assert_eq!(DelayOffsets::load(path).unwrap().get(2), 7);
    }
}
