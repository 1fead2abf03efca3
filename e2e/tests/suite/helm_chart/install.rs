//! The chart against the real API server of the shared control plane: what it renders passes
//! server-side dry-run (schema, defaults, RBAC objects); an install makes the operator
//! Deployment available on kwok's nodes and gives its ServiceAccount exactly the access each
//! RBAC scope promises (checked by acting as that ServiceAccount); NOTES.txt prints the next
//! command, and every example cluster and the one NOTES.txt prints are admitted by the CRD the
//! chart installed; an upgrade rolls the
//! Deployment; an uninstall leaves only the CRD and the operator's Lease, as
//! docs/operations.md says.
//!
//! The operator itself does not run here (kwok's pods run nothing), so the example clusters
//! are only admitted, not reconciled (`reconcile.rs` runs the binary and waits for Ready); and the monitoring objects are not dry-run, since the
//! control plane has no prometheus-operator CRDs (`render` and `rules` cover them).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use apogee_e2e::control_plane::ControlPlane;
use tempfile::TempDir;

use super::{chart_dir, helm, notes_cluster, repo_root, succeed};

const CRD: &str = "customresourcedefinition/rocketmqclusters.rocketmq.apogee.dev";
const EXAMPLES: &[&str] = &[
    "dev-single-master.yaml",
    "multi-master.yaml",
    "master-slave-sync.yaml",
    "master-slave-async.yaml",
];

/// One Helm release on the shared control plane, with its own helm home.
struct Release {
    plane: &'static ControlPlane,
    name: String,
    namespace: String,
    home: TempDir,
}

impl Release {
    fn new(name: &str) -> Self {
        let plane = ControlPlane::shared();
        let namespace = plane.create_namespace(name).expect("release namespace");
        Self {
            plane,
            name: name.to_owned(),
            namespace,
            home: tempfile::tempdir().expect("helm home"),
        }
    }

    /// helm with the admin kubeconfig and the release namespace.
    fn helm(&self) -> Command {
        let mut command = helm(self.home.path());
        command
            .arg("--kubeconfig")
            .arg(self.plane.kubeconfig_path())
            .args(["--namespace", &self.namespace]);
        command
    }

    fn install(&self, values: &[&str]) {
        succeed(
            self.helm()
                .args(["install", &self.name])
                .arg(chart_dir())
                .args(["--wait", "--timeout", "180s"])
                .args(values),
        );
    }

    fn full_name(&self) -> String {
        format!("{}-apogee-operator", self.name)
    }

    fn kubectl(&self, args: &[&str]) -> String {
        self.plane
            .kubectl_ok(args)
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e:#}\n{}", self.plane.diagnostics()))
    }

    /// A kubeconfig authenticating as the operator's ServiceAccount.
    fn operator_kubeconfig(&self) -> PathBuf {
        self.plane
            .service_account_kubeconfig(&self.namespace, &self.full_name())
            .expect("the operator's ServiceAccount kubeconfig")
    }

    /// Names of the objects of `kinds` (in the release namespace unless `scope` says otherwise)
    /// that carry the release's instance label.
    fn labelled(&self, kinds: &str, scope: &[&str]) -> Vec<String> {
        let selector = format!("app.kubernetes.io/instance={}", self.name);
        let own = ["-n", self.namespace.as_str()];
        let mut args = vec!["get", kinds, "-l", &selector, "-o", "name"];
        args.extend(if scope.is_empty() { &own[..] } else { scope });
        self.kubectl(&args).lines().map(str::to_owned).collect()
    }
}

