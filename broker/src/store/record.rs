//! The CommitLog message record, byte for byte as RocketMQ writes it. Big-endian throughout.
//!
//! | # | field | size | offset (IPv4 hosts) |
//! |---|---|---|---|
//! | 1 | total size (this field included) | 4 | 0 |
//! | 2 | magic: V1 `0xDAA320A7`, V2 `0xDAA320AB` | 4 | 4 |
//! | 3 | body CRC32 `& 0x7FFFFFFF` | 4 | 8 |
//! | 4 | queue id | 4 | 12 |
//! | 5 | flag | 4 | 16 |
//! | 6 | queue offset (logical) | 8 | 20 |
//! | 7 | physical offset (of this record) | 8 | 28 |
//! | 8 | sys flag | 4 | 36 |
//! | 9 | born timestamp (ms) | 8 | 40 |
//! | 10 | born host: IPv4 4+4 port, IPv6 16+4 | 8 / 20 | 48 |
//! | 11 | store timestamp (ms) | 8 | 56 (68 with an IPv6 born host) |
//! | 12 | store host | 8 / 20 | 64 |
//! | 13 | reconsume times | 4 | 72 |
//! | 14 | prepared transaction offset | 8 | 76 |
//! | 15 | body length + body | 4 + n | 84 |
//! | 16 | topic length + topic: 1-byte length (V1) or 2-byte (V2) | 1/2 + n | |
//! | 17 | properties length (i16) + properties | 2 + n | |
//!
//! A segment ends with an 8-byte blank marker `[remaining i32][0xCBD43194]` when the next record
//! does not fit with 8 bytes to spare; the bytes after it are zero.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

/// Magic code of a V1 record (1-byte topic length).
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// Magic code of a V2 record (2-byte topic length).
pub const MAGIC_V2: u32 = 0xDAA3_20AB;
/// Magic code of the end-of-segment marker.
pub const BLANK_MAGIC: u32 = 0xCBD4_3194;
/// Size of the end-of-segment marker; every segment keeps at least this much room for it.
pub const END_MARKER_LEN: usize = 8;
/// Byte offset of the queue-offset field.
pub const QUEUE_OFFSET_POS: usize = 20;
/// Byte offset of the physical-offset field.
pub const PHYSICAL_OFFSET_POS: usize = 28;
/// Byte offset of the sys-flag field.
pub const SYS_FLAG_POS: usize = 36;
/// Longest topic a V1 record can hold; longer topics switch to V2 as the reference does.
pub const MAX_V1_TOPIC_LEN: usize = 127;
/// Longest property string (a signed 16-bit length).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// Bits of the sys-flag field.
pub mod sys_flag {
    /// Body is compressed.
    pub const COMPRESSED: i32 = 1;
    /// Several tags.
    pub const MULTI_TAGS: i32 = 1 << 1;
    /// Mask of the transaction type (bits 2–3).
    pub const TRANSACTION_MASK: i32 = 3 << 2;
    /// Half message of a transaction.
    pub const TRANSACTION_PREPARED: i32 = 1 << 2;
    /// Commit record of a transaction.
    pub const TRANSACTION_COMMIT: i32 = 2 << 2;
    /// Rollback record of a transaction.
    pub const TRANSACTION_ROLLBACK: i32 = 3 << 2;
    /// Born host is IPv6.
    pub const BORN_HOST_V6: i32 = 1 << 4;
    /// Store host is IPv6.
    pub const STORE_HOST_V6: i32 = 1 << 5;
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the record claims or needs.
    #[error("record truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// Neither a record nor a blank marker.
    #[error("bad magic code {0:#010x}")]
    BadMagic(u32),
    /// The total-size field disagrees with the field lengths.
    #[error("declared size {declared} but fields add up to {computed}")]
    LengthMismatch {
        /// The total-size field.
        declared: usize,
        /// Sum of the field lengths.
        computed: usize,
    },
    /// Body bytes do not match the stored CRC.
    #[error("body crc mismatch: stored {stored:#x}, computed {computed:#x}")]
    BodyCrc {
        /// CRC in the record.
        stored: u32,
        /// CRC of the body bytes.
        computed: u32,
    },
    /// A negative or impossible length field.
    #[error("invalid {field} length {value}")]
    BadLength {
        /// Which length.
        field: &'static str,
        /// The value read.
        value: i64,
    },
    /// Topic or properties are not UTF-8.
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    /// Zero bytes where a written record has none: the tail of a torn write.
    #[error("{0} holds NUL bytes (torn write)")]
    Torn(&'static str),
    /// A message that cannot be encoded.
    #[error("{field} too long: {len} bytes, at most {max}")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A message as a producer hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Topic name.
    pub topic: String,
    /// Queue within the topic.
    pub queue_id: i32,
    /// User flag.
    pub flag: i32,
    /// Payload.
    pub body: Bytes,
    /// Encoded property string (see [`crate::store::properties`]).
    pub properties: String,
    /// Sys flag; the host-version bits are set by the encoder.
    pub sys_flag: i32,
    /// Producer timestamp (ms).
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// This broker's address.
    pub store_host: SocketAddr,
    /// Times this message was consumed and sent back.
    pub reconsume_times: i32,
    /// For a transaction commit: offset of the half message.
    pub prepared_transaction_offset: i64,
}

impl NewMessage {
    /// A message with defaults for everything but topic, queue, body and properties.
    pub fn new(topic: impl Into<String>, queue_id: i32, body: impl Into<Bytes>, properties: String) -> Self {
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Self {
            topic: topic.into(),
            queue_id,
            flag: 0,
            body: body.into(),
            properties,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: local,
            store_host: local,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        }
    }

