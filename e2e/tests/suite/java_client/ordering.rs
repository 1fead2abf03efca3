//! Who gets which message in which order: orderly consumption by sharding key across a
//! restart, and broadcasting.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use super::{
    client::{Mode, produce},
    runs::{Delivery, Job, Sent, settle, unique, watch},
    targets::Env,
};

/// Longest wait for the deliveries a step expects (consumer JVM start, route, rebalance, pulls).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a group's members to settle on (and, orderly, lock) their queues.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long consumers keep running after the last expected delivery, for duplicates to show.
const SETTLE: Duration = Duration::from_millis(1500);
/// Queues of an auto-created topic (the client's defaultTopicQueueNums).
const QUEUES: usize = 4;

/// Whether the latest assignments of `members` are non-empty, disjoint and cover `queues`.
fn split_between(members: &[&Job], queues: &BTreeSet<String>) -> bool {
    let mut covered = BTreeSet::new();
    for m in members {
        match m.assigned() {
            Some(a) if !a.is_empty() && a.is_disjoint(&covered) => covered.extend(a),
            _ => return false,
        }
    }
    covered == *queues
}

/// The queues `sent` went to.
fn queues_of(sent: &[super::client::Sent]) -> BTreeSet<String> {
    let results = sent.iter().filter_map(|s| s.result.as_ref());
    results.map(|r| r.queue.clone()).collect()
}

