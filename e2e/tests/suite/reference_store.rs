//! On-disk compatibility with Apache RocketMQ's reference store (`rocketmq-store`'s
//! DefaultMessageStore, the version pinned in `e2e/java/store-compat/pom.xml`), both ways: the
//! reference opens, recovers and reads a directory Apogee wrote (after a clean stop and after
//! crashes), and Apogee reads a directory the reference wrote. Each side checks every
//! message of every queue and lookups by key in the other's index.
//!
//! Needs a JDK 17 and Maven on PATH; the first run fetches the reference store from Maven Central
//! into `${APOGEE_CACHE:-$HOME/.cache/apogee}` (see `e2e/java/store-compat/build.sh`).

mod apogee;
mod oracle;
mod record;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use apogee_broker::store::{MessageStore, StoreConfig, checkpoint::Checkpoint};

use self::record::{Output, Record};

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .count()
}

/// Asserts two descriptions of a topic agree record for record. On a mismatch it names the first
/// differing record instead of dumping hundreds.
fn assert_same(what: &str, expected: &[Record], actual: &[Record]) {
    let (mut expected, mut actual) = (expected.to_vec(), actual.to_vec());
    expected.sort();
    actual.sort();
    for (want, got) in expected.iter().zip(&actual) {
        assert_eq!(
            got, want,
            "{what}: queue {} offset {} differs (left: read, right: written)",
            want.queue_id, want.queue_offset
        );
    }
    assert_eq!(actual.len(), expected.len(), "{what}: number of records");
}

/// Asserts the files span what the test claims to cover: several CommitLog segments, several
/// consume-queue files per queue and several index files.
fn assert_spans_files(config: &StoreConfig, written: &[Record]) {
    let log_end = written.iter().map(|r| r.commit_log_offset).max().unwrap_or(0);
    assert!(
        log_end > 3 * config.commit_log_segment_size as i64,
        "the log should span several segments"
    );
    let per_queue = written.iter().filter(|r| r.queue_id == 0).count();
    assert!(per_queue > 2 * config.consume_queue_file_size / 20);
    assert!(files_in(&config.index_dir()) >= 2, "several index files");
}

/// Stores the test messages with Apogee; the store is left open for the caller to stop.
fn write_with_apogee(config: &StoreConfig) -> (MessageStore, Vec<Record>) {
    let store = MessageStore::open(config.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let written = runtime.block_on(apogee::write(&store));
    (store, written)
}

/// What the reference must have reported after reading a directory holding `written`.
/// `reindexed` lists the records the reference may legitimately find twice in a key lookup (see
/// [`index_file_ends`]); after a clean stop there are none.
fn assert_reference_read(written: &[Record], keys: &[String], out: &Output, reindexed: &[i64]) {
    for queue_id in 0..apogee::QUEUES {
        let count = written.iter().filter(|r| r.queue_id == queue_id).count() as i64;
        assert_eq!(
            out.queues.get(&queue_id),
            Some(&(0, count)),
            "reference store's (min, max) offsets of queue {queue_id}"
        );
    }
    assert_same("reference store's read", written, &out.messages);
    assert_eq!(out.done, Some(written.len() as u64));
    for key in keys {
        let mut hits = out.keys.get(key).cloned().unwrap_or_default();
        let twice: Vec<i64> = hits.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        for offset in twice {
            assert!(
                reindexed.contains(&offset),
                "reference store's lookup of {key:?} finds {offset} twice: {hits:?}"
            );
        }
        hits.dedup();
        assert_eq!(
            hits,
            apogee::expected_hits(written, key),
            "reference store's index lookup of {key:?}"
        );
    }
}

/// The end offset (header field at byte 24: the CommitLog offset of the last record indexed) of
/// every index file. When the reference recovers from an unclean stop it keeps each index file
/// its checkpoint covers, re-dispatches the log, and indexes again every record whose offset is
/// not below the newest kept file's end offset (`IndexService.buildIndex`: `offset <
/// endPhyOffset` is skipped), so the record at that end offset gets a second entry. A store the
/// reference wrote itself shows the same after its own crash.
fn index_file_ends(config: &StoreConfig) -> Vec<i64> {
    std::fs::read_dir(config.index_dir())
        .unwrap()
        .map(|entry| {
            let header = std::fs::read(entry.unwrap().path()).unwrap();
            i64::from_be_bytes(header[24..32].try_into().unwrap())
        })
        .collect()
}

/// Reopens the directory with Apogee after the reference had it: everything still reads.
fn assert_apogee_still_reads(config: &StoreConfig, written: &[Record], keys: &[String]) {
    let store = MessageStore::open(config.clone()).unwrap();
    assert!(
        !store.recovery_report().unclean,
        "the reference shut down cleanly"
    );
    let read = apogee::read_all(&store, apogee::TOPIC, apogee::QUEUES);
    assert_same("Apogee after the reference store", written, &read);
    for key in keys {
        assert_eq!(
            apogee::lookup(&store, apogee::TOPIC, key),
            apogee::expected_hits(written, key),
            "Apogee's lookup of {key:?} after the reference store"
        );
    }
    store.shutdown().unwrap();
}

#[test]
fn reference_store_reads_what_apogee_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let config = apogee::config(dir.path());
    let (store, written) = write_with_apogee(&config);
    store.shutdown().unwrap();
    assert_spans_files(&config, &written);
    let keys = apogee::probe_keys(&written);
    let out = oracle::read(&config, apogee::TOPIC, apogee::QUEUES, &keys);
    assert_reference_read(&written, &keys, &out, &[]);
    assert_apogee_still_reads(&config, &written, &keys);
}