    fn effective_sys_flag(&self) -> i32 {
        let mut flag = self.sys_flag & !(sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6);
        if self.born_host.is_ipv6() {
            flag |= sys_flag::BORN_HOST_V6;
        }
        if self.store_host.is_ipv6() {
            flag |= sys_flag::STORE_HOST_V6;
        }
        flag
    }

    /// Size of the encoded record.
    pub fn encoded_len(&self) -> Result<usize, RecordError> {
        let topic_len = self.topic.len();
        if topic_len > usize::from(u16::MAX) / 2 {
            return Err(RecordError::TooLong {
                field: "topic",
                len: topic_len,
                max: 32767,
            });
        }
        if self.properties.len() > MAX_PROPERTIES_LEN {
            return Err(RecordError::TooLong {
                field: "properties",
                len: self.properties.len(),
                max: MAX_PROPERTIES_LEN,
            });
        }
        let topic_len_width = if topic_len > MAX_V1_TOPIC_LEN { 2 } else { 1 };
        Ok(4 + 4
            + 4
            + 4
            + 4
            + 8
            + 8
            + 4
            + 8
            + host_len(self.born_host)
            + 8
            + host_len(self.store_host)
            + 4
            + 8
            + 4
            + self.body.len()
            + topic_len_width
            + topic_len
            + 2
            + self.properties.len())
    }

    /// Appends the encoded record to `out`, with queue offset, physical offset and store
    /// timestamp set to zero; [`patch`] fills them in under the append lock.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<usize, RecordError> {
        let len = self.encoded_len()?;
        let total = i32::try_from(len).map_err(|_| RecordError::TooLong {
            field: "record",
            len,
            max: i32::MAX as usize,
        })?;
        let v2 = self.topic.len() > MAX_V1_TOPIC_LEN;
        out.reserve(len);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&(if v2 { MAGIC_V2 } else { MAGIC_V1 }).to_be_bytes());
        out.extend_from_slice(&body_crc(&self.body).to_be_bytes());
        out.extend_from_slice(&self.queue_id.to_be_bytes());
        out.extend_from_slice(&self.flag.to_be_bytes());
        out.extend_from_slice(&0i64.to_be_bytes());
        out.extend_from_slice(&0i64.to_be_bytes());
        out.extend_from_slice(&self.effective_sys_flag().to_be_bytes());
        out.extend_from_slice(&self.born_timestamp.to_be_bytes());
        put_host(out, self.born_host);
        out.extend_from_slice(&0i64.to_be_bytes());
        put_host(out, self.store_host);
        out.extend_from_slice(&self.reconsume_times.to_be_bytes());
        out.extend_from_slice(&self.prepared_transaction_offset.to_be_bytes());
        out.extend_from_slice(&(self.body.len() as i32).to_be_bytes());
        out.extend_from_slice(&self.body);
        if v2 {
            out.extend_from_slice(&(self.topic.len() as u16).to_be_bytes());
        } else {
            out.push(self.topic.len() as u8);
        }
        out.extend_from_slice(self.topic.as_bytes());
        out.extend_from_slice(&(self.properties.len() as u16).to_be_bytes());
        out.extend_from_slice(self.properties.as_bytes());
        Ok(len)
    }

    /// Whether the transaction type keeps this record out of the consume queue.
    pub fn is_hidden_transaction_state(&self) -> bool {
        is_hidden_transaction_state(self.sys_flag)
    }
}