/// A producer sends 6 interleaved sequences of 60 messages, one per sharding key, each key's
/// to one queue (a MessageQueueSelector; queue = key index mod 4, so queues hold 1 or 2 keys),
/// to a group of two orderly consumers (MessageListenerOrderly, 20 ms per message) A and B that
/// split the 4 queues and lock them. After 30 rounds the producer pauses; meanwhile, once B has
/// consumed 10 messages (mid-sequence for each of its keys), B stops cleanly, A takes B's queues,
/// a new member B2 joins and the group splits again, and only then does the producer send the
/// last 30 rounds (so B2 certainly gets some). What is asserted, per key, over the deliveries of A, B and B2 merged in the
/// order they happened (each JVM stamps a delivery with the shared wall clock):
///
/// - every message sent is delivered;
/// - the sequence numbers form runs of consecutive numbers (each delivery is the previous one's
///   successor); the first run starts at 0, and a new run starts only where the key moved to
///   another consumer, at or below the highest number delivered so far plus one: at-least-once
///   allows a replay of already-consumed messages, but only as a contiguous, in-order replay
///   from the point the previous owner's committed offset named, never a skip, never a message
///   before its predecessor;
/// - a consumer that gave a key up never delivers it again (no two consumers at once);
/// - B delivered some messages before it stopped and B2 some after it joined.
///
/// The send results show each key's messages in one queue at increasing offsets.
pub fn orderly(env: &Env) {
    let topic = unique(env, "T", "orderly");
    let group = unique(env, "CG", "orderly");
    let shards = ["a", "b", "c", "d", "e", "f"];
    let (rounds, pause_after) = (60, 30);
    let created = produce(&env.namesrv, &topic, Mode::Sync, "create", 1, &["TagA"]);
    assert_eq!(created.len(), 1);
    let listen = |name: &str| Job::listen(env, name, &group, &topic, &[("consume-ms", "20")], &["orderly"]);
    let (mut a, mut b) = (listen("A"), listen("B"));
    let all_queues: BTreeSet<String> = (0..QUEUES).map(|q| format!("compat-broker:{q}")).collect();
    watch(
        "A and B to lock half the queues each",
        REBALANCE_TIMEOUT,
        &mut [&mut a, &mut b],
        |j| split_between(&[&*j[0], &*j[1]], &all_queues),
    );

    let go = tempfile::tempdir().expect("scratch directory");
    let go_file = go.path().join("go");
    let (rounds_arg, pause_arg) = (rounds.to_string(), pause_after.to_string());
    let mut producer = Job::send(
        env,
        "producer",
        &topic,
        &[
            ("key-prefix", "ord"),
            ("shards", &shards.join(",")),
            ("rounds", &rounds_arg),
            ("interval-ms", "5"),
            ("pause-after", &pause_arg),
            ("go-file", go_file.to_str().expect("UTF-8 path")),
        ],
        &["ordered"],
    );
    watch(
        "B to consume 10 messages",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b, &mut producer],
        |j| j[1].keys("ord-").len() >= 10,
    );
    b.stop();
    let mut b2 = listen("B2");
    watch(
        "A and B2 to split the queues, the producer to pause",
        REBALANCE_TIMEOUT,
        &mut [&mut a, &mut b2, &mut producer],
        |j| split_between(&[&*j[0], &*j[1]], &all_queues) && j[2].has("PAUSED"),
    );
    std::fs::write(&go_file, b"go").expect("write the go file");
    let expected: BTreeSet<String> = shards
        .iter()
        .flat_map(|s| (0..rounds).map(move |i| format!("ord-{s}-{i}")))
        .collect();
    // B's deliveries are final: it has stopped.
    let by_b = b.keys("ord-");
    watch(
        "every ordered message delivered",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b2, &mut producer],
        |j| {
            let mut got = by_b.clone();
            got.extend(j[0].keys("ord-"));
            got.extend(j[1].keys("ord-"));
            j[2].ended() && got == expected
        },
    );
    producer.finish(Duration::from_secs(5));
    settle(SETTLE, &mut [&mut a, &mut b2]);
    a.stop();
    b2.stop();

    let sent = producer.sent();
    check_ordered_sends(&sent, &shards, rounds);
    let placed: BTreeMap<&str, (&str, i64)> = sent
        .iter()
        .map(|s| (s.key.as_str(), (s.queue.as_str(), s.queue_offset)))
        .collect();
    let mut by_key: BTreeMap<String, Vec<(i64, &str, Delivery)>> = BTreeMap::new();
    for job in [&a, &b, &b2] {
        for d in job.deliveries().into_iter().filter(|d| d.key.starts_with("ord-")) {
            assert_eq!(
                (d.queue.as_str(), d.queue_offset, d.body.as_str(), d.reconsume),
                (
                    placed[d.key.as_str()].0,
                    placed[d.key.as_str()].1,
                    format!("body-{}", d.key).as_str(),
                    0
                ),
                "{} got {d:?}, sent as {:?}",
                job.name,
                placed[d.key.as_str()]
            );
            by_key
                .entry(d.shard.clone())
                .or_default()
                .push((d.at, &job.name, d));
        }
    }
    let count = |job: &Job| job.keys("ord-").len();
    assert!(
        count(&b) > 0 && count(&b2) > 0,
        "B got {}, B2 {}",
        count(&b),
        count(&b2)
    );
    let mut replayed = 0;
    for shard in shards {
        let mut timeline = by_key.remove(shard).unwrap_or_default();
        timeline.sort_by_key(|(at, _, _)| *at);
        replayed += check_timeline(shard, rounds, &timeline);
    }
    eprintln!(
        "orderly: A {} B {} B2 {} deliveries, {replayed} replayed",
        count(&a),
        count(&b),
        count(&b2)
    );
}

/// Each shard's messages went to one queue (shard index mod 4), in send order at increasing
/// offsets, and every round was sent.
fn check_ordered_sends(sent: &[Sent], shards: &[&str], rounds: i64) {
    assert_eq!(sent.len(), shards.len() * rounds as usize, "{sent:?}");
    for (j, shard) in shards.iter().enumerate() {
        let mine: Vec<&Sent> = sent.iter().filter(|s| s.shard == *shard).collect();
        let queue = format!("compat-broker:{}", j % QUEUES);
        assert!(
            mine.iter().all(|s| s.queue == queue),
            "{shard} not all in {queue}: {mine:?}"
        );
        let seqs: Vec<i64> = mine.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, (0..rounds).collect::<Vec<_>>(), "{shard}'s send order");
        assert!(
            mine.windows(2).all(|w| w[0].queue_offset < w[1].queue_offset),
            "{shard}'s queue offsets do not increase: {mine:?}"
        );
    }
}

