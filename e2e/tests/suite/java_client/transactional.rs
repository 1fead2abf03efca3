//! Transactions: which transactional messages a consumer sees, and the broker's back-checks.

use std::collections::BTreeSet;

use super::{
    runs::{Job, settle, shard_seq, unique, watch},
    semantics::{DELIVERY_TIMEOUT, SETTLE, by_key, warm_consumer},
    targets::{Env, Target},
};

/// A TransactionMQProducer sends three rounds of transactional messages whose local transaction
/// answers COMMIT_MESSAGE (`commit`), ROLLBACK_MESSAGE (`rollback`) or UNKNOW (`unknown`), and
/// answers the broker's back-check COMMIT_MESSAGE. With `transactionTimeOut` 1 s and
/// `transactionCheckInterval` 2 s (targets.rs; and the reference's op records written every
/// 100 ms, see reference.rs), asserted: every half send is SEND_OK with the local answer
/// recorded; the broker back-checks each `unknown` message (at least once) and no other; a
/// consumer already on the topic gets exactly the `commit` and `unknown` messages (once each;
/// on the reference an `unknown` one at most once per back-check), with the msgId and in the
/// queue of their send, an `unknown` one only after its check, and no `rollback` one, also not
/// in the 2 s after (one more check interval).
pub fn transactions(env: &Env) {
    let topic = unique(env, "T", "tx");
    let group = unique(env, "CG", "tx");
    let mut consumer = warm_consumer(env, &group, &topic);
    let mut producer = Job::produce_tx(
        env,
        "tx-producer",
        &topic,
        &unique(env, "PG", "tx"),
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
        // The reference may commit an `unknown` half once per back-check: a check round that
        // comes before the previous answer was applied checks it again, and both answers commit
        // (seen under load; RocketMQ's transactions are at-least-once). Apogee commits a
        // transaction at most once, so there it is exactly once.
        let checks = producer.lines("CHECK").filter(|l| l.get("key") == key).count();
        let most = match env.target {
            Target::Reference if unknown.contains(key) => checks.max(1),
            _ => 1,
        };
        assert!(
            (1..=most).contains(&list.len()),
            "{key} delivered {} times after {checks} back-checks: {list:#?}",
            list.len()
        );
        let d = &list[0];
        let [_, _, _, msg_id, queue] = sends.iter().find(|s| s[0] == *key).expect("sent");
        assert_eq!(
            (
                d.topic.as_str(),
                d.body.as_str(),
                &d.msg_id,
                &d.queue,
                d.reconsume
            ),
            (topic.as_str(), format!("body-{key}").as_str(), msg_id, queue, 0),
            "{d:?}"
        );
        if unknown.contains(key) {
            let first_check = producer
                .lines("CHECK")
                .filter(|l| l.get("key") == key)
                .map(|l| l.int("at"))
                .min()
                .expect("checked");
            assert!(d.at > first_check, "{key} delivered before its back-check: {d:?}");
        }
    }
}
