//! The upstream Go client (client-compat, `e2e/go/client-compat`, built by its `build.sh` into
//! `${APOGEE_CACHE:-$HOME/.cache/apogee}`) as this suite uses it: a producer run and a push
//! consumer that runs until told to stop. Every run is an [`EventProcess`], killed on drop.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use apogee_e2e::event_process::EventProcess;

/// Longest a producer run may take (route lookup, sends, shutdown: about a second).
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a consumer may take to stop once asked (it commits offsets and unregisters).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// A consumer's own bound, should the harness never ask it to stop.
const CONSUMER_SELF_TIMEOUT_MS: &str = "180000";

/// The client-compat binary, built on first use. A missing Go toolchain fails the test.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("go/client-compat/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed ({}). It needs `go` (1.22+) on PATH, and the Go module proxy while \
             ${{APOGEE_CACHE:-$HOME/.cache/apogee}}/go is cold:\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

fn spawn(subcommand: &str, args: &[&str]) -> EventProcess {
    let what = format!("go client-compat {subcommand} {}", args.join(" "));
    let mut command = Command::new(binary());
    command.arg(subcommand).args(args).env_remove("NAMESRV_ADDR");
    EventProcess::spawn(what, &mut command, Box::new(()))
}

/// Sends `count` messages keyed `<prefix>-<i>`, one SendSync each; returns their keys once the
/// run reported every one SEND_OK.
pub fn produce(namesrv: &str, topic: &str, prefix: &str, count: usize) -> BTreeSet<String> {
    let count_arg = count.to_string();
    let args = [
        "-namesrv",
        namesrv,
        "-topic",
        topic,
        "-count",
        &count_arg,
        "-key-prefix",
        prefix,
    ];
    let mut run = spawn("produce", &args);
    let status = run.finish(PRODUCE_TIMEOUT);
    assert!(status.success(), "producer failed\n{}", run.transcript());
    let sent: Vec<&str> = run
        .lines()
        .iter()
        .filter(|l| l.word == "SENT")
        .inspect(|l| assert_eq!(l.get("status"), "SEND_OK", "{}", run.transcript()))
        .map(|l| l.get("key"))
        .collect();
    let expected: BTreeSet<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    assert!(
        sent.len() == count && sent.iter().copied().eq(expected.iter().map(String::as_str)),
        "the producer reported {sent:?}, not {prefix}-0..{count}\n{}",
        run.transcript()
    );
    expected
}

/// A clustering push consumer, from the first offset when the group has none committed.
pub struct Consumer {
    run: EventProcess,
}

impl Consumer {
    pub fn start(namesrv: &str, group: &str, topic: &str) -> Self {
        let args = [
            "-namesrv",
            namesrv,
            "-group",
            group,
            "-topic",
            topic,
            "-from",
            "first",
            "-timeout-ms",
            CONSUMER_SELF_TIMEOUT_MS,
        ];
        Self {
            run: spawn("consume", &args),
        }
    }

    /// The keys of every delivery so far, in delivery order (duplicates included).
    pub fn received(&self) -> Vec<String> {
        let recv = self.run.lines().iter().filter(|l| l.word == "RECV");
        recv.map(|l| l.get("key").to_owned()).collect()
    }

    /// Reads deliveries until every key of `keys` arrived; fails after `timeout` or when the
    /// consumer exits first.
    pub fn wait_for(&mut self, keys: &BTreeSet<String>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got: BTreeSet<String> = self.received().into_iter().collect();
            if keys.is_subset(&got) {
                return;
            }
            let running = self.run.poll(Duration::from_millis(50));
            assert!(
                running && Instant::now() < deadline,
                "consumer {} before all of {keys:?} arrived\n{}",
                if running { "timed out" } else { "exited" },
                self.run.transcript()
            );
        }
    }

    /// Closes stdin, waits for the clean shutdown (offsets committed, unregistered) and its
    /// SUMMARY; returns every delivered key.
    pub fn stop(mut self) -> Vec<String> {
        let status = self.run.finish(STOP_TIMEOUT);
        let summary = self.run.lines().iter().find(|l| l.word == "SUMMARY");
        assert!(
            status.success() && summary.is_some_and(|s| s.get("reason") == "stdin"),
            "consumer did not stop cleanly\n{}",
            self.run.transcript()
        );
        self.received()
    }
}
