//! RocketMQ's remoting protocol, sans-IO: bytes in, [`RemotingCommand`]s out, and back.
//!
//! ```text
//! socket bytes ─▶ frame::decode (length prefix, bound) ─▶ header_json | header_binary ─▶ RemotingCommand
//! RemotingCommand ─▶ frame::encode (JSON header by default) ─▶ socket bytes
//! ```
//!
//! Sockets live in the remoting layer; request semantics in the handlers.

pub mod code;
pub mod command;
pub mod error;
pub mod frame;
pub mod header_binary;
pub mod header_json;
pub mod language;

pub use command::RemotingCommand;
pub use error::ProtocolError;
pub use frame::SerializeType;
pub use language::LanguageCode;
