//! `namesrv.conf`: the name server's settings, under RocketMQ's key names and defaults.
//!
//! One key is Apogee's own: RocketMQ hard-codes how long a silent broker stays registered
//! (`RouteInfoManager`'s 120 s channel expiry; `NamesrvConfig` has no key for it), so
//! [`BROKER_CHANNEL_EXPIRED_TIME_KEY`] names it after that constant. RocketMQ ignores unknown
//! keys, so a file using it still loads there.

use std::{path::Path, path::PathBuf, time::Duration};

use super::{
    env::{self, ConfigEnv, ProcessEnv},
    error::ConfigError,
    properties::{self, Properties},
    reader::{KeyReader, KeySet},
    values,
};

/// Apogee's key for the broker expiry (RocketMQ's `DEFAULT_BROKER_CHANNEL_EXPIRED_TIME`).
pub const BROKER_CHANNEL_EXPIRED_TIME_KEY: &str = "brokerChannelExpiredTimeMillis";

/// Keys the name server reads, in the order [`NamesrvConfig::to_properties`] writes them.
pub const KNOWN_KEYS: &[&str] = &[
    "listenPort",
    "kvConfigPath",
    "orderMessageEnable",
    "enableAllTopicList",
    "scanNotActiveBrokerInterval",
    BROKER_CHANNEL_EXPIRED_TIME_KEY,
];

/// RocketMQ keys that load but have no effect, so existing files keep working: the Java
/// installation directory, where Java persists runtime config changes (Apogee does not), the
/// unused environment and test flags, and Java thread-pool and Netty tuning.
pub const ACCEPTED_UNUSED_KEYS: &[&str] = &[
    "rocketmqHome",
    "configStorePath",
    "productEnvName",
    "clusterTest",
    "clientRequestThreadPoolNums",
    "defaultThreadPoolNums",
    "serverWorkerThreads",
    "serverSelectorThreads",
    "useEpollNativeSelector",
];

/// RocketMQ switches the name server lacks: `false` loads, `true` is refused with the reason.
pub const OFF_ONLY_KEYS: &[(&str, &str)] = &[
    (
        "enableControllerInNamesrv",
        "Apogee has no controller; brokers keep their configured roles",
    ),
    ("useTLS", "Apogee's remoting server has no TLS yet"),
];

const KEYS: KeySet = KeySet {
    known: KNOWN_KEYS,
    aliases: &[],
    accepted_unused: ACCEPTED_UNUSED_KEYS,
    off_only: OFF_ONLY_KEYS,
};

/// A name server's settings. Field docs name the key and its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesrvConfig {
    /// `listenPort` (9876).
    pub listen_port: u16,
    /// `kvConfigPath` (`$HOME/namesrv/kvConfig.json`): the KV store (ORDER_TOPIC_CONFIG etc.).
    pub kv_config_path: PathBuf,
    /// `orderMessageEnable` (false): add `orderTopicConf` from the KV store to routes.
    pub order_message_enable: bool,
    /// `enableAllTopicList` (true): answer GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
    pub enable_all_topic_list: bool,
    /// `scanNotActiveBrokerInterval` (5 s): how often expired brokers are looked for.
    pub scan_not_active_broker_interval: Duration,
    /// `brokerChannelExpiredTimeMillis` (120 s, Apogee's key): a broker not heard from for this
    /// long is dropped from routes.
    pub broker_channel_expired_time: Duration,
}

