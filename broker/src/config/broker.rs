//! `broker.conf`: RocketMQ's broker settings, under RocketMQ's key names and defaults.
//!
//! Units stay RocketMQ's where the file's are not self-describing (`fileReservedTime` in hours,
//! disk ratios in percent; field names carry the unit); millisecond keys become [`Duration`]s.
//! Keys Apogee does not act on either are listed in [`ACCEPTED_UNUSED_KEYS`] (they load) or
//! [`OFF_ONLY_KEYS`] (they load only when `false`); any other key is an error, so a typo never
//! silently falls back to a default.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

pub use super::broker_keys::{ACCEPTED_UNUSED_KEYS, KNOWN_KEYS, OFF_ONLY_KEYS};
pub use super::broker_values::{BrokerRole, MetricsExporterType, NamesrvAddr};
use super::{
    broker_keys::ALIASES,
    broker_values::{flush_disk_type, flush_disk_type_str, format_namesrv_list, namesrv_list},
    env::{self, ConfigEnv, ProcessEnv},
    error::ConfigError,
    properties::{self, Properties},
    reader::{self, KeyReader, KeySet},
    values,
};
use crate::store::{FlushDiskType, StoreConfig};

/// Environment variable RocketMQ reads when `namesrvAddr` is not in the file.
pub const NAMESRV_ADDR_ENV: &str = "NAMESRV_ADDR";

/// `brokerName` when the host name cannot be found (RocketMQ's fallback).
pub const DEFAULT_BROKER_NAME: &str = "DEFAULT_BROKER";

/// RocketMQ's delay levels, retried messages included (retry N uses level N + 2).
pub const DEFAULT_MESSAGE_DELAY_LEVEL: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

const KEYS: KeySet = KeySet {
    known: KNOWN_KEYS,
    aliases: ALIASES,
    accepted_unused: ACCEPTED_UNUSED_KEYS,
    off_only: OFF_ONLY_KEYS,
};

