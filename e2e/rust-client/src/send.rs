//! `send`: rounds of messages, one per shard in each round, so the shards' sequences interleave.
//!
//! ```text
//! rust-client-compat send --namesrv A --topic T --key-prefix P --shards S1,S2,.. [--rounds N]
//!     [--ordered] [--delay-levels L1,L2,..] [--interval-ms I] [--pause-at R,.. --go-dir D]
//!     [--group G] [--timeout-ms 120000]
//!   SENT key=K shard=S seq=I delayLevel=L queue=B:Q queueOffset=N msgId=M offsetMsgId=O
//!        status=SEND_OK start=µs at=µs
//!   PAUSED rounds=R / RESUMED rounds=R
//!   FAILED key=K error=...
//!   SUMMARY sent=N
//! ```
//!
//! The message of shard `s` in round `i` has key `<prefix>-<s>-<i>`, body `body-<key>` and tag
//! `TagA`; each is sent with `send_with_timeout`, one at a time, the client's retries off.
//!
//! - `--ordered`: the producer picks the queue with the client's `SelectMessageQueueByHash`, the
//!   shard as its argument (Java's `String.hashCode` modulo the number of queues), through
//!   `send_with_selector_timeout`, so one shard's sequence lives in one queue, in send order;
//! - `--delay-levels`: shard number j's messages carry delay level l[j] (`MessageBuilder::
//!   delay_level`; 0: none);
//! - `--interval-ms`: a pause after each message;
//! - `--pause-at r,.. --go-dir D`: before round r, print `PAUSED rounds=r` and wait (within
//!   `--timeout-ms` in all) until the file `D/go-r` exists, then print `RESUMED` and go on.
//!
//! `start` and `at` are the wall clock (µs) just before the send and just after it returned. A
//! send that fails or is not SEND_OK ends the run with exit status 1.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use rocketmq_client_rust::{
    ClientRuntime, DefaultMQProducer, MessageQueueSelector, SelectMessageQueueByHash, SendResult, SendStatus,
};
use rocketmq_model::common::message::{message_queue::MessageQueue, message_single::Message};

use crate::{Args, SHUTDOWN_TIMEOUT, error_text, field, micros, queue_name};

/// Each send's own bound.
const SEND_TIMEOUT_MS: u64 = 10_000;

pub struct SendOpts {
    namesrv: String,
    topic: String,
    group: String,
    prefix: String,
    shards: Vec<String>,
    rounds: usize,
    ordered: bool,
    levels: Vec<i32>,
    interval: Duration,
    pauses: BTreeSet<usize>,
    go_dir: Option<PathBuf>,
    timeout: Duration,
}

impl SendOpts {
    pub fn from(args: &Args) -> Result<Self, String> {
        let topic = args.required("topic")?;
        let shards: Vec<String> = args.required("shards")?.split(',').map(str::to_owned).collect();
        let levels = match args.values.get("delay-levels") {
            None => vec![0; shards.len()],
            Some(list) => {
                let levels: Result<Vec<i32>, _> = list.split(',').map(str::parse).collect();
                let levels = levels.map_err(|_| format!("--delay-levels {list:?}: numbers"))?;
                if levels.len() != shards.len() {
                    return Err(format!("--delay-levels {list:?}: one per shard"));
                }
                levels
            }
        };
        let pauses = match args.values.get("pause-at") {
            None => BTreeSet::new(),
            Some(list) => {
                let pauses: Result<BTreeSet<usize>, _> = list.split(',').map(str::parse).collect();
                pauses.map_err(|_| format!("--pause-at {list:?}: round numbers"))?
            }
        };
        let go_dir = args.values.get("go-dir").map(PathBuf::from);
        if !pauses.is_empty() && go_dir.is_none() {
            return Err("--pause-at needs --go-dir".to_owned());
        }
        Ok(Self {
            namesrv: args.required("namesrv")?,
            group: args.or("group", &format!("PG_{topic}")),
            prefix: args.required("key-prefix")?,
            rounds: args.number("rounds", 1)? as usize,
            ordered: args.flags.contains("ordered"),
            interval: Duration::from_millis(args.number("interval-ms", 0)?),
            timeout: Duration::from_millis(args.number("timeout-ms", 120_000)?),
            topic,
            shards,
            levels,
            pauses,
            go_dir,
        })
    }
}

