//! [`BrokerConfig::validate`]: ranges and cross-field rules. Each rule says why when the reason
//! is not obvious; ranges that RocketMQ clamps silently are errors here, so a file never means
//! something other than what it says.

use std::{path::Path, time::Duration};

use super::{broker::BrokerConfig, error::ConfigError};
use crate::store::error::StoreError;

/// `Err(OutOfRange)` for `key` unless `ok`.
fn range(ok: bool, key: &'static str, allowed: &str, got: impl ToString) -> Result<(), ConfigError> {
    if ok {
        return Ok(());
    }
    Err(ConfigError::OutOfRange {
        key,
        at: None,
        allowed: allowed.to_owned(),
        got: got.to_string(),
    })
}

/// `Err(Conflict)` between `key` and `other` unless `ok`.
fn conflict(ok: bool, key: &'static str, other: &'static str, reason: String) -> Result<(), ConfigError> {
    if ok {
        return Ok(());
    }
    Err(ConfigError::Conflict {
        key,
        other,
        at: None,
        reason,
    })
}

fn positive(key: &'static str, duration: Duration) -> Result<(), ConfigError> {
    range(
        !duration.is_zero(),
        key,
        "a positive number of milliseconds",
        duration.as_millis(),
    )
}

impl BrokerConfig {
    /// Checks every range and cross-field rule. [`Self::from_properties`] runs this and adds
    /// the file and line of the key blamed; settings built in code should call it before use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_identity()?;
        self.check_ports()?;
        self.check_store()?;
        self.check_messaging()?;
        // The store's own rules (relations such as maxMessageSize against the segment size) as a
        // final net, so a setting it would refuse at open time is refused here, by key.
        self.store_config().validate().map_err(|err| {
            let (key, allowed) = match err {
                StoreError::Config { key, reason } => (key, reason),
                other => ("storePathRootDir", other.to_string()),
            };
            let got = self.property_pairs().into_iter().find(|(k, _)| *k == key);
            ConfigError::OutOfRange {
                key,
                at: None,
                allowed,
                got: got.and_then(|(_, value)| value).unwrap_or_default(),
            }
        })
    }

    fn check_identity(&self) -> Result<(), ConfigError> {
        let name = "a non-empty name";
        range(
            !self.broker_cluster_name.is_empty(),
            "brokerClusterName",
            name,
            "an empty value",
        )?;
        range(!self.broker_name.is_empty(), "brokerName", name, "an empty value")?;
        range(!self.region_id.is_empty(), "regionId", name, "an empty value")?;
        range(
            !self.msg_trace_topic_name.is_empty(),
            "msgTraceTopicName",
            name,
            "an empty value",
        )?;
        let (id, role) = (self.broker_id, self.broker_role);
        // RocketMQ exits for a slave with id 0 and silently forces a master's id to 0; both are
        // configuration mistakes worth stopping for.
        conflict(
            role.is_master() || id > 0,
            "brokerRole",
            "brokerId",
            format!(
                "brokerRole is {role} but brokerId is 0; a slave needs a brokerId above 0 (0 is the master)"
            ),
        )?;
        conflict(
            !role.is_master() || id == 0,
            "brokerId",
            "brokerRole",
            format!("brokerId is {id} but brokerRole is {role}; a master's brokerId must be 0"),
        )?;
        for (key, ip) in [("brokerIP1", &self.broker_ip1), ("brokerIP2", &self.broker_ip2)] {
            if let Some(ip) = ip {
                let ok = !ip.is_empty() && !ip.contains(|c: char| c.is_whitespace() || c == ';');
                range(
                    ok,
                    key,
                    "one address without spaces or `;` (or unset)",
                    format!("`{ip}`"),
                )?;
            }
        }
        for addr in &self.namesrv_addr {
            let ok = !addr.host.is_empty() && addr.port > 0;
            range(
                ok,
                "namesrvAddr",
                "`host:port` entries with a port above 0",
                format!("`{addr}`"),
            )?;
        }
        range(
            self.broker_permission <= 15,
            "brokerPermission",
            "permission bits: 8 priority, 4 read, 2 write, 1 inherit (0 to 15)",
            self.broker_permission,
        )?;
        // RocketMQ clamps the registration period to 10..60 s: registrations expire after 120 s,
        // so longer periods would let routes lapse, and shorter ones flood the name servers.
        let period = self.register_name_server_period.as_millis();
        range(
            (10_000..=60_000).contains(&period),
            "registerNameServerPeriod",
            "10000 to 60000 milliseconds (name servers expire a broker after 120000)",
            period,
        )
    }

    fn check_ports(&self) -> Result<(), ConfigError> {
        let listen = self.listen_port;
        range(
            listen >= 3,
            "listenPort",
            "3 to 65535 (the VIP channel listens on listenPort - 2)",
            listen,
        )?;
        let Some(ha) = self.ha_listen_port() else {
            // Blamed on listenPort's line: haListenPort is not in the file.
            return conflict(
                false,
                "haListenPort",
                "listenPort",
                format!(
                    "haListenPort is unset, so it would be listenPort + 1 = {}; set it",
                    u32::from(listen) + 1
                ),
            );
        };
        range(ha > 0, "haListenPort", "1 to 65535", ha)?;
        let vip = listen - 2;
        conflict(
            ha != listen,
            "haListenPort",
            "listenPort",
            format!("both are {ha}; replication needs its own port"),
        )?;
        conflict(
            ha != vip,
            "haListenPort",
            "listenPort",
            format!("haListenPort {ha} is the VIP channel's port (listenPort - 2)"),
        )?;
        let prom = self.metrics_prom_exporter_port;
        range(prom > 0, "metricsPromExporterPort", "1 to 65535", prom)?;
        if self.metrics_exporter_type == super::MetricsExporterType::Prom {
            for (other, port) in [("listenPort", listen), ("haListenPort", ha)] {
                conflict(
                    prom != port,
                    "metricsPromExporterPort",
                    other,
                    format!("both are {port}; the Prometheus endpoint needs its own port"),
                )?;
            }
            conflict(
                prom != vip,
                "metricsPromExporterPort",
                "listenPort",
                format!("metricsPromExporterPort {prom} is the VIP channel's port (listenPort - 2)"),
            )?;
        }
        Ok(())
    }

    fn check_store(&self) -> Result<(), ConfigError> {
        let root = &self.store_path_root_dir;
        range(
            !root.as_os_str().is_empty(),
            "storePathRootDir",
            "a directory",
            "an empty value",
        )?;
        if let Some(commit_log) = &self.store_path_commit_log {
            let expected = root.join("commitlog");
            if Path::new(commit_log) != expected {
                return Err(ConfigError::Unsupported {
                    key: "storePathCommitLog".into(),
                    at: None,
                    value: commit_log.display().to_string(),
                    reason: format!(
                        "the store keeps its commit log in storePathRootDir/commitlog ({}); leave the key \
                         unset or set it to that",
                        expected.display()
                    ),
                });
            }
        }
        let segment = self.mapped_file_size_commit_log;
        range(
            segment >= 4096 && segment.is_multiple_of(4096),
            "mappedFileSizeCommitLog",
            "a positive multiple of 4096 bytes",
            segment,
        )?;
        let queue_file = self.mapped_file_size_consume_queue;
        range(
            queue_file >= 20 && queue_file.is_multiple_of(20),
            "mappedFileSizeConsumeQueue",
            "a positive multiple of 20 bytes (one consume queue entry)",
            queue_file,
        )?;
        let max_message = self.max_message_size;
        range(max_message > 0, "maxMessageSize", "at least 1 byte", max_message)?;
        conflict(
            max_message <= segment / 2,
            "maxMessageSize",
            "mappedFileSizeCommitLog",
            format!(
                "maxMessageSize {max_message} exceeds half of mappedFileSizeCommitLog {segment}; a segment must \
                 hold at least two of the largest messages"
            ),
        )?;
        positive("flushIntervalCommitLog", self.flush_interval_commit_log)?;
        positive(
            "flushCommitLogThoroughInterval",
            self.flush_commit_log_thorough_interval,
        )?;
        positive("syncFlushTimeout", self.sync_flush_timeout)?;
        positive("flushIntervalConsumeQueue", self.flush_interval_consume_queue)?;
        positive("cleanResourceInterval", self.clean_resource_interval)?;
        for hour in &self.delete_when {
            range(*hour <= 23, "deleteWhen", "hours 00 to 23", hour)?;
        }
        range(
            !self.delete_when.is_empty(),
            "deleteWhen",
            "at least one hour",
            "none",
        )?;
        // RocketMQ clamps these percentages to the same ranges when it reads them.
        for (key, percent, low, high) in [
            ("diskMaxUsedSpaceRatio", self.disk_max_used_space_percent, 10, 95),
            (
                "diskSpaceCleanForciblyRatio",
                self.disk_space_clean_forcibly_percent,
                30,
                85,
            ),
            (
                "diskSpaceWarningLevelRatio",
                self.disk_space_warning_level_percent,
                35,
                90,
            ),
        ] {
            let allowed = format!("{low} to {high} percent");
            range((low..=high).contains(&percent), key, &allowed, percent)?;
        }
        range(
            self.delete_file_batch_max > 0,
            "deleteFileBatchMax",
            "at least 1",
            self.delete_file_batch_max,
        )?;
        let slots = self.max_hash_slot_num;
        range(
            (1..=100_000_000).contains(&slots),
            "maxHashSlotNum",
            "1 to 100000000",
            slots,
        )?;
        let entries = self.max_index_num;
        range(
            (2..=100_000_000).contains(&entries),
            "maxIndexNum",
            "2 to 100000000",
            entries,
        )
    }

    fn check_messaging(&self) -> Result<(), ConfigError> {
        let total = self.total_replicas;
        range(
            total >= 1,
            "totalReplicas",
            "at least 1 (the master counts)",
            total,
        )?;
        let in_sync = self.in_sync_replicas;
        range(
            in_sync >= 1,
            "inSyncReplicas",
            "at least 1 (the master counts)",
            in_sync,
        )?;
        conflict(
            in_sync <= total,
            "inSyncReplicas",
            "totalReplicas",
            format!("inSyncReplicas {in_sync} exceeds totalReplicas {total}"),
        )?;
        let queues = self.default_topic_queue_nums;
        range(queues >= 1, "defaultTopicQueueNums", "at least 1", queues)?;
        let levels = &self.message_delay_level;
        range(
            !levels.is_empty(),
            "messageDelayLevel",
            "at least one level",
            "none",
        )?;
        for level in levels {
            let whole = level.subsec_nanos() == 0 && level.as_secs() > 0;
            range(
                whole,
                "messageDelayLevel",
                "positive whole seconds per level",
                format!("{level:?}"),
            )?;
        }
        positive("shortPollingTimeMills", self.short_polling_time)?;
        positive("transactionTimeOut", self.transaction_timeout)?;
        positive("transactionCheckInterval", self.transaction_check_interval)?;
        let checks = self.transaction_check_max;
        range(checks >= 1, "transactionCheckMax", "at least 1", checks)
    }
}