/// Stops Apogee's store the way a crash of the process would (threads stopped, no final flush or
/// checkpoint, `abort` left behind), then has the reference recover and read the directory.
fn crash_then_reference_read(store: MessageStore, config: &StoreConfig, written: &[Record]) {
    drop(store);
    assert!(config.root_dir.join("abort").exists());
    let reindexed = index_file_ends(config);
    let keys = apogee::probe_keys(written);
    let out = oracle::read(config, apogee::TOPIC, apogee::QUEUES, &keys);
    assert_reference_read(written, &keys, &out, &reindexed);
    assert_apogee_still_reads(config, written, &keys);
}

#[test]
fn reference_store_recovers_apogee_crashed_mid_dispatch() {
    // Right after the writes: queues and index may lag the log, and the checkpoint lags them (it
    // may still hold a new store's zeros), so the reference's abnormal recovery drops the index
    // files its checkpoint does not cover and re-dispatches the log from the newest segment the
    // checkpoint vouches for (here the first: all records are younger than its 3 s margin).
    let dir = tempfile::tempdir().unwrap();
    let config = apogee::config(dir.path());
    let (store, written) = write_with_apogee(&config);
    crash_then_reference_read(store, &config, &written);
}

#[test]
fn reference_store_recovers_apogee_crashed_after_checkpoint() {
    // Once the checkpoint covers the whole log, the reference keeps all of Apogee's index files
    // and consume queues through its abnormal recovery: nothing may be queued twice, and only
    // the last indexed record is indexed twice (see `index_file_ends`).
    let dir = tempfile::tempdir().unwrap();
    let config = apogee::config(dir.path());
    let (store, written) = write_with_apogee(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Checkpoint::read(&config.root_dir.join("checkpoint"))
        .unwrap()
        .recover_from
        != Some(store.max_physical_offset())
    {
        assert!(
            Instant::now() < deadline,
            "checkpoint did not reach the log end in 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    crash_then_reference_read(store, &config, &written);
}

#[test]
fn apogee_reads_what_reference_store_wrote() {
    const TOPIC: &str = "JavaCompat";
    const QUEUES: i32 = 4;
    const COUNT: usize = 600;
    let dir = tempfile::tempdir().unwrap();
    let config = apogee::config(dir.path());
    let out = oracle::write(&config, TOPIC, QUEUES, COUNT);
    assert_eq!(out.done, Some(COUNT as u64));
    let written = out.messages;
    // The reference stored what StoreCompat's `message()` describes, in order; the records it
    // reported are then the expectation for every field.
    assert_eq!(written.len(), COUNT);
    for (seq, record) in written.iter().enumerate() {
        let queue_id = seq as i32 % QUEUES;
        assert_eq!((record.topic.as_str(), record.queue_id), (TOPIC, queue_id));
        assert!(
            record.body.starts_with(&format!("java/{queue_id}/{seq}/")),
            "{record:?}"
        );
        assert_eq!(record.properties.get("TAGS"), Some(&format!("T{}", seq % 3)));
        assert!(record.carries_key(&format!("jk-{seq}")), "{record:?}");
    }
    assert_spans_files(&config, &written);

    let store = MessageStore::open(config.clone()).unwrap();
    let report = store.recovery_report().clone();
    assert!(!report.unclean, "the reference shut down cleanly: {report:?}");
    assert_eq!(report.cut_reason, None, "nothing to cut: {report:?}");
    let read = apogee::read_all(&store, TOPIC, QUEUES);
    assert_same("Apogee's read of the reference store", &written, &read);

    let uniq = written[COUNT / 3].properties["UNIQ_KEY"].clone();
    let keys = [
        "jk-0".to_owned(),
        format!("jk-{}", COUNT / 2),
        format!("jk-{}", COUNT - 1),
    ];
    for key in &keys {
        assert_eq!(apogee::expected_hits(&written, key).len(), 1);
    }
    for key in keys
        .iter()
        .chain([&"jg-3".to_owned(), &uniq, &"no-such-key".to_owned()])
    {
        assert_eq!(
            apogee::lookup(&store, TOPIC, key),
            apogee::expected_hits(&written, key),
            "Apogee's lookup of {key:?} in the reference store's index"
        );
    }
    store.shutdown().unwrap();
}
