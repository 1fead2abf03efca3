//! JSON bodies clients send about themselves and the broker returns about them: HEART_BEAT's
//! `HeartbeatData`, the subscriptions inside it, and the connection lists admin tools read.
//! Unknown fields are ignored (4.9 and 5.x clients add different ones); missing ones default.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// HEART_BEAT (34) body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    /// `ip@pid` (or the client's instance name).
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Producer groups of the client.
    pub producer_data_set: Vec<ProducerData>,
    /// Consumer groups of the client.
    pub consumer_data_set: Vec<ConsumerData>,
    /// Heartbeat v2: "subscriptions unchanged since the last full heartbeat".
    pub without_sub: bool,
}

/// One producer group of a client.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    /// Group name.
    pub group_name: String,
}

/// One consumer group of a client.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    /// Group name.
    pub group_name: String,
    /// `CONSUME_ACTIVELY` (pull), `CONSUME_PASSIVELY` (push) or `CONSUME_POP`.
    pub consume_type: String,
    /// `CLUSTERING` or `BROADCASTING`.
    pub message_model: String,
    /// Where a new group starts.
    pub consume_from_where: String,
    /// Subscriptions, one per topic.
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit mode (unused).
    pub unit_mode: bool,
}

/// A subscription: a topic and its TAG expression.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    /// Class filter mode (unused).
    pub class_filter_mode: bool,
    /// Topic.
    pub topic: String,
    /// The expression as written (`*`, `TagA || TagB`).
    pub sub_string: String,
    /// Tags of the expression.
    pub tags_set: BTreeSet<String>,
    /// Their hash codes (Java sends numbers, Go numeric strings).
    #[serde(deserialize_with = "lenient_codes")]
    pub code_set: BTreeSet<i32>,
    /// Client-side version (timestamp) of the subscription.
    pub sub_version: i64,
    /// `TAG` or `SQL92`.
    pub expression_type: String,
}

/// Hash codes written as numbers or as numeric strings, as the reference's parser accepts.
fn lenient_codes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeSet<i32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Code {
        Number(i32),
        Text(String),
    }
    Vec::<Code>::deserialize(d)?
        .into_iter()
        .map(|c| match c {
            Code::Number(n) => Ok(n),
            Code::Text(t) => t.trim().parse().map_err(|_| {
                serde::de::Error::custom(format!("codeSet entry {t:?} is not a 32-bit integer"))
            }),
        })
        .collect()
}

/// One client connection, as GET_CONSUMER_CONNECTION_LIST and GET_PRODUCER_CONNECTION_LIST
/// report it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// `ip:port` of the client's socket.
    pub client_addr: String,
    /// Client id.
    pub client_id: String,
    /// Language name (`JAVA`, `GO`, `RUST`, …).
    pub language: String,
    /// Client version ordinal.
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST (203) body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerConnection {
    /// Live connections of the group.
    pub connection_set: BTreeSet<ConnectionInfo>,
    /// Subscriptions by topic.
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    /// Consume type.
    pub consume_type: String,
    /// Message model.
    pub message_model: String,
    /// Consume-from-where policy.
    pub consume_from_where: String,
}

/// GET_PRODUCER_CONNECTION_LIST (204) body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerConnection {
    /// Live connections of the group.
    pub connection_set: BTreeSet<ConnectionInfo>,
}

/// GET_CONSUMER_LIST_BY_GROUP (38) body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerIdList {
    /// Client ids, as the client sorts them for rebalancing.
    pub consumer_id_list: Vec<String>,
}

/// A group list (QUERY_TOPIC_CONSUME_BY_WHO).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupList {
    /// Group names.
    pub group_list: BTreeSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_heartbeat_parses() {
        let text = r#"{"clientID":"10.0.0.9@12345","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"CG","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"PG"}],"withoutSub":false,"extra":1}"#;
        let hb: HeartbeatData = serde_json::from_str(text).unwrap();
        assert_eq!(hb.client_id, "10.0.0.9@12345");
        assert_eq!(hb.producer_data_set[0].group_name, "PG");
        let c = &hb.consumer_data_set[0];
        assert_eq!(
            (c.group_name.as_str(), c.message_model.as_str()),
            ("CG", "CLUSTERING")
        );
        assert_eq!(c.subscription_data_set[0].sub_string, "TagA");
        assert!(c.subscription_data_set[0].code_set.contains(&2_598_919));
    }

    #[test]
    fn go_heartbeat_with_string_codes_parses() {
        let text = r#"{"clientID":"go@1","consumerDataSet":[{"groupName":"G","subscriptionDataSet":[{"classFilterMode":false,"topic":"GoT1","subString":"TagA","tagsSet":["TagA"],"codeSet":["2598919"],"subVersion":1796154036709130678,"expressionType":"TAG"}]}]}"#;
        let hb: HeartbeatData = serde_json::from_str(text).unwrap();
        let sub = &hb.consumer_data_set[0].subscription_data_set[0];
        assert!(sub.code_set.contains(&2_598_919));
        assert_eq!(sub.sub_version, 1_796_154_036_709_130_678);
        let bad = text.replace(r#"["2598919"]"#, r#"["x"]"#);
        let err = serde_json::from_str::<HeartbeatData>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"codeSet entry "x""#), "{err}");
    }

    #[test]
    fn connection_list_shape() {
        let body = ConsumerIdList {
            consumer_id_list: vec!["a@1".into()],
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"consumerIdList":["a@1"]}"#
        );
    }
}
