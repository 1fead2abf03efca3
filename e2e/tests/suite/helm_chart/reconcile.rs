//! The chart's operator actually reconciling: after `helm install`, the real `apogee-operator`
//! binary runs as a child process with exactly the arguments and environment of the chart's
//! Deployment and with the token of the chart's ServiceAccount, so what it may do is what the
//! chart's RBAC grants. (The Deployment's own pod is a kwok pod and runs nothing.) It leads,
//! `/readyz` answers 200, every example becomes Ready, and deleting them garbage-collects
//! every child object.
//!
//! Fresh clusters need no broker admin call to become Ready (only restarts do), so no
//! loopback broker is started.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use apogee_e2e::control_plane::ControlPlane;
use serde_json::Value;
use tempfile::TempDir;

use super::{chart_dir, helm, repo_root, succeed};

/// Examples and the cluster each one defines.
const EXAMPLES: &[(&str, &str)] = &[
    ("dev-single-master.yaml", "dev"),
    ("multi-master.yaml", "mq"),
    ("master-slave-sync.yaml", "orders"),
    ("master-slave-async.yaml", "events"),
];
/// Bound of every wait here.
const WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(250);
/// Kinds the operator creates for a cluster (all owned by it).
const CHILD_KINDS: &str = "deployments,statefulsets,services,configmaps,poddisruptionbudgets";

/// The built `apogee-operator` beside this test binary's directory (`target/<profile>/`).
fn operator_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/suite-<hash> → target/<profile>/apogee-operator
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lies in target/<profile>/deps");
    let binary = profile.join("apogee-operator");
    assert!(
        binary.is_file(),
        "{} is missing: build it first with `cargo build -p apogee-operator` \
         (`cargo test --workspace --all-targets` builds it too)",
        binary.display()
    );
    binary
}

/// A free loopback port (bound, then released for the operator to bind).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address")
}

/// `GET path` over a fresh connection: the status code and body, or `None` if nothing listens.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: operator\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((code, body))
}

/// The operator binary as a child process; killed on drop. Its log goes to a file shown in
/// failure messages.
struct OperatorProcess {
    child: Child,
    log: PathBuf,
    http: SocketAddr,
}

impl OperatorProcess {
    /// Runs `binary` with the chart Deployment's container `args` and plain `env` values,
    /// `--http-addr` moved to loopback, the pod's downward-API variables given by hand.
    fn start(deployment: &Value, kubeconfig: &Path, namespace: &str, dir: &Path) -> Self {
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let http = free_port();
        let mut args: Vec<String> = container["args"]
            .as_array()
            .expect("the operator container's args")
            .iter()
            .filter_map(|a| a.as_str())
            .filter(|a| !a.starts_with("--http-addr"))
            .map(str::to_owned)
            .collect();
        args.push(format!("--http-addr={http}"));
        let log = dir.join("operator.log");
        let mut command = Command::new(operator_binary());
        command
            .args(&args)
            .env_clear()
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", format!("e2e-{namespace}"))
            .env("APOGEE_LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("operator log file"));
        for var in container["env"].as_array().into_iter().flatten() {
            if let (Some(name), Some(value)) = (var["name"].as_str(), var["value"].as_str()) {
                command.env(name, value);
            }
        }
        let child = command.spawn().expect("start apogee-operator");
        Self { child, log, http }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails with the log if the process has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("apogee-operator exited ({status}):\n{}", self.log());
        }
    }

