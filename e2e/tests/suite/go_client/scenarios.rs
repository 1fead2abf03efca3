//! The basic scenarios (send modes, consumer groups, tags, restarts), each a plain function of
//! the `Env` it is pointed at, so any target runs exactly the same client calls and meets
//! exactly the same assertions.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    thread,
    time::Duration,
};

use super::client::{Consumer, Received, Sent, produce, wait_until};
use crate::{broker_probe, scenario::targets::Env};

/// Longest wait for deliveries the harness expects (a consumer starts, finds its route,
/// rebalances and pulls in well under a second on loopback).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long consumers keep running after the last expected delivery, so that duplicates and
/// deliveries that should not happen (a wrong tag) have the time to arrive and be seen.
const SETTLE: Duration = Duration::from_millis(1500);
/// Longest wait for a two-member group to split the queues. The broker tells the first member
/// when the second joins (NOTIFY_CONSUMER_IDS_CHANGED); without that the first would only
/// rebalance at its next 20 s tick.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for offsets a consumer sent to show at the broker (they are applied at once).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Queues of an auto-created topic: the Go producer asks for 4 (`DefaultTopicQueueNums`).
const QUEUES: usize = 4;

fn keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    keys.into_iter().cloned().collect()
}

fn sent_keys(sent: &[Sent]) -> BTreeSet<String> {
    keys(sent.iter().map(|s| &s.key))
}

fn received_keys(received: &[Received]) -> BTreeSet<String> {
    keys(received.iter().map(|r| &r.key))
}

/// The offset the broker holds committed for `group` in each of the topic's queues
/// (QUERY_CONSUMER_OFFSET; `None` where it has none).
fn committed(env: &Env, group: &str, topic: &str) -> Vec<Option<i64>> {
    let progress = broker_probe::progress(env.broker, group, topic, QUEUES as i32);
    progress.into_values().map(|(_, committed)| committed).collect()
}

/// The commit-log offset an offset message id encodes, after checking that the id is the
/// broker's address (4 bytes IP, 4 bytes port) and an 8-byte offset in upper-case hex.
fn commit_log_offset(env: &Env, offset_msg_id: &str) -> u64 {
    let IpAddr::V4(ip) = env.broker.ip() else {
        panic!("the broker advertises {}, not an IPv4 address", env.broker)
    };
    let prefix = format!("{:08X}{:08X}", u32::from(ip), u32::from(env.broker.port()));
    let hex = offset_msg_id.strip_prefix(&prefix).unwrap_or_else(|| {
        panic!(
            "offsetMsgId {offset_msg_id} does not start with the broker {} ({prefix})",
            env.broker
        )
    });
    assert!(
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "offsetMsgId {offset_msg_id} does not end in 16 upper-case hex digits"
    );
    u64::from_str_radix(hex, 16).expect("hex")
}

/// What every send result must satisfy: offset message ids name the broker and commit-log
/// offsets that grow in send order (every send waited for the previous one); no two messages
/// share a queue offset; queue offsets of a fresh topic count up from 0 in each queue.
fn check_send_results(env: &Env, sent: &[Sent]) {
    let offsets: Vec<u64> = sent
        .iter()
        .map(|s| commit_log_offset(env, &s.offset_msg_id))
        .collect();
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "commit-log offsets not increasing in send order: {sent:#?}"
    );
    let mut by_queue: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for s in sent {
        by_queue.entry(&s.queue).or_default().push(s.queue_offset);
    }
    for (queue, got) in &by_queue {
        let want: Vec<i64> = (0..got.len() as i64).collect();
        assert_eq!(got, &want, "queue offsets in {queue}, in send order: {sent:#?}");
    }
}

/// Every delivery is one of `sent`, exactly as sent: same queue and queue offset, same body and
/// tag, same message id (for messages without a client id, the offset message id: the consumer
/// derives it from where the broker stored the message); and every sent key was delivered.
fn check_received_as_sent(sent: &[Sent], received: &[Received], tag: &str) {
    let by_key: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.key.as_str(), s)).collect();
    for r in received {
        let s = by_key
            .get(r.key.as_str())
            .unwrap_or_else(|| panic!("delivered a message never sent (or filtered out): {r:?}"));
        let msg_id = if s.msg_id == "-" {
            &s.offset_msg_id
        } else {
            &s.msg_id
        };
        let want = Received {
            key: s.key.clone(),
            tag: tag.to_owned(),
            queue: s.queue.clone(),
            queue_offset: s.queue_offset,
            msg_id: msg_id.clone(),
            body: format!("body-{}", s.key),
        };
        assert_eq!(r, &want, "a delivery differs from what was sent");
    }
    assert_eq!(
        received_keys(received),
        sent_keys(sent),
        "delivered keys != sent keys"
    );
}

