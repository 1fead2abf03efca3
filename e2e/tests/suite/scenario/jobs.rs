//! What the messaging-semantics scenarios drive: a client driver's `send`, `listen` and
//! `produce-tx` runs ([`Job`]), watched together while some of them run to completion and others
//! until stopped ([`watch`], [`settle`]), and what they print, parsed.
//!
//! The three drivers (ClientCompat in Java, client-compat in Go, rust-client-compat) take the
//! same subcommands and options and print the same lines, but for what a client's [`Driver`]
//! says.

use std::{
    collections::BTreeSet,
    process::ExitStatus,
    time::{Duration, Instant},
};

use apogee_e2e::event_process::{EventProcess, Line};

use super::{
    deliveries::{Delivery, Placed, Sent},
    targets::Env,
};

/// A consumer's or long-lived producer's own bound (`--timeout-ms`), should the harness never
/// ask it to stop.
const SELF_TIMEOUT_MS: &str = "300000";
/// How long a run may take to stop once asked: listeners finish (an orderly Go consumer first
/// waits up to 15 s for its listener to be idle), locks are released, offsets sent, and the
/// client shuts down (each program gives that 20-30 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(45);
/// How long a run that has closed its output may take to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one look at a job waits for it to print.
const POLL: Duration = Duration::from_millis(20);

/// A client's driver program where the three differ.
pub struct Driver {
    /// Starts the program with a subcommand and its arguments (`--option value`, `--flag`; Go's
    /// flag package takes two dashes as it takes one).
    pub spawn: fn(subcommand: &str, args: &[String]) -> EventProcess,
    /// Flags a `listen` or `produce-tx` run needs to stop when its stdin closes.
    pub stop_flags: &'static [&'static str],
    /// The word of the line a `listen` run reports the queues it consumes with (`queues=`,
    /// `retry=`), and how it writes "none".
    pub queues_word: &'static str,
    pub no_queues: &'static str,
    /// The optional `RECV` fields the program prints (see [`Delivery::parse`]).
    pub recv_extras: &'static [&'static str],
    /// Sends `count` messages keyed `<prefix>-<i>`, tagged `TagA`, one synchronous send each,
    /// with the client's basic `produce` run (which checks that every one was sent); returns
    /// where they went, in send order.
    pub produce: fn(namesrv: &str, topic: &str, prefix: &str, count: usize) -> Vec<Placed>,
}

/// One driver run a scenario watches: a producer (`exits`: it ends by itself, and must end
/// well) or a consumer or transaction producer that runs until [`Job::stop`].
pub struct Job {
    pub name: String,
    driver: &'static Driver,
    exits: bool,
    run: EventProcess,
    /// Set once the run has ended and everything it printed has been read.
    ended: Option<ExitStatus>,
}

impl Job {
    fn spawn(
        driver: &'static Driver,
        name: &str,
        sub: &str,
        args: &[(&str, &str)],
        flags: &[&str],
        exits: bool,
    ) -> Self {
        let mut argv: Vec<String> = Vec::new();
        for (k, v) in args {
            argv.push(format!("--{k}"));
            argv.push((*v).to_owned());
        }
        argv.extend(flags.iter().map(|f| format!("--{f}")));
        if !exits {
            argv.extend(driver.stop_flags.iter().map(|f| format!("--{f}")));
        }
        Self {
            name: name.to_owned(),
            driver,
            exits,
            run: (driver.spawn)(sub, &argv),
            ended: None,
        }
    }

    /// `send`: runs to completion by itself; `args` beyond `namesrv` and `topic` as the
    /// driver's `send` takes them.
    pub fn send(
        driver: &'static Driver,
        env: &Env,
        name: &str,
        topic: &str,
        args: &[(&str, &str)],
        flags: &[&str],
    ) -> Self {
        let mut all = vec![("namesrv", env.namesrv.as_str()), ("topic", topic)];
        all.extend_from_slice(args);
        Self::spawn(driver, name, "send", &all, flags, true)
    }

