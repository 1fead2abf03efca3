//! What the messaging-semantics scenarios (`ordering.rs`, `semantics.rs`, `transactional.rs`)
//! drive: client-compat's `send`, `listen` and `produce-tx` runs ([`Job`]), watched together
//! while some of them run to completion and others until stopped, and what they print, parsed.
//!
//! Keys are `<prefix>-<shard>-<seq>` (see send.go), so a delivery names the sequence it belongs
//! to and its place in it. Times are the wall clock in microseconds, printed by the runs
//! themselves (`at=`, `start=`), which share the machine's clock.

use std::{
    collections::BTreeSet,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use apogee_broker::{
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{ConnectionConfig, RefuseCallbacks, connect},
};

use super::{
    client::{Event, GoRun},
    scenarios::Env,
};

/// A consumer's or long-lived producer's own bound (`-timeout-ms`), should the harness never ask
/// it to stop.
const SELF_TIMEOUT_MS: &str = "300000";
/// How long a run may take to stop once asked (an orderly consumer first waits for its listener
/// to be idle, up to 15 s; then the client shuts down, up to 20 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(45);

/// `(shard, seq)` of a key `<prefix>-<shard>-<seq>`; `("", -1)` for keys of another form (those
/// of `client::produce`, `<prefix>-<i>`).
pub fn shard_seq(key: &str) -> (String, i64) {
    let mut parts = key.rsplitn(3, '-');
    let (seq, shard) = (parts.next(), parts.next());
    match (seq.and_then(|s| s.parse().ok()), shard, parts.next()) {
        (Some(seq), Some(shard), Some(_)) => (shard.to_owned(), seq),
        _ => (String::new(), -1),
    }
}

/// One message `send` reported sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub key: String,
    pub shard: String,
    pub seq: i64,
    pub delay_level: i64,
    pub queue: String,
    pub queue_offset: i64,
    pub msg_id: String,
    pub offset_msg_id: String,
    /// Just before the send, and just after it returned (µs).
    pub start: i64,
    pub at: i64,
}

/// One delivery `listen` reported.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub key: String,
    pub shard: String,
    pub seq: i64,
    pub body: String,
    pub topic: String,
    pub queue: String,
    pub queue_offset: i64,
    pub reconsume: i64,
    pub msg_id: String,
    pub origin_msg_id: String,
    pub retry_topic: String,
    /// How many times this consumer had seen the key before.
    pub attempt: i64,
    /// `ok` or `later` (answered ConsumeRetryLater).
    pub verdict: String,
    /// The broker's store timestamp (ms): for a delayed or retried message, when the broker put
    /// it where the consumer found it.
    pub stored: i64,
    pub at: i64,
}

/// One client-compat run a scenario watches: a producer (`exits`: it ends by itself, and must end
/// well) or a consumer (or transaction producer) that runs until [`Job::stop`].
pub struct Job {
    pub name: String,
    exits: bool,
    run: GoRun,
    /// Set once the run has ended and everything it printed has been read.
    ended: bool,
}

impl Job {
    fn spawn(name: &str, sub: &str, args: &[(&str, &str)], flags: &[&str], exits: bool) -> Self {
        let mut argv: Vec<String> = Vec::new();
        for (k, v) in args {
            argv.push(format!("-{k}"));
            argv.push((*v).to_owned());
        }
        argv.extend(flags.iter().map(|f| format!("-{f}")));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Self {
            name: name.to_owned(),
            exits,
            run: GoRun::spawn(sub, &argv),
            ended: false,
        }
    }

    /// `send`: runs to completion by itself; `args` beyond `namesrv` and `topic` as send.go.
    pub fn send(env: &Env, name: &str, topic: &str, args: &[(&str, &str)], flags: &[&str]) -> Self {
        let mut all = vec![("namesrv", env.namesrv.as_str()), ("topic", topic)];
        all.extend_from_slice(args);
        Self::spawn(name, "send", &all, flags, true)
    }