/// Starts one consumer, waits until it has every key in `expected`, lets it settle, stops it.
fn consume_all(
    env: &Env,
    group: &str,
    topic: &str,
    expr: &str,
    expected: &BTreeSet<String>,
) -> Vec<Received> {
    let mut consumer = Consumer::start(&env.namesrv, group, topic, expr);
    wait_until(
        &format!("{} deliveries to {group}", expected.len()),
        DELIVERY_TIMEOUT,
        &mut [&mut consumer],
        |c| received_keys(&c[0].received()).is_superset(expected),
    );
    thread::sleep(SETTLE);
    consumer.stop()
}

/// SendSync one message at a time: SEND_OK, distinct client message ids, results consistent;
/// a push consumer then receives every message exactly as sent.
pub fn sync_send(env: &Env) {
    let topic = "GoSyncTopic";
    let sent = produce(&env.namesrv, topic, "TagA", "sync", 16, false);
    check_send_results(env, &sent);
    let msg_ids = keys(sent.iter().map(|s| &s.msg_id));
    assert!(
        msg_ids.len() == sent.len() && !msg_ids.contains("-"),
        "client message ids not distinct: {sent:#?}"
    );
    let queues = keys(sent.iter().map(|s| &s.queue));
    assert_eq!(
        queues.len(),
        QUEUES,
        "round-robin over the topic's queues: {sent:#?}"
    );

    let received = consume_all(env, "GoSyncGroup", topic, "*", &sent_keys(&sent));
    check_received_as_sent(&sent, &received, "TagA");
}

/// SendSync with several messages (SEND_BATCH_MESSAGE): one queue, consecutive queue offsets,
/// one offset message id per message; a consumer sees each where the result said it went.
pub fn batch_send(env: &Env) {
    let topic = "GoBatchTopic";
    let sent = produce(&env.namesrv, topic, "TagB", "batch", 8, true);
    check_send_results(env, &sent);
    let queues = keys(sent.iter().map(|s| &s.queue));
    assert_eq!(queues.len(), 1, "a batch goes to one queue: {sent:#?}");
    let ids = keys(sent.iter().map(|s| &s.offset_msg_id));
    assert_eq!(
        ids.len(),
        sent.len(),
        "offset message ids not distinct: {sent:#?}"
    );

    let received = consume_all(env, "GoBatchGroup", topic, "*", &sent_keys(&sent));
    check_received_as_sent(&sent, &received, "TagB");
}

/// Two push consumers of one group (clustering): once the broker has told them of each other
/// they split the queues, each gets what was sent to its queues, and together they get all.
pub fn consumer_group(env: &Env) {
    let topic = "GoGroupTopic";
    let group = "GoGroup";
    // The Go consumer refuses to start on a topic with no route: create it first.
    let mut sent = produce(&env.namesrv, topic, "TagA", "early", 8, false);
    let all_queues = keys(sent.iter().map(|s| &s.queue));
    assert_eq!(all_queues.len(), QUEUES, "{sent:#?}");

    let mut a = Consumer::start(&env.namesrv, group, topic, "*");
    let mut b = Consumer::start(&env.namesrv, group, topic, "*");
    let split = |a: &Consumer, b: &Consumer| {
        let (Some((2, qa)), Some((2, qb))) = (a.assignment(topic), b.assignment(topic)) else {
            return None;
        };
        let (qa, qb) = (keys(&qa), keys(&qb));
        let disjoint_cover = qa.is_disjoint(&qb) && keys(qa.union(&qb)) == all_queues;
        (disjoint_cover && !qa.is_empty() && !qb.is_empty()).then_some((qa, qb))
    };
    wait_until(
        "split of the queues between two members",
        REBALANCE_TIMEOUT,
        &mut [&mut a, &mut b],
        |c| split(c[0], c[1]).is_some(),
    );
    let (qa, qb) = split(&a, &b).expect("split");

    let late = produce(&env.namesrv, topic, "TagA", "late", 16, false);
    sent.extend(late.iter().cloned());
    check_send_results(env, &sent);
    let expected = sent_keys(&sent);
    wait_until(
        "every message across the group",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b],
        |c| {
            let mut got = received_keys(&c[0].received());
            got.extend(received_keys(&c[1].received()));
            got.is_superset(&expected)
        },
    );
    thread::sleep(SETTLE);
    let (ra, rb) = (a.stop(), b.stop());

    for (name, owned, got) in [("first", &qa, &ra), ("second", &qb, &rb)] {
        let late_got = received_keys(got);
        let want: BTreeSet<String> = late
            .iter()
            .filter(|s| owned.contains(&s.queue))
            .map(|s| s.key.clone())
            .collect();
        assert!(
            !want.is_empty(),
            "the {name} member owns {owned:?}, where nothing late was sent"
        );
        assert!(
            late_got.is_superset(&want),
            "the {name} member (queues {owned:?}) missed {:?} sent to its queues after the split",
            want.difference(&late_got).collect::<Vec<_>>()
        );
    }
    let both: Vec<Received> = ra.into_iter().chain(rb).collect();
    check_received_as_sent(&sent, &both, "TagA");
}

