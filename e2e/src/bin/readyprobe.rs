//! `readyprobe`: how long a NameServer + Broker took to serve, for e2e/bench/broker.sh.
//!
//! Started right after the server process(es), it polls every 2 ms, each probe bounded by a
//! short request timeout, until the whole probe's `--timeout-s`:
//!
//! - `namesrv`: the NameServer answers GET_ROUTEINFO_BY_TOPIC (any answer, even "no route");
//! - `route` (with `--broker`): it answers with a route for TBW102, i.e. the broker registered;
//! - `send` (with `--broker`): a SEND_MESSAGE straight to the broker port is stored (SUCCESS).
//!
//! It prints one line, `READY namesrv_s=.. route_s=.. send_s=..`, each the seconds from
//! `--since` (Unix epoch nanoseconds, taken by the caller just before it started the servers) to
//! the first success, and exits 1 if any did not succeed in time.

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
    /// Topic the probe's message goes to (auto-created from TBW102).
    #[arg(long, default_value = "BenchReadyProbe")]
    topic: String,
}

const POLL: Duration = Duration::from_millis(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

fn epoch_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Connects (again after a failure) and asks `make()` until `done` accepts the answer or
/// `deadline` passes; returns the epoch nanos of the accepted answer.
async fn poll(
    addr: &str,
    deadline: Instant,
    make: impl Fn() -> RemotingCommand,
    done: impl Fn(&RemotingCommand) -> bool,
) -> Option<u128> {
    let mut conn: Option<Arc<Connection>> = None;
    while Instant::now() < deadline {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            conn = connect(addr, Arc::new(RefuseCallbacks), &ConnectionConfig::default())
                .await
                .ok();
        }
        if let Some(c) = &conn
            && let Ok(reply) = c.request(make(), REQUEST_TIMEOUT).await
            && done(&reply)
        {
            return Some(epoch_nanos());
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

fn route_query() -> RemotingCommand {
    RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_field("topic", "TBW102")
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

fn seconds(at: Option<u128>, since: u128) -> String {
    at.map_or_else(
        || "none".to_owned(),
        |t| format!("{:.3}", t.saturating_sub(since) as f64 / 1e9),
    )
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let since = cli.since.unwrap_or_else(epoch_nanos);
    let deadline = Instant::now() + Duration::from_secs(cli.timeout_s);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (namesrv, route, send) = rt.block_on(async {
        let namesrv = poll(&cli.namesrv, deadline, route_query, |_| true);
        let broker = async {
            let Some(broker) = &cli.broker else {
                return (Some(0), Some(0));
            };
            let route = poll(&cli.namesrv, deadline, route_query, |r| {
                r.code == response::SUCCESS
            });
            let send = poll(
                broker,
                deadline,
                || send_request(&cli.topic),
                |r| r.code == response::SUCCESS,
            );
            tokio::join!(route, send)
        };
        let (namesrv, (route, send)) = tokio::join!(namesrv, broker);
        (namesrv, route, send)
    });
    let (route_s, send_s) = if cli.broker.is_some() {
        (seconds(route, since), seconds(send, since))
    } else {
        ("skipped".to_owned(), "skipped".to_owned())
    };
    println!(
        "READY namesrv_s={} route_s={route_s} send_s={send_s}",
        seconds(namesrv, since)
    );
    anyhow::ensure!(
        namesrv.is_some() && route.is_some() && send.is_some(),
        "not serving within {} s",
        cli.timeout_s
    );
    Ok(())
}
