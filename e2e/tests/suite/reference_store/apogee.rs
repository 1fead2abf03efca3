//! Apogee's side: the file dimensions both stores use, the messages our writer stores, and reading
//! a whole topic back through `MessageStore`.

use std::{
    cell::RefCell,
    net::SocketAddr,
    path::Path,
    time::{Duration, SystemTime},
};

use apogee_broker::store::{
    MessageStore, NewMessage, StoreConfig, index::MAX_QUERY_RESULTS, properties, query,
};

use super::record::Record;

/// Topic our writer uses.
pub const TOPIC: &str = "ApogeeCompat";
/// Queues our writer spreads the topic over.
pub const QUEUES: i32 = 4;
/// Messages our writer stores: about 600 KB, so the log spans about ten segments.
pub const COUNT: u64 = 600;

/// Small files, so both stores cross CommitLog segment, consume-queue file and index file
/// boundaries. The reference accepts any segment size; consume-queue files must hold whole
/// 20-byte entries; each index file takes 1000 keys (each message adds three or four).
pub fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        commit_log_segment_size: 64 * 1024,
        consume_queue_file_size: 50 * 20,
        max_hash_slot_num: 64,
        max_index_num: 1000,
        max_message_size: 16 * 1024,
        flush_interval: Duration::from_millis(20),
        flush_consume_queue_interval: Duration::from_millis(50),
        ..StoreConfig::new(dir)
    }
}

fn queue_of(seq: u64) -> i32 {
    // Runs of three consecutive messages share a queue, so some can go as one batch.
    ((seq / 3) % QUEUES as u64) as i32
}

/// Message `seq`: the body names queue and sequence and is padded to 60..1959 bytes (some with
/// two-byte characters); most carry a tag; every message has a unique key, a group key
/// (`grp-<seq % 13>`, at most 47 messages each so one lookup returns them all) and a client-style
/// UNIQ_KEY; a few have a key outside the BMP, whose Java hash is over UTF-16 surrogates; every
/// fifth is born on an IPv6 address, which moves the store timestamp in the record.
fn message(seq: u64, now_ms: i64) -> NewMessage {
    let queue_id = queue_of(seq);
    let mut body = format!("apogee/{queue_id}/{seq}/");
    let pad = if seq.is_multiple_of(50) { 'é' } else { 'a' };
    while body.len() < 60 + (seq as usize * 131) % 1900 {
        body.push(pad);
    }
    let tag = format!("Tag{}", seq % 3);
    let mut keys = format!("ok-{seq} grp-{}", seq % 13);
    if seq % 50 == 7 {
        keys.push_str(&format!(" ключ🔑-{seq}"));
    }
    let uniq = format!("7F000001{seq:024X}");
    let mut pairs = vec![
        (properties::keys::KEYS, keys.as_str()),
        (properties::keys::UNIQ_KEY, uniq.as_str()),
        ("origin", "apogee"),
    ];
    if seq % 10 != 9 {
        pairs.push((properties::keys::TAGS, tag.as_str()));
    }
    let mut msg = NewMessage::new(TOPIC, queue_id, body.into_bytes(), properties::encode(pairs));
    msg.flag = (seq % 4) as i32;
    msg.born_timestamp = now_ms - (COUNT - seq) as i64;
    let port = 40_000 + queue_id as u16;
    msg.born_host = if seq.is_multiple_of(5) {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))
    } else {
        SocketAddr::from(([127, 0, 0, 1], port))
    };
    msg.store_host = SocketAddr::from(([127, 0, 0, 1], 10911));
    msg
}

/// Stores [`COUNT`] messages, every other run of three as one batch, and returns each as
/// stored: what any reader of the directory must find.
pub async fn write(store: &MessageStore) -> Vec<Record> {
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let messages: Vec<NewMessage> = (0..COUNT).map(|seq| message(seq, now_ms)).collect();
    let mut written = Vec::new();
    for (run, chunk) in messages.chunks(3).enumerate() {
        let puts: Vec<Vec<NewMessage>> = if run % 2 == 0 {
            vec![chunk.to_vec()]
        } else {
            chunk.iter().map(|m| vec![m.clone()]).collect()
        };
        for batch in puts {
            let put = store.put_batch(batch.clone()).await.unwrap();
            for (msg, at) in batch.iter().zip(&put.appended) {
                written.push(Record::from_put(msg, at));
            }
        }
    }
    written
}

/// Keys worth looking up in `written`: first, middle and last unique keys, a group key, a
/// UNIQ_KEY, a non-BMP key and one nobody carries.
pub fn probe_keys(written: &[Record]) -> Vec<String> {
    let uniq = |i: usize| written[i].properties[properties::keys::UNIQ_KEY].clone();
    let n = written.len();
    vec![
        "ok-0".to_owned(),
        format!("ok-{}", n / 2),
        format!("ok-{}", n - 1),
        "grp-5".to_owned(),
        uniq(n / 3),
        "ключ🔑-57".to_owned(),
        "no-such-key".to_owned(),
    ]
}

/// Commit log offsets of the records a lookup of `key` must return, ascending.
pub fn expected_hits(written: &[Record], key: &str) -> Vec<i64> {
    let mut hits: Vec<i64> = written
        .iter()
        .filter(|r| r.carries_key(key))
        .map(|r| r.commit_log_offset)
        .collect();
    hits.sort_unstable();
    assert!(
        hits.len() <= MAX_QUERY_RESULTS,
        "a lookup returns at most {MAX_QUERY_RESULTS}"
    );
    hits
}

/// Every message of `queues` queues of `topic`, in queue order, each CRC-checked. Asserts each
/// queue is dense from offset 0.
pub fn read_all(store: &MessageStore, topic: &str, queues: i32) -> Vec<Record> {
    let mut out = Vec::new();
    for queue_id in 0..queues {
        assert_eq!(
            store.min_offset(topic, queue_id),
            0,
            "queue {queue_id} starts at 0"
        );
        let max = store.max_offset(topic, queue_id);
        let mut offset = 0;
        while offset < max {
            // The tag filter is the one reader of the consume queue's tag codes: let it record
            // them and pass everything.
            let codes = RefCell::new(Vec::new());
            let record_code = |code: i64| {
                codes.borrow_mut().push(code);
                true
            };
            let got = store.get_messages(topic, queue_id, offset, 32, usize::MAX, Some(&record_code));
            let codes = codes.into_inner();
            assert!(
                !got.messages.is_empty(),
                "{topic}/{queue_id}: nothing at {offset} of {max}"
            );
            assert_eq!(codes.len(), got.messages.len(), "one tag code per record");
            for ((slice, logical), code) in got.messages.iter().zip(&got.queue_offsets).zip(codes) {
                assert_eq!(*logical, offset, "{topic}/{queue_id}: offsets are dense");
                let strict = store
                    .message_at(slice.offset())
                    .expect("record passes the strict (CRC) check");
                out.push(Record::from_view(&query::view(&strict).unwrap(), *logical, code));
                offset += 1;
            }
            assert_eq!(got.next_offset, offset);
        }
    }
    out
}

/// Commit log offsets of the records Apogee's index finds for `key`, ascending.
pub fn lookup(store: &MessageStore, topic: &str, key: &str) -> Vec<i64> {
    let mut hits: Vec<i64> = store
        .query_by_key(topic, key, MAX_QUERY_RESULTS, 0, i64::MAX)
        .into_iter()
        .chain(store.query_by_unique_key(topic, key, MAX_QUERY_RESULTS, 0, i64::MAX))
        .map(|slice| slice.offset() as i64)
        .collect();
    hits.sort_unstable();
    hits.dedup();
    hits
}
