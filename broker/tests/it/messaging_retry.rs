//! The reconsume budget of a consumer group when the consumer does not send its own: the
//! group's `retryMaxTimes`, as UPDATE_AND_CREATE_SUBSCRIPTIONGROUP set it, or 16 for a group
//! nobody configured. Send-backs here carry no `maxReconsumeTimes`, so only the group decides
//! whether a failed message is retried or dead-lettered; plain re-sends to the retry topic
//! without `l` (maxReconsumeTimes) follow the same budget. Retry and DLQ topics get the
//! reference's shape (the group's retry queues, one DLQ queue, read and write).

use std::time::Duration;

use apogee_broker::{
    namesrv::route_data::TopicRouteData,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::Connection,
    store::properties,
};

use crate::{
    broker::{call, client, route_appears},
    harness::runtime,
    messaging::{only_message, pull, send, start},
};

/// CONSUMER_SEND_MSG_BACK as a consumer sends it, without `maxReconsumeTimes`: the group's
/// budget applies. Delay level 0: the broker picks `3 + reconsumeTimes` (1 s in the test table).
fn send_back_without_max(group: &str, offset: i64) -> RemotingCommand {
    RemotingCommand::request(request::CONSUMER_SEND_MSG_BACK, 0)
        .with_field("offset", offset)
        .with_field("group", group)
        .with_field("delayLevel", 0)
        .with_field("originMsgId", "ORIGIN-1")
}

fn create_group(body: serde_json::Value) -> RemotingCommand {
    RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0)
        .with_body(serde_json::to_vec(&body).unwrap())
}

/// The message at `offset` of queue 0 of `topic`, waiting up to 4 s for it (retries are
/// delayed by a level): (physical offset, reconsume times, properties, body).
async fn message_at(c: &Connection, topic: &str, offset: i64) -> (i64, i32, String, Vec<u8>) {
    only_message(&call(c, pull(topic, offset, Duration::from_secs(4))).await)
}

/// Nothing at `offset` of queue 0 of `topic` (a short hold: what was due has arrived).
async fn nothing_at(c: &Connection, topic: &str, offset: i64) {
    let reply = call(c, pull(topic, offset, Duration::from_millis(300))).await;
    assert_eq!(
        reply.code,
        response::PULL_NOT_FOUND,
        "{topic} has nothing at {offset}: {:?}",
        reply.remark
    );
}

/// (read queues, write queues, perm) of the only broker serving `topic`.
fn shape(route: &TopicRouteData) -> (i32, i32, i32) {
    assert_eq!(route.queue_datas.len(), 1, "{route:?}");
    let q = &route.queue_datas[0];
    (q.read_queue_nums, q.write_queue_nums, q.perm)
}

