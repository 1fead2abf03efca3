//! A real Prometheus server (the `prometheus` binary of Debian's package) as a child process:
//! its own configuration, TSDB directory and loopback port, killed on drop; and the answers of
//! its HTTP API (`/api/v1/query`), parsed.

use std::{
    fs::File,
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::http;

/// The scrape job's name, what `up{job=...}` selects.
pub const JOB: &str = "apogee";
/// Longest wait for the server to open its TSDB and answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the first successful scrape (one interval is 1 s).
const UP_TIMEOUT: Duration = Duration::from_secs(30);

/// One series of an instant vector: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: serde_json::Map<String, Value>,
    pub value: f64,
}

/// A running Prometheus scraping one target every second.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`, path `/metrics`) every second, and
    /// waits until it is ready. Fails, naming the Debian package, when the binary is missing.
    pub fn start(target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("Prometheus directory");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let addr = free_loopback_port();
        let log = dir.path().join("prometheus.log");
        let out = File::create(&log).expect("Prometheus log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file handle"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `prometheus` ({e}). This suite needs the Prometheus server on \
                     PATH: Debian's `prometheus` package (apt-get install prometheus; .ci/run \
                     installs it when missing)"
                )
            });
        let mut server = Self {
            child,
            addr,
            log,
            _dir: dir,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("prometheus exited ({status}) before it was ready\n{}", self.log());
            }
            if matches!(http::get(self.addr, "/-/ready"), Ok((200, _))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready on {} within {READY_TIMEOUT:?}\n{}",
                self.addr,
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `up{job="apogee"} == 1`: Prometheus scraped the target and parsed the page.
    pub fn wait_up(&self) {
        let query = format!("up{{job=\"{JOB}\"}} == 1");
        let deadline = Instant::now() + UP_TIMEOUT;
        while self.query(&query).is_empty() {
            if Instant::now() > deadline {
                let targets = http::get(self.addr, "/api/v1/targets");
                panic!(
                    "no successful scrape within {UP_TIMEOUT:?}; /api/v1/targets says {targets:?}\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Evaluates `promql` now; the instant vector it returns.
    pub fn query(&self, promql: &str) -> Vec<Sample> {
        let path = format!("/api/v1/query?query={}", http::encode(promql));
        let (status, body) =
            http::get(self.addr, &path).unwrap_or_else(|e| panic!("query {promql:?}: {e}\n{}", self.log()));
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("query {promql:?}: HTTP {status}, not JSON ({e}): {body}"));
        assert!(
            status == 200 && answer["status"] == "success",
            "query {promql:?}: HTTP {status}: {body}"
        );
        assert_eq!(answer["data"]["resultType"], "vector", "query {promql:?}: {body}");
        let series = answer["data"]["result"].as_array().expect("result array");
        series
            .iter()
            .map(|s| {
                // An instant sample is [unix time, "value"]; the value is a string ("NaN", "+Inf" too).
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("query {promql:?}: sample without a value: {s}"));
                let labels = s["metric"].as_object().cloned().unwrap_or_default();
                Sample { labels, value }
            })
            .collect()
    }

    /// The server's own log, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("--- prometheus log ---\n{text}")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now (the kernel's pick, released for Prometheus).
fn free_loopback_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address")
}
