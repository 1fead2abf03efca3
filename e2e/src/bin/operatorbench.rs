//! `operatorbench`: how fast the `apogee-operator run` binary brings clusters up on the real
//! control plane, and what it costs in memory and CPU (numbers go to docs/benchmarks.md).
//!
//! It starts a private control plane, installs the CRD, runs the operator binary as a child
//! process watching `--namespaces` namespaces, then measures, polling with kubectl:
//!
//! 1. `--single` clusters one after the other: apply → every object the cluster owns exists,
//!    → status written (observedGeneration), → Ready (kwok marks the pods ready);
//! 2. `--clusters` clusters, spread over the namespaces, applied in one `kubectl apply`: time
//!    until all have their status written and until all are Ready;
//! 3. idle: CPU over `--idle-s` seconds with everything Ready;
//! 4. churn: every cluster's NameServer replicas changed at once, until all are Ready again.
//!
//! The operator's RSS (`VmRSS`) and CPU (`utime + stime`) come from `/proc/<pid>`, sampled
//! every 200 ms in the background; peak RSS is over the whole run. Every wait is bounded by
//! `--timeout-s`.

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use apogee_e2e::control_plane::ControlPlane;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "operatorbench", about = "Operator reconcile latency, RSS and CPU")]
struct Cli {
    /// The operator binary (a release build: `cargo build --release -p apogee-operator`).
    #[arg(long)]
    operator: PathBuf,
    /// Clusters created one at a time, each timed.
    #[arg(long, default_value_t = 5)]
    single: u32,
    /// Clusters created at once.
    #[arg(long, default_value_t = 100)]
    clusters: u32,
    /// Namespaces the clusters are spread over (all watched by the one operator).
    #[arg(long, default_value_t = 10)]
    namespaces: u32,
    /// Broker groups per cluster.
    #[arg(long, default_value_t = 1)]
    groups: u32,
    /// Seconds of idle CPU measurement.
    #[arg(long, default_value_t = 30)]
    idle_s: u64,
    /// Bound on every wait.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

const POLL: Duration = Duration::from_millis(50);
const SAMPLE: Duration = Duration::from_millis(200);

fn main() -> Result<()> {
    let cli = Cli::parse();
    let timeout = Duration::from_secs(cli.timeout_s);
    let plane = ControlPlane::start()?;
    let crd =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds/rocketmq.apogee.dev_rocketmqclusters.yaml");
    plane.kubectl_ok(&["apply", "--server-side", "-f", &crd.to_string_lossy()])?;
    plane.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/rocketmqclusters.rocketmq.apogee.dev",
        "--timeout=120s",
    ])?;
    let namespaces = (0..cli.namespaces.max(1))
        .map(|_| plane.create_namespace("bench"))
        .collect::<Result<Vec<_>>>()?;
    let ns = namespaces[0].clone();
    let log = fs::File::create(plane.dir().join("operator.log"))?;
    let child = Command::new(&cli.operator)
        .args(["run", "--leader-elect=false", "--http-addr=127.0.0.1:0"])
        .arg(format!("--watch-namespaces={}", namespaces.join(",")))
        .env("KUBECONFIG", plane.kubeconfig_path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot run {}", cli.operator.display()))?;
    let operator = OperatorProcess::new(child);
    let sampler = Sampler::start(operator.pid);
    thread::sleep(Duration::from_secs(3));
    println!("operator started: rss {:.1} MiB", mib(rss_kib(operator.pid)?));

    let objects = 6 + 3 * cli.groups as usize;
    for i in 0..cli.single {
        let name = format!("one-{i}");
        let started = Instant::now();
        plane.apply(&manifest(&ns, &name, cli.groups, 1))?;
        let created = wait(timeout, &format!("{name}'s objects"), || {
            Ok(owned_objects(&plane, &ns, &name)? >= objects)
        })?;
        let written = wait(timeout, &format!("{name}'s status"), || {
            Ok(clusters(&plane)?.iter().any(|c| c.name == name && c.current))
        })?;
        let ready = wait(timeout, &format!("{name} Ready"), || {
            Ok(clusters(&plane)?
                .iter()
                .any(|c| c.name == name && c.current && c.ready))
        })?;
        println!(
            "single {name}: objects {:.2} s, status {:.2} s, ready {:.2} s",
            secs(created - started),
            secs(written - started),
            secs(ready - started)
        );
    }

    let spread = |i: u32| &namespaces[(i % cli.namespaces.max(1)) as usize];
    let many: String = (0..cli.clusters)
        .map(|i| manifest(spread(i), &format!("c-{i}"), cli.groups, 1))
        .collect::<Vec<_>>()
        .join("---\n");
    let cpu_before = cpu_s(operator.pid)?;
    let started = Instant::now();
    plane.apply(&many)?;
    let expected = (cli.clusters + cli.single) as usize;
    let written = wait(timeout, "every cluster's status", || {
        Ok(clusters(&plane)?.iter().filter(|c| c.current).count() >= expected)
    })?;
    let ready = wait(timeout, "every cluster Ready", || {
        Ok(clusters(&plane)?.iter().filter(|c| c.current && c.ready).count() >= expected)
    })?;
    println!(
        "{} clusters at once: all status {:.2} s, all ready {:.2} s, operator cpu {:.2} s, rss {:.1} MiB",
        cli.clusters,
        secs(written - started),
        secs(ready - started),
        cpu_s(operator.pid)? - cpu_before,
        mib(rss_kib(operator.pid)?)
    );

    let cpu_before = cpu_s(operator.pid)?;
    thread::sleep(Duration::from_secs(cli.idle_s));
    let idle = (cpu_s(operator.pid)? - cpu_before) / cli.idle_s as f64;
    println!(
        "idle with {expected} clusters: cpu {:.2} % of a core over {} s, rss {:.1} MiB",
        idle * 100.0,
        cli.idle_s,
        mib(rss_kib(operator.pid)?)
    );

    let churn: String = (0..cli.clusters)
        .map(|i| manifest(spread(i), &format!("c-{i}"), cli.groups, 2))
        .collect::<Vec<_>>()
        .join("---\n");
    let cpu_before = cpu_s(operator.pid)?;
    let started = Instant::now();
    plane.apply(&churn)?;
    let ready = wait(timeout, "every cluster Ready after the churn", || {
        let all = clusters(&plane)?;
        let churned = all.iter().filter(|c| c.generation >= 2 && c.current && c.ready);
        Ok(churned.count() >= cli.clusters as usize)
    })?;
    let elapsed = ready - started;
    let cpu = cpu_s(operator.pid)? - cpu_before;
    println!(
        "churn ({} NameServer scale-ups at once): all ready {:.2} s, operator cpu {:.2} s ({:.0} % of a core), rss {:.1} MiB",
        cli.clusters,
        secs(elapsed),
        cpu,
        cpu / secs(elapsed) * 100.0,
        mib(rss_kib(operator.pid)?)
    );
    println!("peak rss over the run: {:.1} MiB", mib(sampler.stop()));
    drop(operator);
    Ok(())
}

