//! Builds and runs client-compat (`e2e/go/client-compat`, the upstream Go client driven from the
//! command line), which prints `WORD key=value ...`, one event a line: its basic `produce` and
//! `consume` runs, parsed, and client-compat as the shared messaging-semantics scenarios drive it
//! ([`DRIVER`]).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use apogee_e2e::event_process::{EventProcess, Line};

use crate::scenario::{
    deliveries::{Placed, STORED},
    jobs::Driver,
};

/// Longest a producer run may take (route lookup, sends, shutdown: well under a second).
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a consumer may take to stop once asked (it commits offsets and unregisters; the
/// program gives its own shutdown 20 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// A consumer's own bound, should the harness never ask it to stop.
const CONSUMER_SELF_TIMEOUT_MS: &str = "180000";
/// How long one look at a consumer waits for it to print.
const POLL: Duration = Duration::from_millis(25);

/// Runs `e2e/go/client-compat/build.sh` once per test binary and returns the binary it prints.
/// A missing Go toolchain fails the calling test: compatibility that is not checked is not known.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build)
}

/// Builds (or finds) the binary before a scenario starts its clock.
pub fn prepare() {
    binary();
}

fn build() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("go/client-compat/build.sh");
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}). It needs `go` (1.22+) on PATH, and the Go module proxy while its cache \
         (${{APOGEE_CACHE:-$HOME/.cache/apogee}}/go) is cold:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        path.is_file(),
        "{} printed {path:?}, which is not a file",
        script.display()
    );
    eprintln!("go client-compat ready in {:.1?}", started.elapsed());
    path
}

/// Starts client-compat with `subcommand` and `args`. Its HOME is a scratch directory of its own:
/// a broadcasting consumer keeps its offsets there.
pub fn spawn(subcommand: &str, args: &[String]) -> EventProcess {
    let what = format!("client-compat {subcommand} {}", args.join(" "));
    let home = tempfile::tempdir().expect("scratch HOME");
    let mut command = Command::new(binary());
    command
        .arg(subcommand)
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .env("HOME", home.path());
    EventProcess::spawn(what, &mut command, Box::new(home))
}

/// client-compat's `send`, `listen` and `produce-tx`, where they differ from the other drivers.
pub static DRIVER: Driver = Driver {
    spawn,
    // Its runs stop when stdin closes, unasked.
    stop_flags: &[],
    queues_word: "OWNED",
    no_queues: "-",
    // listen.go prints the store timestamp, not the offset message id.
    recv_extras: &[STORED],
    produce: produce_placed,
};

fn produce_placed(namesrv: &str, topic: &str, prefix: &str, count: usize) -> Vec<Placed> {
    let sent = produce(namesrv, topic, "TagA", prefix, count, false);
    let placed = sent.into_iter().map(|s| Placed {
        body: format!("body-{}", s.key),
        key: s.key,
        queue: s.queue,
        queue_offset: s.queue_offset,
        offset_msg_id: s.offset_msg_id,
    });
    placed.collect()
}

/// What one producer run reported for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub key: String,
    /// The client's message id (`-` for messages of a batch: the Go client gives none).
    pub msg_id: String,
    pub offset_msg_id: String,
    pub queue: String,
    pub queue_offset: i64,
}

/// `produce`: sends `count` messages keyed `<prefix>-<i>`, one SendSync each or (`batch`) one
/// for all; returns what it reported, in send order.
pub fn produce(namesrv: &str, topic: &str, tag: &str, prefix: &str, count: usize, batch: bool) -> Vec<Sent> {
    let mut args: Vec<String> = [
        ("-namesrv", namesrv),
        ("-topic", topic),
        ("-count", &count.to_string()),
        ("-tag", tag),
        ("-key-prefix", prefix),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_owned(), v.to_owned()])
    .collect();
    if batch {
        args.push("-batch".to_owned());
    }
    let mut run = spawn("produce", &args);
    let status = run.finish(PRODUCE_TIMEOUT);
    assert!(
        status.success(),
        "produce exited with {status}\n{}",
        run.transcript()
    );
    let sent: Vec<Sent> = run
        .lines()
        .iter()
        .filter(|l| l.word == "SENT")
        .map(|e| {
            assert_eq!(e.get("status"), "SEND_OK", "{}", run.transcript());
            Sent {
                key: e.get("key").to_owned(),
                msg_id: e.get("msgId").to_owned(),
                offset_msg_id: e.get("offsetMsgId").to_owned(),
                queue: e.get("queue").to_owned(),
                queue_offset: e.int("queueOffset"),
            }
        })
        .collect();
    let expected: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    let keys: Vec<&String> = sent.iter().map(|s| &s.key).collect();
    assert_eq!(keys, expected.iter().collect::<Vec<_>>(), "{}", run.transcript());
    sent
}

