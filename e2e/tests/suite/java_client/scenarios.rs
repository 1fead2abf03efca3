//! The basic scenarios (send modes, consumers, tags, groups, restarts), each a plain function of
//! the target's [`Env`], so Apogee and the reference run exactly the same client calls and meet
//! exactly the same assertions.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use super::client::{Consumer, Kind, Mode, Received, Report, SendResult, Sent, produce, settle, wait_until};
use crate::scenario::targets::{Env, Target};

/// Longest wait for deliveries the harness expects. On the reference they take about 2 s after a
/// consumer JVM starts (startup, route, rebalance, first pull).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a consumer keeps running after the last expected delivery, so that duplicates or
/// deliveries that should not happen (a wrong tag) have the time to arrive and be seen.
const SETTLE: Duration = Duration::from_millis(1500);
/// Longest wait for a two-member group to split the topic's queues between them. The broker
/// tells the first member when the second joins (NOTIFY_CONSUMER_IDS_CHANGED), so both rebalance
/// at once; without that notice the first member would only rebalance at its next 20 s tick.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(60);
/// Queues of an auto-created topic: the client asks for its `defaultTopicQueueNums` (4) and the
/// broker caps that by TBW102's 8.
const QUEUES: usize = 4;

/// A topic or group name no other scenario or target uses (the reference serves them all).
pub(super) fn unique(env: &Env, kind: &str, scenario: &str) -> String {
    let target = match env.target {
        Target::Apogee => "apogee",
        Target::Reference => "reference",
    };
    format!("{kind}_{scenario}_{target}")
}

fn keys(sent: &[Sent]) -> BTreeSet<String> {
    sent.iter().map(|s| s.key.clone()).collect()
}

/// Starts one consumer, waits until it has every key in `expected`, lets it settle, stops it.
fn consume_all(
    env: &Env,
    kind: Kind,
    group: &str,
    topic: &str,
    expr: &str,
    expected: &BTreeSet<String>,
) -> Report {
    let mut consumers = [Consumer::start(kind, &env.namesrv, group, topic, expr)];
    wait_until(
        &format!("{} deliveries to {group}", expected.len()),
        DELIVERY_TIMEOUT,
        &mut consumers,
        |c| c[0].received_keys().is_superset(expected),
    );
    settle(SETTLE, &mut consumers);
    consumers[0].stop()
}

/// Every result of a send: offset message ids are the broker's address (4 bytes IP, 4 bytes
/// port) and the commit-log offset (8 bytes) in upper-case hex, all distinct; no two messages
/// share a queue offset; message ids are distinct.
fn check_send_results(env: &Env, sent: &[Sent]) {
    let std::net::IpAddr::V4(ip) = env.broker.ip() else {
        panic!("the broker advertises {}, not an IPv4 address", env.broker)
    };
    let prefix = format!("{:08X}{:08X}", u32::from(ip), u32::from(env.broker.port()));
    let results: Vec<_> = sent.iter().filter_map(|s| s.result.as_ref()).collect();
    for r in &results {
        assert!(
            r.offset_msg_id.len() == 32 && r.offset_msg_id.starts_with(&prefix),
            "offsetMsgId {} does not encode the broker {} ({prefix}...) and an 8-byte offset",
            r.offset_msg_id,
            env.broker
        );
    }
    let distinct = |f: fn(&&SendResult) -> String| results.iter().map(f).collect::<BTreeSet<_>>().len();
    assert_eq!(
        distinct(|r| r.offset_msg_id.clone()),
        results.len(),
        "offsetMsgIds repeat: {results:?}"
    );
    assert_eq!(
        distinct(|r| r.msg_id.clone()),
        results.len(),
        "msgIds repeat: {results:?}"
    );
    assert_eq!(
        distinct(|r| format!("{}@{}", r.queue, r.queue_offset)),
        results.len(),
        "two messages got the same queue offset: {results:?}"
    );
}

