//! What the drivers' runs print, parsed: a message `send` reported sent ([`Sent`]), one `listen`
//! reported delivered ([`Delivery`]), one a basic `produce` placed ([`Placed`]), and deliveries
//! grouped by key ([`by_key`]).
//!
//! Keys are `<prefix>-<shard>-<seq>` in every driver's `send`, so a delivery names the sequence it
//! belongs to and its place in it. Times are the wall clock in microseconds, printed by the runs
//! themselves (`at=`, `start=`), which share the machine's clock.

use std::collections::BTreeMap;

use apogee_e2e::event_process::Line;

/// `(shard, seq)` of a key `<prefix>-<shard>-<seq>`; `("", -1)` for keys of another form (those
/// of the basic `produce` runs, `<prefix>-<i>`).
pub fn shard_seq(key: &str) -> (String, i64) {
    let mut parts = key.rsplitn(3, '-');
    let (seq, shard) = (parts.next(), parts.next());
    match (seq.and_then(|s| s.parse().ok()), shard, parts.next()) {
        (Some(seq), Some(shard), Some(_)) => (shard.to_owned(), seq),
        _ => (String::new(), -1),
    }
}

/// One message `send` reported sent (SEND_OK: [`Sent::parse`] asserts it).
#[derive(Debug, Clone)]
pub struct Sent {
    pub key: String,
    pub shard: String,
    pub seq: i64,
    pub delay_level: i64,
    pub queue: String,
    pub queue_offset: i64,
    pub msg_id: String,
    pub offset_msg_id: String,
    /// Just before the send, and just after it returned (µs).
    pub start: i64,
    pub at: i64,
}

impl Sent {
    /// A `SENT` line; `transcript` is shown when it is not SEND_OK.
    pub fn parse(l: &Line, transcript: impl Fn() -> String) -> Self {
        assert_eq!(l.get("status"), "SEND_OK", "{}", transcript());
        Self {
            key: l.get("key").to_owned(),
            shard: l.get("shard").to_owned(),
            seq: l.int("seq"),
            delay_level: l.int("delayLevel"),
            queue: l.get("queue").to_owned(),
            queue_offset: l.int("queueOffset"),
            msg_id: l.get("msgId").to_owned(),
            offset_msg_id: l.get("offsetMsgId").to_owned(),
            start: l.int("start"),
            at: l.int("at"),
        }
    }
}

/// A `RECV` field that not every driver prints; a driver that names it in its
/// `Driver::recv_extras` must print it on every line.
pub const STORED: &str = "stored";
/// See [`STORED`].
pub const OFFSET_MSG_ID: &str = "offsetMsgId";

/// One delivery `listen` reported.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub key: String,
    pub shard: String,
    pub seq: i64,
    pub body: String,
    pub topic: String,
    pub queue: String,
    pub queue_offset: i64,
    pub reconsume: i64,
    pub msg_id: String,
    /// Where the broker stored it, as the consumer got it (Java's `listen` does not print it).
    pub offset_msg_id: Option<String>,
    /// The ORIGIN_MESSAGE_ID and RETRY_TOPIC properties (`-` when absent).
    pub origin_msg_id: String,
    pub retry_topic: String,
    /// How many times this consumer had seen the key before.
    pub attempt: i64,
    /// `ok` or `later` (answered "reconsume later").
    pub verdict: String,
    /// The broker's store timestamp (ms): for a delayed or retried message, when the broker put
    /// it where the consumer found it (Java's `listen` does not print it).
    pub stored: Option<i64>,
    pub at: i64,
}

impl Delivery {
    /// A `RECV` line of a driver that prints the optional fields `extras` ([`STORED`],
    /// [`OFFSET_MSG_ID`]).
    pub fn parse(l: &Line, extras: &[&str]) -> Self {
        let key = l.get("key").to_owned();
        let (shard, seq) = shard_seq(&key);
        let printed = |field: &str| extras.contains(&field);
        Self {
            shard,
            seq,
            body: l.get("body").to_owned(),
            topic: l.get("topic").to_owned(),
            queue: l.get("queue").to_owned(),
            queue_offset: l.int("queueOffset"),
            reconsume: l.int("reconsume"),
            msg_id: l.get("msgId").to_owned(),
            offset_msg_id: printed(OFFSET_MSG_ID).then(|| l.get(OFFSET_MSG_ID).to_owned()),
            origin_msg_id: l.get("originMsgId").to_owned(),
            retry_topic: l.get("retryTopic").to_owned(),
            attempt: l.int("attempt"),
            verdict: l.get("verdict").to_owned(),
            stored: printed(STORED).then(|| l.int(STORED)),
            at: l.int("at"),
            key,
        }
    }
}

/// Where a synchronous send of a basic `produce` run put a message, and the body it gave it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub key: String,
    pub body: String,
    pub queue: String,
    pub queue_offset: i64,
    pub offset_msg_id: String,
}

/// The deliveries of each key that starts with `prefix`, in the order they happened.
pub fn by_key(deliveries: Vec<Delivery>, prefix: &str) -> BTreeMap<String, Vec<Delivery>> {
    let mut map: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
    for d in deliveries.into_iter().filter(|d| d.key.starts_with(prefix)) {
        map.entry(d.key.clone()).or_default().push(d);
    }
    for list in map.values_mut() {
        list.sort_by_key(|d| d.at);
    }
    map
}
