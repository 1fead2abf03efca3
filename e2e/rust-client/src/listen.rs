//! `listen`: a push consumer for the messaging-semantics scenarios, with what `consume` keeps
//! fixed made choosable. It runs until stdin closes (or `--timeout-ms`).
//!
//! ```text
//! rust-client-compat listen --namesrv A --group G --topic T [--expr '*'] [--from first|last]
//!     [--model clustering|broadcasting] [--orderly] [--fail P=N|always,..] [--max-reconsume N]
//!     [--consume-ms M] [--timeout-ms 300000]
//!   STARTED group=G topic=T
//!   OWNED queues=B:0,B:1|- retry=B:0|- at=µs
//!   RECV key=K body=.. topic=T queue=B:Q queueOffset=N reconsume=R msgId=M offsetMsgId=O
//!        originMsgId=I retryTopic=T attempt=A verdict=ok|later stored=ms at=µs
//!   DONE received=N reason=stdin|timeout
//! ```
//!
//! - `--orderly`: a `MessageListenerOrderly` (the client's orderly consumption: queue locks at the
//!   broker, one message at a time per queue); otherwise a `MessageListenerConcurrently`;
//! - `--fail P=N,..` (concurrent only): a message whose key starts with `P` is answered
//!   `ReconsumeLater` the first N times this consumer sees it (`always`: every time). The client
//!   gives the listener no way to choose the delay level of the retry, so the broker picks it,
//!   3 plus the message's reconsume times. (rocketmq-client-rust 1.0.0 passes the listener
//!   `&ConsumeConcurrentlyContext`, src/consumer/listener/message_listener_concurrently.rs:98,
//!   whose `set_delay_level_when_next_consume` takes `&mut self`,
//!   src/consumer/listener/consume_concurrently_context.rs:37.)
//! - `--max-reconsume N`: the builder's `max_reconsume_times` (-1, the default: the client's 16);
//! - `--consume-ms`: how long the listener takes per message.
//!
//! `OWNED` is printed whenever the queues the consumer consumes change: the process queues of the
//! client's running info (`consumer_running_info`) that are not dropped and, for an orderly
//! clustering consumer, whose broker lock it holds; `queues` of the topic, `retry` of the group's
//! retry topic. `RECV` shows a message as the listener got it (topic after the client put a
//! retried message's original topic back), the ORIGIN_MESSAGE_ID and RETRY_TOPIC properties a
//! redelivery carries, how many times this consumer had seen the key before (`attempt`), the
//! answer (`verdict`), the broker's store timestamp (ms) and the time.

