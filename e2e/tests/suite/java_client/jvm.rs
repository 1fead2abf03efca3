//! One run of ClientCompat (`e2e/java/client-compat`, the upstream Java client driven from the
//! command line): its JVM, killed if the run is dropped, and the lines it prints, `WORD key=value
//! ...`, one event each, read as they come.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, OnceLock, mpsc},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

const MAIN_CLASS: &str = "dev.apogee.clientcompat.Main";
/// Most of a run's stderr a failure message shows (its tail).
const STDERR_SHOWN: usize = 12_000;

/// ClientCompat's classpath, built on first use. A missing JDK or Maven fails the test rather
/// than skipping it: compatibility that is not checked is not known.
fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| apogee_e2e::java_tools::build_classpath("client-compat"))
}

/// One line the program printed.
#[derive(Debug, Clone)]
pub struct Line {
    pub word: String,
    fields: BTreeMap<String, String>,
    text: String,
}

impl Line {
    fn parse(text: &str) -> Self {
        let mut tokens = text.split(' ');
        let word = tokens.next().unwrap_or_default().to_owned();
        let fields = tokens
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            word,
            fields,
            text: text.to_owned(),
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("line {:?} has no {key}=", self.text))
    }

    pub fn int(&self, key: &str) -> i64 {
        let value = self.get(key);
        value
            .parse()
            .unwrap_or_else(|_| panic!("{key}={value} in {:?} is not a number", self.text))
    }
}

/// A running ClientCompat JVM. Dropping it kills the JVM, so a failed test leaves no process.
pub struct JavaRun {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines_rx: mpsc::Receiver<String>,
    lines: Vec<Line>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
    _home: tempfile::TempDir,
}

impl std::fmt::Debug for JavaRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JavaRun").field("what", &self.what).finish()
    }
}

impl JavaRun {
    pub fn spawn(subcommand: &str, args: &[String]) -> Self {
        let what = format!("{subcommand} {}", args.join(" "));
        // user.home points at a scratch directory: nothing the client keeps lands in the real one.
        let home = tempfile::tempdir().expect("scratch user.home");
        let mut child = Command::new("java")
            // A small heap and the quick JIT tier: runs are short and the machine is shared.
            .args([
                "-Xms64m",
                "-Xmx192m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
            ])
            .arg(format!("-Duser.home={}", home.path().display()))
            .arg("-cp")
            .arg(classpath())
            .arg(MAIN_CLASS)
            .arg(subcommand)
            .args(args)
            // The caller's RocketMQ settings must not leak in.
            .env_remove("ROCKETMQ_HOME")
            .env_remove("NAMESRV_ADDR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start java (a JDK 17 must be on PATH): {e}"));
        let (tx, lines_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout_reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut from = child.stderr.take().expect("piped stderr");
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            what,
            stdin: child.stdin.take(),
            child,
            lines_rx,
            lines: Vec::new(),
            stderr,
            readers: vec![stdout_reader, stderr_reader],
            exit: None,
            _home: home,
        }
    }

    /// Takes in what the program printed within `wait`. Returns false once it has exited and
    /// everything it printed has been read.
    pub fn poll(&mut self, wait: Duration) -> bool {
        let mut next = self.lines_rx.recv_timeout(wait);
        loop {
            match next {
                Ok(text) => self.lines.push(Line::parse(&text)),
                Err(mpsc::RecvTimeoutError::Timeout) => return true,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if self.exit.is_none() {
                        self.exit = Some(self.child.wait().expect("wait for java"));
                    }
                    return false;
                }
            }
            next = self.lines_rx.recv_timeout(Duration::ZERO);
        }
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Closes stdin (a consumer run with `--stop-on-stdin` then shuts down cleanly) and waits up
    /// to `timeout` for the program to exit and its output to be read.
    pub fn finish(&mut self, timeout: Duration) -> ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        while self.poll(Duration::from_millis(50)) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {timeout:?}\n{}",
                    self.what,
                    self.transcript()
                );
            }
        }
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader");
        }
        self.exit.expect("exit status recorded")
    }

    /// Everything the run printed so far, for failure messages.
    pub fn transcript(&self) -> String {
        let stderr = self.stderr.lock().unwrap();
        let tail = &stderr[stderr.len().saturating_sub(STDERR_SHOWN)..];
        let stdout: Vec<&str> = self.lines.iter().map(|l| l.text.as_str()).collect();
        format!(
            "--- {} ({:?}) stdout ---\n{}\n--- stderr (tail) ---\n{tail}",
            self.what,
            self.exit,
            stdout.join("\n")
        )
    }
}

impl Drop for JavaRun {
    fn drop(&mut self) {
        if self.exit.is_none() && self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
