//! Who gets which message in which order: orderly consumption by sharding key across consumer
//! restarts, and broadcasting.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use super::{
    client::produce,
    runs::{Delivery, Job, Sent, settle, watch},
    scenarios::Env,
};

/// Longest wait for the deliveries a step expects.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a group's members to settle on (and, orderly, lock) their queues.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long consumers keep running after the last expected delivery, for duplicates to show.
const SETTLE: Duration = Duration::from_millis(1500);
/// Queues of an auto-created topic (the Go producer's `DefaultTopicQueueNums`).
const QUEUES: usize = 4;

/// The sharding keys of `orderly`. The client's hash selector puts a key in queue
/// FNV-1a(key) mod 4: these land in queues 0, 1, 2, 3, 0, 1, so every queue holds a sequence.
const SHARDS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
/// Rounds of `orderly` (one message per key each), and the rounds the producer pauses before.
const ROUNDS: i64 = 60;
const PAUSES: [i64; 2] = [20, 40];

/// FNV-1a, 32 bits: what the Go client's hash queue selector computes of a sharding key.
fn fnv1a(key: &str) -> u32 {
    key.bytes().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
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
/// client's hash queue selector (so each key's sequence lives in one queue), to a group of
/// orderly push consumers (WithConsumerOrder(true), 10 ms per message), in three phases:
///
/// 1. A and B split the 4 queues and lock them; rounds 0-19 are sent and consumed;
/// 2. B stops (a clean shutdown unlocks its queues and commits its offsets), A takes and locks
///    every queue, rounds 20-39 are sent and A consumes them, B's keys included;
/// 3. A stops and B2 (a restarted member) takes and locks every queue; rounds 40-59 are sent.
///
/// A live member of this client does not hand a queue over: it keeps the broker's lock of a
/// queue a rebalance takes from it (it unlocks only at shutdown), so a member joining a running
/// one would wait for the broker's lock lifetime (60 s). Hence members only leave while another
/// runs, and A and B start with `-members 2` (no queue until both are there); and the harness
/// stops a member only when it has consumed everything sent so far (see listen.go's quiesce).
///
/// Asserted: each key's messages went to queue FNV-1a(key) mod 4, in send order at increasing
/// offsets; each delivery is the message its send result placed there, first delivery; what each
/// consumer saw of a key is in strict send order (each message its predecessor's successor);
/// over the three consumers merged in time order, a key moves on only to a new consumer, which
/// starts at or below the highest message delivered so far plus one (a replay of what the last
/// offset commit did not cover is at-least-once; a gap is not); every message is delivered; B
/// got some, A all of rounds 20-39, B2 all of rounds 40-59.
pub fn orderly(env: &Env) {
    let (topic, group) = ("GoOrderTopic", "GoOrderGroup");
    // The Go consumer refuses to start on a topic with no route: create it first.
    produce(&env.namesrv, topic, "TagA", "create", 1, false);
    let listen = |name: &str, members: &str| {
        let args = [("consume-ms", "10"), ("members", members)];
        Job::listen(env, name, group, topic, &args, &["orderly"])
    };
    let (mut a, mut b) = (listen("A", "2"), listen("B", "2"));
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
    let mut b2 = listen("B2", "1");
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
                (d.body.as_str(), d.msg_id.as_str(), d.reconsume),
                (body.as_str(), s.msg_id.as_str(), 0),
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

/// Each shard's messages went to queue FNV-1a(shard) mod 4, in send order at increasing offsets,
/// and every round was sent.
fn check_ordered_sends(sent: &[Sent]) {
    assert_eq!(sent.len(), SHARDS.len() * ROUNDS as usize, "{sent:?}");
    let mut queues = BTreeSet::new();
    for shard in SHARDS {
        let mine: Vec<&Sent> = sent.iter().filter(|s| s.shard == shard).collect();
        let queue_id = (fnv1a(shard) % QUEUES as u32).to_string();
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

/// Two push consumers of one group in BroadCasting model: 10 messages sent before they start
/// and 20 after both consume all 4 queues; each consumer gets every one of the 30, exactly once,
/// with the body it was sent with, from the queue and offset its send result named.
pub fn broadcasting(env: &Env) {
    let (topic, group) = ("GoBroadcastTopic", "GoBroadcastGroup");
    let early = produce(&env.namesrv, topic, "TagA", "early", 10, false);
    let queues: BTreeSet<String> = early.iter().map(|s| s.queue.clone()).collect();
    assert_eq!(queues.len(), QUEUES, "{early:?}");
    let listen = |name: &str| Job::listen(env, name, group, topic, &[("model", "broadcasting")], &[]);
    let (mut x, mut y) = (listen("X"), listen("Y"));
    watch(
        "both broadcasting consumers on every queue",
        REBALANCE_TIMEOUT,
        &mut [&mut x, &mut y],
        |j| j.iter().all(|c| c.owned().as_ref() == Some(&queues)),
    );
    let late = produce(&env.namesrv, topic, "TagA", "late", 20, false);
    let placed: BTreeMap<String, (String, i64)> = early
        .iter()
        .chain(&late)
        .map(|s| (s.key.clone(), (s.queue.clone(), s.queue_offset)))
        .collect();
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
            let (queue, offset) = &placed[&d.key];
            assert_eq!(
                (d.body.as_str(), d.reconsume, d.topic.as_str()),
                (format!("body-{}", d.key).as_str(), 0, topic),
                "{d:?}"
            );
            assert_eq!((&d.queue, d.queue_offset), (queue, *offset), "{d:?}");
        }
    }
}
