//! `readyprobe`: how long a NameServer + Broker took to serve, for the e2e/bench scripts.
//!
//! Started right after the server process(es), it polls every 2 ms (20 ms for runtime info),
//! each probe bounded by a short request timeout, until the whole probe's `--timeout-s`:
//!
//! - `namesrv`: the NameServer answers GET_ROUTEINFO_BY_TOPIC (any answer, even "no route");
//! - `route` (with `--broker` or `--route`): it answers with a route for TBW102, i.e. the
//!   broker registered;
//! - `send` (with `--broker`): a SEND_MESSAGE straight to the broker port is stored (SUCCESS);
//! - `slave` (with `--slave`, for e2e/bench/replication.sh): after that send, the slave's
//!   `commitLogMaxOffset` (GET_BROKER_RUNTIME_INFO) reaches the master's, i.e. the slave is
//!   connected and replicating. A SYNC_MASTER answers no send with SUCCESS before a slave has
//!   it, so for one the send step keeps retrying until the slave is there.
//!
//! It prints one line, `READY namesrv_s=.. route_s=.. send_s=.. slave_s=..`, each the seconds
//! from `--since` (Unix epoch nanoseconds, taken by the caller just before it started the
//! servers) to the first success, and exits 1 if any did not succeed in time.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use apogee_broker::{
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{Connection, ConnectionConfig, RefuseCallbacks, connect},
};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "readyprobe", about = "Time until a NameServer + Broker serve")]
struct Cli {
    /// NameServer `host:port`.
    #[arg(long)]
    namesrv: String,
    /// Broker `host:port`; without it only the NameServer's answering is probed.
    #[arg(long)]
    broker: Option<String>,
    /// Unix epoch nanoseconds the times are counted from (default: now).
    #[arg(long)]
    since: Option<u128>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// Wait for the TBW102 route even without `--broker` (a SYNC_MASTER's route, before its
    /// slave is started: its sends cannot succeed yet).
    #[arg(long)]
    route: bool,
    /// A slave's `host:port` (with `--broker`, its master): also wait until it has replicated
    /// the master's log up to the probe's message.
    #[arg(long, requires = "broker")]
    slave: Option<String>,
    /// Topic the probe's message goes to (auto-created from TBW102).
    #[arg(long, default_value = "BenchReadyProbe")]
    topic: String,
}

const POLL: Duration = Duration::from_millis(2);
/// GET_BROKER_RUNTIME_INFO is polled less often: the reference logs a stack trace for each one
/// it fails in its first second (no TPS sample yet), and catching up is not timed that finely.
const POLL_RUNTIME_INFO: Duration = Duration::from_millis(20);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

fn epoch_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Connects (again after a failure) and asks `make()` every `every` until `accept` takes a
/// value from the answer or `deadline` passes; returns the epoch nanos of the accepted answer
/// and the value.
async fn poll<T>(
    addr: &str,
    deadline: Instant,
    every: Duration,
    make: impl Fn() -> RemotingCommand,
    accept: impl Fn(&RemotingCommand) -> Option<T>,
) -> Option<(u128, T)> {
    let mut conn: Option<Arc<Connection>> = None;
    while Instant::now() < deadline {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            conn = connect(addr, Arc::new(RefuseCallbacks), &ConnectionConfig::default())
                .await
                .ok();
        }
        if let Some(c) = &conn
            && let Ok(reply) = c.request(make(), REQUEST_TIMEOUT).await
            && let Some(value) = accept(&reply)
        {
            return Some((epoch_nanos(), value));
        }
        tokio::time::sleep(every).await;
    }
    None
}

fn route_query() -> RemotingCommand {
    RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_field("topic", "TBW102")
}

fn runtime_info() -> RemotingCommand {
    RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO, 0)
}

/// `commitLogMaxOffset` from a GET_BROKER_RUNTIME_INFO answer (a KVTable, `{"table":{..}}`,
/// every value a string), found by its key so no JSON parser is needed.
fn log_end(reply: &RemotingCommand) -> Option<u64> {
    if reply.code != response::SUCCESS {
        return None;
    }
    let body = std::str::from_utf8(&reply.body).ok()?;
    let key = "\"commitLogMaxOffset\":\"";
    let at = body.find(key)? + key.len();
    let rest = &body[at..];
    rest[..rest.find('"')?].parse().ok()
}

fn send_request(topic: &str) -> RemotingCommand {
    let born = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut req = RemotingCommand::request(request::SEND_MESSAGE, 0);
    for (k, v) in [
        ("producerGroup", "BenchReadyProbe"),
        ("topic", topic),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "4"),
        ("queueId", "0"),
        ("sysFlag", "0"),
        ("bornTimestamp", &born.to_string()),
        ("flag", "0"),
        ("properties", ""),
        ("reconsumeTimes", "0"),
        ("unitMode", "false"),
        ("batch", "false"),
    ] {
        req = req.with_field(k, v);
    }
    req.with_body(b"ready-probe".to_vec())
}

/// A step's outcome: `None` when it was not asked for, else the epoch nanos it succeeded at.
type Step = Option<Option<u128>>;

fn seconds(step: Step, since: u128) -> String {
    match step {
        None => "skipped".to_owned(),
        Some(None) => "none".to_owned(),
        Some(Some(t)) => format!("{:.3}", t.saturating_sub(since) as f64 / 1e9),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let since = cli.since.unwrap_or_else(epoch_nanos);
    let deadline = Instant::now() + Duration::from_secs(cli.timeout_s);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let success = |r: &RemotingCommand| (r.code == response::SUCCESS).then_some(());
    let at = |found: Option<(u128, ())>| found.map(|(t, ())| t);
    let (namesrv, route, send, slave): (Step, Step, Step, Step) = rt.block_on(async {
        let namesrv = async {
            Some(at(
                poll(&cli.namesrv, deadline, POLL, route_query, |_| Some(())).await
            ))
        };
        let route = async {
            if cli.broker.is_none() && !cli.route {
                return None;
            }
            Some(at(poll(&cli.namesrv, deadline, POLL, route_query, success).await))
        };
        let send_then_slave = async {
            let Some(broker) = &cli.broker else {
                return (None, None);
            };
            let send = at(poll(broker, deadline, POLL, || send_request(&cli.topic), success).await);
            let Some(slave) = &cli.slave else {
                return (Some(send), None);
            };
            if send.is_none() {
                return (Some(send), Some(None));
            }
            // The master's end once the probe's message is stored; the slave must reach it.
            let replicated = match poll(broker, deadline, POLL_RUNTIME_INFO, runtime_info, log_end).await {
                Some((_, end)) => poll(slave, deadline, POLL_RUNTIME_INFO, runtime_info, |r| {
                    log_end(r).filter(|&have| have >= end)
                })
                .await
                .map(|(t, _)| t),
                None => None,
            };
            (Some(send), Some(replicated))
        };
        let (namesrv, route, (send, slave)) = tokio::join!(namesrv, route, send_then_slave);
        (namesrv, route, send, slave)
    });
    println!(
        "READY namesrv_s={} route_s={} send_s={} slave_s={}",
        seconds(namesrv, since),
        seconds(route, since),
        seconds(send, since),
        seconds(slave, since)
    );
    let failed = [namesrv, route, send, slave].contains(&Some(None));
    anyhow::ensure!(!failed, "not serving within {} s", cli.timeout_s);
    Ok(())
}
