//! `broker.conf` and `namesrv.conf`, rendered through the broker's own config types: the
//! resource's settings are read by `BrokerConfig::from_properties` (the same reader and checks
//! `apogee broker -c` runs) and written back with `to_properties`, so the file in the
//! ConfigMap is one the broker is known to accept, with every default spelled out.

use std::collections::BTreeMap;

use apogee_broker::config::{BrokerConfig, ConfigError, FixedEnv, NamesrvConfig, properties};

use super::{DesiredError, hash, names::Names};
use crate::{
    ports,
    types::{FlushDiskType, Replication, RocketMQClusterSpec, validation},
};

/// Where the broker's volume is mounted; its `storePathRootDir`.
pub const STORE_DIR: &str = "/var/lib/apogee/store";
/// Where the NameServer keeps its KV config (an emptyDir).
pub const NAMESRV_DATA_DIR: &str = "/var/lib/apogee/namesrv";
/// Where the ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/apogee";
/// The broker's file in its ConfigMap and in [`CONFIG_DIR`].
pub const BROKER_FILE: &str = "broker.conf";
/// The NameServer's file in its ConfigMap and in [`CONFIG_DIR`].
pub const NAMESRV_FILE: &str = "namesrv.conf";

const BROKER_FIELD: &str = "spec.broker.config";
const NAMESRV_FIELD: &str = "spec.nameServer.config";

/// A rendered configuration file and the hash that pod templates carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The file's text.
    pub text: String,
    /// [`hash::config_hash`] of the text.
    pub hash: String,
}

impl ConfigFile {
    fn new(text: String) -> Self {
        let hash = hash::config_hash(&text);
        Self { text, hash }
    }
}

/// The `broker.conf` of broker group `group`, as its pod 0 (the master) runs it. Other pods
/// take their `brokerId` from their ordinal at start-up and run as SLAVE (see
/// `broker_statefulset`); nothing else differs between a group's pods.
pub fn broker(spec: &RocketMQClusterSpec, names: &Names, group: u32) -> Result<ConfigFile, DesiredError> {
    let broker = &spec.broker;
    refuse_owned(BROKER_FIELD, &broker.config, validation::OPERATOR_BROKER_KEYS)?;
    // MultiMaster has no replication: a lone master must not wait for slaves it never has.
    let role = match broker.replication() {
        Some(Replication::Sync) => "SYNC_MASTER",
        Some(Replication::Async) | None => "ASYNC_MASTER",
    };
    let flush = match broker.flush_disk_type {
        FlushDiskType::Async => "ASYNC_FLUSH",
        FlushDiskType::Sync => "SYNC_FLUSH",
    };
    let group_name = names.broker_group(group);
    let namesrv_addr = names.namesrv_addr();
    let (listen, ha) = (ports::BROKER.to_string(), ports::BROKER_HA.to_string());
    let metrics_port = spec.metrics.port.to_string();
    let owned = [
        ("brokerClusterName", names.cluster()),
        ("brokerName", group_name.as_str()),
        ("brokerId", "0"),
        ("brokerRole", role),
        ("namesrvAddr", namesrv_addr.as_str()),
        ("listenPort", listen.as_str()),
        ("haListenPort", ha.as_str()),
        ("storePathRootDir", STORE_DIR),
        ("flushDiskType", flush),
        // The probes need the HTTP endpoint, so it is always on.
        ("metricsExporterType", "PROM"),
        ("metricsPromExporterPort", metrics_port.as_str()),
    ];
    let text = input_text(&broker.config, &owned);
    // No environment: every default that would come from one (HOME, the host name,
    // NAMESRV_ADDR) is set above, so rendering does not depend on the operator's machine.
    let config = BrokerConfig::from_properties(&text, BROKER_FIELD, &FixedEnv::new())
        .map_err(|source| config_error(BROKER_FIELD, source))?;
    Ok(ConfigFile::new(config.to_properties()))
}

/// The NameServers' `namesrv.conf`.
pub fn namesrv(spec: &RocketMQClusterSpec) -> Result<ConfigFile, DesiredError> {
    let config = &spec.name_server.config;
    refuse_owned(NAMESRV_FIELD, config, validation::OPERATOR_NAMESRV_KEYS)?;
    let listen = ports::NAMESRV.to_string();
    let kv_path = format!("{NAMESRV_DATA_DIR}/kvConfig.json");
    let owned = [
        ("listenPort", listen.as_str()),
        ("kvConfigPath", kv_path.as_str()),
    ];
    let text = input_text(config, &owned);
    let config = NamesrvConfig::from_properties(&text, NAMESRV_FIELD, &FixedEnv::new())
        .map_err(|source| config_error(NAMESRV_FIELD, source))?;
    Ok(ConfigFile::new(config.to_properties()))
}

fn refuse_owned(
    field: &'static str,
    config: &BTreeMap<String, String>,
    owned: &[&str],
) -> Result<(), DesiredError> {
    match config.keys().find(|key| owned.contains(&key.as_str())) {
        Some(key) => Err(DesiredError::OwnedKey {
            field,
            key: key.clone(),
        }),
        None => Ok(()),
    }
}

/// Properties text holding the user's keys and then the operator's (which the user's cannot
/// shadow: [`refuse_owned`] ran first).
fn input_text(user: &BTreeMap<String, String>, owned: &[(&str, &str)]) -> String {
    let user = user.iter().map(|(key, value)| (key.as_str(), value.as_str()));
    properties::write(user.chain(owned.iter().copied()))
}

/// The reader's error without its `file:line` prefix: the lines are those of text the operator
/// assembled, meaningless to whoever wrote the map; the key alone says where to look.
fn config_error(field: &'static str, mut source: ConfigError) -> DesiredError {
    match &mut source {
        ConfigError::UnknownKey { at, .. }
        | ConfigError::InvalidValue { at, .. }
        | ConfigError::OutOfRange { at, .. }
        | ConfigError::Conflict { at, .. }
        | ConfigError::Unsupported { at, .. } => *at = None,
        _ => {}
    }
    DesiredError::Config { field, source }
}
