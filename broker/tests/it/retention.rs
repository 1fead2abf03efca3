//! Retention: expired segments go at the delete hour or above the disk watermarks, queue and
//! index files follow, min offsets move, writers keep going.

use std::{
    fs,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use apogee_broker::store::{GetStatus, MessageStore, NotWritable, StoreConfig, StoreError, clock};

use crate::harness::{message, read_all, runtime, settle, small_config};

const SEGMENT: u64 = 64 * 1024;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        // Only the passes the test runs itself.
        clean_resource_interval: Duration::from_secs(3600),
        file_reserved_time: Duration::from_secs(3600),
        delete_when: vec![],
        disk_max_used_space_ratio: 1.0,
        disk_space_clean_forcibly_ratio: 1.0,
        disk_space_warning_level_ratio: 1.0,
        ..small_config(dir)
    }
}

fn fill(store: &MessageStore, records: u64) {
    let rt = runtime();
    for seq in 0..records {
        rt.block_on(store.put(message("Ret", (seq % 2) as i32, seq, 1500, None)))
            .unwrap();
    }
    settle(store);
}

fn age_segments(dir: &Path, count: usize, age: Duration) {
    let mut files: Vec<_> = fs::read_dir(dir.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files.into_iter().take(count) {
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }
}

fn segment_count(dir: &Path) -> usize {
    fs::read_dir(dir.join("commitlog")).unwrap().count()
}

#[test]
fn expired_segments_go_only_at_the_delete_hour() {
    let dir = tempfile::tempdir().unwrap();
    let now = clock::now_millis();
    let other_hour = (clock::hour_of_day(now) + 12) % 24;
    let store = MessageStore::open(StoreConfig {
        delete_when: vec![other_hour],
        ..config(dir.path())
    })
    .unwrap();
    // ~40 records per 64 KiB segment: 450 records fill 12 segments, 225 entries (3 files) per queue.
    fill(&store, 450);
    age_segments(dir.path(), 7, Duration::from_secs(7200));
    let pass = store.run_retention(now).unwrap();
    assert_eq!(pass.segments, 0, "not the delete hour, disk not full");
    drop(store);

    let store = MessageStore::open(StoreConfig {
        delete_when: vec![clock::hour_of_day(now)],
        ..config(dir.path())
    })
    .unwrap();
    let before = segment_count(dir.path());
    let pass = store.run_retention(clock::now_millis()).unwrap();
    assert_eq!(pass.segments, 7, "the aged segments, oldest first");
    assert_eq!(segment_count(dir.path()), before - 7);
    assert_eq!(store.min_physical_offset(), 7 * SEGMENT);
    assert_eq!(
        pass.queue_files, 2,
        "each queue's first file only pointed into deleted segments"
    );
    for q in 0..2 {
        let min = store.min_offset("Ret", q);
        assert!(min > 0, "queue {q} min offset moved");
        let got = store.get_messages("Ret", q, 0, 32, usize::MAX, None);
        assert_eq!(got.status, GetStatus::OffsetTooSmall);
        assert_eq!(got.next_offset, min);
        let remaining = read_all(&store, "Ret", q);
        assert_eq!(remaining.len() as i64, store.max_offset("Ret", q) - min);
        assert_eq!(
            remaining.last(),
            Some(&(448 + q as u64)),
            "newest records untouched"
        );
    }
    let pass = store.run_retention(clock::now_millis()).unwrap();
    assert_eq!(pass.segments, 0, "stops at the first segment that is not expired");
}

#[test]
fn watermarks_delete_at_any_hour_and_forcibly() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(StoreConfig {
        disk_max_used_space_ratio: 0.0,
        ..config(dir.path())
    })
    .unwrap();
    fill(&store, 200);
    age_segments(dir.path(), 2, Duration::from_secs(7200));
    assert_eq!(
        store.run_retention(clock::now_millis()).unwrap().segments,
        2,
        "usage above the ratio"
    );
    drop(store);
    let forcibly = StoreConfig {
        disk_max_used_space_ratio: 0.0,
        disk_space_clean_forcibly_ratio: 0.0,
        delete_file_batch_max: 100,
        ..config(dir.path())
    };
    let store = MessageStore::open(forcibly).unwrap();
    let pass = store.run_retention(clock::now_millis()).unwrap();
    assert!(pass.segments >= 1, "unexpired segments go when forced");
    let newest = store.max_physical_offset() / SEGMENT * SEGMENT;
    assert_eq!(
        store.min_physical_offset(),
        newest,
        "all but the newest segment went"
    );
    assert_eq!(store.max_offset("Ret", 0), 100, "max offsets unchanged");
}

#[test]
fn above_the_warning_level_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(StoreConfig {
        disk_space_warning_level_ratio: 0.0,
        ..config(dir.path())
    })
    .unwrap();
    fill(&store, 5);
    store.run_retention(clock::now_millis()).unwrap();
    assert_eq!(store.writable(), Err(NotWritable::DiskFull));
    let refused = runtime().block_on(store.put(message("Ret", 0, 99, 10, None)));
    assert!(
        matches!(refused, Err(StoreError::NotWritable(NotWritable::DiskFull))),
        "{refused:?}"
    );
    assert_eq!(read_all(&store, "Ret", 0), vec![0, 2, 4], "reads still served");
}

#[test]
fn deleting_does_not_block_or_break_writers() {
    let dir = tempfile::tempdir().unwrap();
    let forcibly = StoreConfig {
        disk_max_used_space_ratio: 0.0,
        disk_space_clean_forcibly_ratio: 0.0,
        ..config(dir.path())
    };
    let store = Arc::new(MessageStore::open(forcibly).unwrap());
    fill(&store, 100);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = runtime();
            let mut seq = 100;
            while !stop.load(Ordering::Relaxed) && seq < 5000 {
                rt.block_on(store.put(message("Ret", (seq % 2) as i32, seq, 1500, None)))
                    .unwrap();
                seq += 1;
            }
            seq
        })
    };
    let mut deleted = 0;
    for _ in 0..50 {
        deleted += store.run_retention(clock::now_millis()).unwrap().segments;
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    settle(&store);
    assert!(deleted > 0);
    for q in 0..2 {
        let seqs = read_all(&store, "Ret", q);
        assert_eq!(
            seqs.last(),
            Some(&(written - 2 + ((written + q as u64) % 2))),
            "latest write readable"
        );
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 2),
            "no holes in what is kept"
        );
    }
}