    /// `listen`, reading from the first offset, until stopped; `args` and `flags` as the
    /// driver's `listen` takes them.
    pub fn listen(
        driver: &'static Driver,
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
        Self::spawn(driver, name, "listen", &all, flags, false)
    }

    /// `produce-tx`, kept running (to answer back-checks) until stopped.
    pub fn produce_tx(
        driver: &'static Driver,
        env: &Env,
        name: &str,
        topic: &str,
        group: &str,
        args: &[(&str, &str)],
    ) -> Self {
        let mut all = vec![
            ("namesrv", env.namesrv.as_str()),
            ("topic", topic),
            ("group", group),
            ("timeout-ms", SELF_TIMEOUT_MS),
        ];
        all.extend_from_slice(args);
        Self::spawn(driver, name, "produce-tx", &all, &[], false)
    }

    /// The lines printed so far with this word.
    pub fn lines<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
        self.run.lines().iter().filter(move |l| l.word == word)
    }

    pub fn has(&self, word: &str) -> bool {
        self.lines(word).next().is_some()
    }

    /// Whether a `send` run has printed `PAUSED rounds=<rounds>`.
    pub fn paused_at(&self, rounds: i64) -> bool {
        self.lines("PAUSED").any(|l| l.int("rounds") == rounds)
    }

    /// What a `send` run reported sent, in send order.
    pub fn sent(&self) -> Vec<Sent> {
        let sent = self.lines("SENT").map(|l| Sent::parse(l, || self.transcript()));
        sent.collect()
    }

    /// Every delivery a `listen` run reported, in the order it printed them.
    pub fn deliveries(&self) -> Vec<Delivery> {
        let extras = self.driver.recv_extras;
        self.lines("RECV").map(|l| Delivery::parse(l, extras)).collect()
    }

    /// The distinct keys delivered so far that start with `prefix`.
    pub fn keys(&self, prefix: &str) -> BTreeSet<String> {
        let keys = self.lines("RECV").map(|l| l.get("key"));
        keys.filter(|k| k.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    /// The queues of the topic the consumer last reported it consumes (for an orderly one:
    /// holds the lock of); `None` before it reported any.
    pub fn owned(&self) -> Option<BTreeSet<String>> {
        self.last_owned("queues")
    }

    /// The same for the group's retry topic.
    pub fn retry_owned(&self) -> Option<BTreeSet<String>> {
        self.last_owned("retry")
    }

    fn last_owned(&self, field: &str) -> Option<BTreeSet<String>> {
        let word = self.driver.queues_word;
        let line = self.run.lines().iter().rev().find(|l| l.word == word)?;
        Some(match line.get(field) {
            none if none == self.driver.no_queues => BTreeSet::new(),
            queues => queues.split(',').map(str::to_owned).collect(),
        })
    }

    /// Whether a producer has ended (well: [`watch`] fails the test otherwise).
    pub fn ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Closes stdin (the cue to stop) and waits for a clean exit after `DONE reason=stdin`.
    pub fn stop(&mut self) {
        let status = self.run.finish(STOP_TIMEOUT);
        self.ended = Some(status);
        assert!(
            status.success() && self.lines("DONE").any(|l| l.get("reason") == "stdin"),
            "{} did not stop cleanly with DONE reason=stdin\n{}",
            self.name,
            self.transcript()
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

/// Keeps reading for `period`, so what should not happen has the time to show up; fails as
/// [`watch`] does.
pub fn settle(period: Duration, jobs: &mut [&mut Job]) {
    let until = Instant::now() + period;
    while Instant::now() < until {
        poll_all("the end of the settling period", jobs);
    }
}

fn poll_all(what: &str, jobs: &mut [&mut Job]) {
    let mut failed = None;
    if jobs.iter().all(|j| j.ended.is_some()) {
        // Nothing left to read: wait as a poll would.
        std::thread::sleep(POLL);
    }
    for (i, job) in jobs.iter_mut().enumerate() {
        if job.ended.is_none() && !job.run.poll(POLL) {
            // It has exited and its output is read: this only collects the status.
            let status = job.run.finish(REAP_TIMEOUT);
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
