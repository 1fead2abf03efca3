//! When a message is delivered again, or later: retries and the dead-letter queue, and delay
//! levels.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use super::{
    client::{Mode, produce},
    node::Env,
    runs::{Delivery, Job, Sent, settle, watch},
};
use crate::broker_probe::wait_for_route;

/// Longest wait for deliveries a step expects, retries and delays included.
pub(super) const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a lone consumer to take all the topic's queues.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long consumers keep running after the last expected delivery, for extra ones to show.
pub(super) const SETTLE: Duration = Duration::from_millis(2000);
/// The reference's default `messageDelayLevel`, which both targets keep: levels 1, 2, 3, 4.
const DELAY_LEVELS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];
/// How much later than its due time a delayed (or retried) message may arrive (the Java and Go
/// client scenarios' tolerance).
const LATE_BY: Duration = Duration::from_millis(1500);
/// How much earlier than its delay, counted from the send's return (or the rejection), a message
/// may arrive: the delay runs from the broker's store timestamp, which precedes the send's
/// return by the response's way back.
const EARLY_BY: Duration = Duration::from_millis(100);
/// Queues of an auto-created topic.
const QUEUES: usize = 4;
/// `max_reconsume_times` of the `retry_dlq` consumer.
const MAX_RECONSUME: usize = 2;
/// The delay level the broker gives the retry of a delivery the listener rejected with
/// reconsume times 0 (it adds the reconsume times): the listener cannot choose one (see
/// listen.rs), so every retry of `retry_dlq` is at the broker's level.
const FIRST_RETRY_LEVEL: usize = 3;

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).expect("a short duration")
}

/// Creates `topic` (one message, `warm-0`), starts one consumer of `group` on it and waits until
/// it has all the topic's queues and that message, so later deliveries are measured from a
/// consumer already pulling on every queue.
pub(super) fn warm_consumer(env: &Env, group: &str, topic: &str) -> Job {
    let warm = produce(&env.namesrv, topic, Mode::Sync, "warm", 1, &["TagA"]);
    assert_eq!(warm.len(), 1);
    let mut consumer = Job::listen(env, "consumer", group, topic, &[], &[]);
    watch(
        "the consumer on every queue, with the first message",
        REBALANCE_TIMEOUT,
        &mut [&mut consumer],
        |j| j[0].owned().is_some_and(|q| q.len() == QUEUES) && j[0].keys("warm-").len() == 1,
    );
    consumer
}

/// Creates `topic`, and the group's retry topic, then starts the consumer `retry_dlq` tests and
/// waits until it pulls from both. A consumer looks its topics' routes up when it starts, before
/// its first heartbeat makes the broker create the group's retry topic, and again only every
/// 30 s: a group's first member would not see its first retries for up to 30 s. So a first
/// member starts and stops, and the tested one, started after the retry topic exists, must pull
/// from its queue at once.
fn retry_consumer(env: &Env, group: &str, topic: &str) -> Job {
    let mut first = warm_consumer(env, group, topic);
    first.stop();
    let max = MAX_RECONSUME.to_string();
    let mut consumer = Job::listen(
        env,
        "consumer",
        group,
        topic,
        &[
            ("fail", "rt-once=1,rt-twice=2,rt-dead=always"),
            ("max-reconsume", &max),
        ],
        &[],
    );
    watch(
        "the consumer on the topic and its retry topic",
        REBALANCE_TIMEOUT,
        &mut [&mut consumer],
        |j| {
            j[0].owned().is_some_and(|q| q.len() == QUEUES)
                && j[0].retry_owned().is_some_and(|r| r.len() == 1)
        },
    );
    consumer
}

/// The deliveries of each key that starts with `prefix`, in the order they happened.
pub(super) fn by_key(deliveries: Vec<Delivery>, prefix: &str) -> BTreeMap<String, Vec<Delivery>> {
    let mut map: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
    for d in deliveries.into_iter().filter(|d| d.key.starts_with(prefix)) {
        map.entry(d.key.clone()).or_default().push(d);
    }
    for list in map.values_mut() {
        list.sort_by_key(|d| d.at);
    }
    map
}

/// How many deliveries the consumer of `retry_dlq` rejects of a message of `shard` before it
/// accepts one (its `--fail` rule; `None`: it never does).
fn failures(shard: &str) -> Option<usize> {
    match shard {
        "ok" => Some(0),
        "once" => Some(1),
        "twice" => Some(2),
        "dead" => None,
        _ => panic!("no retry plan for {shard}"),
    }
}

/// How many deliveries a message of `shard` gets in `retry_dlq`.
fn retry_deliveries(shard: &str) -> usize {
    failures(shard).map_or(MAX_RECONSUME + 1, |failures| failures + 1)
}

