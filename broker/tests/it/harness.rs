//! Helpers shared by the integration tests.

use std::path::Path;

use apogee_broker::store::{MessageStore, NewMessage, SegmentSlice, StoreConfig, properties, query};

/// A message whose body encodes `(topic, queue, seq)` so reads can be checked exactly.
pub fn message(topic: &str, queue_id: i32, seq: u64, body_len: usize, tag: Option<&str>) -> NewMessage {
    let mut body = format!("{topic}/{queue_id}/{seq}/").into_bytes();
    body.resize(body_len.max(body.len()), b'x');
    let seq_key = format!("seq-{seq}");
    let uniq = format!("U{topic}{queue_id}-{seq}");
    let mut pairs = vec![("KEYS", seq_key.as_str()), ("UNIQ_KEY", uniq.as_str())];
    if let Some(tag) = tag {
        pairs.push(("TAGS", tag));
    }
    let mut msg = NewMessage::new(topic, queue_id, body, properties::encode(pairs));
    msg.born_timestamp = 1_700_000_000_000 + seq as i64;
    msg
}

/// The `(topic, queue, seq)` a body was built from.
pub fn parse_body(body: &[u8]) -> (String, i32, u64) {
    let text = String::from_utf8_lossy(body);
    let mut parts = text.splitn(4, '/');
    let topic = parts.next().unwrap_or_default().to_owned();
    let queue = parts.next().and_then(|q| q.parse().ok()).unwrap_or(-1);
    let seq = parts.next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    (topic, queue, seq)
}

/// Small files so tests cross segment and queue-file boundaries.
pub fn small_config(dir: &Path) -> StoreConfig {
    StoreConfig::small(dir)
}

/// Every sequence number readable from a queue, in queue order, checking each record's queue
/// offset matches its position.
pub fn read_all(store: &MessageStore, topic: &str, queue_id: i32) -> Vec<u64> {
    let mut out = Vec::new();
    let mut offset = store.min_offset(topic, queue_id);
    loop {
        let got = store.get_messages(topic, queue_id, offset, 32, usize::MAX, None);
        if got.messages.is_empty() {
            break;
        }
        for (slice, logical) in got.messages.iter().zip(&got.queue_offsets) {
            let view = query::view(slice).expect("stored record decodes");
            assert_eq!(
                view.queue_offset, *logical,
                "record's queue offset matches its queue slot"
            );
            let (t, q, seq) = parse_body(view.body);
            assert_eq!(
                (t.as_str(), q),
                (topic, queue_id),
                "record belongs to the queue it was read from"
            );
            out.push(seq);
        }
        offset = got.next_offset;
    }
    out
}

/// Decodes a returned record's body.
pub fn body(slice: &SegmentSlice) -> Vec<u8> {
    query::view(slice).expect("record decodes").body.to_vec()
}

/// A current-thread runtime for driving the async API from a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Waits until dispatch has caught up with everything written (queues and index built).
pub fn settle(store: &MessageStore) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.dispatched_offset() < store.max_physical_offset() {
        assert!(
            std::time::Instant::now() < deadline,
            "dispatch did not catch up within 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}
