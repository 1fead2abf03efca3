//! When a message is delivered again, or later: retries and the dead-letter queue
//! ([`retry_dlq`]), and delay levels ([`delayed`]).

use std::{collections::BTreeSet, time::Duration};

use super::{
    deliveries::{Delivery, Sent, by_key},
    jobs::{Driver, Job, settle, watch},
    targets::Env,
};
use crate::broker_probe::wait_for_route;

/// Longest wait for deliveries a step expects, retries and delays included.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a lone consumer to take all the topic's queues, or for a route to appear.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long consumers keep running after the last expected delivery, for extra ones to show.
pub const SETTLE: Duration = Duration::from_millis(2000);
/// The reference's default `messageDelayLevel`, which both targets keep: levels 1, 2, 3, 4.
const DELAY_LEVELS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];
/// How much later than its due time a delayed (or retried) message may arrive.
const LATE_BY: Duration = Duration::from_millis(1500);
/// How much earlier than its delay, counted from the send's return (or the rejection), a message
/// may arrive: the delay runs from the broker's store timestamp, which precedes the send's
/// return by the response's way back.
const EARLY_BY: Duration = Duration::from_millis(100);
/// Queues of an auto-created topic.
const QUEUES: usize = 4;
/// The maximum reconsume times of the `retry_dlq` consumer.
const MAX_RECONSUME: usize = 2;

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).expect("a short duration")
}

fn seconds(us: i64) -> String {
    format!("{:.3} s", us as f64 / 1e6)
}

/// Creates `topic` (one message, `warm-0`), starts a consumer `name` of `group` on it and waits
/// until it has all the topic's queues and that message, so later deliveries are measured from
/// a consumer already pulling on every queue (and the group exists at the broker).
pub fn warm_consumer(driver: &'static Driver, env: &Env, name: &str, group: &str, topic: &str) -> Job {
    let warm = (driver.produce)(&env.namesrv, topic, "warm", 1);
    assert_eq!(warm.len(), 1);
    let mut consumer = Job::listen(driver, env, name, group, topic, &[], &[]);
    watch(
        "the consumer on every queue, with the first message",
        REBALANCE_TIMEOUT,
        &mut [&mut consumer],
        |j| j[0].owned().is_some_and(|q| q.len() == QUEUES) && j[0].keys("warm-").len() == 1,
    );
    consumer
}

/// How a client's `retry_dlq` consumer rejects messages, and what the broker then does.
pub struct Retries {
    /// Its `--fail` rules: `rt-once` rejected once, `rt-twice` twice, `rt-dead` always, each
    /// with the delay level the listener asks for where it can choose one.
    pub fail: &'static str,
    /// The delay level of the redelivery that follows rejection `i` (reconsume times `i`) of a
    /// message of a shard.
    pub level: fn(shard: &str, i: usize) -> usize,
    /// Whether the consumer must not start before the NameServer routes the group's retry
    /// topic (it would not see its retries for long; see the Go suite).
    pub route_retry_topic_first: bool,
}

/// What the Java and Go listeners ask for: `once` leaves the level to the broker (0: 3 +
/// reconsumeTimes 0), `twice` and `dead` ask for level 1.
pub const LISTENER_LEVELS: Retries = Retries {
    fail: "rt-once=1@0,rt-twice=2@1,rt-dead=always@1",
    level: |shard, _| if shard == "once" { 3 } else { 1 },
    route_retry_topic_first: false,
};

