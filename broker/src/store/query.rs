//! The read side of the store: queue reads with tag filtering, queue offsets, lookup by time,
//! by physical offset and by key.

use super::{
    MessageStore, SegmentSlice, StoreError,
    consume_queue::QueueEntry,
    index,
    properties::{self, KEY_SEPARATOR, keys},
    record::{self, Entry, RecordView},
};

/// Outcome of a queue read, as the reference's `GetMessageStatus` (the pull handler maps these
/// to response codes and next-offset suggestions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    /// Messages returned.
    Found,
    /// Entries existed but none passed the filter.
    NoMatchedMessage,
    /// Entries pointed at records already deleted.
    OffsetFoundNull,
    /// `offset` is past the end by more than one.
    OffsetOverflowBadly,
    /// `offset` equals the queue's max offset (nothing new yet).
    OffsetOverflowOne,
    /// `offset` is before the queue's min offset.
    OffsetTooSmall,
    /// No such queue.
    NoMatchedLogicQueue,
    /// The queue exists but holds nothing.
    NoMessageInQueue,
}

/// Result of [`MessageStore::get_messages`].
#[derive(Debug, Clone)]
pub struct GetResult {
    /// What happened.
    pub status: GetStatus,
    /// Where the next read should start.
    pub next_offset: i64,
    /// Queue min offset at read time.
    pub min_offset: i64,
    /// Queue max offset at read time.
    pub max_offset: i64,
    /// The records, each a whole CommitLog record.
    pub messages: Vec<SegmentSlice>,
    /// Queue offset of each returned record.
    pub queue_offsets: Vec<i64>,
}

impl GetResult {
    fn empty(status: GetStatus, next_offset: i64, min_offset: i64, max_offset: i64) -> Self {
        Self {
            status,
            next_offset,
            min_offset,
            max_offset,
            messages: Vec::new(),
            queue_offsets: Vec::new(),
        }
    }

    /// Total bytes of the returned records.
    pub fn bytes(&self) -> usize {
        self.messages.iter().map(|m| m.len()).sum()
    }
}

/// Decodes a whole record returned by the store.
pub fn view(slice: &SegmentSlice) -> Result<RecordView<'_>, StoreError> {
    match record::decode(slice, false)? {
        Entry::Message(view) => Ok(view),
        _ => Err(StoreError::NoMessage(slice.offset())),
    }
}

