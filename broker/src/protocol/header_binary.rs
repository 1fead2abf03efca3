//! The ROCKETMQ binary header (serialize type 1), big-endian:
//!
//! | field | size |
//! |---|---|
//! | code | i16 |
//! | language | u8 |
//! | version | i16 |
//! | opaque | i32 |
//! | flag | i32 |
//! | remark length + remark | i32 + n (0 = none) |
//! | extFields length + entries | i32 + (i16 key length, key, i32 value length, value)* |

use std::collections::BTreeMap;

use super::{command::RemotingCommand, error::ProtocolError, language::LanguageCode};

/// Encodes the header of `command`.
pub fn encode(command: &RemotingCommand) -> Vec<u8> {
    let remark = command.remark.as_deref().unwrap_or("");
    // Key lengths are 16-bit here; a key that cannot be expressed is left out rather than
    // written with a wrapped length (only a JSON peer can send one).
    let fits = |(k, _): &(&String, &String)| k.len() <= i16::MAX as usize;
    let ext_len: usize = command
        .ext_fields
        .iter()
        .filter(fits)
        .map(|(k, v)| 2 + k.len() + 4 + v.len())
        .sum();
    let mut out = Vec::with_capacity(21 + remark.len() + ext_len);
    // The reference casts code and version to 16 bits, so does this encoding.
    out.extend_from_slice(&(command.code as i16).to_be_bytes());
    out.push(command.language.code());
    out.extend_from_slice(&(command.version as i16).to_be_bytes());
    out.extend_from_slice(&command.opaque.to_be_bytes());
    out.extend_from_slice(&command.flag.to_be_bytes());
    out.extend_from_slice(&(remark.len() as i32).to_be_bytes());
    out.extend_from_slice(remark.as_bytes());
    out.extend_from_slice(&(ext_len as i32).to_be_bytes());
    for (key, value) in command.ext_fields.iter().filter(fits) {
        out.extend_from_slice(&(key.len() as i16).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(value.len() as i32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        if n > self.buf.len() {
            return Err(ProtocolError::Binary(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn i16(&mut self, what: &'static str) -> Result<i16, ProtocolError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, ProtocolError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn len(&mut self, wide: bool, what: &'static str) -> Result<usize, ProtocolError> {
        let n = if wide {
            self.i32(what)?
        } else {
            i32::from(self.i16(what)?)
        };
        usize::try_from(n).map_err(|_| ProtocolError::Binary(what))
    }
    fn text(&mut self, n: usize, what: &'static str) -> Result<String, ProtocolError> {
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| ProtocolError::Utf8(what))
    }
}

/// Decodes a header; every length is checked against the bytes actually present.
pub fn decode(bytes: &[u8]) -> Result<RemotingCommand, ProtocolError> {
    let mut c = Cursor { buf: bytes };
    let code = i32::from(c.i16("code")?);
    let language = LanguageCode::from_code(c.take(1, "language")?[0]);
    let version = i32::from(c.i16("version")?);
    let opaque = c.i32("opaque")?;
    let flag = c.i32("flag")?;
    let remark_len = c.len(true, "remark length")?;
    let remark = if remark_len == 0 {
        None
    } else {
        Some(c.text(remark_len, "remark")?)
    };
    let ext_len = c.len(true, "extFields length")?;
    let mut ext = Cursor {
        buf: c.take(ext_len, "extFields")?,
    };
    let mut ext_fields = BTreeMap::new();
    while !ext.buf.is_empty() {
        let key_len = ext.len(false, "extFields key length")?;
        let key = ext.text(key_len, "extFields key")?;
        let value_len = ext.len(true, "extFields value length")?;
        let value = ext.text(value_len, "extFields value")?;
        ext_fields.insert(key, value);
    }
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: bytes::Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_header_is_21_bytes_and_round_trips() {
        let cmd = RemotingCommand {
            code: 105,
            opaque: 3,
            version: 475,
            ..Default::default()
        };
        let bytes = encode(&cmd);
        assert_eq!(bytes.len(), 21);
        assert_eq!(&bytes[..2], &105i16.to_be_bytes());
        assert_eq!(bytes[2], 0, "JAVA");
        assert_eq!(decode(&bytes).unwrap(), cmd);
    }

    #[test]
    fn fields_and_remark_round_trip() {
        let cmd = RemotingCommand {
            code: 11,
            opaque: -5,
            flag: 2,
            language: LanguageCode::Go,
            ..Default::default()
        }
        .with_remark("é")
        .with_field("topic", "T")
        .with_field("queueId", 1);
        let bytes = encode(&cmd);
        assert_eq!(decode(&bytes).unwrap(), cmd);
        // Layout after the fixed part: remark length 2, "é", extFields length.
        assert_eq!(&bytes[13..17], &2i32.to_be_bytes());
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err(),
                "a header cut at {cut} must not decode"
            );
        }
    }

    #[test]
    fn negative_lengths_are_errors() {
        let mut bytes = encode(&RemotingCommand::default());
        bytes[13..17].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(decode(&bytes), Err(ProtocolError::Binary("remark length")));
    }
}
