//! Store settings. Field docs name the RocketMQ `broker.conf` key each one comes from, so the
//! broker's config loader (and its errors) can speak the reference's vocabulary.

use std::{path::PathBuf, time::Duration};

use super::error::StoreError;

/// `flushDiskType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushDiskType {
    /// `ASYNC_FLUSH`: acknowledge after the page-cache copy; flush periodically.
    #[default]
    Async,
    /// `SYNC_FLUSH`: acknowledge after an fdatasync covering the message (group commit).
    Sync,
}

impl std::str::FromStr for FlushDiskType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ASYNC_FLUSH" => Ok(Self::Async),
            "SYNC_FLUSH" => Ok(Self::Sync),
            other => Err(format!("expected ASYNC_FLUSH or SYNC_FLUSH, got `{other}`")),
        }
    }
}

/// Everything the storage engine needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `storePathRootDir`.
    pub root_dir: PathBuf,
    /// `mappedFileSizeCommitLog`: CommitLog segment size in bytes (1 GiB).
    pub commit_log_segment_size: usize,
    /// `mappedFileSizeConsumeQueue`: consume queue file size in bytes (300 000 entries × 20).
    pub consume_queue_file_size: usize,
    /// `flushDiskType`.
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog` (500 ms).
    pub flush_interval: Duration,
    /// `flushCommitLogLeastPages` (4 pages of 4 KiB).
    pub flush_least_pages: usize,
    /// `flushCommitLogThoroughInterval` (10 s): flush whatever is dirty at least this often.
    pub flush_thorough_interval: Duration,
    /// `syncFlushTimeout` (5 s).
    pub sync_flush_timeout: Duration,
    /// `flushIntervalConsumeQueue` (1 s): consume queues, index and checkpoint.
    pub flush_consume_queue_interval: Duration,
    /// `fileReservedTime` (72 hours).
    pub file_reserved_time: Duration,
    /// `deleteWhen` ("04"): hours of the day (UTC) when expired files are deleted.
    pub delete_when: Vec<u8>,
    /// `diskMaxUsedSpaceRatio` (75 %): above it, expired files are deleted at any hour.
    pub disk_max_used_space_ratio: f64,
    /// `diskSpaceCleanForciblyRatio` (85 %): above it, the oldest files go even if not expired.
    pub disk_space_clean_forcibly_ratio: f64,
    /// `diskSpaceWarningLevelRatio` (90 %): above it, writes are refused.
    pub disk_space_warning_level_ratio: f64,
    /// `cleanResourceInterval` (10 s).
    pub clean_resource_interval: Duration,
    /// `deleteFileBatchMax` (10): files deleted per cleaning pass.
    pub delete_file_batch_max: usize,
    /// `maxHashSlotNum` (5 000 000).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum` (20 000 000).
    pub max_index_num: u32,
    /// `messageIndexEnable` (true).
    pub message_index_enable: bool,
    /// `maxMessageSize` (4 MiB): largest body.
    pub max_message_size: usize,
    /// `checkCRCOnRecover` (true).
    pub check_crc_on_recover: bool,
    /// `warmMapedFileEnable` (false): also pre-fault the next CommitLog segment when the
    /// background allocator creates it. Off by default, as in the reference: pre-faulting a
    /// shared mapping only saves the page zeroing (writes still take a minor fault), costs a
    /// core's worth of zeroing per segment up front and maps the whole segment into RSS.
    pub warm_segments: bool,
    /// `messageDelayLevel`: the delay of each level (level 1 first). Queue `L - 1` of
    /// `SCHEDULE_TOPIC_XXXX` holds level `L`; its entries' tag codes are delivery times.
    pub delay_levels: Vec<Duration>,
}

/// The reference's 18 delay levels: 1s 5s 10s 30s 1m..10m 20m 30m 1h 2h.
pub fn reference_delay_levels() -> Vec<Duration> {
    let s = Duration::from_secs;
    let mut levels = vec![s(1), s(5), s(10), s(30)];
    levels.extend((1..=10).map(|m| s(60 * m)));
    levels.extend([s(1200), s(1800), s(3600), s(7200)]);
    levels
}

impl StoreConfig {
    /// The reference's defaults, rooted at `root_dir`.
    pub fn new(root_dir: impl Into<PathBuf>) -> Self {
        Self {
            root_dir: root_dir.into(),
            commit_log_segment_size: 1 << 30,
            consume_queue_file_size: 300_000 * 20,
            flush_disk_type: FlushDiskType::Async,
            flush_interval: Duration::from_millis(500),
            flush_least_pages: 4,
            flush_thorough_interval: Duration::from_secs(10),
            sync_flush_timeout: Duration::from_secs(5),
            flush_consume_queue_interval: Duration::from_secs(1),
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_when: vec![4],
            disk_max_used_space_ratio: 0.75,
            disk_space_clean_forcibly_ratio: 0.85,
            disk_space_warning_level_ratio: 0.90,
            clean_resource_interval: Duration::from_secs(10),
            delete_file_batch_max: 10,
            max_hash_slot_num: 5_000_000,
            max_index_num: 20_000_000,
            message_index_enable: true,
            max_message_size: 4 * 1024 * 1024,
            check_crc_on_recover: true,
            warm_segments: false,
            delay_levels: reference_delay_levels(),
        }
    }