/// Prepared and rollback records are not dispatched to consume queues (and get queue offset 0).
pub fn is_hidden_transaction_state(sys_flag: i32) -> bool {
    matches!(
        sys_flag & sys_flag::TRANSACTION_MASK,
        sys_flag::TRANSACTION_PREPARED | sys_flag::TRANSACTION_ROLLBACK
    )
}

/// CRC32 of a body as RocketMQ stores it (top bit cleared).
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

fn host_len(addr: SocketAddr) -> usize {
    if addr.is_ipv6() { 20 } else { 8 }
}

fn put_host(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&i32::from(addr.port()).to_be_bytes());
}

/// Byte offset of the store-timestamp field for a record with this sys flag.
pub fn store_timestamp_pos(sys_flag: i32) -> usize {
    if sys_flag & sys_flag::BORN_HOST_V6 != 0 {
        68
    } else {
        56
    }
}

/// Fills in the fields only known under the append lock.
pub fn patch(record: &mut [u8], queue_offset: i64, physical_offset: i64, store_timestamp: i64) {
    let flag = i32::from_be_bytes([record[36], record[37], record[38], record[39]]);
    let ts = store_timestamp_pos(flag);
    record[QUEUE_OFFSET_POS..QUEUE_OFFSET_POS + 8].copy_from_slice(&queue_offset.to_be_bytes());
    record[PHYSICAL_OFFSET_POS..PHYSICAL_OFFSET_POS + 8].copy_from_slice(&physical_offset.to_be_bytes());
    record[ts..ts + 8].copy_from_slice(&store_timestamp.to_be_bytes());
}

/// The end-of-segment marker for `remaining` free bytes.
pub fn end_marker(remaining: usize) -> [u8; END_MARKER_LEN] {
    let mut marker = [0u8; END_MARKER_LEN];
    marker[..4].copy_from_slice(&(remaining as i32).to_be_bytes());
    marker[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
    marker
}

/// A record read in place from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Whole record length.
    pub total_size: usize,
    /// Queue within the topic.
    pub queue_id: i32,
    /// User flag.
    pub flag: i32,
    /// Logical offset in the consume queue.
    pub queue_offset: i64,
    /// Physical offset of this record.
    pub physical_offset: i64,
    /// Sys flag.
    pub sys_flag: i32,
    /// Producer timestamp.
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Store timestamp.
    pub store_timestamp: i64,
    /// Broker address.
    pub store_host: SocketAddr,
    /// Reconsume count.
    pub reconsume_times: i32,
    /// Half-message offset of a commit record.
    pub prepared_transaction_offset: i64,
    /// Body CRC as stored.
    pub body_crc: u32,
    /// Payload.
    pub body: &'a [u8],
    /// Topic.
    pub topic: &'a str,
    /// Encoded properties.
    pub properties: &'a str,
}

impl RecordView<'_> {
    /// The message this record stores, ready to be put again (delayed delivery and retries move
    /// records between topics this way). Host-version bits are re-derived when encoding.
    pub fn to_message(&self) -> NewMessage {
        NewMessage {
            topic: self.topic.to_owned(),
            queue_id: self.queue_id,
            flag: self.flag,
            body: Bytes::copy_from_slice(self.body),
            properties: self.properties.to_owned(),
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
        }
    }
}

/// What sits at a position of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A message record.
    Message(RecordView<'a>),
    /// The end-of-segment marker: skip to the next segment.
    EndOfSegment,
    /// Unwritten (zero) space: the end of the log.
    Unwritten,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or(RecordError::Truncated {
                needed: self.pos.saturating_add(n),
                available: self.buf.len(),
            })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn i32(&mut self) -> Result<i32, RecordError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, RecordError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn host(&mut self, v6: bool) -> Result<SocketAddr, RecordError> {
        let ip = if v6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(self.take(16)?);
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            let b = self.take(4)?;
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        };
        let port = self.i32()?;
        Ok(SocketAddr::new(ip, u16::try_from(port).unwrap_or(0)))
    }
}

