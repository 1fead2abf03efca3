//! The JSON header (serialize type 0), as fastjson writes it: keys in alphabetical order, null
//! fields omitted, control characters escaped, every `extFields` value a string.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{command::RemotingCommand, error::ProtocolError, language::LanguageCode};

#[derive(Serialize)]
struct Out<'a> {
    code: i32,
    #[serde(rename = "extFields", skip_serializing_if = "BTreeMap::is_empty")]
    ext_fields: &'a BTreeMap<String, String>,
    flag: i32,
    language: &'static str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: &'a Option<String>,
    // The Rust reference client treats this as required.
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type: &'static str,
    version: i32,
}

#[derive(Deserialize)]
struct In {
    code: i32,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    version: i32,
    #[serde(default)]
    opaque: i32,
    #[serde(default)]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    #[serde(rename = "extFields", default)]
    ext_fields: Option<BTreeMap<String, serde_json::Value>>,
}

/// Encodes the header of `command` (not its body).
pub fn encode(command: &RemotingCommand) -> Vec<u8> {
    let out = Out {
        code: command.code,
        ext_fields: &command.ext_fields,
        flag: command.flag,
        language: command.language.name(),
        opaque: command.opaque,
        remark: &command.remark,
        serialize_type: "JSON",
        version: command.version,
    };
    // Serializing strings and integers into a Vec cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// Decodes a header. Unknown keys are ignored; `extFields` values that are numbers or booleans
/// (some clients send them bare) are kept as their text; nulls are dropped.
pub fn decode(bytes: &[u8]) -> Result<RemotingCommand, ProtocolError> {
    let header: In = serde_json::from_slice(bytes).map_err(|e| ProtocolError::Json(e.to_string()))?;
    let ext_fields = header
        .ext_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect();
    Ok(RemotingCommand {
        code: header.code,
        language: header
            .language
            .as_deref()
            .map_or(LanguageCode::Other, LanguageCode::from_name),
        version: header.version,
        opaque: header.opaque,
        flag: header.flag,
        remark: header.remark,
        ext_fields,
        body: bytes::Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_java_producer_header() {
        let text = r#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","d":"4","i":"KEYS\u0001k1\u0002"},"flag":0,"language":"JAVA","opaque":12,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        let cmd = decode(text.as_bytes()).unwrap();
        assert_eq!((cmd.code, cmd.opaque, cmd.version, cmd.flag), (310, 12, 479, 0));
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!(cmd.field("b"), Some("TopicTest"));
        assert_eq!(
            cmd.field("i"),
            Some("KEYS\u{1}k1\u{2}"),
            "escaped separators are unescaped"
        );
    }

    #[test]
    fn encodes_like_fastjson() {
        let cmd = RemotingCommand {
            code: 0,
            opaque: 7,
            flag: 1,
            version: 475,
            ..Default::default()
        }
        .with_field("msgId", "AB")
        .with_field("queueOffset", 5)
        .with_field("props", "K\u{1}V\u{2}");
        let text = String::from_utf8(encode(&cmd)).unwrap();
        assert_eq!(
            text,
            r#"{"code":0,"extFields":{"msgId":"AB","props":"K\u0001V\u0002","queueOffset":"5"},"flag":1,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":475}"#
        );
        assert_eq!(decode(text.as_bytes()).unwrap(), cmd);
    }

    #[test]
    fn lenient_where_clients_differ_strict_where_it_matters() {
        let cmd = decode(
            br#"{"code":11,"extFields":{"queueId":3,"sysFlag":true,"x":null},"language":"KOTLIN","extra":1}"#,
        )
        .unwrap();
        assert_eq!(cmd.field("queueId"), Some("3"));
        assert_eq!(cmd.field("sysFlag"), Some("true"));
        assert_eq!(cmd.field("x"), None);
        assert_eq!(cmd.language, LanguageCode::Other);
        assert!(
            matches!(decode(br#"{"opaque":1}"#), Err(ProtocolError::Json(_))),
            "code is required"
        );
        assert!(matches!(decode(b"{not json"), Err(ProtocolError::Json(_))));
    }
}
