//! Tests of `BrokerConfig` loading, validation, writing and store mapping.
use super::*;
use crate::config::FixedEnv;

fn env() -> FixedEnv {
    FixedEnv::new()
        .with_var("HOME", "/home/mq")
        .with_host_name("node-7")
}

fn parse(text: &str) -> Result<BrokerConfig, ConfigError> {
    BrokerConfig::from_properties(text, "broker.conf", &env())
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// conf/2m-2s-sync/broker-a.properties as RocketMQ ships it (licence header shortened),
/// plus the keys every deployment adds.
const BROKER_A: &str = "\
# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=0
deleteWhen=04
fileReservedTime=48
brokerRole=SYNC_MASTER
flushDiskType=ASYNC_FLUSH
namesrvAddr=192.168.0.11:9876;192.168.0.12:9876
listenPort=10911
storePathRootDir=/data/rocketmq/store-a
";

#[test]
fn reads_the_shipped_2m_2s_sync_master() {
    let config = parse(BROKER_A).unwrap();
    assert_eq!(config.broker_cluster_name, "DefaultCluster");
    assert_eq!(config.broker_name, "broker-a");
    assert_eq!(config.broker_id, 0);
    assert_eq!(config.broker_role, BrokerRole::SyncMaster);
    assert_eq!(config.flush_disk_type, FlushDiskType::Async);
    assert_eq!(config.delete_when, vec![4]);
    assert_eq!(config.file_reserved_time_hours, 48);
    assert_eq!(config.listen_port, 10911);
    assert_eq!(config.ha_listen_port(), Some(10912));
    assert_eq!(config.vip_listen_port(), Some(10909));
    assert_eq!(
        config.store_path_root_dir,
        PathBuf::from("/data/rocketmq/store-a")
    );
    assert_eq!(
        config.commit_log_dir(),
        PathBuf::from("/data/rocketmq/store-a/commitlog")
    );
    let hosts: Vec<_> = config.namesrv_addr.iter().map(ToString::to_string).collect();
    assert_eq!(hosts, ["192.168.0.11:9876", "192.168.0.12:9876"]);
    let store = config.store_config();
    assert_eq!(store.file_reserved_time, Duration::from_secs(48 * 3600));
    assert_eq!(store.root_dir, PathBuf::from("/data/rocketmq/store-a"));
}

#[test]
fn reads_the_shipped_slave_and_the_spaced_broker_conf_style() {
    let slave = BROKER_A
        .replace("brokerName=broker-a", "brokerName = broker-a")
        .replace("brokerId=0", "brokerId : 1")
        .replace("brokerRole=SYNC_MASTER", "brokerRole\t=\tSLAVE")
        .replace("listenPort=10911", "listenPort 11011");
    let config = parse(&slave).unwrap();
    assert_eq!(config.broker_name, "broker-a");
    assert_eq!(config.broker_id, 1);
    assert_eq!(config.broker_role, BrokerRole::Slave);
    assert_eq!(config.listen_port, 11011);
    assert_eq!(config.ha_listen_port(), Some(11012));
}

#[test]
fn defaults_are_rocketmqs_and_map_to_the_store_defaults() {
    let config = BrokerConfig::defaults(&env()).unwrap();
    assert_eq!(config.broker_cluster_name, "DefaultCluster");
    assert_eq!(config.broker_name, "node-7");
    assert_eq!(config.broker_role, BrokerRole::AsyncMaster);
    assert_eq!(config.namesrv_addr, vec![]);
    assert_eq!(
        (config.broker_ip1.clone(), config.broker_ip2.clone()),
        (None, None)
    );
    assert_eq!(
        (config.listen_port, config.ha_listen_port()),
        (10911, Some(10912))
    );
    assert_eq!(config.region_id, "DefaultRegion");
    assert_eq!(config.broker_permission, 6);
    assert_eq!(config.register_name_server_period, Duration::from_secs(30));
    assert!(config.auto_create_topic_enable && config.auto_create_subscription_group);
    assert_eq!(config.default_topic_queue_nums, 8);
    assert_eq!(
        values::format_delay_levels(&config.message_delay_level),
        DEFAULT_MESSAGE_DELAY_LEVEL
    );
    assert!(config.long_polling_enable && !config.slave_read_enable && !config.enable_property_filter);
    assert_eq!(config.short_polling_time, Duration::from_secs(1));
    assert_eq!(config.transaction_timeout, Duration::from_secs(6));
    assert_eq!(config.transaction_check_max, 15);
    assert_eq!(config.transaction_check_interval, Duration::from_secs(30));
    assert!(!config.trace_topic_enable && config.trace_on);
    assert_eq!(config.msg_trace_topic_name, "RMQ_SYS_TRACE_TOPIC");
    assert_eq!(config.metrics_exporter_type, MetricsExporterType::Disable);
    assert_eq!(config.metrics_prom_exporter_port, 5557);
    assert_eq!((config.total_replicas, config.in_sync_replicas), (1, 1));
    assert_eq!(config.store_config(), StoreConfig::new("/home/mq/store"));
}

#[test]
fn broker_name_falls_back_to_default_broker_without_a_host_name() {
    let env = FixedEnv::new().with_var("HOME", "/h");
    assert_eq!(
        BrokerConfig::defaults(&env).unwrap().broker_name,
        DEFAULT_BROKER_NAME
    );
}

#[test]
fn namesrv_addr_comes_from_the_environment_only_when_the_key_is_absent() {
    let env = env().with_var(NAMESRV_ADDR_ENV, "ns-0.ns:9876;ns-1.ns:9876");
    let from_env = BrokerConfig::defaults(&env).unwrap();
    assert_eq!(from_env.namesrv_addr.len(), 2);
    assert_eq!(from_env.namesrv_addr[1].host, "ns-1.ns");

    let from_file = BrokerConfig::from_properties("namesrvAddr=file:9876", "b", &env).unwrap();
    assert_eq!(from_file.namesrv_addr.len(), 1);
    assert_eq!(from_file.namesrv_addr[0].host, "file");

    // An empty value is an explicit "no name server", not "ask the environment".
    let none = BrokerConfig::from_properties("namesrvAddr=", "b", &env).unwrap();
    assert_eq!(none.namesrv_addr, vec![]);

    let bad = FixedEnv::new()
        .with_var("HOME", "/h")
        .with_var(NAMESRV_ADDR_ENV, "namesrv");
    let err = BrokerConfig::defaults(&bad).unwrap_err().to_string();
    assert!(
        err.starts_with("environment variable NAMESRV_ADDR: invalid value for `namesrvAddr`"),
        "{err}"
    );
    assert!(err.contains("`namesrv` has no port"), "{err}");
}

#[test]
fn store_root_needs_home_only_when_unset() {
    let no_home = FixedEnv::new();
    let err = BrokerConfig::defaults(&no_home).unwrap_err().to_string();
    assert_eq!(
        err,
        "missing required `storePathRootDir`: it defaults to $HOME/store, and HOME is not set"
    );
    let config = BrokerConfig::from_properties("storePathRootDir=/s", "b", &no_home).unwrap();
    assert_eq!(config.store_path_root_dir, PathBuf::from("/s"));
}

#[test]
fn unknown_key_names_key_line_and_nearest_key() {
    let err = error("brokerClusterName=c\n\nbrokerNmae=broker-a\n");
    assert_eq!(
        err,
        "broker.conf:3: unknown key `brokerNmae` (did you mean `brokerName`?)"
    );
    let err = error("flushIntervalCommitlog=500\n");
    assert!(err.ends_with("(did you mean `flushIntervalCommitLog`?)"), "{err}");
    assert_eq!(error("fooBar=1\n"), "broker.conf:1: unknown key `fooBar`");
}

#[test]
fn invalid_enum_values_list_the_allowed_ones() {
    assert_eq!(
        error("brokerId=0\nbrokerRole=MASTER\n"),
        "broker.conf:2: invalid value for `brokerRole`: expected one of ASYNC_MASTER, SYNC_MASTER, SLAVE, \
         got `MASTER`"
    );
    assert_eq!(
        error("flushDiskType=sync_flush"),
        "broker.conf:1: invalid value for `flushDiskType`: expected one of ASYNC_FLUSH, SYNC_FLUSH, got \
         `sync_flush`"
    );
    let err = error("metricsExporterType=OTLP_GRPC");
    assert!(
        err.starts_with(
            "broker.conf:1: invalid value for `metricsExporterType`: expected one of DISABLE, PROM"
        ),
        "{err}"
    );
}

#[test]
fn invalid_scalars_say_what_was_expected() {
    let err = error("autoCreateTopicEnable=true # create topics on first send\n");
    assert!(err.contains("expected true or false"), "{err}");
    assert!(err.contains("no end-of-line comments"), "{err}");
    assert!(error("brokerId=-1").contains("expected a whole number from 0 to"));
    assert!(error("listenPort=70000").contains("expected a port number from 1 to 65535"));
    assert!(error("diskMaxUsedSpaceRatio=300").contains("expected a percentage"));
    assert!(error("syncFlushTimeout=5s").contains("expected milliseconds as a whole number"));
    let err = error("messageDelayLevel=1s 5s 1w");
    assert!(err.contains("`1w` has no known unit"), "{err}");
    assert!(error("deleteWhen=4am").contains("hours of the day separated by `;`"));
}

#[test]
fn slave_with_broker_id_zero_is_a_conflict_at_the_role_line() {
    assert_eq!(
        error("brokerId=0\nbrokerRole=SLAVE\n"),
        "broker.conf:2: `brokerRole` conflicts with `brokerId`: brokerRole is SLAVE but brokerId is 0; a slave \
         needs a brokerId above 0 (0 is the master)"
    );
    // With brokerRole left out, the role is the default ASYNC_MASTER and brokerId is blamed.
    assert_eq!(
        error("brokerId=2\n"),
        "broker.conf:1: `brokerId` conflicts with `brokerRole`: brokerId is 2 but brokerRole is ASYNC_MASTER; a \
         master's brokerId must be 0"
    );
    assert!(error("brokerRole=SYNC_MASTER\nbrokerId=1\n").starts_with("broker.conf:2: `brokerId` conflicts"));
}

#[test]
fn port_collisions_are_conflicts() {
    assert_eq!(
        error("listenPort=10911\nhaListenPort=10911\n"),
        "broker.conf:2: `haListenPort` conflicts with `listenPort`: both are 10911; replication needs its own port"
    );
    let err = error("haListenPort=10909\n");
    assert!(
        err.contains("is the VIP channel's port (listenPort - 2)"),
        "{err}"
    );
    let err = error("metricsExporterType=PROM\nmetricsPromExporterPort=10912\n");
    assert!(
        err.starts_with(
            "broker.conf:2: `metricsPromExporterPort` conflicts with `haListenPort`: both are 10912"
        ),
        "{err}"
    );
    // The exporter port only matters when the exporter runs.
    assert!(parse("metricsExporterType=DISABLE\nmetricsPromExporterPort=10912\n").is_ok());
    let err = error("listenPort=65535\n");
    assert_eq!(
        err,
        "broker.conf:1: `haListenPort` conflicts with `listenPort`: haListenPort is unset, so it would be \
         listenPort + 1 = 65536; set it"
    );
    assert!(error("listenPort=2").contains("the VIP channel listens on listenPort - 2"));
}

#[test]
fn replica_counts_must_nest() {
    assert_eq!(
        error("totalReplicas=2\ninSyncReplicas=3\n"),
        "broker.conf:2: `inSyncReplicas` conflicts with `totalReplicas`: inSyncReplicas 3 exceeds totalReplicas 2"
    );
    assert!(error("totalReplicas=0").contains("`totalReplicas` is out of range"));
    let config = parse("brokerRole=SYNC_MASTER\ntotalReplicas=2\ninSyncReplicas=2\n").unwrap();
    assert_eq!((config.total_replicas, config.in_sync_replicas), (2, 2));
}

#[test]
fn out_of_range_values_name_key_line_and_bounds() {
    assert_eq!(
        error("diskMaxUsedSpaceRatio=98"),
        "broker.conf:1: `diskMaxUsedSpaceRatio` is out of range: expected 10 to 95 percent, got 98"
    );
    assert_eq!(
        error("deleteWhen=04;25"),
        "broker.conf:1: `deleteWhen` is out of range: expected hours 00 to 23, got 25"
    );
    assert!(error("registerNameServerPeriod=5000").contains("expected 10000 to 60000 milliseconds"));
    assert!(error("mappedFileSizeCommitLog=1000").contains("a positive multiple of 4096"));
    assert!(error("mappedFileSizeConsumeQueue=1001").contains("a positive multiple of 20"));
    let err = error("mappedFileSizeCommitLog=65536\nmaxMessageSize=65536\n");
    assert_eq!(
        err,
        "broker.conf:2: `maxMessageSize` conflicts with `mappedFileSizeCommitLog`: maxMessageSize 65536 exceeds \
         half of mappedFileSizeCommitLog 65536; a segment must hold at least two of the largest messages"
    );
    // With maxMessageSize defaulted, the error points at the segment size that caused it.
    let err = error("\nmappedFileSizeCommitLog=1048576\n");
    assert!(
        err.starts_with("broker.conf:2: `maxMessageSize` conflicts"),
        "{err}"
    );
    assert!(error("brokerPermission=16").contains("permission bits"));
    assert!(error("flushIntervalCommitLog=0").contains("`flushIntervalCommitLog` is out of range"));
    assert!(error("maxIndexNum=1").contains("`maxIndexNum` is out of range"));
    assert!(
        error("brokerName=")
            .contains("`brokerName` is out of range: expected a non-empty name, got an empty value")
    );
}

#[test]
fn old_maped_spellings_are_read_but_not_together_with_the_new_ones() {
    let config = parse("mapedFileSizeCommitLog=16777216\nmapedFileSizeConsumeQueue=6000\n").unwrap();
    assert_eq!(config.mapped_file_size_commit_log, 1 << 24);
    assert_eq!(config.mapped_file_size_consume_queue, 6000);
    let err = error("mappedFileSizeCommitLog=1048576\nmapedFileSizeCommitLog=1048576\n");
    assert!(
        err.starts_with("broker.conf:2: `mappedFileSizeCommitLog` conflicts with `mapedFileSizeCommitLog`")
    );
    // Range errors on the old spelling point at its line.
    assert!(error("\nmapedFileSizeCommitLog=1000\n").starts_with("broker.conf:2: `mappedFileSizeCommitLog`"));
}

#[test]
fn accepted_unused_keys_load_and_off_only_switches_refuse_true() {
    let text: String = ACCEPTED_UNUSED_KEYS
        .iter()
        .map(|key| format!("{key}=1\n"))
        .collect();
    assert_eq!(parse(&text).unwrap(), BrokerConfig::defaults(&env()).unwrap());
    let text: String = OFF_ONLY_KEYS
        .iter()
        .map(|(key, _)| format!("{key}=false\n"))
        .collect();
    assert!(parse(&text).is_ok());
    assert_eq!(
        error("aclEnable=true"),
        "broker.conf:1: `aclEnable=true` is not supported yet: Apogee has no access control yet, so every \
         client would be let in"
    );
}

#[test]
fn commit_log_path_must_be_under_the_root() {
    let ok = parse("storePathRootDir=/s\nstorePathCommitLog=/s/commitlog/\n").unwrap();
    assert_eq!(ok.commit_log_dir(), PathBuf::from("/s/commitlog"));
    // RocketMQ 5 writes the key empty when it is derived.
    assert_eq!(
        parse("storePathCommitLog=\n").unwrap().store_path_commit_log,
        None
    );
    let err = error("storePathRootDir=/s\nstorePathCommitLog=/fast/commitlog\n");
    assert!(
        err.starts_with("broker.conf:2: `storePathCommitLog=/fast/commitlog` is not supported yet"),
        "{err}"
    );
}

#[test]
fn validate_on_settings_built_in_code_has_no_location() {
    let mut config = BrokerConfig::defaults(&env()).unwrap();
    config.validate().unwrap();
    config.broker_id = 3;
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("`brokerId` conflicts with `brokerRole`")
    );
    config.broker_id = 0;
    config.message_delay_level = vec![Duration::from_millis(1500)];
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("positive whole seconds")
    );
}

