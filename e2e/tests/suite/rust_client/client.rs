//! Builds and runs rust-client-compat (`e2e/rust-client`: the upstream Rust RocketMQ client driven
//! from the command line) and reads the lines it prints: `WORD key=value ...`, one event each:
//! its basic `produce` and `consume` runs, parsed, and the program as the shared
//! messaging-semantics scenarios drive it ([`DRIVER`]).

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    thread,
    time::{Duration, Instant},
};

use apogee_e2e::event_process::EventProcess as Run;

use crate::{
    broker_probe,
    scenario::{
        deliveries::{OFFSET_MSG_ID, Placed, STORED},
        jobs::Driver,
        targets::Env,
    },
};

/// A cold build compiles about 350 crates (9.5 min measured on a busy 2-core machine); a fresh
/// binary is found in well under a second.
const BUILD_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// Longest a producer run may take: route lookup, topic creation, sends, shutdown.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a consumer may take to shut down once asked: listeners finish, offsets are sent.
const STOP_TIMEOUT: Duration = Duration::from_secs(45);
/// Longest wait for the broker to show offsets a consumer sent (they are applied at once).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// A consumer's own bound (`--timeout-ms`), should the harness never ask it to stop.
const CONSUMER_SELF_TIMEOUT_MS: &str = "300000";
/// Most of a failed build's stderr a failure message shows (its tail).
const STDERR_SHOWN: usize = 12_000;

/// The binary, built on first use by `e2e/rust-client/build.sh`. A build that fails (no cargo,
/// no C compiler, crates.io unreachable) fails every test that needs it, with the build's output:
/// compatibility that is not checked is not known, so nothing here is ever skipped.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build) {
        Ok(path) => path,
        Err(problem) => panic!("{problem}"),
    }
}

fn build() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rust-client/build.sh");
    let started = Instant::now();
    eprintln!("rust_client: {} (a cold build takes minutes)", script.display());
    let mut child = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run bash {}: {e}", script.display()))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait for build.sh: {e}"))? {
            break status;
        }
        if started.elapsed() > BUILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not finish within {BUILD_TIMEOUT:?}",
                script.display()
            ));
        }
        thread::sleep(Duration::from_millis(200));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let tail = &stderr[stderr.len().saturating_sub(STDERR_SHOWN)..];
    if !status.success() {
        return Err(format!(
            "{} failed ({status}); the Rust client tests need cargo, a C compiler and crates.io \
             on the first build\n{tail}",
            script.display()
        ));
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let [path] = lines[..] else {
        return Err(format!("build.sh printed {lines:?}, not one path\n{tail}"));
    };
    let path = PathBuf::from(path);
    if !path.is_file() {
        return Err(format!("build.sh printed {}, which is no file", path.display()));
    }
    eprintln!(
        "rust_client: {} ready after {:.1?}",
        path.display(),
        started.elapsed()
    );
    Ok(path)
}

/// Builds (or finds) the binary before a scenario starts its clock.
pub fn prepare() {
    binary();
}

/// rust-client-compat's `send`, `listen` and `produce-tx`, where they differ from the other
/// drivers.
pub static DRIVER: Driver = Driver {
    spawn: |subcommand, args| spawn_run(subcommand, args, &[]),
    // Its runs stop when stdin closes, unasked.
    stop_flags: &[],
    queues_word: "OWNED",
    no_queues: "-",
    recv_extras: &[STORED, OFFSET_MSG_ID],
    produce: produce_placed,
};

/// `produce` gives a message the body `body-of-<key>` (`send` gives `body-<key>`).
fn produce_placed(namesrv: &str, topic: &str, prefix: &str, count: usize) -> Vec<Placed> {
    let sent = produce(namesrv, topic, Mode::Sync, prefix, count, &["TagA"]);
    let placed = sent.into_iter().map(|s| {
        let r = s.result.expect("a sync send's result");
        Placed {
            body: format!("body-of-{}", s.key),
            key: s.key,
            queue: r.queue,
            queue_offset: r.queue_offset,
            offset_msg_id: r.offset_msg_id,
        }
    });
    placed.collect()
}

/// Starts rust-client-compat with `subcommand`, `args` and extra environment.
pub fn spawn_run(subcommand: &str, args: &[String], env: &[(&str, &str)]) -> Run {
    let what = format!("{subcommand} {}", args.join(" "));
    // HOME points at a scratch directory: nothing the client keeps lands in the real one.
    let home = tempfile::tempdir().expect("scratch HOME");
    let mut command = Command::new(binary());
    command
        .arg(subcommand)
        .args(args)
        .env("HOME", home.path())
        // The caller's RocketMQ settings must not leak in.
        .env_remove("NAMESRV_ADDR")
        .env_remove("org.apache.rocketmq.client.sendSmartMsg")
        .envs(env.iter().copied());
    Run::spawn(
        format!("{} {what}", binary().display()),
        &mut command,
        Box::new(home),
    )
}

