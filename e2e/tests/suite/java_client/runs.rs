//! What the messaging-semantics scenarios (`ordering.rs`, `semantics.rs`, `transactional.rs`)
//! drive: ClientCompat's `send`, `listen` and `produce-tx` runs ([`Job`]), watched together while
//! some of them run to completion and others until stopped, and what they print, parsed.
//!
//! Keys are `<prefix>-<shard>-<seq>` everywhere (see Send.java), so a delivery names the sequence
//! it belongs to and its place in it. Times are the wall clock in microseconds, printed by the
//! JVMs themselves (`at=`, `start=`), which share the machine's clock.

use std::{
    collections::BTreeSet,
    process::ExitStatus,
    time::{Duration, Instant},
};

use super::{
    jvm::{self, JavaRun, Line},
    targets::{Env, Target},
};

/// A consumer's or long-lived producer's own bound (`--timeout-ms`), should the harness never ask
/// it to stop.
const SELF_TIMEOUT_MS: &str = "300000";
/// How long a run may take to shut down once asked (listeners finish, offsets are sent).
const STOP_TIMEOUT: Duration = Duration::from_secs(45);

/// A topic or group name no other scenario or target uses.
pub fn unique(env: &Env, kind: &str, scenario: &str) -> String {
    let target = match env.target {
        Target::Apogee => "apogee",
        Target::Reference => "reference",
    };
    format!("{kind}_{scenario}_{target}")
}

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
    /// `ok` or `later` (answered RECONSUME_LATER).
    pub verdict: String,
    pub at: i64,
}

/// One ClientCompat run a scenario watches: a producer (`exits`: it ends by itself, and must end
/// well) or a consumer that runs until [`Job::stop`].
#[derive(Debug)]
pub struct Job {
    pub name: String,
    exits: bool,
    run: JavaRun,
    /// Set once the run has ended and everything it printed has been read.
    ended: Option<ExitStatus>,
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
            run: jvm::java(sub, &argv),
            ended: None,
        }
    }

    /// `send`: runs to completion by itself; `args` beyond `namesrv` and `topic` as Send.java.
    pub fn send(env: &Env, name: &str, topic: &str, args: &[(&str, &str)], flags: &[&str]) -> Self {
        let mut all = vec![("namesrv", env.namesrv.as_str()), ("topic", topic)];
        all.extend_from_slice(args);
        Self::spawn(name, "send", &all, flags, true)
    }

    /// `listen`, reading from the first offset, until stopped; `args` and `flags` as Listen.java.
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
        let mut flags = flags.to_vec();
        flags.push("stop-on-stdin");
        Self::spawn(name, "listen", &all, &flags, false)
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
        Self::spawn(name, "produce-tx", &all, &["stop-on-stdin"], false)
    }

    pub fn lines<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
        self.run.lines().iter().filter(move |l| l.word == word)
    }

    pub fn has(&self, word: &str) -> bool {
        self.lines(word).next().is_some()
    }

    /// Every message reported sent, in send order.
    pub fn sent(&self) -> Vec<Sent> {
        self.lines("SENT")
            .map(|l| Sent {
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
            })
            .collect()
    }

    /// Every delivery so far, in the order the consumer reported them.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lines("RECV")
            .map(|l| {
                let key = l.get("key").to_owned();
                let (shard, seq) = shard_seq(&key);
                Delivery {
                    shard,
                    seq,
                    key,
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
                    at: l.int("at"),
                }
            })
            .collect()
    }

    /// The keys delivered so far that start with `prefix`.
    pub fn keys(&self, prefix: &str) -> BTreeSet<String> {
        let keys = self.lines("RECV").map(|l| l.get("key"));
        keys.filter(|k| k.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    /// The queues the consumer reported consuming last (an orderly one: locked), once it has.
    pub fn assigned(&self) -> Option<BTreeSet<String>> {
        self.last_assigned("queues")
    }

    /// The queues of the group's retry topic the consumer reported consuming last.
    pub fn retry_assigned(&self) -> Option<BTreeSet<String>> {
        self.last_assigned("retry")
    }

    fn last_assigned(&self, field: &str) -> Option<BTreeSet<String>> {
        let line = self.run.lines().iter().rev().find(|l| l.word == "ASSIGNED")?;
        Some(match line.get(field) {
            "none" => BTreeSet::new(),
            queues => queues.split(',').map(str::to_owned).collect(),
        })
    }

    /// Whether a producer has ended (well: [`watch`] fails the test otherwise).
    pub fn ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Waits for a producer to end by itself; it must end well.
    pub fn finish(&mut self, timeout: Duration) {
        assert!(self.exits, "{} runs until stopped", self.name);
        let status = *self.ended.get_or_insert_with(|| self.run.finish(timeout));
        assert!(
            status.success(),
            "{} failed\n{}",
            self.name,
            self.run.transcript()
        );
    }

    /// Asks a long-lived run to stop and waits for its clean shutdown (`DONE`).
    pub fn stop(&mut self) {
        let status = self.run.finish(STOP_TIMEOUT);
        assert!(
            status.success() && self.has("DONE"),
            "{} did not stop cleanly\n{}",
            self.name,
            self.run.transcript()
        );
    }

    pub fn transcript(&self) -> String {
        format!("=== {} ===\n{}", self.name, self.run.transcript())
    }
}

/// Reads every job's output until `done` holds, for at most `timeout`. A consumer that exits, a
/// producer that fails, or the timeout fails the test with every job's transcript.
pub fn watch(what: &str, timeout: Duration, jobs: &mut [&mut Job], done: impl Fn(&[&mut Job]) -> bool) {
    let started = Instant::now();
    loop {
        poll_all(what, jobs);
        if done(jobs) {
            eprintln!("{what}: after {:.1?}", started.elapsed());
            return;
        }
        if started.elapsed() > timeout {
            panic!("no {what} within {timeout:?}\n{}", transcripts(jobs));
        }
    }
}

/// Keeps reading for `period`, so what should not happen has the time to show up.
pub fn settle(period: Duration, jobs: &mut [&mut Job]) {
    let until = Instant::now() + period;
    while Instant::now() < until {
        poll_all("the settling period", jobs);
    }
}

fn poll_all(what: &str, jobs: &mut [&mut Job]) {
    let mut failed = None;
    if jobs.iter().all(|j| j.ended.is_some()) {
        // Nothing left to read: wait as a poll would.
        std::thread::sleep(Duration::from_millis(20));
    }
    for (i, job) in jobs.iter_mut().enumerate() {
        if job.ended.is_none() && !job.run.poll(Duration::from_millis(20)) {
            // It has exited and its output is read: this only collects the status.
            let status = job.run.finish(Duration::from_secs(5));
            job.ended = Some(status);
            if !(job.exits && status.success()) {
                failed = Some(i);
            }
        }
    }
    if let Some(i) = failed {
        panic!(
            "{} exited while waiting for {what}\n{}",
            jobs[i].name,
            transcripts(jobs)
        );
    }
}

fn transcripts(jobs: &[&mut Job]) -> String {
    let all: Vec<String> = jobs.iter().map(|j| j.transcript()).collect();
    all.join("\n")
}