/// A broker's settings. Field docs name the key and its default.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// `brokerClusterName` (`DefaultCluster`).
    pub broker_cluster_name: String,
    /// `brokerName` (the host name, else `DEFAULT_BROKER`): master and slaves share it.
    pub broker_name: String,
    /// `brokerId` (0): 0 is the master, above 0 a slave.
    pub broker_id: u64,
    /// `brokerRole` (`ASYNC_MASTER`).
    pub broker_role: BrokerRole,
    /// `namesrvAddr` (`NAMESRV_ADDR` when the key is absent; empty value: no name server).
    pub namesrv_addr: Vec<NamesrvAddr>,
    /// `brokerIP1` (`None`: the local address, found at startup): registered with the name
    /// server and written into message ids.
    pub broker_ip1: Option<String>,
    /// `brokerIP2` (`None`: the local address): the address slaves replicate from.
    pub broker_ip2: Option<String>,
    /// `listenPort` (10911). The VIP channel listens on `listenPort - 2`.
    pub listen_port: u16,
    /// `haListenPort` (`None`: `listenPort + 1`); see [`Self::ha_listen_port`].
    pub ha_listen_port: Option<u16>,
    /// `regionId` (`DefaultRegion`): returned in send responses.
    pub region_id: String,
    /// `brokerPermission` (6 = read and write): PermName bits 8 priority, 4 read, 2 write, 1 inherit.
    pub broker_permission: u8,
    /// `registerNameServerPeriod` (30 s).
    pub register_name_server_period: Duration,
    /// `storePathRootDir` (`$HOME/store`).
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog` (`None`: `<storePathRootDir>/commitlog`, the only place the store
    /// supports); see [`Self::commit_log_dir`].
    pub store_path_commit_log: Option<PathBuf>,
    /// `mappedFileSizeCommitLog`, 4.x `mapedFileSizeCommitLog` (1 GiB): segment size in bytes.
    pub mapped_file_size_commit_log: u32,
    /// `mappedFileSizeConsumeQueue`, 4.x `mapedFileSizeConsumeQueue` (300 000 × 20 bytes).
    pub mapped_file_size_consume_queue: u32,
    /// `flushDiskType` (`ASYNC_FLUSH`).
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog` (500 ms).
    pub flush_interval_commit_log: Duration,
    /// `flushCommitLogLeastPages` (4).
    pub flush_commit_log_least_pages: u32,
    /// `flushCommitLogThoroughInterval` (10 s).
    pub flush_commit_log_thorough_interval: Duration,
    /// `syncFlushTimeout` (5 s).
    pub sync_flush_timeout: Duration,
    /// `flushIntervalConsumeQueue` (1 s).
    pub flush_interval_consume_queue: Duration,
    /// `deleteWhen` (`04`): hours of the day when expired files are deleted.
    pub delete_when: Vec<u8>,
    /// `fileReservedTime` (72), in hours.
    pub file_reserved_time_hours: u32,
    /// `diskMaxUsedSpaceRatio` (75), percent.
    pub disk_max_used_space_percent: u8,
    /// `diskSpaceCleanForciblyRatio` (85), percent.
    pub disk_space_clean_forcibly_percent: u8,
    /// `diskSpaceWarningLevelRatio` (90), percent.
    pub disk_space_warning_level_percent: u8,
    /// `cleanResourceInterval` (10 s).
    pub clean_resource_interval: Duration,
    /// `deleteFileBatchMax` (10).
    pub delete_file_batch_max: u32,
    /// `maxHashSlotNum` (5 000 000).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum` (20 000 000).
    pub max_index_num: u32,
    /// `messageIndexEnable` (true).
    pub message_index_enable: bool,
    /// `maxMessageSize` (4 MiB).
    pub max_message_size: u32,
    /// `checkCRCOnRecover` (true).
    pub check_crc_on_recover: bool,
    /// `warmMapedFileEnable` (false).
    pub warm_maped_file_enable: bool,
    /// `totalReplicas` (1): master plus slaves of this broker name.
    pub total_replicas: u32,
    /// `inSyncReplicas` (1): copies a SYNC_MASTER waits for, itself included.
    pub in_sync_replicas: u32,
    /// `slaveReadEnable` (false).
    pub slave_read_enable: bool,
    /// `autoCreateTopicEnable` (true).
    pub auto_create_topic_enable: bool,
    /// `autoCreateSubscriptionGroup` (true).
    pub auto_create_subscription_group: bool,
    /// `defaultTopicQueueNums` (8): queues of the auto-create template topic TBW102.
    pub default_topic_queue_nums: u32,
    /// `messageDelayLevel` (`1s 5s … 1h 2h`, 18 levels).
    pub message_delay_level: Vec<Duration>,
    /// `enablePropertyFilter` (false): SQL92 filtering.
    pub enable_property_filter: bool,
    /// `longPollingEnable` (true).
    pub long_polling_enable: bool,
    /// `shortPollingTimeMills` (1 s).
    pub short_polling_time: Duration,
    /// `transactionTimeOut` (6 s).
    pub transaction_timeout: Duration,
    /// `transactionCheckMax` (15).
    pub transaction_check_max: u32,
    /// `transactionCheckInterval` (30 s).
    pub transaction_check_interval: Duration,
    /// `traceTopicEnable` (false).
    pub trace_topic_enable: bool,
    /// `msgTraceTopicName` (`RMQ_SYS_TRACE_TOPIC`).
    pub msg_trace_topic_name: String,
    /// `traceOn` (true): returned in send responses.
    pub trace_on: bool,
    /// `metricsExporterType` (`DISABLE`).
    pub metrics_exporter_type: MetricsExporterType,
    /// `metricsPromExporterPort` (5557).
    pub metrics_prom_exporter_port: u16,
}

