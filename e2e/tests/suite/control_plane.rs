//! The test control plane (`apogee_e2e::control_plane`) behaves like a cluster where it
//! matters to the operator: the scheduler places pods on the kwok Nodes and kwok makes them
//! Ready, StatefulSets roll out in ordinal order with their claims Bound, the garbage collector
//! follows owner references, and the API server enforces our CRD's CEL rules.
//!
//! One control plane for the whole test binary, each test in its own namespace. The first run
//! builds the binaries with `scripts/kube-tools` (Go, module proxy; 20-30 minutes cold). Run
//! just these with `cargo test -p apogee-e2e --test suite control_plane -- --nocapture`.

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    path::Path,
    process::Stdio,
};

use apogee_e2e::control_plane::{Component, ControlPlane};
use serde_json::Value;

/// How long kubectl may wait for a rollout or a deletion; generous for a loaded 2-core machine.
const WAIT: &str = "--timeout=120s";

fn json(plane: &ControlPlane, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let text = plane.kubectl_ok(&args).unwrap_or_else(|e| panic!("{e:#}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("kubectl {args:?}: {e}: {text}"))
}

fn apply(plane: &ControlPlane, manifest: &str) {
    plane
        .apply(manifest)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", plane.diagnostics()));
}

fn kubectl_ok(plane: &ControlPlane, args: &[&str]) -> String {
    plane
        .kubectl_ok(args)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", plane.diagnostics()))
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a str> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?["status"]
        .as_str()
}

fn items(list: &Value) -> &[Value] {
    list["items"].as_array().map(Vec::as_slice).unwrap_or_default()
}

#[test]
fn deployment_pods_are_scheduled_onto_kwok_nodes_and_become_ready() {
    let plane = ControlPlane::shared();
    let ns = plane.create_namespace("deploy").expect("namespace");
    apply(
        plane,
        &format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
"
        ),
    );
    kubectl_ok(plane, &["rollout", "status", "deployment/web", "-n", &ns, WAIT]);

    let pods = json(plane, &["get", "pods", "-n", &ns, "-l", "app=web"]);
    let pods = items(&pods);
    assert_eq!(pods.len(), 3, "{pods:#?}");
    let nodes = plane.node_names();
    for pod in pods {
        let name = &pod["metadata"]["name"];
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        assert!(
            nodes.iter().any(|n| n == node),
            "{name} on {node:?}, not a kwok node"
        );
        assert_eq!(pod["status"]["phase"], "Running", "{name}");
        assert_eq!(condition(pod, "Ready"), Some("True"), "{name}");
        let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
        assert!(ip.starts_with("10.244."), "{name} has pod IP {ip:?}");
    }
    let deployment = json(plane, &["get", "deployment", "web", "-n", &ns]);
    assert_eq!(deployment["status"]["readyReplicas"], 3);
}

/// The StatefulSet's pods as the API server's watch reports them, in order: (name, Ready).
/// The watch starts at a resource version taken before the StatefulSet exists, so it sees
/// every change however late kubectl connects; the server ends it after `timeoutSeconds`.
fn watch_pods_until_ready(plane: &ControlPlane, ns: &str, from: &str, pods: usize) -> Vec<(String, bool)> {
    let path = format!("/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={from}&timeoutSeconds=120");
    let mut child = plane
        .kubectl_command()
        .args(["get", "--raw", &path])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch");
    let stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut ready = std::collections::BTreeSet::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let event: Value = serde_json::from_str(&line).expect("watch event");
        let pod = &event["object"];
        let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let is_ready = condition(pod, "Ready") == Some("True");
        if is_ready {
            ready.insert(name.clone());
        }
        seen.push((name, is_ready));
        if ready.len() == pods {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        ready.len(),
        pods,
        "the watch ended before every pod was Ready: {seen:?}"
    );
    seen
}

#[test]
fn statefulset_claims_bind_and_pods_become_ready_in_ordinal_order() {
    let plane = ControlPlane::shared();
    let ns = plane.create_namespace("sts").expect("namespace");
    let from = kubectl_ok(
        plane,
        &[
            "get",
            "pods",
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ],
    );
    apply(
        plane,
        &format!(
            "apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: store, namespace: {ns}}}
spec:
  replicas: 3
  serviceName: store
  selector: {{matchLabels: {{app: store}}}}
  template:
    metadata: {{labels: {{app: store}}}}
    spec:
      containers:
      - name: store
        image: registry.invalid/store:1
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"
        ),
    );
    let seen = watch_pods_until_ready(plane, &ns, from.trim(), 3);

    // OrderedReady: store-N is created only once store-(N-1) is Ready.
    for n in 1..3 {
        let previous_ready = seen
            .iter()
            .position(|(name, ready)| *name == format!("store-{}", n - 1) && *ready);
        let first_seen = seen.iter().position(|(name, _)| *name == format!("store-{n}"));
        assert!(
            previous_ready.is_some() && first_seen > previous_ready,
            "store-{n} appeared before store-{} was Ready: {seen:?}",
            n - 1
        );
    }

    let claims = json(plane, &["get", "pvc", "-n", &ns]);
    let mut names: Vec<&str> = items(&claims)
        .iter()
        .map(|claim| {
            let name = claim["metadata"]["name"].as_str().unwrap_or_default();
            assert_eq!(claim["status"]["phase"], "Bound", "{name}: {claim:#}");
            // The default class, filled in by admission since the template names none.
            assert_eq!(claim["spec"]["storageClassName"], "kwok-volume", "{name}");
            let volume = claim["spec"]["volumeName"].as_str().unwrap_or_default();
            let pv = json(plane, &["get", "pv", volume]);
            assert_eq!(pv["status"]["phase"], "Bound", "{volume}");
            assert_eq!(pv["spec"]["claimRef"]["name"], name, "{volume}");
            name
        })
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["data-store-0", "data-store-1", "data-store-2"]);
}

