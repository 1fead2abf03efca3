//! Transactions the producer does not resolve: a half checked `transactionCheckMax` times is
//! moved to `TRANS_CHECK_MAX_TIME_TOPIC` and never delivered; a half still open when the
//! broker stops is checked after the restart and committed exactly once, whatever late or
//! repeated answers arrive, across a second restart too. Check timings are shortened through
//! `transactionTimeOut` and `transactionCheckInterval`.

use std::time::Duration;

use apogee_broker::{
    config::FixedEnv,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::Connection,
    standalone::{Standalone, StandaloneOptions},
    store::{properties, record},
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{
    broker::{call, client, route_appears},
    harness::runtime,
    messaging::{end, half, half_position, only_message, pull},
};

const COMMIT: i32 = 8;
/// Where the reference moves halves checked too often (`TopicValidator`).
const CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";

async fn start(dir: &std::path::Path, tx_settings: &str) -> Standalone {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let mut options = StandaloneOptions::loopback(dir.join("store"));
    options.broker_properties =
        format!("brokerName=tx-broker\nmappedFileSizeCommitLog=16777216\n{tx_settings}");
    Standalone::start(options, &env).await.expect("node starts")
}

/// Announces a producer of the halves' group (TPG) on `conn`, so checks go there.
async fn be_producer(conn: &Connection) {
    let hb = serde_json::json!({"clientID": "p@tx", "producerDataSet": [{"groupName": "TPG"}]});
    let hb = RemotingCommand::request(request::HEART_BEAT, 0).with_body(serde_json::to_vec(&hb).unwrap());
    assert_eq!(call(conn, hb).await.code, response::SUCCESS);
}

/// The next back-check, within `wait`: (tranStateTableOffset, commitLogOffset, body).
async fn next_check(
    checks: &mut UnboundedReceiver<RemotingCommand>,
    wait: Duration,
) -> (String, String, Vec<u8>) {
    let check = tokio::time::timeout(wait, checks.recv())
        .await
        .expect("a back-check in time")
        .expect("the connection is open");
    assert_eq!(check.code, request::CHECK_TRANSACTION_STATE);
    let record::Entry::Message(shown) = record::decode(&check.body, false).unwrap() else {
        panic!("the check carries the half")
    };
    assert_eq!(shown.topic, "Tx", "the check shows the real topic");
    (
        check.field("tranStateTableOffset").unwrap().to_owned(),
        check.field("commitLogOffset").unwrap().to_owned(),
        shown.body.to_vec(),
    )
}

/// No back-check for `quiet` (longer than the timeout plus a few check intervals).
async fn no_check(checks: &mut UnboundedReceiver<RemotingCommand>, quiet: Duration) {
    let got = tokio::time::timeout(quiet, checks.recv()).await;
    assert!(got.is_err(), "no further back-check: {got:?}");
}

/// Tx holds exactly `body`, once: one message at offset 0 and nothing after it.
async fn delivered_once(c: &Connection, body: &[u8]) {
    let got = call(c, pull("Tx", 0, Duration::from_secs(5))).await;
    assert_eq!(only_message(&got).3, body, "delivered, once");
    let after = call(c, pull("Tx", 1, Duration::from_millis(1000))).await;
    assert_eq!(after.code, response::PULL_NOT_FOUND, "and not a second time");
}

#[test]
fn a_half_never_answered_is_moved_to_the_check_max_time_topic_and_never_delivered() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let settings = "transactionTimeOut=500\ntransactionCheckInterval=200\ntransactionCheckMax=2\n";
        let node = start(dir.path(), settings).await;
        let (p, mut checks) = client(node.broker_addr()).await;
        be_producer(&p).await;
        let (q, c) = half_position(&call(&p, half("never")).await);

        // Asked twice (transactionCheckMax), each time about a fresh copy; never answered.
        let (q1, _, body) = next_check(&mut checks, Duration::from_secs(10)).await;
        assert_eq!(body, b"never");
        let (q2, c2, body) = next_check(&mut checks, Duration::from_secs(10)).await;
        assert_eq!(body, b"never");
        assert!(
            q1.parse::<i64>().unwrap() < q2.parse::<i64>().unwrap(),
            "{q1} then {q2}"
        );

        // Then discarded into the reference's topic, registered, with its bookkeeping.
        let route = route_appears(node.namesrv_addr(), CHECK_MAX_TIME_TOPIC).await;
        let shape: Vec<_> = route
            .queue_datas
            .iter()
            .map(|q| (q.read_queue_nums, q.perm))
            .collect();
        assert_eq!(shape, [(1, 6)], "one queue, read and write");
        let parked = call(&p, pull(CHECK_MAX_TIME_TOPIC, 0, Duration::from_secs(5))).await;
        let (_, _, props, body) = only_message(&parked);
        assert_eq!(body, b"never");
        assert_eq!(properties::get(&props, "REAL_TOPIC"), Some("Tx"));
        assert_eq!(properties::get(&props, "TRANSACTION_CHECK_TIMES"), Some("2"));
        no_check(&mut checks, Duration::from_millis(1500)).await;

        // Never delivered, even when answers come after the discard (for the last copy asked
        // about, or for the original half).
        assert_eq!(
            call(&p, end(&q2, &c2, COMMIT, true)).await.code,
            response::SUCCESS
        );
        assert_eq!(call(&p, end(&q, &c, COMMIT, false)).await.code, response::SUCCESS);
        let none = call(&p, pull("Tx", 0, Duration::from_millis(1000))).await;
        assert_eq!(none.code, response::PULL_NOT_FOUND, "{:?}", none.remark);
        node.shutdown().await.unwrap();
    });
}

