//! The send path over a real store and topic table: both header namings, batches, TBW102
//! auto-creation, and each refusal with the reference's code.

use std::net::SocketAddr;

use apogee_broker::{
    broker::{
        send::{self, SendSettings},
        topics::{AUTO_CREATE_TOPIC, TopicTable},
    },
    protocol::{RemotingCommand, code::request, code::response},
    store::{MessageStore, properties, query},
};

use crate::harness::{runtime, settle, small_config};

fn v2(topic: &str, queue: i32, props: &str, body: &[u8]) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::SEND_MESSAGE_V2, 1);
    for (k, v) in [
        ("a", "PG"),
        ("b", topic),
        ("c", AUTO_CREATE_TOPIC),
        ("d", "4"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
    ] {
        req = req.with_field(k, v);
    }
    req.with_field("e", queue)
        .with_field("i", props)
        .with_body(body.to_vec())
}

fn batch_entry(body: &[u8], props: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((22 + body.len() + props.len()) as i32).to_be_bytes());
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&(props.len() as i16).to_be_bytes());
    out.extend_from_slice(props.as_bytes());
    out
}

#[test]
fn sends_are_stored_answered_and_refused_like_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let table = TopicTable::load(dir.path().join("config/topics.json"), "C", "broker-a", true, 8).unwrap();
    let store_host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let settings = SendSettings {
        store_host,
        auto_create_topic: true,
        region_id: "DefaultRegion".into(),
        trace_on: true,
        delay_levels: 18,
    };
    let born: SocketAddr = "127.0.0.9:50000".parse().unwrap();
    let rt = runtime();
    let send = |req: RemotingCommand| rt.block_on(send::handle(&req, born, &store, &table, &settings));

    // Unknown topic: auto-created from TBW102 with the client's 4 queues.
    let (reply, created) = send(v2("Orders", 1, "TAGS\u{1}A\u{2}UNIQ_KEY\u{1}U1\u{2}", b"hello"));
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    assert!(created);
    assert_eq!(table.get("Orders").unwrap().write_queue_nums, 4);
    assert_eq!(table.get("Orders").unwrap().perm, 6, "inherit bit dropped");
    assert_eq!(
        (reply.field("queueId"), reply.field("queueOffset")),
        (Some("1"), Some("0"))
    );
    assert_eq!(
        (reply.field("MSG_REGION"), reply.field("TRACE_ON")),
        (Some("DefaultRegion"), Some("true"))
    );
    assert_eq!(reply.field("transactionId"), Some("U1"));
    let msg_id = reply.field("msgId").unwrap();
    assert_eq!(msg_id.len(), 32);
    let offset = u64::from_str_radix(&msg_id[16..], 16).unwrap();
    let stored = store.message_at(offset).unwrap();
    let view = query::view(&stored).unwrap();
    assert_eq!(
        (view.topic, view.body, view.born_host),
        ("Orders", &b"hello"[..], born)
    );
    assert_eq!(properties::get(view.properties, "TAGS"), Some("A"));

    // Batch: consecutive queue offsets, comma-joined ids.
    let mut body = batch_entry(b"b1", "UNIQ_KEY\u{1}B1\u{2}");
    body.extend(batch_entry(b"b2", "UNIQ_KEY\u{1}B2\u{2}"));
    let mut batch = v2("Orders", 1, "", &body);
    batch.code = request::SEND_BATCH_MESSAGE;
    let (reply, _) = send(batch);
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    assert_eq!(reply.field("queueOffset"), Some("1"));
    assert_eq!(reply.field("msgId").unwrap().split(',').count(), 2);
    settle(&store);
    assert_eq!(store.max_offset("Orders", 1), 3);

    // Refusals.
    let code = |req| send(req).0.code;
    assert_eq!(
        code(v2("Orders", 4, "", b"x")),
        response::INVALID_PARAMETER,
        "queue id out of range"
    );
    assert_eq!(code(v2("bad/topic", 0, "", b"x")), response::INVALID_PARAMETER);
    // A delay level parks the message in the schedule topic's queue for that level.
    assert_eq!(code(v2("Orders", 0, "DELAY\u{1}3\u{2}", b"x")), response::SUCCESS);
    settle(&store);
    assert_eq!(store.max_offset("SCHEDULE_TOPIC_XXXX", 2), 1);
    let mut missing = v2("Orders", 0, "", b"x");
    missing.ext_fields.remove("g");
    let reply = send(missing).0;
    assert_eq!(
        (reply.code, reply.remark.as_deref()),
        (response::SYSTEM_ERROR, Some("the custom field <g> is null"))
    );
    let too_big = v2("Orders", 0, "", &vec![0u8; 20 * 1024]);
    assert_eq!(code(too_big), response::MESSAGE_ILLEGAL);
    let strict = SendSettings {
        auto_create_topic: false,
        ..settings.clone()
    };
    let (reply, _) = rt.block_on(send::handle(
        &v2("Fresh", 0, "", b"x"),
        born,
        &store,
        &table,
        &strict,
    ));
    assert_eq!(reply.code, response::TOPIC_NOT_EXIST);
    assert_eq!(
        reply.remark.as_deref(),
        Some("topic[Fresh] not exist, apply first please!")
    );
}