impl NamesrvConfig {
    /// Reads `namesrv.conf` text. `file` names the source in errors; `env` supplies `HOME`.
    /// The result is validated.
    pub fn from_properties(text: &str, file: &str, env: &dyn ConfigEnv) -> Result<Self, ConfigError> {
        use values::{boolean, millis};
        let properties = Properties::parse(text, file)?;
        let mut r = KeyReader::new(&properties, file, &KEYS)?;
        let kv_config_path = match r.text("kvConfigPath")?.filter(|path| !path.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => env::home_dir(env, "kvConfigPath", "namesrv/kvConfig.json")?,
        };
        let ms = Duration::from_millis;
        let config = Self {
            listen_port: r.or("listenPort", 9876, values::port)?,
            kv_config_path,
            order_message_enable: r.or("orderMessageEnable", false, boolean)?,
            enable_all_topic_list: r.or("enableAllTopicList", true, boolean)?,
            scan_not_active_broker_interval: r.or("scanNotActiveBrokerInterval", ms(5_000), millis)?,
            broker_channel_expired_time: r.or(BROKER_CHANNEL_EXPIRED_TIME_KEY, ms(120_000), millis)?,
        };
        let locations = r.into_locations();
        config
            .validate()
            .map_err(|err| err.locate(|key| locations.get(key)))?;
        Ok(config)
    }

    /// The defaults for this environment (an empty file).
    pub fn defaults(env: &dyn ConfigEnv) -> Result<Self, ConfigError> {
        Self::from_properties("", "defaults", env)
    }