    /// `listen`, reading from the first offset, until stopped; `args` and `flags` as listen.go.
    pub fn listen(
        env: &Env,
        name: &str,
        group: &str,
        topic: &str,
        args: &[(&str, &str)],
        flags: &[&str],
    ) -> Self {
        let mut all = vec![
            ("namesrv", env.namesrv.as_str()),
            ("group", group),
            ("topic", topic),
            ("from", "first"),
            ("timeout-ms", SELF_TIMEOUT_MS),
        ];
        all.extend_from_slice(args);
        Self::spawn(name, "listen", &all, flags, false)
    }

    /// `produce-tx`, kept running (to answer back-checks) until stopped.
    pub fn produce_tx(env: &Env, name: &str, topic: &str, group: &str, args: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("namesrv", env.namesrv.as_str()),
            ("topic", topic),
            ("group", group),
            ("timeout-ms", SELF_TIMEOUT_MS),
        ];
        all.extend_from_slice(args);
        Self::spawn(name, "produce-tx", &all, &[], false)
    }

    /// Whether the run has ended (only a producer may, while watched).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The lines printed so far with this word.
    pub fn lines(&self, word: &str) -> Vec<Event> {
        self.run.events(word)
    }

    /// Whether a `send` run has printed `PAUSED rounds=<rounds>`.
    pub fn paused_at(&self, rounds: i64) -> bool {
        self.lines("PAUSED").iter().any(|l| l.int("rounds") == rounds)
    }

    /// What a `send` run reported sent, in send order.
    pub fn sent(&self) -> Vec<Sent> {
        let lines = self.lines("SENT");
        lines
            .iter()
            .map(|l| {
                assert_eq!(l.get("status"), "SEND_OK", "{}", self.transcript());
                let key = l.get("key").to_owned();
                Sent {
                    shard: l.get("shard").to_owned(),
                    seq: l.int("seq"),
                    delay_level: l.int("delayLevel"),
                    queue: l.get("queue").to_owned(),
                    queue_offset: l.int("queueOffset"),
                    msg_id: l.get("msgId").to_owned(),
                    offset_msg_id: l.get("offsetMsgId").to_owned(),
                    start: l.int("start"),
                    at: l.int("at"),
                    key,
                }
            })
            .collect()
    }

    /// Every delivery a `listen` run reported, in the order it printed them.
    pub fn deliveries(&self) -> Vec<Delivery> {
        let lines = self.lines("RECV");
        lines
            .iter()
            .map(|l| {
                let key = l.get("key").to_owned();
                let (shard, seq) = shard_seq(&key);
                Delivery {
                    shard,
                    seq,
                    body: l.get("body").to_owned(),
                    topic: l.get("topic").to_owned(),
                    queue: l.get("queue").to_owned(),
                    queue_offset: l.int("queueOffset"),
                    reconsume: l.int("reconsume"),
                    msg_id: l.get("msgId").to_owned(),
                    origin_msg_id: l.get("originMsgId").to_owned(),
                    retry_topic: l.get("retryTopic").to_owned(),
                    attempt: l.int("attempt"),
                    verdict: l.get("verdict").to_owned(),
                    stored: l.int("stored"),
                    at: l.int("at"),
                    key,
                }
            })
            .collect()
    }

    /// The distinct keys delivered so far that start with `prefix`.
    pub fn keys(&self, prefix: &str) -> BTreeSet<String> {
        let lines = self.lines("RECV");
        let keys = lines
            .iter()
            .map(|l| l.get("key"))
            .filter(|k| k.starts_with(prefix));
        keys.map(str::to_owned).collect()
    }

    /// The queues of the topic (`queues`) or of the group's retry topic (`retry`) the consumer
    /// last reported it consumes (for an orderly one: holds the lock of); `None` before any.
    fn owned_list(&self, field: &str) -> Option<BTreeSet<String>> {
        let last = self.lines("OWNED").pop()?;
        Some(match last.get(field) {
            "-" => BTreeSet::new(),
            list => list.split(',').map(str::to_owned).collect(),
        })
    }

    pub fn owned(&self) -> Option<BTreeSet<String>> {
        self.owned_list("queues")
    }

    pub fn retry_owned(&self) -> Option<BTreeSet<String>> {
        self.owned_list("retry")
    }

    /// Closes stdin (the cue to stop), waits for a clean exit and the `DONE` line.
    pub fn stop(&mut self) {
        self.run.close_stdin();
        self.finish(STOP_TIMEOUT);
        assert!(
            self.lines("DONE").iter().any(|l| l.get("reason") == "stdin"),
            "{} stopped without DONE reason=stdin\n{}",
            self.name,
            self.transcript()
        );
    }

    /// Waits for the run to end by itself, successfully.
    pub fn finish(&mut self, timeout: Duration) {
        if !self.ended {
            self.run.success(timeout);
            self.ended = true;
        }
    }

    pub fn transcript(&self) -> String {
        format!("=== {} ===\n{}", self.name, self.run.output())
    }
}