/// Creates `topic` and the group's retry topic, then starts the consumer `retry_dlq` tests and
/// waits until it pulls from both. A consumer looks its topics' routes up when it starts, before
/// its first heartbeat makes the broker create the group's retry topic, and takes new queues only
/// at its next rebalance or route refresh (every 20-30 s): a group's first member would not see
/// its first retries for that long. So a first member starts and stops, and the tested one,
/// started after the retry topic exists, must pull from its queue at once.
fn retry_consumer(driver: &'static Driver, env: &Env, group: &str, topic: &str, retries: &Retries) -> Job {
    let mut first = warm_consumer(driver, env, "first-member", group, topic);
    first.stop();
    if retries.route_retry_topic_first {
        wait_for_route(&env.namesrv, &format!("%RETRY%{group}"), REBALANCE_TIMEOUT);
    }
    let max = MAX_RECONSUME.to_string();
    let mut consumer = Job::listen(
        driver,
        env,
        "consumer",
        group,
        topic,
        &[("fail", retries.fail), ("max-reconsume", &max)],
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

/// A consumer group with a maximum of 2 reconsume times gets, two rounds each, messages it
/// accepts at once (`ok`), rejects once (`once`), twice (`twice`) and always (`dead`), by
/// answering "reconsume later" ([`Retries`]: at which delay levels they come back). Asserted, per
/// key: the deliveries are exactly such answers then one success (none for `dead`), numbered 0,
/// 1, ... by both the consumer's own count and the message's reconsume times; all carry the sent
/// topic, body and msgId, and every redelivery the properties naming what it retries:
/// RETRY_TOPIC the topic and ORIGIN_MESSAGE_ID the original's offset message id (what the
/// reference stores: the id of the message the broker looked up, not the client's msgId the
/// request also carries); each redelivery comes no earlier than its level's delay after the
/// rejection and within 1.5 s after that. A `dead` message rejected at reconsumeTimes 2 (the
/// maximum) is not delivered again but lands in `%DLQ%<group>`, where a consumer of another
/// group gets each one, once, with reconsumeTimes 3 and the same properties; nothing else is in
/// it.
pub fn retry_dlq(driver: &'static Driver, env: &Env, topic: &str, group: &str, retries: &Retries) {
    let dlq = format!("%DLQ%{group}");
    let mut consumer = retry_consumer(driver, env, group, topic, retries);
    let mut producer = Job::send(
        driver,
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
    // topic exists once the broker has stored the first (a consumer started before may refuse a
    // topic without a route, or not look again for long).
    wait_for_route(&env.namesrv, &dlq, DELIVERY_TIMEOUT);
    let dlq_group = format!("{group}_DLQ");
    let mut dead_letters = Job::listen(driver, env, "dlq-consumer", &dlq_group, &dlq, &[], &[]);
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
        check_retries(s, &got[&s.key], topic, retries, &consumer);
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
fn check_retries(s: &Sent, list: &[Delivery], topic: &str, retries: &Retries, consumer: &Job) {
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
    // Redelivery i + 1 follows the rejection of delivery i after its level's delay.
    let dues: Vec<Duration> = (0..list.len().saturating_sub(1))
        .map(|i| DELAY_LEVELS[(retries.level)(&s.shard, i) - 1])
        .collect();
    let gaps: Vec<i64> = list.windows(2).map(|w| w[1].at - w[0].at).collect();
    let shown: Vec<String> = gaps.iter().map(|g| seconds(*g)).collect();
    // When the broker stored each redelivery, after the rejection (where the driver says).
    let stored: Vec<String> = list
        .windows(2)
        .filter_map(|w| w[1].stored.map(|ms| seconds(ms * 1_000 - w[0].at)))
        .collect();
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

/// Six messages, two each at delay levels 1, 2 and 3 (1 s, 5 s, 10 s), sent interleaved to a
/// consumer already pulling on every queue: each is delivered once, to the queue its send result
/// named, with the msgId it was sent with, no earlier than its delay after the send began (less
/// 1 ms: the delay runs from the broker's store timestamp, in milliseconds), nor earlier than its
/// delay minus 100 ms after the send returned, and at most 1.5 s after that.
pub fn delayed(driver: &'static Driver, env: &Env, topic: &str, group: &str) {
    let mut consumer = warm_consumer(driver, env, "consumer", group, topic);
    let mut producer = Job::send(
        driver,
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
        // Where the broker put it for the consumer, after the send returned (where the driver
        // says).
        let stored = d
            .stored
            .map_or_else(|| "-".to_owned(), |ms| seconds(ms * 1_000 - s.at));
        eprintln!(
            "{}: level {} stored {stored} and delivered {} after the send returned",
            s.key,
            s.delay_level,
            seconds(after_return)
        );
        assert!(
            d.at >= s.start + delay - 1_000
                && after_return >= delay - micros(EARLY_BY)
                && after_return <= delay + micros(LATE_BY),
            "{} (level {}) delivered {} after the send returned ({} after it began; the broker \
             stored it where it was found {stored} after the send returned)\n{}",
            s.key,
            s.delay_level,
            seconds(after_return),
            seconds(d.at - s.start),
            consumer.transcript()
        );
    }
}
