//! Builds and runs client-compat (`e2e/go/client-compat`, the upstream Go client driven from the
//! command line) and reads what it prints: `WORD key=value ...`, one event a line.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, OnceLock},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// Longest a producer run may take (route lookup, sends, shutdown: well under a second).
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a consumer may take to stop once asked (it commits offsets and unregisters; the
/// program gives its own shutdown 20 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// A consumer's own bound, should the harness never ask it to stop.
const CONSUMER_SELF_TIMEOUT_MS: &str = "180000";
/// How much of a run's stderr a failure shows (its tail).
const STDERR_SHOWN: usize = 8_000;

/// Runs `e2e/go/client-compat/build.sh` once per test binary and returns the binary it prints.
/// A missing Go toolchain fails the calling test: compatibility that is not checked is not known.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build)
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

/// One event line.
#[derive(Debug, Clone)]
pub struct Event {
    pub word: String,
    fields: BTreeMap<String, String>,
    text: String,
}

impl Event {
    fn parse(text: &str) -> Self {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        let fields = rest
            .split(' ')
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            word: word.to_owned(),
            fields,
            text: text.to_owned(),
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("{:?} has no {key}=", self.text))
    }

    pub fn int(&self, key: &str) -> i64 {
        let v = self.get(key);
        v.parse()
            .unwrap_or_else(|_| panic!("{key}={v} in {:?} is not an integer", self.text))
    }
}

/// A running client-compat process; dropping it kills the process, so a failed test leaves none.
/// Its HOME is a scratch directory of its own: a broadcasting consumer keeps its offsets there.
pub struct GoRun {
    what: String,
    _home: tempfile::TempDir,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

impl GoRun {
    pub fn spawn(subcommand: &str, args: &[&str]) -> Self {
        let what = format!("{subcommand} {}", args.join(" "));
        let home = tempfile::tempdir().expect("scratch HOME");
        let mut child = Command::new(binary())
            .arg(subcommand)
            .args(args)
            .env_remove("NAMESRV_ADDR")
            .env("HOME", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start client-compat {what}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (lines, from) = (Arc::clone(&stdout), child.stdout.take().expect("piped"));
        let out_reader = thread::spawn(move || {
            for line in BufReader::new(from).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let (sink, mut from) = (Arc::clone(&stderr), child.stderr.take().expect("piped"));
        let err_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            what,
            _home: home,
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            exit: None,
        }
    }

    /// The events printed so far with this word.
    pub fn events(&self, word: &str) -> Vec<Event> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .map(|l| Event::parse(l))
            .filter(|e| e.word == word)
            .collect()
    }

    /// Whether the process has closed its stdout (exited, normally).
    pub fn ended(&self) -> bool {
        self.readers.first().is_none_or(JoinHandle::is_finished)
    }

    /// Closes stdin: a consumer's cue to shut down.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Writes one command line to stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("cannot write to client-compat {}: {e}", self.what));
    }

    /// Waits for the process to exit and for its output to be read; kills it after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "client-compat {} still running after {timeout:?}; killed\n{}",
                    self.what,
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.exit = Some(status);
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    /// Waits for a successful exit.
    pub fn success(&mut self, timeout: Duration) {
        let status = self.wait(timeout);
        assert!(
            status.success(),
            "client-compat {} exited with {status}\n{}",
            self.what,
            self.output()
        );
    }

    /// Stdout and the tail of stderr, for failure messages.
    pub fn output(&self) -> String {
        let stderr = self.stderr.lock().unwrap();
        let tail = stderr
            .char_indices()
            .nth_back(STDERR_SHOWN)
            .map_or(stderr.as_str(), |(i, _)| &stderr[i..]);
        format!(
            "--- {} stdout ---\n{}\n--- stderr (tail) ---\n{tail}",
            self.what,
            self.stdout.lock().unwrap().join("\n")
        )
    }
}

impl Drop for GoRun {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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
    let count_arg = count.to_string();
    let mut args = vec![
        "-namesrv",
        namesrv,
        "-topic",
        topic,
        "-count",
        &count_arg,
        "-tag",
        tag,
        "-key-prefix",
        prefix,
    ];
    if batch {
        args.push("-batch");
    }
    let mut run = GoRun::spawn("produce", &args);
    run.success(PRODUCE_TIMEOUT);
    let sent: Vec<Sent> = run
        .events("SENT")
        .iter()
        .map(|e| {
            assert_eq!(e.get("status"), "SEND_OK", "{}", run.output());
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
    assert_eq!(keys, expected.iter().collect::<Vec<_>>(), "{}", run.output());
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
    pub run: GoRun,
}

impl Consumer {
    /// Starts a clustering push consumer of `group` on `topic` with TAG expression `expr`, from
    /// the first offset; it runs until [`Consumer::stop`].
    pub fn start(namesrv: &str, group: &str, topic: &str, expr: &str) -> Self {
        let args = [
            "-namesrv",
            namesrv,
            "-group",
            group,
            "-topic",
            topic,
            "-expr",
            expr,
            "-from",
            "first",
            "-timeout-ms",
            CONSUMER_SELF_TIMEOUT_MS,
        ];
        Self {
            run: GoRun::spawn("consume", &args),
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.run
            .events("RECV")
            .iter()
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
        let last = self
            .run
            .events("ASSIGNED")
            .into_iter()
            .rfind(|e| e.get("topic") == topic)?;
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
        wait_until("the offsets sent", STOP_TIMEOUT, &[&*self], || {
            !self.run.events("PERSISTED").is_empty()
        });
        let done = self.run.events("PERSISTED");
        assert_eq!(done[0].get("ok"), "true", "{}", self.run.output());
    }

    /// Closes stdin, waits for a clean shutdown and its SUMMARY; returns every delivery.
    pub fn stop(mut self) -> Vec<Received> {
        self.run.close_stdin();
        self.run.success(STOP_TIMEOUT);
        let summary = self.run.events("SUMMARY");
        assert!(
            summary.len() == 1 && summary[0].get("reason") == "stdin",
            "expected one SUMMARY with reason=stdin\n{}",
            self.run.output()
        );
        let received = self.received();
        assert_eq!(
            summary[0].int("received"),
            received.len() as i64,
            "{}",
            self.run.output()
        );
        received
    }
}

/// Polls `done` every 50 ms until it holds; fails with every consumer's output after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, consumers: &[&Consumer], done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        let ended = consumers.iter().any(|c| c.run.ended());
        if ended || Instant::now() > deadline {
            let outputs: Vec<String> = consumers.iter().map(|c| c.run.output()).collect();
            let why = if ended { "a consumer exited" } else { "timed out" };
            panic!("no {what} within {timeout:?} ({why})\n{}", outputs.join("\n"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
