//! Any bytes as the CommitLog (after a few valid records): opening the store never panics, and
//! when it opens, every queue entry it serves points at a record that passes the strict check.
#![no_main]

use std::os::unix::fs::FileExt;

use apogee_broker::store::{MessageStore, StoreConfig, checkpoint::Checkpoint};
use libfuzzer_sys::fuzz_target;

const SEGMENT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StoreConfig { warm_segments: false, ..StoreConfig::small(dir.path()) };
    let log = dir.path().join("commitlog");
    std::fs::create_dir_all(&log).expect("mkdir");
    let file = std::fs::File::create(log.join("00000000000000000000")).expect("segment");
    file.set_len(SEGMENT as u64).expect("size");
    file.write_all_at(&data[..data.len().min(SEGMENT)], 0).expect("write");
    drop(file);
    Checkpoint::default().write(&dir.path().join("checkpoint")).expect("checkpoint");
    let Ok(store) = MessageStore::open(config) else { return };
    let end = store.max_physical_offset();
    for queue_id in store.queue_ids("T").into_iter().chain([0]) {
        let got = store.get_messages("T", queue_id, 0, 64, usize::MAX, None);
        for slice in &got.messages {
            assert!(slice.offset() < end);
            store.message_at(slice.offset()).expect("served records pass the strict check");
        }
    }
});