#[test]
fn deleting_an_owner_garbage_collects_what_it_owns() {
    let plane = ControlPlane::shared();
    let ns = plane.create_namespace("gc").expect("namespace");
    apply(
        plane,
        &format!(
            "apiVersion: v1
kind: ConfigMap
metadata: {{name: owner, namespace: {ns}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: bystander, namespace: {ns}}}
"
        ),
    );
    let uid = kubectl_ok(
        plane,
        &[
            "get",
            "configmap",
            "owner",
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    apply(
        plane,
        &format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: owned
  namespace: {ns}
  ownerReferences:
  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}}}
"
        ),
    );
    kubectl_ok(plane, &["delete", "configmap", "owner", "-n", &ns, "--wait=true"]);
    kubectl_ok(
        plane,
        &["wait", "--for=delete", "configmap/owned", "-n", &ns, WAIT],
    );
    // Only what the owner owned.
    kubectl_ok(plane, &["get", "configmap", "bystander", "-n", &ns]);
}

const CRD: &str = "rocketmqclusters.rocketmq.apogee.dev";

fn install_crd(plane: &ControlPlane) {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/rocketmq.apogee.dev_rocketmqclusters.yaml");
    let file = file.to_string_lossy();
    // Server-side: the CRD is larger than the last-applied annotation's 256 KiB limit.
    kubectl_ok(plane, &["apply", "--server-side", "-f", &file]);
    kubectl_ok(
        plane,
        &["wait", "--for=condition=Established", &format!("crd/{CRD}"), WAIT],
    );
}

fn cluster(ns: &str, name: &str, mode: &str, config: &str) -> String {
    format!(
        "apiVersion: rocketmq.apogee.dev/v1alpha1
kind: RocketMQCluster
metadata: {{name: {name}, namespace: {ns}}}
spec:
  image: registry.invalid/apogee:0.1.0
  broker:
    mode: {mode}
    groups: 2
    storage: {{size: 20Gi}}
    config: {{{config}}}
"
    )
}

