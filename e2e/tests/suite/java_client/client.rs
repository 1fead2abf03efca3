//! The client's three roles as the scenarios use them: a producer run ([`produce`]) and the two
//! consumers ([`Consumer`]), each reporting what the Java client reported, parsed; and
//! ClientCompat as the shared messaging-semantics scenarios drive it ([`DRIVER`]).

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use super::jvm::{self, JavaRun};
use crate::scenario::{deliveries::Placed, jobs::Driver};

/// Longest a producer run may take: JVM start, route lookup, sends, shutdown (about 2 s).
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a consumer may take to shut down once asked: listeners finish, offsets are sent.
const STOP_TIMEOUT: Duration = Duration::from_secs(45);
/// A consumer's own bound (`--timeout-ms`), should the harness never ask it to stop.
const CONSUMER_SELF_TIMEOUT_MS: &str = "300000";

/// ClientCompat's `send`, `listen` and `produce-tx`, where they differ from the other drivers.
pub static DRIVER: Driver = Driver {
    spawn: jvm::java,
    // Its consumers and transaction producer stop on a closed stdin only when asked to.
    stop_flags: &["stop-on-stdin"],
    queues_word: "ASSIGNED",
    no_queues: "none",
    // Listen.java prints neither the store timestamp nor the offset message id.
    recv_extras: &[],
    produce: produce_placed,
};

fn produce_placed(namesrv: &str, topic: &str, prefix: &str, count: usize) -> Vec<Placed> {
    let sent = produce(namesrv, topic, Mode::Sync, prefix, count, &["TagA"]);
    let placed = sent.into_iter().map(|s| {
        let r = s.result.expect("a sync send's result");
        Placed {
            body: format!("body-{}", s.key),
            key: s.key,
            queue: r.queue,
            queue_offset: r.queue_offset,
            offset_msg_id: r.offset_msg_id,
        }
    });
    placed.collect()
}

// ---------------------------------------------------------------------------------------------
// Producing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Async,
    Oneway,
    Batch,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
            Mode::Oneway => "oneway",
            Mode::Batch => "batch",
        }
    }
}

/// One message as the producer reported it. A oneway send reports only the key.
#[derive(Debug, Clone)]
pub struct Sent {
    pub key: String,
    pub tag: String,
    pub result: Option<SendResult>,
}

/// What a SendResult said about a message.
#[derive(Debug, Clone)]
pub struct SendResult {
    pub msg_id: String,
    pub offset_msg_id: String,
    pub queue: String,
    pub queue_offset: i64,
}

/// Sends `count` messages with keys `<prefix>-<i>` and tags `tags[i % tags.len()]`, and checks
/// the run reported every one of them sent (SEND_OK, or written for oneway) and nothing else.
pub fn produce(
    namesrv: &str,
    topic: &str,
    mode: Mode,
    prefix: &str,
    count: usize,
    tags: &[&str],
) -> Vec<Sent> {
    let args = [
        ("--namesrv", namesrv.to_owned()),
        ("--topic", topic.to_owned()),
        ("--mode", mode.arg().to_owned()),
        ("--count", count.to_string()),
        ("--key-prefix", prefix.to_owned()),
        ("--tags", tags.join(",")),
        ("--batch-size", "8".to_owned()),
    ];
    let args: Vec<String> = args.into_iter().flat_map(|(k, v)| [k.to_owned(), v]).collect();
    let mut run = jvm::java("produce", &args);
    let status = run.finish(PRODUCE_TIMEOUT);
    assert!(status.success(), "producer failed\n{}", run.transcript());
    let summary = run.lines().iter().find(|l| l.word == "SUMMARY");
    let summary = summary.unwrap_or_else(|| panic!("no SUMMARY\n{}", run.transcript()));
    assert_eq!(
        (summary.int("sent"), summary.int("failed")),
        (count as i64, 0),
        "{}",
        run.transcript()
    );
    let mut sent = Vec::new();
    for line in run.lines().iter().filter(|l| l.word == "SENT") {
        let status = line.get("status");
        let result = if mode == Mode::Oneway {
            assert_eq!(status, "ONEWAY", "{}", run.transcript());
            None
        } else {
            assert_eq!(status, "SEND_OK", "{}", run.transcript());
            Some(SendResult {
                msg_id: line.get("msgId").to_owned(),
                offset_msg_id: line.get("offsetMsgId").to_owned(),
                queue: line.get("queue").to_owned(),
                queue_offset: line.int("queueOffset"),
            })
        };
        sent.push(Sent {
            key: line.get("key").to_owned(),
            tag: String::new(),
            result,
        });
    }
    // Callbacks report in any order; the key says which message each line is.
    let expected: BTreeMap<String, String> = (0..count)
        .map(|i| (format!("{prefix}-{i}"), tags[i % tags.len()].to_owned()))
        .collect();
    let reported: BTreeSet<&str> = sent.iter().map(|s| s.key.as_str()).collect();
    assert!(
        sent.len() == count && reported.iter().copied().eq(expected.keys().map(String::as_str)),
        "the producer reported keys {reported:?}, not {count} distinct keys {prefix}-0..\n{}",
        run.transcript()
    );
    for s in &mut sent {
        s.tag = expected[&s.key].clone();
    }
    sent
}