    /// SIGTERM (what the kubelet sends), then waits for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        succeed(Command::new("kill").args(["-TERM", &pid]));
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the operator") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "apogee-operator did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        };
        assert!(
            status.success(),
            "apogee-operator exited {status}:\n{}",
            self.log()
        );
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` for at most [`WAIT`]; the operator must keep running meanwhile.
fn wait_for<T>(
    plane: &ControlPlane,
    operator: &mut OperatorProcess,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        operator.assert_running();
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}\noperator log:\n{}\n{}",
            operator.log(),
            plane.diagnostics()
        );
        std::thread::sleep(POLL);
    }
}

fn json(plane: &ControlPlane, args: &[&str]) -> Option<Value> {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let out = plane.kubectl(&args);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

fn kubectl(plane: &ControlPlane, args: &[&str]) -> String {
    plane
        .kubectl_ok(args)
        .unwrap_or_else(|e| panic!("kubectl {args:?}: {e:#}\n{}", plane.diagnostics()))
}

/// The cluster, once Ready for its current generation.
fn ready(plane: &ControlPlane, ns: &str, name: &str) -> Option<Value> {
    let object = json(plane, &["get", "rocketmqcluster", name, "-n", ns])?;
    let generation = &object["metadata"]["generation"];
    let ready = object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    (ready["status"] == "True"
        && ready["observedGeneration"] == *generation
        && object["status"]["observedGeneration"] == *generation
        && object["status"]["phase"] == "Ready")
        .then_some(object)
}

/// Names of the cluster's child objects (by the operator's instance label).
fn children(plane: &ControlPlane, ns: &str, cluster: &str) -> Vec<String> {
    let selector = format!("app.kubernetes.io/instance={cluster}");
    kubectl(
        plane,
        &["get", CHILD_KINDS, "-n", ns, "-l", &selector, "-o", "name"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

#[test]
fn the_chart_operator_binary_leads_and_reconciles_every_example_to_ready() {
    let started = Instant::now();
    let plane = ControlPlane::shared();
    let release = "op-run";
    let namespace = plane.create_namespace(release).expect("release namespace");
    let examples_ns = plane
        .create_namespace("op-run-examples")
        .expect("examples namespace");
    let home = TempDir::new().expect("helm home");
    let watched = format!("watchNamespaces=[{examples_ns:?}]");
    // Cluster scope (the default RBAC), watching only this test's namespace so that clusters
    // other tests leave unreconciled on the shared control plane are not touched.
    succeed(
        helm(home.path())
            .arg("--kubeconfig")
            .arg(plane.kubeconfig_path())
            .args(["--namespace", &namespace, "install", release])
            .arg(chart_dir())
            .args(["--wait", "--timeout", "180s", "--set-json", &watched]),
    );
    let full = format!("{release}-apogee-operator");
    let deployment = json(plane, &["get", "deployment", &full, "-n", &namespace]).expect("the Deployment");
    let kubeconfig = plane
        .service_account_kubeconfig(&namespace, &full)
        .expect("the operator's ServiceAccount kubeconfig");
    let mut operator = OperatorProcess::start(&deployment, &kubeconfig, &namespace, home.path());

    // It takes the chart's Lease (a standby is ready too, so leadership is waited for on
    // /metrics), and as leader is ready once its watches listed.
    let http = operator.http;
    wait_for(
        plane,
        &mut operator,
        "the Lease (apogee_operator_leader 1)",
        || {
            let (code, metrics) = get(http, "/metrics")?;
            (code == 200 && metrics.lines().any(|l| l == "apogee_operator_leader 1")).then_some(())
        },
    );
    wait_for(plane, &mut operator, "/readyz to answer 200", || {
        (get(http, "/readyz")?.0 == 200).then_some(())
    });
    assert_eq!(get(http, "/healthz").map(|r| r.0), Some(200));
    let lease = json(plane, &["get", "lease", &full, "-n", &namespace]).expect("the Lease");
    assert_eq!(
        lease["spec"]["holderIdentity"],
        format!("e2e-{namespace}"),
        "{lease}"
    );

    for (file, _) in EXAMPLES {
        let path = repo_root().join("examples").join(file);
        kubectl(
            plane,
            &["apply", "-n", &examples_ns, "-f", path.to_str().expect("path")],
        );
    }
    for (file, cluster) in EXAMPLES {
        let object = wait_for(plane, &mut operator, &format!("{file} ({cluster}) Ready"), || {
            ready(plane, &examples_ns, cluster)
        });
        assert!(
            object["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty()),
            "{file}: the operator's finalizer: {object}"
        );
        let made = children(plane, &examples_ns, cluster);
        for child in [
            format!("deployment.apps/{cluster}-namesrv"),
            format!("statefulset.apps/{cluster}-broker-0"),
            format!("service/{cluster}-namesrv"),
        ] {
            assert!(made.contains(&child), "{file}: {child} missing from {made:?}");
        }
    }
    let ready_after = started.elapsed();

    // The reconciles are counted and timed, and the clusters counted.
    let (_, metrics) = get(http, "/metrics").expect("/metrics");
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} on /metrics: {metrics}"))
    };
    let ok = value("apogee_operator_reconciles_total{result=\"ok\"}");
    assert!(
        ok >= EXAMPLES.len() as f64,
        "one reconcile or more per example: {metrics}"
    );
    assert!(
        value("apogee_operator_reconcile_duration_seconds_count") >= ok,
        "every reconcile timed: {metrics}"
    );
    assert_eq!(
        value("apogee_operator_managed_clusters"),
        EXAMPLES.len() as f64,
        "{metrics}"
    );
    // Deleting a cluster (the operator removes its finalizer) garbage-collects its children.
    for (file, cluster) in EXAMPLES {
        kubectl(
            plane,
            &[
                "delete",
                "rocketmqcluster",
                cluster,
                "-n",
                &examples_ns,
                "--wait=true",
                "--timeout=120s",
            ],
        );
        wait_for(
            plane,
            &mut operator,
            &format!("{file}'s children collected"),
            || children(plane, &examples_ns, cluster).is_empty().then_some(()),
        );
    }
    operator.stop();
    succeed(
        helm(home.path())
            .arg("--kubeconfig")
            .arg(plane.kubeconfig_path())
            .args(["--namespace", &namespace, "uninstall", release])
            .args(["--wait", "--timeout", "120s"]),
    );
    eprintln!(
        "examples Ready after {ready_after:?}, all collected after {:?}",
        started.elapsed()
    );
}