#[test]
fn crd_is_established_and_the_api_server_enforces_its_cel_rules() {
    let plane = ControlPlane::shared();
    install_crd(plane);
    let ns = plane.create_namespace("crd").expect("namespace");

    // A key the operator derives itself: refused at admission, with the rule's message.
    let bad = cluster(&ns, "bad", "MultiMaster", "brokerName: mine");
    let out = plane
        .kubectl_with_stdin(&["create", "-f", "-"], &bad)
        .expect("kubectl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted a cluster that sets brokerName");
    assert!(
        stderr.contains("must not set brokerName: the operator sets it from the resource"),
        "{stderr}"
    );
    assert!(
        !plane
            .kubectl(&["get", "rocketmqcluster", "bad", "-n", &ns])
            .status
            .success(),
        "the refused cluster exists"
    );

    // A valid one is stored as sent.
    let good = cluster(&ns, "good", "MultiMaster", "fileReservedTime: \"48\"");
    plane
        .kubectl_with_stdin(&["create", "-f", "-"], &good)
        .map(|out| assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr)))
        .expect("kubectl");
    let stored = json(plane, &["get", "rocketmqcluster", "good", "-n", &ns]);
    assert_eq!(stored["spec"]["broker"]["mode"], "MultiMaster");
    assert_eq!(stored["spec"]["broker"]["config"]["fileReservedTime"], "48");

    // A transition rule (oldSelf): the mode is immutable once set.
    let out = plane.kubectl(&[
        "patch",
        "rocketmqcluster",
        "good",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"broker":{"mode":"MasterSlave"}}}"#,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the mode changed");
    assert!(stderr.contains("is immutable"), "{stderr}");
}