fn manifest(ns: &str, name: &str, groups: u32, name_servers: u32) -> String {
    format!(
        "apiVersion: rocketmq.apogee.dev/v1alpha1
kind: RocketMQCluster
metadata:
  name: {name}
  namespace: {ns}
spec:
  image: registry.invalid/apogee:bench
  nameServer:
    replicas: {name_servers}
  broker:
    mode: MultiMaster
    groups: {groups}
    storage:
      size: 1Gi
"
    )
}

/// Objects labelled as the cluster's: Deployment, StatefulSets, Services, ConfigMaps, PDBs.
fn owned_objects(plane: &ControlPlane, ns: &str, name: &str) -> Result<usize> {
    let selector = format!("app.kubernetes.io/instance={name}");
    let out = plane.kubectl_ok(&[
        "get",
        "deployments,statefulsets,services,configmaps,poddisruptionbudgets",
        "-n",
        ns,
        "-l",
        &selector,
        "-o",
        "name",
    ])?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
}

struct ClusterState {
    name: String,
    generation: i64,
    /// Status describes the current generation.
    current: bool,
    ready: bool,
}

/// Every cluster of every namespace (the private control plane holds only the bench's).
fn clusters(plane: &ControlPlane) -> Result<Vec<ClusterState>> {
    // name generation observedGeneration phase, one line each.
    let template = "{range .items[*]}{.metadata.name} {.metadata.generation} \
                    {.status.observedGeneration} {.status.phase}{\"\\n\"}{end}";
    let out = plane.kubectl_ok(&[
        "get",
        "rocketmqclusters",
        "--all-namespaces",
        "-o",
        &format!("jsonpath={template}"),
    ])?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?.to_owned();
            let generation: i64 = fields.next()?.parse().ok()?;
            let observed: Option<i64> = fields.next().and_then(|f| f.parse().ok());
            let phase = fields.next().unwrap_or_default();
            Some(ClusterState {
                name,
                generation,
                current: observed == Some(generation),
                ready: phase == "Ready",
            })
        })
        .collect())
}

/// Polls `done` until true; the instant it first was.
fn wait(timeout: Duration, what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        if done()? {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(POLL);
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS (did the operator exit?)")
}

/// User + system CPU seconds of `pid` so far.
fn cpu_s(pid: u32) -> Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks() as f64)
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// The operator child, killed when dropped.
struct OperatorProcess {
    pid: u32,
    child: Child,
}

impl OperatorProcess {
    fn new(child: Child) -> Self {
        Self {
            pid: child.id(),
            child,
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Peak RSS, sampled in the background.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<u64>>,
    thread: thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Mutex::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let (Ok(rss), Ok(mut peak)) = (rss_kib(pid), peak.lock()) {
                        *peak = (*peak).max(rss);
                    }
                    thread::sleep(SAMPLE);
                }
            })
        };
        Self { stop, peak, thread }
    }

    /// Stops it; the peak RSS in KiB.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.lock().map_or(0, |p| *p)
    }
}