/// Each sent message delivered exactly once, as sent: body, tag, no reconsume, and the queue and
/// offset its send result named. One consumer, no failures and a clean run leave at-least-once
/// no reason to deliver twice, so a duplicate is a bug here. `same_msg_id`: the consumer sees the
/// message id the producer got (not so for batches, see `batch_send`).
fn check_deliveries(sent: &[Sent], received: &[Received], same_msg_id: bool) {
    let mut by_key: BTreeMap<&str, &Received> = BTreeMap::new();
    for r in received {
        if let Some(first) = by_key.insert(&r.key, r) {
            panic!("{} was delivered twice: {first:?} and {r:?}", r.key);
        }
    }
    let sent_keys: BTreeSet<&str> = sent.iter().map(|s| s.key.as_str()).collect();
    let got: BTreeSet<&str> = by_key.keys().copied().collect();
    assert_eq!(got, sent_keys, "delivered keys differ from sent keys");
    for s in sent {
        let r = by_key[s.key.as_str()];
        assert_eq!(
            (r.body.as_str(), r.tag.as_str(), r.reconsume),
            (format!("body-{}", s.key).as_str(), s.tag.as_str(), 0),
            "{r:?}"
        );
        if let Some(result) = &s.result {
            assert_eq!(
                (&r.queue, r.queue_offset),
                (&result.queue, result.queue_offset),
                "{s:?} arrived as {r:?}"
            );
            if same_msg_id {
                assert_eq!(r.msg_id, result.msg_id, "{s:?} arrived as {r:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// 16 synchronous sends to a new topic: the broker creates it with 4 queues, the producer's
/// round robin puts 4 messages in each at offsets 0..3, and a push consumer gets all 16.
pub fn sync_send(env: &Env) {
    let topic = unique(env, "T", "sync");
    let sent = produce(&env.namesrv, &topic, Mode::Sync, "sync", 16, &["TagA"]);
    check_send_results(env, &sent);
    let mut per_queue: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for r in sent.iter().filter_map(|s| s.result.as_ref()) {
        per_queue.entry(&r.queue).or_default().push(r.queue_offset);
    }
    assert_eq!(per_queue.len(), QUEUES, "queues used: {per_queue:?}");
    for offsets in per_queue.values_mut() {
        offsets.sort_unstable();
    }
    assert!(
        per_queue.values().all(|offsets| *offsets == [0, 1, 2, 3]),
        "queue offsets: {per_queue:?}"
    );
    let report = consume_all(
        env,
        Kind::Push,
        &unique(env, "CG", "sync"),
        &topic,
        "*",
        &keys(&sent),
    );
    check_deliveries(&sent, &report.received, true);
}

/// 16 asynchronous sends, all in flight at once; every callback reports SEND_OK.
pub fn async_send(env: &Env) {
    let topic = unique(env, "T", "async");
    let sent = produce(&env.namesrv, &topic, Mode::Async, "async", 16, &["TagA"]);
    check_send_results(env, &sent);
    let report = consume_all(
        env,
        Kind::Push,
        &unique(env, "CG", "async"),
        &topic,
        "*",
        &keys(&sent),
    );
    check_deliveries(&sent, &report.received, true);
}

/// 16 oneway sends (no response): each is delivered once, and only once the consumer has settled
/// is the count compared, so a lost or duplicated oneway send shows.
pub fn oneway_send(env: &Env) {
    let topic = unique(env, "T", "oneway");
    // A oneway send to a topic that does not exist yet has nobody to tell it failed; one
    // synchronous send creates the topic first.
    let first = produce(&env.namesrv, &topic, Mode::Sync, "create", 1, &["TagA"]);
    let sent = produce(&env.namesrv, &topic, Mode::Oneway, "oneway", 16, &["TagA"]);
    let all: Vec<Sent> = first.into_iter().chain(sent).collect();
    let report = consume_all(
        env,
        Kind::Push,
        &unique(env, "CG", "oneway"),
        &topic,
        "*",
        &keys(&all),
    );
    check_deliveries(&all, &report.received, true);
}

/// 24 messages in batches of 8 (one request each): each batch lands in one queue at consecutive
/// offsets. The consumer sees each message's key, body and offset, but not the message id the
/// send result listed for it: on the reference every message of a batch arrives with one id, the
/// batch's own UNIQ_KEY (the one the client generates after the messages' own), as if the batch's
/// properties were stored with each message and won over the message's. So message ids are not
/// compared for batches, on either target.
pub fn batch_send(env: &Env) {
    let topic = unique(env, "T", "batch");
    let sent = produce(&env.namesrv, &topic, Mode::Batch, "batch", 24, &["TagA"]);
    check_send_results(env, &sent);
    for batch in sent.chunks(8) {
        let results: Vec<_> = batch
            .iter()
            .map(|s| s.result.as_ref().expect("SEND_OK result"))
            .collect();
        for (i, r) in results.iter().enumerate() {
            assert_eq!(
                (&r.queue, r.queue_offset),
                (&results[0].queue, results[0].queue_offset + i as i64),
                "{batch:?}"
            );
        }
    }
    let report = consume_all(
        env,
        Kind::Push,
        &unique(env, "CG", "batch"),
        &topic,
        "*",
        &keys(&sent),
    );
    check_deliveries(&sent, &report.received, false);
}

/// A DefaultLitePullConsumer in subscribe mode gets every message once.
pub fn lite_pull(env: &Env) {
    let topic = unique(env, "T", "lite");
    let sent = produce(&env.namesrv, &topic, Mode::Sync, "lite", 20, &["TagA", "TagB"]);
    let report = consume_all(
        env,
        Kind::LitePull,
        &unique(env, "CG", "lite"),
        &topic,
        "*",
        &keys(&sent),
    );
    check_deliveries(&sent, &report.received, true);
}

/// Tags TagA, TagB, TagC in turn; a group subscribed to `TagA` gets exactly the TagA messages,
/// one subscribed to `TagA || TagB` exactly those two. (The client filters by tag again after
/// the broker's hash-code filter, so this proves the end result, not the broker's filter alone.)
pub fn tag_filter(env: &Env) {
    let topic = unique(env, "T", "tags");
    let sent = produce(
        &env.namesrv,
        &topic,
        Mode::Sync,
        "tags",
        30,
        &["TagA", "TagB", "TagC"],
    );
    let only = |tags: &[&str]| -> Vec<Sent> {
        sent.iter()
            .filter(|s| tags.contains(&s.tag.as_str()))
            .cloned()
            .collect()
    };
    let (a, ab) = (only(&["TagA"]), only(&["TagA", "TagB"]));
    let mut consumers = [
        Consumer::start(
            Kind::Push,
            &env.namesrv,
            &unique(env, "CG", "tagA"),
            &topic,
            "TagA",
        ),
        Consumer::start(
            Kind::Push,
            &env.namesrv,
            &unique(env, "CG", "tagAB"),
            &topic,
            "TagA || TagB",
        ),
    ];
    let (want_a, want_ab) = (keys(&a), keys(&ab));
    wait_until("the tagged deliveries", DELIVERY_TIMEOUT, &mut consumers, |c| {
        c[0].received_keys().is_superset(&want_a) && c[1].received_keys().is_superset(&want_ab)
    });
    settle(SETTLE, &mut consumers);
    let [tag_a, tag_ab] = consumers.each_mut().map(Consumer::stop);
    check_deliveries(&a, &tag_a.received, true);
    check_deliveries(&ab, &tag_ab.received, true);
}

/// Two push consumers of one group (clustering) split the topic's queues: once both report
/// their share (disjoint, covering every queue), 40 more messages go out; together the members
/// receive every message sent (at least once), each gets some of the 40, and each only from its
/// own queues. Messages sent before the group settled may go to either member, or to both
/// while the queues move, so they count only towards the union.
pub fn consumer_group(env: &Env) {
    let topic = unique(env, "T", "group");
    let group = unique(env, "CG", "group");
    // Creates the topic, so the members find a route and all its queues at once.
    let early = produce(&env.namesrv, &topic, Mode::Sync, "early", 8, &["TagA"]);
    let queues: BTreeSet<String> = early
        .iter()
        .filter_map(|s| s.result.as_ref())
        .map(|r| r.queue.clone())
        .collect();
    assert_eq!(queues.len(), QUEUES, "{early:?}");
    let mut members = [
        Consumer::start(Kind::Push, &env.namesrv, &group, &topic, "*"),
        Consumer::start(Kind::Push, &env.namesrv, &group, &topic, "*"),
    ];
    wait_until(
        "the two members to split the queues",
        REBALANCE_TIMEOUT,
        &mut members,
        |m| match (m[0].assigned(), m[1].assigned()) {
            (Some(a), Some(b)) => {
                !a.is_empty()
                    && !b.is_empty()
                    && a.is_disjoint(&b)
                    && a.union(&b).cloned().collect::<BTreeSet<_>>() == queues
            }
            _ => false,
        },
    );
    let shares = members.each_ref().map(|m| m.assigned().expect("assigned"));
    let late = produce(&env.namesrv, &topic, Mode::Sync, "late", 40, &["TagA"]);
    let all: BTreeSet<String> = keys(&early).union(&keys(&late)).cloned().collect();
    wait_until(
        "every message delivered to the group",
        DELIVERY_TIMEOUT,
        &mut members,
        |m| {
            m[0].received_keys()
                .union(&m[1].received_keys())
                .cloned()
                .collect::<BTreeSet<_>>()
                .is_superset(&all)
        },
    );
    settle(SETTLE, &mut members);
    // Unchanged shares mean no rebalance moved queues while the 40 were delivered.
    assert_eq!(
        members.each_ref().map(|m| m.assigned().expect("assigned")),
        shares,
        "the group rebalanced again"
    );
    let reports = members.each_mut().map(Consumer::stop);
    let late_keys = keys(&late);
    for (member, (report, share)) in reports.iter().zip(&shares).enumerate() {
        let got: Vec<&Received> = report
            .received
            .iter()
            .filter(|r| late_keys.contains(&r.key))
            .collect();
        assert!(
            !got.is_empty(),
            "member {member} (queues {share:?}) got none of the 40"
        );
        let foreign: Vec<&&Received> = got.iter().filter(|r| !share.contains(&r.queue)).collect();
        assert!(
            foreign.is_empty(),
            "member {member} owns {share:?} but got {foreign:?}"
        );
        for s in late
            .iter()
            .filter(|s| share.contains(&s.result.as_ref().expect("SEND_OK").queue))
        {
            assert!(
                got.iter().any(|r| r.key == s.key),
                "member {member} owns {share:?} but did not get {s:?}"
            );
        }
    }
    let union: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| r.received.iter().map(|m| m.key.clone()))
        .collect();
    assert_eq!(union, all, "the group's deliveries differ from what was sent");
}

/// A consumer gets the first 20 messages and stops cleanly (its listeners finish before it sends
/// its final offsets, see PushConsume.java); 20 more are sent; a new consumer of the same group
/// resumes where the first left off: it gets exactly the 20 new messages, starting in each
/// queue at the offset the first committed. At-least-once allows redelivery only from the last
/// committed offset on, and the first consumer committed past everything it received (checked),
/// so any old message delivered again means the broker lost or misreported the offset.
pub fn consumer_restart(env: &Env) {
    let topic = unique(env, "T", "restart");
    let group = unique(env, "CG", "restart");
    let old = produce(&env.namesrv, &topic, Mode::Sync, "old", 20, &["TagA"]);
    let first = consume_all(env, Kind::Push, &group, &topic, "*", &keys(&old));
    check_deliveries(&old, &first.received, true);
    // Next offset per queue after the old messages: what a clean stop must have committed.
    let mut next: BTreeMap<String, i64> = BTreeMap::new();
    for r in old.iter().filter_map(|s| s.result.as_ref()) {
        let n = next.entry(r.queue.clone()).or_default();
        *n = (*n).max(r.queue_offset + 1);
    }
    assert_eq!(first.committed, next, "committed offsets after a clean stop");

    let new = produce(&env.namesrv, &topic, Mode::Sync, "new", 20, &["TagA"]);
    let second = consume_all(env, Kind::Push, &group, &topic, "*", &keys(&new));
    let again: Vec<&Received> = second
        .received
        .iter()
        .filter(|r| first.committed.get(&r.queue).is_some_and(|&c| r.queue_offset < c))
        .collect();
    assert!(
        again.is_empty(),
        "redelivered below the committed offsets {:?}: {again:?}",
        first.committed
    );
    check_deliveries(&new, &second.received, true);
    let mut lowest: BTreeMap<String, i64> = BTreeMap::new();
    for r in &second.received {
        let low = lowest.entry(r.queue.clone()).or_insert(i64::MAX);
        *low = (*low).min(r.queue_offset);
    }
    assert_eq!(
        lowest, first.committed,
        "where the restarted consumer began in each queue"
    );
}
