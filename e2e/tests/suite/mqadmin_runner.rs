//! Runs Apache's `mqadmin` (rocketmq-tools' `MQAdminStartup`, unmodified) for the suites that
//! check its output: one JVM per command, output captured, bounded in time.
//!
//! mqadmin exits 0 even when a command fails (it prints the stack trace on stderr and returns),
//! so [`Run::ok`] also requires a stderr without an exception.

use std::{
    io::Read,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::OnceLock,
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// Longest one mqadmin run may take. A run takes about 4 s: JVM start, one or two requests, and
/// the client's shutdown, which waits up to 3 s for one of its service threads.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// mqadmin runs at once within one `run_all`.
const PARALLEL_RUNS: usize = 3;
/// mqadmin's entry point (what the distribution's `bin/mqadmin` runs).
const MAIN_CLASS: &str = "org.apache.rocketmq.tools.command.MQAdminStartup";

/// mqadmin's classpath, resolved on first use. A missing JDK or Maven fails the test rather than
/// skipping it: compatibility that is not checked is not known.
fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| apogee_e2e::java_tools::build_classpath("mqadmin"))
}

/// How to run mqadmin against one NameServer.
#[derive(Debug, Clone)]
pub struct Mqadmin {
    /// `ip:port` of the NameServer.
    pub namesrv: String,
    /// `user.home` of the JVM, inside the test's directory.
    pub home: PathBuf,
}

/// One finished mqadmin run.
#[derive(Debug)]
pub struct Run {
    /// The arguments, joined.
    pub command: String,
    /// Exit status.
    pub status: ExitStatus,
    /// What it printed.
    pub stdout: String,
    /// What it printed on stderr (logging and stack traces).
    pub stderr: String,
}

impl Run {
    /// The output of a command that must have succeeded: nothing thrown. (A zero exit status
    /// alone proves nothing: mqadmin catches what a command throws, prints it and returns.)
    pub fn ok(self) -> String {
        assert!(
            self.status.success() && !self.threw(),
            "mqadmin {} failed:\n{self}",
            self.command
        );
        self.stdout
    }

    /// Whether stderr reports an exception. One is not the command's: when mqadmin shuts its
    /// client down, a connection's last event can reach Netty's already terminated executor,
    /// which logs `RejectedExecutionException: event executor terminated` after the command
    /// finished (seen on a loaded machine, the command's output complete).
    fn threw(&self) -> bool {
        self.stderr.lines().any(|line| {
            line.contains("Exception")
                && !line.contains("RejectedExecutionException: event executor terminated")
        })
    }

    /// The `(code, remark)` of the `MQClientException` a failed command reports, as
    /// `CODE: <code>  DESC: <remark>` in its stack trace.
    pub fn client_error(&self) -> (i32, String) {
        let line = self
            .stderr
            .lines()
            .find_map(|l| l.split_once("MQClientException: CODE: ").map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("mqadmin {} reported no MQClientException:\n{self}", self.command));
        let (code, desc) = line
            .split_once("  DESC: ")
            .unwrap_or_else(|| panic!("unexpected MQClientException line {line:?}"));
        (code.trim().parse().unwrap(), desc.to_owned())
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

fn drain(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        from.read_to_string(&mut text).expect("read mqadmin output");
        text
    })
}

fn wait(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("poll mqadmin") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mqadmin {what} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Mqadmin {
    /// Runs `mqadmin <args> -n <namesrv>`.
    pub fn run(&self, args: &[&str]) -> Run {
        let command = args.join(" ");
        let started = Instant::now();
        let mut child = Command::new("java")
            // A small heap and the quick JIT tier: the runs are short and CI machines are shared.
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Duser.home={}", self.home.display()))
            .arg("-cp")
            .arg(classpath())
            .arg(MAIN_CLASS)
            .args(args)
            .args(["-n", &self.namesrv])
            // The caller's RocketMQ settings must not leak in.
            .env_remove("ROCKETMQ_HOME")
            .env_remove("NAMESRV_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start java (Java 17 must be on PATH): {e}"));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let status = wait(&mut child, &command);
        let run = Run {
            command,
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        };
        eprintln!("mqadmin {}: {:.1?}\n{run}", run.command, started.elapsed());
        run
    }

    /// Runs independent commands, [`PARALLEL_RUNS`] at a time: each run mostly waits, but a
    /// JVM starved of CPU misses the client's own 3 s heartbeat timeout and reports it.
    pub fn run_all<const N: usize>(&self, commands: [&[&str]; N]) -> [Run; N] {
        let slots = std::sync::Mutex::new(PARALLEL_RUNS);
        let freed = std::sync::Condvar::new();
        std::thread::scope(|s| {
            let handles = commands.map(|args| {
                let (slots, freed) = (&slots, &freed);
                s.spawn(move || {
                    {
                        let mut free = slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        while *free == 0 {
                            free = freed
                                .wait(free)
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                        }
                        *free -= 1;
                    }
                    let run = self.run(args);
                    *slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
                    freed.notify_one();
                    run
                })
            });
            handles.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        })
    }
}

/// The rows of a table mqadmin printed, split on whitespace, header (`#...`) dropped.
pub fn table_rows(stdout: &str) -> Vec<Vec<&str>> {
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with('#'), "no table header in:\n{stdout}");
    lines.map(|l| l.split_whitespace().collect()).collect()
}

/// The one line a command prints on success, or what follows it.
pub fn single_line(stdout: &str) -> &str {
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line:\n{stdout}");
    lines[0].trim_end()
}
