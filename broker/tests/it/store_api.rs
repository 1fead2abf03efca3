//! The store's in-process API: puts, batches, reads, filters, offsets, lookups, long polling,
//! flush modes, and the walks replication makes (a log's last record, records after an offset).

use std::{sync::Arc, time::Duration};

use apogee_broker::store::{
    FlushDiskType, GetStatus, MessageStore, PutStatus, StoreConfig, properties, query, record,
};

use crate::harness::{body, message, parse_body, read_all, runtime, small_config};

#[test]
fn put_then_read_back_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rt = runtime();
    for seq in 0..300u64 {
        let q = (seq % 3) as i32;
        let result = rt
            .block_on(store.put(message("TopicA", q, seq, 700, None)))
            .unwrap();
        assert_eq!(result.status, PutStatus::Ok);
        assert_eq!(result.appended[0].queue_offset, (seq / 3) as i64);
    }
    assert!(
        store.max_physical_offset() > 3 * 64 * 1024,
        "spans several 64 KiB segments"
    );
    rt.block_on(async {
        while store.dispatched_offset() < store.max_physical_offset() {
            tokio::task::yield_now().await
        }
    });
    for q in 0..3 {
        let expected: Vec<u64> = (0..300).filter(|s| s % 3 == q as u64).collect();
        assert_eq!(read_all(&store, "TopicA", q), expected);
        assert_eq!(store.max_offset("TopicA", q), 100);
        assert_eq!(store.min_offset("TopicA", q), 0);
    }
    let segments = std::fs::read_dir(dir.path().join("commitlog")).unwrap().count();
    assert!(segments >= 4, "segments rolled: {segments}");
    let names: Vec<String> = std::fs::read_dir(dir.path().join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.contains(&"00000000000000065536".to_string()),
        "20-digit offset names: {names:?}"
    );
    assert!(dir.path().join("consumequeue/TopicA/2").is_dir());
    store.shutdown().unwrap();
}

#[test]
fn batch_gets_consecutive_offsets_and_status_edges() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rt = runtime();
    let batch: Vec<_> = (0..10).map(|s| message("B", 1, s, 100, None)).collect();
    let result = rt.block_on(store.put_batch(batch)).unwrap();
    let offsets: Vec<i64> = result.appended.iter().map(|a| a.queue_offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    for pair in result.appended.windows(2) {
        assert_eq!(
            pair[0].physical_offset + pair[0].size as u64,
            pair[1].physical_offset,
            "contiguous"
        );
    }
    let mixed = vec![message("B", 1, 0, 10, None), message("B", 2, 1, 10, None)];
    assert!(
        rt.block_on(store.put_batch(mixed)).is_err(),
        "a batch must share topic and queue"
    );
    rt.block_on(store.wait_for_message("B", 1, 9, Duration::from_secs(5)));
    assert_eq!(
        store.get_messages("B", 1, 10, 32, usize::MAX, None).status,
        GetStatus::OffsetOverflowOne
    );
    assert_eq!(
        store.get_messages("B", 1, 11, 32, usize::MAX, None).status,
        GetStatus::OffsetOverflowBadly
    );
    assert_eq!(
        store.get_messages("B", 7, 0, 32, usize::MAX, None).status,
        GetStatus::NoMatchedLogicQueue
    );
    let limited = store.get_messages("B", 1, 0, 32, 300, None);
    assert_eq!(
        limited.messages.len(),
        1,
        "byte budget honoured, but at least one message"
    );
    assert_eq!(limited.next_offset, 1);
    let too_big = message("B", 1, 0, 20 * 1024, None);
    assert!(matches!(
        rt.block_on(store.put(too_big)),
        Err(apogee_broker::store::StoreError::MessageTooLarge { .. })
    ));
    let mut evil = message("B", 1, 0, 10, None);
    evil.topic = "../escape".into();
    assert!(
        rt.block_on(store.put(evil)).is_err(),
        "path-like topics are refused"
    );
    store.shutdown().unwrap();
}

#[test]
fn tag_filter_offset_by_time_and_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rt = runtime();
    let mut appended = Vec::new();
    for seq in 0..40u64 {
        let tag = if seq % 2 == 0 { "TagA" } else { "TagB" };
        let r = rt
            .block_on(store.put(message("F", 0, seq, 50, Some(tag))))
            .unwrap();
        appended.push(r.appended[0]);
        if seq == 19 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    rt.block_on(store.wait_for_message("F", 0, 39, Duration::from_secs(5)));
    let want = properties::tags_code(Some("TagB"));
    let filter = move |code: i64| code == want;
    let got = store.get_messages("F", 0, 0, 8, usize::MAX, Some(&filter));
    let seqs: Vec<u64> = got.messages.iter().map(|m| parse_body(&body(m)).2).collect();
    assert_eq!(seqs, vec![1, 3, 5, 7, 9, 11, 13, 15]);
    assert_eq!(got.next_offset, 16);
    let never = |_: i64| false;
    assert_eq!(
        store.get_messages("F", 0, 0, 8, usize::MAX, Some(&never)).status,
        GetStatus::NoMatchedMessage
    );

    let t20 = appended[20].store_timestamp;
    assert!(t20 > appended[19].store_timestamp);
    assert_eq!(store.offset_by_time("F", 0, t20), 20);
    assert_eq!(store.offset_by_time("F", 0, 0), 0);
    assert_eq!(store.offset_by_time("F", 0, i64::MAX), 40);

    let at = store.message_at(appended[7].physical_offset).unwrap();
    assert_eq!(parse_body(&body(&at)).2, 7);
    let id = record::offset_msg_id(
        query::view(&at).unwrap().store_host,
        appended[7].physical_offset as i64,
    );
    assert_eq!(id.len(), 32);
    assert!(
        store.message_at(appended[7].physical_offset + 1).is_err(),
        "not a record boundary"
    );

    let by_key = store.query_by_key("F", "seq-7", 32, 0, i64::MAX);
    assert_eq!(by_key.len(), 1);
    assert_eq!(parse_body(&body(&by_key[0])).2, 7);
    assert!(store.query_by_key("F", "seq-999", 32, 0, i64::MAX).is_empty());
    assert!(
        store.query_by_key("Other", "seq-7", 32, 0, i64::MAX).is_empty(),
        "topic is part of the key"
    );
    let by_uniq = store.query_by_unique_key("F", "UF0-12", 32, 0, i64::MAX);
    assert_eq!(by_uniq.len(), 1);
    assert_eq!(parse_body(&body(&by_uniq[0])).2, 12);
    assert!(
        store
            .query_by_key("F", "seq-7", 32, i64::MAX - 1, i64::MAX)
            .is_empty(),
        "time range applies"
    );
    store.shutdown().unwrap();
}

