//! One bad client never hurts another: while a producer keeps sending, other clients send an
//! oversized frame, an undecodable header, invalid names and incomplete requests, and one stops
//! reading its answers. Each gets its answer code or its own connection closed; the producer is
//! served throughout and everything it was told is stored can be read back.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use apogee_broker::{
    config::FixedEnv,
    protocol::{RemotingCommand, SerializeType, code::request, code::response, frame},
    standalone::{Standalone, StandaloneOptions},
};
use bytes::BytesMut;

use crate::{
    broker::{call, client, heartbeat},
    harness::runtime,
};

fn send(key: &str) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::SEND_MESSAGE, 0);
    for (k, v) in [
        ("producerGroup", "PG"),
        ("topic", "Steady"),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "1"),
        ("queueId", "0"),
        ("sysFlag", "0"),
        ("bornTimestamp", "1"),
        ("flag", "0"),
        ("properties", &format!("KEYS\u{1}{key}\u{2}")),
    ] {
        req = req.with_field(k, v);
    }
    req.with_body(key.as_bytes().to_vec())
}

/// Whether the broker closes a raw connection that sent `bytes` (EOF within 5 s).
fn closed_after(addr: SocketAddr, bytes: &[u8]) -> bool {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(bytes).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        // A timeout means the connection is still open; a reset means it was closed.
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn pull(group: &str) -> RemotingCommand {
    RemotingCommand::request(request::PULL_MESSAGE, 0)
        .with_field("consumerGroup", group)
        .with_field("topic", "Steady")
        .with_field("queueId", 0)
        .with_field("queueOffset", 0)
        .with_field("maxMsgNums", 32)
        .with_field("sysFlag", 4)
        .with_field("commitOffset", 0)
        .with_field("suspendTimeoutMillis", 0)
        .with_field("subscription", "*")
}

#[test]
fn bad_clients_get_answers_or_lose_only_their_own_connection() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties = "mappedFileSizeCommitLog=16777216\n".into();
        let node = Standalone::start(options, &env).await.unwrap();
        let addr = node.broker_addr();
        let (producer, _rx) = client(addr).await;
        assert_eq!(call(&producer, send("k-first")).await.code, response::SUCCESS);
        // The steady producer runs until the bad clients are done, recording when each send was
        // answered.
        let bad_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let steady = {
            let producer = producer.clone();
            let bad_done = bad_done.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut seq = 0;
                while !bad_done.load(std::sync::atomic::Ordering::Acquire) {
                    let key = format!("k{seq}");
                    let reply = call(&producer, send(&key)).await;
                    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
                    acked.push((key, Instant::now()));
                    seq += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                acked
            })
        };
        let bad = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            // An oversized frame (2 GiB announced) and an undecodable header: connection closed.
            assert!(
                closed_after(addr, &0x7fff_ffffu32.to_be_bytes()),
                "oversized frame"
            );
            let mut junk = Vec::new();
            junk.extend_from_slice(&12u32.to_be_bytes());
            junk.extend_from_slice(&4u32.to_be_bytes());
            junk.extend_from_slice(b"{{{{\0\0\0\0");
            assert!(closed_after(addr, &junk), "undecodable header");
            // A client that sends requests and never reads the answers (each a whole runtime
            // info page) until the broker gives up on it.
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut buf = BytesMut::new();
            let mut closed = false;
            for i in 0..200_000 {
                buf.clear();
                frame::encode(
                    &RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO, i),
                    SerializeType::Json,
                    &mut buf,
                );
                if stream.write_all(&buf).is_err() {
                    closed = true;
                    break;
                }
            }
            assert!(closed, "a client that never reads is disconnected");
            (started, Instant::now())
        });

        // Answers with codes, the connection kept.
        let (c, _crx) = client(addr).await;
        assert_eq!(
            call(&c, pull("bad group!")).await.code,
            response::INVALID_PARAMETER
        );
        assert_eq!(
            call(&c, pull(&"g".repeat(200))).await.code,
            response::INVALID_PARAMETER
        );
        let incomplete = RemotingCommand::request(request::PULL_MESSAGE, 0).with_field("consumerGroup", "G");
        assert_eq!(call(&c, incomplete).await.code, response::SYSTEM_ERROR);
        assert_eq!(
            call(&c, send("x").with_field("topic", "bad/topic")).await.code,
            response::INVALID_PARAMETER
        );
        assert_eq!(
            call(&c, RemotingCommand::request(4242, 0)).await.code,
            response::REQUEST_CODE_NOT_SUPPORTED
        );
        // A heartbeat naming an invalid group is accepted, the group ignored.
        assert_eq!(
            call(&c, heartbeat("c@1", "bad group!", "Steady")).await.code,
            response::SUCCESS
        );
        let ids = call(
            &c,
            RemotingCommand::request(request::GET_CONSUMER_LIST_BY_GROUP, 0)
                .with_field("consumerGroup", "bad group!"),
        )
        .await;
        assert_eq!(ids.code, response::SYSTEM_ERROR, "no such group was created");

        let (bad_from, bad_until) = tokio::time::timeout(Duration::from_secs(60), bad)
            .await
            .expect("bad clients done")
            .unwrap();
        bad_done.store(true, std::sync::atomic::Ordering::Release);
        let answered = steady.await.unwrap();
        let during = answered
            .iter()
            .filter(|(_, at)| *at > bad_from && *at < bad_until)
            .count();
        // The non-reading client alone takes the broker's 3 s write timeout to be dropped.
        assert!(
            during >= 5,
            "the producer was served while the bad clients ran: {during} sends in {:?}",
            bad_until - bad_from
        );
        let mut acked: Vec<String> = answered.into_iter().map(|(k, _)| k).collect();
        acked.insert(0, "k-first".into());

        // Everything acknowledged is stored.
        let ctx = node.broker().context().clone();
        let deadline = Instant::now() + Duration::from_secs(5);
        while ctx.store.max_offset("Steady", 0) < acked.len() as i64 {
            assert!(Instant::now() < deadline, "dispatch caught up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut stored = Vec::new();
        let mut offset = 0;
        loop {
            let got = ctx.store.get_messages("Steady", 0, offset, 32, usize::MAX, None);
            if got.messages.is_empty() {
                break;
            }
            for m in &got.messages {
                stored.push(
                    String::from_utf8(apogee_broker::store::query::view(m).unwrap().body.to_vec()).unwrap(),
                );
            }
            offset = got.next_offset;
        }
        assert_eq!(stored, acked);
        node.shutdown().await.unwrap();
    });
}