/// A consumer subscribed to `TagA` gets every TagA message and no TagB one, although both
/// share the topic's queues.
pub fn tag_filter(env: &Env) {
    let topic = "GoTagTopic";
    let tag_a = produce(&env.namesrv, topic, "TagA", "a", 8, false);
    let tag_b = produce(&env.namesrv, topic, "TagB", "b", 8, false);
    let queues_a = keys(tag_a.iter().map(|s| &s.queue));
    let queues_b = keys(tag_b.iter().map(|s| &s.queue));
    assert!(
        !queues_a.is_disjoint(&queues_b),
        "TagA and TagB should share queues"
    );

    let received = consume_all(env, "GoTagGroup", topic, "TagA", &sent_keys(&tag_a));
    let leaked: Vec<&Received> = received.iter().filter(|r| r.tag != "TagA").collect();
    assert!(leaked.is_empty(), "a TagA subscriber got other tags: {leaked:#?}");
    check_received_as_sent(&tag_a, &received, "TagA");
}

/// Offsets a consumer committed hold for its group: the group's next consumer gets exactly what
/// was sent after, nothing from before. The first consumer commits what it consumed while it is
/// still connected (a "persist": the client's PersistConsumerOffset), the broker is seen to hold
/// exactly those offsets (QUERY_CONSUMER_OFFSET), and only then does it shut down. The client
/// sends its offsets at shutdown too, but oneway, right before it closes the connection, and
/// the reference may never process them: its server handler (5.3.3's NettyServerHandler)
/// discards a request that it gets to only once the connection has closed (the channel no
/// longer knows its local port). Under load that lost a queue's offset in about one restart of
/// twenty, and the next consumer got that queue's messages again.
pub fn consumer_restart(env: &Env) {
    let (topic, group) = ("GoRestartTopic", "GoRestartGroup");
    let before = produce(&env.namesrv, topic, "TagA", "before", 8, false);
    let expected = sent_keys(&before);
    let mut consumer = Consumer::start(&env.namesrv, group, topic, "*");
    wait_until(
        &format!("{} deliveries to {group}", expected.len()),
        DELIVERY_TIMEOUT,
        &mut [&mut consumer],
        |c| received_keys(&c[0].received()).is_superset(&expected),
    );
    thread::sleep(SETTLE);
    consumer.persist();
    let mut next = vec![None; QUEUES];
    for s in &before {
        let queue_id: usize = s
            .queue
            .rsplit(':')
            .next()
            .and_then(|q| q.parse().ok())
            .expect("broker:qid");
        next[queue_id] = next[queue_id].max(Some(s.queue_offset + 1));
    }
    wait_until(
        &format!("the broker to hold the offsets {next:?}"),
        COMMIT_TIMEOUT,
        &mut [&mut consumer],
        |_| committed(env, group, topic) == next,
    );
    let first = consumer.stop();
    check_received_as_sent(&before, &first, "TagA");

    let after = produce(&env.namesrv, topic, "TagA", "after", 8, false);
    let second = consume_all(env, group, topic, "*", &sent_keys(&after));
    check_received_as_sent(&after, &second, "TagA");
}
