//! Why bytes are not a valid remoting frame or header.

/// Decoding errors. Any of them closes the offending connection (the reference does the same);
/// other connections are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The length prefix announces more than the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The length prefix is too small to hold the header-length word.
    #[error("frame length {0} is too small")]
    FrameTooSmall(i64),
    /// The header length does not fit inside the frame.
    #[error("header length {header} exceeds frame length {frame}")]
    HeaderTooLong {
        /// Header length.
        header: usize,
        /// Frame length (after the length prefix).
        frame: usize,
    },
    /// Neither JSON (0) nor ROCKETMQ (1).
    #[error("unknown header serialize type {0}")]
    UnknownSerializeType(u8),
    /// A JSON header that does not parse.
    #[error("invalid JSON header: {0}")]
    Json(String),
    /// A binary header that is cut short or has a negative length.
    #[error("invalid ROCKETMQ header: {0}")]
    Binary(&'static str),
    /// A required header field is absent (the reference's wording).
    #[error("the custom field <{0}> is null")]
    MissingField(&'static str),
    /// A header field does not parse as its type.
    #[error("the custom field <{field}> has an invalid value {value:?}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// The text received.
        value: String,
    },
    /// A request body that does not parse as what the code requires.
    #[error("invalid {what} body: {reason}")]
    Body {
        /// What the body should have been.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A header string that is not UTF-8.
    #[error("header {0} is not valid UTF-8")]
    Utf8(&'static str),
}
