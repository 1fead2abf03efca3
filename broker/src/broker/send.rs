//! SEND_MESSAGE (10, long header names), SEND_MESSAGE_V2 (310, short names) and
//! SEND_BATCH_MESSAGE (320): validate, auto-create the topic through TBW102 when allowed, store,
//! answer with the fields clients decode (msgId, queueId, queueOffset, MSG_REGION, TRACE_ON).

use std::net::SocketAddr;

use bytes::{Buf, Bytes};

use super::{
    response,
    topics::{self, PERM_INHERIT, PERM_WRITE, TopicTable},
};
use crate::{
    namesrv::route_data::TopicConfig,
    protocol::{ProtocolError, RemotingCommand, code::request, code::response as codes},
    store::{MessageStore, NewMessage, PutStatus, properties, record},
};

/// Settings the send path needs.
#[derive(Debug, Clone)]
pub struct SendSettings {
    /// `brokerIP1:listenPort`, written into records and offsetMsgIds.
    pub store_host: SocketAddr,
    /// `autoCreateTopicEnable`.
    pub auto_create_topic: bool,
    /// `regionId`, returned as MSG_REGION.
    pub region_id: String,
    /// `traceOn`, returned as TRACE_ON.
    pub trace_on: bool,
    /// How many delay levels `messageDelayLevel` defines.
    pub delay_levels: usize,
}

/// Parks a message with a delay level in the schedule topic: queue `level - 1` (levels above
/// the last clamp to it), its destination kept in REAL_TOPIC / REAL_QID for the scheduler.
pub fn schedule(msg: &mut NewMessage, level: i32, levels: usize) {
    let level = usize::try_from(level).unwrap_or(1).clamp(1, levels.max(1));
    park(msg, topics::SCHEDULE_TOPIC, i32::try_from(level - 1).unwrap_or(0));
}

/// Moves a message to a system queue, keeping its destination in REAL_TOPIC / REAL_QID.
pub fn park(msg: &mut NewMessage, topic: &str, queue_id: i32) {
    let props = properties::with(&msg.properties, properties::keys::REAL_TOPIC, &msg.topic);
    msg.properties = properties::with(&props, properties::keys::REAL_QID, &msg.queue_id.to_string());
    msg.topic = topic.to_owned();
    msg.queue_id = queue_id;
}

/// The send header, whichever names it came under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendHeader {
    /// Producer group.
    pub producer_group: String,
    /// Topic.
    pub topic: String,
    /// Template topic for auto-creation (TBW102).
    pub default_topic: String,
    /// Queues the client wants for an auto-created topic.
    pub default_topic_queue_nums: i32,
    /// Target queue.
    pub queue_id: i32,
    /// Sys flag.
    pub sys_flag: i32,
    /// Producer timestamp.
    pub born_timestamp: i64,
    /// User flag.
    pub flag: i32,
    /// Encoded properties.
    pub properties: String,
    /// Reconsume count (retries).
    pub reconsume_times: i32,
    /// Batch body.
    pub batch: bool,
}

impl SendHeader {
    /// Reads the header under the names of the request's code: 10 uses long names, 310 and 320
    /// the V2 letters (`a` = producerGroup … `m` = batch).
    pub fn parse(req: &RemotingCommand) -> Result<Self, ProtocolError> {
        let short = req.code != request::SEND_MESSAGE;
        let name = |long: &'static str, letter: &'static str| if short { letter } else { long };
        Ok(Self {
            producer_group: req.required(name("producerGroup", "a"))?,
            topic: req.required(name("topic", "b"))?,
            default_topic: req.required(name("defaultTopic", "c"))?,
            default_topic_queue_nums: req.required(name("defaultTopicQueueNums", "d"))?,
            queue_id: req.required(name("queueId", "e"))?,
            sys_flag: req.required(name("sysFlag", "f"))?,
            born_timestamp: req.required(name("bornTimestamp", "g"))?,
            flag: req.required(name("flag", "h"))?,
            properties: req.optional(name("properties", "i"))?.unwrap_or_default(),
            reconsume_times: req.optional(name("reconsumeTimes", "j"))?.unwrap_or(0),
            batch: req.optional(name("batch", "m"))?.unwrap_or(false)
                || req.code == request::SEND_BATCH_MESSAGE,
        })
    }
}

