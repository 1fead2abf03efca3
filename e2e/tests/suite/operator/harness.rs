//! What the operator scenarios share: the CRD, an in-process operator, kubectl as JSON,
//! bounded waits, loopback brokers standing in for pods.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Stdio},
    sync::OnceLock,
    thread::JoinHandle as ThreadHandle,
    time::{Duration, Instant},
};

use apogee_broker::{
    config::FixedEnv,
    protocol::{RemotingCommand, code::request},
    remoting::{ConnectionConfig, RefuseCallbacks, connect},
    standalone::{Standalone, StandaloneOptions},
};
use apogee_e2e::control_plane::ControlPlane;
use apogee_operator::{
    broker_admin::BrokerAddresses,
    controller::{Requeue, WatchScope},
    leader::LeaseConfig,
    rollout::Timeouts,
    run::{RunError, RunOptions, run},
};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};

/// Longest wait for anything the operator or the control plane does.
pub const WAIT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(250);

/// The shared control plane with the CRD installed.
pub fn plane() -> &'static ControlPlane {
    static CRD: OnceLock<()> = OnceLock::new();
    let plane = ControlPlane::shared();
    CRD.get_or_init(|| {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/rocketmq.apogee.dev_rocketmqclusters.yaml");
        // Server-side: the CRD is larger than the last-applied annotation allows.
        kubectl(plane, &["apply", "--server-side", "-f", &file.to_string_lossy()]);
        kubectl(
            plane,
            &[
                "wait",
                "--for=condition=Established",
                "crd/rocketmqclusters.rocketmq.apogee.dev",
                "--timeout=120s",
            ],
        );
    });
    plane
}

/// kubectl `args`; its stdout, or a panic with its error and the control plane's logs.
pub fn kubectl(plane: &ControlPlane, args: &[&str]) -> String {
    plane
        .kubectl_ok(args)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", plane.diagnostics()))
}

/// `kubectl apply -f -` of `manifest`.
pub fn apply(plane: &ControlPlane, manifest: &str) {
    plane
        .apply(manifest)
        .unwrap_or_else(|e| panic!("{e:#}\n{manifest}"));
}

/// kubectl `args -o json`, parsed; `None` if kubectl fails (e.g. not found).
pub fn json(plane: &ControlPlane, args: &[&str]) -> Option<Value> {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let out = plane.kubectl(&args);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// The items of a list.
pub fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Polls `probe` until it gives a value, for at most [`WAIT`].
pub fn wait_for<T>(plane: &ControlPlane, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}\n{}",
            plane.diagnostics()
        );
        std::thread::sleep(POLL);
    }
}

/// A condition's status on an object.
pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// The cluster `name` in `ns`.
pub fn cluster(plane: &ControlPlane, ns: &str, name: &str) -> Option<Value> {
    json(plane, &["get", "rocketmqcluster", name, "-n", ns])
}

/// Waits until cluster `name` is Ready (for its current generation).
pub fn wait_ready(plane: &ControlPlane, ns: &str, name: &str) -> Value {
    wait_for(plane, &format!("{ns}/{name} Ready"), || {
        let object = cluster(plane, ns, name)?;
        let ready = condition(&object, "Ready")?;
        let generation = &object["metadata"]["generation"];
        let current = ready["observedGeneration"] == *generation
            && object["status"]["observedGeneration"] == *generation;
        (current && ready["status"] == "True" && object["status"]["restart"].is_null()).then_some(object)
    })
}