impl BrokerConfig {
    /// Reads `broker.conf` text. `file` names the source in errors; `env` supplies `HOME`,
    /// `NAMESRV_ADDR` and the host name. The result is validated.
    pub fn from_properties(text: &str, file: &str, env: &dyn ConfigEnv) -> Result<Self, ConfigError> {
        let properties = Properties::parse(text, file)?;
        let mut keys = KeyReader::new(&properties, file, &KEYS)?;
        let config = Self::read(&mut keys, env)?;
        let locations = keys.into_locations();
        config
            .validate()
            .map_err(|err| err.locate(|key| locations.get(key)))?;
        Ok(config)
    }

    /// The defaults for this environment (an empty file).
    pub fn defaults(env: &dyn ConfigEnv) -> Result<Self, ConfigError> {
        Self::from_properties("", "defaults", env)
    }

    /// Reads a `broker.conf` file with the process's environment. The file is UTF-8 or, as
    /// the JDK reads every properties file, ISO-8859-1.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        Self::from_properties(
            &properties::read_text(path)?,
            &path.display().to_string(),
            &ProcessEnv,
        )
    }

    fn read(r: &mut KeyReader<'_>, env: &dyn ConfigEnv) -> Result<Self, ConfigError> {
        use values::{boolean, int, millis, port};
        let ms = Duration::from_millis;
        let text = |r: &mut KeyReader<'_>, key, default: &str| -> Result<String, ConfigError> {
            Ok(r.text(key)?.unwrap_or(default).to_owned())
        };
        let optional_text = |r: &mut KeyReader<'_>, key| -> Result<Option<String>, ConfigError> {
            Ok(r.text(key)?.filter(|t| !t.is_empty()).map(str::to_owned))
        };
        let store_path_root_dir = match optional_text(r, "storePathRootDir")? {
            Some(dir) => PathBuf::from(dir),
            None => env::home_dir(env, "storePathRootDir", "store")?,
        };
        let broker_name = match r.text("brokerName")? {
            Some(name) => name.to_owned(),
            None => env.host_name().unwrap_or_else(|| DEFAULT_BROKER_NAME.to_owned()),
        };
        let namesrv_addr = match r.parsed("namesrvAddr", namesrv_list)? {
            Some(list) => list,
            None => match env.var(NAMESRV_ADDR_ENV) {
                Some(value) => {
                    r.set_from_env("namesrvAddr", NAMESRV_ADDR_ENV);
                    reader::parse_env("namesrvAddr", NAMESRV_ADDR_ENV, &value, namesrv_list)?
                }
                None => Vec::new(),
            },
        };
        let percent = |text: &str| int(text).and_then(|n| u8::try_from(n).map_err(|_| "a percentage".into()));
        Ok(Self {
            broker_cluster_name: text(r, "brokerClusterName", "DefaultCluster")?,
            broker_name,
            broker_id: r.or("brokerId", 0, values::long)?,
            broker_role: r.or("brokerRole", BrokerRole::AsyncMaster, str::parse)?,
            namesrv_addr,
            broker_ip1: optional_text(r, "brokerIP1")?,
            broker_ip2: optional_text(r, "brokerIP2")?,
            listen_port: r.or("listenPort", 10911, port)?,
            ha_listen_port: r.or("haListenPort", None, values::optional(port))?,
            region_id: text(r, "regionId", "DefaultRegion")?,
            broker_permission: r.or("brokerPermission", 6, |t| {
                int(t).and_then(|n| u8::try_from(n).map_err(|_| "permission bits (0 to 15)".into()))
            })?,
            register_name_server_period: r.or("registerNameServerPeriod", ms(30_000), millis)?,
            store_path_root_dir,
            store_path_commit_log: optional_text(r, "storePathCommitLog")?.map(PathBuf::from),
            mapped_file_size_commit_log: r.or("mappedFileSizeCommitLog", 1 << 30, int)?,
            mapped_file_size_consume_queue: r.or("mappedFileSizeConsumeQueue", 300_000 * 20, int)?,
            flush_disk_type: r.or("flushDiskType", FlushDiskType::Async, flush_disk_type)?,
            flush_interval_commit_log: r.or("flushIntervalCommitLog", ms(500), millis)?,
            flush_commit_log_least_pages: r.or("flushCommitLogLeastPages", 4, int)?,
            flush_commit_log_thorough_interval: r.or("flushCommitLogThoroughInterval", ms(10_000), millis)?,
            sync_flush_timeout: r.or("syncFlushTimeout", ms(5_000), millis)?,
            flush_interval_consume_queue: r.or("flushIntervalConsumeQueue", ms(1_000), millis)?,
            delete_when: r.or("deleteWhen", vec![4], values::hour_list)?,
            file_reserved_time_hours: r.or("fileReservedTime", 72, int)?,
            disk_max_used_space_percent: r.or("diskMaxUsedSpaceRatio", 75, percent)?,
            disk_space_clean_forcibly_percent: r.or("diskSpaceCleanForciblyRatio", 85, percent)?,
            disk_space_warning_level_percent: r.or("diskSpaceWarningLevelRatio", 90, percent)?,
            clean_resource_interval: r.or("cleanResourceInterval", ms(10_000), millis)?,
            delete_file_batch_max: r.or("deleteFileBatchMax", 10, int)?,
            max_hash_slot_num: r.or("maxHashSlotNum", 5_000_000, int)?,
            max_index_num: r.or("maxIndexNum", 20_000_000, int)?,
            message_index_enable: r.or("messageIndexEnable", true, boolean)?,
            max_message_size: r.or("maxMessageSize", 4 * 1024 * 1024, int)?,
            check_crc_on_recover: r.or("checkCRCOnRecover", true, boolean)?,
            warm_maped_file_enable: r.or("warmMapedFileEnable", false, boolean)?,
            total_replicas: r.or("totalReplicas", 1, int)?,
            in_sync_replicas: r.or("inSyncReplicas", 1, int)?,
            slave_read_enable: r.or("slaveReadEnable", false, boolean)?,
            auto_create_topic_enable: r.or("autoCreateTopicEnable", true, boolean)?,
            auto_create_subscription_group: r.or("autoCreateSubscriptionGroup", true, boolean)?,
            default_topic_queue_nums: r.or("defaultTopicQueueNums", 8, int)?,
            message_delay_level: match r.parsed("messageDelayLevel", values::delay_levels)? {
                Some(levels) => levels,
                // The constant parses (a test checks it); were it ever empty, validation says so.
                None => values::delay_levels(DEFAULT_MESSAGE_DELAY_LEVEL).unwrap_or_default(),
            },
            enable_property_filter: r.or("enablePropertyFilter", false, boolean)?,
            long_polling_enable: r.or("longPollingEnable", true, boolean)?,
            short_polling_time: r.or("shortPollingTimeMills", ms(1_000), millis)?,
            transaction_timeout: r.or("transactionTimeOut", ms(6_000), millis)?,
            transaction_check_max: r.or("transactionCheckMax", 15, int)?,
            transaction_check_interval: r.or("transactionCheckInterval", ms(30_000), millis)?,
            trace_topic_enable: r.or("traceTopicEnable", false, boolean)?,
            msg_trace_topic_name: text(r, "msgTraceTopicName", "RMQ_SYS_TRACE_TOPIC")?,
            trace_on: r.or("traceOn", true, boolean)?,
            metrics_exporter_type: r.or("metricsExporterType", MetricsExporterType::Disable, str::parse)?,
            metrics_prom_exporter_port: r.or("metricsPromExporterPort", 5557, port)?,
        })
    }

    /// `haListenPort`, or `listenPort + 1` when unset (`None` only if that overflows, which
    /// [`Self::validate`] rejects).
    pub fn ha_listen_port(&self) -> Option<u16> {
        self.ha_listen_port.or_else(|| self.listen_port.checked_add(1))
    }

    /// The VIP channel's port, `listenPort - 2` (`None` below 3, which validation rejects).
    pub fn vip_listen_port(&self) -> Option<u16> {
        self.listen_port.checked_sub(2).filter(|p| *p > 0)
    }

    /// `storePathCommitLog`, or `<storePathRootDir>/commitlog` when unset.
    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
    }

    /// Every key with its value as RocketMQ writes it, in [`KNOWN_KEYS`] order; `None` for
    /// optional keys left unset (`brokerIP1`, `brokerIP2`, `haListenPort`, `storePathCommitLog`).
    pub fn property_pairs(&self) -> Vec<(&'static str, Option<String>)> {
        let ms = values::format_millis;
        vec![
            ("brokerClusterName", Some(self.broker_cluster_name.clone())),
            ("brokerName", Some(self.broker_name.clone())),
            ("brokerId", Some(self.broker_id.to_string())),
            ("brokerRole", Some(self.broker_role.to_string())),
            ("namesrvAddr", Some(format_namesrv_list(&self.namesrv_addr))),
            ("brokerIP1", self.broker_ip1.clone()),
            ("brokerIP2", self.broker_ip2.clone()),
            ("listenPort", Some(self.listen_port.to_string())),
            ("haListenPort", self.ha_listen_port.map(|p| p.to_string())),
            ("regionId", Some(self.region_id.clone())),
            ("brokerPermission", Some(self.broker_permission.to_string())),
            (
                "registerNameServerPeriod",
                Some(ms(self.register_name_server_period)),
            ),
            (
                "storePathRootDir",
                Some(values::path_text(&self.store_path_root_dir)),
            ),
            (
                "storePathCommitLog",
                self.store_path_commit_log.as_deref().map(values::path_text),
            ),
            (
                "mappedFileSizeCommitLog",
                Some(self.mapped_file_size_commit_log.to_string()),
            ),
            (
                "mappedFileSizeConsumeQueue",
                Some(self.mapped_file_size_consume_queue.to_string()),
            ),
            (
                "flushDiskType",
                Some(flush_disk_type_str(self.flush_disk_type).to_owned()),
            ),
            ("flushIntervalCommitLog", Some(ms(self.flush_interval_commit_log))),
            (
                "flushCommitLogLeastPages",
                Some(self.flush_commit_log_least_pages.to_string()),
            ),
            (
                "flushCommitLogThoroughInterval",
                Some(ms(self.flush_commit_log_thorough_interval)),
            ),
            ("syncFlushTimeout", Some(ms(self.sync_flush_timeout))),
            (
                "flushIntervalConsumeQueue",
                Some(ms(self.flush_interval_consume_queue)),
            ),
            ("deleteWhen", Some(values::format_hour_list(&self.delete_when))),
            (
                "fileReservedTime",
                Some(self.file_reserved_time_hours.to_string()),
            ),
            (
                "diskMaxUsedSpaceRatio",
                Some(self.disk_max_used_space_percent.to_string()),
            ),
            (
                "diskSpaceCleanForciblyRatio",
                Some(self.disk_space_clean_forcibly_percent.to_string()),
            ),
            (
                "diskSpaceWarningLevelRatio",
                Some(self.disk_space_warning_level_percent.to_string()),
            ),
            ("cleanResourceInterval", Some(ms(self.clean_resource_interval))),
            ("deleteFileBatchMax", Some(self.delete_file_batch_max.to_string())),
            ("maxHashSlotNum", Some(self.max_hash_slot_num.to_string())),
            ("maxIndexNum", Some(self.max_index_num.to_string())),
            ("messageIndexEnable", Some(self.message_index_enable.to_string())),
            ("maxMessageSize", Some(self.max_message_size.to_string())),
            ("checkCRCOnRecover", Some(self.check_crc_on_recover.to_string())),
            (
                "warmMapedFileEnable",
                Some(self.warm_maped_file_enable.to_string()),
            ),
            ("totalReplicas", Some(self.total_replicas.to_string())),
            ("inSyncReplicas", Some(self.in_sync_replicas.to_string())),
            ("slaveReadEnable", Some(self.slave_read_enable.to_string())),
            (
                "autoCreateTopicEnable",
                Some(self.auto_create_topic_enable.to_string()),
            ),
            (
                "autoCreateSubscriptionGroup",
                Some(self.auto_create_subscription_group.to_string()),
            ),
            (
                "defaultTopicQueueNums",
                Some(self.default_topic_queue_nums.to_string()),
            ),
            (
                "messageDelayLevel",
                Some(values::format_delay_levels(&self.message_delay_level)),
            ),
            (
                "enablePropertyFilter",
                Some(self.enable_property_filter.to_string()),
            ),
            ("longPollingEnable", Some(self.long_polling_enable.to_string())),
            ("shortPollingTimeMills", Some(ms(self.short_polling_time))),
            ("transactionTimeOut", Some(ms(self.transaction_timeout))),
            (
                "transactionCheckMax",
                Some(self.transaction_check_max.to_string()),
            ),
            (
                "transactionCheckInterval",
                Some(ms(self.transaction_check_interval)),
            ),
            ("traceTopicEnable", Some(self.trace_topic_enable.to_string())),
            ("msgTraceTopicName", Some(self.msg_trace_topic_name.clone())),
            ("traceOn", Some(self.trace_on.to_string())),
            (
                "metricsExporterType",
                Some(self.metrics_exporter_type.to_string()),
            ),
            (
                "metricsPromExporterPort",
                Some(self.metrics_prom_exporter_port.to_string()),
            ),
        ]
    }

    /// The settings as a `broker.conf` that RocketMQ and [`Self::from_properties`] read back
    /// to the same values: every key, in a fixed order. Unset optional keys are written as
    /// commented-out lines (`#brokerIP1=`): visible to whoever reads the file, skipped by both
    /// readers (an empty value would make RocketMQ use an empty address or path).
    pub fn to_properties(&self) -> String {
        let mut out = String::from("# broker.conf written by Apogee (RocketMQ broker keys)\n");
        for (key, value) in self.property_pairs() {
            match value {
                Some(value) => out.push_str(&properties::write([(key, value.as_str())])),
                None => out.push_str(&format!("#{key}=\n")),
            }
        }
        out
    }

    /// The storage engine's settings. Built field by field, without `..`, so a new store
    /// setting cannot compile until it is mapped here.
    pub fn store_config(&self) -> StoreConfig {
        let ratio = |percent: u8| f64::from(percent) / 100.0;
        StoreConfig {
            root_dir: self.store_path_root_dir.clone(),
            commit_log_segment_size: self.mapped_file_size_commit_log as usize,
            consume_queue_file_size: self.mapped_file_size_consume_queue as usize,
            flush_disk_type: self.flush_disk_type,
            flush_interval: self.flush_interval_commit_log,
            flush_least_pages: self.flush_commit_log_least_pages as usize,
            flush_thorough_interval: self.flush_commit_log_thorough_interval,
            sync_flush_timeout: self.sync_flush_timeout,
            flush_consume_queue_interval: self.flush_interval_consume_queue,
            file_reserved_time: Duration::from_secs(u64::from(self.file_reserved_time_hours) * 3600),
            delete_when: self.delete_when.clone(),
            disk_max_used_space_ratio: ratio(self.disk_max_used_space_percent),
            disk_space_clean_forcibly_ratio: ratio(self.disk_space_clean_forcibly_percent),
            disk_space_warning_level_ratio: ratio(self.disk_space_warning_level_percent),
            clean_resource_interval: self.clean_resource_interval,
            delete_file_batch_max: self.delete_file_batch_max as usize,
            max_hash_slot_num: self.max_hash_slot_num,
            max_index_num: self.max_index_num,
            message_index_enable: self.message_index_enable,
            max_message_size: self.max_message_size as usize,
            check_crc_on_recover: self.check_crc_on_recover,
            warm_segments: self.warm_maped_file_enable,
            delay_levels: self.message_delay_level.clone(),
        }
    }
}

#[cfg(test)]
#[path = "broker_tests.rs"]
mod tests;
