//! Orderly consumption by sharding key as this suite runs it: unlike the Go and Rust suites'
//! (`scenario::order::orderly`, where members only leave while another runs), a member joins a
//! running one and the group splits the queues again mid-sequence, since the Java client hands a
//! queue over (it unlocks what a rebalance takes from it). The checks are the shared ones.

use std::collections::BTreeMap;

use super::{client::DRIVER, scenarios::unique};
use crate::scenario::{
    jobs::{Job, settle, watch},
    order::{
        DELIVERY_TIMEOUT, ORDERED, QUEUES, REBALANCE_TIMEOUT, SETTLE, SHARDS, all_queues,
        check_ordered_sends, check_timelines, keys_of, send_ordered, split_between, wait_for_halves,
    },
    targets::Env,
};

/// A producer sends 6 interleaved sequences of 60 messages, one per sharding key, each key's
/// to one queue (a MessageQueueSelector; queue = key index mod 4, so queues hold 1 or 2 keys),
/// to a group of two orderly consumers (MessageListenerOrderly, 20 ms per message) A and B that
/// split the 4 queues and lock them. After 30 rounds the producer pauses; meanwhile, once B has
/// consumed 10 messages (mid-sequence for each of its keys), B stops cleanly, A takes B's queues,
/// a new member B2 joins and the group splits again, and only then does the producer send the
/// last 30 rounds (so B2 certainly gets some). Asserted: the send results show each key's
/// messages in its queue at increasing offsets; each delivery is from the queue and offset its
/// send named, with its body, first delivery; each key's timeline over A, B and B2 is in order
/// across the hand-overs (`scenario::order::check_timelines`); B delivered some messages before
/// it stopped and B2 some after it joined.
pub fn orderly(env: &Env) {
    let topic = unique(env, "T", "orderly");
    let group = unique(env, "CG", "orderly");
    let (rounds, pause_after) = (60, 30);
    (DRIVER.produce)(&env.namesrv, &topic, "create", 1);
    let listen = |name: &str| {
        Job::listen(
            &DRIVER,
            env,
            name,
            &group,
            &topic,
            &[("consume-ms", "20")],
            &["orderly"],
        )
    };
    let (mut a, mut b) = (listen("A"), listen("B"));
    wait_for_halves(env, &mut a, &mut b);
    let queues = all_queues(env);

    let go = tempfile::tempdir().expect("scratch directory");
    let go_file = go.path().join("go");
    let pause = [
        ("pause-after", pause_after.to_string()),
        ("go-file", go_file.to_str().expect("UTF-8 path").to_owned()),
    ];
    let mut producer = send_ordered(&DRIVER, env, &topic, rounds, &pause);
    let ord = format!("{ORDERED}-");
    watch(
        "B to consume 10 messages",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b, &mut producer],
        |j| j[1].keys(&ord).len() >= 10,
    );
    b.stop();
    let mut b2 = listen("B2");
    watch(
        "A and B2 to split the queues, the producer to pause",
        REBALANCE_TIMEOUT,
        &mut [&mut a, &mut b2, &mut producer],
        |j| split_between(&[&*j[0], &*j[1]], &queues) && j[2].has("PAUSED"),
    );
    std::fs::write(&go_file, b"go").expect("write the go file");
    let expected = keys_of(&SHARDS, 0..rounds);
    // B's deliveries are final: it has stopped.
    let by_b = b.keys(&ord);
    watch(
        "every ordered message delivered",
        DELIVERY_TIMEOUT,
        &mut [&mut a, &mut b2, &mut producer],
        |j| {
            let mut got = by_b.clone();
            got.extend(j[0].keys(&ord));
            got.extend(j[1].keys(&ord));
            j[2].ended() && got == expected
        },
    );
    settle(SETTLE, &mut [&mut a, &mut b2]);
    a.stop();
    b2.stop();

    let sent = producer.sent();
    // The selector's queues, on this target's broker.
    let used = check_ordered_sends(&sent, &SHARDS, rounds, |j, _| j % QUEUES);
    assert_eq!(used, queues, "the queues the keys were sent to");
    let placed: BTreeMap<&str, (&str, i64)> = sent
        .iter()
        .map(|s| (s.key.as_str(), (s.queue.as_str(), s.queue_offset)))
        .collect();
    for job in [&a, &b, &b2] {
        for d in job.deliveries().into_iter().filter(|d| d.key.starts_with(&ord)) {
            let (queue, offset) = placed[d.key.as_str()];
            assert_eq!(
                (d.queue.as_str(), d.queue_offset, d.body.as_str(), d.reconsume),
                (queue, offset, format!("body-{}", d.key).as_str(), 0),
                "{} got {d:?}, sent as {:?}",
                job.name,
                (queue, offset)
            );
        }
    }
    let count = |job: &Job| job.keys(&ord).len();
    assert!(
        count(&b) > 0 && count(&b2) > 0,
        "B got {}, B2 {}",
        count(&b),
        count(&b2)
    );
    let replayed = check_timelines(&[&a, &b, &b2], &SHARDS, rounds);
    eprintln!(
        "orderly: A {} B {} B2 {} deliveries, {replayed} replayed",
        count(&a),
        count(&b),
        count(&b2)
    );
}
