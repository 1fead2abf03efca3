//! `rust-client-compat`: the upstream Rust RocketMQ client (`rocketmq-client-rust`, the version
//! pinned in Cargo.toml, unmodified) driven from the command line, so a test harness can point it
//! at a NameServer and read what happened. Every event is one stdout line, `WORD key=value ...`;
//! values never contain spaces, except `error=`, which is always last and runs to the end of the
//! line. The client's own logging goes to stderr (filter: `RUST_CLIENT_COMPAT_LOG`, default
//! `warn`).
//!
//! ```text
//! rust-client-compat produce --namesrv A --topic T --count N --mode sync|async|oneway|batch
//!     [--tag T | --tags A,B] [--key-prefix P] [--group G] [--batch-size 8] [--timeout-ms 10000]
//!     [--blocking-queue-depth 1024]
//!   SENT key=K status=SEND_OK msgId=M offsetMsgId=O queue=B:Q queueOffset=N   (oneway: status=ONEWAY)
//!   FAILED key=K error=...
//!   SUMMARY mode=M sent=N failed=F elapsedMs=E
//!
//! rust-client-compat consume --namesrv A --group G --topic T --expr E --count N --timeout-ms X
//!     [--from first|last] [--linger-ms L] [--stop-on-stdin] [--blocking-queue-depth 1024]
//!   STARTED group=G clientId=C
//!   ASSIGNED topic=T queues=B:0,B:1|none
//!   RECV key=K tag=T queue=B:Q queueOffset=N msgId=M offsetMsgId=O reconsume=R body=...
//!   DONE reason=count|stdin|timeout received=R distinct=D elapsedMs=E
//! ```
//!
//! A consumer stops once it has seen `--count` distinct keys (0: never) and then `--linger-ms`
//! more, when its stdin closes (`--stop-on-stdin`), or after `--timeout-ms`, whichever comes
//! first; it then shuts down cleanly, which commits its offsets to the broker. Exit status: 0 for
//! a run that did what was asked, 1 for failed sends or a consumer timeout, 2 for bad arguments,
//! 3 when the client could not start or stop.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    io::Read,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use rocketmq_client_rust::{
    ClientError, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer, MessageQueueListener, SendResult,
};
use rocketmq_model::common::{
    consumer::consume_from_where::ConsumeFromWhere,
    message::{MessageTrait, message_ext::MessageExt, message_queue::MessageQueue, message_single::Message},
};
use rocketmq_observability::TelemetryRuntimeGuard;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use tokio::sync::mpsc;

/// How long a clean shutdown of a producer or consumer may take before the run gives up.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let filter = std::env::var("RUST_CLIENT_COMPAT_LOG").unwrap_or_else(|_| "warn".to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    let mut argv = std::env::args().skip(1);
    let Some(subcommand) = argv.next() else {
        return usage("no subcommand");
    };
    let args = match Args::parse(argv) {
        Ok(args) => args,
        Err(e) => return usage(&e),
    };
    let outcome = match subcommand.as_str() {
        "produce" => ProduceOpts::from(&args)
            .and_then(|o| Ok((queue_depth(&args)?, o)))
            .map(|(depth, o)| with_client(depth, |rt| produce(rt, o))),
        "consume" => ConsumeOpts::from(&args)
            .and_then(|o| Ok((queue_depth(&args)?, o)))
            .map(|(depth, o)| with_client(depth, |rt| consume(rt, o))),
        other => Err(format!("unknown subcommand {other:?}")),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => usage(&e),
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "rust-client-compat: {problem}\n\
         usage: rust-client-compat produce --namesrv A --topic T --count N \
         --mode sync|async|oneway|batch [--tag T|--tags A,B] [--key-prefix P] [--group G] \
         [--batch-size N] [--timeout-ms X] [--blocking-queue-depth N]\n\
         \x20      rust-client-compat consume --namesrv A --group G --topic T --expr E --count N \
         --timeout-ms X [--from first|last] [--linger-ms L] [--stop-on-stdin] \
         [--blocking-queue-depth N]"
    );
    ExitCode::from(2)
}

/// `--name value` pairs and bare `--flag`s.
struct Args {
    values: BTreeMap<String, String>,
    flags: BTreeSet<String>,
}

impl Args {
    const FLAGS: &[&str] = &["stop-on-stdin"];