/// Polls the jobs every 50 ms until `done` holds; fails, with every transcript, after `timeout`
/// or as soon as a consumer exits or a producer fails. A producer that ends well is waited for
/// (so all it printed is read) and watched no more.
pub fn watch(what: &str, timeout: Duration, jobs: &mut [&mut Job], done: impl Fn(&[&mut Job]) -> bool) {
    let started = Instant::now();
    loop {
        for job in jobs.iter_mut() {
            if !job.ended && job.run.ended() {
                if !job.exits {
                    let all: Vec<String> = jobs.iter().map(|j| j.transcript()).collect();
                    panic!("a run exited while waiting for {what}\n{}", all.join("\n"));
                }
                job.finish(Duration::from_secs(10));
            }
        }
        if done(jobs) {
            eprintln!("{what}: after {:.1?}", started.elapsed());
            return;
        }
        if started.elapsed() > timeout {
            let all: Vec<String> = jobs.iter().map(|j| j.transcript()).collect();
            panic!("no {what} within {timeout:?}\n{}", all.join("\n"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Keeps the jobs running for `period` (deliveries that should not happen have the time to show
/// up), failing if one of them exits meanwhile.
pub fn settle(period: Duration, jobs: &mut [&mut Job]) {
    let until = Instant::now() + period;
    watch("the end of the settling period", period * 2, jobs, |_| {
        Instant::now() >= until
    });
}

/// Waits until the NameServer at `namesrv` answers a route for `topic` (GET_ROUTEINFO_BY_TOPIC):
/// the Go consumer refuses to start on a topic without one, and looks up the routes of its
/// group's retry topic only at start (and every 30 s after).
pub fn wait_for_route(namesrv: &str, topic: &str, timeout: Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let found = rt.block_on(async {
        let conn = connect(namesrv, Arc::new(RefuseCallbacks), &ConnectionConfig::default())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the NameServer {namesrv}: {e}"));
        while started.elapsed() < timeout {
            let query =
                RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_field("topic", topic);
            let reply = conn.request(query, Duration::from_secs(5)).await;
            if reply.is_ok_and(|r| r.code == response::SUCCESS) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    assert!(
        found,
        "the NameServer had no route for {topic} within {timeout:?}"
    );
    eprintln!("route for {topic} after {:.1?}", started.elapsed());
}

/// The offsets the broker at `broker` has committed for `group` in queues `0..queues` of
/// `topic` (QUERY_CONSUMER_OFFSET): `None` where it answers other than SUCCESS (QUERY_NOT_FOUND;
/// for a queue without a committed offset that starts at 0 the reference answers SUCCESS 0).
pub fn committed_offsets(
    broker: std::net::SocketAddr,
    group: &str,
    topic: &str,
    queues: i32,
) -> Vec<Option<i64>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let conn = connect(
            &broker.to_string(),
            Arc::new(RefuseCallbacks),
            &ConnectionConfig::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the broker {broker}: {e}"));
        let mut out = Vec::new();
        for q in 0..queues {
            let query = RemotingCommand::request(request::QUERY_CONSUMER_OFFSET, 0)
                .with_field("consumerGroup", group)
                .with_field("topic", topic)
                .with_field("queueId", q);
            let reply = conn
                .request(query, Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("QUERY_CONSUMER_OFFSET to {broker}: {e}"));
            out.push(match reply.code {
                response::SUCCESS => reply.field("offset").and_then(|o| o.parse().ok()),
                _ => None,
            });
        }
        out
    })
}
