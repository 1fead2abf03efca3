//! A child process of the compatibility suites (a client driver: the Java, Rust or Go client
//! behind a small command-line program) and the event lines it prints on stdout, `WORD
//! key=value ...`, read as they come. Dropping it kills the child, so a failed test leaves no
//! process behind; stderr is kept for failure messages.

use std::{
    any::Any,
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, PoisonError, mpsc},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// Most of a run's stderr a failure message shows (its tail).
const STDERR_SHOWN: usize = 12_000;

/// One line the program printed: a word, `key=value` fields, and optionally a last field
/// `error=` whose value runs to the end of the line (error texts contain spaces).
#[derive(Debug, Clone)]
pub struct Line {
    /// The first token (`SENT`, `RECV`, ...).
    pub word: String,
    fields: BTreeMap<String, String>,
    text: String,
}

impl Line {
    /// Parses one line.
    pub fn parse(text: &str) -> Self {
        let (head, error) = match text.split_once(" error=") {
            Some((head, error)) => (head, Some(error)),
            None => (text, None),
        };
        let mut tokens = head.split(' ');
        let word = tokens.next().unwrap_or_default().to_owned();
        let mut fields: BTreeMap<String, String> = tokens
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if let Some(error) = error {
            fields.insert("error".to_owned(), error.to_owned());
        }
        Self {
            word,
            fields,
            text: text.to_owned(),
        }
    }

    /// A field; panics naming the line when it is missing.
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("line {:?} has no {key}=", self.text))
    }

    /// A field, if present.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// A numeric field; panics naming the line when it is missing or not a number.
    pub fn int(&self, key: &str) -> i64 {
        let value = self.get(key);
        value
            .parse()
            .unwrap_or_else(|_| panic!("{key}={value} in {:?} is not a number", self.text))
    }

    /// The line as printed.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A running child.
pub struct EventProcess {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines_rx: mpsc::Receiver<String>,
    lines: Vec<Line>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
    _keep: Box<dyn Any + Send>,
}

impl std::fmt::Debug for EventProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProcess").field("what", &self.what).finish()
    }
}

impl EventProcess {
    /// Spawns `command` with piped stdio. `what` names it in failures; `keep` lives as long as
    /// the run (a scratch home directory, for example).
    pub fn spawn(what: String, command: &mut Command, keep: Box<dyn Any + Send>) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
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
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
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
            _keep: keep,
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
                        self.exit = Some(self.child.wait().expect("wait for the child"));
                    }
                    return false;
                }
            }
            next = self.lines_rx.recv_timeout(Duration::ZERO);
        }
    }

    /// Every line read so far.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Writes one line to the program's stdin (a command, for drivers that read them).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("cannot write to {}: {e}", self.what));
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
        let stderr = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let mut start = stderr.len().saturating_sub(STDERR_SHOWN);
        while !stderr.is_char_boundary(start) {
            start += 1;
        }
        let stdout: Vec<&str> = self.lines.iter().map(|l| l.text.as_str()).collect();
        format!(
            "--- {} ({:?}) stdout ---\n{}\n--- stderr (tail) ---\n{}",
            self.what,
            self.exit,
            stdout.join("\n"),
            &stderr[start..]
        )
    }
}

impl Drop for EventProcess {
    fn drop(&mut self) {
        if self.exit.is_none() && self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines() {
        let line = Line::parse("SENT key=k1 queue=b:3 offset=7 error=send failed: code 2");
        assert_eq!(line.word, "SENT");
        assert_eq!((line.get("key"), line.int("offset")), ("k1", 7));
        assert_eq!(line.get("error"), "send failed: code 2");
        assert_eq!(line.field("none"), None);
    }
}