#[test]
fn parked_read_wakes_when_data_lands() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MessageStore::open(small_config(dir.path())).unwrap());
    let rt = runtime();
    let waiter = {
        let store = store.clone();
        rt.spawn(async move {
            let started = tokio::time::Instant::now();
            let arrived = store.wait_for_message("LP", 0, 0, Duration::from_secs(20)).await;
            (arrived, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    assert!(!waiter.is_finished(), "nothing to read yet");
    rt.block_on(store.put(message("LP", 0, 0, 10, None))).unwrap();
    let (arrived, waited) = rt.block_on(waiter).unwrap();
    assert!(arrived);
    assert!(
        waited < Duration::from_secs(20),
        "woken by dispatch, not by the timeout ({waited:?})"
    );
    let timed_out = rt.block_on(store.wait_for_message("LP", 0, 1, Duration::from_millis(100)));
    assert!(!timed_out, "no message at offset 1");
}

#[test]
fn sync_flush_acks_after_fsync_and_groups_commits() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        flush_disk_type: FlushDiskType::Sync,
        ..small_config(dir.path())
    };
    let store = Arc::new(MessageStore::open(config).unwrap());
    let rt = runtime();
    let r = rt.block_on(store.put(message("S", 0, 0, 100, None))).unwrap();
    assert_eq!(r.status, PutStatus::Ok);
    let end = r.appended[0].physical_offset + r.appended[0].size as u64;
    assert!(
        store.flushed_physical_offset() >= end,
        "acknowledged only once flushed"
    );
    let before = store.flush_count();
    let puts = 64 * 20;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..64u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20 {
                    let r = store
                        .put(message("S", (w % 4) as i32, w * 100 + i, 200, None))
                        .await
                        .unwrap();
                    assert_eq!(r.status, PutStatus::Ok);
                    let end = r.appended[0].physical_offset + r.appended[0].size as u64;
                    assert!(store.flushed_physical_offset() >= end);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let flushes = store.flush_count() - before;
    assert!(
        flushes < puts,
        "{flushes} fsync rounds for {puts} concurrent sync puts: group commit shares them"
    );
    let nowait = {
        let mut m = message("S", 0, 9999, 10, None);
        m.properties.push_str("WAIT\u{1}false\u{2}");
        m
    };
    assert_eq!(rt.block_on(store.put(nowait)).unwrap().status, PutStatus::Ok);
}

#[test]
fn async_flush_reaches_disk_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        flush_thorough_interval: Duration::from_millis(300),
        ..small_config(dir.path())
    };
    let store = MessageStore::open(config).unwrap();
    let rt = runtime();
    for seq in 0..50 {
        rt.block_on(store.put(message("A", 0, seq, 1000, None))).unwrap();
    }
    let end = store.max_physical_offset();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.flushed_physical_offset() < end && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        store.flushed_physical_offset(),
        end,
        "periodic flush covered everything"
    );
}

#[test]
fn last_record_and_records_after_walk_the_log_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert!(store.last_record().is_none(), "an empty log has no last record");
    assert_eq!(store.records_after(0), 0);
    let rt = runtime();
    let offsets: Vec<u64> = (0..300u64)
        .map(|seq| {
            let put = rt.block_on(store.put(message("Walk", 0, seq, 700, None)));
            put.unwrap().appended[0].physical_offset
        })
        .collect();
    let last = store.last_record().expect("a last record");
    assert_eq!(last.offset(), offsets[299]);
    assert_eq!(&last[..], &store.message_at(offsets[299]).unwrap()[..]);
    let end = store.max_physical_offset();
    assert_eq!(store.records_after(0), 300);
    assert_eq!(store.records_after(end), 0);
    assert_eq!(store.records_after(offsets[123]), 177);
    // A position inside a record (a reference slave reports raw byte positions) counts it.
    assert_eq!(store.records_after(offsets[123] + 10), 177);
    // The first record of a later segment, and a position in the padding before it.
    let segment = 64 * 1024;
    let k = offsets.iter().position(|o| *o >= segment).unwrap();
    assert_eq!(offsets[k], segment, "the next segment starts with a record");
    assert_eq!(store.records_after(segment), 300 - k as u64);
    assert_eq!(store.records_after(segment - 4), 300 - k as u64);
    store.shutdown().unwrap();
    // After a restart the last record is found by walking the newest segment.
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert_eq!(store.last_record().map(|r| r.offset()), Some(offsets[299]));
    store.shutdown().unwrap();
}