/// Waits (polling every 20 ms) until `file` exists, or `deadline`.
async fn await_file(file: &Path, deadline: tokio::time::Instant) -> bool {
    while !file.exists() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

pub async fn send(client_runtime: Arc<ClientRuntime>, opts: SendOpts) -> ExitCode {
    let deadline = tokio::time::Instant::now() + opts.timeout;
    let mut producer = DefaultMQProducer::builder(client_runtime)
        .producer_group(opts.group.as_str())
        .name_server_addr(opts.namesrv.as_str())
        .send_msg_timeout(SEND_TIMEOUT_MS as u32)
        .retry_times_when_send_failed(0)
        .build();
    if let Err(e) = producer.start().await {
        eprintln!("rust-client-compat: producer start: {e}");
        return ExitCode::from(3);
    }
    let code = send_rounds(&producer, &opts, deadline).await;
    if tokio::time::timeout(SHUTDOWN_TIMEOUT, producer.shutdown())
        .await
        .is_err()
    {
        eprintln!("rust-client-compat: producer shutdown took over {SHUTDOWN_TIMEOUT:?}");
        return ExitCode::from(3);
    }
    code
}

async fn send_rounds(
    producer: &DefaultMQProducer,
    opts: &SendOpts,
    deadline: tokio::time::Instant,
) -> ExitCode {
    let mut sent = 0usize;
    for round in 0..opts.rounds {
        if opts.pauses.contains(&round) {
            println!("PAUSED rounds={round}");
            let go_dir = opts.go_dir.as_deref().expect("checked with --pause-at");
            if !await_file(&go_dir.join(format!("go-{round}")), deadline).await {
                println!("FAILED key=- error=no go-{round} before the deadline");
                return ExitCode::from(1);
            }
            println!("RESUMED rounds={round}");
        }
        for (j, shard) in opts.shards.iter().enumerate() {
            let key = format!("{}-{shard}-{round}", opts.prefix);
            let mut builder = Message::builder()
                .topic(opts.topic.as_str())
                .body(format!("body-{key}").into_bytes())
                .key(key.as_str())
                .tags("TagA");
            if opts.levels[j] > 0 {
                builder = builder.delay_level(opts.levels[j]);
            }
            let message = builder.build_unchecked();
            let start = micros();
            let outcome = if opts.ordered {
                let select = |mqs: &[MessageQueue], msg: &Message, arg: &String| {
                    SelectMessageQueueByHash.select(mqs, msg, arg)
                };
                producer
                    .send_with_selector_timeout(message, select, shard.clone(), SEND_TIMEOUT_MS)
                    .await
            } else {
                producer.send_with_timeout(message, SEND_TIMEOUT_MS).await
            };
            let at = micros();
            let result: SendResult = match outcome {
                Ok(Some(result)) if result.send_status == SendStatus::SendOk => result,
                Ok(Some(result)) => {
                    println!("FAILED key={} error=status {}", field(&key), result.send_status);
                    return ExitCode::from(1);
                }
                Ok(None) => {
                    println!("FAILED key={} error=no send result", field(&key));
                    return ExitCode::from(1);
                }
                Err(e) => {
                    println!("FAILED key={} error={}", field(&key), error_text(&e));
                    return ExitCode::from(1);
                }
            };
            let queue = result.message_queue.as_ref().map(queue_name).unwrap_or_default();
            println!(
                "SENT key={} shard={} seq={round} delayLevel={} queue={} queueOffset={} msgId={} \
                 offsetMsgId={} status=SEND_OK start={start} at={at}",
                field(&key),
                field(shard),
                opts.levels[j],
                field(&queue),
                result.queue_offset,
                field(result.msg_id.as_deref().unwrap_or_default()),
                field(result.offset_msg_id.as_deref().unwrap_or_default()),
            );
            sent += 1;
            if !opts.interval.is_zero() {
                tokio::time::sleep(opts.interval).await;
            }
        }
    }
    println!("SUMMARY sent={sent}");
    ExitCode::SUCCESS
}
