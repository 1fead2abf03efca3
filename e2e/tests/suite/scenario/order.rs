//! Who gets which message in which order: orderly consumption by sharding key across consumer
//! hand-overs (the checks of each key's send order and delivery timeline, and the three-phase
//! [`orderly`] scenario the Go and Rust suites run), and [`broadcasting`].

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Range,
    time::Duration,
};

use super::{
    deliveries::{Delivery, Placed, Sent},
    jobs::{Driver, Job, settle, watch},
    targets::Env,
};

/// Longest wait for the deliveries a step expects (a consumer's start, route, rebalance, pulls).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a group's members to settle on (and, orderly, lock) their queues.
pub const REBALANCE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long consumers keep running after the last expected delivery, for duplicates to show.
pub const SETTLE: Duration = Duration::from_millis(1500);
/// Queues of an auto-created topic (each client's default topic queue count).
pub const QUEUES: usize = 4;
/// The key prefix of the ordered messages: their keys are `ord-<shard>-<seq>`.
pub const ORDERED: &str = "ord";

/// The sharding keys of the orderly scenarios; each client's selector spreads them over every
/// queue (see the suites).
pub const SHARDS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
/// Rounds of [`orderly`] (one message per key each), and the rounds the producer pauses before.
const ROUNDS: i64 = 60;
const PAUSES: [i64; 2] = [20, 40];

/// The names of the topic's queues on the target's broker: `brokerName:0` ...
pub fn all_queues(env: &Env) -> BTreeSet<String> {
    (0..QUEUES).map(|q| format!("{}:{q}", env.broker_name)).collect()
}

/// Whether the latest reports of `members` are non-empty, disjoint and cover `queues`.
pub fn split_between(members: &[&Job], queues: &BTreeSet<String>) -> bool {
    let mut covered = BTreeSet::new();
    for m in members {
        match m.owned() {
            Some(q) if !q.is_empty() && q.is_disjoint(&covered) => covered.extend(q),
            _ => return false,
        }
    }
    covered == *queues
}

/// Waits until orderly consumers `a` and `b` have split the topic's queues and each locked its
/// half.
pub fn wait_for_halves(env: &Env, a: &mut Job, b: &mut Job) {
    let queues = all_queues(env);
    watch(
        "A and B to lock half the queues each",
        REBALANCE_TIMEOUT,
        &mut [a, b],
        |j| split_between(&[&*j[0], &*j[1]], &queues),
    );
}

/// The keys `ord-<shard>-<seq>` of every shard for the rounds in `rounds`.
pub fn keys_of(shards: &[&str], rounds: Range<i64>) -> BTreeSet<String> {
    let keys = shards
        .iter()
        .flat_map(|s| rounds.clone().map(move |i| format!("{ORDERED}-{s}-{i}")));
    keys.collect()
}

/// How a client runs [`orderly`].
pub struct Orderly<'a> {
    pub topic: &'a str,
    pub group: &'a str,
    /// The queue id (of [`QUEUES`]) the client's hash queue selector picks for a sharding key.
    pub queue_of: fn(&str) -> usize,
    /// `listen` arguments of the two members that start together (A, B) and of the one that
    /// starts alone (B2), beyond the orderly ones.
    pub pair_args: &'a [(&'a str, &'a str)],
    pub single_args: &'a [(&'a str, &'a str)],
}

