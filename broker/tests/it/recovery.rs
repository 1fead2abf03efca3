//! Recovery: clean and unclean restarts, torn and corrupted tails, damage in the middle of the
//! log, wrong-size segments, and a property test over random crash points.

use std::{
    fs,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use apogee_broker::store::{
    Appended, MessageStore, StoreError, checkpoint::Checkpoint, query, segments::file_name,
};
use proptest::prelude::*;

use crate::harness::{message, parse_body, read_all, runtime, settle, small_config};

const SEGMENT: u64 = 64 * 1024;

fn write(dir: &Path, records: &[(i32, usize, Option<&str>)]) -> (MessageStore, Vec<Appended>) {
    let store = MessageStore::open(small_config(dir)).unwrap();
    let rt = runtime();
    let mut out = Vec::new();
    for (seq, (queue, len, tag)) in records.iter().enumerate() {
        let r = rt
            .block_on(store.put(message("R", *queue, seq as u64, *len, *tag)))
            .unwrap();
        out.push(r.appended[0]);
    }
    (store, out)
}

fn segment_path(dir: &Path, offset: u64) -> PathBuf {
    dir.join("commitlog").join(file_name(offset / SEGMENT * SEGMENT))
}

/// Simulates losing everything from `cut` on: zero the rest of its segment, remove later ones.
fn cut_log(dir: &Path, cut: u64, garbage: &[u8]) {
    for entry in fs::read_dir(dir.join("commitlog")).unwrap() {
        let path = entry.unwrap().path();
        let start: u64 = path.file_name().unwrap().to_str().unwrap().parse().unwrap();
        if start > cut / SEGMENT * SEGMENT {
            fs::remove_file(&path).unwrap();
        }
    }
    let path = segment_path(dir, cut);
    if path.exists() {
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        let rel = cut % SEGMENT;
        file.write_all_at(&vec![0u8; (SEGMENT - rel) as usize], rel)
            .unwrap();
        let room = (SEGMENT - rel) as usize;
        file.write_all_at(&garbage[..garbage.len().min(room)], rel)
            .unwrap();
    }
}

fn expected_per_queue(
    appended: &[Appended],
    queues: &[(i32, usize, Option<&str>)],
    survivors: usize,
) -> Vec<Vec<u64>> {
    let mut per = vec![Vec::new(); 4];
    for (seq, _) in appended.iter().enumerate().take(survivors) {
        per[queues[seq].0 as usize].push(seq as u64);
    }
    per
}

#[test]
fn clean_restart_scans_nothing_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let plan: Vec<_> = (0..120).map(|i: i32| (i % 4, 900usize, None)).collect();
    let (store, _) = write(dir.path(), &plan);
    let end = store.max_physical_offset();
    store.shutdown().unwrap();
    assert!(!dir.path().join("abort").exists(), "clean shutdown removes abort");
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let report = store.recovery_report().clone();
    assert!(!report.unclean);
    assert_eq!(
        (report.scanned_from, report.log_end, report.records_scanned),
        (end, end, 0)
    );
    assert!(dir.path().join("abort").exists(), "abort marks a running store");
    for q in 0..4 {
        assert_eq!(store.max_offset("R", q), 30);
    }
    let r = runtime()
        .block_on(store.put(message("R", 1, 1000, 10, None)))
        .unwrap();
    assert_eq!(
        r.appended[0].queue_offset, 30,
        "queue offsets continue after restart"
    );
    assert_eq!(r.appended[0].physical_offset, end);
    assert!(matches!(
        MessageStore::open(small_config(dir.path())),
        Err(StoreError::Locked(_))
    ));
}

#[test]
fn crash_restart_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let plan: Vec<_> = (0..200).map(|i: i32| (i % 3, 500usize, Some("T"))).collect();
    let (store, _) = write(dir.path(), &plan);
    let end = store.max_physical_offset();
    drop(store); // no shutdown: abort stays, checkpoint may lag
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert!(store.recovery_report().unclean);
    assert_eq!(store.max_physical_offset(), end);
    for q in 0..3 {
        let expected: Vec<u64> = (0..200).filter(|s| s % 3 == q as u64).collect();
        assert_eq!(read_all(&store, "R", q), expected);
    }
}

