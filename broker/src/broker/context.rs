//! Everything a broker's request handlers share: the store, the metadata tables, the client
//! registry and the counters. Built once at start ([`crate::broker::runtime`]), then only read
//! through `&self` (each table does its own locking).

use std::{
    net::SocketAddr,
    path::Path,
    sync::atomic::{AtomicBool, AtomicU8, Ordering},
};

use tokio::sync::Notify;

use super::{
    clients::ClientRegistry,
    consumer_offsets::ConsumerOffsets,
    delay_offsets::DelayOffsets,
    queue_locks::QueueLocks,
    send::SendSettings,
    stats::BrokerStats,
    subscription_groups::SubscriptionGroups,
    topics::{PERM_READ, PERM_WRITE, TRANS_HALF_TOPIC, TopicTable},
    transactions::{PROGRESS_GROUP, TransactionLog},
};
use crate::{
    config::BrokerConfig,
    namesrv::route_data::TopicConfigWrapper,
    replication::Replication,
    store::{MessageStore, StoreError, clock},
};

/// The broker's shared state.
#[derive(Debug)]
pub struct BrokerContext {
    /// Settings as loaded from `broker.conf`.
    pub config: BrokerConfig,
    /// The storage engine.
    pub store: MessageStore,
    /// Topics.
    pub topics: TopicTable,
    /// Committed consumer offsets.
    pub offsets: ConsumerOffsets,
    /// Consumer group settings.
    pub groups: SubscriptionGroups,
    /// Delayed-message delivery progress per level.
    pub delay_offsets: DelayOffsets,
    /// Connected producers and consumers.
    pub clients: ClientRegistry,
    /// Queue locks of orderly consumers.
    pub queue_locks: QueueLocks,
    /// Finished transactions not yet passed by the back-check.
    pub transactions: TransactionLog,
    /// Message counters.
    pub stats: BrokerStats,
    /// What the send path needs.
    pub send: SendSettings,
    /// `brokerIP1:listenPort`, as registered and as written into offsetMsgIds.
    pub broker_addr: SocketAddr,
    /// Wall-clock start time (ms).
    pub started_ms: i64,
    /// Wakes the registration loop for an immediate round (a topic was created or deleted).
    pub register_now: Notify,
    /// Some NameServer has accepted a registration (readiness).
    pub registered: AtomicBool,
    /// Replication state (slaves of this master, or this slave's master).
    pub replication: Replication,
    /// Woken after appends, for the replication senders.
    pub log_grew: Notify,
    /// `brokerPermission` now: the configured value until UPDATE_BROKER_CONFIG changes it
    /// (the operator makes a master read-only before restarting it). Not persisted: a
    /// restarted broker runs with its configured value again.
    permission: AtomicU8,
}

impl BrokerContext {
    /// Opens the store and loads the tables under `config.storePathRootDir/config/`.
    pub fn open(config: BrokerConfig, broker_addr: SocketAddr) -> Result<Self, StoreError> {
        let store = MessageStore::open(config.store_config())?;
        let dir = config.store_path_root_dir.join("config");
        let topics = TopicTable::load(
            dir.join("topics.json"),
            &config.broker_cluster_name,
            &config.broker_name,
            config.auto_create_topic_enable,
            i32::try_from(config.default_topic_queue_nums).unwrap_or(8),
        )?;
        let offsets = ConsumerOffsets::load(dir.join("consumerOffset.json"))?;
        let delay_offsets = DelayOffsets::load(dir.join("delayOffset.json"))?;
        let groups = SubscriptionGroups::load(
            dir.join("subscriptionGroup.json"),
            config.auto_create_subscription_group,
        )?;
        // Halves the back-check passed before a restart stay finished: a late answer to one
        // must not commit it.
        let check_progress = offsets.query(PROGRESS_GROUP, TRANS_HALF_TOPIC, 0).unwrap_or(0);
        let permission = AtomicU8::new(config.broker_permission);
        let send = SendSettings {
            store_host: broker_addr,
            auto_create_topic: config.auto_create_topic_enable,
            region_id: config.region_id.clone(),
            trace_on: config.trace_on,
            delay_levels: config.message_delay_level.len(),
        };
        Ok(Self {
            config,
            store,
            topics,
            offsets,
            groups,
            delay_offsets,
            clients: ClientRegistry::default(),
            queue_locks: QueueLocks::default(),
            transactions: TransactionLog::from_progress(check_progress),
            stats: BrokerStats::default(),
            send,
            broker_addr,
            started_ms: clock::now_millis(),
            register_now: Notify::new(),
            registered: AtomicBool::new(false),
            replication: Replication::default(),
            log_grew: Notify::new(),
            permission,
        })
    }

    /// The store root.
    pub fn store_root(&self) -> &Path {
        &self.config.store_path_root_dir
    }

    /// Ready to serve clients: the store is open (it is, once this exists) and a NameServer
    /// knows this broker, so clients can find it.
    pub fn is_ready(&self) -> bool {
        self.registered.load(Ordering::Acquire) && self.store.writable().is_ok()
    }

    /// `brokerPermission` now (PermName bits: 4 read, 2 write).
    pub fn permission(&self) -> u8 {
        self.permission.load(Ordering::Acquire)
    }

    /// Changes `brokerPermission` at runtime.
    pub fn set_permission(&self, permission: u8) {
        self.permission.store(permission, Ordering::Release);
    }

    /// Whether sends are accepted (the permission has the write bit).
    pub fn is_writable(&self) -> bool {
        i32::from(self.permission()) & PERM_WRITE != 0
    }

    /// The topic table as registered with the NameServers. A broker lacking read or write
    /// permission registers every topic with only what it allows (`perm & brokerPermission`,
    /// as the reference does), so clients route around it.
    pub fn registered_topics(&self) -> TopicConfigWrapper {
        let mut wrapper = self.topics.wrapper();
        let permission = i32::from(self.permission());
        let full = PERM_READ | PERM_WRITE;
        if permission & full != full {
            for topic in wrapper.topic_config_table.values_mut() {
                topic.perm &= permission;
            }
        }
        wrapper
    }

    /// Whether this broker is a master (brokerId 0).
    pub fn is_master(&self) -> bool {
        self.config.broker_id == 0
    }

    /// Persists what lives in memory between saves (consumer and delay offsets), then closes
    /// the store.
    pub fn close(&self) -> Result<(), StoreError> {
        let saved = self.offsets.persist();
        let delays = self.delay_offsets.persist();
        let closed = self.store.close();
        saved.and(delays).and(closed)
    }
}