/// Decodes what starts at `buf[0]`. `buf` runs to the end of the readable data of the segment.
/// With `check_crc` (strict) the body CRC is verified and topic and properties must hold no NUL
/// bytes (recovery, lookups); dispatch skips both.
pub fn decode(buf: &[u8], check_crc: bool) -> Result<Entry<'_>, RecordError> {
    if buf.len() < END_MARKER_LEN {
        if buf.iter().all(|b| *b == 0) {
            return Ok(Entry::Unwritten);
        }
        return Err(RecordError::Truncated {
            needed: END_MARKER_LEN,
            available: buf.len(),
        });
    }
    let mut r = Reader { buf, pos: 0 };
    let total = r.i32()?;
    let magic = r.i32()? as u32;
    match magic {
        BLANK_MAGIC => return Ok(Entry::EndOfSegment),
        MAGIC_V1 | MAGIC_V2 => {}
        0 if total == 0 => return Ok(Entry::Unwritten),
        other => return Err(RecordError::BadMagic(other)),
    }
    let total_size = usize::try_from(total)
        .ok()
        .filter(|t| *t >= 91)
        .ok_or(RecordError::BadLength {
            field: "total",
            value: i64::from(total),
        })?;
    if total_size > buf.len() {
        return Err(RecordError::Truncated {
            needed: total_size,
            available: buf.len(),
        });
    }
    r.buf = &buf[..total_size];
    let stored_crc = r.i32()? as u32;
    let queue_id = r.i32()?;
    let flag = r.i32()?;
    let queue_offset = r.i64()?;
    let physical_offset = r.i64()?;
    let sys_flag = r.i32()?;
    let born_timestamp = r.i64()?;
    let born_host = r.host(sys_flag & sys_flag::BORN_HOST_V6 != 0)?;
    let store_timestamp = r.i64()?;
    let store_host = r.host(sys_flag & sys_flag::STORE_HOST_V6 != 0)?;
    let reconsume_times = r.i32()?;
    let prepared_transaction_offset = r.i64()?;
    let body_len = r.i32()?;
    let body_len = usize::try_from(body_len).map_err(|_| RecordError::BadLength {
        field: "body",
        value: i64::from(body_len),
    })?;
    let body = r.take(body_len)?;
    let topic_len = if magic == MAGIC_V2 {
        let b = r.take(2)?;
        usize::from(u16::from_be_bytes([b[0], b[1]]))
    } else {
        usize::from(r.take(1)?[0])
    };
    let topic = std::str::from_utf8(r.take(topic_len)?).map_err(|_| RecordError::Utf8("topic"))?;
    let props_len = {
        let b = r.take(2)?;
        i16::from_be_bytes([b[0], b[1]])
    };
    let props_len = usize::try_from(props_len).map_err(|_| RecordError::BadLength {
        field: "properties",
        value: i64::from(props_len),
    })?;
    let properties = std::str::from_utf8(r.take(props_len)?).map_err(|_| RecordError::Utf8("properties"))?;
    if r.pos != total_size {
        return Err(RecordError::LengthMismatch {
            declared: total_size,
            computed: r.pos,
        });
    }
    if check_crc {
        // Strict mode (recovery, lookups by offset): the body CRC does not cover the header, so
        // also reject what a zero-filled torn page leaves behind in topic or properties.
        if topic.is_empty() || topic.contains('\0') {
            return Err(RecordError::Torn("topic"));
        }
        if properties.contains('\0') {
            return Err(RecordError::Torn("properties"));
        }
        let computed = body_crc(body);
        if computed != stored_crc {
            return Err(RecordError::BodyCrc {
                stored: stored_crc,
                computed,
            });
        }
    }
    Ok(Entry::Message(RecordView {
        total_size,
        queue_id,
        flag,
        queue_offset,
        physical_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body_crc: stored_crc,
        body,
        topic,
        properties,
    }))
}

