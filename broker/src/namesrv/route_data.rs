//! JSON bodies the NameServer reads and writes, in the reference's field names. Output is compact
//! (the Go client splits `brokerAddrs` by hand and breaks on whitespace) and numeric map keys are
//! quoted (serde-based clients need standard JSON).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// `DataVersion`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    /// Change counter.
    pub counter: i64,
    /// State version.
    pub state_version: i64,
    /// Last change (ms).
    pub timestamp: i64,
}

impl DataVersion {
    /// The version after one more change at `now_ms`.
    pub fn bumped(self, now_ms: i64) -> Self {
        Self {
            counter: self.counter + 1,
            state_version: self.state_version,
            timestamp: now_ms,
        }
    }
}

/// `TopicConfig` as brokers register it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// Topic name.
    pub topic_name: String,
    /// Readable queues.
    pub read_queue_nums: i32,
    /// Writable queues.
    pub write_queue_nums: i32,
    /// Permission bits (2 write, 4 read, 1 inherit).
    pub perm: i32,
    /// `SINGLE_TAG` / `MULTI_TAG`.
    pub topic_filter_type: String,
    /// Topic sys flag.
    pub topic_sys_flag: i32,
    /// Ordered topic.
    pub order: bool,
    /// 5.x attributes.
    pub attributes: BTreeMap<String, String>,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            topic_name: String::new(),
            read_queue_nums: 16,
            write_queue_nums: 16,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }
}

/// `TopicConfigSerializeWrapper`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigWrapper {
    /// Topics by name.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// Version of the table.
    pub data_version: DataVersion,
}

/// `RegisterBrokerBody` (uncompressed form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// The broker's topics.
    pub topic_config_serialize_wrapper: TopicConfigWrapper,
    /// Filter servers (unused, kept for shape).
    pub filter_server_list: Vec<String>,
}

/// `QueueData`: one broker's queues of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    /// Broker group.
    pub broker_name: String,
    /// Readable queues.
    pub read_queue_nums: i32,
    /// Writable queues.
    pub write_queue_nums: i32,
    /// Permission bits.
    pub perm: i32,
    /// Topic sys flag.
    pub topic_sys_flag: i32,
}

/// `BrokerData`: one broker group's addresses by broker id (0 = master).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// Cluster name.
    pub cluster: String,
    /// Broker group name.
    pub broker_name: String,
    /// `brokerId → ip:port`.
    pub broker_addrs: BTreeMap<i64, String>,
    /// 5.x acting-master flag.
    #[serde(default)]
    pub enable_acting_master: bool,
}

/// `TopicRouteData`, the answer to `GET_ROUTEINFO_BY_TOPIC`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    /// Brokers serving the topic.
    pub broker_datas: Vec<BrokerData>,
    /// Queues per broker.
    pub queue_datas: Vec<QueueData>,
    /// Always empty (filter servers are gone from RocketMQ).
    #[serde(default)]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// Ordered-topic config (`brokerA:4;brokerB:4`), when the KV store has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order_topic_conf: Option<String>,
}

/// `ClusterInfo`, the answer to `GET_BROKER_CLUSTER_INFO`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// Broker groups by name.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Broker group names by cluster.
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

/// `TopicList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicList {
    /// Topic names.
    pub topic_list: BTreeSet<String>,
}

/// `KVTable`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvTable {
    /// Entries.
    pub table: BTreeMap<String, String>,
}

/// Compact JSON of a body (serializing these types cannot fail).
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_json_is_compact_with_quoted_ids() {
        let route = TopicRouteData {
            broker_datas: vec![BrokerData {
                cluster: "DefaultCluster".into(),
                broker_name: "broker-a".into(),
                broker_addrs: BTreeMap::from([(0, "127.0.0.1:10911".into()), (1, "127.0.0.2:10911".into())]),
                enable_acting_master: false,
            }],
            queue_datas: vec![QueueData {
                broker_name: "broker-a".into(),
                read_queue_nums: 4,
                write_queue_nums: 4,
                perm: 6,
                topic_sys_flag: 0,
            }],
            ..Default::default()
        };
        let text = String::from_utf8(to_json(&route)).unwrap();
        assert_eq!(
            text,
            r#"{"brokerDatas":[{"cluster":"DefaultCluster","brokerName":"broker-a","brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.2:10911"},"enableActingMaster":false}],"queueDatas":[{"brokerName":"broker-a","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicSysFlag":0}],"filterServerTable":{}}"#
        );
        assert_eq!(serde_json::from_str::<TopicRouteData>(&text).unwrap(), route);
    }

    #[test]
    fn reads_a_java_register_body() {
        let body = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}}}}"#;
        let parsed: RegisterBrokerBody = serde_json::from_str(body).unwrap();
        let wrapper = parsed.topic_config_serialize_wrapper;
        assert_eq!(wrapper.data_version.counter, 3);
        assert_eq!(wrapper.topic_config_table["TopicTest"].write_queue_nums, 4);
    }
}