/// Broker pods of cluster `name`: pod name to uid.
pub fn broker_pods(plane: &ControlPlane, ns: &str, name: &str) -> BTreeMap<String, String> {
    let selector = format!("app.kubernetes.io/instance={name},app.kubernetes.io/component=broker");
    let list = json(plane, &["get", "pods", "-n", ns, "-l", &selector]).unwrap_or_default();
    items(&list)
        .iter()
        .map(|pod| {
            (
                pod["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                pod["metadata"]["uid"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Events of `ns` with `reason`, oldest first: each event's note.
pub fn events(plane: &ControlPlane, ns: &str, reasons: &[&str]) -> Vec<(String, String)> {
    let list = json(plane, &["get", "events.events.k8s.io", "-n", ns]).unwrap_or_default();
    let mut found: Vec<(String, String, String)> = items(&list)
        .iter()
        .filter_map(|event| {
            let reason = event["reason"].as_str()?;
            reasons.contains(&reason).then(|| {
                (
                    event["eventTime"].as_str().unwrap_or_default().to_owned(),
                    reason.to_owned(),
                    event["note"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, reason, note)| (reason, note))
        .collect()
}

/// A `RocketMQCluster` manifest.
pub fn manifest(ns: &str, name: &str, broker: &str, name_servers: u32, annotations: &str) -> String {
    format!(
        "apiVersion: rocketmq.apogee.dev/v1alpha1
kind: RocketMQCluster
metadata:
  name: {name}
  namespace: {ns}
  annotations: {{{annotations}}}
spec:
  image: registry.invalid/apogee:e2e
  nameServer:
    replicas: {name_servers}
  broker:
{broker}"
    )
}

/// An operator running in this process, watching one namespace.
#[derive(Debug)]
pub struct Operator {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), RunError>>>,
}

/// What a test's operator is started with.
#[derive(Debug, Clone)]
pub struct OperatorOptions {
    /// Pods to loopback brokers.
    pub brokers: BTreeMap<String, String>,
    /// Restart waits.
    pub timeouts: Timeouts,
    /// Lease in the namespace, under this identity.
    pub lease_identity: Option<String>,
}

impl Default for OperatorOptions {
    fn default() -> Self {
        Self {
            brokers: BTreeMap::new(),
            timeouts: Timeouts {
                drain: Duration::from_secs(30),
                ready: Duration::from_secs(120),
                restore: Duration::from_secs(30),
            },
            lease_identity: None,
        }
    }
}

impl Operator {
    /// Starts an operator for `ns` on `runtime`.
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        plane: &ControlPlane,
        ns: &str,
        options: OperatorOptions,
    ) -> Self {
        Self::start_watching(runtime, plane, &[ns], options)
    }

    /// Starts one operator watching every namespace of `watched` (its Lease, if any, in the
    /// first).
    pub fn start_watching(
        runtime: &tokio::runtime::Runtime,
        plane: &ControlPlane,
        watched: &[&str],
        options: OperatorOptions,
    ) -> Self {
        let kubeconfig = plane.kubeconfig_path().to_path_buf();
        let ns = watched.first().expect("a namespace to watch").to_string();
        let scope = WatchScope::Namespaces(watched.iter().map(ToString::to_string).collect());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let kubeconfig = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
            let config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                    .await
                    .expect("client config");
            let client = kube::Client::try_from(config).expect("client");
            let identity = options
                .lease_identity
                .clone()
                .unwrap_or_else(|| format!("e2e-{ns}"));
            let lease = options.lease_identity.as_ref().map(|_| LeaseConfig {
                namespace: ns.clone(),
                name: "apogee-operator".to_owned(),
                identity: identity.clone(),
                duration: Duration::from_secs(6),
            });
            let run_options = RunOptions {
                scope,
                lease,
                identity,
                http_addr: "127.0.0.1:0".parse().expect("address"),
                addresses: BrokerAddresses::Fixed(options.brokers),
                timeouts: options.timeouts,
                requeue: Requeue {
                    idle: Duration::from_secs(30),
                    busy: Duration::from_secs(1),
                },
            };
            run(client, run_options, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops it (in-flight reconciles finish) and waits until it has.
    pub fn stop(mut self, runtime: &tokio::runtime::Runtime) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let outcome =
                runtime.block_on(async { tokio::time::timeout(Duration::from_secs(60), task).await });
            match outcome {
                Ok(Ok(Ok(()))) => {}
                other => panic!("operator did not stop cleanly: {other:?}"),
            }
        }
    }
}

impl Operator {
    /// Kills it mid-flight, as a SIGKILL would: the task is dropped at its next await,
    /// reconciles half done, nothing released.
    pub fn kill(mut self, runtime: &tokio::runtime::Runtime) {
        // Held until the task is gone: dropping the sender is the graceful stop signal, and a
        // task that saw it before the abort landed would shut down cleanly instead (CI saw it
        // end with Ok).
        let _stop = self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
            let outcome =
                runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await });
            assert!(
                matches!(&outcome, Ok(Err(e)) if e.is_cancelled()),
                "the operator task was not killed: {outcome:?}"
            );
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A multi-threaded runtime for a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A real broker (with its own NameServer) on loopback, standing in for a pod.
pub async fn loopback_broker(dir: &Path, name: &str) -> Standalone {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().expect("utf-8 path"));
    let mut options = StandaloneOptions::loopback(dir.join(name));
    // 16 MiB CommitLog segments: at the default 1 GiB each test broker reserved 2 GiB of disk
    // (its first segment and the one allocated ahead) for a handful of messages.
    options.broker_properties =
        format!("brokerClusterName=e2e\nbrokerName={name}\nmappedFileSizeCommitLog=16777216\n");
    Standalone::start(options, &env)
        .await
        .expect("loopback broker starts")
}

/// A broker's `brokerPermission`, from GET_BROKER_CONFIG.
pub async fn permission(broker: std::net::SocketAddr) -> u8 {
    let connection = connect(
        &broker.to_string(),
        std::sync::Arc::new(RefuseCallbacks),
        &ConnectionConfig::default(),
    )
    .await
    .expect("connect");
    let answer = connection
        .request(
            RemotingCommand::request(request::GET_BROKER_CONFIG, 0),
            Duration::from_secs(5),
        )
        .await
        .expect("GET_BROKER_CONFIG");
    connection.close();
    String::from_utf8_lossy(&answer.body)
        .lines()
        .find_map(|line| line.strip_prefix("brokerPermission="))
        .and_then(|v| v.trim().parse().ok())
        .expect("brokerPermission in the broker config")
}

/// The API server's own record of pod deletions in a namespace, independent of anything the
/// operator reports: a watch from the moment it starts, noting each pod (by uid) the first
/// time it carries a deletionTimestamp.
#[derive(Debug)]
pub struct PodDeletions {
    child: Child,
    reader: ThreadHandle<Vec<String>>,
}

impl PodDeletions {
    /// Starts watching `ns` (ends by itself after 10 minutes).
    pub fn watch(plane: &ControlPlane, ns: &str) -> Self {
        let from = kubectl(
            plane,
            &[
                "get",
                "pods",
                "-n",
                ns,
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ],
        );
        let path = format!(
            "/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={}&timeoutSeconds=600",
            from.trim()
        );
        let mut child = plane
            .kubectl_command()
            .args(["get", "--raw", &path])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl watch");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            let mut order = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    break;
                };
                let meta = &event["object"]["metadata"];
                let uid = meta["uid"].as_str().unwrap_or_default().to_owned();
                if !meta["deletionTimestamp"].is_null() && seen.insert(uid) {
                    order.push(meta["name"].as_str().unwrap_or_default().to_owned());
                }
            }
            order
        });
        Self { child, reader }
    }

    /// Stops the watch; the pods whose deletion began, in order.
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader.join().expect("watch reader")
    }
}
