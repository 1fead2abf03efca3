//! Subscription-group settings on the pull path, as the reference enforces them:
//! `consumeEnable=false` refuses every pull of the group (NO_PERMISSION, forbiddenType 2)
//! before anything else is looked at; `consumeBroadcastEnable=false` refuses the pulls that
//! rely on a broadcasting group's heartbeats (NO_PERMISSION, forbiddenType 4), while pulls that
//! post their own subscription are not checked for it.

use apogee_broker::protocol::{RemotingCommand, code::request, code::response};

use crate::{
    broker::{call, client},
    harness::runtime,
    messaging::{send, start},
};

fn update_group(body: serde_json::Value) -> RemotingCommand {
    RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0)
        .with_body(serde_json::to_vec(&body).unwrap())
}

/// A pull of queue 0 from offset 0, held up to 3 s (the message sent just before may not be in
/// its queue yet). `posted`: with its own subscription (`*`, the SUBSCRIPTION flag, as
/// lite-pull consumers send); otherwise the heartbeat's applies (push consumers by default).
fn pull(group: &str, topic: &str, posted: bool) -> RemotingCommand {
    let req = RemotingCommand::request(request::PULL_MESSAGE, 0)
        .with_field("consumerGroup", group)
        .with_field("topic", topic)
        .with_field("queueId", 0)
        .with_field("queueOffset", 0)
        .with_field("maxMsgNums", 32)
        .with_field("sysFlag", if posted { 2 | 4 } else { 2 })
        .with_field("commitOffset", 0)
        .with_field("suspendTimeoutMillis", 3000)
        .with_field("subVersion", 0);
    if posted {
        req.with_field("subscription", "*")
    } else {
        req
    }
}

fn heartbeat(group: &str, topic: &str, model: &str) -> RemotingCommand {
    let body = serde_json::json!({
        "clientID": format!("c@{group}"),
        "consumerDataSet": [{
            "groupName": group, "consumeType": "CONSUME_PASSIVELY", "messageModel": model,
            "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "unitMode": false,
            "subscriptionDataSet": [{"topic": topic, "subString": "*", "tagsSet": [],
                "codeSet": [], "subVersion": 1, "expressionType": "TAG", "classFilterMode": false}]
        }]
    });
    RemotingCommand::request(request::HEART_BEAT, 0).with_body(serde_json::to_vec(&body).unwrap())
}

fn assert_refused(reply: &RemotingCommand, remark: &str, forbidden_type: &str) {
    assert_eq!(reply.code, response::NO_PERMISSION, "{:?}", reply.remark);
    assert_eq!(reply.remark.as_deref(), Some(remark));
    assert_eq!(reply.field("forbiddenType"), Some(forbidden_type));
}

#[test]
fn a_group_with_consume_disabled_is_refused_every_pull() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        assert_eq!(
            call(&c, send("Guarded", "g1", &[], &[])).await.code,
            response::SUCCESS
        );
        let off = update_group(serde_json::json!({"groupName": "Off", "consumeEnable": false}));
        assert_eq!(call(&c, off).await.code, response::SUCCESS);
        assert_eq!(
            call(&c, heartbeat("Off", "Guarded", "CLUSTERING")).await.code,
            response::SUCCESS
        );
        let refusal = "subscription group no permission, Off";
        for posted in [true, false] {
            let reply = call(&c, pull("Off", "Guarded", posted)).await;
            assert_refused(&reply, refusal, "2");
        }
        // Checked before the topic, as in the reference: a missing topic is not reported.
        let reply = call(&c, pull("Off", "NoSuchTopic", true)).await;
        assert_refused(&reply, refusal, "2");

        // The setting is what refused: enabled again, the same pulls are served.
        let on = update_group(serde_json::json!({"groupName": "Off", "consumeEnable": true}));
        assert_eq!(call(&c, on).await.code, response::SUCCESS);
        for posted in [true, false] {
            let reply = call(&c, pull("Off", "Guarded", posted)).await;
            assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
            assert_eq!(reply.field("forbiddenType"), None);
        }
        node.shutdown().await.unwrap();
    });
}

#[test]
fn broadcasting_is_refused_where_the_group_forbids_it() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let node = start(dir.path()).await;
        let (c, _rx) = client(node.broker_addr()).await;
        assert_eq!(
            call(&c, send("Fanout", "f1", &[], &[])).await.code,
            response::SUCCESS
        );
        let no_broadcast = serde_json::json!({"groupName": "NoBcast", "consumeBroadcastEnable": false});
        assert_eq!(call(&c, update_group(no_broadcast)).await.code, response::SUCCESS);

        // Offline, the group is unknown to the heartbeat path whatever its settings.
        let reply = call(&c, pull("NoBcast", "Fanout", false)).await;
        assert_eq!(reply.code, response::SUBSCRIPTION_NOT_EXIST, "{:?}", reply.remark);

        let (b, _brx) = client(node.broker_addr()).await;
        let hb = call(&b, heartbeat("NoBcast", "Fanout", "BROADCASTING")).await;
        assert_eq!(hb.code, response::SUCCESS);
        let reply = call(&b, pull("NoBcast", "Fanout", false)).await;
        assert_refused(
            &reply,
            "the consumer group[NoBcast] can not consume by broadcast way",
            "4",
        );
        // A pull posting its own subscription is not checked for the mode, as in the reference.
        let reply = call(&b, pull("NoBcast", "Fanout", true)).await;
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);

        // The same group clustering is served; so is a broadcasting group that may broadcast.
        let hb = call(&b, heartbeat("NoBcast", "Fanout", "CLUSTERING")).await;
        assert_eq!(hb.code, response::SUCCESS);
        let reply = call(&b, pull("NoBcast", "Fanout", false)).await;
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        let hb = call(&b, heartbeat("Bcast", "Fanout", "BROADCASTING")).await;
        assert_eq!(hb.code, response::SUCCESS);
        let reply = call(&b, pull("Bcast", "Fanout", false)).await;
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        node.shutdown().await.unwrap();
    });
}
