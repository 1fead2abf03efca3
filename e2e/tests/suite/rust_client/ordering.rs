//! Who gets which message in which order: orderly consumption by sharding key across consumer
//! restarts, and broadcasting.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use super::{
    client::{Mode, produce},
    node::Env,
    runs::{Delivery, Job, Sent, settle, watch},
};

/// Longest wait for the deliveries a step expects.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a group's members to settle on (and, orderly, lock) their queues.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long consumers keep running after the last expected delivery, for duplicates to show.
const SETTLE: Duration = Duration::from_millis(1500);
/// Queues of an auto-created topic (the client's `defaultTopicQueueNums`).
const QUEUES: usize = 4;

/// The sharding keys of `orderly`. The client's `SelectMessageQueueByHash` puts a key in queue
/// |hashCode(key) mod 4| (Java's `String.hashCode`): these land in queues 1, 2, 3, 0, 1, 2, so
/// every queue holds a sequence.
const SHARDS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
/// Rounds of `orderly` (one message per key each), and the rounds the producer pauses before.
const ROUNDS: i64 = 60;
const PAUSES: [i64; 2] = [20, 40];

/// The queue `SelectMessageQueueByHash` picks for `key` among `queues`: Java's `String.hashCode`
/// (UTF-16 units, `h * 31 + unit`, wrapping) modulo the count, made non-negative.
fn java_hash_queue(key: &str, queues: usize) -> usize {
    let hash = key
        .encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)));
    (i64::from(hash) % queues as i64).unsigned_abs() as usize
}

/// Whether the latest reports of `members` are non-empty, disjoint and cover `QUEUES` queues.
fn split_between(members: &[&Job]) -> bool {
    let mut covered = BTreeSet::new();
    for m in members {
        match m.owned() {
            Some(q) if !q.is_empty() && q.is_disjoint(&covered) => covered.extend(q),
            _ => return false,
        }
    }
    covered.len() == QUEUES
}

/// The keys `ord-<shard>-<seq>` of every shard for the rounds in `rounds`.
fn keys_of(rounds: std::ops::Range<i64>) -> BTreeSet<String> {
    let shards = SHARDS.iter();
    shards
        .flat_map(|s| rounds.clone().map(move |i| format!("ord-{s}-{i}")))
        .collect()
}