use std::{
    collections::{BTreeSet, HashMap},
    process::ExitCode,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rocketmq_client_rust::{
    ClientResult, ClientRuntime, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    ConsumeOrderlyContext, ConsumeOrderlyStatus, DefaultMQPushConsumer, MQPushConsumer,
    MessageListenerConcurrently, MessageListenerOrderly,
};
use rocketmq_model::common::{
    consumer::consume_from_where::ConsumeFromWhere,
    message::{MessageTrait, message_ext::MessageExt},
};
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;

use crate::{Args, SHUTDOWN_TIMEOUT, field, micros, stdin_closed};

/// How often the consumer's running info is looked at for `OWNED`.
const OWNED_POLL: Duration = Duration::from_millis(50);

/// One `--fail` rule: a key prefix and how many deliveries of such a key are rejected.
struct FailRule {
    prefix: String,
    failures: usize,
}

pub struct ListenOpts {
    namesrv: String,
    group: String,
    topic: String,
    expr: String,
    from: ConsumeFromWhere,
    model: MessageModel,
    orderly: bool,
    rules: Vec<FailRule>,
    max_reconsume: i32,
    consume: Duration,
    timeout: Duration,
}

impl ListenOpts {
    pub fn from(args: &Args) -> Result<Self, String> {
        let from = match args.or("from", "first").as_str() {
            "first" => ConsumeFromWhere::ConsumeFromFirstOffset,
            "last" => ConsumeFromWhere::ConsumeFromLastOffset,
            other => return Err(format!("--from {other:?}: first or last")),
        };
        let model = match args.or("model", "clustering").as_str() {
            "clustering" => MessageModel::Clustering,
            "broadcasting" => MessageModel::Broadcasting,
            other => return Err(format!("--model {other:?}: clustering or broadcasting")),
        };
        let mut rules = Vec::new();
        for spec in args.or("fail", "").split(',').filter(|s| !s.is_empty()) {
            let (prefix, n) = spec
                .split_once('=')
                .ok_or_else(|| format!("--fail wants PREFIX=N, not {spec:?}"))?;
            let failures = match n {
                "always" => usize::MAX,
                n => n
                    .parse()
                    .map_err(|_| format!("--fail {spec:?}: N is a count or always"))?,
            };
            rules.push(FailRule {
                prefix: prefix.to_owned(),
                failures,
            });
        }
        let orderly = args.flags.contains("orderly");
        if orderly && !rules.is_empty() {
            return Err("--fail is for the concurrent listener".to_owned());
        }
        let max_reconsume = match args.values.get("max-reconsume") {
            None => -1,
            Some(v) => v.parse().map_err(|_| format!("--max-reconsume {v:?}"))?,
        };
        Ok(Self {
            namesrv: args.required("namesrv")?,
            group: args.required("group")?,
            topic: args.required("topic")?,
            expr: args.or("expr", "*"),
            from,
            model,
            orderly,
            rules,
            max_reconsume,
            consume: Duration::from_millis(args.number("consume-ms", 0)?),
            timeout: Duration::from_millis(args.number("timeout-ms", 300_000)?),
        })
    }
}

/// What both listeners share: the rules, and how often each key has been seen.
struct Deliveries {
    rules: Vec<FailRule>,
    consume: Duration,
    seen: Mutex<HashMap<String, usize>>,
    received: AtomicU64,
}

impl Deliveries {
    /// Prints one delivery from a queue of `broker`; returns whether the listener rejects it.
    fn deliver(&self, msg: &MessageExt, broker: &str) -> bool {
        let key = msg.get_keys().map(|k| k.to_string()).unwrap_or_default();
        let attempt = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let count = seen.entry(key.clone()).or_insert(0);
            *count += 1;
            *count - 1
        };
        let rule = self.rules.iter().find(|r| key.starts_with(&r.prefix));
        let fail = rule.is_some_and(|r| attempt < r.failures);
        let property = |name: &str| {
            msg.properties()
                .get(name)
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        let body = msg
            .body()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        println!(
            "RECV key={} body={} topic={} queue={}:{} queueOffset={} reconsume={} msgId={} offsetMsgId={} \
             originMsgId={} retryTopic={} attempt={attempt} verdict={} stored={} at={}",
            field(&key),
            field(&body),
            field(msg.topic()),
            field(broker),
            msg.queue_id(),
            msg.queue_offset(),
            msg.reconsume_times(),
            // The producer's msgId is the UNIQ_KEY property; MessageExt's own id is the broker's
            // offset message id.
            field(&property("UNIQ_KEY")),
            field(msg.msg_id()),
            field(&property("ORIGIN_MESSAGE_ID")),
            field(&property("RETRY_TOPIC")),
            if fail { "later" } else { "ok" },
            msg.store_timestamp(),
            micros(),
        );
        self.received.fetch_add(1, Ordering::AcqRel);
        if !self.consume.is_zero() {
            std::thread::sleep(self.consume);
        }
        fail
    }
}

struct Concurrently(Arc<Deliveries>);

impl MessageListenerConcurrently for Concurrently {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let broker = context.get_message_queue().broker_name().to_string();
        let mut later = false;
        for msg in msgs {
            later |= self.0.deliver(msg, &broker);
        }
        Ok(if later {
            ConsumeConcurrentlyStatus::ReconsumeLater
        } else {
            ConsumeConcurrentlyStatus::ConsumeSuccess
        })
    }
}

