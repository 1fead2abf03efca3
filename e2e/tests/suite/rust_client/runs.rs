//! What the messaging-semantics scenarios (`ordering.rs`, `semantics.rs`, `transactional.rs`)
//! drive: rust-client-compat's `send`, `listen` and `produce-tx` runs ([`Job`]), watched together
//! while some of them run to completion and others until stopped, and what they print, parsed.
//!
//! Keys are `<prefix>-<shard>-<seq>` (see send.rs), so a delivery names the sequence it belongs
//! to and its place in it. Times are the wall clock in microseconds, printed by the runs
//! themselves (`at=`, `start=`), which share the machine's clock.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use apogee_e2e::event_process::{EventProcess, Line};

use super::{client::spawn_run, node::Env};

/// A consumer's or long-lived producer's own bound (`--timeout-ms`), should the harness never
/// ask it to stop.
const SELF_TIMEOUT_MS: &str = "300000";
/// How long a run may take to stop once asked (the client's shutdown: listeners finish, locks
/// are released, offsets sent; the program gives it 30 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(45);
/// How long a producer that has closed its output may take to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

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
    pub offset_msg_id: String,
    pub origin_msg_id: String,
    pub retry_topic: String,
    /// How many times this consumer had seen the key before.
    pub attempt: i64,
    /// `ok` or `later` (answered ReconsumeLater).
    pub verdict: String,
    /// The broker's store timestamp (ms): for a delayed or retried message, when the broker put
    /// it where the consumer found it.
    pub stored: i64,
    pub at: i64,
}

/// One rust-client-compat run a scenario watches: a producer (`exits`: it ends by itself, and must
/// end well) or a consumer (or transaction producer) that runs until [`Job::stop`].
pub struct Job {
    pub name: String,
    exits: bool,
    run: EventProcess,
    /// Set once the run has ended and everything it printed has been read.
    ended: bool,
}

impl Job {
    fn spawn(name: &str, sub: &str, args: &[(&str, &str)], flags: &[&str], exits: bool) -> Self {
        let mut argv: Vec<String> = Vec::new();
        for (k, v) in args {
            argv.push(format!("--{k}"));
            argv.push((*v).to_owned());
        }
        argv.extend(flags.iter().map(|f| format!("--{f}")));
        Self {
            name: name.to_owned(),
            exits,
            run: spawn_run(sub, &argv, &[]),
            ended: false,
        }
    }

    /// `send`: runs to completion by itself; `args` beyond `namesrv` and `topic` as send.rs.
    pub fn send(env: &Env, name: &str, topic: &str, args: &[(&str, &str)], flags: &[&str]) -> Self {
        let mut all = vec![("namesrv", env.namesrv.as_str()), ("topic", topic)];
        all.extend_from_slice(args);
        Self::spawn(name, "send", &all, flags, true)
    }

    /// `listen`, reading from the first offset, until stopped; `args` and `flags` as listen.rs.
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
    pub fn lines(&self, word: &str) -> Vec<&Line> {
        self.run.lines().iter().filter(|l| l.word == word).collect()
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
                Sent {
                    key: l.get("key").to_owned(),
                    shard: l.get("shard").to_owned(),
                    seq: l.int("seq"),
                    delay_level: l.int("delayLevel"),
                    queue: l.get("queue").to_owned(),
                    queue_offset: l.int("queueOffset"),
                    msg_id: l.get("msgId").to_owned(),
                    offset_msg_id: l.get("offsetMsgId").to_owned(),
                    start: l.int("start"),
                    at: l.int("at"),
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
                    offset_msg_id: l.get("offsetMsgId").to_owned(),
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
        let status = self.run.finish(STOP_TIMEOUT);
        self.ended = true;
        assert!(
            status.success() && self.lines("DONE").iter().any(|l| l.get("reason") == "stdin"),
            "{} did not stop cleanly with DONE reason=stdin\n{}",
            self.name,
            self.transcript()
        );
    }

    /// Reads what the run printed; once it has ended, reaps it: a producer must have ended well,
    /// anything else must not have ended.
    fn poll(&mut self) -> Result<(), String> {
        if self.ended || self.run.poll(Duration::from_millis(10)) {
            return Ok(());
        }
        if !self.exits {
            return Err(format!("{} exited", self.name));
        }
        let status = self.run.finish(REAP_TIMEOUT);
        self.ended = true;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} failed ({status})", self.name))
        }
    }

    pub fn transcript(&self) -> String {
        format!("=== {} ===\n{}", self.name, self.run.transcript())
    }
}

/// Reads the jobs' output until `done` holds; fails, with every transcript, after `timeout` or
/// as soon as a consumer exits or a producer fails.
pub fn watch(what: &str, timeout: Duration, jobs: &mut [&mut Job], done: impl Fn(&[&mut Job]) -> bool) {
    let started = Instant::now();
    loop {
        for i in 0..jobs.len() {
            if let Err(problem) = jobs[i].poll() {
                let all: Vec<String> = jobs.iter().map(|j| j.transcript()).collect();
                panic!("{problem} while waiting for {what}\n{}", all.join("\n"));
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