/// One message of a batch body: `total i32 | magic i32 | body crc i32 | flag i32 | body length
/// i32 + body | properties length i16 + properties`.
pub fn decode_batch(mut body: Bytes) -> Result<Vec<(i32, Bytes, String)>, ProtocolError> {
    let mut out = Vec::new();
    while body.has_remaining() {
        if body.remaining() < 20 {
            return Err(ProtocolError::Binary("batch message header"));
        }
        let total = usize::try_from(body.get_i32()).map_err(|_| ProtocolError::Binary("batch total size"))?;
        if total < 22 || total - 4 > body.remaining() {
            return Err(ProtocolError::Binary("batch total size"));
        }
        let mut one = body.split_to(total - 4);
        one.advance(8); // magic and body CRC: the store computes its own
        let flag = one.get_i32();
        let len = usize::try_from(one.get_i32()).map_err(|_| ProtocolError::Binary("batch body length"))?;
        if len + 2 > one.remaining() {
            return Err(ProtocolError::Binary("batch body length"));
        }
        let payload = one.split_to(len);
        let props_len =
            usize::try_from(one.get_i16()).map_err(|_| ProtocolError::Binary("batch properties length"))?;
        if props_len != one.remaining() {
            return Err(ProtocolError::Binary("batch properties length"));
        }
        let props = String::from_utf8(one.to_vec()).map_err(|_| ProtocolError::Utf8("batch properties"))?;
        out.push((flag, payload, props));
    }
    Ok(out)
}