impl MessageStore {
    /// Smallest readable logical offset of a queue (0 if unknown).
    pub fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queues.get(topic, queue_id).map_or(0, |q| q.min_offset())
    }

    /// Next logical offset of a queue (0 if unknown).
    pub fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queues.get(topic, queue_id).map_or(0, |q| q.max_offset())
    }

    /// Every queue id known for `topic`.
    pub fn queue_ids(&self, topic: &str) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .queues
            .all()
            .iter()
            .filter(|q| q.topic() == topic)
            .map(|q| q.queue_id())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Reads up to `max_count` records (and at most `max_bytes`, but always at least one) from
    /// `offset`. `filter` sees each entry's tag code; rejected entries are skipped.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_count: usize,
        max_bytes: usize,
        filter: Option<&dyn Fn(i64) -> bool>,
    ) -> GetResult {
        let Some(queue) = self.queues.get(topic, queue_id) else {
            return GetResult::empty(GetStatus::NoMatchedLogicQueue, 0, 0, 0);
        };
        let (min, max) = (queue.min_offset(), queue.max_offset());
        if max == 0 {
            return GetResult::empty(GetStatus::NoMessageInQueue, 0, min, max);
        }
        if offset < min {
            return GetResult::empty(GetStatus::OffsetTooSmall, min, min, max);
        }
        if offset == max {
            return GetResult::empty(GetStatus::OffsetOverflowOne, offset, min, max);
        }
        if offset > max {
            return GetResult::empty(GetStatus::OffsetOverflowBadly, max, min, max);
        }
        let mut result = GetResult::empty(GetStatus::OffsetFoundNull, offset, min, max);
        let mut filtered = false;
        let mut bytes = 0;
        // Scan at most a bounded window of entries per call, so a selective filter over a huge
        // backlog cannot pin a thread.
        let window = max_count.max(1).saturating_mul(16).max(800);
        for (logical, entry) in queue.entries(offset, window) {
            if result.messages.len() >= max_count {
                break;
            }
            if !result.messages.is_empty() && bytes + entry.size as usize > max_bytes {
                break;
            }
            result.next_offset = logical + 1;
            if entry.is_placeholder() || !entry.is_written() {
                continue;
            }
            if filter.is_some_and(|f| !f(entry.tags_code)) {
                filtered = true;
                continue;
            }
            let Some(slice) = self.log.slice(entry.physical_offset as u64, entry.size as usize) else {
                continue;
            };
            bytes += slice.len();
            result.messages.push(slice);
            result.queue_offsets.push(logical);
        }
        result.status = if !result.messages.is_empty() {
            GetStatus::Found
        } else if filtered {
            GetStatus::NoMatchedMessage
        } else {
            GetStatus::OffsetFoundNull
        };
        result
    }

    /// Store timestamp of the record a queue entry points at.
    fn entry_store_timestamp(&self, entry: &QueueEntry) -> Option<i64> {
        let slice = self
            .log
            .slice(entry.physical_offset as u64, entry.size as usize)?;
        let flag = i32::from_be_bytes(slice.get(36..40)?.try_into().ok()?);
        let pos = record::store_timestamp_pos(flag);
        Some(i64::from_be_bytes(slice.get(pos..pos + 8)?.try_into().ok()?))
    }

    /// The first logical offset whose record was stored at or after `timestamp` (the max offset
    /// when every record is older).
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64 {
        let Some(queue) = self.queues.get(topic, queue_id) else {
            return 0;
        };
        let (mut low, mut high) = (queue.min_offset(), queue.max_offset());
        while low < high {
            let mid = low + (high - low) / 2;
            let ts = queue
                .get(mid)
                .filter(|e| e.is_written() && !e.is_placeholder())
                .and_then(|e| self.entry_store_timestamp(&e));
            match ts {
                Some(ts) if ts >= timestamp => high = mid,
                Some(_) => low = mid + 1,
                // Deleted record: it is older than anything still present.
                None => low = mid + 1,
            }
        }
        low
    }

    /// The record at a physical offset (as in an `offsetMsgId`), CRC-checked.
    pub fn message_at(&self, physical_offset: u64) -> Result<SegmentSlice, StoreError> {
        let slice = self.log.record_at(physical_offset)?;
        match record::decode(&slice, true)? {
            Entry::Message(v) if v.physical_offset as u64 == physical_offset => Ok(slice),
            _ => Err(StoreError::NoMessage(physical_offset)),
        }
    }

    fn indexed(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
        matches: impl Fn(&RecordView<'_>) -> bool,
    ) -> Vec<SegmentSlice> {
        let Some(index) = &self.index else {
            return Vec::new();
        };
        let log_end = self.log.max_offset();
        let mut found = Vec::new();
        for offset in index.query(&index::key(topic, key), max, begin, end) {
            if offset < 0 || offset as u64 >= log_end {
                continue;
            }
            let Ok(slice) = self.message_at(offset as u64) else {
                continue;
            };
            let keep = view(&slice).is_ok_and(|v| v.topic == topic && matches(&v));
            if keep {
                found.push(slice);
            }
        }
        found
    }

    /// Records of `topic` whose `KEYS` contain `key`, stored within `[begin, end]`, newest first.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Vec<SegmentSlice> {
        self.indexed(topic, key, max, begin, end, |v| {
            properties::get(v.properties, keys::KEYS)
                .is_some_and(|ks| ks.split(KEY_SEPARATOR).any(|k| k == key))
        })
    }

    /// Records of `topic` whose `UNIQ_KEY` is `unique_key`, stored within `[begin, end]`.
    pub fn query_by_unique_key(
        &self,
        topic: &str,
        unique_key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Vec<SegmentSlice> {
        self.indexed(topic, unique_key, max, begin, end, |v| {
            properties::get(v.properties, keys::UNIQ_KEY) == Some(unique_key)
        })
    }
}