    /// Small files for tests: 64 KiB segments, 100-entry queue files, a tiny index.
    pub fn small(root_dir: impl Into<PathBuf>) -> Self {
        Self {
            commit_log_segment_size: 64 * 1024,
            consume_queue_file_size: 100 * 20,
            max_hash_slot_num: 64,
            max_index_num: 256,
            max_message_size: 16 * 1024,
            flush_interval: Duration::from_millis(20),
            flush_consume_queue_interval: Duration::from_millis(50),
            clean_resource_interval: Duration::from_millis(50),
            ..Self::new(root_dir)
        }
    }

    /// The CommitLog directory.
    pub fn commit_log_dir(&self) -> PathBuf {
        self.root_dir.join("commitlog")
    }

    /// The consume queue directory.
    pub fn consume_queue_dir(&self) -> PathBuf {
        self.root_dir.join("consumequeue")
    }

    /// The index directory.
    pub fn index_dir(&self) -> PathBuf {
        self.root_dir.join("index")
    }

    /// The JSON config directory (`config/`).
    pub fn config_dir(&self) -> PathBuf {
        self.root_dir.join("config")
    }

    /// Checks ranges and relations; errors name the RocketMQ key.
    pub fn validate(&self) -> Result<(), StoreError> {
        fn bad(key: &'static str, reason: impl Into<String>) -> Result<(), StoreError> {
            Err(StoreError::Config {
                key,
                reason: reason.into(),
            })
        }
        let page = 4096;
        if self.commit_log_segment_size < page || !self.commit_log_segment_size.is_multiple_of(page) {
            return bad("mappedFileSizeCommitLog", "must be a positive multiple of 4096");
        }
        if self.max_message_size == 0 || self.max_message_size > self.commit_log_segment_size / 2 {
            return bad(
                "maxMessageSize",
                format!(
                    "must be positive and at most half of mappedFileSizeCommitLog ({})",
                    self.commit_log_segment_size
                ),
            );
        }
        if self.consume_queue_file_size < 20 || !self.consume_queue_file_size.is_multiple_of(20) {
            return bad("mappedFileSizeConsumeQueue", "must be a positive multiple of 20");
        }
        if self.max_hash_slot_num == 0 || self.max_hash_slot_num > 100_000_000 {
            return bad("maxHashSlotNum", "must be between 1 and 100000000");
        }
        if self.max_index_num < 2 || self.max_index_num > 100_000_000 {
            return bad("maxIndexNum", "must be between 2 and 100000000");
        }
        if self.delete_when.iter().any(|h| *h > 23) {
            return bad("deleteWhen", "hours must be 00..23");
        }
        for (key, ratio) in [
            ("diskMaxUsedSpaceRatio", self.disk_max_used_space_ratio),
            (
                "diskSpaceCleanForciblyRatio",
                self.disk_space_clean_forcibly_ratio,
            ),
            ("diskSpaceWarningLevelRatio", self.disk_space_warning_level_ratio),
        ] {
            if !(0.0..=1.0).contains(&ratio) {
                return bad(key, "must be a ratio between 0 and 1 (percent / 100)");
            }
        }
        if self.flush_interval.is_zero() {
            return bad("flushIntervalCommitLog", "must be positive");
        }
        if self.sync_flush_timeout.is_zero() {
            return bad("syncFlushTimeout", "must be positive");
        }
        Ok(())
    }

    /// Bytes of an index file: 40-byte header, 4-byte slots, 20-byte entries.
    pub fn index_file_size(&self) -> usize {
        40 + self.max_hash_slot_num as usize * 4 + self.max_index_num as usize * 20
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_keys() {
        StoreConfig::new("/x").validate().unwrap();
        StoreConfig::small("/x").validate().unwrap();
        let mut config = StoreConfig::new("/x");
        config.commit_log_segment_size = 1000;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("mappedFileSizeCommitLog"), "{err}");
        let mut config = StoreConfig::new("/x");
        config.delete_when = vec![25];
        assert!(config.validate().unwrap_err().to_string().contains("deleteWhen"));
        assert_eq!(StoreConfig::new("/x").index_file_size(), 420_000_040);
        assert_eq!("SYNC_FLUSH".parse::<FlushDiskType>(), Ok(FlushDiskType::Sync));
        assert!("sync".parse::<FlushDiskType>().is_err());
    }
}