/// A consumer group with `max_reconsume_times(2)` gets, two rounds each, messages it accepts at
/// once (`ok`), rejects once (`once`), twice (`twice`) and always (`dead`), by answering
/// `ReconsumeLater`; the broker picks each retry's delay level (3 + reconsumeTimes: 10 s, then
/// 30 s), since the client's listener cannot. Asserted, per key: the deliveries are exactly
/// ReconsumeLater answers then one success (none for `dead`), numbered 0, 1, ... by both the
/// consumer's own count and reconsume_times; all carry the sent topic, body and msgId, and
/// every redelivery the properties naming what it retries: RETRY_TOPIC the topic and
/// ORIGIN_MESSAGE_ID the original's offset message id; each redelivery comes no earlier than
/// its level's delay after the rejection and within 1.5 s after that. A `dead` message rejected
/// at reconsumeTimes 2 (the maximum) is not delivered again but lands in `%DLQ%<group>`, where a
/// consumer of another group gets each one, once, with reconsumeTimes 3 and the same
/// properties; nothing else is in it.
pub fn retry_dlq(env: &Env) {
    let (topic, group) = ("RustRetryTopic", "RustRetryGroup");
    let dlq = format!("%DLQ%{group}");
    let mut consumer = retry_consumer(env, group, topic);
    let mut producer = Job::send(
        env,
        "producer",
        topic,
        &[
            ("key-prefix", "rt"),
            ("shards", "ok,once,twice,dead"),
            ("rounds", "2"),
        ],
        &[],
    );
    watch(
        "the messages sent",
        DELIVERY_TIMEOUT,
        &mut [&mut consumer, &mut producer],
        |j| j[1].ended(),
    );
    let sent = producer.sent();
    watch(
        "every retry delivered",
        DELIVERY_TIMEOUT,
        &mut [&mut consumer],
        |j| {
            let got = by_key(j[0].deliveries(), "rt-");
            sent.iter().all(|s| {
                got.get(&s.key)
                    .is_some_and(|l| l.len() >= retry_deliveries(&s.shard))
            })
        },
    );
    // The last rejection of a dead message goes back after the listener returns: the dead-letter
    // topic exists once the broker has stored the first.
    wait_for_route(&env.namesrv, &dlq, DELIVERY_TIMEOUT);
    let mut dead_letters = Job::listen(env, "dlq-consumer", &format!("{group}_DLQ"), &dlq, &[], &[]);
    let dead: BTreeSet<String> = sent
        .iter()
        .filter(|s| s.shard == "dead")
        .map(|s| s.key.clone())
        .collect();
    watch(
        "the dead letters",
        DELIVERY_TIMEOUT,
        &mut [&mut consumer, &mut dead_letters],
        |j| j[1].keys("rt-").is_superset(&dead),
    );
    settle(SETTLE, &mut [&mut consumer, &mut dead_letters]);
    consumer.stop();
    dead_letters.stop();

    let got = by_key(consumer.deliveries(), "rt-");
    assert_eq!(got.len(), sent.len(), "keys delivered: {:?}", got.keys());
    for s in &sent {
        check_retries(s, &got[&s.key], topic, &consumer);
    }
    let letters = dead_letters.deliveries();
    let letter_keys: Vec<&str> = letters.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        letter_keys.iter().copied().collect::<BTreeSet<_>>(),
        dead.iter().map(String::as_str).collect(),
        "{dlq} holds {letters:#?}"
    );
    assert_eq!(letter_keys.len(), dead.len(), "a dead letter twice: {letters:#?}");
    for d in &letters {
        let s = sent.iter().find(|s| s.key == d.key).expect("sent");
        let body = format!("body-{}", d.key);
        let got = (
            (d.topic.as_str(), d.reconsume, d.body.as_str()),
            (
                d.msg_id.as_str(),
                d.origin_msg_id.as_str(),
                d.retry_topic.as_str(),
            ),
        );
        let want = (
            (dlq.as_str(), MAX_RECONSUME as i64 + 1, body.as_str()),
            (s.msg_id.as_str(), s.offset_msg_id.as_str(), topic),
        );
        assert_eq!(
            got, want,
            "((topic, reconsume, body), (msgId, ORIGIN_MESSAGE_ID, RETRY_TOPIC)) of {d:#?}"
        );
    }
}