/// `kubectl auth can-i` as the ServiceAccount of `kubeconfig`.
fn can(plane: &ControlPlane, kubeconfig: &Path, query: &[&str]) -> bool {
    let output = plane
        .kubectl_command()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["auth", "can-i"])
        .args(query)
        .output()
        .expect("kubectl auth can-i");
    match String::from_utf8_lossy(&output.stdout).trim() {
        "yes" => true,
        "no" => false,
        other => panic!(
            "can-i {query:?}: {other} {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

#[track_caller]
fn assert_access(plane: &ControlPlane, kubeconfig: &Path, allowed: &[&[&str]], refused: &[&[&str]]) {
    for query in allowed {
        assert!(can(plane, kubeconfig, query), "the operator may not {query:?}");
    }
    for query in refused {
        assert!(!can(plane, kubeconfig, query), "the operator may {query:?}");
    }
}

#[test]
fn rendered_objects_pass_server_side_dry_run() {
    let plane = ControlPlane::shared();
    let namespace = plane.create_namespace("helm-dry").expect("namespace");
    let watched: Vec<String> = (0..2)
        .map(|_| plane.create_namespace("helm-dry-watched").expect("namespace"))
        .collect();
    let list = format!(
        "watchNamespaces={}",
        serde_json::to_string(&watched).expect("JSON")
    );
    let home = tempfile::tempdir().expect("helm home");
    // Every monitoring object too: the control plane has prometheus-operator's CRDs.
    let monitoring = [
        "--set",
        "monitoring.operator.serviceMonitor.enabled=true",
        "--set",
        "monitoring.brokers.podMonitor.enabled=true",
        "--set",
        "monitoring.brokers.serviceMonitor.enabled=true",
        "--set",
        "monitoring.prometheusRule.enabled=true",
        "--set",
        "dashboard.enabled=true",
    ];
    for (values, monitors) in [
        (vec![], false),
        (vec!["--set", "rbac.scope=Namespace", "--set-json", &list], false),
        (monitoring.to_vec(), true),
    ] {
        let rendered = succeed(
            helm(home.path())
                .args(["template", "dry"])
                .arg(chart_dir())
                .args(["--namespace", &namespace, "--include-crds"])
                .args(&values),
        );
        let args = ["apply", "--dry-run=server", "--validate=strict", "-f", "-"];
        let output = plane.kubectl_with_stdin(&args, &rendered).expect("kubectl");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{values:?}: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("deployment.apps/dry-apogee-operator"), "{stdout}");
        if monitors {
            for object in [
                "servicemonitor.monitoring.coreos.com/dry-apogee-operator-brokers",
                "podmonitor.monitoring.coreos.com/dry-apogee-operator-brokers",
                "servicemonitor.monitoring.coreos.com/dry-apogee-operator",
                "prometheusrule.monitoring.coreos.com/dry-apogee-operator",
            ] {
                assert!(stdout.contains(object), "{object} missing: {stdout}");
            }
        }
    }
}

#[test]
fn cluster_scoped_install_upgrade_and_uninstall() {
    let release = Release::new("op-cluster");
    let (plane, namespace, full) = (release.plane, release.namespace.as_str(), release.full_name());
    release.install(&[]);
    let available = release.kubectl(&[
        "get",
        "deployment",
        &full,
        "-n",
        namespace,
        "-o",
        "jsonpath={.status.availableReplicas}",
    ]);
    assert_eq!(available, "1");
    release.kubectl(&["wait", "--for=condition=Established", CRD, "--timeout=60s"]);

    // The ServiceAccount may do what the reconciler does, anywhere, and nothing else.
    let operator = release.operator_kubeconfig();
    let elsewhere = plane.create_namespace("op-cluster-elsewhere").expect("namespace");
    let lease = format!("leases.coordination.k8s.io/{full}");
    assert_access(
        plane,
        &operator,
        &[
            &[
                "watch",
                "rocketmqclusters.rocketmq.apogee.dev",
                "--all-namespaces",
            ],
            &[
                "patch",
                "rocketmqclusters.rocketmq.apogee.dev",
                "--subresource=status",
                "-n",
                &elsewhere,
            ],
            &["create", "statefulsets.apps", "-n", &elsewhere],
            &["delete", "pods", "-n", &elsewhere],
            &["patch", "persistentvolumeclaims", "-n", &elsewhere],
            &["create", "events.events.k8s.io", "-n", &elsewhere],
            &["list", "storageclasses.storage.k8s.io"],
            &["create", "leases.coordination.k8s.io", "-n", namespace],
            &["update", &lease, "-n", namespace],
        ],
        &[
            &["delete", "rocketmqclusters.rocketmq.apogee.dev", "-n", &elsewhere],
            &["create", "pods", "-n", &elsewhere],
            &["update", "persistentvolumeclaims", "-n", &elsewhere],
            &["get", "secrets", "-n", &elsewhere],
            &["create", "leases.coordination.k8s.io", "-n", &elsewhere],
            &[
                "update",
                "leases.coordination.k8s.io/another-lease",
                "-n",
                namespace,
            ],
            &["create", "namespaces"],
        ],
    );
    // The Lease the operator takes, created with the operator's own credentials.
    let lease_manifest = format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {full}\n  namespace: {namespace}\nspec:\n  holderIdentity: test\n"
    );
    let args = [
        "--kubeconfig",
        operator.to_str().expect("path"),
        "create",
        "-f",
        "-",
    ];
    let created = plane.kubectl_with_stdin(&args, &lease_manifest).expect("kubectl");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    // Every example, and the cluster NOTES.txt prints (named as the dev example, so in a
    // namespace of its own), passes the installed CRD's rules.
    for example in EXAMPLES {
        let path = repo_root().join("examples").join(example);
        release.kubectl(&["apply", "-n", namespace, "-f", path.to_str().expect("path")]);
    }
    let clusters = release.kubectl(&["get", "rocketmqclusters", "-n", namespace, "-o", "name"]);
    assert_eq!(clusters.lines().count(), EXAMPLES.len(), "{clusters}");
    // NOTES.txt prints the next command: a cluster running the operator's image.
    let notes = succeed(release.helm().args(["get", "notes", &release.name]));
    for expected in [
        format!("kubectl apply -n {namespace} -f - <<'EOF'"),
        "image: apogee:0.1.0".to_owned(),
        format!("dev-namesrv.{namespace}.svc:9876"),
        format!("helm uninstall {} -n {namespace}", release.name),
    ] {
        assert!(
            notes.contains(&expected),
            "NOTES.txt lacks {expected:?}:\n{notes}"
        );
    }
    let applied = plane
        .kubectl_with_stdin(&["apply", "-n", &elsewhere, "-f", "-"], &notes_cluster(&notes))
        .expect("kubectl");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    // An upgrade rolls the operator pod (the new one up first) with the new settings.
    succeed(
        release
            .helm()
            .args(["upgrade", &release.name])
            .arg(chart_dir())
            .args([
                "--wait",
                "--timeout",
                "180s",
                "--set",
                "logLevel=debug",
                "--set",
                "resources.limits.memory=512Mi",
            ]),
    );
    let env = release.kubectl(&[
        "get",
        "deployment",
        &full,
        "-n",
        namespace,
        "-o",
        "jsonpath={.status.availableReplicas} {.spec.template.spec.containers[0].resources.limits.memory} {.spec.template.spec.containers[0].env[?(@.name==\"APOGEE_LOG\")].value}",
    ]);
    assert_eq!(env, "1 512Mi debug");

    // Uninstall, clusters first (docs/operations.md): nothing of the release is left but the
    // CRD and the operator's Lease.
    for from in [namespace, elsewhere.as_str()] {
        release.kubectl(&[
            "delete",
            "rocketmqclusters",
            "--all",
            "-n",
            from,
            "--wait=true",
            "--timeout=60s",
        ]);
    }
    succeed(
        release
            .helm()
            .args(["uninstall", &release.name, "--wait", "--timeout", "120s"]),
    );
    let namespaced =
        "deployments,replicasets,pods,services,configmaps,serviceaccounts,roles,rolebindings,secrets";
    assert_eq!(release.labelled(namespaced, &[]), Vec::<String>::new());
    assert_eq!(
        release.labelled("clusterroles,clusterrolebindings", &["--all-namespaces"]),
        Vec::<String>::new()
    );
    let helm_records = release.kubectl(&[
        "get",
        "secrets",
        "-n",
        namespace,
        "-l",
        "owner=helm",
        "-o",
        "name",
    ]);
    assert_eq!(helm_records, "", "helm's release records");
    release.kubectl(&["get", CRD]);
    release.kubectl(&["get", "lease", &full, "-n", namespace]);
}