/// The broker's `offsetMsgId`: store host IP, port (i32) and physical offset, as upper-case hex.
pub fn offset_msg_id(store_host: SocketAddr, physical_offset: i64) -> String {
    let mut raw = Vec::with_capacity(28);
    put_host(&mut raw, store_host);
    raw.extend_from_slice(&physical_offset.to_be_bytes());
    raw.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(topic: &str, body: &[u8], v6: bool) -> NewMessage {
        let mut msg = NewMessage::new(topic, 3, body.to_vec(), "TAGS\u{1}TagA\u{2}".to_string());
        msg.flag = 7;
        msg.born_timestamp = 1_700_000_000_123;
        msg.born_host = if v6 {
            "[2001:db8::1]:4000".parse().unwrap()
        } else {
            "127.1.2.3:4000".parse().unwrap()
        };
        msg.store_host = "127.0.0.1:10911".parse().unwrap();
        msg.reconsume_times = 2;
        msg.prepared_transaction_offset = 99;
        msg
    }

    #[test]
    fn encode_decode_encode_is_identity() {
        for (topic, v6) in [("TopicTest", false), (&"t".repeat(200)[..], true)] {
            let msg = sample(topic, b"hello", v6);
            let mut buf = Vec::new();
            let len = msg.encode_into(&mut buf).unwrap();
            assert_eq!(len, buf.len());
            patch(&mut buf, 5, 4096, 1_700_000_000_456);
            let Entry::Message(view) = decode(&buf, true).unwrap() else {
                panic!("not a message")
            };
            assert_eq!(view.topic, topic);
            assert_eq!((view.queue_id, view.flag, view.queue_offset), (3, 7, 5));
            assert_eq!(
                (view.physical_offset, view.store_timestamp),
                (4096, 1_700_000_000_456)
            );
            assert_eq!(view.born_host, msg.born_host);
            assert_eq!(view.body, b"hello");
            assert_eq!(view.sys_flag & sys_flag::BORN_HOST_V6 != 0, v6);
            let again = view.to_message();
            let mut buf2 = Vec::new();
            again.encode_into(&mut buf2).unwrap();
            patch(&mut buf2, 5, 4096, 1_700_000_000_456);
            assert_eq!(buf, buf2, "re-encoding a decoded record gives the same bytes");
        }
    }

    #[test]
    fn fixed_layout_matches_reference_offsets() {
        let msg = sample("T", b"", false);
        let mut buf = Vec::new();
        msg.encode_into(&mut buf).unwrap();
        // 91 bytes of fixed overhead + 1 topic byte + properties.
        assert_eq!(buf.len(), 91 + 1 + msg.properties.len());
        assert_eq!(&buf[4..8], &MAGIC_V1.to_be_bytes());
        assert_eq!(&buf[12..16], &3i32.to_be_bytes());
        assert_eq!(&buf[48..52], &[127, 1, 2, 3], "born host IPv4 at 48");
        assert_eq!(&buf[52..56], &4000i32.to_be_bytes(), "born port at 52");
        assert_eq!(&buf[64..68], &[127, 0, 0, 1], "store host at 64");
        assert_eq!(
            body_crc(b"hello"),
            907_060_870,
            "java.util.zip.CRC32 & 0x7FFFFFFF"
        );
    }

    #[test]
    fn rejects_bad_records() {
        let msg = sample("TopicTest", b"payload", false);
        let mut buf = Vec::new();
        msg.encode_into(&mut buf).unwrap();
        let mut bad_crc = buf.clone();
        let body_at = buf.len() - msg.properties.len() - 2 - "TopicTest".len() - 1 - 7;
        bad_crc[body_at] ^= 0xFF;
        assert!(matches!(decode(&bad_crc, true), Err(RecordError::BodyCrc { .. })));
        assert!(decode(&bad_crc, false).is_ok(), "dispatch does not check the crc");
        assert!(matches!(
            decode(&buf[..buf.len() - 1], true),
            Err(RecordError::Truncated { .. })
        ));
        let mut bad_len = buf.clone();
        bad_len[..4].copy_from_slice(&((buf.len() + 1) as i32).to_be_bytes());
        bad_len.push(0);
        assert!(matches!(
            decode(&bad_len, true),
            Err(RecordError::LengthMismatch { .. })
        ));
        let mut bad_magic = buf.clone();
        bad_magic[4] = 0;
        assert!(matches!(decode(&bad_magic, true), Err(RecordError::BadMagic(_))));
        let mut torn_props = buf.clone();
        let n = torn_props.len();
        torn_props[n - 3..].fill(0);
        assert!(
            decode(&torn_props, false).is_ok(),
            "lengths and body crc alone accept it"
        );
        assert!(
            matches!(decode(&torn_props, true), Err(RecordError::Torn(_))),
            "strict mode rejects"
        );
        assert_eq!(decode(&[0u8; 64], true).unwrap(), Entry::Unwritten);
        assert_eq!(decode(&end_marker(100), true).unwrap(), Entry::EndOfSegment);
    }

    #[test]
    fn offset_msg_id_layout() {
        let id = offset_msg_id("127.0.0.1:10911".parse().unwrap(), 0x1234);
        assert_eq!(id, "7F00000100002A9F0000000000001234");
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = decode(&bytes, true);
        }
    }
}
