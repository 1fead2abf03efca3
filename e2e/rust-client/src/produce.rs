//! `produce`: sends `--count` messages in one of the send modes (see main.rs for its lines).

use std::{
    collections::HashSet,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use rocketmq_client_rust::{ClientError, ClientRuntime, DefaultMQProducer, SendResult};
use rocketmq_model::common::message::message_single::Message;
use tokio::sync::mpsc;

use crate::{Args, SHUTDOWN_TIMEOUT, error_text, field, queue_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Async,
    Oneway,
    Batch,
}

pub struct ProduceOpts {
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
    pub fn from(args: &Args) -> Result<Self, String> {
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
pub fn print_sent(key: &str, result: &SendResult, ids: Option<(&str, &str)>, queue_offset: u64) {
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

pub async fn produce(client_runtime: Arc<ClientRuntime>, opts: ProduceOpts) -> ExitCode {
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
