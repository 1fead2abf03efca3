//! `consume`: a clustering push consumer that prints every delivery (see main.rs for its lines).

use std::{
    collections::HashSet,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use rocketmq_client_rust::{
    ClientRuntime, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQPushConsumer,
    MQPushConsumer, MessageQueueListener,
};
use rocketmq_model::common::{
    consumer::consume_from_where::ConsumeFromWhere,
    message::{MessageTrait, message_ext::MessageExt, message_queue::MessageQueue},
};
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use tokio::sync::mpsc;

use crate::{Args, SHUTDOWN_TIMEOUT, field, stdin_lines};

pub struct ConsumeOpts {
    namesrv: String,
    group: String,
    topic: String,
    expr: String,
    count: usize,
    timeout: Duration,
    from: ConsumeFromWhere,
    linger: Duration,
    stop_on_stdin: bool,
}

impl ConsumeOpts {
    pub fn from(args: &Args) -> Result<Self, String> {
        let from = match args.or("from", "first").as_str() {
            "first" => ConsumeFromWhere::ConsumeFromFirstOffset,
            "last" => ConsumeFromWhere::ConsumeFromLastOffset,
            other => return Err(format!("--from {other:?}: first or last")),
        };
        Ok(Self {
            namesrv: args.required("namesrv")?,
            group: args.required("group")?,
            topic: args.required("topic")?,
            expr: args.or("expr", "*"),
            count: args.number("count", 0)? as usize,
            timeout: Duration::from_millis(args.number("timeout-ms", 60_000)?),
            from,
            linger: Duration::from_millis(args.number("linger-ms", 0)?),
            stop_on_stdin: args.flags.contains("stop-on-stdin"),
        })
    }
}

/// Prints every delivery and hands its key to the run's loop.
struct Listener {
    keys: mpsc::UnboundedSender<String>,
}

impl rocketmq_client_rust::MessageListenerConcurrently for Listener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        context: &ConsumeConcurrentlyContext,
    ) -> rocketmq_client_rust::ClientResult<ConsumeConcurrentlyStatus> {
        for msg in msgs {
            let key = msg.get_keys().map(|k| k.to_string()).unwrap_or_default();
            let tag = msg.get_tags().map(|t| t.to_string()).unwrap_or_default();
            let queue = format!("{}:{}", context.get_message_queue().broker_name(), msg.queue_id());
            let body = msg
                .body()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            // The producer's msgId is the UNIQ_KEY property; MessageExt's own id is the
            // broker's offset message id.
            let uniq_key = msg
                .properties()
                .get("UNIQ_KEY")
                .map(|k| k.to_string())
                .unwrap_or_default();
            println!(
                "RECV key={} tag={} queue={} queueOffset={} msgId={} offsetMsgId={} reconsume={} \
                 body={}",
                field(&key),
                field(&tag),
                field(&queue),
                msg.queue_offset(),
                field(&uniq_key),
                field(msg.msg_id()),
                msg.reconsume_times(),
                field(&body),
            );
            let _ = self.keys.send(key);
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

/// Prints each rebalance's outcome for the subscribed topic.
struct Assignments;

impl MessageQueueListener for Assignments {
    fn message_queue_changed(
        &self,
        topic: &str,
        _mq_all: &HashSet<MessageQueue>,
        mq_assigned: &HashSet<MessageQueue>,
    ) {
        let mut queues: Vec<(String, i32)> = mq_assigned
            .iter()
            .map(|mq| (mq.broker_name().to_string(), mq.queue_id()))
            .collect();
        queues.sort();
        let queues: Vec<String> = queues.into_iter().map(|(b, q)| format!("{b}:{q}")).collect();
        let queues = if queues.is_empty() {
            "none".to_owned()
        } else {
            queues.join(",")
        };
        println!("ASSIGNED topic={} queues={queues}", field(topic));
    }
}

/// Commits the consumer's offsets to the broker now, while connected, and prints the offsets of
/// `topic`'s queues it holds: `PERSISTED offsets=B:0=5,B:1=7|-`. The harness waits for the broker
/// to show them before it stops the consumer. Each is sent with the client's acknowledged update
/// (its offset store's `update_consume_offset_to_broker`, not oneway), so a queue whose commit
/// the broker refused or never answered is reported (`PERSIST_FAILED`) instead of being taken as
/// sent: the client's own persist (its timer, its shutdown) is oneway and remembers a value as
/// sent once written, and the reference may never process a oneway request it reads only after
/// the connection closed.
async fn persist(consumer: &DefaultMQPushConsumer, topic: &str) {
    let held: Vec<(MessageQueue, i64)> = match consumer.consumer_running_info().await {
        Ok(info) => info
            .mq_table
            .iter()
            .filter(|(mq, pq)| mq.topic_str() == topic && pq.commit_offset >= 0)
            .map(|(mq, pq)| (mq.clone(), pq.commit_offset))
            .collect(),
        Err(e) => {
            // Without the held offsets nothing can be committed: a failure, not an empty list.
            let error = format!("consumer running info: {e}");
            println!("PERSIST_FAILED queue=- error={}", field(&error));
            Vec::new()
        }
    };
    let store = consumer
        .default_mq_push_consumer_impl()
        .and_then(|consumer_impl| consumer_impl.offset_store());
    let mut sent = Vec::new();
    for (mq, offset) in &held {
        let queue = format!("{}:{}", mq.broker_name(), mq.queue_id());
        let outcome = match &store {
            Some(store) => store.update_consume_offset_to_broker(mq, *offset, false).await,
            None => {
                println!("PERSIST_FAILED queue={queue} error={}", field("no offset store"));
                continue;
            }
        };
        match outcome {
            Ok(()) => sent.push(format!("{queue}={offset}")),
            Err(e) => println!("PERSIST_FAILED queue={queue} error={}", field(&e.to_string())),
        }
    }
    println!("PERSISTED offsets={}", field(&sent.join(",")));
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    Count,
    Stdin,
    Timeout,
}

pub async fn consume(client_runtime: Arc<ClientRuntime>, opts: ConsumeOpts) -> ExitCode {
    let started = Instant::now();
    let (keys_tx, mut keys_rx) = mpsc::unbounded_channel();
    let mut consumer = DefaultMQPushConsumer::builder(client_runtime)
        .consumer_group(opts.group.as_str())
        .name_server_addr(opts.namesrv.as_str())
        .message_model(MessageModel::Clustering)
        .consume_from_where(opts.from)
        .message_queue_listener(Some(Arc::new(Assignments)))
        .build();
    let subscribed = consumer.subscribe(opts.topic.as_str(), opts.expr.as_str()).await;
    if let Err(e) = subscribed {
        eprintln!("rust-client-compat: subscribe: {e}");
        return ExitCode::from(3);
    }
    consumer.register_message_listener_concurrently(Listener { keys: keys_tx });
    if let Err(e) = consumer.start().await {
        eprintln!("rust-client-compat: consumer start: {e}");
        consumer.shutdown().await;
        return ExitCode::from(3);
    }
    println!("STARTED group={} pid={}", field(&opts.group), std::process::id());

    // Closing stdin asks for a clean stop; a line `persist` for the offsets to be sent now.
    // Without --stop-on-stdin: a channel held open, never written.
    let (_idle, idle) = mpsc::unbounded_channel::<String>();
    let mut stdin = if opts.stop_on_stdin { stdin_lines() } else { idle };

    let deadline = tokio::time::Instant::now() + opts.timeout;
    let (mut total, mut seen) = (0usize, HashSet::<String>::new());
    let mut linger_until: Option<tokio::time::Instant> = None;
    let stop = loop {
        let wake = linger_until.map_or(deadline, |l| l.min(deadline));
        tokio::select! {
            key = keys_rx.recv() => {
                // The listener holds the sender until the consumer is shut down.
                let Some(key) = key else { break Stop::Timeout };
                total += 1;
                seen.insert(key);
                if opts.count > 0 && seen.len() >= opts.count && linger_until.is_none() {
                    linger_until = Some(tokio::time::Instant::now() + opts.linger);
                }
            }
            line = stdin.recv() => match line.as_deref() {
                None => break Stop::Stdin,
                Some("persist") => persist(&consumer, &opts.topic).await,
                Some(other) => eprintln!("rust-client-compat: ignored stdin line {other:?}"),
            },
            () = tokio::time::sleep_until(wake) => {
                if linger_until.is_some_and(|l| l <= tokio::time::Instant::now()) {
                    break Stop::Count;
                }
                if tokio::time::Instant::now() >= deadline {
                    break Stop::Timeout;
                }
            }
        }
    };
    let stopped = tokio::time::timeout(SHUTDOWN_TIMEOUT, consumer.shutdown()).await;
    // Deliveries that raced the shutdown still count.
    while let Ok(key) = keys_rx.try_recv() {
        total += 1;
        seen.insert(key);
    }
    let distinct = seen.len();
    println!(
        "DONE reason={} received={total} distinct={distinct} elapsedMs={}",
        match stop {
            Stop::Count => "count",
            Stop::Stdin => "stdin",
            Stop::Timeout => "timeout",
        },
        started.elapsed().as_millis()
    );
    if stopped.is_err() {
        eprintln!("rust-client-compat: consumer shutdown took over {SHUTDOWN_TIMEOUT:?}");
        return ExitCode::from(3);
    }
    match stop {
        Stop::Count | Stop::Stdin => ExitCode::SUCCESS,
        Stop::Timeout => ExitCode::from(1),
    }
}
