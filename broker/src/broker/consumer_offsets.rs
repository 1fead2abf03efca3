//! Committed consumer offsets: `config/consumerOffset.json`,
//! `{"offsetTable":{"<topic>@<group>":{"<queueId>":<offset>}}}`.
//!
//! The reference writes that file with fastjson, whose integer map keys are not quoted
//! (`{0:12}`). Reading a volume it wrote therefore goes through [`quote_integer_keys`] first;
//! Apogee itself writes standard JSON, which fastjson reads too.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Mutex, MutexGuard, PoisonError},
};

use serde::{Deserialize, Serialize};

use crate::store::{StoreError, config_file};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnDisk {
    #[serde(default)]
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// Adds quotes around integer object keys outside strings: `{0:12,-1:3}` → `{"0":12,"-1":3}`.
pub fn quote_integer_keys(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(text.len() + 16);
    let (mut i, mut in_string, mut after_open) = (0, false, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            if c == b'\\' && i + 1 < bytes.len() {
                out.extend_from_slice(&bytes[i..i + 2]);
                i += 2;
                continue;
            }
            in_string = c != b'"';
        } else if c == b'"' {
            in_string = true;
        } else if after_open && (c.is_ascii_digit() || c == b'-') {
            let end = i
                + bytes[i..]
                    .iter()
                    .skip(1)
                    .take_while(|b| b.is_ascii_digit())
                    .count()
                + 1;
            let rest = text[end..].trim_start();
            if rest.starts_with(':') {
                out.push(b'"');
                out.extend_from_slice(&bytes[i..end]);
                out.push(b'"');
                i = end;
                after_open = false;
                continue;
            }
        }
        if !c.is_ascii_whitespace() {
            after_open = !in_string && (c == b'{' || c == b',');
        }
        out.push(c);
        i += 1;
    }
    // Only ASCII quotes were inserted between whole UTF-8 sequences.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The offset table.
#[derive(Debug)]
pub struct ConsumerOffsets {
    path: PathBuf,
    table: Mutex<BTreeMap<String, BTreeMap<i32, i64>>>,
}

fn key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

impl ConsumerOffsets {
    /// Loads the file (or its `.bak`); missing means empty.
    pub fn load(path: PathBuf) -> Result<Self, StoreError> {
        let parsed = config_file::read_with_backup(&path, |text| {
            serde_json::from_str::<OnDisk>(&quote_integer_keys(text)).map_err(|e| e.to_string())
        })?;
        Ok(Self {
            path,
            table: Mutex::new(parsed.unwrap_or_default().offset_table),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, BTreeMap<i32, i64>>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a committed offset (kept in memory; see [`ConsumerOffsets::persist`]).
    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.lock()
            .entry(key(topic, group))
            .or_default()
            .insert(queue_id, offset);
    }

    /// The committed offset, if the group ever committed one for this queue (otherwise the
    /// broker answers QUERY_NOT_FOUND, code 22).
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.lock().get(&key(topic, group))?.get(&queue_id).copied()
    }

    /// Every queue offset of a group on a topic.
    pub fn of(&self, group: &str, topic: &str) -> BTreeMap<i32, i64> {
        self.lock().get(&key(topic, group)).cloned().unwrap_or_default()
    }

    /// Groups with offsets on `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let prefix = format!("{topic}@");
        self.lock()
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }

    /// Forgets a group's offsets on one topic (the topic was deleted).
    pub fn remove_topic(&self, group: &str, topic: &str) {
        self.lock().remove(&key(topic, group));
    }

    /// Every `topic@group` key with its queue offsets (GET_ALL_CONSUMER_OFFSET, consume stats).
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<i32, i64>> {
        self.lock().clone()
    }

    /// Topics on which `group` has offsets.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        let suffix = format!("@{group}");
        self.lock()
            .keys()
            .filter_map(|k| k.strip_suffix(&suffix).map(str::to_owned))
            .collect()
    }

    /// Forgets a group everywhere (DELETE_SUBSCRIPTIONGROUP with cleanOffset).
    pub fn remove_group(&self, group: &str) {
        let suffix = format!("@{group}");
        self.lock().retain(|k, _| !k.ends_with(&suffix));
    }

    /// Writes the table atomically (every `flushConsumerOffsetInterval` and at shutdown).
    pub fn persist(&self) -> Result<(), StoreError> {
        let snapshot = OnDisk {
            offset_table: self.lock().clone(),
        };
        config_file::write_atomic(&self.path, &serde_json::to_vec(&snapshot).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastjson_integer_keys_are_read() {
        assert_eq!(
            quote_integer_keys(r#"{"a@b":{0:12,1:3}}"#),
            r#"{"a@b":{"0":12,"1":3}}"#
        );
        assert_eq!(quote_integer_keys(r#"{ 0 : 1 , -2:5}"#), r#"{ "0" : 1 , "-2":5}"#);
        assert_eq!(
            quote_integer_keys(r#"{"s":"{0:1}","n":[1,2]}"#),
            r#"{"s":"{0:1}","n":[1,2]}"#,
            "strings and arrays untouched"
        );
        assert_eq!(quote_integer_keys(r#"{"e":"q\"{0:1"}"#), r#"{"e":"q\"{0:1"}"#);
        assert_eq!(
            quote_integer_keys(r#"{"T@组":{0:1}}"#),
            r#"{"T@组":{"0":1}}"#,
            "non-ASCII survives"
        );
    }

    #[test]
    fn commit_query_persist_and_read_a_reference_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/consumerOffset.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"offsetTable":{"TopicTest@CG":{0:12,1:3},"%RETRY%CG@CG":{0:0}}}"#,
        )
        .unwrap();
        let offsets = ConsumerOffsets::load(path.clone()).unwrap();
        assert_eq!(offsets.query("CG", "TopicTest", 0), Some(12));
        assert_eq!(
            offsets.query("CG", "TopicTest", 7),
            None,
            "never committed: code 22"
        );
        offsets.commit("CG", "TopicTest", 1, 40);
        offsets.commit("Other", "TopicTest", 0, 1);
        assert_eq!(offsets.groups_of_topic("TopicTest"), vec!["CG", "Other"]);
        offsets.persist().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""TopicTest@CG":{"0":12,"1":40}"#), "{text}");
        offsets.remove_group("CG");
        assert_eq!(offsets.query("CG", "TopicTest", 0), None);
        let reloaded = ConsumerOffsets::load(path).unwrap();
        assert_eq!(reloaded.of("CG", "TopicTest").get(&1), Some(&40));
    }
}
