//! One message as both sides describe it, and StoreCompat's output format (see the Javadoc of
//! `e2e/java/store-compat/.../StoreCompat.java`): tab-separated lines, properties in RocketMQ's own
//! `name\u{1}value\u{2}` encoding so no value collides with a separator.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
};

use apogee_broker::store::{
    Appended, NewMessage,
    properties::{self, KEY_SEPARATOR, keys},
    record::RecordView,
};

/// Everything about a stored message that both stores must agree on. Ordered by queue, then
/// queue offset, so sorted lists compare queue by queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub topic: String,
    pub queue_id: i32,
    /// Where the consume queue has it.
    pub queue_offset: i64,
    /// The queue offset written inside the CommitLog record.
    pub record_queue_offset: i64,
    pub commit_log_offset: i64,
    pub store_timestamp: i64,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub flag: i32,
    /// The consume queue's tag code (Java `String.hashCode` of the tag), which servers filter on.
    pub tags_code: i64,
    pub properties: BTreeMap<String, String>,
    pub body: String,
}

impl Record {
    /// A record as Apogee's store returned it from a queue slot holding `queue_offset` and
    /// `tags_code`.
    pub fn from_view(view: &RecordView<'_>, queue_offset: i64, tags_code: i64) -> Self {
        Self {
            topic: view.topic.to_owned(),
            queue_id: view.queue_id,
            queue_offset,
            record_queue_offset: view.queue_offset,
            commit_log_offset: view.physical_offset,
            store_timestamp: view.store_timestamp,
            born_timestamp: view.born_timestamp,
            born_host: view.born_host,
            flag: view.flag,
            tags_code,
            properties: property_map(view.properties),
            body: String::from_utf8(view.body.to_vec()).expect("test bodies are UTF-8"),
        }
    }

    /// A message as Apogee's store reported storing it.
    pub fn from_put(msg: &NewMessage, at: &Appended) -> Self {
        Self {
            topic: msg.topic.clone(),
            queue_id: msg.queue_id,
            queue_offset: at.queue_offset,
            record_queue_offset: at.queue_offset,
            commit_log_offset: at.physical_offset as i64,
            store_timestamp: at.store_timestamp,
            born_timestamp: msg.born_timestamp,
            born_host: msg.born_host,
            flag: msg.flag,
            tags_code: properties::tags_code(properties::get(&msg.properties, keys::TAGS)),
            properties: property_map(&msg.properties),
            body: String::from_utf8(msg.body.to_vec()).expect("test bodies are UTF-8"),
        }
    }

    /// Whether a lookup of `key` should find this record: one of its `KEYS`, or its `UNIQ_KEY`.
    pub fn carries_key(&self, key: &str) -> bool {
        self.properties.get(keys::UNIQ_KEY).is_some_and(|u| u == key)
            || self
                .properties
                .get(keys::KEYS)
                .is_some_and(|ks| ks.split(KEY_SEPARATOR).any(|k| k == key))
    }
}

pub fn property_map(encoded: &str) -> BTreeMap<String, String> {
    properties::iter(encoded)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// StoreCompat's stdout, parsed.
#[derive(Debug, Default)]
pub struct Output {
    /// `(min offset, max offset)` per queue id.
    pub queues: BTreeMap<i32, (i64, i64)>,
    pub messages: Vec<Record>,
    /// Commit log offsets found per looked-up key, ascending.
    pub keys: BTreeMap<String, Vec<i64>>,
    /// The message count of the closing `DONE` line; `None` if the run did not get that far.
    pub done: Option<u64>,
}

fn field<'a>(fields: &[&'a str], i: usize, line: &str) -> &'a str {
    fields
        .get(i)
        .unwrap_or_else(|| panic!("field {i} missing in StoreCompat line {line:?}"))
}

fn parsed<T: std::str::FromStr>(fields: &[&str], i: usize, line: &str) -> T {
    field(fields, i, line)
        .parse()
        .unwrap_or_else(|_| panic!("field {i} of StoreCompat line {line:?} does not parse"))
}

impl Output {
    pub fn parse(stdout: &str) -> Self {
        let mut out = Self::default();
        for line in stdout.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f[0] {
                "QUEUE" => {
                    out.queues
                        .insert(parsed(&f, 1, line), (parsed(&f, 2, line), parsed(&f, 3, line)));
                }
                "MSG" => {
                    assert_eq!(f.len(), 14, "MSG line with {} fields: {line:?}", f.len());
                    let ip: IpAddr = parsed(&f, 8, line);
                    out.messages.push(Record {
                        topic: f[1].to_owned(),
                        queue_id: parsed(&f, 2, line),
                        queue_offset: parsed(&f, 3, line),
                        record_queue_offset: parsed(&f, 4, line),
                        commit_log_offset: parsed(&f, 5, line),
                        store_timestamp: parsed(&f, 6, line),
                        born_timestamp: parsed(&f, 7, line),
                        born_host: SocketAddr::new(ip, parsed(&f, 9, line)),
                        flag: parsed(&f, 10, line),
                        tags_code: parsed(&f, 11, line),
                        properties: property_map(f[12]),
                        body: f[13].to_owned(),
                    });
                }
                "KEY" => {
                    let hits: Vec<i64> = field(&f, 3, line)
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.parse().expect("commit log offset"))
                        .collect();
                    assert_eq!(
                        hits.len(),
                        parsed::<usize>(&f, 2, line),
                        "KEY line count: {line:?}"
                    );
                    out.keys.insert(field(&f, 1, line).to_owned(), hits);
                }
                "DONE" => out.done = Some(parsed(&f, 1, line)),
                _ => panic!("unexpected StoreCompat output line {line:?}"),
            }
        }
        out
    }
}