/// Every key set to something other than its default.
fn everything_changed() -> BrokerConfig {
    BrokerConfig {
        broker_cluster_name: "prod = cluster #1".into(),
        broker_name: "broker-b".into(),
        broker_id: 2,
        broker_role: BrokerRole::Slave,
        namesrv_addr: vec![
            "10.0.0.1:9876".parse().unwrap(),
            "rocketmq-namesrv.mq.svc.cluster.local:9876".parse().unwrap(),
        ],
        broker_ip1: Some("10.1.0.5".into()),
        broker_ip2: Some("10.2.0.5".into()),
        listen_port: 20911,
        ha_listen_port: Some(20999),
        region_id: "eu-west".into(),
        broker_permission: 4,
        register_name_server_period: Duration::from_secs(20),
        store_path_root_dir: PathBuf::from("/data/store b"),
        store_path_commit_log: Some(PathBuf::from("/data/store b/commitlog")),
        mapped_file_size_commit_log: 1 << 20,
        mapped_file_size_consume_queue: 20 * 1000,
        flush_disk_type: FlushDiskType::Sync,
        flush_interval_commit_log: Duration::from_millis(250),
        flush_commit_log_least_pages: 8,
        flush_commit_log_thorough_interval: Duration::from_secs(20),
        sync_flush_timeout: Duration::from_secs(3),
        flush_interval_consume_queue: Duration::from_millis(750),
        delete_when: vec![3, 15],
        file_reserved_time_hours: 24,
        disk_max_used_space_percent: 70,
        disk_space_clean_forcibly_percent: 80,
        disk_space_warning_level_percent: 88,
        clean_resource_interval: Duration::from_secs(20),
        delete_file_batch_max: 5,
        max_hash_slot_num: 1000,
        max_index_num: 4000,
        message_index_enable: false,
        max_message_size: 256 * 1024,
        check_crc_on_recover: false,
        warm_maped_file_enable: true,
        total_replicas: 3,
        in_sync_replicas: 2,
        slave_read_enable: true,
        auto_create_topic_enable: false,
        auto_create_subscription_group: false,
        default_topic_queue_nums: 16,
        message_delay_level: vec![
            Duration::from_secs(1),
            Duration::from_secs(90),
            Duration::from_secs(86_400),
        ],
        enable_property_filter: true,
        long_polling_enable: false,
        short_polling_time: Duration::from_millis(500),
        transaction_timeout: Duration::from_secs(10),
        transaction_check_max: 5,
        transaction_check_interval: Duration::from_secs(60),
        trace_topic_enable: true,
        msg_trace_topic_name: "MY_TRACE".into(),
        trace_on: false,
        metrics_exporter_type: MetricsExporterType::Prom,
        metrics_prom_exporter_port: 15557,
    }
}

