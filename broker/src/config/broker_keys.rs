//! The keys a `broker.conf` may hold: the ones [`BrokerConfig`](super::BrokerConfig) reads, the
//! RocketMQ 4.x spellings it still accepts, and the RocketMQ keys it tolerates without acting
//! on them. Kept apart from the settings so the lists read as one reviewable inventory.

/// Keys the broker reads, in the order
/// [`BrokerConfig::to_properties`](super::BrokerConfig::to_properties) writes them.
pub const KNOWN_KEYS: &[&str] = &[
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerRole",
    "namesrvAddr",
    "brokerIP1",
    "brokerIP2",
    "listenPort",
    "haListenPort",
    "regionId",
    "brokerPermission",
    "registerNameServerPeriod",
    "storePathRootDir",
    "storePathCommitLog",
    "mappedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "flushDiskType",
    "flushIntervalCommitLog",
    "flushCommitLogLeastPages",
    "flushCommitLogThoroughInterval",
    "syncFlushTimeout",
    "flushIntervalConsumeQueue",
    "deleteWhen",
    "fileReservedTime",
    "diskMaxUsedSpaceRatio",
    "diskSpaceCleanForciblyRatio",
    "diskSpaceWarningLevelRatio",
    "cleanResourceInterval",
    "deleteFileBatchMax",
    "maxHashSlotNum",
    "maxIndexNum",
    "messageIndexEnable",
    "maxMessageSize",
    "checkCRCOnRecover",
    "warmMapedFileEnable",
    "totalReplicas",
    "inSyncReplicas",
    "slaveReadEnable",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "defaultTopicQueueNums",
    "messageDelayLevel",
    "enablePropertyFilter",
    "longPollingEnable",
    "shortPollingTimeMills",
    "transactionTimeOut",
    "transactionCheckMax",
    "transactionCheckInterval",
    "traceTopicEnable",
    "msgTraceTopicName",
    "traceOn",
    "metricsExporterType",
    "metricsPromExporterPort",
];

/// RocketMQ 4.x spellings (`maped`), read as the current key.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("mapedFileSizeCommitLog", "mappedFileSizeCommitLog"),
    ("mapedFileSizeConsumeQueue", "mappedFileSizeConsumeQueue"),
];

/// RocketMQ keys that load but have no effect, so existing files keep working. Each tunes a
/// Java mechanism Apogee does not have or a part not built yet; none changes what the broker
/// promises a client. Switches that would are in [`OFF_ONLY_KEYS`].
pub const ACCEPTED_UNUSED_KEYS: &[&str] = &[
    // The Java installation directory.
    "rocketmqHome",
    // Java thread pools and Netty tuning; Apogee sizes its async runtime itself.
    "sendMessageThreadPoolNums",
    "pullMessageThreadPoolNums",
    "serverWorkerThreads",
    "serverSelectorThreads",
    "useEpollNativeSelector",
    // Java's write-path tuning: the send-queue fast failure, the CommitLog lock kind, timed
    // flushing and the off-heap transient pool. Apogee's write path behaves like the defaults.
    "brokerFastFailureEnable",
    "waitTimeMillsInSendQueue",
    "osPageCacheBusyTimeOutMills",
    "useReentrantLockWhenPutMessage",
    "flushCommitLogTimed",
    "transientStorePoolEnable",
    // Where a slave replicates from; read once replication lands (a slave also learns it from
    // the name server's registration reply).
    "haMasterAddress",
];

/// RocketMQ feature switches Apogee lacks: `false` loads, `true` is refused with the reason.
pub const OFF_ONLY_KEYS: &[(&str, &str)] = &[
    (
        "aclEnable",
        "Apogee has no access control yet, so every client would be let in",
    ),
    ("useTLS", "Apogee's remoting server has no TLS yet"),
    (
        "enableDLegerCommitLog",
        "Apogee replicates with master/slave roles (brokerRole) only",
    ),
    (
        "enableControllerMode",
        "Apogee has no controller-based failover; use brokerRole",
    ),
];