#[test]
fn a_group_retry_max_times_set_by_admin_dead_letters_the_third_failure() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        let made = call(
            &c,
            create_group(serde_json::json!({"groupName": "Budget2", "retryMaxTimes": 2})),
        )
        .await;
        assert_eq!(made.code, response::SUCCESS, "{:?}", made.remark);
        let sent = call(&c, send("Orders", "b1", &[("TAGS", "TagA")], &[])).await;
        assert_eq!(sent.code, response::SUCCESS, "{:?}", sent.remark);
        let (mut offset, reconsumed, _, _) = message_at(&c, "Orders", 0).await;
        assert_eq!(reconsumed, 0);

        // Two failures are retried, each counted once more.
        for failure in 1..=2 {
            let back = call(&c, send_back_without_max("Budget2", offset)).await;
            assert_eq!(back.code, response::SUCCESS, "{:?}", back.remark);
            let (retried, reconsumed, props, body) = message_at(&c, "%RETRY%Budget2", failure - 1).await;
            assert_eq!((reconsumed, body.as_slice()), (failure as i32, &b"b1"[..]));
            assert_eq!(properties::get(&props, "RETRY_TOPIC"), Some("Orders"));
            offset = retried;
        }
        let retry_route = route_appears(node.namesrv_addr(), "%RETRY%Budget2").await;
        assert_eq!(
            shape(&retry_route),
            (1, 1, 6),
            "retryQueueNums queues, read and write"
        );

        // The third failure has used the group's budget of 2: dead letter, not delayed.
        let back = call(&c, send_back_without_max("Budget2", offset)).await;
        assert_eq!(back.code, response::SUCCESS, "{:?}", back.remark);
        let (_, reconsumed, props, body) = message_at(&c, "%DLQ%Budget2", 0).await;
        assert_eq!((reconsumed, body.as_slice()), (3, &b"b1"[..]));
        assert_eq!(properties::get(&props, "RETRY_TOPIC"), Some("Orders"));
        assert_eq!(properties::get(&props, "DELAY"), None);
        nothing_at(&c, "%RETRY%Budget2", 2).await;
        let dlq_route = route_appears(node.namesrv_addr(), "%DLQ%Budget2").await;
        assert_eq!(shape(&dlq_route), (1, 1, 6), "one DLQ queue, read and write");

        // A consumer's own re-send without `l` follows the same budget: 2 stays, 3 is past it.
        let within = send("%RETRY%Budget2", "b2", &[], &[("j", "2")]);
        assert_eq!(call(&c, within).await.code, response::SUCCESS);
        assert_eq!(message_at(&c, "%RETRY%Budget2", 2).await.3, b"b2");
        let past = send("%RETRY%Budget2", "b3", &[], &[("j", "3")]);
        assert_eq!(call(&c, past).await.code, response::SUCCESS);
        assert_eq!(message_at(&c, "%DLQ%Budget2", 1).await.3, b"b3");
        node.shutdown().await.unwrap();
    });
}

/// Sixteen real round trips would take minutes of delay levels, so the message starts with a
/// reconsume count of 15, as a consumer's own re-send to the retry topic sets it (`j`). What
/// this proves is the boundary of the unconfigured group's budget: reconsume 15 is retried,
/// 16 is dead-lettered (and a re-send with 16 is kept, 17 is not).
#[test]
fn an_unconfigured_group_dead_letters_after_sixteen_reconsumes() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        let fifteen = send("%RETRY%Fresh", "f1", &[], &[("j", "15")]);
        let sent = call(&c, fifteen).await;
        assert_eq!(sent.code, response::SUCCESS, "{:?}", sent.remark);
        let (offset, reconsumed, _, _) = message_at(&c, "%RETRY%Fresh", 0).await;
        assert_eq!(reconsumed, 15, "within the default budget: not redirected");

        // Failure 16: still a retry (the delay level 18 clamps to the table's last, 1 s).
        let back = call(&c, send_back_without_max("Fresh", offset)).await;
        assert_eq!(back.code, response::SUCCESS, "{:?}", back.remark);
        let (offset, reconsumed, _, _) = message_at(&c, "%RETRY%Fresh", 1).await;
        assert_eq!(reconsumed, 16);
        let dlq_yet = call(&c, pull("%DLQ%Fresh", 0, Duration::ZERO)).await;
        assert_eq!(
            dlq_yet.code,
            response::TOPIC_NOT_EXIST,
            "nothing dead-lettered yet"
        );

        // Failure 17: the sixteen reconsumes are used up.
        let back = call(&c, send_back_without_max("Fresh", offset)).await;
        assert_eq!(back.code, response::SUCCESS, "{:?}", back.remark);
        let (_, reconsumed, _, body) = message_at(&c, "%DLQ%Fresh", 0).await;
        assert_eq!((reconsumed, body.as_slice()), (17, &b"f1"[..]));
        nothing_at(&c, "%RETRY%Fresh", 2).await;

        // The same budget on the re-send path: 16 is kept, 17 is past it.
        let kept = send("%RETRY%Fresh", "f2", &[], &[("j", "16")]);
        assert_eq!(call(&c, kept).await.code, response::SUCCESS);
        assert_eq!(message_at(&c, "%RETRY%Fresh", 2).await.3, b"f2");
        let past = send("%RETRY%Fresh", "f3", &[], &[("j", "17")]);
        assert_eq!(call(&c, past).await.code, response::SUCCESS);
        assert_eq!(message_at(&c, "%DLQ%Fresh", 1).await.3, b"f3");
        node.shutdown().await.unwrap();
    });
}
