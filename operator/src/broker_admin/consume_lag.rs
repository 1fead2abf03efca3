//! Reading consumer lag out of the broker's answers: the consumer groups from
//! GET_ALL_CONSUMER_OFFSET (43, `{"offsetTable":{"topic@group":{queue:offset}}}`) and each
//! group's lag from GET_CONSUME_STATS (208). ConsumeStats keys its table by MessageQueue
//! *objects* (fastjson's form, not JSON), so its body is scanned for the offset pairs rather
//! than parsed.

use std::collections::BTreeSet;

/// The consumer groups that have committed offsets; `None` if the body is not the table.
pub fn groups(offsets_body: &[u8]) -> Option<BTreeSet<String>> {
    let value: serde_json::Value = serde_json::from_slice(offsets_body).ok()?;
    let table = value.get("offsetTable")?.as_object()?;
    Some(
        table
            .keys()
            .filter_map(|key| key.rsplit_once('@').map(|(_, group)| group.to_owned()))
            .collect(),
    )
}

/// Messages not yet consumed: Σ max(0, brokerOffset − consumerOffset) over the queues of a
/// ConsumeStats body; `None` if a queue's pair is incomplete.
pub fn lag(consume_stats_body: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut rest = consume_stats_body;
    while let Some(at) = rest.find("\"brokerOffset\":") {
        rest = &rest[at + "\"brokerOffset\":".len()..];
        let broker = leading_integer(rest)?;
        let at = rest.find("\"consumerOffset\":")?;
        rest = &rest[at + "\"consumerOffset\":".len()..];
        let consumer = leading_integer(rest)?;
        total = total.saturating_add((broker - consumer).max(0));
    }
    Some(total)
}

fn leading_integer(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(text.len(), |(i, _)| i);
    text[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_come_from_the_topic_at_group_keys() {
        let body = br#"{"offsetTable":{"T@g1":{"0":3},"%RETRY%g1@g1":{"0":0},"U@a@b":{"1":2}}}"#;
        let found = groups(body).unwrap();
        assert_eq!(found, BTreeSet::from(["g1".to_owned(), "b".to_owned()]));
        assert_eq!(groups(b"not json"), None);
    }

    #[test]
    fn lag_sums_the_queues_and_ignores_consumers_ahead() {
        let body = concat!(
            r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:"#,
            r#"{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":0,"pullOffset":4},"#,
            r#"{"brokerName":"b","queueId":1,"topic":"T"}:"#,
            r#"{"brokerOffset":5,"consumerOffset":7,"lastTimestamp":0,"pullOffset":7}},"consumeTps":0.00}"#
        );
        assert_eq!(lag(body), Some(6));
        assert_eq!(lag(r#"{"offsetTable":{},"consumeTps":0.00}"#), Some(0));
        assert_eq!(
            lag(r#"{"brokerOffset":3}"#),
            None,
            "a pair without its consumer offset"
        );
    }
}