    fn parse(mut argv: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        let mut flags = BTreeSet::new();
        while let Some(arg) = argv.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            if Self::FLAGS.contains(&name) {
                flags.insert(name.to_owned());
                continue;
            }
            let value = argv.next().ok_or_else(|| format!("--{name} needs a value"))?;
            values.insert(name.to_owned(), value);
        }
        Ok(Self { values, flags })
    }

    fn required(&self, name: &str) -> Result<String, String> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn or(&self, name: &str, default: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{name} {v:?} is not a number")),
        }
    }
}

/// `--blocking-queue-depth`: how many tasks may wait for the client runtime's metadata-io
/// blocking lane, where the push consumer runs its listener (one task per delivered batch). The
/// runtime sizes that lane from the CPU count: on two cores, 4 running and 16 waiting, so a
/// consumer whose four queues each pull a batch of 32 has most listener calls refused
/// (`runtime.capacity.exhausted`), logged as a panic and sent back for redelivery from the retry
/// topic ten seconds later. This tool raises the depth (1024) so runs measure the broker, not
/// the client's sizing; 0 keeps the client's own default.
fn queue_depth(args: &Args) -> Result<usize, String> {
    Ok(args.number("blocking-queue-depth", 1024)? as usize)
}

fn runtime_config(queue_depth: usize) -> RuntimeConfig {
    let mut config = RuntimeConfig::default();
    let lane = &mut config.blocking_lane_policies.metadata_io;
    lane.max_queue_depth = lane.max_queue_depth.max(queue_depth);
    config
}

