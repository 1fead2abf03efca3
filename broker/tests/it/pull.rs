//! The pull path and offset requests over a real store: TAG filtering, long polling woken by a
//! send, the reference's status codes, commit offsets, and the no-subscription refusal.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use apogee_broker::{
    broker::{
        client_data::SubscriptionData,
        clients::GroupSubscription,
        consumer_offsets::ConsumerOffsets,
        pull::{self, PullContext, flag},
        send::{self, SendSettings},
        topics::{AUTO_CREATE_TOPIC, TopicTable},
    },
    protocol::{RemotingCommand, code::request, code::response},
    store::{MessageStore, record},
};

use crate::harness::{runtime, small_config};

struct Broker {
    store: MessageStore,
    topics: TopicTable,
    offsets: ConsumerOffsets,
    settings: SendSettings,
}

impl Broker {
    fn ctx(&self) -> PullContext<'_> {
        PullContext {
            store: &self.store,
            topics: &self.topics,
            offsets: &self.offsets,
            max_suspend: Duration::from_secs(15),
            consume_broadcast_enable: true,
        }
    }

    async fn send(&self, tag: &str, body: &str) -> RemotingCommand {
        let mut req = RemotingCommand::request(request::SEND_MESSAGE_V2, 1);
        for (k, v) in [
            ("a", "PG"),
            ("b", "Pulled"),
            ("c", AUTO_CREATE_TOPIC),
            ("d", "1"),
            ("e", "0"),
            ("f", "0"),
            ("g", "1"),
            ("h", "0"),
        ] {
            req = req.with_field(k, v);
        }
        let req = req
            .with_field("i", format!("TAGS\u{1}{tag}\u{2}"))
            .with_body(body.as_bytes().to_vec());
        send::handle(
            &req,
            "127.0.0.9:1".parse().unwrap(),
            &self.store,
            &self.topics,
            &self.settings,
        )
        .await
        .0
    }
}

fn pull_req(offset: i64, sys_flag: i32, subscription: &str, suspend_ms: u64) -> RemotingCommand {
    RemotingCommand::request(request::PULL_MESSAGE, 2)
        .with_field("consumerGroup", "CG")
        .with_field("topic", "Pulled")
        .with_field("queueId", 0)
        .with_field("queueOffset", offset)
        .with_field("maxMsgNums", 32)
        .with_field("sysFlag", sys_flag)
        .with_field("commitOffset", 3)
        .with_field("suspendTimeoutMillis", suspend_ms)
        .with_field("subscription", subscription)
        .with_field("subVersion", 1)
}

/// Bodies of the concatenated records of a pull response.
fn bodies(reply: &RemotingCommand) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = &reply.body[..];
    while !rest.is_empty() {
        let record::Entry::Message(view) = record::decode(rest, true).unwrap() else {
            panic!("not a record")
        };
        out.push(String::from_utf8(view.body.to_vec()).unwrap());
        rest = &rest[view.total_size..];
    }
    out
}

fn no_heartbeat(_: &str, _: &str) -> Option<GroupSubscription> {
    None
}

#[test]
fn pulls_filter_hold_and_answer_with_reference_codes() {
    let dir = tempfile::tempdir().unwrap();
    let store_host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let broker = Arc::new(Broker {
        store: MessageStore::open(small_config(dir.path())).unwrap(),
        topics: TopicTable::load(dir.path().join("config/topics.json"), "C", "b", true, 8).unwrap(),
        offsets: ConsumerOffsets::load(dir.path().join("config/consumerOffset.json")).unwrap(),
        settings: SendSettings {
            store_host,
            auto_create_topic: true,
            region_id: "R".into(),
            trace_on: false,
            delay_levels: 18,
        },
    });
    let rt = runtime();
    rt.block_on(async {
        for i in 0..6 {
            let reply = broker
                .send(if i % 2 == 0 { "TagA" } else { "TagB" }, &format!("m{i}"))
                .await;
            assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        }
        broker
            .store
            .wait_for_message("Pulled", 0, 5, Duration::from_secs(5))
            .await;
        let subscribed = flag::SUBSCRIPTION | flag::COMMIT_OFFSET;

        let reply = pull::handle(&pull_req(0, subscribed, "TagA", 0), broker.ctx(), no_heartbeat).await;
        assert_eq!(reply.code, response::SUCCESS);
        assert_eq!(bodies(&reply), vec!["m0", "m2", "m4"]);
        assert_eq!(reply.field("nextBeginOffset"), Some("6"));
        assert_eq!(
            (reply.field("minOffset"), reply.field("maxOffset")),
            (Some("0"), Some("6"))
        );
        assert_eq!(reply.remark.as_deref(), Some("FOUND"));
        assert_eq!(
            broker.offsets.query("CG", "Pulled", 0),
            Some(3),
            "commit offset recorded"
        );

        let reply = pull::handle(
            &pull_req(1, flag::SUBSCRIPTION, "TagC", 0),
            broker.ctx(),
            no_heartbeat,
        )
        .await;
        assert_eq!(
            (reply.code, reply.field("nextBeginOffset")),
            (response::PULL_RETRY_IMMEDIATELY, Some("6"))
        );

        let reply = pull::handle(
            &pull_req(9, flag::SUBSCRIPTION, "*", 0),
            broker.ctx(),
            no_heartbeat,
        )
        .await;
        assert_eq!(
            (reply.code, reply.field("nextBeginOffset")),
            (response::PULL_OFFSET_MOVED, Some("6"))
        );

        let reply = pull::handle(&pull_req(0, 0, "", 0), broker.ctx(), no_heartbeat).await;
        assert_eq!(
            reply.code,
            response::SUBSCRIPTION_NOT_EXIST,
            "no subscription and no heartbeat yet"
        );
        let from_heartbeat = |_: &str, topic: &str| {
            Some(GroupSubscription {
                broadcasting: false,
                subscription: Some(SubscriptionData {
                    topic: topic.to_owned(),
                    sub_string: "TagB".to_owned(),
                    ..SubscriptionData::default()
                }),
            })
        };
        let reply = pull::handle(&pull_req(0, 0, "", 0), broker.ctx(), from_heartbeat).await;
        assert_eq!(bodies(&reply), vec!["m1", "m3", "m5"]);

        // Nothing new at offset 6: held, then answered with the message sent meanwhile.
        let held = {
            let broker = broker.clone();
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                let req = pull_req(6, flag::SUBSCRIPTION | flag::SUSPEND, "*", 10_000);
                (
                    pull::handle(&req, broker.ctx(), no_heartbeat).await,
                    started.elapsed(),
                )
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!held.is_finished(), "the pull is parked");
        broker.send("TagA", "late").await;
        let (reply, waited) = held.await.unwrap();
        assert_eq!(
            (reply.code, bodies(&reply)),
            (response::SUCCESS, vec!["late".to_string()])
        );
        assert!(
            waited < Duration::from_secs(10),
            "woken by the send, not the timeout ({waited:?})"
        );

        // Nothing arrives: the hold ends at its timeout with PULL_NOT_FOUND.
        let reply = pull::handle(
            &pull_req(7, flag::SUBSCRIPTION | flag::SUSPEND, "*", 300),
            broker.ctx(),
            no_heartbeat,
        )
        .await;
        assert_eq!(
            (reply.code, reply.field("nextBeginOffset")),
            (response::PULL_NOT_FOUND, Some("7"))
        );
    });
}