#[test]
fn a_service_account_kubeconfig_is_held_to_its_rbac() {
    let plane = ControlPlane::shared();
    let ns = plane.create_namespace("rbac").expect("namespace");
    apply(
        plane,
        &format!(
            "apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: read-configmaps, namespace: {ns}}}
rules:
- {{apiGroups: [\"\"], resources: [configmaps], verbs: [get, list]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-configmaps}}
subjects:
- {{kind: ServiceAccount, name: reader, namespace: {ns}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: {ns}}}
data: {{colour: blue}}
"
        ),
    );
    let kubeconfig = plane
        .service_account_kubeconfig(&ns, "reader")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let as_reader = |args: &[&str]| {
        plane
            .kubectl_command()
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(args)
            .output()
            .expect("kubectl")
    };
    let out = as_reader(&["get", "configmap", "settings", "-o", "jsonpath={.data.colour}"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "blue");
    let out = as_reader(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("system:serviceaccount:{ns}:reader")
    );
    for denied in [&["get", "secrets"][..], &["delete", "configmap", "settings"]] {
        let out = as_reader(denied);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("Forbidden"),
            "{denied:?}: {stderr}"
        );
    }
}

/// A private plane beside the shared one: its own ports and directory, all gone once dropped.
#[test]
fn a_private_control_plane_serves_then_stops_and_cleans_up_on_drop() {
    let plane = ControlPlane::start().unwrap_or_else(|e| panic!("{e:#}"));
    assert_ne!(plane.server_url(), ControlPlane::shared().server_url());
    let nodes = kubectl_ok(&plane, &["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    let port: u16 = plane
        .server_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let dir = plane.dir().to_owned();
    let logs = plane.log_path(Component::ApiServer);
    assert!(logs.exists(), "{}", logs.display());
    drop(plane);
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the API server still listens on {port}"
    );
}

/// A RocketMQCluster whose `spec` is the YAML `spec` (indented two spaces).
fn cluster_with(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: rocketmq.apogee.dev/v1alpha1
kind: RocketMQCluster
metadata: {{name: {name}, namespace: {ns}}}
spec:
  image: registry.invalid/apogee:0.1.0
{spec}"
    )
}

const MULTI_MASTER: &str = "  broker:\n    mode: MultiMaster\n    storage: {size: 20Gi}\n";

#[test]
fn every_admission_rule_refuses_with_its_message_on_the_api_server() {
    let plane = ControlPlane::shared();
    install_crd(plane);
    let ns = plane.create_namespace("crd-rules").expect("namespace");
    let broker_config = |entry: &str| format!("{MULTI_MASTER}    config: {{{entry}}}\n");
    let long_name = format!("a{}", "b".repeat(40));
    // (what, name, spec, part of the refusal).
    let refused: Vec<(&str, &str, String, &str)> = vec![
        (
            "owned key namesrvAddr",
            "k1",
            broker_config("namesrvAddr: x:9876"),
            "must not set namesrvAddr: the operator sets it from the resource",
        ),
        (
            "owned key listenPort",
            "k2",
            broker_config("listenPort: \"10911\""),
            "must not set listenPort",
        ),
        (
            "owned key storePathRootDir",
            "k3",
            broker_config("storePathRootDir: /x"),
            "must not set storePathRootDir",
        ),
        (
            "owned key brokerRole",
            "k4",
            broker_config("brokerRole: SLAVE"),
            "must not set brokerRole",
        ),
        (
            "unknown broker key",
            "k5",
            broker_config("fileReservedTme: \"48\""),
            "holds a key that is not a broker.conf key",
        ),
        (
            "owned NameServer key",
            "k6",
            format!("{MULTI_MASTER}  nameServer:\n    config: {{kvConfigPath: /x}}\n"),
            "must not set kvConfigPath",
        ),
        (
            "replication on MultiMaster",
            "r1",
            format!("{MULTI_MASTER}    replication: Sync\n"),
            "replication applies to mode MasterSlave only",
        ),
        (
            "slaves on MultiMaster",
            "r2",
            format!("{MULTI_MASTER}    replicasPerGroup: 2\n"),
            "must be 1 in mode MultiMaster",
        ),
        (
            "no slave on MasterSlave",
            "r3",
            "  broker:\n    mode: MasterSlave\n    replicasPerGroup: 1\n    storage: {size: 20Gi}\n"
                .to_owned(),
            "must be at least 2 in mode MasterSlave",
        ),
        (
            "unknown mode",
            "e1",
            "  broker:\n    mode: Mesh\n    storage: {size: 20Gi}\n".to_owned(),
            "Unsupported value: \"Mesh\"",
        ),
        (
            "unknown flush type",
            "e2",
            format!("{MULTI_MASTER}    flushDiskType: Sometimes\n"),
            "Unsupported value: \"Sometimes\"",
        ),
        (
            "no group",
            "g1",
            format!("{MULTI_MASTER}    groups: 0\n"),
            "should be greater than or equal to 1",
        ),
        (
            "too many slaves",
            "g2",
            "  broker:\n    mode: MasterSlave\n    replicasPerGroup: 5\n    storage: {size: 20Gi}\n"
                .to_owned(),
            "should be less than or equal to 4",
        ),
        (
            "bad size",
            "s1",
            "  broker:\n    mode: MultiMaster\n    storage: {size: lots}\n".to_owned(),
            "must be a positive quantity such as 100Gi",
        ),
        (
            "zero size",
            "s2",
            "  broker:\n    mode: MultiMaster\n    storage: {size: \"0\"}\n".to_owned(),
            "must be a positive quantity such as 100Gi",
        ),
        (
            "metrics on the client port",
            "m1",
            format!("{MULTI_MASTER}  metrics: {{port: 10911}}\n"),
            "must differ from the broker's ports 10909",
        ),
        (
            "name too long",
            &long_name,
            MULTI_MASTER.to_owned(),
            "metadata.name must be a DNS label of at most 40 characters",
        ),
    ];
    let mut failures = Vec::new();
    for (what, name, spec, message) in &refused {
        let manifest = cluster_with(&ns, name, spec);
        let out = plane
            .kubectl_with_stdin(&["create", "--dry-run=server", "-f", "-"], &manifest)
            .expect("kubectl");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !stderr.contains(message) {
            failures.push(format!(
                "{what}: expected a refusal with {message:?}, got {stderr:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Transition rules (oldSelf), on a stored cluster.
    let good = cluster_with(
        &ns,
        "stored",
        "  broker:\n    mode: MultiMaster\n    storage: {size: 20Gi, storageClassName: kwok-volume}\n",
    );
    let out = plane
        .kubectl_with_stdin(&["create", "-f", "-"], &good)
        .expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (what, patch, message) in [
        (
            "shrink",
            r#"{"spec":{"broker":{"storage":{"size":"10Gi"}}}}"#,
            "cannot shrink from 20Gi to 10Gi: a volume only grows",
        ),
        (
            "new class",
            r#"{"spec":{"broker":{"storage":{"storageClassName":"fast"}}}}"#,
            "is immutable: existing volumes keep their StorageClass",
        ),
        (
            "mode",
            r#"{"spec":{"broker":{"mode":"MasterSlave","replicasPerGroup":2}}}"#,
            "is immutable: the groups' data and roles follow from it",
        ),
    ] {
        let out = plane.kubectl(&[
            "patch",
            "rocketmqcluster",
            "stored",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            patch,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !stderr.contains(message) {
            failures.push(format!(
                "{what}: expected a refusal with {message:?}, got {stderr:?}"
            ));
        }
    }
    // Growing is allowed.
    let out = plane.kubectl(&[
        "patch",
        "rocketmqcluster",
        "stored",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"broker":{"storage":{"size":"40Gi"}}}}"#,
    ]);
    if !out.status.success() {
        failures.push(format!(
            "growing was refused: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
