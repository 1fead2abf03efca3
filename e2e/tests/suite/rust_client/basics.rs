//! The four first scenarios: every send mode consumed as sent, a group of two sharing a topic,
//! tag subscriptions, and a consumer resuming from committed offsets.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    DELIVERY_TIMEOUT, QUEUES, SETTLE,
    client::{self, Consumer, Mode, Received, Sent, produce, settle, wait_until},
};
use crate::{broker_probe, scenario::targets::Env};

fn keys<'a>(sent: impl IntoIterator<Item = &'a Sent>) -> BTreeSet<String> {
    sent.into_iter().map(|s| s.key.clone()).collect()
}

fn received_keys(received: &[Received]) -> BTreeSet<String> {
    received.iter().map(|r| r.key.clone()).collect()
}

/// Asserts every queue's committed offset is its max offset (the group consumed everything and
/// committed that before it stopped), and returns the sum of the max offsets.
fn assert_all_committed(env: &Env, group: &str, topic: &str) -> i64 {
    let progress = broker_probe::progress(env.broker, group, topic, QUEUES);
    for (queue, (max, committed)) in &progress {
        assert_eq!(
            *committed,
            Some(*max),
            "{group} on {topic}:{queue}: committed offset is not the max offset; all: {progress:?}"
        );
    }
    progress.values().map(|(max, _)| max).sum()
}

/// Asserts the group's committed offset on each queue is past the last of `consumed` there and
/// at most the max offset. Filtered-out messages after the last match may or may not be counted:
/// the client moves its offset over them only when a pull answers "nothing (matching) new", and a
/// pull at the end of a queue is held by the broker (long polling) until new messages or its
/// timeout, so a consumer stopped in between has committed just past its last match.
fn assert_committed_past<'a>(env: &Env, group: &str, topic: &str, consumed: impl Iterator<Item = &'a Sent>) {
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for s in consumed {
        let result = s.result.as_ref().expect("a sync send's result");
        let entry = last.entry(result.queue.clone()).or_insert(result.queue_offset);
        *entry = (*entry).max(result.queue_offset);
    }
    let progress = broker_probe::progress(env.broker, group, topic, QUEUES);
    for (queue, (max, committed)) in &progress {
        let floor = last
            .get(&format!("{}:{queue}", env.broker_name))
            .map_or(0, |l| l + 1);
        let committed_or_none = committed.unwrap_or(0);
        assert!(
            (floor..=*max).contains(&committed_or_none),
            "{group} on {topic}:{queue}: committed {committed:?}, expected {floor}..={max}; all: {progress:?}"
        );
    }
}

/// Sync (SEND_MESSAGE and, with `sendSmartMsg`, SEND_MESSAGE_V2), async, oneway and batch sends
/// all succeed, and one consumer then receives every message once, exactly as sent: the queue,
/// queue offset, message ids (for a batch's messages the offset message id only), tag and body
/// each send reported.
pub fn every_send_mode_is_consumed_as_sent(env: &Env) {
    let topic = "RustModes";
    let mut sent = Vec::new();
    for (mode, prefix) in [
        (Mode::Sync, "sync"),
        (Mode::SyncV2, "sync-v2"),
        (Mode::Async, "async"),
        (Mode::Oneway, "oneway"),
        (Mode::Batch, "batch"),
    ] {
        sent.extend(produce(&env.namesrv, topic, mode, prefix, 16, &["TagA", "TagB"]));
    }
    let expected = keys(&sent);

    let mut consumer = Consumer::start(&env.namesrv, "RustModesGroup", topic, "*");
    wait_until(
        "every message consumed",
        DELIVERY_TIMEOUT,
        &mut [&mut consumer],
        |c| c[0].received_keys().is_superset(&expected),
    );
    settle(SETTLE, &mut [&mut consumer]);
    let received = consumer.stop(env);
    assert_eq!(received_keys(&received), expected, "{}", consumer.transcript());
    assert_eq!(
        received.len(),
        expected.len(),
        "a message was delivered twice\n{}",
        consumer.transcript()
    );

    let by_key: BTreeMap<&str, &Received> = received.iter().map(|r| (r.key.as_str(), r)).collect();
    for s in &sent {
        let r = by_key[s.key.as_str()];
        assert_eq!(
            (r.tag.as_str(), r.body.as_str(), r.reconsume),
            (s.tag.as_str(), format!("body-of-{}", s.key).as_str(), 0),
            "{r:?}"
        );
        if let Some(result) = &s.result {
            // On the reference every message of a batch arrives with one message id, the batch's
            // own UNIQ_KEY (generated after the messages' own), as if the batch's properties were
            // stored with each message and won over its own (see the Java client suite's
            // `batch_send`): a batch's message ids are not compared, on either target.
            let batched = s.key.starts_with("batch-");
            let got = client::SendResult {
                msg_id: if batched {
                    result.msg_id.clone()
                } else {
                    r.msg_id.clone()
                },
                offset_msg_id: r.offset_msg_id.clone(),
                queue: r.queue.clone(),
                queue_offset: r.queue_offset,
            };
            assert_eq!(&got, result, "{}: delivered unlike the send reported it", s.key);
        }
    }
    assert_eq!(
        assert_all_committed(env, "RustModesGroup", topic),
        expected.len() as i64
    );
}