/// A producer sends 6 interleaved sequences of 60 messages, one per sharding key, with the
/// client's `SelectMessageQueueByHash` (so each key's sequence lives in one queue), to a group of
/// orderly push consumers (`MessageListenerOrderly`, 10 ms per message), in three phases:
///
/// 1. A and B split the 4 queues and lock them; rounds 0-19 are sent and consumed;
/// 2. B stops (a clean shutdown unlocks its queues and commits its offsets), A takes and locks
///    every queue, rounds 20-39 are sent and A consumes them, B's keys included;
/// 3. A stops and B2 (a restarted member) takes and locks every queue; rounds 40-59 are sent.
///
/// The harness stops a member only when it has consumed everything sent so far (the producer
/// waits at each pause), as the Go client suite's `orderly` does.
///
/// Asserted: each key's messages went to queue |hashCode(key) mod 4|, in send order at
/// increasing offsets; each delivery is the message its send result placed there, first
/// delivery; what each consumer saw of a key is in strict send order (each message its
/// predecessor's successor); over the three consumers merged in time order, a key moves on only
/// to a new consumer, which starts at or below the highest message delivered so far plus one (a
/// replay of what the last offset commit did not cover is at-least-once; a gap is not); every
/// message is delivered; B got some, A all of rounds 20-39, B2 all of rounds 40-59.
pub fn orderly(env: &Env) {
    let (topic, group) = ("RustOrderTopic", "RustOrderGroup");
    produce(&env.namesrv, topic, Mode::Sync, "create", 1, &["TagA"]);
    let listen = |name: &str| Job::listen(env, name, group, topic, &[("consume-ms", "10")], &["orderly"]);
    let (mut a, mut b) = (listen("A"), listen("B"));
    watch(
        "A and B to lock half the queues each",
        REBALANCE_TIMEOUT,
        &mut [&mut a, &mut b],
        |j| split_between(&[&*j[0], &*j[1]]),
    );

    let go = tempfile::tempdir().expect("scratch directory");
    let go_dir = go.path().to_str().expect("UTF-8 path").to_owned();
    let pauses: Vec<String> = PAUSES.iter().map(i64::to_string).collect();
    let (shards, rounds, pauses) = (SHARDS.join(","), ROUNDS.to_string(), pauses.join(","));
    let mut producer = Job::send(
        env,
        "producer",
        topic,
        &[
            ("key-prefix", "ord"),
            ("shards", &shards),
            ("rounds", &rounds),
            ("interval-ms", "5"),
            ("pause-at", &pauses),
            ("go-dir", &go_dir),
        ],
        &["ordered"],
    );
    let resume = |round: i64| std::fs::write(go.path().join(format!("go-{round}")), b"go").expect("go file");
    let first = keys_of(0..PAUSES[0]);
    watch(
        "rounds 0-19 at A and B",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b, &mut producer],
        |j| {
            let mut got = j[0].keys("ord-");
            got.extend(j[1].keys("ord-"));
            j[2].paused_at(PAUSES[0]) && got.is_superset(&first)
        },
    );

    b.stop();
    watch(
        "A to lock every queue",
        REBALANCE_TIMEOUT,
        &mut [&mut a, &mut producer],
        |j| j[0].owned().is_some_and(|q| q.len() == QUEUES),
    );
    resume(PAUSES[0]);
    let by_b = b.keys("ord-");
    let second = keys_of(0..PAUSES[1]);
    watch(
        "rounds 20-39 at A",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut producer],
        |j| {
            let mut got = by_b.clone();
            got.extend(j[0].keys("ord-"));
            j[1].paused_at(PAUSES[1]) && got.is_superset(&second)
        },
    );

    a.stop();
    let mut b2 = listen("B2");
    watch(
        "B2 to lock every queue",
        REBALANCE_TIMEOUT,
        &mut [&mut b2, &mut producer],
        |j| j[0].owned().is_some_and(|q| q.len() == QUEUES),
    );
    resume(PAUSES[1]);
    let last = keys_of(PAUSES[1]..ROUNDS);
    watch(
        "rounds 40-59 at B2",
        DELIVERY_TIMEOUT,
        &mut [&mut b2, &mut producer],
        |j| j[1].ended() && j[0].keys("ord-").is_superset(&last),
    );
    settle(SETTLE, &mut [&mut b2]);
    b2.stop();

    let sent = producer.sent();
    check_ordered_sends(&sent);
    let count = |job: &Job| job.keys("ord-").len();
    assert!(count(&b) > 0, "B consumed nothing:\n{}", b.transcript());
    let missing = |job: &Job, want: &BTreeSet<String>| -> Vec<String> {
        want.difference(&job.keys("ord-")).cloned().collect()
    };
    let middle = keys_of(PAUSES[0]..PAUSES[1]);
    assert_eq!(missing(&a, &middle), Vec::<String>::new(), "A missed");
    assert_eq!(missing(&b2, &last), Vec::<String>::new(), "B2 missed");

    let placed: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.key.as_str(), s)).collect();
    let mut by_key: BTreeMap<String, Vec<(&str, Delivery)>> = BTreeMap::new();
    for job in [&a, &b, &b2] {
        let deliveries = job.deliveries().into_iter().filter(|d| d.key.starts_with("ord-"));
        for d in deliveries {
            let s = placed[d.key.as_str()];
            let body = format!("body-{}", d.key);
            assert_eq!(
                (d.topic.as_str(), d.queue.as_str(), d.queue_offset),
                (topic, s.queue.as_str(), s.queue_offset),
                "{} got {d:?}, sent as {s:?}",
                job.name
            );
            assert_eq!(
                (
                    d.body.as_str(),
                    d.msg_id.as_str(),
                    d.offset_msg_id.as_str(),
                    d.reconsume
                ),
                (body.as_str(), s.msg_id.as_str(), s.offset_msg_id.as_str(), 0),
                "{} got {d:?}",
                job.name
            );
            by_key.entry(d.shard.clone()).or_default().push((&job.name, d));
        }
    }
    let mut replayed = 0;
    for shard in SHARDS {
        let mut timeline = by_key.remove(shard).unwrap_or_default();
        timeline.sort_by_key(|(_, d)| d.at);
        replayed += check_timeline(shard, &timeline);
    }
    eprintln!(
        "orderly: A {} B {} B2 {} keys, {replayed} deliveries replayed",
        count(&a),
        count(&b),
        count(&b2)
    );
}