/// Checks one key's merged timeline (see [`orderly`]); returns how many deliveries replayed a
/// message already delivered.
fn check_timeline(shard: &str, rounds: i64, timeline: &[(i64, &str, Delivery)]) -> usize {
    let show = || {
        let steps: Vec<String> = timeline
            .iter()
            .map(|(_, who, d)| format!("{who}:{}", d.seq))
            .collect();
        format!("key {shard}: {}", steps.join(" "))
    };
    let mut highest = -1;
    let mut replayed = 0;
    let mut owners: Vec<&str> = Vec::new();
    for (i, (_, who, d)) in timeline.iter().enumerate() {
        let moved = owners.last() != Some(who);
        if moved {
            assert!(!owners.contains(who), "{who} got the key back: {}", show());
            owners.push(who);
        }
        let successor = i > 0 && d.seq == timeline[i - 1].2.seq + 1;
        let first = i == 0 && d.seq == 0;
        let rewind = i > 0 && moved && d.seq <= highest + 1;
        assert!(
            first || successor || rewind,
            "delivery {i} ({who}:{}) out of order: {}",
            d.seq,
            show()
        );
        if d.seq <= highest {
            replayed += 1;
        }
        highest = highest.max(d.seq);
    }
    assert_eq!(highest, rounds - 1, "not every message delivered: {}", show());
    replayed
}

/// Two consumers of one group in BROADCASTING mode: 10 messages sent before they start and 20
/// after both consume all 4 queues; each consumer gets every one of the 30, exactly once (one
/// consumer each, no failures: a duplicate is a bug), with the body it was sent with, from the
/// queue and offset its send result named.
pub fn broadcasting(env: &Env) {
    let topic = unique(env, "T", "broadcast");
    let group = unique(env, "CG", "broadcast");
    let early = produce(&env.namesrv, &topic, Mode::Sync, "early", 10, &["TagA"]);
    let queues = queues_of(&early);
    assert_eq!(queues.len(), QUEUES, "{early:?}");
    let listen = |name: &str| Job::listen(env, name, &group, &topic, &[("model", "broadcasting")], &[]);
    let (mut x, mut y) = (listen("X"), listen("Y"));
    watch(
        "both broadcasting consumers on every queue",
        REBALANCE_TIMEOUT,
        &mut [&mut x, &mut y],
        |j| j.iter().all(|c| c.assigned().as_ref() == Some(&queues)),
    );
    let late = produce(&env.namesrv, &topic, Mode::Sync, "late", 20, &["TagA"]);
    let placed: BTreeMap<String, (String, i64)> = early
        .iter()
        .chain(&late)
        .map(|s| {
            let r = s.result.as_ref().expect("a sync send's result");
            (s.key.clone(), (r.queue.clone(), r.queue_offset))
        })
        .collect();
    let expected: BTreeSet<String> = placed.keys().cloned().collect();
    let keys_of = |c: &Job| -> BTreeSet<String> { c.deliveries().into_iter().map(|d| d.key).collect() };
    watch(
        "every message at both consumers",
        DELIVERY_TIMEOUT,
        &mut [&mut x, &mut y],
        |j| j.iter().all(|c| keys_of(c).is_superset(&expected)),
    );
    settle(SETTLE, &mut [&mut x, &mut y]);
    x.stop();
    y.stop();
    for c in [&x, &y] {
        let got: Vec<Delivery> = c.deliveries();
        let keys: Vec<&str> = got.iter().map(|d| d.key.as_str()).collect();
        let distinct: BTreeSet<&str> = keys.iter().copied().collect();
        assert_eq!(distinct.len(), keys.len(), "{} got duplicates: {keys:?}", c.name);
        assert_eq!(
            distinct,
            expected.iter().map(String::as_str).collect(),
            "{} got",
            c.name
        );
        for d in &got {
            let (queue, offset) = &placed[&d.key];
            assert_eq!(
                (d.body.as_str(), d.reconsume, d.topic.as_str()),
                (format!("body-{}", d.key).as_str(), 0, topic.as_str()),
                "{d:?}"
            );
            assert_eq!((&d.queue, d.queue_offset), (queue, *offset), "{d:?}");
        }
    }
}
