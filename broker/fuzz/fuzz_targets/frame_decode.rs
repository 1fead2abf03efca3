//! Any bytes as a connection's input stream: the frame decoder never panics, and every command
//! it decodes survives a re-encode/decode in both header encodings.
#![no_main]

use apogee_broker::protocol::{SerializeType, frame};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some((command, _))) = frame::decode(&mut buf, 64 * 1024) {
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let mut wire = BytesMut::new();
            frame::encode(&command, ser, &mut wire);
            let (again, got) = frame::decode(&mut wire, usize::MAX).expect("re-encoded frame decodes").expect("whole frame");
            assert_eq!(got, ser);
            // The binary header carries code and version as 16 bits, like the reference.
            let fits_binary = i16::try_from(command.code).is_ok()
                && i16::try_from(command.version).is_ok()
                && command.ext_fields.keys().all(|k| k.len() <= i16::MAX as usize);
            if ser == SerializeType::Json || fits_binary {
                assert_eq!(again.ext_fields, command.ext_fields);
                assert_eq!(again.body, command.body);
                assert_eq!(again.opaque, command.opaque);
            }
        }
    }
});
