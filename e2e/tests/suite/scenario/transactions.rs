//! Transactions: which transactional messages a consumer sees, and the broker's back-checks.

use std::collections::BTreeSet;

use super::{
    deliveries::{by_key, shard_seq},
    jobs::{Driver, Job, settle, watch},
    semantics::{DELIVERY_TIMEOUT, SETTLE, warm_consumer},
    targets::{Env, Target},
};

/// How often the consumer may get a message whose local transaction answered `unknown` and whose
/// back-check answered commit, by target (the rule is the broker's, whatever the client). A
/// `commit` message is delivered exactly once, always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnknownCommits {
    /// Exactly once: Apogee commits a transaction at most once.
    Once,
    /// At least once and at most once per back-check. The reference may commit an `unknown`
    /// half once per back-check: a check round that comes while the answer to the previous
    /// round's check has not been applied yet checks the half message again (the copy the first
    /// check put back), and both answers commit. Seen on a loaded machine (the reference's commit
    /// log taking 0.5 s a write): two END_TRANSACTION commits of one msgId from checks 0.4 s
    /// apart, with different commit-log offsets, and the message delivered twice. RocketMQ's
    /// transactions are at-least-once.
    OncePerCheck,
}

/// The topic and groups of [`transactions`].
pub struct Names<'a> {
    pub topic: &'a str,
    pub group: &'a str,
    pub producer_group: &'a str,
}

/// A transaction producer sends three rounds of transactional messages whose local transaction
/// answers COMMIT_MESSAGE (`commit`), ROLLBACK_MESSAGE (`rollback`) or UNKNOW (`unknown`), and
/// answers the broker's back-check COMMIT_MESSAGE. With `transactionTimeOut` 1 s and
/// `transactionCheckInterval` 2 s on both targets (and the reference's op records written every
/// 100 ms, see `java_client/reference.rs`), asserted: every half send is SEND_OK with the local
/// answer recorded; the broker back-checks each `unknown` message (at least once) and no other;
/// a consumer already on the topic gets exactly the `commit` and `unknown` messages, a `commit`
/// one once, an `unknown` one as [`UnknownCommits`] says for the target, each delivery with the msgId and in the
/// queue of its send, an `unknown` one only after its first check, and no `rollback` one, also
/// not in the 2 s after (one more check interval).
pub fn transactions(driver: &'static Driver, env: &Env, names: &Names) {
    let unknown_commits = match env.target {
        Target::Apogee => UnknownCommits::Once,
        Target::Reference => UnknownCommits::OncePerCheck,
    };
    let Names {
        topic,
        group,
        producer_group,
    } = *names;
    let mut consumer = warm_consumer(driver, env, "consumer", group, topic);
    let mut producer = Job::produce_tx(
        driver,
        env,
        "tx-producer",
        topic,
        producer_group,
        &[
            ("key-prefix", "tx"),
            ("outcomes", "commit,rollback,unknown"),
            ("rounds", "3"),
        ],
    );
    let committed: BTreeSet<String> = ["commit", "unknown"]
        .iter()
        .flat_map(|o| (0..3).map(move |i| format!("tx-{o}-{i}")))
        .collect();
    let unknown: BTreeSet<String> = (0..3).map(|i| format!("tx-unknown-{i}")).collect();
    let checked =
        |p: &Job| -> BTreeSet<String> { p.lines("CHECK").map(|l| l.get("key").to_owned()).collect() };
    watch(
        "the committed and checked transactions",
        DELIVERY_TIMEOUT,
        &mut [&mut consumer, &mut producer],
        |j| j[0].keys("tx-").is_superset(&committed) && checked(j[1]).is_superset(&unknown),
    );
    settle(SETTLE, &mut [&mut consumer, &mut producer]);
    producer.stop();
    consumer.stop();

    // (key, status, local answer, msgId, queue) per send.
    let sends: Vec<[String; 5]> = producer
        .lines("SENT")
        .map(|l| ["key", "status", "local", "msgId", "queue"].map(|k| l.get(k).to_owned()))
        .collect();
    assert_eq!(sends.len(), 9, "{sends:?}");
    for [key, status, local, _, _] in &sends {
        let want = match shard_seq(key).0.as_str() {
            "commit" => "COMMIT_MESSAGE",
            "rollback" => "ROLLBACK_MESSAGE",
            _ => "UNKNOW",
        };
        assert_eq!((status.as_str(), local.as_str()), ("SEND_OK", want), "{key}");
    }
    assert_eq!(
        checked(&producer),
        unknown,
        "keys back-checked\n{}",
        producer.transcript()
    );
    assert!(
        producer
            .lines("CHECK")
            .all(|l| l.get("answer") == "COMMIT_MESSAGE"),
        "{}",
        producer.transcript()
    );
    let got = by_key(consumer.deliveries(), "tx-");
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        committed,
        "transactions delivered"
    );
    for (key, list) in &got {
        // When each of the key's back-checks happened (none for a `commit` message: only the
        // `unknown` ones were checked, as asserted above).
        let checks: Vec<i64> = producer
            .lines("CHECK")
            .filter(|l| l.get("key") == key)
            .map(|l| l.int("at"))
            .collect();
        let most = match unknown_commits {
            UnknownCommits::OncePerCheck => checks.len().max(1),
            UnknownCommits::Once => 1,
        };
        assert!(
            (1..=most).contains(&list.len()),
            "{key} delivered {} times after {} back-checks: {list:#?}",
            list.len(),
            checks.len()
        );
        let [_, _, _, msg_id, queue] = sends.iter().find(|s| s[0] == *key).expect("sent");
        for d in list {
            assert_eq!(
                (
                    d.topic.as_str(),
                    d.body.as_str(),
                    &d.msg_id,
                    &d.queue,
                    d.reconsume
                ),
                (topic, format!("body-{key}").as_str(), msg_id, queue, 0),
                "{d:?}"
            );
            if let Some(first_check) = checks.iter().min() {
                assert!(
                    d.at > *first_check,
                    "{key} delivered before its back-check: {d:?}"
                );
            }
        }
    }
}
