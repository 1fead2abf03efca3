//! Value types of broker keys with a fixed vocabulary or a structure: `brokerRole`,
//! `metricsExporterType`, `flushDiskType` (owned by the store) and `namesrvAddr`.

use std::{fmt, str::FromStr};

use super::values::Parsed;
use crate::store::FlushDiskType;

/// `brokerRole`: how a broker takes part in master/slave replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrokerRole {
    /// `ASYNC_MASTER`: acknowledge writes without waiting for slaves.
    #[default]
    AsyncMaster,
    /// `SYNC_MASTER`: acknowledge writes once `inSyncReplicas` copies have them.
    SyncMaster,
    /// `SLAVE`: replicate a master's CommitLog; serve reads only.
    Slave,
}

impl BrokerRole {
    /// RocketMQ's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AsyncMaster => "ASYNC_MASTER",
            Self::SyncMaster => "SYNC_MASTER",
            Self::Slave => "SLAVE",
        }
    }

    /// Masters (either kind) have `brokerId` 0.
    pub const fn is_master(self) -> bool {
        !matches!(self, Self::Slave)
    }
}

impl fmt::Display for BrokerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BrokerRole {
    /// What was expected.
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::AsyncMaster, Self::SyncMaster, Self::Slave]
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| "one of ASYNC_MASTER, SYNC_MASTER, SLAVE".into())
    }
}

/// `metricsExporterType`: where broker metrics go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsExporterType {
    /// `DISABLE`: no metrics export.
    #[default]
    Disable,
    /// `PROM`: a Prometheus endpoint on `metricsPromExporterPort`.
    Prom,
}

impl MetricsExporterType {
    /// RocketMQ's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "DISABLE",
            Self::Prom => "PROM",
        }
    }
}

impl fmt::Display for MetricsExporterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricsExporterType {
    /// What was expected.
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "DISABLE" => Ok(Self::Disable),
            "PROM" => Ok(Self::Prom),
            // RocketMQ also has OTLP_GRPC and LOG; name them so nobody thinks it is a typo.
            _ => Err("one of DISABLE, PROM (OTLP_GRPC and LOG are not supported)".into()),
        }
    }
}

/// `flushDiskType`, parsed with the store's own type.
pub(crate) fn flush_disk_type(text: &str) -> Parsed<FlushDiskType> {
    match text {
        "ASYNC_FLUSH" => Ok(FlushDiskType::Async),
        "SYNC_FLUSH" => Ok(FlushDiskType::Sync),
        _ => Err("one of ASYNC_FLUSH, SYNC_FLUSH".into()),
    }
}

/// RocketMQ's spelling of a [`FlushDiskType`].
pub(crate) const fn flush_disk_type_str(flush: FlushDiskType) -> &'static str {
    match flush {
        FlushDiskType::Async => "ASYNC_FLUSH",
        FlushDiskType::Sync => "SYNC_FLUSH",
    }
}

/// One `namesrvAddr` entry. `host` may be an IP address or a DNS name; a name that resolves to
/// several name servers (a Kubernetes Service) is one entry, expanded when connecting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamesrvAddr {
    /// Host name or address, as written (IPv6 as RocketMQ writes it: everything before the
    /// last `:`).
    pub host: String,
    /// Remoting port (9876 by default on the name server, but never implied here).
    pub port: u16,
}

impl fmt::Display for NamesrvAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl FromStr for NamesrvAddr {
    /// What was expected.
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let expected = |detail: String| {
            format!("`host:port` entries separated by `;`, like `10.0.0.1:9876;10.0.0.2:9876` ({detail})")
        };
        // RocketMQ splits at the last colon, which also keeps `::1:9876` working.
        let Some((host, port)) = entry.rsplit_once(':') else {
            return Err(expected(format!(
                "`{entry}` has no port; the name server listens on 9876 by default"
            )));
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(expected(format!("`{entry}` has no valid host")));
        }
        match port.parse::<u16>() {
            Ok(port) if port > 0 => Ok(Self {
                host: host.to_owned(),
                port,
            }),
            _ => Err(expected(format!("`{entry}` has no valid port"))),
        }
    }
}

/// `namesrvAddr`: `;`-separated entries; empty entries (a trailing `;`) are skipped, and an
/// empty value means no name server.
pub(crate) fn namesrv_list(text: &str) -> Parsed<Vec<NamesrvAddr>> {
    text.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::parse)
        .collect()
}

/// Writes `namesrvAddr` back.
pub(crate) fn format_namesrv_list(list: &[NamesrvAddr]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_exactly_and_print_back() {
        for role in [BrokerRole::AsyncMaster, BrokerRole::SyncMaster, BrokerRole::Slave] {
            assert_eq!(role.as_str().parse::<BrokerRole>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        assert!(BrokerRole::SyncMaster.is_master());
        assert!(!BrokerRole::Slave.is_master());
        // RocketMQ's enum lookup is case-sensitive, and MASTER alone is not a role.
        assert_eq!(
            "sync_master".parse::<BrokerRole>(),
            Err("one of ASYNC_MASTER, SYNC_MASTER, SLAVE".to_owned())
        );
        assert!("MASTER".parse::<BrokerRole>().is_err());
    }

    #[test]
    fn exporter_types_are_disable_and_prom_only() {
        assert_eq!("PROM".parse(), Ok(MetricsExporterType::Prom));
        assert_eq!("DISABLE".parse(), Ok(MetricsExporterType::Disable));
        let err = "OTLP_GRPC".parse::<MetricsExporterType>().unwrap_err();
        assert!(err.contains("one of DISABLE, PROM"), "{err}");
        assert_eq!(MetricsExporterType::Prom.to_string(), "PROM");
    }

    #[test]
    fn flush_disk_types_round_trip() {
        for flush in [FlushDiskType::Async, FlushDiskType::Sync] {
            assert_eq!(flush_disk_type(flush_disk_type_str(flush)), Ok(flush));
        }
        assert_eq!(
            flush_disk_type("SYNC"),
            Err("one of ASYNC_FLUSH, SYNC_FLUSH".to_owned())
        );
    }

    #[test]
    fn namesrv_lists_parse_hosts_names_and_ports() {
        let list = namesrv_list(" 10.0.0.1:9876; rocketmq-namesrv.mq.svc:9876 ;::1:9877;").unwrap();
        assert_eq!(
            list,
            vec![
                NamesrvAddr {
                    host: "10.0.0.1".into(),
                    port: 9876
                },
                NamesrvAddr {
                    host: "rocketmq-namesrv.mq.svc".into(),
                    port: 9876
                },
                NamesrvAddr {
                    host: "::1".into(),
                    port: 9877
                },
            ]
        );
        assert_eq!(
            format_namesrv_list(&list),
            "10.0.0.1:9876;rocketmq-namesrv.mq.svc:9876;::1:9877"
        );
        assert_eq!(namesrv_list(""), Ok(vec![]));
    }

    #[test]
    fn namesrv_entries_without_port_or_host_are_rejected() {
        let err = namesrv_list("a:9876;rocketmq-namesrv").unwrap_err();
        assert!(err.contains("`rocketmq-namesrv` has no port"), "{err}");
        assert!(namesrv_list(":9876").unwrap_err().contains("no valid host"));
        assert!(namesrv_list("a b:9876").unwrap_err().contains("no valid host"));
        assert!(namesrv_list("a:0").unwrap_err().contains("no valid port"));
        assert!(namesrv_list("a:98760").unwrap_err().contains("no valid port"));
    }
}