/// Each shard's messages went to queue |hashCode(shard) mod 4|, in send order at increasing
/// offsets, and every round was sent.
fn check_ordered_sends(sent: &[Sent]) {
    assert_eq!(sent.len(), SHARDS.len() * ROUNDS as usize, "{sent:?}");
    let mut queues = BTreeSet::new();
    for shard in SHARDS {
        let mine: Vec<&Sent> = sent.iter().filter(|s| s.shard == shard).collect();
        let queue_id = java_hash_queue(shard, QUEUES).to_string();
        let queue = &mine[0].queue;
        assert!(
            queue.rsplit(':').next() == Some(queue_id.as_str()) && mine.iter().all(|s| s.queue == *queue),
            "{shard} not all in queue {queue_id}: {mine:?}"
        );
        queues.insert(queue.clone());
        let seqs: Vec<i64> = mine.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, (0..ROUNDS).collect::<Vec<_>>(), "{shard}'s send order");
        assert!(
            mine.windows(2).all(|w| w[0].queue_offset < w[1].queue_offset),
            "{shard}'s queue offsets do not increase: {mine:?}"
        );
    }
    assert_eq!(queues.len(), QUEUES, "the keys do not cover every queue");
}

/// Checks one key's deliveries, merged in time order (see [`orderly`]); returns how many
/// replayed a message already delivered.
fn check_timeline(shard: &str, timeline: &[(&str, Delivery)]) -> usize {
    let show = || {
        let steps: Vec<String> = timeline
            .iter()
            .map(|(who, d)| format!("{who}:{}", d.seq))
            .collect();
        format!("key {shard}: {}", steps.join(" "))
    };
    let mut highest = -1;
    let mut replayed = 0;
    let mut owners: Vec<&str> = Vec::new();
    for (i, (who, d)) in timeline.iter().enumerate() {
        let moved = owners.last() != Some(who);
        if moved {
            assert!(!owners.contains(who), "{who} got the key back: {}", show());
            owners.push(who);
        }
        let successor = i > 0 && !moved && d.seq == timeline[i - 1].1.seq + 1;
        let first = i == 0 && d.seq == 0;
        let handed_over = i > 0 && moved && d.seq <= highest + 1;
        assert!(
            first || successor || handed_over,
            "delivery {i} ({who}:{}) out of order: {}",
            d.seq,
            show()
        );
        if d.seq <= highest {
            replayed += 1;
        }
        highest = highest.max(d.seq);
    }
    assert_eq!(highest, ROUNDS - 1, "not every message delivered: {}", show());
    replayed
}

/// Two push consumers of one group in `MessageModel::Broadcasting`: 10 messages sent before
/// they start and 20 after both consume all 4 queues; each consumer gets every one of the 30,
/// exactly once, with the body it was sent with, from the queue and offset (and with the offset
/// message id) its send result named.
pub fn broadcasting(env: &Env) {
    let (topic, group) = ("RustBroadcastTopic", "RustBroadcastGroup");
    let early = produce(&env.namesrv, topic, Mode::Sync, "early", 10, &["TagA"]);
    // Key → (queue, queue offset, offset message id).
    let placed_at = |s: &super::client::Sent| {
        let result = s.result.as_ref().expect("a sync send's result");
        let at = (
            result.queue.clone(),
            result.queue_offset,
            result.offset_msg_id.clone(),
        );
        (s.key.clone(), at)
    };
    let queues: BTreeSet<String> = early.iter().map(|s| placed_at(s).1.0).collect();
    assert_eq!(queues.len(), QUEUES, "{early:?}");
    let listen = |name: &str| Job::listen(env, name, group, topic, &[("model", "broadcasting")], &[]);
    let (mut x, mut y) = (listen("X"), listen("Y"));
    watch(
        "both broadcasting consumers on every queue",
        REBALANCE_TIMEOUT,
        &mut [&mut x, &mut y],
        |j| j.iter().all(|c| c.owned().as_ref() == Some(&queues)),
    );
    let late = produce(&env.namesrv, topic, Mode::Sync, "late", 20, &["TagA"]);
    let placed: BTreeMap<String, (String, i64, String)> = early.iter().chain(&late).map(placed_at).collect();
    let expected: BTreeSet<String> = placed.keys().cloned().collect();
    watch(
        "every message at both consumers",
        DELIVERY_TIMEOUT,
        &mut [&mut x, &mut y],
        |j| j.iter().all(|c| c.keys("").is_superset(&expected)),
    );
    settle(SETTLE, &mut [&mut x, &mut y]);
    x.stop();
    y.stop();
    for c in [&x, &y] {
        let got = c.deliveries();
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
            let (queue, offset, offset_msg_id) = &placed[&d.key];
            assert_eq!(
                (d.body.as_str(), d.reconsume, d.topic.as_str()),
                (format!("body-of-{}", d.key).as_str(), 0, topic),
                "{d:?}"
            );
            assert_eq!(
                (&d.queue, d.queue_offset, &d.offset_msg_id),
                (queue, *offset, offset_msg_id),
                "{d:?}"
            );
        }
    }
}