/// The topic's config, created from the template topic when allowed. `Err` is the response.
fn resolve_topic(
    req: &RemotingCommand,
    header: &SendHeader,
    table: &TopicTable,
    settings: &SendSettings,
) -> Result<(TopicConfig, bool), RemotingCommand> {
    if let Some(found) = table.get(&header.topic) {
        return Ok((found, false));
    }
    let template = table
        .get(&header.default_topic)
        .filter(|t| settings.auto_create_topic && t.perm & PERM_INHERIT != 0);
    let Some(template) = template else {
        return Err(response::refuse(
            req,
            codes::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", header.topic),
        ));
    };
    let queues = header
        .default_topic_queue_nums
        .clamp(1, template.write_queue_nums.max(1));
    let created = TopicConfig {
        topic_name: header.topic.clone(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: template.perm & !PERM_INHERIT,
        ..TopicConfig::default()
    };
    table
        .put(created.clone())
        .map_err(|e| response::from_store(req, &e))?;
    Ok((created, true))
}

/// Handles a send. Returns the response and whether a topic was created (the broker then
/// registers with the NameServers at once so the route appears).
pub async fn handle(
    req: &RemotingCommand,
    born_host: SocketAddr,
    store: &MessageStore,
    table: &TopicTable,
    settings: &SendSettings,
) -> (RemotingCommand, bool) {
    let header = match SendHeader::parse(req) {
        Ok(h) => h,
        Err(err) => return (response::from_protocol(req, &err), false),
    };
    if let Err(why) = topics::validate_name(&header.topic) {
        return (response::refuse(req, codes::INVALID_PARAMETER, why), false);
    }
    let (topic, created) = match resolve_topic(req, &header, table, settings) {
        Ok(t) => t,
        Err(refusal) => return (refusal, false),
    };
    if topic.perm & PERM_WRITE == 0 {
        let remark = format!("the topic[{}] sending message is forbidden", header.topic);
        return (response::refuse(req, codes::NO_PERMISSION, remark), created);
    }
    if header.queue_id < 0 || header.queue_id >= topic.write_queue_nums.max(topic.read_queue_nums) {
        let remark = format!(
            "request queueId[{}] is illegal, topic has {} queues",
            header.queue_id, topic.write_queue_nums
        );
        return (response::refuse(req, codes::INVALID_PARAMETER, remark), created);
    }
    let delay_level = properties::get(&header.properties, properties::keys::DELAY)
        .and_then(|d| d.trim().parse::<i32>().ok())
        .filter(|d| *d > 0);
    if delay_level.is_some() && header.batch {
        return (
            response::refuse(
                req,
                codes::MESSAGE_ILLEGAL,
                "delay levels are not supported for batch messages",
            ),
            created,
        );
    }
    let tx_type = header.sys_flag & record::sys_flag::TRANSACTION_MASK;
    let half = tx_type == record::sys_flag::TRANSACTION_PREPARED;
    if tx_type != 0 && !half {
        let remark = "only prepared (half) transactional messages may be sent; commit with END_TRANSACTION";
        return (response::refuse(req, codes::MESSAGE_ILLEGAL, remark), created);
    }
    if half && header.batch {
        let remark = "transactional messages cannot be sent in a batch";
        return (response::refuse(req, codes::MESSAGE_ILLEGAL, remark), created);
    }
    let base = |flag: i32, body: Bytes, props: String| {
        let mut msg = NewMessage::new(header.topic.clone(), header.queue_id, body, props);
        if half {
            // A half message waits, invisible, in the half topic until the producer ends it;
            // the delay level (if any) applies when it is committed.
            park(&mut msg, topics::TRANS_HALF_TOPIC, 0);
            msg.sys_flag = header.sys_flag & !record::sys_flag::TRANSACTION_MASK;
        } else if let Some(level) = delay_level {
            schedule(&mut msg, level, settings.delay_levels);
        }
        msg.flag = flag;
        if !half {
            msg.sys_flag = header.sys_flag;
        }
        msg.born_timestamp = header.born_timestamp;
        msg.born_host = born_host;
        msg.store_host = settings.store_host;
        msg.reconsume_times = header.reconsume_times;
        msg
    };
    let messages = if header.batch {
        if header.topic.starts_with("%RETRY%") {
            return (
                response::refuse(
                    req,
                    codes::MESSAGE_ILLEGAL,
                    "batch messages cannot go to a retry topic",
                ),
                created,
            );
        }
        match decode_batch(req.body.clone()) {
            Ok(parts) if !parts.is_empty() => parts.into_iter().map(|(f, b, p)| base(f, b, p)).collect(),
            Ok(_) => {
                return (
                    response::refuse(req, codes::MESSAGE_ILLEGAL, "empty batch"),
                    created,
                );
            }
            Err(err) => {
                return (
                    response::refuse(req, codes::MESSAGE_ILLEGAL, err.to_string()),
                    created,
                );
            }
        }
    } else {
        vec![base(header.flag, req.body.clone(), header.properties.clone())]
    };
    let uniq: Vec<String> = messages
        .iter()
        .filter_map(|m| properties::get(&m.properties, properties::keys::UNIQ_KEY).map(str::to_owned))
        .collect();
    let result = match store.put_batch(messages).await {
        Ok(result) => result,
        Err(err) => return (response::from_store(req, &err), created),
    };
    let code = match result.status {
        PutStatus::Ok => codes::SUCCESS,
        PutStatus::FlushDiskTimeout => codes::FLUSH_DISK_TIMEOUT,
    };
    let ids: Vec<String> = result
        .appended
        .iter()
        .map(|a| record::offset_msg_id(settings.store_host, a.physical_offset as i64))
        .collect();
    let first = result.appended.first().map_or(0, |a| a.queue_offset);
    let mut reply = RemotingCommand::response_to(req, code)
        .with_field("msgId", ids.join(","))
        .with_field("queueId", header.queue_id)
        .with_field("queueOffset", first)
        .with_field("MSG_REGION", &settings.region_id)
        .with_field("TRACE_ON", settings.trace_on);
    if !uniq.is_empty() {
        reply = reply.with_field("transactionId", uniq.join(","));
    }
    (reply, created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_entry(flag: i32, body: &[u8], props: &str) -> Vec<u8> {
        let total = 4 + 4 + 4 + 4 + 4 + body.len() + 2 + props.len();
        let mut out = Vec::new();
        out.extend_from_slice(&(total as i32).to_be_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&flag.to_be_bytes());
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&(props.len() as i16).to_be_bytes());
        out.extend_from_slice(props.as_bytes());
        out
    }

    #[test]
    fn batch_body_layout() {
        let mut body = batch_entry(1, b"one", "UNIQ_KEY\u{1}A\u{2}");
        body.extend(batch_entry(2, b"", ""));
        let parts = decode_batch(Bytes::from(body.clone())).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].0, parts[0].1.as_ref(), parts[0].2.as_str()),
            (1, &b"one"[..], "UNIQ_KEY\u{1}A\u{2}")
        );
        assert_eq!((parts[1].0, parts[1].1.len()), (2, 0));
        for cut in 1..body.len() {
            assert!(
                decode_batch(Bytes::from(body[..cut].to_vec())).is_err() || cut == body.len() - 22,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn both_header_namings_parse_to_the_same_header() {
        let long = RemotingCommand::request(request::SEND_MESSAGE, 1)
            .with_field("producerGroup", "PG")
            .with_field("topic", "T")
            .with_field("defaultTopic", "TBW102")
            .with_field("defaultTopicQueueNums", 4)
            .with_field("queueId", 2)
            .with_field("sysFlag", 0)
            .with_field("bornTimestamp", 5)
            .with_field("flag", 0)
            .with_field("properties", "TAGS\u{1}A\u{2}");
        let mut v2 = RemotingCommand::request(request::SEND_MESSAGE_V2, 1);
        for (letter, value) in [
            ("a", "PG"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "2"),
            ("f", "0"),
            ("g", "5"),
            ("h", "0"),
            ("i", "TAGS\u{1}A\u{2}"),
        ] {
            v2 = v2.with_field(letter, value);
        }
        assert_eq!(SendHeader::parse(&long).unwrap(), SendHeader::parse(&v2).unwrap());
        let missing = RemotingCommand::request(request::SEND_MESSAGE_V2, 1).with_field("a", "PG");
        assert_eq!(
            SendHeader::parse(&missing).unwrap_err().to_string(),
            "the custom field <b> is null"
        );
    }
}
