//! `storebench`: load and crash tool for the storage engine.
//!
//! - `append`: timed appends with N writers, reporting records/s, MB/s and latency percentiles.
//! - `fill`: writes a backlog quickly (for latency-with-backlog and restart runs).
//! - `read`: 32-message reads from a queue, reporting reads/s and latency.
//! - `recover`: opens a store and reports how long until it serves.
//! - `crash-writer`: SYNC_FLUSH writers printing `ACK <writer> <seq>` after each acknowledged
//!   put, until killed; the kill -9 test drives it.
//!
//! Every loop is bounded by a record count or a duration.

use std::{
    io::Write,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use apogee_broker::store::{FlushDiskType, MessageStore, NewMessage, PutStatus, StoreConfig, properties};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "storebench",
    about = "Load, latency and crash tool for the Apogee store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args, Clone)]
struct StoreArgs {
    /// Store root directory.
    #[arg(long)]
    dir: PathBuf,
    /// CommitLog segment size in bytes.
    #[arg(long, default_value_t = 1 << 30)]
    segment_size: usize,
    /// ASYNC_FLUSH or SYNC_FLUSH.
    #[arg(long, default_value = "ASYNC_FLUSH")]
    flush: FlushDiskType,
    /// Build the key index (on by default, as in the reference).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    index: bool,
    /// Pre-fault the next segment in the background (`warmMapedFileEnable`).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    warm: bool,
}

impl StoreArgs {
    fn config(&self) -> StoreConfig {
        StoreConfig {
            commit_log_segment_size: self.segment_size,
            flush_disk_type: self.flush,
            message_index_enable: self.index,
            warm_segments: self.warm,
            max_message_size: (4 << 20).min(self.segment_size / 2),
            ..StoreConfig::new(&self.dir)
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Appends `records` messages of `size` bytes from `writers` concurrent writers.
    Append {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        #[arg(long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value_t = 1)]
        writers: u64,
        /// Queues the writers spread over.
        #[arg(long, default_value_t = 8)]
        queues: i32,
    },
    /// Appends `records` messages as fast as possible (no latency sampling).
    Fill {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        records: u64,
        #[arg(long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value_t = 8)]
        queues: i32,
    },
    /// Reads `reads` batches of 32 messages from queue 0, wrapping around.
    Read {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value_t = 100_000)]
        reads: u64,
    },
    /// Opens the store and reports the time until it serves.
    Recover {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// SYNC_FLUSH writers that print each acknowledged put; runs until killed (or `max_seconds`).
    CrashWriter {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        writers: i32,
        #[arg(long, default_value_t = 65536)]
        segment_size: usize,
        #[arg(long, default_value_t = 60)]
        max_seconds: u64,
    },
}

/// Body of `size` bytes starting with `seq`.
fn body(seq: u64, size: usize) -> Vec<u8> {
    let mut body = format!("{seq}/").into_bytes();
    body.resize(size.max(body.len()), b'm');
    body
}

fn message(topic: &str, queue: i32, seq: u64, size: usize) -> NewMessage {
    let key = format!("k{seq}");
    let props = properties::encode([("KEYS", key.as_str()), ("TAGS", "bench")]);
    NewMessage::new(topic, queue, body(seq, size), props)
}

fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Duration::from_nanos(sorted[i])
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn append(
    store_args: &StoreArgs,
    records: u64,
    size: usize,
    writers: u64,
    queues: i32,
) -> anyhow::Result<()> {
    let store = Arc::new(MessageStore::open(store_args.config())?);
    let start_offset = store.max_physical_offset();
    let rt = runtime()?;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let latencies = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..writers {
            let (store, next) = (store.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= records {
                        return Ok::<_, anyhow::Error>(lat);
                    }
                    let msg = message("Bench", (seq % queues as u64) as i32, seq, size);
                    let t = Instant::now();
                    let r = store.put(msg).await?;
                    lat.push(t.elapsed().as_nanos() as u64);
                    anyhow::ensure!(r.status == PutStatus::Ok, "put status {:?}", r.status);
                }
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    let elapsed = started.elapsed();
    let mut sorted = latencies;
    sorted.sort_unstable();
    let bytes = store.max_physical_offset() - start_offset;
    println!(
        "append flush={:?} writers={writers} records={records} size={size}: {:.0} records/s, {:.1} MB/s, \
         p50 {:?} p99 {:?} p999 {:?} max {:?}, elapsed {:.2?}, bytes written {bytes}, fsyncs {}, rss {} KiB",
        store_args.flush,
        records as f64 / elapsed.as_secs_f64(),
        bytes as f64 / elapsed.as_secs_f64() / 1e6,
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.99),
        percentile(&sorted, 0.999),
        percentile(&sorted, 1.0),
        elapsed,
        store.flush_count(),
        rss_kib(),
    );
    drop(rt);
    Arc::into_inner(store).context("store still shared")?.shutdown()?;
    Ok(())
}

fn fill(store_args: &StoreArgs, records: u64, size: usize, queues: i32) -> anyhow::Result<()> {
    let store = MessageStore::open(store_args.config())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let start_seq = (0..queues).map(|q| store.max_offset("Bench", q)).sum::<i64>() as u64;
    rt.block_on(async {
        for seq in start_seq..start_seq + records {
            store
                .put(message("Bench", (seq % queues as u64) as i32, seq, size))
                .await?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let elapsed = started.elapsed();
    println!(
        "fill: {records} records in {elapsed:.2?} ({:.0} records/s), log now {} bytes",
        records as f64 / elapsed.as_secs_f64(),
        store.max_physical_offset()
    );
    store.shutdown()?;
    Ok(())
}

fn read(store_args: &StoreArgs, reads: u64) -> anyhow::Result<()> {
    let store = MessageStore::open(store_args.config())?;
    let max = store.max_offset("Bench", 0);
    anyhow::ensure!(max > 32, "queue Bench/0 needs data: run `fill` first");
    let mut lat = Vec::with_capacity(reads as usize);
    let (mut offset, mut messages, mut bytes) = (store.min_offset("Bench", 0), 0u64, 0u64);
    let started = Instant::now();
    for _ in 0..reads {
        let t = Instant::now();
        let got = store.get_messages("Bench", 0, offset, 32, 256 * 1024, None);
        // Touch every byte, as a socket write would.
        for m in &got.messages {
            std::hint::black_box(m.iter().fold(0u8, |a, b| a ^ b));
            bytes += m.len() as u64;
        }
        lat.push(t.elapsed().as_nanos() as u64);
        messages += got.messages.len() as u64;
        offset = if got.next_offset >= max {
            store.min_offset("Bench", 0)
        } else {
            got.next_offset
        };
    }
    let elapsed = started.elapsed();
    lat.sort_unstable();
    println!(
        "read: {reads} reads of up to 32 messages: {:.0} reads/s, {:.0} messages/s, {:.1} MB/s, p50 {:?} p99 {:?} p999 {:?}",
        reads as f64 / elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        bytes as f64 / elapsed.as_secs_f64() / 1e6,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
    );
    store.shutdown()?;
    Ok(())
}

fn recover(store_args: &StoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = MessageStore::open(store_args.config())?;
    let open = started.elapsed();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let seq = store.max_offset("Bench", 0) as u64;
    rt.block_on(store.put(message("Bench", 0, seq, 1024)))?;
    let first_put = started.elapsed();
    println!(
        "recover: log {} bytes, open {open:.2?}, first put acknowledged {first_put:.2?}, report {:?}",
        store.max_physical_offset(),
        store.recovery_report()
    );
    store.shutdown()?;
    Ok(())
}

fn crash_writer(dir: PathBuf, writers: i32, segment_size: usize, max_seconds: u64) -> anyhow::Result<()> {
    let config = StoreConfig {
        commit_log_segment_size: segment_size,
        flush_disk_type: FlushDiskType::Sync,
        max_message_size: segment_size / 4,
        consume_queue_file_size: 1000 * 20,
        max_hash_slot_num: 1024,
        max_index_num: 4096,
        ..StoreConfig::new(dir)
    };
    let store = Arc::new(MessageStore::open(config)?);
    let rt = runtime()?;
    let deadline = Instant::now() + Duration::from_secs(max_seconds);
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let stop = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (store, stdout, stop) = (store.clone(), stdout.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                // Sequence numbers equal queue offsets, so a restart continues where the store is.
                let mut seq = store.max_offset("Crash", w) as u64;
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    let size = 200 + (seq as usize * 7919) % 3000;
                    let r = store.put(message("Crash", w, seq, size)).await?;
                    anyhow::ensure!(r.status == PutStatus::Ok, "sync put not flushed: {:?}", r.status);
                    let mut out = stdout.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    writeln!(out, "ACK {w} {seq}")?;
                    out.flush()?;
                    seq += 1;
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Append {
            store,
            records,
            size,
            writers,
            queues,
        } => append(&store, records, size, writers, queues),
        Command::Fill {
            store,
            records,
            size,
            queues,
        } => fill(&store, records, size, queues),
        Command::Read { store, reads } => read(&store, reads),
        Command::Recover { store } => recover(&store),
        Command::CrashWriter {
            dir,
            writers,
            segment_size,
            max_seconds,
        } => crash_writer(dir, writers, segment_size, max_seconds),
    }
}