/// A producer sends 6 interleaved sequences of 60 messages, one per sharding key, with the
/// client's hash queue selector (so each key's sequence lives in one queue), to a group of
/// orderly push consumers (10 ms per message), in three phases:
///
/// 1. A and B split the 4 queues and lock them; rounds 0-19 are sent and consumed;
/// 2. B stops (a clean shutdown unlocks its queues and commits its offsets), A takes and locks
///    every queue, rounds 20-39 are sent and A consumes them, B's keys included;
/// 3. A stops and B2 (a restarted member) takes and locks every queue; rounds 40-59 are sent.
///
/// Members only leave while another runs, and the harness stops one only when it has consumed
/// everything sent so far (the producer waits at each pause): a live member may keep the broker's
/// lock of a queue a rebalance takes from it (the Go client does, see the Go suite).
///
/// Asserted: each key's messages went to the queue the selector picks, in send order at
/// increasing offsets; each delivery is the message its send result placed there, first
/// delivery; each key's timeline is in order across hand-overs ([`check_timelines`]); every
/// message is delivered; B got some, A all of rounds 20-39, B2 all of rounds 40-59.
pub fn orderly(driver: &'static Driver, env: &Env, o: &Orderly) {
    let (topic, group) = (o.topic, o.group);
    // A consumer may refuse to start on a topic with no route (the Go one does): create it.
    (driver.produce)(&env.namesrv, topic, "create", 1);
    let listen = |name: &str, extra: &[(&str, &str)]| {
        let mut args = vec![("consume-ms", "10")];
        args.extend_from_slice(extra);
        Job::listen(driver, env, name, group, topic, &args, &["orderly"])
    };
    let (mut a, mut b) = (listen("A", o.pair_args), listen("B", o.pair_args));
    wait_for_halves(env, &mut a, &mut b);

    let go = tempfile::tempdir().expect("scratch directory");
    let go_dir = go.path().to_str().expect("UTF-8 path");
    let pauses: Vec<String> = PAUSES.iter().map(i64::to_string).collect();
    let pause = [("pause-at", pauses.join(",")), ("go-dir", go_dir.to_owned())];
    let mut producer = send_ordered(driver, env, topic, ROUNDS, &pause);
    let resume = |round: i64| std::fs::write(go.path().join(format!("go-{round}")), b"go").expect("go file");
    let ord = format!("{ORDERED}-");
    let first = keys_of(&SHARDS, 0..PAUSES[0]);
    watch(
        "rounds 0-19 at A and B",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b, &mut producer],
        |j| {
            let mut got = j[0].keys(&ord);
            got.extend(j[1].keys(&ord));
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
    let by_b = b.keys(&ord);
    let second = keys_of(&SHARDS, 0..PAUSES[1]);
    watch(
        "rounds 20-39 at A",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut producer],
        |j| {
            let mut got = by_b.clone();
            got.extend(j[0].keys(&ord));
            j[1].paused_at(PAUSES[1]) && got.is_superset(&second)
        },
    );

    a.stop();
    let mut b2 = listen("B2", o.single_args);
    watch(
        "B2 to lock every queue",
        REBALANCE_TIMEOUT,
        &mut [&mut b2, &mut producer],
        |j| j[0].owned().is_some_and(|q| q.len() == QUEUES),
    );
    resume(PAUSES[1]);
    let last = keys_of(&SHARDS, PAUSES[1]..ROUNDS);
    watch(
        "rounds 40-59 at B2",
        DELIVERY_TIMEOUT,
        &mut [&mut b2, &mut producer],
        |j| j[1].ended() && j[0].keys(&ord).is_superset(&last),
    );
    settle(SETTLE, &mut [&mut b2]);
    b2.stop();

    let sent = producer.sent();
    check_ordered_sends(&sent, &SHARDS, ROUNDS, |_, shard| (o.queue_of)(shard));
    let count = |job: &Job| job.keys(&ord).len();
    assert!(count(&b) > 0, "B consumed nothing:\n{}", b.transcript());
    let missing = |job: &Job, want: &BTreeSet<String>| -> Vec<String> {
        want.difference(&job.keys(&ord)).cloned().collect()
    };
    let middle = keys_of(&SHARDS, PAUSES[0]..PAUSES[1]);
    assert_eq!(missing(&a, &middle), Vec::<String>::new(), "A missed");
    assert_eq!(missing(&b2, &last), Vec::<String>::new(), "B2 missed");

    let placed: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.key.as_str(), s)).collect();
    for job in [&a, &b, &b2] {
        for d in job.deliveries().iter().filter(|d| d.key.starts_with(&ord)) {
            let s = placed[d.key.as_str()];
            let body = format!("body-{}", d.key);
            assert_eq!(
                (d.topic.as_str(), d.queue.as_str(), d.queue_offset),
                (topic, s.queue.as_str(), s.queue_offset),
                "{} got {d:?}, sent as {s:?}",
                job.name
            );
            // The offset message id is compared where the driver prints it.
            let offset_msg_id = d.offset_msg_id.as_ref().map(|_| s.offset_msg_id.as_str());
            assert_eq!(
                (
                    d.body.as_str(),
                    d.msg_id.as_str(),
                    d.offset_msg_id.as_deref(),
                    d.reconsume
                ),
                (body.as_str(), s.msg_id.as_str(), offset_msg_id, 0),
                "{} got {d:?}",
                job.name
            );
        }
    }
    let replayed = check_timelines(&[&a, &b, &b2], &SHARDS, ROUNDS);
    eprintln!(
        "orderly: A {} B {} B2 {} keys, {replayed} deliveries replayed",
        count(&a),
        count(&b),
        count(&b2)
    );
}

/// A `send` run of `rounds` rounds of ordered messages, one per shard of [`SHARDS`] each, 5 ms
/// apart, each shard's to the queue the client's selector picks; `pause` says where the producer
/// waits for the harness (the drivers' options for that differ).
pub fn send_ordered(
    driver: &'static Driver,
    env: &Env,
    topic: &str,
    rounds: i64,
    pause: &[(&str, String)],
) -> Job {
    let (shards, rounds) = (SHARDS.join(","), rounds.to_string());
    let mut args = vec![
        ("key-prefix", ORDERED),
        ("shards", &shards),
        ("rounds", &rounds),
        ("interval-ms", "5"),
    ];
    args.extend(pause.iter().map(|(k, v)| (*k, v.as_str())));
    Job::send(driver, env, "producer", topic, &args, &["ordered"])
}