#[test]
fn to_properties_round_trips_every_key_in_a_fixed_order() {
    let config = everything_changed();
    config.validate().unwrap();
    let keys: Vec<_> = config.property_pairs().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, KNOWN_KEYS);
    let text = config.to_properties();
    // Read back in an environment that would change every defaulted value.
    let other_env = FixedEnv::new()
        .with_var("HOME", "/elsewhere")
        .with_var(NAMESRV_ADDR_ENV, "x:1")
        .with_host_name("other");
    let back = BrokerConfig::from_properties(&text, "rendered.conf", &other_env).unwrap();
    assert_eq!(back, config);
    assert_eq!(back.to_properties(), text);
    // Each differs from the default, so each value really went through the file.
    let defaults = BrokerConfig::defaults(&env()).unwrap().property_pairs();
    for ((key, value), (_, default)) in config.property_pairs().iter().zip(&defaults) {
        assert_ne!(value, default, "{key}");
    }
}

#[test]
fn unset_optional_keys_are_written_as_comments_and_stay_unset() {
    let config = BrokerConfig::defaults(&env()).unwrap();
    let text = config.to_properties();
    for key in ["brokerIP1", "brokerIP2", "haListenPort", "storePathCommitLog"] {
        assert!(text.contains(&format!("\n#{key}=\n")), "{key}: {text}");
    }
    // No name server is written as an empty value, which both readers take as "none".
    assert!(text.contains("\nnamesrvAddr=\n"), "{text}");
    assert!(text.contains("\nmessageDelayLevel=1s 5s 10s 30s 1m"), "{text}");
    let env = FixedEnv::new().with_var(NAMESRV_ADDR_ENV, "x:1");
    let back = BrokerConfig::from_properties(&text, "b", &env).unwrap();
    assert_eq!(back, config);
}

