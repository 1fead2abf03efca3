//! The JSON header (serialize type 0), as fastjson writes it: keys in alphabetical order, null
//! fields omitted, control characters escaped, every `extFields` value a string.

use std::{collections::BTreeMap, fmt};

use serde::{
    Deserialize, Serialize,
    de::{self, MapAccess, SeqAccess, Visitor},
};

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
    ext_fields: Option<ExtFields>,
}

/// `extFields`, read straight into the command's map: each value kept as text, nulls dropped.
/// (Going through `serde_json::Value` and re-collecting cost a second map and an allocation per
/// value; see `codecbench` in docs/benchmarks.md.)
struct ExtFields(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for ExtFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ExtFieldsVisitor)
    }
}

struct ExtFieldsVisitor;

impl<'de> Visitor<'de> for ExtFieldsVisitor {
    type Value = ExtFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of header fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFields, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            // A repeated key keeps its last value, as a JSON object read into a map does; a
            // null removes it.
            match map.next_value::<FieldText>()? {
                FieldText(Some(value)) => {
                    fields.insert(key, value);
                }
                FieldText(None) => {
                    fields.remove(&key);
                }
            }
        }
        Ok(ExtFields(fields))
    }
}

/// One `extFields` value as text: strings as they are, numbers and booleans (some clients send
/// them bare) as their JSON text, objects and arrays as compact JSON; `None` for null.
struct FieldText(Option<String>);

impl<'de> Deserialize<'de> for FieldText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldTextVisitor)
    }
}

struct FieldTextVisitor;

impl<'de> Visitor<'de> for FieldTextVisitor {
    type Value = FieldText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a header field value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldText, E> {
        Ok(FieldText(Some(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<FieldText, E> {
        Ok(FieldText(Some(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<FieldText, E> {
        Ok(FieldText(Some(v.to_string())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<FieldText, E> {
        Ok(FieldText(Some(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<FieldText, E> {
        Ok(FieldText(Some(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<FieldText, E> {
        // serde_json's own rendering, as the `Value` path gave.
        Ok(FieldText(Some(serde_json::Value::from(v).to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<FieldText, E> {
        Ok(FieldText(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldText, A::Error> {
        let value = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(FieldText(Some(value.to_string())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FieldText, A::Error> {
        let value = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(FieldText(Some(value.to_string())))
    }
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
    let ext_fields = header.ext_fields.map(|f| f.0).unwrap_or_default();
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
    fn every_kind_of_field_value_is_kept_as_its_text() {
        let cmd = decode(
            br#"{"code":11,"extFields":{"n":-3,"f":1.5,"o":{"k":1},"a":[1,"x"],"e":"\u00e9\"q","d":"1","d":"2","z":"1","z":null,"u":18446744073709551615,"b":false},"remark":"r\n"}"#,
        )
        .unwrap();
        let fields: Vec<(&str, &str)> = cmd
            .ext_fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("a", r#"[1,"x"]"#),
                ("b", "false"),
                ("d", "2"),
                ("e", "\u{e9}\"q"),
                ("f", "1.5"),
                ("n", "-3"),
                ("o", r#"{"k":1}"#),
                ("u", "18446744073709551615"),
            ]
        );
        for absent in [br#"{"code":1}"#.as_slice(), br#"{"code":1,"extFields":null}"#] {
            assert!(decode(absent).unwrap().ext_fields.is_empty());
        }
        assert_eq!(cmd.remark.as_deref(), Some("r\n"));
        assert!(
            matches!(
                decode(br#"{"code":1,"extFields":[1]}"#),
                Err(ProtocolError::Json(_))
            ),
            "extFields must be an object"
        );
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