/// One delivery a consumer reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub key: String,
    pub tag: String,
    pub queue: String,
    pub queue_offset: i64,
    pub msg_id: String,
    pub body: String,
}

/// A push consumer (`consume`) running until told to stop.
pub struct Consumer {
    run: EventProcess,
}

impl Consumer {
    /// Starts a clustering push consumer of `group` on `topic` with TAG expression `expr`, from
    /// the first offset; it runs until [`Consumer::stop`].
    pub fn start(namesrv: &str, group: &str, topic: &str, expr: &str) -> Self {
        let args = [
            ("-namesrv", namesrv),
            ("-group", group),
            ("-topic", topic),
            ("-expr", expr),
            ("-from", "first"),
            ("-timeout-ms", CONSUMER_SELF_TIMEOUT_MS),
        ];
        let args: Vec<String> = args
            .into_iter()
            .flat_map(|(k, v)| [k.to_owned(), v.to_owned()])
            .collect();
        Self {
            run: spawn("consume", &args),
        }
    }

    fn lines<'a>(&'a self, word: &'a str) -> impl DoubleEndedIterator<Item = &'a Line> + 'a {
        self.run.lines().iter().filter(move |l| l.word == word)
    }

    pub fn received(&self) -> Vec<Received> {
        self.lines("RECV")
            .map(|e| Received {
                key: e.get("key").to_owned(),
                tag: e.get("tag").to_owned(),
                queue: e.get("queue").to_owned(),
                queue_offset: e.int("queueOffset"),
                msg_id: e.get("msgId").to_owned(),
                body: e.get("body").to_owned(),
            })
            .collect()
    }

    /// The queues of `topic` the consumer's last allocation gave it, and the group size it saw.
    pub fn assignment(&self, topic: &str) -> Option<(i64, Vec<String>)> {
        let last = self.lines("ASSIGNED").rfind(|e| e.get("topic") == topic)?;
        let queues = match last.get("queues") {
            "-" => Vec::new(),
            list => list.split(',').map(str::to_owned).collect(),
        };
        Some((last.int("cids"), queues))
    }

    /// Has the consumer send the offsets it has consumed to the broker now (a "persist" line),
    /// and waits until it says it did.
    pub fn persist(&mut self) {
        self.run.send_line("persist");
        wait_until("the offsets sent", STOP_TIMEOUT, &mut [&mut *self], |c| {
            c[0].lines("PERSISTED").next().is_some()
        });
        let done = self.lines("PERSISTED").next().expect("PERSISTED");
        assert_eq!(done.get("ok"), "true", "{}", self.run.transcript());
    }

    /// Closes stdin, waits for a clean shutdown and its SUMMARY; returns every delivery.
    pub fn stop(mut self) -> Vec<Received> {
        let status = self.run.finish(STOP_TIMEOUT);
        assert!(
            status.success(),
            "consume exited with {status}\n{}",
            self.run.transcript()
        );
        let summary: Vec<&Line> = self.lines("SUMMARY").collect();
        assert!(
            summary.len() == 1 && summary[0].get("reason") == "stdin",
            "expected one SUMMARY with reason=stdin\n{}",
            self.run.transcript()
        );
        let received = self.received();
        assert_eq!(
            summary[0].int("received"),
            received.len() as i64,
            "{}",
            self.run.transcript()
        );
        received
    }
}

/// Reads the consumers' output until `done` holds; fails with every consumer's output after
/// `timeout`, or as soon as one exits.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    consumers: &mut [&mut Consumer],
    done: impl Fn(&[&mut Consumer]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !done(consumers) {
        let mut ended = false;
        for c in consumers.iter_mut() {
            ended |= !c.run.poll(POLL);
        }
        if ended || Instant::now() > deadline {
            let outputs: Vec<String> = consumers.iter().map(|c| c.run.transcript()).collect();
            let why = if ended { "a consumer exited" } else { "timed out" };
            panic!("no {what} within {timeout:?} ({why})\n{}", outputs.join("\n"));
        }
    }
}