/// Two members of one group (clustering) split the topic's queues, each receives only from its
/// own queues, both receive some, and together they receive every message once.
pub fn a_group_of_two_shares_the_messages(env: &Env) {
    let (topic, group) = ("RustShared", "RustSharedGroup");
    // The topic exists before the members subscribe, so both rebalance over its queues.
    let warmup = produce(&env.namesrv, topic, Mode::Sync, "warmup", 1, &["TagA"]);

    let mut a = Consumer::start(&env.namesrv, group, topic, "*");
    let mut b = Consumer::start(&env.namesrv, group, topic, "*");
    let split = |c: &[&mut Consumer]| match (c[0].assigned(), c[1].assigned()) {
        (Some(x), Some(y)) => {
            !x.is_empty() && !y.is_empty() && x.is_disjoint(&y) && x.len() + y.len() == QUEUES as usize
        }
        _ => false,
    };
    wait_until(
        "the queues split between both members",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b],
        split,
    );
    let (queues_a, queues_b) = (a.assigned().unwrap(), b.assigned().unwrap());

    let sent = produce(&env.namesrv, topic, Mode::Sync, "shared", 40, &["TagA"]);
    let shared = keys(&sent);
    let expected: BTreeSet<String> = keys(&sent).union(&keys(&warmup)).cloned().collect();
    wait_until(
        "every message consumed by the group",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b],
        |c| {
            let mut got = c[0].received_keys();
            got.extend(c[1].received_keys());
            got.is_superset(&expected)
        },
    );
    settle(SETTLE, &mut [&mut a, &mut b]);
    assert_eq!(
        (a.assigned().unwrap(), b.assigned().unwrap()),
        (queues_a.clone(), queues_b.clone()),
        "the assignment changed while nobody joined or left\n{}\n{}",
        a.transcript(),
        b.transcript()
    );
    let (got_a, got_b) = (a.stop(env), b.stop(env));

    let mut all = received_keys(&got_a);
    all.extend(received_keys(&got_b));
    assert_eq!(all, expected);
    let queue_of: BTreeMap<&str, &str> = sent
        .iter()
        .map(|s| (s.key.as_str(), s.result.as_ref().unwrap().queue.as_str()))
        .collect();
    for (member, got, queues) in [("a", &got_a, &queues_a), ("b", &got_b, &queues_b)] {
        let mine: Vec<&Received> = got.iter().filter(|r| shared.contains(&r.key)).collect();
        assert!(
            !mine.is_empty(),
            "member {member} (queues {queues:?}) received none of the messages"
        );
        for r in &mine {
            assert!(
                queues.contains(&r.queue) && queue_of[r.key.as_str()] == r.queue,
                "member {member} (queues {queues:?}) got {r:?}"
            );
        }
    }
    let deliveries = got_a.len() + got_b.len();
    let duplicates = deliveries - all.len();
    // The warm-up message may be delivered twice: to the first member, and again to the
    // second if the first lost its queue before committing it (at-least-once).
    assert!(
        duplicates <= 1,
        "{duplicates} duplicate deliveries with a stable assignment\n{}\n{}",
        a.transcript(),
        b.transcript()
    );
    assert_eq!(assert_all_committed(env, group, topic), 41);
}