#[test]
fn namespace_scoped_install_reaches_only_the_watched_namespaces() {
    let release = Release::new("op-ns");
    let plane = release.plane;
    let watched: Vec<String> = (0..2)
        .map(|_| plane.create_namespace("op-ns-watched").expect("namespace"))
        .collect();
    let other = plane.create_namespace("op-ns-other").expect("namespace");
    let list = format!(
        "watchNamespaces={}",
        serde_json::to_string(&watched).expect("JSON")
    );
    release.install(&["--set", "rbac.scope=Namespace", "--set-json", &list]);
    let operator = release.operator_kubeconfig();
    for namespace in &watched {
        assert_access(
            plane,
            &operator,
            &[
                &["watch", "rocketmqclusters.rocketmq.apogee.dev", "-n", namespace],
                &[
                    "update",
                    "rocketmqclusters.rocketmq.apogee.dev",
                    "--subresource=finalizers",
                    "-n",
                    namespace,
                ],
                &["create", "poddisruptionbudgets.policy", "-n", namespace],
                &["create", "events", "-n", namespace],
            ],
            &[&["create", "leases.coordination.k8s.io", "-n", namespace]],
        );
    }
    assert_access(
        plane,
        &operator,
        &[&["create", "leases.coordination.k8s.io", "-n", &release.namespace]],
        &[
            &["list", "rocketmqclusters.rocketmq.apogee.dev", "-n", &other],
            &["list", "rocketmqclusters.rocketmq.apogee.dev", "--all-namespaces"],
            &["create", "statefulsets.apps", "-n", &other],
            &["list", "storageclasses.storage.k8s.io"],
        ],
    );
    succeed(
        release
            .helm()
            .args(["uninstall", &release.name, "--wait", "--timeout", "120s"]),
    );
    for namespace in &watched {
        assert_eq!(
            release.labelled("roles,rolebindings", &["-n", namespace]),
            Vec::<String>::new()
        );
    }
    assert_eq!(
        release.labelled("deployments,serviceaccounts,roles,rolebindings", &[]),
        Vec::<String>::new()
    );
}