    /// Reads a `namesrv.conf` file with the process's environment (UTF-8, else ISO-8859-1).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        Self::from_properties(
            &properties::read_text(path)?,
            &path.display().to_string(),
            &ProcessEnv,
        )
    }

    /// Checks ranges and relations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let out_of_range = |key, allowed: &str, got: String| ConfigError::OutOfRange {
            key,
            at: None,
            allowed: allowed.to_owned(),
            got,
        };
        if self.listen_port == 0 {
            return Err(out_of_range("listenPort", "1 to 65535", "0".into()));
        }
        if self.kv_config_path.as_os_str().is_empty() {
            return Err(out_of_range(
                "kvConfigPath",
                "a file path",
                "an empty value".into(),
            ));
        }
        let scan = self.scan_not_active_broker_interval;
        if scan.is_zero() {
            return Err(out_of_range(
                "scanNotActiveBrokerInterval",
                "a positive number of milliseconds",
                "0".into(),
            ));
        }
        let expiry = self.broker_channel_expired_time;
        if expiry.is_zero() {
            return Err(out_of_range(
                BROKER_CHANNEL_EXPIRED_TIME_KEY,
                "a positive number of milliseconds",
                "0".into(),
            ));
        }
        Ok(())
    }

    /// Every key with its value, in [`KNOWN_KEYS`] order.
    pub fn property_pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("listenPort", self.listen_port.to_string()),
            ("kvConfigPath", values::path_text(&self.kv_config_path)),
            ("orderMessageEnable", self.order_message_enable.to_string()),
            ("enableAllTopicList", self.enable_all_topic_list.to_string()),
            (
                "scanNotActiveBrokerInterval",
                values::format_millis(self.scan_not_active_broker_interval),
            ),
            (
                BROKER_CHANNEL_EXPIRED_TIME_KEY,
                values::format_millis(self.broker_channel_expired_time),
            ),
        ]
    }

    /// The settings as a `namesrv.conf` that reads back to the same values.
    pub fn to_properties(&self) -> String {
        let pairs = self.property_pairs();
        let mut out = String::from("# namesrv.conf written by Apogee (RocketMQ name server keys)\n");
        out.push_str(&properties::write(pairs.iter().map(|(k, v)| (*k, v.as_str()))));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FixedEnv;

    fn home() -> FixedEnv {
        FixedEnv::new().with_var("HOME", "/home/mq")
    }

    #[test]
    fn defaults_match_rocketmq() {
        let config = NamesrvConfig::defaults(&home()).unwrap();
        assert_eq!(
            config,
            NamesrvConfig {
                listen_port: 9876,
                kv_config_path: PathBuf::from("/home/mq/namesrv/kvConfig.json"),
                order_message_enable: false,
                enable_all_topic_list: true,
                scan_not_active_broker_interval: Duration::from_secs(5),
                broker_channel_expired_time: Duration::from_secs(120),
            }
        );
    }

    #[test]
    fn reads_a_rocketmq_namesrv_conf_with_java_only_keys() {
        let text = "rocketmqHome=/opt/rocketmq\n\
                    kvConfigPath=/data/namesrv/kvConfig.json\n\
                    configStorePath=/data/namesrv/namesrv.properties\n\
                    orderMessageEnable = true\n\
                    enableAllTopicList=false\n\
                    scanNotActiveBrokerInterval=2000\n\
                    listenPort=19876\n\
                    enableControllerInNamesrv=false\n";
        let config = NamesrvConfig::from_properties(text, "namesrv.conf", &FixedEnv::new()).unwrap();
        assert_eq!(config.listen_port, 19876);
        assert_eq!(
            config.kv_config_path,
            PathBuf::from("/data/namesrv/kvConfig.json")
        );
        assert!(config.order_message_enable);
        assert!(!config.enable_all_topic_list);
        assert_eq!(config.scan_not_active_broker_interval, Duration::from_secs(2));
        assert_eq!(config.broker_channel_expired_time, Duration::from_secs(120));
    }

    #[test]
    fn errors_name_key_and_line() {
        let err = NamesrvConfig::from_properties(
            "listenPort=9876\nscanNotActiveBrokerIntervall=1\n",
            "n.conf",
            &home(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "n.conf:2: unknown key `scanNotActiveBrokerIntervall` (did you mean `scanNotActiveBrokerInterval`?)"
        );
        let err = NamesrvConfig::from_properties("\nlistenPort=0\n", "n.conf", &home())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "n.conf:2: `listenPort` is out of range: expected 1 to 65535, got 0"
        );
        let err = NamesrvConfig::from_properties("orderMessageEnable=yes\n", "n.conf", &home())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "n.conf:1: invalid value for `orderMessageEnable`: expected true or false, got `yes`"
        );
        let err = NamesrvConfig::from_properties("enableControllerInNamesrv=true\n", "n.conf", &home())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n.conf:1: `enableControllerInNamesrv=true` is not supported yet"),
            "{err}"
        );
        let err = NamesrvConfig::from_properties("brokerChannelExpiredTimeMillis=0", "n.conf", &home())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n.conf:1: `brokerChannelExpiredTimeMillis` is out of range"),
            "{err}"
        );
    }

    #[test]
    fn kv_config_path_needs_home_when_unset() {
        let err = NamesrvConfig::defaults(&FixedEnv::new()).unwrap_err().to_string();
        assert_eq!(
            err,
            "missing required `kvConfigPath`: it defaults to $HOME/namesrv/kvConfig.json, and HOME is not set"
        );
        let config = NamesrvConfig::from_properties("kvConfigPath=/kv.json", "n", &FixedEnv::new()).unwrap();
        assert_eq!(config.kv_config_path, PathBuf::from("/kv.json"));
    }

    #[test]
    fn to_properties_round_trips_every_key() {
        let config = NamesrvConfig {
            listen_port: 19876,
            kv_config_path: PathBuf::from("/data/kv config: #1.json"),
            order_message_enable: true,
            enable_all_topic_list: false,
            scan_not_active_broker_interval: Duration::from_millis(2500),
            broker_channel_expired_time: Duration::from_secs(30),
        };
        let text = config.to_properties();
        let keys: Vec<_> = config.property_pairs().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, KNOWN_KEYS);
        let back = NamesrvConfig::from_properties(&text, "n", &FixedEnv::new()).unwrap();
        assert_eq!(back, config);
        assert_eq!(back.to_properties(), text);
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("namesrv.conf");
        std::fs::write(&path, "kvConfigPath=/kv.json\nlistenPort=9877\n").unwrap();
        assert_eq!(NamesrvConfig::load(&path).unwrap().listen_port, 9877);
        std::fs::write(&path, "kvConfigPath=/kv.json\nlistenPrt=9877\n").unwrap();
        let err = NamesrvConfig::load(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}:2: unknown key `listenPrt`", path.display())),
            "{err}"
        );
    }
}