/// A subscriber to `TagA` gets exactly the TagA messages; another group subscribed to
/// `TagB||TagC` gets exactly the rest; each group commits past the messages it consumed.
///
/// The expression has no spaces around `||`: the client computes the subscription's tag hash
/// codes from the tags before trimming them (rocketmq-protocol 1.0.0,
/// `src/protocol/filter/filter_api.rs` line 48, `JavaStringHasher::hash_str(tag)` where Java's
/// FilterAPI hashes the trimmed tag), so `TagB || TagC` subscribes to the codes of `TagB ` and
/// ` TagC`, and the reference, which filters a queue by those codes, delivers nothing.
pub fn tag_subscriptions_get_only_their_tags(env: &Env) {
    let topic = "RustTags";
    let sent = produce(
        &env.namesrv,
        topic,
        Mode::Sync,
        "tagged",
        30,
        &["TagA", "TagB", "TagC"],
    );
    let tag_a = keys(sent.iter().filter(|s| s.tag == "TagA"));
    let others = keys(sent.iter().filter(|s| s.tag != "TagA"));
    assert_eq!((tag_a.len(), others.len()), (10, 20));

    let mut a = Consumer::start(&env.namesrv, "RustTagAGroup", topic, "TagA");
    let mut bc = Consumer::start(&env.namesrv, "RustTagBCGroup", topic, "TagB||TagC");
    wait_until(
        "every message consumed by its subscriber",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut bc],
        |c| c[0].received_keys().is_superset(&tag_a) && c[1].received_keys().is_superset(&others),
    );
    settle(SETTLE, &mut [&mut a, &mut bc]);
    let (got_a, got_bc) = (a.stop(env), bc.stop(env));
    assert!(
        got_a.iter().all(|r| r.tag == "TagA"),
        "the TagA subscriber got other tags\n{}",
        a.transcript()
    );
    assert!(
        got_bc.iter().all(|r| r.tag == "TagB" || r.tag == "TagC"),
        "the TagB||TagC subscriber got other tags\n{}",
        bc.transcript()
    );
    assert_eq!((received_keys(&got_a), got_a.len()), (tag_a.clone(), tag_a.len()));
    assert_eq!(
        (received_keys(&got_bc), got_bc.len()),
        (others.clone(), others.len())
    );
    assert_committed_past(
        env,
        "RustTagAGroup",
        topic,
        sent.iter().filter(|s| s.tag == "TagA"),
    );
    assert_committed_past(
        env,
        "RustTagBCGroup",
        topic,
        sent.iter().filter(|s| s.tag != "TagA"),
    );
}

/// A consumer committed its offsets before it stopped (`Consumer::stop` commits them,
/// acknowledged, before the shutdown; that the shutdown's own oneway commit lands is the Java
/// suite's `consumer_restart`); a new member of the same group resumes
/// from them: none of the old messages again (their offsets were committed, so at-least-once
/// allows no redelivery), every new one, each queue starting exactly at its committed offset.
pub fn a_restarted_consumer_resumes_from_committed_offsets(env: &Env) {
    let (topic, group) = ("RustRestart", "RustRestartGroup");
    let old = produce(&env.namesrv, topic, Mode::Sync, "old", 20, &["TagA"]);
    let old_keys = keys(&old);

    let mut first = Consumer::start(&env.namesrv, group, topic, "*");
    wait_until(
        "the old messages consumed",
        DELIVERY_TIMEOUT,
        &mut [&mut first],
        |c| c[0].received_keys().is_superset(&old_keys),
    );
    settle(SETTLE, &mut [&mut first]);
    let got = first.stop(env);
    assert_eq!(received_keys(&got), old_keys, "{}", first.transcript());
    assert_eq!(assert_all_committed(env, group, topic), 20);
    let committed: BTreeMap<String, i64> = broker_probe::progress(env.broker, group, topic, QUEUES)
        .into_iter()
        .map(|(q, (_, c))| (format!("{}:{q}", env.broker_name), c.unwrap()))
        .collect();

    let new = produce(&env.namesrv, topic, Mode::Sync, "new", 20, &["TagA"]);
    let new_keys = keys(&new);
    let mut second = Consumer::start(&env.namesrv, group, topic, "*");
    wait_until(
        "the new messages consumed",
        DELIVERY_TIMEOUT,
        &mut [&mut second],
        |c| c[0].received_keys().is_superset(&new_keys),
    );
    settle(SETTLE, &mut [&mut second]);
    let got = second.stop(env);
    let got_keys = received_keys(&got);
    let again: BTreeSet<&String> = got_keys.intersection(&old_keys).collect();
    assert!(
        again.is_empty(),
        "old messages {again:?} redelivered after offsets {committed:?} were committed\n{}",
        second.transcript()
    );
    assert_eq!(
        (got_keys, got.len()),
        (new_keys.clone(), new_keys.len()),
        "{}",
        second.transcript()
    );
    for (queue, from) in &committed {
        let first_offset = got
            .iter()
            .filter(|r| &r.queue == queue)
            .map(|r| r.queue_offset)
            .min();
        if let Some(first_offset) = first_offset {
            assert_eq!(
                first_offset, *from,
                "{queue} resumed at {first_offset}, not at its committed offset {from}"
            );
        }
    }
    assert_eq!(assert_all_committed(env, group, topic), 40);
}