#[test]
fn torn_tail_is_cut_zeroed_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let plan: Vec<_> = (0..30).map(|i: i32| (i % 2, 300usize, None)).collect();
    let (store, appended) = write(dir.path(), &plan);
    let end = store.max_physical_offset();
    store.shutdown().unwrap();
    // A half-written record after the end: a real header, then the copy stops.
    let mut torn = Vec::new();
    message("R", 0, 999, 300, None).encode_into(&mut torn).unwrap();
    apogee_broker::store::record::patch(&mut torn, 15, end as i64, 1);
    torn.truncate(torn.len() - 40);
    let path = segment_path(dir.path(), end);
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&torn, end % SEGMENT).unwrap();
    file.write_all_at(
        b"garbage after the torn record",
        end % SEGMENT + torn.len() as u64,
    )
    .unwrap();
    drop(file);
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let report = store.recovery_report().clone();
    assert_eq!(report.log_end, end, "cut at the last valid record");
    assert!(
        report.cut_reason.is_some(),
        "the torn record was seen and rejected"
    );
    let raw = fs::read(&path).unwrap();
    assert!(
        raw[(end % SEGMENT) as usize..].iter().all(|b| *b == 0),
        "bytes after the cut are zeroed"
    );
    assert_eq!(
        read_all(&store, "R", 0),
        (0..30).filter(|s| s % 2 == 0).collect::<Vec<_>>()
    );
    let r = runtime()
        .block_on(store.put(message("R", 0, 30, 300, None)))
        .unwrap();
    assert_eq!(r.appended[0].physical_offset, end);
    assert_eq!(r.appended[0].queue_offset, 15);
    assert_eq!(appended.len(), 30);
}

#[test]
fn queues_and_index_are_cut_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let plan: Vec<_> = (0..150).map(|i: i32| (i % 4, 600usize, None)).collect();
    let (store, appended) = write(dir.path(), &plan);
    store.shutdown().unwrap();
    // Lose the log after record 90, while queues and index still reference 150 records.
    let cut = appended[90].physical_offset;
    cut_log(dir.path(), cut, &[]);
    Checkpoint {
        recover_from: None,
        ..Checkpoint::default()
    }
    .write(&dir.path().join("checkpoint"))
    .unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert_eq!(store.max_physical_offset(), cut);
    let expected = expected_per_queue(&appended, &plan, 90);
    for q in 0..4 {
        assert_eq!(read_all(&store, "R", q), expected[q as usize], "queue {q}");
        assert_eq!(store.max_offset("R", q), expected[q as usize].len() as i64);
    }
    assert!(
        store.query_by_key("R", "seq-120", 32, 0, i64::MAX).is_empty(),
        "cut record is not found by key"
    );
    assert_eq!(store.query_by_key("R", "seq-80", 32, 0, i64::MAX).len(), 1);
    // A new record lands where a cut one was; it must be indexed under its own key only.
    let r = runtime()
        .block_on(store.put(message("R", 2, 500, 600, None)))
        .unwrap();
    assert_eq!(r.appended[0].physical_offset, cut);
    settle(&store);
    let hits = store.query_by_key("R", "seq-500", 32, 0, i64::MAX);
    assert_eq!(hits.len(), 1, "re-indexed after the cut");
    assert!(store.query_by_key("R", "seq-90", 32, 0, i64::MAX).is_empty());
}

#[test]
fn damage_in_the_middle_refuses_to_open_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan: Vec<_> = (0..250).map(|i: i32| (i % 2, 1000usize, None)).collect();
    let (store, appended) = write(dir.path(), &plan);
    store.shutdown().unwrap();
    assert!(appended.last().unwrap().physical_offset > 3 * SEGMENT);
    // Flip a body byte of a record in the second segment.
    let victim = appended
        .iter()
        .find(|a| a.physical_offset > SEGMENT + 100)
        .unwrap();
    let path = segment_path(dir.path(), victim.physical_offset);
    let body_at = victim.physical_offset % SEGMENT + 84 + 4 + 3;
    let file = fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, body_at).unwrap();
    file.write_all_at(&[b[0] ^ 0x55], body_at).unwrap();
    drop(file);
    Checkpoint {
        recover_from: None,
        ..Checkpoint::default()
    }
    .write(&dir.path().join("checkpoint"))
    .unwrap();
    let before: Vec<Vec<u8>> = segment_files(dir.path())
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    let err = MessageStore::open(small_config(dir.path())).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupted { .. }), "{text}");
    assert!(text.contains("crc") && text.contains("not a torn tail"), "{text}");
    let after: Vec<Vec<u8>> = segment_files(dir.path())
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert!(before == after, "a refused open must not modify the log");
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn wrong_size_segment_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = write(dir.path(), &[(0, 100, None)]);
    store.shutdown().unwrap();
    let path = segment_files(dir.path())[0].clone();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(SEGMENT - 1)
        .unwrap();
    let err = MessageStore::open(small_config(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mappedFileSizeCommitLog") && err.contains("00000000000000000000"),
        "{err}"
    );
}