/// Runs `body` with a client runtime, then shuts the runtime down. The runtime's own shutdown
/// problems are reported on stderr and turn a successful run into exit status 3.
fn with_client<F, Fut>(queue_depth: usize, body: F) -> ExitCode
where
    F: FnOnce(Arc<ClientRuntime>) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    let owner = match RuntimeOwner::plan(runtime_config(queue_depth))
        .map_err(|e| e.to_string())
        .and_then(|plan| plan.build().map_err(|e| e.to_string()))
    {
        Ok(owner) => owner,
        Err(e) => {
            eprintln!("rust-client-compat: runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let telemetry = TelemetryRuntimeGuard::noop();
    let client_runtime = match ClientRuntime::try_new(
        owner.root_context().component("rust-client-compat"),
        ClientRuntimeConfig::default(),
        telemetry.handle(),
    ) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rust-client-compat: client runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let (code, client_report) = owner.block_on(async {
        let code = body(client_runtime.clone()).await;
        (code, client_runtime.shutdown().await)
    });
    let healthy = client_report.is_healthy();
    if !healthy {
        eprintln!("rust-client-compat: client runtime shutdown: {client_report:?}");
    }
    match owner.shutdown_runtime_blocking_with_timeout(SHUTDOWN_TIMEOUT) {
        Ok(report) if report.is_healthy() && healthy => code,
        Ok(report) => {
            eprintln!("rust-client-compat: runtime shutdown: {report:?}");
            if code == ExitCode::SUCCESS {
                ExitCode::from(3)
            } else {
                code
            }
        }
        Err(e) => {
            eprintln!("rust-client-compat: runtime shutdown: {e}");
            ExitCode::from(3)
        }
    }
}

/// A message's queue as `brokerName:queueId`.
fn queue_name(mq: &MessageQueue) -> String {
    format!("{}:{}", mq.broker_name(), mq.queue_id())
}

/// A value for a `key=value` field: no spaces, never empty.
fn field(value: &str) -> String {
    if value.is_empty() {
        "-".to_owned()
    } else {
        value.replace(char::is_whitespace, "_")
    }
}

/// An error for the end of a line: one line.
fn error_text(e: &ClientError) -> String {
    e.to_string().replace(['\r', '\n'], " ")
}

// ---------------------------------------------------------------------------------------------
// produce

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sync,
    Async,
    Oneway,
    Batch,
}

struct ProduceOpts {
    namesrv: String,
    topic: String,
    count: usize,
    mode: Mode,
    tags: Vec<String>,
    key_prefix: String,
    group: String,
    batch_size: usize,
    timeout_ms: u64,
}

impl ProduceOpts {
    fn from(args: &Args) -> Result<Self, String> {
        let mode = match args.required("mode")?.as_str() {
            "sync" => Mode::Sync,
            "async" => Mode::Async,
            "oneway" => Mode::Oneway,
            "batch" => Mode::Batch,
            other => return Err(format!("--mode {other:?}: sync, async, oneway or batch")),
        };
        let tags = match (args.values.get("tag"), args.values.get("tags")) {
            (Some(_), Some(_)) => return Err("--tag and --tags exclude each other".to_owned()),
            (Some(tag), None) => vec![tag.clone()],
            (None, Some(tags)) => tags.split(',').map(str::to_owned).collect(),
            (None, None) => vec![String::new()],
        };
        let topic = args.required("topic")?;
        Ok(Self {
            namesrv: args.required("namesrv")?,
            count: args.number("count", 1)? as usize,
            mode,
            tags,
            key_prefix: args.or("key-prefix", &topic),
            group: args.or("group", &format!("rust-compat-producer-{}", std::process::id())),
            batch_size: args.number("batch-size", 8)?.max(1) as usize,
            timeout_ms: args.number("timeout-ms", 10_000)?,
            topic,
        })
    }

    fn key(&self, i: usize) -> String {
        format!("{}-{i}", self.key_prefix)
    }

    fn message(&self, i: usize) -> Message {
        let key = self.key(i);
        let tag = &self.tags[i % self.tags.len()];
        let mut builder = Message::builder()
            .topic(self.topic.as_str())
            .key(key.as_str())
            .body(format!("body-of-{key}").into_bytes());
        if !tag.is_empty() {
            builder = builder.tags(tag.as_str());
        }
        builder.build_unchecked()
    }
}

/// `ids`: this message's own (msgId, offsetMsgId) when the result is a batch's.
fn print_sent(key: &str, result: &SendResult, ids: Option<(&str, &str)>, queue_offset: u64) {
    let queue = result.message_queue.as_ref().map(queue_name).unwrap_or_default();
    println!(
        "SENT key={} status={} msgId={} offsetMsgId={} queue={} queueOffset={queue_offset}",
        field(key),
        result.send_status,
        field(ids.map_or_else(|| result.msg_id.as_deref().unwrap_or_default(), |i| i.0)),
        field(ids.map_or_else(|| result.offset_msg_id.as_deref().unwrap_or_default(), |i| i.1)),
        field(&queue),
    );
}

async fn produce(client_runtime: Arc<ClientRuntime>, opts: ProduceOpts) -> ExitCode {
    let started = Instant::now();
    let mut producer = DefaultMQProducer::builder(client_runtime)
        .producer_group(opts.group.as_str())
        .name_server_addr(opts.namesrv.as_str())
        .send_msg_timeout(opts.timeout_ms as u32)
        .build();
    if let Err(e) = producer.start().await {
        eprintln!("rust-client-compat: producer start: {e}");
        return ExitCode::from(3);
    }
    let (mut sent, mut failed) = (0usize, 0usize);
    match opts.mode {
        Mode::Sync => {
            for i in 0..opts.count {
                let key = opts.key(i);
                match producer.send_with_timeout(opts.message(i), opts.timeout_ms).await {
                    Ok(Some(result)) => {
                        print_sent(&key, &result, None, result.queue_offset);
                        sent += 1;
                    }
                    Ok(None) => {
                        println!("FAILED key={} error=no send result", field(&key));
                        failed += 1;
                    }
                    Err(e) => {
                        println!("FAILED key={} error={}", field(&key), error_text(&e));
                        failed += 1;
                    }
                }
            }
        }
        Mode::Async => {
            let (tx, mut rx) = mpsc::unbounded_channel::<(String, Result<(), String>)>();
            let mut pending = 0usize;
            for i in 0..opts.count {
                let key = opts.key(i);
                let report = tx.clone();
                let callback_key = key.clone();
                let callback = move |result: Option<&SendResult>, error: Option<&ClientError>| {
                    let outcome = match (result, error) {
                        (Some(result), _) => {
                            print_sent(&callback_key, result, None, result.queue_offset);
                            Ok(())
                        }
                        (None, Some(e)) => Err(error_text(e)),
                        (None, None) => Err("callback with neither result nor error".to_owned()),
                    };
                    let _ = report.send((callback_key.clone(), outcome));
                };
                match producer
                    .send_with_callback_timeout(opts.message(i), callback, opts.timeout_ms)
                    .await
                {
                    Ok(()) => pending += 1,
                    Err(e) => {
                        println!("FAILED key={} error={}", field(&key), error_text(&e));
                        failed += 1;
                    }
                }
            }
            drop(tx);
            // Every accepted send calls back once; the bound covers a client that never does.
            let deadline = tokio::time::Instant::now()
                + Duration::from_millis(opts.timeout_ms.saturating_mul(2) + 5_000);
            let mut seen = HashSet::new();
            while seen.len() < pending {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some((key, outcome))) => {
                        if !seen.insert(key.clone()) {
                            println!("FAILED key={} error=second callback", field(&key));
                            failed += 1;
                            continue;
                        }
                        match outcome {
                            Ok(()) => sent += 1,
                            Err(e) => {
                                println!("FAILED key={} error={e}", field(&key));
                                failed += 1;
                            }
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            for i in 0..opts.count {
                let key = opts.key(i);
                if !seen.contains(&key) && pending > seen.len() {
                    println!("FAILED key={} error=no callback", field(&key));
                    failed += 1;
                }
            }
        }
        Mode::Oneway => {
            for i in 0..opts.count {
                let key = opts.key(i);
                match producer.send_oneway(opts.message(i)).await {
                    Ok(()) => {
                        println!("SENT key={} status=ONEWAY", field(&key));
                        sent += 1;
                    }
                    Err(e) => {
                        println!("FAILED key={} error={}", field(&key), error_text(&e));
                        failed += 1;
                    }
                }
            }
        }
        Mode::Batch => {
            let indices: Vec<usize> = (0..opts.count).collect();
            for chunk in indices.chunks(opts.batch_size) {
                let messages: Vec<Message> = chunk.iter().map(|&i| opts.message(i)).collect();
                match producer.send_batch_with_timeout(messages, opts.timeout_ms).await {
                    Ok(result) => {
                        // A batch's result carries the messages' ids joined by commas, in order,
                        // and the queue offset of the first one.
                        let split = |joined: Option<&str>| -> Vec<String> {
                            joined.unwrap_or_default().split(',').map(str::to_owned).collect()
                        };
                        let msg_ids = split(result.msg_id.as_deref());
                        let offset_ids = split(result.offset_msg_id.as_deref());
                        let per_message = msg_ids.len() == chunk.len() && offset_ids.len() == chunk.len();
                        for (n, &i) in chunk.iter().enumerate() {
                            let ids = per_message.then(|| (msg_ids[n].as_str(), offset_ids[n].as_str()));
                            print_sent(&opts.key(i), &result, ids, result.queue_offset + n as u64);
                        }
                        sent += chunk.len();
                    }
                    Err(e) => {
                        for &i in chunk {
                            println!("FAILED key={} error={}", field(&opts.key(i)), error_text(&e));
                        }
                        failed += chunk.len();
                    }
                }
            }
        }
    }
    let stopped = tokio::time::timeout(SHUTDOWN_TIMEOUT, producer.shutdown()).await;
    println!(
        "SUMMARY mode={:?} sent={sent} failed={failed} elapsedMs={}",
        opts.mode,
        started.elapsed().as_millis()
    );
    if stopped.is_err() {
        eprintln!("rust-client-compat: producer shutdown took over {SHUTDOWN_TIMEOUT:?}");
        return ExitCode::from(3);
    }
    if failed == 0 && sent == opts.count {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

// ---------------------------------------------------------------------------------------------
// consume

struct ConsumeOpts {
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
    fn from(args: &Args) -> Result<Self, String> {
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

#[derive(Debug, Clone, Copy)]
enum Stop {
    Count,
    Stdin,
    Timeout,
}

async fn consume(client_runtime: Arc<ClientRuntime>, opts: ConsumeOpts) -> ExitCode {
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

    // Closing stdin asks for a clean stop; a thread waits for it.
    let (stdin_tx, mut stdin_rx) = mpsc::unbounded_channel::<()>();
    if opts.stop_on_stdin {
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = stdin_tx.send(());
        });
    }
    let stdin_closed = async {
        if opts.stop_on_stdin {
            stdin_rx.recv().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(stdin_closed);

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
            () = &mut stdin_closed => break Stop::Stdin,
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