// ---------------------------------------------------------------------------------------------
// Producing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `send`, one request per message: SEND_MESSAGE (code 10).
    Sync,
    /// `send` with `org.apache.rocketmq.client.sendSmartMsg=true`: SEND_MESSAGE_V2 (code 310).
    SyncV2,
    /// `send` with a callback.
    Async,
    /// `send_oneway`: no response, nothing reported back.
    Oneway,
    /// `send_batch`, eight messages a request: SEND_BATCH_MESSAGE (code 320).
    Batch,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Sync | Mode::SyncV2 => "sync",
            Mode::Async => "async",
            Mode::Oneway => "oneway",
            Mode::Batch => "batch",
        }
    }
}

/// One message as the producer reported it; a oneway send reports only the key.
#[derive(Debug, Clone)]
pub struct Sent {
    pub key: String,
    pub tag: String,
    pub result: Option<SendResult>,
}

/// What a SendResult said about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    let env: &[(&str, &str)] = match mode {
        Mode::SyncV2 => &[("org.apache.rocketmq.client.sendSmartMsg", "true")],
        _ => &[],
    };
    let mut run = spawn_run("produce", &args, env);
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
    let expected: BTreeMap<String, String> = (0..count)
        .map(|i| (format!("{prefix}-{i}"), tags[i % tags.len()].to_owned()))
        .collect();
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
        let key = line.get("key").to_owned();
        let tag = expected.get(&key).cloned().unwrap_or_default();
        sent.push(Sent { key, tag, result });
    }
    // Callbacks report in any order; the key says which message each line is.
    let reported: BTreeSet<&str> = sent.iter().map(|s| s.key.as_str()).collect();
    assert!(
        sent.len() == count && reported.iter().copied().eq(expected.keys().map(String::as_str)),
        "the producer reported keys {reported:?}, not {count} distinct keys {prefix}-0..\n{}",
        run.transcript()
    );
    sent
}

// ---------------------------------------------------------------------------------------------
// Consuming.

/// One delivery as the consumer reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub key: String,
    pub tag: String,
    pub body: String,
    pub queue: String,
    pub queue_offset: i64,
    pub msg_id: String,
    pub offset_msg_id: String,
    pub reconsume: i64,
}

/// A push consumer (clustering) that runs until [`Consumer::stop`].
#[derive(Debug)]
pub struct Consumer {
    pub group: String,
    topic: String,
    run: Run,
}

impl Consumer {
    pub fn start(namesrv: &str, group: &str, topic: &str, expr: &str) -> Self {
        let args = [
            ("--namesrv", namesrv),
            ("--group", group),
            ("--topic", topic),
            ("--expr", expr),
            ("--from", "first"),
            ("--count", "0"),
            ("--timeout-ms", CONSUMER_SELF_TIMEOUT_MS),
        ];
        let mut args: Vec<String> = args
            .into_iter()
            .flat_map(|(k, v)| [k.to_owned(), v.to_owned()])
            .collect();
        args.push("--stop-on-stdin".to_owned());
        Self {
            group: group.to_owned(),
            topic: topic.to_owned(),
            run: spawn_run("consume", &args, &[]),
        }
    }