/// Each shard's `rounds` messages went to one queue, whose id is `queue_of(index, shard)`, in
/// send order at increasing offsets, and the shards cover every queue; returns those queues.
pub fn check_ordered_sends(
    sent: &[Sent],
    shards: &[&str],
    rounds: i64,
    queue_of: impl Fn(usize, &str) -> usize,
) -> BTreeSet<String> {
    assert_eq!(sent.len(), shards.len() * rounds as usize, "{sent:?}");
    let mut queues = BTreeSet::new();
    for (j, shard) in shards.iter().enumerate() {
        let mine: Vec<&Sent> = sent.iter().filter(|s| s.shard == *shard).collect();
        let queue_id = queue_of(j, shard).to_string();
        let queue = &mine[0].queue;
        assert!(
            queue.rsplit(':').next() == Some(queue_id.as_str()) && mine.iter().all(|s| s.queue == *queue),
            "{shard} not all in queue {queue_id}: {mine:?}"
        );
        queues.insert(queue.clone());
        let seqs: Vec<i64> = mine.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, (0..rounds).collect::<Vec<_>>(), "{shard}'s send order");
        assert!(
            mine.windows(2).all(|w| w[0].queue_offset < w[1].queue_offset),
            "{shard}'s queue offsets do not increase: {mine:?}"
        );
    }
    assert_eq!(queues.len(), QUEUES, "the keys do not cover every queue");
    queues
}

/// Checks, per shard, the deliveries of its `rounds` ordered messages by `jobs` merged in the
/// order they happened (each run stamps a delivery with the shared wall clock):
///
/// - every message sent is delivered;
/// - the sequence numbers form runs of consecutive numbers (each delivery is the previous one's
///   successor); the first run starts at 0, and a new run starts only where the key moved to
///   another consumer, at or below the highest number delivered so far plus one: at-least-once
///   allows a replay of what the previous owner's last offset commit did not cover, but only as
///   a contiguous, in-order replay, never a skip, never a message before its predecessor;
/// - a consumer that gave a key up never delivers it again (no two consumers at once).
///
/// Returns how many deliveries replayed a message already delivered.
pub fn check_timelines(jobs: &[&Job], shards: &[&str], rounds: i64) -> usize {
    let ord = format!("{ORDERED}-");
    let mut by_shard: BTreeMap<String, Vec<(&str, Delivery)>> = BTreeMap::new();
    for job in jobs {
        for d in job.deliveries().into_iter().filter(|d| d.key.starts_with(&ord)) {
            by_shard.entry(d.shard.clone()).or_default().push((&job.name, d));
        }
    }
    let mut replayed = 0;
    for shard in shards {
        let mut timeline = by_shard.remove(*shard).unwrap_or_default();
        timeline.sort_by_key(|(_, d)| d.at);
        replayed += check_timeline(shard, rounds, &timeline);
    }
    replayed
}

/// One shard's merged timeline (see [`check_timelines`]).
fn check_timeline(shard: &str, rounds: i64, timeline: &[(&str, Delivery)]) -> usize {
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
    assert_eq!(highest, rounds - 1, "not every message delivered: {}", show());
    replayed
}

/// Two push consumers of one group in the broadcasting model: 10 messages sent before they
/// start and 20 after both consume all 4 queues; each consumer gets every one of the 30, exactly
/// once (one consumer each, no failures: a duplicate is a bug), with the body it was sent with,
/// from the queue and offset (and, where the driver prints it, with the offset message id) its
/// send result named.
pub fn broadcasting(driver: &'static Driver, env: &Env, topic: &str, group: &str) {
    let early = (driver.produce)(&env.namesrv, topic, "early", 10);
    let queues: BTreeSet<String> = early.iter().map(|p| p.queue.clone()).collect();
    assert_eq!(queues.len(), QUEUES, "{early:?}");
    let listen = |name: &str| Job::listen(driver, env, name, group, topic, &[("model", "broadcasting")], &[]);
    let (mut x, mut y) = (listen("X"), listen("Y"));
    watch(
        "both broadcasting consumers on every queue",
        REBALANCE_TIMEOUT,
        &mut [&mut x, &mut y],
        |j| j.iter().all(|c| c.owned().as_ref() == Some(&queues)),
    );
    let late = (driver.produce)(&env.namesrv, topic, "late", 20);
    let placed: BTreeMap<&str, &Placed> = early.iter().chain(&late).map(|p| (p.key.as_str(), p)).collect();
    let expected: BTreeSet<String> = placed.keys().map(|k| (*k).to_owned()).collect();
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
            let p = placed[d.key.as_str()];
            assert_eq!(
                (d.body.as_str(), d.reconsume, d.topic.as_str()),
                (p.body.as_str(), 0, topic),
                "{d:?}"
            );
            let offset_msg_id = d.offset_msg_id.as_ref().map(|_| &p.offset_msg_id);
            assert_eq!(
                (&d.queue, d.queue_offset, d.offset_msg_id.as_ref()),
                (&p.queue, p.queue_offset, offset_msg_id),
                "{d:?}"
            );
        }
    }
}