#[test]
fn offset_requests_follow_the_reference() {
    use apogee_broker::broker::offsets;
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let offsets_table = ConsumerOffsets::load(dir.path().join("config/consumerOffset.json")).unwrap();
    let rt = runtime();
    let mut appended = Vec::new();
    for seq in 0..5u64 {
        let r = rt
            .block_on(store.put(crate::harness::message("Off", 0, seq, 10, None)))
            .unwrap();
        appended.push(r.appended[0]);
        std::thread::sleep(Duration::from_millis(5));
    }
    rt.block_on(store.wait_for_message("Off", 0, 4, Duration::from_secs(5)));
    let ask = |code: i32, fields: &[(&str, String)]| {
        let mut req = RemotingCommand::request(code, 1)
            .with_field("topic", "Off")
            .with_field("queueId", 0);
        for (k, v) in fields {
            req = req.with_field(*k, v);
        }
        offsets::handle(&req, &store, &offsets_table).expect("an offset request")
    };
    let group = ("consumerGroup", "CG".to_string());
    let fresh = ask(request::QUERY_CONSUMER_OFFSET, std::slice::from_ref(&group));
    assert_eq!(
        (fresh.code, fresh.field("offset")),
        (response::SUCCESS, Some("0")),
        "hot first message: 0"
    );
    let strict = ask(
        request::QUERY_CONSUMER_OFFSET,
        &[group.clone(), ("setZeroIfNotFound", "false".into())],
    );
    assert_eq!(
        strict.code,
        response::QUERY_NOT_FOUND,
        "22, never 1, for no offset"
    );
    let empty_queue = offsets::handle(
        &RemotingCommand::request(request::QUERY_CONSUMER_OFFSET, 1)
            .with_field("topic", "Off")
            .with_field("queueId", 3)
            .with_field("consumerGroup", "CG"),
        &store,
        &offsets_table,
    )
    .unwrap();
    assert_eq!(empty_queue.code, response::QUERY_NOT_FOUND);
    let update = ask(
        request::UPDATE_CONSUMER_OFFSET,
        &[group.clone(), ("commitOffset", "3".into())],
    );
    assert_eq!(update.code, response::SUCCESS);
    assert_eq!(
        ask(request::QUERY_CONSUMER_OFFSET, &[group]).field("offset"),
        Some("3")
    );
    assert_eq!(ask(request::GET_MAX_OFFSET, &[]).field("offset"), Some("5"));
    assert_eq!(ask(request::GET_MIN_OFFSET, &[]).field("offset"), Some("0"));
    let earliest = ask(request::GET_EARLIEST_MSG_STORETIME, &[]);
    assert_eq!(
        earliest.field("timestamp"),
        Some(appended[0].store_timestamp.to_string().as_str())
    );
    let by_time = ask(
        request::SEARCH_OFFSET_BY_TIMESTAMP,
        &[("timestamp", appended[2].store_timestamp.to_string())],
    );
    assert_eq!(by_time.field("offset"), Some("2"));
    let missing = ask(request::SEARCH_OFFSET_BY_TIMESTAMP, &[]);
    assert_eq!(
        missing.remark.as_deref(),
        Some("the custom field <timestamp> is null")
    );
    assert!(
        offsets::handle(
            &RemotingCommand::request(request::PULL_MESSAGE, 1),
            &store,
            &offsets_table
        )
        .is_none()
    );
}
