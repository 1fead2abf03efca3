//! `RemotingCommand`: one request or response of the remoting protocol.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{error::ProtocolError, language::LanguageCode};

/// Flag bit 0: this command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Flag bit 1: this request must not be answered.
pub const FLAG_ONEWAY: i32 = 1 << 1;
/// The `version` Apogee answers with: the reference's ordinal of V5_3_1, which every current
/// client accepts.
pub const APOGEE_VERSION: i32 = 475;

/// A request or response.
///
/// | field | JSON | ROCKETMQ binary |
/// |---|---|---|
/// | code | int | i16 |
/// | language | enum name | u8 |
/// | version | int | i16 |
/// | opaque | int | i32 |
/// | flag | int | i32 |
/// | remark | string, omitted if none | i32 length + UTF-8 (0 = none) |
/// | extFields | object of strings, omitted if empty | i32 total + (i16 key length, key, i32 value length, value)* |
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemotingCommand {
    /// Request code or response code.
    pub code: i32,
    /// Sender's language.
    pub language: LanguageCode,
    /// Sender's version ordinal.
    pub version: i32,
    /// Request id; a response echoes it.
    pub opaque: i32,
    /// Response and oneway bits.
    pub flag: i32,
    /// Error text.
    pub remark: Option<String>,
    /// The custom header: every value a string, as the reference's clients require.
    pub ext_fields: BTreeMap<String, String>,
    /// Body bytes (empty when absent).
    pub body: Bytes,
}

impl RemotingCommand {
    /// A request with `code` and `opaque`.
    pub fn request(code: i32, opaque: i32) -> Self {
        Self {
            code,
            opaque,
            version: APOGEE_VERSION,
            ..Self::default()
        }
    }

    /// The response to `request` with `code` (flag and opaque set).
    pub fn response_to(request: &Self, code: i32) -> Self {
        Self {
            code,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            version: APOGEE_VERSION,
            ..Self::default()
        }
    }

    /// Whether this is a response.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether this is a request that must not be answered.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Marks the request as oneway.
    pub fn oneway(mut self) -> Self {
        self.flag |= FLAG_ONEWAY;
        self
    }

    /// Sets the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a header field (rendered as a string, as the reference does for numbers and flags).
    pub fn with_field(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.ext_fields.insert(key.into(), value.to_string());
        self
    }

    /// A header field.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key).map(String::as_str)
    }

    /// A required header field parsed as `T`.
    pub fn required<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, ProtocolError> {
        self.optional(key)?.ok_or(ProtocolError::MissingField(key))
    }

    /// An optional header field parsed as `T`.
    pub fn optional<T: std::str::FromStr>(&self, key: &'static str) -> Result<Option<T>, ProtocolError> {
        self.field(key)
            .map(|v| {
                v.parse().map_err(|_| ProtocolError::InvalidField {
                    field: key,
                    value: v.to_owned(),
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_fields_and_flags() {
        let req = RemotingCommand::request(14, 4)
            .with_field("queueId", 3)
            .with_field("topic", "T");
        assert_eq!(req.required::<i32>("queueId"), Ok(3));
        assert_eq!(req.optional::<i64>("commitOffset"), Ok(None));
        assert_eq!(
            req.required::<i32>("consumerGroup").unwrap_err().to_string(),
            "the custom field <consumerGroup> is null"
        );
        assert!(matches!(
            req.required::<i32>("topic"),
            Err(ProtocolError::InvalidField { field: "topic", .. })
        ));
        let resp = RemotingCommand::response_to(&req.clone().oneway(), 22);
        assert!(resp.is_response() && !resp.is_oneway());
        assert_eq!(resp.opaque, 4);
        assert!(req.oneway().is_oneway());
    }
}