    /// Every delivery so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let lines = self.run.lines().iter().filter(|l| l.word == "RECV");
        lines
            .map(|l| Received {
                key: l.get("key").to_owned(),
                tag: l.get("tag").to_owned(),
                body: l.get("body").to_owned(),
                queue: l.get("queue").to_owned(),
                queue_offset: l.int("queueOffset"),
                msg_id: l.get("msgId").to_owned(),
                offset_msg_id: l.get("offsetMsgId").to_owned(),
                reconsume: l.int("reconsume"),
            })
            .collect()
    }

    pub fn received_keys(&self) -> BTreeSet<String> {
        self.received().into_iter().map(|r| r.key).collect()
    }

    /// The queues of the subscribed topic the last rebalance gave this member, once it
    /// reported any.
    pub fn assigned(&self) -> Option<BTreeSet<String>> {
        let line = self
            .run
            .lines()
            .iter()
            .rev()
            .find(|l| l.word == "ASSIGNED" && l.get("topic") == self.topic)?;
        Some(match line.get("queues") {
            "none" => BTreeSet::new(),
            queues => queues.split(',').map(str::to_owned).collect(),
        })
    }

    /// Has the consumer commit its offsets while connected (see [`Consumer::persist`]), then asks
    /// it to stop, waits for its clean shutdown and returns every delivery it reported.
    pub fn stop(&mut self, env: &Env) -> Vec<Received> {
        self.persist(env);
        let status = self.run.finish(STOP_TIMEOUT);
        let done = self.run.lines().iter().find(|l| l.word == "DONE");
        assert!(
            status.success() && done.is_some_and(|d| d.get("reason") == "stdin"),
            "consumer {} did not stop cleanly\n{}",
            self.group,
            self.run.transcript()
        );
        self.received()
    }

    /// Has the consumer commit its offsets to the broker now, each acknowledged (a `persist`
    /// line: the client's offset store's `update_consume_offset_to_broker`, not oneway), and waits
    /// until the broker at `env.broker` shows, for each of the topic's queues the consumer holds,
    /// at least the offset it committed (`PERSISTED`); a commit the broker refused fails the test
    /// (`PERSIST_FAILED`). The client also sends its offsets at shutdown, but oneway, right before it
    /// closes its connections, and the reference may never process them: its server handler
    /// (5.3.3's NettyServerHandler) discards a request it gets to only once the connection has
    /// closed (the Go client suite's `consumer_restart` lost a queue's offset that way about once
    /// in twenty restarts under load). Committed while connected, the offsets are the broker's
    /// before the consumer leaves, whatever happens to the ones its shutdown sends again.
    fn persist(&mut self, env: &Env) {
        self.run.send_line("persist");
        let started = Instant::now();
        let held = loop {
            assert!(
                self.run.poll(Duration::from_millis(25)),
                "consumer {} exited before it persisted its offsets\n{}",
                self.group,
                self.run.transcript()
            );
            // Printed before PERSISTED, one per queue whose commit the broker did not take.
            let failed = self.run.lines().iter().any(|l| l.word == "PERSIST_FAILED");
            assert!(
                !failed,
                "consumer {} could not commit its offsets\n{}",
                self.group,
                self.run.transcript()
            );
            if let Some(line) = self.run.lines().iter().rfind(|l| l.word == "PERSISTED") {
                break line.get("offsets").to_owned();
            }
            assert!(
                started.elapsed() < STOP_TIMEOUT,
                "consumer {} did not persist its offsets within {STOP_TIMEOUT:?}\n{}",
                self.group,
                self.run.transcript()
            );
        };
        let held: Vec<(i32, i64)> = held
            .split(',')
            .filter(|h| *h != "-")
            .map(|h| {
                let (queue, offset) = h.rsplit_once('=').expect("queue=offset");
                let (broker, queue) = queue.rsplit_once(':').expect("broker:queue");
                assert_eq!(broker, env.broker_name, "{}", self.run.transcript());
                (
                    queue.parse().expect("a queue id"),
                    offset.parse().expect("an offset"),
                )
            })
            .collect();
        let Some(queues) = held.iter().map(|(q, _)| q + 1).max() else {
            return;
        };
        let started = Instant::now();
        loop {
            let progress = broker_probe::progress(env.broker, &self.group, &self.topic, queues);
            if held.iter().all(|(q, n)| progress[q].1.unwrap_or(0) >= *n) {
                return;
            }
            assert!(
                started.elapsed() < COMMIT_TIMEOUT,
                "the broker shows {progress:?} (queue: (max, committed)) for {}, not the offsets \
                 {held:?} it persisted, after {COMMIT_TIMEOUT:?}\n{}",
                self.group,
                self.run.transcript()
            );
            self.run.poll(Duration::from_millis(50));
        }
    }

    pub fn transcript(&self) -> String {
        self.run.transcript()
    }
}

/// Reads the consumers' output until `done` holds, for at most `timeout`. A consumer that exits
/// on its own, or the timeout, fails the test with every consumer's transcript.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    consumers: &mut [&mut Consumer],
    done: impl Fn(&[&mut Consumer]) -> bool,
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
            eprintln!("rust_client: {what} after {:.1?}", started.elapsed());
            return;
        }
        if started.elapsed() > timeout {
            let transcripts: Vec<String> = consumers.iter().map(|c| c.transcript()).collect();
            panic!("no {what} within {timeout:?}\n{}", transcripts.join("\n"));
        }
    }
}

/// Keeps reading for `period`, so deliveries that should not happen have the time to show up.
pub fn settle(period: Duration, consumers: &mut [&mut Consumer]) {
    let until = Instant::now() + period;
    while Instant::now() < until {
        for c in consumers.iter_mut() {
            c.run.poll(Duration::from_millis(25));
        }
    }
}
