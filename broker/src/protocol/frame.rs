//! Frames on the wire:
//!
//! | field | size | meaning |
//! |---|---|---|
//! | length | i32 | bytes after this field: 4 + header length + body length |
//! | serialize type | u8 | 0 = JSON header, 1 = ROCKETMQ binary header |
//! | header length | u24 | |
//! | header | n | |
//! | body | rest | |
//!
//! Each frame carries its own serialize type, so decoding follows the byte. Apogee answers in
//! JSON, which every client decodes whatever it sent.

use bytes::{Buf, BufMut, BytesMut};

use super::{command::RemotingCommand, error::ProtocolError, header_binary, header_json};

/// Largest frame, length prefix included (the reference's `frameMaxLength`, 16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
/// Largest header length the 24-bit field can express.
pub const MAX_HEADER: usize = (1 << 24) - 1;

/// How a header is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    /// JSON (0), the default of every client.
    #[default]
    Json,
    /// ROCKETMQ binary (1).
    RocketMq,
}

impl SerializeType {
    fn byte(self) -> u8 {
        match self {
            Self::Json => 0,
            Self::RocketMq => 1,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, ProtocolError> {
        match byte {
            0 => Ok(Self::Json),
            1 => Ok(Self::RocketMq),
            other => Err(ProtocolError::UnknownSerializeType(other)),
        }
    }
}

/// The encoded header of `command`.
pub fn encode_header(command: &RemotingCommand, serialize: SerializeType) -> Vec<u8> {
    match serialize {
        SerializeType::Json => header_json::encode(command),
        SerializeType::RocketMq => header_binary::encode(command),
    }
}

/// Appends the frame of `command` (header and body) to `out`.
pub fn encode(command: &RemotingCommand, serialize: SerializeType, out: &mut BytesMut) {
    let header = encode_header(command, serialize);
    out.reserve(8 + header.len() + command.body.len());
    out.put_i32((4 + header.len() + command.body.len()) as i32);
    out.put_u32(u32::from(serialize.byte()) << 24 | (header.len() as u32 & MAX_HEADER as u32));
    out.put_slice(&header);
    out.put_slice(&command.body);
}

/// Takes one whole frame off the front of `buf`, or returns `Ok(None)` until one has arrived.
/// An announced length over `max_frame` is an error at once, before any of it is buffered.
pub fn decode(
    buf: &mut BytesMut,
    max_frame: usize,
) -> Result<Option<(RemotingCommand, SerializeType)>, ProtocolError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let declared = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let len = usize::try_from(declared)
        .ok()
        .filter(|l| *l >= 4)
        .ok_or(ProtocolError::FrameTooSmall(i64::from(declared)))?;
    if len.saturating_add(4) > max_frame {
        return Err(ProtocolError::FrameTooLarge {
            len: len + 4,
            max: max_frame,
        });
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    let mut frame = buf.split_to(len).freeze();
    let word = frame.get_u32();
    let serialize = SerializeType::from_byte((word >> 24) as u8)?;
    let header_len = (word & MAX_HEADER as u32) as usize;
    if header_len > frame.len() {
        return Err(ProtocolError::HeaderTooLong {
            header: header_len,
            frame: len,
        });
    }
    let header = frame.split_to(header_len);
    let mut command = match serialize {
        SerializeType::Json => header_json::decode(&header)?,
        SerializeType::RocketMq => header_binary::decode(&header)?,
    };
    command.body = frame;
    Ok(Some((command, serialize)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RemotingCommand {
        RemotingCommand::request(310, 9)
            .with_field("b", "TopicTest")
            .with_field("i", "TAGS\u{1}A\u{2}")
            .with_body(&b"hello"[..])
    }

    #[test]
    fn both_encodings_round_trip_and_lay_out_the_prefix() {
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let mut buf = BytesMut::new();
            encode(&sample(), ser, &mut buf);
            let header = encode_header(&sample(), ser);
            assert_eq!(&buf[..4], &((4 + header.len() + 5) as i32).to_be_bytes());
            assert_eq!(buf[4], ser.byte());
            assert_eq!(&buf[5..8], &(header.len() as u32).to_be_bytes()[1..]);
            assert_eq!(
                decode(&mut buf, DEFAULT_MAX_FRAME).unwrap(),
                Some((sample(), ser))
            );
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn partial_and_back_to_back_frames() {
        let mut wire = BytesMut::new();
        encode(&sample(), SerializeType::Json, &mut wire);
        encode(
            &RemotingCommand::request(105, 10),
            SerializeType::RocketMq,
            &mut wire,
        );
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for byte in wire.iter() {
            buf.put_u8(*byte);
            while let Some((cmd, _)) = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap() {
                decoded.push(cmd);
            }
        }
        assert_eq!(decoded.iter().map(|c| c.opaque).collect::<Vec<_>>(), vec![9, 10]);
        assert_eq!(decoded[0].body.as_ref(), b"hello");
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut huge = BytesMut::from(&(17 * 1024 * 1024i32).to_be_bytes()[..]);
        assert!(matches!(
            decode(&mut huge, DEFAULT_MAX_FRAME),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
        let mut negative = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert_eq!(
            decode(&mut negative, DEFAULT_MAX_FRAME),
            Err(ProtocolError::FrameTooSmall(-1))
        );
        let mut bad_type = BytesMut::new();
        bad_type.put_i32(6);
        bad_type.put_u32(7 << 24);
        bad_type.put_u16(0);
        assert_eq!(
            decode(&mut bad_type, DEFAULT_MAX_FRAME),
            Err(ProtocolError::UnknownSerializeType(7))
        );
        let mut long_header = BytesMut::new();
        long_header.put_i32(6);
        long_header.put_u32(100);
        long_header.put_u16(0);
        assert!(matches!(
            decode(&mut long_header, DEFAULT_MAX_FRAME),
            Err(ProtocolError::HeaderTooLong { .. })
        ));
        let mut small_limit = BytesMut::new();
        encode(&sample(), SerializeType::Json, &mut small_limit);
        assert!(matches!(
            decode(&mut small_limit, 64),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decode(&mut buf, 4096) {}
        }
    }
}