#[test]
fn empty_optional_values_read_as_unset() {
    // RocketMQ 5 dumps its settings with empty values for unset keys.
    let text = "brokerIP1=\nbrokerIP2=\nhaListenPort=\nstorePathCommitLog=\n";
    assert_eq!(parse(text).unwrap(), BrokerConfig::defaults(&env()).unwrap());
}

#[test]
fn store_config_maps_every_store_key() {
    let text = "\
storePathRootDir=/data/s
mappedFileSizeCommitLog=2097152
mappedFileSizeConsumeQueue=40000
flushDiskType=SYNC_FLUSH
flushIntervalCommitLog=250
flushCommitLogLeastPages=2
flushCommitLogThoroughInterval=20000
syncFlushTimeout=3000
flushIntervalConsumeQueue=2000
fileReservedTime=12
deleteWhen=01;13
diskMaxUsedSpaceRatio=60
diskSpaceCleanForciblyRatio=70
diskSpaceWarningLevelRatio=80
cleanResourceInterval=5000
deleteFileBatchMax=3
maxHashSlotNum=1000
maxIndexNum=4000
messageIndexEnable=false
maxMessageSize=65536
checkCRCOnRecover=false
warmMapedFileEnable=true
";
    let store = parse(text).unwrap().store_config();
    assert_eq!(
        store,
        StoreConfig {
            root_dir: PathBuf::from("/data/s"),
            commit_log_segment_size: 2 << 20,
            consume_queue_file_size: 40_000,
            flush_disk_type: FlushDiskType::Sync,
            flush_interval: Duration::from_millis(250),
            flush_least_pages: 2,
            flush_thorough_interval: Duration::from_secs(20),
            sync_flush_timeout: Duration::from_secs(3),
            flush_consume_queue_interval: Duration::from_secs(2),
            file_reserved_time: Duration::from_secs(12 * 3600),
            delete_when: vec![1, 13],
            disk_max_used_space_ratio: 0.60,
            disk_space_clean_forcibly_ratio: 0.70,
            disk_space_warning_level_ratio: 0.80,
            clean_resource_interval: Duration::from_secs(5),
            delete_file_batch_max: 3,
            max_hash_slot_num: 1000,
            max_index_num: 4000,
            message_index_enable: false,
            max_message_size: 65_536,
            check_crc_on_recover: false,
            warm_segments: true,
            delay_levels: crate::store::config::reference_delay_levels(),
        }
    );
    store.validate().unwrap();
}

#[test]
fn load_reads_files_and_names_them_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker-a.properties");
    std::fs::write(&path, BROKER_A).unwrap();
    assert_eq!(BrokerConfig::load(&path).unwrap().broker_name, "broker-a");
    std::fs::write(&path, format!("{BROKER_A}brokerRole=slave\n")).unwrap();
    let err = BrokerConfig::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:13: invalid value for `brokerRole`", path.display())),
        "{err}"
    );
    let missing = BrokerConfig::load(dir.path().join("nope.conf")).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }), "{missing}");
    assert_eq!(missing.key(), None);
}