struct Orderly(Arc<Deliveries>);

impl MessageListenerOrderly for Orderly {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        context: &mut ConsumeOrderlyContext,
    ) -> ClientResult<ConsumeOrderlyStatus> {
        let broker = context.get_message_queue().broker_name().to_string();
        for msg in msgs {
            self.0.deliver(msg, &broker);
        }
        Ok(ConsumeOrderlyStatus::Success)
    }
}

/// `queues=.. retry=..` of the consumer's running info (see the module's documentation).
async fn owned(consumer: &DefaultMQPushConsumer, topic: &str, retry_topic: &str, need_lock: bool) -> String {
    let Ok(info) = consumer.consumer_running_info().await else {
        return "queues=- retry=-".to_owned();
    };
    let (mut queues, mut retry) = (BTreeSet::new(), BTreeSet::new());
    for (mq, pq) in &info.mq_table {
        if pq.droped || (need_lock && !pq.locked) {
            continue;
        }
        let name = format!("{}:{}", mq.broker_name(), mq.queue_id());
        if mq.topic_str() == topic {
            queues.insert(name);
        } else if mq.topic_str() == retry_topic {
            retry.insert(name);
        }
    }
    let list = |set: BTreeSet<String>| field(&set.into_iter().collect::<Vec<_>>().join(","));
    format!("queues={} retry={}", list(queues), list(retry))
}

pub async fn listen(client_runtime: Arc<ClientRuntime>, opts: ListenOpts) -> ExitCode {
    let mut consumer = DefaultMQPushConsumer::builder(client_runtime)
        .consumer_group(opts.group.as_str())
        .name_server_addr(opts.namesrv.as_str())
        .message_model(opts.model)
        .consume_from_where(opts.from)
        .max_reconsume_times(opts.max_reconsume)
        .build();
    if let Err(e) = consumer.subscribe(opts.topic.as_str(), opts.expr.as_str()).await {
        eprintln!("rust-client-compat: subscribe: {e}");
        return ExitCode::from(3);
    }
    let deliveries = Arc::new(Deliveries {
        rules: opts.rules,
        consume: opts.consume,
        seen: Mutex::new(HashMap::new()),
        received: AtomicU64::new(0),
    });
    if opts.orderly {
        consumer.register_message_listener_orderly(Orderly(Arc::clone(&deliveries)));
    } else {
        consumer.register_message_listener_concurrently(Concurrently(Arc::clone(&deliveries)));
    }
    if let Err(e) = consumer.start().await {
        eprintln!("rust-client-compat: consumer start: {e}");
        consumer.shutdown().await;
        return ExitCode::from(3);
    }
    println!(
        "STARTED group={} topic={}",
        field(&opts.group),
        field(&opts.topic)
    );

    let retry_topic = format!("%RETRY%{}", opts.group);
    let need_lock = opts.orderly && opts.model == MessageModel::Clustering;
    let stop = stdin_closed();
    tokio::pin!(stop);
    let deadline = tokio::time::sleep(opts.timeout);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(OWNED_POLL);
    let mut last = String::new();
    let reason = loop {
        tokio::select! {
            () = &mut stop => break "stdin",
            () = &mut deadline => break "timeout",
            _ = tick.tick() => {
                let now = owned(&consumer, &opts.topic, &retry_topic, need_lock).await;
                if now != last {
                    println!("OWNED {now} at={}", micros());
                    last = now;
                }
            }
        }
    };
    if tokio::time::timeout(SHUTDOWN_TIMEOUT, consumer.shutdown())
        .await
        .is_err()
    {
        eprintln!("rust-client-compat: consumer shutdown took over {SHUTDOWN_TIMEOUT:?}");
        return ExitCode::from(3);
    }
    println!(
        "DONE received={} reason={reason}",
        deliveries.received.load(Ordering::Acquire)
    );
    match reason {
        "stdin" => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}