#[test]
fn an_open_half_survives_a_restart_and_is_committed_exactly_once() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let settings = "transactionTimeOut=2000\ntransactionCheckInterval=200\n";
    rt.block_on(async {
        // No producer is online before the restart, and the broker stops well within the
        // timeout: the half goes down unchecked.
        let node = start(dir.path(), settings).await;
        let (p, _) = client(node.broker_addr()).await;
        let (q, c) = half_position(&call(&p, half("survivor")).await);
        let hidden = call(&p, pull("Tx", 0, Duration::from_millis(300))).await;
        assert_eq!(hidden.code, response::PULL_NOT_FOUND, "the half is invisible");
        p.close();
        node.shutdown().await.unwrap();

        let node = start(dir.path(), settings).await;
        let (p, mut checks) = client(node.broker_addr()).await;
        be_producer(&p).await;
        let (cq, cc, body) = next_check(&mut checks, Duration::from_secs(10)).await;
        assert_eq!(body, b"survivor", "the half survived the restart");
        // The producer's own answer arrives late, naming the original half the check has
        // replaced, and its checker answers the check: one commit, not two.
        assert_eq!(call(&p, end(&q, &c, COMMIT, false)).await.code, response::SUCCESS);
        assert_eq!(
            call(&p, end(&cq, &cc, COMMIT, true)).await.code,
            response::SUCCESS
        );
        delivered_once(&p, b"survivor").await;
        no_check(&mut checks, Duration::from_millis(2500)).await;
        p.close();
        node.shutdown().await.unwrap();

        // After another restart the op records keep it finished: no check, and a repeated
        // answer commits nothing.
        let node = start(dir.path(), settings).await;
        let (p, mut checks) = client(node.broker_addr()).await;
        be_producer(&p).await;
        assert_eq!(
            call(&p, end(&cq, &cc, COMMIT, true)).await.code,
            response::SUCCESS
        );
        no_check(&mut checks, Duration::from_millis(2500)).await;
        delivered_once(&p, b"survivor").await;
        node.shutdown().await.unwrap();
    });
}
