//! Request and response codes (`RequestCode` / `ResponseCode` in the reference). Plain
//! constants: codes arrive as integers and the broker's router matches on them once.

/// Request codes.
pub mod request {
    /// Put a KV config entry (namesrv).
    pub const PUT_KV_CONFIG: i32 = 100;
    /// Get a KV config entry (namesrv).
    pub const GET_KV_CONFIG: i32 = 101;
    /// Delete a KV config entry (namesrv).
    pub const DELETE_KV_CONFIG: i32 = 102;
    /// Broker registration (namesrv).
    pub const REGISTER_BROKER: i32 = 103;
    /// Broker unregistration (namesrv).
    pub const UNREGISTER_BROKER: i32 = 104;
    /// Route lookup (namesrv).
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    /// Cluster info (namesrv).
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    /// Send (long header names).
    pub const SEND_MESSAGE: i32 = 10;
    /// Pull.
    pub const PULL_MESSAGE: i32 = 11;
    /// Query by key.
    pub const QUERY_MESSAGE: i32 = 12;
    /// Consumer offset query.
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    /// Consumer offset update.
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    /// Topic create/update.
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    /// All topic configs.
    pub const GET_ALL_TOPIC_CONFIG: i32 = 21;
    /// Update broker config.
    pub const UPDATE_BROKER_CONFIG: i32 = 25;
    /// Get broker config.
    pub const GET_BROKER_CONFIG: i32 = 26;
    /// Runtime info.
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    /// Offset by timestamp.
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    /// Max offset of a queue.
    pub const GET_MAX_OFFSET: i32 = 30;
    /// Min offset of a queue.
    pub const GET_MIN_OFFSET: i32 = 31;
    /// Earliest store time of a queue.
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    /// View by offsetMsgId.
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    /// Client heartbeat.
    pub const HEART_BEAT: i32 = 34;
    /// Client unregistration.
    pub const UNREGISTER_CLIENT: i32 = 35;
    /// Consumer sends a failed message back.
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    /// Commit or roll back a transaction.
    pub const END_TRANSACTION: i32 = 37;
    /// Consumer ids of a group.
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    /// Broker asks a producer for a transaction's state.
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    /// Broker tells consumers their group changed.
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    /// Lock queues for orderly consumption.
    pub const LOCK_BATCH_MQ: i32 = 41;
    /// Unlock queues.
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    /// All consumer offsets.
    pub const GET_ALL_CONSUMER_OFFSET: i32 = 43;
    /// All delay offsets.
    pub const GET_ALL_DELAY_OFFSET: i32 = 45;
    /// Check a client's subscription config.
    pub const CHECK_CLIENT_CONFIG: i32 = 46;
    /// Subscription group create/update.
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    /// All subscription groups.
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    /// Topic stats.
    pub const GET_TOPIC_STATS_INFO: i32 = 202;
    /// Consumer connections.
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    /// Producer connections.
    pub const GET_PRODUCER_CONNECTION_LIST: i32 = 204;
    /// Remove write permission of a broker (namesrv).
    pub const WIPE_WRITE_PERM_OF_BROKER: i32 = 205;
    /// All topics (namesrv).
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    /// Delete a subscription group.
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    /// Consume stats of a group.
    pub const GET_CONSUME_STATS: i32 = 208;
    /// Delete a topic on a broker.
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    /// Delete a topic on the namesrv.
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    /// Register a topic on the namesrv.
    pub const REGISTER_TOPIC_IN_NAMESRV: i32 = 217;
    /// KV list of a namespace (namesrv).
    pub const GET_KVLIST_BY_NAMESPACE: i32 = 219;
    /// Broker asks a client to reset offsets.
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    /// Broker asks a client for its consume status.
    pub const GET_CONSUMER_STATUS_FROM_CLIENT: i32 = 221;
    /// Topics of a cluster (namesrv).
    pub const GET_TOPICS_BY_CLUSTER: i32 = 224;
    /// Which groups consume a topic.
    pub const QUERY_TOPIC_CONSUME_BY_WHO: i32 = 300;
    /// System topics (namesrv).
    pub const GET_SYSTEM_TOPIC_LIST_FROM_NS: i32 = 304;
    /// Running info of a consumer client.
    pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
    /// Consume one message directly on a client.
    pub const CONSUME_MESSAGE_DIRECTLY: i32 = 309;
    /// Send (short header names).
    pub const SEND_MESSAGE_V2: i32 = 310;
    /// Batch send.
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    /// Data version query (namesrv).
    pub const QUERY_DATA_VERSION: i32 = 322;
    /// Restore write permission of a broker (namesrv).
    pub const ADD_WRITE_PERM_OF_BROKER: i32 = 327;
    /// Topics a group consumes.
    pub const QUERY_TOPICS_BY_CONSUMER: i32 = 343;
    /// Pull of a lite pull consumer (5.x): a PULL_MESSAGE by another code.
    pub const LITE_PULL_MESSAGE: i32 = 361;
    /// One topic's config (5.x admin).
    pub const GET_TOPIC_CONFIG: i32 = 351;
    /// Broker heartbeat (namesrv, controller mode).
    pub const BROKER_HEARTBEAT: i32 = 904;
}

/// Response codes.
pub mod response {
    /// Success.
    pub const SUCCESS: i32 = 0;
    /// Handler failure (also "no consumer for this group").
    pub const SYSTEM_ERROR: i32 = 1;
    /// Overloaded; producers retry.
    pub const SYSTEM_BUSY: i32 = 2;
    /// Unknown request code.
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    /// Transaction failed.
    pub const TRANSACTION_FAILED: i32 = 4;
    /// Stored, but the sync flush timed out.
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    /// Stored, but no slave is available (SYNC_MASTER).
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    /// Stored, but the slave did not confirm in time.
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    /// Bad message.
    pub const MESSAGE_ILLEGAL: i32 = 13;
    /// Store not writable.
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    /// Version not supported.
    pub const VERSION_NOT_SUPPORTED: i32 = 15;
    /// Permission bits deny the operation.
    pub const NO_PERMISSION: i32 = 16;
    /// Unknown topic.
    pub const TOPIC_NOT_EXIST: i32 = 17;
    /// Topic exists.
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    /// Pull: nothing new.
    pub const PULL_NOT_FOUND: i32 = 19;
    /// Pull: retry at once.
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    /// Pull: offset moved.
    pub const PULL_OFFSET_MOVED: i32 = 21;
    /// Query: not found (offsets, messages, KV).
    pub const QUERY_NOT_FOUND: i32 = 22;
    /// Subscription expression does not parse.
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    /// Pull before heartbeat.
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    /// Subscription is older than the request's.
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    /// Unknown group and auto-create off.
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    /// Bad parameter (topic name, queue id, missing header field).
    pub const INVALID_PARAMETER: i32 = 29;
    /// Consumer not online.
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    /// Flow control; push consumers retry.
    pub const FLOW_CONTROL: i32 = 215;
    /// Illegal operation.
    pub const ILLEGAL_OPERATION: i32 = 604;
    /// Server going away.
    pub const GO_AWAY: i32 = 1500;
}