// ---------------------------------------------------------------------------------------------
// Consuming.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// DefaultMQPushConsumer, clustering.
    Push,
    /// DefaultLitePullConsumer, subscribe mode.
    LitePull,
}

/// One delivery as the consumer reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub key: String,
    pub body: String,
    pub tag: String,
    pub queue: String,
    pub queue_offset: i64,
    pub reconsume: i64,
    pub msg_id: String,
}

/// A consumer JVM that runs until [`Consumer::stop`].
#[derive(Debug)]
pub struct Consumer {
    pub group: String,
    run: JavaRun,
}

/// What a stopped consumer reported.
#[derive(Debug)]
pub struct Report {
    pub received: Vec<Received>,
    /// Queue → the offset the consumer committed last (push consumers only).
    pub committed: BTreeMap<String, i64>,
}

impl Consumer {
    pub fn start(kind: Kind, namesrv: &str, group: &str, topic: &str, expr: &str) -> Self {
        let args = [
            ("--namesrv", namesrv),
            ("--group", group),
            ("--topic", topic),
            ("--expr", expr),
            ("--from", "first"),
            ("--timeout-ms", CONSUMER_SELF_TIMEOUT_MS),
        ];
        let mut args: Vec<String> = args
            .into_iter()
            .flat_map(|(k, v)| [k.to_owned(), v.to_owned()])
            .collect();
        args.push("--stop-on-stdin".to_owned());
        let sub = match kind {
            Kind::Push => "consume",
            Kind::LitePull => "lite-pull",
        };
        Self {
            group: group.to_owned(),
            run: jvm::java(sub, &args),
        }
    }

    /// Every delivery so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let lines = self.run.lines().iter().filter(|l| l.word == "RECV");
        lines
            .map(|l| Received {
                key: l.get("key").to_owned(),
                body: l.get("body").to_owned(),
                tag: l.get("tag").to_owned(),
                queue: l.get("queue").to_owned(),
                queue_offset: l.int("queueOffset"),
                reconsume: l.int("reconsume"),
                msg_id: l.get("msgId").to_owned(),
            })
            .collect()
    }

    pub fn received_keys(&self) -> BTreeSet<String> {
        self.received().into_iter().map(|r| r.key).collect()
    }

    /// The queues the rebalance gave this member last, once it reported any.
    pub fn assigned(&self) -> Option<BTreeSet<String>> {
        let line = self.run.lines().iter().rev().find(|l| l.word == "ASSIGNED")?;
        let queues = line.get("queues");
        Some(match queues {
            "none" => BTreeSet::new(),
            _ => queues.split(',').map(str::to_owned).collect(),
        })
    }

    /// Asks the consumer to stop, waits for its clean shutdown and returns what it reported.
    pub fn stop(&mut self) -> Report {
        let status = self.run.finish(STOP_TIMEOUT);
        let done = self.run.lines().iter().any(|l| l.word == "DONE");
        assert!(
            status.success() && done,
            "consumer {} failed\n{}",
            self.group,
            self.run.transcript()
        );
        let committed = self.run.lines().iter().filter(|l| l.word == "COMMITTED");
        Report {
            received: self.received(),
            committed: committed
                .map(|l| (l.get("queue").to_owned(), l.int("offset")))
                .collect(),
        }
    }

    pub fn transcript(&self) -> String {
        self.run.transcript()
    }
}

/// Reads the consumers' output until `done` holds, for at most `timeout`. A consumer that exits
/// on its own, or a timeout, fails the test with every consumer's transcript.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    consumers: &mut [Consumer],
    done: impl Fn(&[Consumer]) -> bool,
) {
    let started = Instant::now();
    loop {
        for c in consumers.iter_mut() {
            if !c.run.poll(Duration::from_millis(25)) {
                panic!(
                    "consumer {} exited while waiting for {what}\n{}",
                    c.group,
                    c.transcript()
                );
            }
        }
        if done(consumers) {
            eprintln!("{what}: after {:.1?}", started.elapsed());
            return;
        }
        if started.elapsed() > timeout {
            let transcripts: Vec<String> = consumers.iter().map(Consumer::transcript).collect();
            panic!("no {what} within {timeout:?}\n{}", transcripts.join("\n"));
        }
    }
}

/// Keeps reading for `period`, so deliveries that should not happen have the time to show up.
pub fn settle(period: Duration, consumers: &mut [Consumer]) {
    let until = Instant::now() + period;
    while Instant::now() < until {
        for c in consumers.iter_mut() {
            c.run.poll(Duration::from_millis(25));
        }
    }
}
