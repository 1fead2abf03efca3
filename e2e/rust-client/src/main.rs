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
//!   PERSIST_FAILED queue=B:Q error=...
//!   PERSISTED offsets=B:0=N,B:1=N|-
//!   DONE reason=count|stdin|timeout received=R distinct=D elapsedMs=E
//! ```
//!
//! A consumer stops once it has seen `--count` distinct keys (0: never) and then `--linger-ms`
//! more, when its stdin closes (`--stop-on-stdin`), or after `--timeout-ms`, whichever comes
//! first; it then shuts down cleanly, which commits its offsets to the broker. With
//! `--stop-on-stdin`, a line `persist` has it commit the offsets it holds to the broker at once,
//! each acknowledged, and print `PERSISTED` with those the broker took (`PERSIST_FAILED` for
//! each it did not; see consume.rs).
//!
//! The messaging-semantics subcommands (`send`, `listen`, `produce-tx`: sharding keys and
//! orderly consumption, delay levels, retries and dead letters, broadcasting, transactions) are
//! described in `send.rs`, `listen.rs` and `tx.rs`; `listen` and `produce-tx` always run until
//! their stdin closes (or `--timeout-ms`).
//!
//! Exit status: 0 for a run that did what was asked, 1 for failed sends or a consumer timeout, 2
//! for bad arguments, 3 when the client could not start or stop.

mod consume;
mod listen;
mod produce;
mod send;
mod tx;

use std::{
    collections::{BTreeMap, BTreeSet},
    process::ExitCode,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rocketmq_client_rust::{ClientError, ClientRuntime, ClientRuntimeConfig};
use rocketmq_model::common::message::message_queue::MessageQueue;
use rocketmq_observability::TelemetryRuntimeGuard;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

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
    let depth = match queue_depth(&args) {
        Ok(depth) => depth,
        Err(e) => return usage(&e),
    };
    let outcome = match subcommand.as_str() {
        "produce" => {
            produce::ProduceOpts::from(&args).map(|o| with_client(depth, |rt| produce::produce(rt, o)))
        }
        "consume" => {
            consume::ConsumeOpts::from(&args).map(|o| with_client(depth, |rt| consume::consume(rt, o)))
        }
        "send" => send::SendOpts::from(&args).map(|o| with_client(depth, |rt| send::send(rt, o))),
        "listen" => listen::ListenOpts::from(&args).map(|o| with_client(depth, |rt| listen::listen(rt, o))),
        "produce-tx" => tx::TxOpts::from(&args).map(|o| with_client(depth, |rt| tx::produce_tx(rt, o))),
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
         [--blocking-queue-depth N]\n\
         \x20      rust-client-compat send --namesrv A --topic T --key-prefix P --shards S,.. \
         [--rounds N] [--ordered] [--delay-levels L,..] [--interval-ms I] [--pause-at R,.. \
         --go-dir D] [--group G] [--timeout-ms X]\n\
         \x20      rust-client-compat listen --namesrv A --group G --topic T [--expr E] \
         [--from first|last] [--model clustering|broadcasting] [--orderly] [--fail P=N,..] \
         [--max-reconsume N] [--consume-ms M] [--timeout-ms X]\n\
         \x20      rust-client-compat produce-tx --namesrv A --topic T --group G --key-prefix P \
         [--outcomes commit,rollback,unknown] [--rounds N] [--timeout-ms X]"
    );
    ExitCode::from(2)
}
/// `--name value` pairs and bare `--flag`s.
struct Args {
    values: BTreeMap<String, String>,
    flags: BTreeSet<String>,
}

impl Args {
    const FLAGS: &[&str] = &["stop-on-stdin", "ordered", "orderly"];

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

/// Microseconds since the Unix epoch: the wall clock every run of a scenario shares.
fn micros() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// Stdin, line by line, as the harness writes it; the channel closes when stdin reaches its end
/// (the harness closed it: the cue to stop). A thread reads it, since stdin has no asynchronous
/// reader here.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Resolves once stdin reaches its end (whatever lines came before).
async fn stdin_closed() {
    let mut lines = stdin_lines();
    while lines.recv().await.is_some() {}
}
