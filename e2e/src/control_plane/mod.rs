//! A real Kubernetes control plane for the end-to-end suites, as local processes: etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler, and kwok playing the kubelet for
//! three fake Nodes. Deployments get pods, the scheduler binds them, kwok marks them Running
//! and Ready (nothing runs in them), StatefulSet PVCs bind through kwok's `kwok-volume`
//! StorageClass, garbage collection and every other controller work as in a cluster.
//!
//! The binaries come from `scripts/kube-tools` (built from Go modules into the cache, once).
//! Clients reach the API server through [`ControlPlane::kubeconfig_path`] (admin, client
//! certificate in `system:masters`) or [`ControlPlane::service_account_kubeconfig`]; the
//! harness itself talks to it only through the built kubectl.
//!
//! One plane per test binary is the intent ([`ControlPlane::shared`], each test in its own
//! namespace from [`ControlPlane::create_namespace`]); [`ControlPlane::start`] gives a private
//! one (about ten seconds), stopped when dropped. Either way its processes die with the test
//! process (see `processes`), and its temporary directory is removed after they do.

mod components;
mod kubeconfig;
pub mod nodes;
mod pki;
mod processes;
mod tools;

use std::{
    fmt::Write as _,
    io::Write as _,
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{
        Mutex, OnceLock, PoisonError,
        atomic::{AtomicU32, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use components::{Files, Ports};
use kubeconfig::{Credential, Trust};
use pki::{KeyPair, Pki};
use processes::{Janitor, Process};
pub use tools::{Tools, tools};

/// How long [`ControlPlane::start`] waits for everything to be ready (a loaded 2-core machine
/// takes 10-20 s; more means something is wrong, and the error shows the logs).
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a new namespace may take to get its `default` ServiceAccount.
const NAMESPACE_TIMEOUT: Duration = Duration::from_secs(60);
/// Poll interval of the readiness checks.
const POLL: Duration = Duration::from_millis(200);
/// How much of each log an error message shows.
const LOG_TAIL: u64 = 6_000;

/// A component of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Etcd,
    ApiServer,
    ControllerManager,
    Scheduler,
    Kwok,
}

impl Component {
    /// Every component, in start order.
    pub const ALL: [Component; 5] = [
        Component::Etcd,
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
        Component::Kwok,
    ];

    /// Its binary's name (and its log file's stem).
    pub fn binary(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
            Component::Kwok => "kwok",
        }
    }
}

/// A running control plane. Dropping it kills its processes and removes its directory.
#[derive(Debug)]
pub struct ControlPlane {
    /// In start order; stopped in reverse.
    processes: Mutex<Vec<Process>>,
    server: String,
    admin_kubeconfig: PathBuf,
    /// Admin, server unverified: for the controller manager's and scheduler's `/healthz`.
    probe_kubeconfig: PathBuf,
    pki: Pki,
    tools: &'static Tools,
    namespaces: AtomicU32,
    // Dropped in this order: the directory, then the janitor (which then finds it gone).
    dir: tempfile::TempDir,
    _janitor: Janitor,
}

static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

impl ControlPlane {
    /// The test binary's control plane, started by the first caller. Panics (failing every
    /// test that asks) when it cannot start, with the reason and the components' logs.
    pub fn shared() -> &'static ControlPlane {
        SHARED
            .get_or_init(|| Self::start().map_err(|e| format!("{e:#}")))
            .as_ref()
            .unwrap_or_else(|e| panic!("the shared Kubernetes control plane did not start: {e}"))
    }

    /// Starts a private control plane and waits until it is ready: the API server answers
    /// `/readyz`, the controller manager and scheduler their `/healthz`, all three Nodes are
    /// Ready, and the `default` namespace has its ServiceAccount.
    pub fn start() -> Result<Self> {
        let started = Instant::now();
        let deadline = started + START_TIMEOUT;
        processes::check_setpriv()?;
        let tools = tools()?;
        let dir = tempfile::Builder::new()
            .prefix("apogee-kube-")
            .tempdir()
            .context("cannot create the control plane's directory")?;
        let janitor = Janitor::start(dir.path())?;
        let pki = Pki::create(&dir.path().join("pki"))?;
        let ports = Ports::pick()?;
        let server = format!("https://127.0.0.1:{}", ports.apiserver);
        for sub in ["kubeconfigs", "logs", "kubectl-cache"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
        }

        let kubeconfigs = dir.path().join("kubeconfigs");
        let write = |file: &str, trust: Trust<'_>, pair: &KeyPair| -> Result<PathBuf> {
            let path = kubeconfigs.join(format!("{file}.kubeconfig"));
            let credential = Credential::ClientCertificate {
                cert: &pair.cert,
                key: &pair.key,
            };
            kubeconfig::write(&path, &server, trust, credential, "default")?;
            Ok(path)
        };
        let client = |file: &str, user: &str, group: Option<&str>| -> Result<PathBuf> {
            write(file, Trust::Ca(&pki.ca.cert), &pki.client(file, user, group)?)
        };
        let admin = pki.client("admin", "admin", Some("system:masters"))?;
        let admin_kubeconfig = write("admin", Trust::Ca(&pki.ca.cert), &admin)?;
        // The probe authenticates (an anonymous kubectl would prompt for a password) but cannot
        // verify the serving certificates the controller manager and scheduler make up.
        let probe_kubeconfig = write("probe", Trust::Insecure, &admin)?;
        // The bootstrap RBAC policy grants these two users what their components need.
        let files = Files {
            etcd_data: dir.path().join("etcd"),
            controller_manager_kubeconfig: client(
                "controller-manager",
                "system:kube-controller-manager",
                None,
            )?,
            scheduler_kubeconfig: client("scheduler", "system:kube-scheduler", None)?,
            // kwok writes Node and Pod status, Leases and PersistentVolumes: cluster-admin.
            kwok_kubeconfig: client("kwok", "kwok", Some("system:masters"))?,
            kwok_stages: tools.kwok_stages.clone(),
        };

        let plane = Self {
            processes: Mutex::new(Vec::new()),
            server,
            admin_kubeconfig,
            probe_kubeconfig,
            pki,
            tools,
            namespaces: AtomicU32::new(0),
            dir,
            _janitor: janitor,
        };
        plane.launch(Component::Etcd, components::etcd(&ports, &files))?;
        let etcd = SocketAddr::from(([127, 0, 0, 1], ports.etcd_client));
        plane.wait_until(deadline, "etcd to accept connections", || {
            Ok(TcpStream::connect_timeout(&etcd, POLL).is_ok())
        })?;
        plane.launch(Component::ApiServer, components::apiserver(&ports, &plane.pki))?;
        plane.wait_until(deadline, "kube-apiserver to answer /readyz", || {
            Ok(plane.kubectl(&["get", "--raw", "/readyz"]).status.success())
        })?;
        let api_ready = started.elapsed();

        plane
            .apply(&nodes::manifest())
            .context("creating the kwok Nodes")?;
        let storage_class = tools.kwok_storage_class.to_string_lossy().into_owned();
        plane
            .kubectl_ok(&["apply", "-f", &storage_class])
            .context("creating kwok's StorageClass")?;
        // The cluster has prometheus-operator's kinds, as most production clusters do, so the
        // monitors the operator and the chart make are checked against the real schemas.
        let monitoring = tools.monitoring_crds.to_string_lossy().into_owned();
        plane
            .kubectl_ok(&["apply", "--server-side", "-f", &monitoring])
            .context("creating prometheus-operator's CRDs")?;
        let controller_manager = components::controller_manager(&ports, &plane.pki, &files);
        plane.launch(Component::ControllerManager, controller_manager)?;
        plane.launch(Component::Scheduler, components::scheduler(&ports, &files))?;
        plane.launch(Component::Kwok, components::kwok(&ports, &files))?;

        for (component, port) in [
            (Component::ControllerManager, ports.controller_manager),
            (Component::Scheduler, ports.scheduler),
        ] {
            let what = format!("{} to answer /healthz", component.binary());
            plane.wait_until(deadline, &what, || plane.healthy(port))?;
        }
        let want = nodes::names().len();
        plane.wait_until(deadline, &format!("{want} Ready Nodes"), || {
            Ok(plane.ready_nodes()? == want)
        })?;
        plane.wait_until(deadline, "the monitoring CRDs to be established", || {
            let established = plane.kubectl(&[
                "wait",
                "--for=condition=Established",
                "--timeout=1s",
                "crd/servicemonitors.monitoring.coreos.com",
                "crd/podmonitors.monitoring.coreos.com",
                "crd/prometheusrules.monitoring.coreos.com",
            ]);
            Ok(established.status.success())
        })?;
        plane.wait_until(deadline, "the default ServiceAccount", || {
            plane.has_default_service_account("default")
        })?;
        eprintln!(
            "Kubernetes control plane at {} ready in {:.1?} (API server after {api_ready:.1?}); \
             logs in {}",
            plane.server,
            started.elapsed(),
            plane.dir.path().join("logs").display()
        );
        Ok(plane)
    }

    /// The admin kubeconfig (client certificate, group `system:masters`, namespace `default`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The API server's URL, `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// The CA certificate (PEM) the API server's serving certificate chains to.
    pub fn ca_cert_path(&self) -> &Path {
        &self.pki.ca.cert
    }

    /// The directory with the built binaries (`kubectl`, `helm`, ...).
    pub fn bin_dir(&self) -> &Path {
        &self.tools.bin
    }

    /// The control plane's own directory (logs, kubeconfigs, etcd data); removed with it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where `component` writes its stdout and stderr.
    pub fn log_path(&self, component: Component) -> PathBuf {
        self.dir
            .path()
            .join("logs")
            .join(format!("{}.log", component.binary()))
    }

    /// The tail of every component's log, for failure messages.
    pub fn diagnostics(&self) -> String {
        let mut text = String::new();
        for component in Component::ALL {
            let path = self.log_path(component);
            let _ = writeln!(
                text,
                "--- {} ({}) ---\n{}",
                component.binary(),
                path.display(),
                processes::tail(&path, LOG_TAIL)
            );
        }
        text
    }

    /// A `kubectl` command using the built kubectl and, through `KUBECONFIG`, the admin
    /// kubeconfig (a `--kubeconfig` argument overrides it); add arguments, stdin and run it.
    pub fn kubectl_command(&self) -> Command {
        let mut command = Command::new(self.tools.bin.join("kubectl"));
        command
            .env("KUBECONFIG", &self.admin_kubeconfig)
            // Discovery caches per server, outside the user's ~/.kube.
            .env("KUBECACHEDIR", self.dir.path().join("kubectl-cache"))
            .stdin(Stdio::null());
        command
    }

    /// Runs kubectl with `args` as admin and returns its output, whatever its exit status.
    /// Panics only when kubectl cannot be run at all.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}/kubectl: {e}", self.tools.bin.display()))
    }

    /// Runs kubectl with `args` as admin; its stdout when it succeeds, else an error with its
    /// stderr.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        checked(args, self.kubectl(args))
    }

    /// `kubectl apply -f -` of `manifest` (YAML or JSON, several documents allowed) as admin.
    pub fn apply(&self, manifest: &str) -> Result<String> {
        let args = ["apply", "-f", "-"];
        checked(&args, self.kubectl_with_stdin(&args, manifest)?)
    }

    /// Runs kubectl with `args` as admin, `stdin` as its input; its output, whatever its exit
    /// status.
    pub fn kubectl_with_stdin(&self, args: &[&str], stdin: &str) -> Result<Output> {
        let mut child = self
            .kubectl_command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run kubectl")?;
        // kubectl reads all of its input before it writes much, so writing first cannot
        // deadlock on a full stdout pipe.
        child
            .stdin
            .take()
            .context("kubectl's stdin")?
            .write_all(stdin.as_bytes())?;
        Ok(child.wait_with_output()?)
    }

    /// Creates a namespace named `<prefix>-<n>` (unique within this plane) and waits until it
    /// has its `default` ServiceAccount, so pods can be created in it straight away.
    pub fn create_namespace(&self, prefix: &str) -> Result<String> {
        let n = self.namespaces.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{n}");
        self.kubectl_ok(&["create", "namespace", &name])?;
        let deadline = Instant::now() + NAMESPACE_TIMEOUT;
        let what = format!("the default ServiceAccount of namespace {name}");
        self.wait_until(deadline, &what, || self.has_default_service_account(&name))?;
        Ok(name)
    }

    /// Writes a kubeconfig that authenticates as ServiceAccount `namespace/name` (which must
    /// exist) with a 24-hour token from `kubectl create token`, default namespace `namespace`,
    /// and returns its path. What it may do is what RBAC grants that ServiceAccount.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        let token = self.kubectl_ok(&["create", "token", name, "-n", namespace, "--duration=24h"])?;
        let path = self
            .dir
            .path()
            .join("kubeconfigs")
            .join(format!("sa-{namespace}-{name}.kubeconfig"));
        let credential = Credential::Token(token.trim());
        kubeconfig::write(
            &path,
            &self.server,
            Trust::Ca(&self.pki.ca.cert),
            credential,
            namespace,
        )?;
        Ok(path)
    }

    /// The names of the kwok Nodes (`kwok-node-0`... in zones `zone-a`...).
    pub fn node_names(&self) -> Vec<String> {
        nodes::names()
    }

    fn launch(&self, component: Component, args: Vec<String>) -> Result<()> {
        let program = self.tools.bin.join(component.binary());
        let process = Process::start(component.binary(), &program, &args, self.log_path(component))?;
        Janitor::watch(self.dir.path(), process.pid())?;
        self.processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(process);
        Ok(())
    }

    /// Polls `ready` until it holds, failing at `deadline` or as soon as a component exits,
    /// with the logs.
    fn wait_until(
        &self,
        deadline: Instant,
        what: &str,
        mut ready: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        loop {
            self.check_running(what)?;
            if ready()? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out waiting for {what} (Kubernetes control plane at {})\n{}",
                    self.server,
                    self.diagnostics()
                );
            }
            thread::sleep(POLL);
        }
    }

    fn check_running(&self, what: &str) -> Result<()> {
        let mut processes = self.processes.lock().unwrap_or_else(PoisonError::into_inner);
        for process in processes.iter_mut() {
            if let Some(status) = process.exited() {
                bail!(
                    "{} exited ({status}) while waiting for {what}; its log ({}):\n{}",
                    process.name(),
                    process.log().display(),
                    processes::tail(process.log(), LOG_TAIL)
                );
            }
        }
        Ok(())
    }

    /// Whether the component serving on loopback `port` answers `/healthz` with `ok`.
    fn healthy(&self, port: u16) -> Result<bool> {
        let probe = format!("--kubeconfig={}", self.probe_kubeconfig.display());
        let server = format!("--server=https://127.0.0.1:{port}");
        let out = self.kubectl(&[&probe, &server, "get", "--raw", "/healthz"]);
        Ok(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok")
    }

    fn ready_nodes(&self) -> Result<usize> {
        let template = r#"{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#;
        let out = self.kubectl(&["get", "nodes", "-o", &format!("jsonpath={template}")]);
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|status| *status == "True")
            .count())
    }

    fn has_default_service_account(&self, namespace: &str) -> Result<bool> {
        let out = self.kubectl(&["get", "serviceaccount", "default", "-n", namespace, "-o", "name"]);
        Ok(out.status.success())
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let processes = self.processes.get_mut().unwrap_or_else(PoisonError::into_inner);
        while let Some(mut process) = processes.pop() {
            process.stop();
        }
    }
}

/// Stdout of a successful kubectl run, or an error with its arguments and stderr.
fn checked(args: &[&str], out: Output) -> Result<String> {
    if !out.status.success() {
        bail!(
            "kubectl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
