//! Message properties as RocketMQ stores and sends them: `key\x01value\x02key\x01value\x02…`,
//! UTF-8, and the Java `String.hashCode` RocketMQ uses for tag codes and index keys.

/// Separates a key from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Ends one key/value pair.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Well-known property keys (the names the reference clients and broker use).
pub mod keys {
    /// The message's tag.
    pub const TAGS: &str = "TAGS";
    /// Space-separated business keys.
    pub const KEYS: &str = "KEYS";
    /// Client-generated unique id (`msgId` as clients print it).
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    /// Delay level of a scheduled message.
    pub const DELAY: &str = "DELAY";
    /// Whether the producer waits for the store.
    pub const WAIT: &str = "WAIT";
    /// Topic a delayed or half message will be delivered to.
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    /// Queue a delayed or half message will be delivered to.
    pub const REAL_QID: &str = "REAL_QID";
    /// Original topic of a message being retried.
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    /// Client id of the message a retry copies.
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    /// Retries before the dead-letter queue, as the consumer set it.
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    /// A transactional (half) message.
    pub const TRAN_MSG: &str = "TRAN_MSG";
    /// Producer group of a transactional message.
    pub const PRODUCER_GROUP: &str = "PGROUP";
}

/// Separator between keys inside the `KEYS` property.
pub const KEY_SEPARATOR: char = ' ';

/// Iterates the `(key, value)` pairs of an encoded property string. Malformed pairs (no
/// separator) are skipped rather than failing: the text came from a client or from disk.
pub fn iter(encoded: &str) -> impl Iterator<Item = (&str, &str)> {
    encoded
        .split(PROPERTY_SEPARATOR)
        .filter_map(|pair| pair.split_once(NAME_VALUE_SEPARATOR))
}

/// The value of `key`, if present.
pub fn get<'a>(encoded: &'a str, key: &str) -> Option<&'a str> {
    iter(encoded).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Encodes pairs into the property string format.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        out.push_str(key);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(value);
        out.push(PROPERTY_SEPARATOR);
    }
    out
}

/// `encoded` with `key` set to `value` (replacing any previous value, keeping the order of
/// the others).
pub fn with(encoded: &str, key: &str, value: &str) -> String {
    let mut out = without(encoded, key);
    out.push_str(&encode([(key, value)]));
    out
}

/// `encoded` without `key`.
pub fn without(encoded: &str, key: &str) -> String {
    encode(iter(encoded).filter(|(k, _)| *k != key))
}

/// Java's `String.hashCode()`: `h = 31 * h + c` over UTF-16 code units, wrapping.
pub fn java_hash(text: &str) -> i32 {
    text.encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)))
}

/// Consume-queue tag code of a message: the tag's Java hash, sign-extended; 0 without a tag.
pub fn tags_code(tags: Option<&str>) -> i64 {
    tags.filter(|t| !t.is_empty())
        .map_or(0, |t| i64::from(java_hash(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_java() {
        // Values computed by java.lang.String#hashCode.
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("TagA"), 2_598_919);
        assert_eq!(java_hash("hello"), 99_162_322);
        assert_eq!(java_hash("TopicTest#KEY1"), -1_656_969_516);
        // Non-BMP characters hash as two UTF-16 surrogates: "😀" is U+D83D U+DE00.
        assert_eq!(java_hash("😀"), 1_772_899);
    }

    #[test]
    fn encode_then_iterate() {
        let text = encode([("TAGS", "A"), ("KEYS", "k1 k2")]);
        assert_eq!(text, "TAGS\u{1}A\u{2}KEYS\u{1}k1 k2\u{2}");
        assert_eq!(get(&text, "KEYS"), Some("k1 k2"));
        assert_eq!(get(&text, "NONE"), None);
        assert_eq!(
            iter("junk\u{2}TAGS\u{1}B").collect::<Vec<_>>(),
            vec![("TAGS", "B")]
        );
        assert_eq!(tags_code(Some("TagA")), 2_598_919);
        assert_eq!(tags_code(None), 0);
        let set = with(&text, "TAGS", "B");
        assert_eq!(set, "KEYS\u{1}k1 k2\u{2}TAGS\u{1}B\u{2}");
        assert_eq!(without(&set, "KEYS"), "TAGS\u{1}B\u{2}");
    }
}