#[test]
fn zero_length_last_segment_from_a_crash_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = write(dir.path(), &[(0, 100, None)]);
    store.shutdown().unwrap();
    let next = dir.path().join("commitlog").join(file_name(SEGMENT));
    let _ = fs::remove_file(&next);
    fs::write(&next, b"").unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert_eq!(store.max_offset("R", 0), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random records, then a crash that keeps an arbitrary byte prefix of the log (plus random
    /// garbage after it) and a checkpoint at some earlier record boundary: the recovered store
    /// holds exactly the records that were wholly inside the prefix, in every queue, and keeps
    /// accepting writes.
    #[test]
    fn recovered_store_is_the_surviving_prefix(
        sizes in proptest::collection::vec((0i32..4, 0usize..3000), 1..120),
        cut_frac in 0.0f64..1.0,
        checkpoint_frac in 0.0f64..1.0,
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
        no_checkpoint in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let plan: Vec<_> = sizes.iter().map(|(q, len)| (*q, *len, Some("P"))).collect();
        let (store, appended) = write(dir.path(), &plan);
        let end = store.max_physical_offset();
        drop(store);
        let cut = (end as f64 * cut_frac) as u64;
        let survivors = appended.iter().take_while(|a| a.physical_offset + a.size as u64 <= cut).count();
        cut_log(dir.path(), cut, &garbage);
        let boundaries: Vec<u64> = appended[..survivors].iter().map(|a| a.physical_offset).collect();
        // A real checkpoint never claims more than the crashed store had dispatched and flushed,
        // so the simulated one may only move back from what the store wrote.
        let written = Checkpoint::read(&dir.path().join("checkpoint")).unwrap().recover_from;
        let recover_from = if no_checkpoint || boundaries.is_empty() {
            None
        } else {
            let chosen = boundaries[((boundaries.len() - 1) as f64 * checkpoint_frac) as usize];
            written.map(|w| w.min(chosen))
        };
        Checkpoint { recover_from, ..Checkpoint::default() }.write(&dir.path().join("checkpoint")).unwrap();

        let store = MessageStore::open(small_config(dir.path())).unwrap();
        let last_end = if survivors == 0 { 0 } else { appended[survivors - 1].physical_offset + appended[survivors - 1].size as u64 };
        // When the end-of-segment marker after the last survivor also survived, the log resumes
        // at the next segment.
        let next_segment = (last_end / SEGMENT + 1) * SEGMENT;
        let max = store.max_physical_offset();
        prop_assert!(max == last_end || (max == next_segment && cut >= last_end + 8), "max {} last_end {} cut {}", max, last_end, cut);
        let expected = expected_per_queue(&appended, &plan, survivors);
        for q in 0..4 {
            prop_assert_eq!(&read_all(&store, "R", q), &expected[q as usize]);
        }
        for a in &appended[..survivors] {
            let slice = store.message_at(a.physical_offset).unwrap();
            let view = query::view(&slice).unwrap();
            prop_assert_eq!(parse_body(view.body).0, "R");
        }
        let r = runtime().block_on(store.put(message("R", 0, 10_000, 10, None))).unwrap();
        prop_assert_eq!(r.appended[0].queue_offset, expected[0].len() as i64);
        store.shutdown().unwrap();
        let reopened = MessageStore::open(small_config(dir.path())).unwrap();
        prop_assert_eq!(reopened.max_offset("R", 0), expected[0].len() as i64 + 1);
    }
}