/// One message's deliveries in `retry_dlq` (see there), as `consumer` reported them.
fn check_retries(s: &Sent, list: &[Delivery], topic: &str, consumer: &Job) {
    let failures = failures(&s.shard);
    let verdicts: Vec<&str> = list.iter().map(|d| d.verdict.as_str()).collect();
    let mut expected = vec!["later"; failures.unwrap_or(MAX_RECONSUME + 1)];
    if failures.is_some() {
        expected.push("ok");
    }
    assert_eq!(verdicts, expected, "{}: {list:#?}", s.key);
    let body = format!("body-{}", s.key);
    for (i, d) in list.iter().enumerate() {
        // A redelivery names the message it retries: its first offset message id and topic.
        let (origin, retry_topic) = match i {
            0 => ("-", "-"),
            _ => (s.offset_msg_id.as_str(), topic),
        };
        let got = (
            (d.attempt, d.reconsume, d.topic.as_str(), d.body.as_str()),
            (
                d.msg_id.as_str(),
                d.origin_msg_id.as_str(),
                d.retry_topic.as_str(),
            ),
        );
        let want = (
            (i as i64, i as i64, topic, body.as_str()),
            (s.msg_id.as_str(), origin, retry_topic),
        );
        assert_eq!(
            got, want,
            "delivery {i} of {}, ((attempt, reconsume, topic, body), (msgId, ORIGIN_MESSAGE_ID, \
             RETRY_TOPIC)): {list:#?}",
            s.key
        );
    }
    // Redelivery i + 1 follows the rejection of delivery i (reconsume times i) after the delay
    // of level 3 + i.
    let dues: Vec<Duration> = (0..list.len().saturating_sub(1))
        .map(|i| DELAY_LEVELS[FIRST_RETRY_LEVEL + i - 1])
        .collect();
    let gaps: Vec<i64> = list.windows(2).map(|w| w[1].at - w[0].at).collect();
    // When the broker stored each redelivery, after the rejection.
    let stored: Vec<String> = list
        .windows(2)
        .map(|w| format!("{:.3} s", (w[1].stored * 1_000 - w[0].at) as f64 / 1e6))
        .collect();
    let shown: Vec<String> = gaps.iter().map(|g| format!("{:.3} s", *g as f64 / 1e6)).collect();
    eprintln!(
        "{}: redelivered after {} (stored after {})",
        s.key,
        shown.join(", "),
        stored.join(", ")
    );
    assert!(
        gaps.iter()
            .zip(&dues)
            .all(|(&g, &due)| g >= micros(due) - micros(EARLY_BY) && g <= micros(due + LATE_BY)),
        "{} redelivered after {shown:?} (stored after {stored:?}), not {dues:?}: {list:#?}\n{}",
        s.key,
        consumer.transcript()
    );
}

/// Six messages, two each at delay levels 1, 2 and 3 (1 s, 5 s, 10 s, `MessageBuilder::
/// delay_level`), sent interleaved to a consumer already pulling on every queue: each is
/// delivered once, to the queue its send result named, with the msgId it was sent with, no
/// earlier than its delay after the send began (less 1 ms: the delay runs from the broker's
/// store timestamp, in milliseconds), nor earlier than its delay minus 100 ms after the send
/// returned, and at most 1.5 s after that.
pub fn delayed(env: &Env) {
    let (topic, group) = ("RustDelayTopic", "RustDelayGroup");
    let mut consumer = warm_consumer(env, group, topic);
    let mut producer = Job::send(
        env,
        "producer",
        topic,
        &[
            ("key-prefix", "dl"),
            ("shards", "one,two,three"),
            ("delay-levels", "1,2,3"),
            ("rounds", "2"),
        ],
        &[],
    );
    watch(
        "the delayed messages",
        DELIVERY_TIMEOUT,
        &mut [&mut consumer, &mut producer],
        |j| j[1].ended() && j[0].keys("dl-").len() == 6,
    );
    settle(SETTLE, &mut [&mut consumer]);
    consumer.stop();
    let sent = producer.sent();
    let got = by_key(consumer.deliveries(), "dl-");
    assert_eq!(got.len(), sent.len(), "{got:#?}");
    for s in &sent {
        let list = &got[&s.key];
        assert_eq!(list.len(), 1, "{} delivered more than once: {list:#?}", s.key);
        let d = &list[0];
        assert_eq!(
            (d.topic.as_str(), d.queue.as_str(), d.msg_id.as_str(), d.reconsume),
            (topic, s.queue.as_str(), s.msg_id.as_str(), 0),
            "{s:?} arrived as {d:?}"
        );
        let delay = micros(DELAY_LEVELS[s.delay_level as usize - 1]);
        let after_return = d.at - s.at;
        let stored = d.stored * 1_000 - s.at;
        eprintln!(
            "{}: level {} stored {:.3} s and delivered {:.3} s after the send returned",
            s.key,
            s.delay_level,
            stored as f64 / 1e6,
            after_return as f64 / 1e6
        );
        assert!(
            d.at >= s.start + delay - 1_000
                && after_return >= delay - micros(EARLY_BY)
                && after_return <= delay + micros(LATE_BY),
            "{} (level {}) delivered {:.3} s after the send returned ({:.3} s after it began; \
             the broker stored it where it was found {:.3} s after the send returned)\n{}",
            s.key,
            s.delay_level,
            after_return as f64 / 1e6,
            (d.at - s.start) as f64 / 1e6,
            stored as f64 / 1e6,
            consumer.transcript()
        );
    }
}
