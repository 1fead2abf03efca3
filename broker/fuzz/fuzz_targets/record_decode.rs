//! Any bytes given to the record decoder: no panic, and a decoded record re-encodes to the same
//! bytes.
#![no_main]

use apogee_broker::store::record::{self, Entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for strict in [false, true] {
        if let Ok(Entry::Message(view)) = record::decode(data, strict) {
            let again = view.to_message();
            let mut bytes = Vec::new();
            if again.encode_into(&mut bytes).is_ok() && view.born_host.port() != 0 && view.store_host.port() != 0 {
                record::patch(&mut bytes, view.queue_offset, view.physical_offset, view.store_timestamp);
                let crc_ok = record::body_crc(view.body) == view.body_crc;
                if crc_ok {
                    assert_eq!(&bytes[..], &data[..view.total_size], "decode/encode round trip");
                }
            }
        }
    }
});
