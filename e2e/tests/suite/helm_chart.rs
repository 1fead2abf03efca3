//! The Helm chart `charts/apogee-operator`, with the helm `scripts/kube-tools` builds:
//!
//! - `render`: `helm lint --strict`, and what `helm template` renders for each supported
//!   combination of values: the kinds, the hardened operator pod, the RBAC rules of each scope,
//!   the CRD, monitors whose selectors match the broker pods and Services the operator builds
//!   (read from the operator's golden files);
//! - `metric_names`: the alerts and the dashboard use only metric names docs/metrics.md lists;
//! - `rules`: the alert rules under `promtool test rules`: each fires on the series it is about
//!   and not on healthy ones (Debian's `prometheus` package provides promtool);
//! - `install`: against the real control plane (`apogee_e2e::control_plane`): server-side
//!   dry-run, `helm install` (the Deployment becomes available on kwok's nodes), RBAC checked by
//!   acting as the operator's ServiceAccount, every example applied through the CRD's
//!   admission rules, `helm upgrade`, and `helm uninstall` leaving only what
//!   docs/operations.md lists;
//! - `reconcile`: after `helm install`, the real `apogee-operator` binary run as a child
//!   process with the chart Deployment's arguments and the chart ServiceAccount's token: it
//!   leads, `/readyz` answers 200, every example becomes Ready and its children are
//!   garbage-collected on deletion.

mod install;
mod metric_names;
mod reconcile;
mod render;
mod rules;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

/// The release name and namespace of the offline renders.
pub const RELEASE: &str = "demo";
pub const RELEASE_NAMESPACE: &str = "apogee-system";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/apogee-operator")
}

/// helm from `scripts/kube-tools`, with its cache, config and data directories inside `home`
/// (nothing written to the user's ~/.cache/helm or ~/.config/helm).
pub fn helm(home: &Path) -> Command {
    let tools = apogee_e2e::control_plane::tools()
        .unwrap_or_else(|e| panic!("the Helm chart tests need helm from scripts/kube-tools: {e:#}"));
    let mut command = Command::new(tools.bin.join("helm"));
    command
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    command
}

/// Runs `command`; its stdout, or a panic showing what it printed.
#[track_caller]
pub fn succeed(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// `helm template` of the chart as release `demo` in `apogee-system`, CRDs included, with
/// `values` (`--set`/`--set-json` arguments); every document, parsed.
pub fn template(values: &[&str]) -> Vec<Value> {
    let home = tempfile::tempdir().expect("helm home");
    let text = succeed(
        helm(home.path())
            .args(["template", RELEASE])
            .arg(chart_dir())
            .args(["--namespace", RELEASE_NAMESPACE, "--include-crds"])
            .args(values),
    );
    documents(&text)
}

/// Every non-empty document of a YAML stream.
pub fn documents(text: &str) -> Vec<Value> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("YAML does not parse: {e}\n{text}"));
    documents.into_iter().filter(|d| !d.is_null()).collect()
}

/// The documents of `kind`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The one document of `kind`.
#[track_caller]
pub fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    match of_kind(objects, kind).as_slice() {
        [object] => object,
        found => panic!("expected one {kind}, found {}", found.len()),
    }
}

/// The objects of the operator's golden files (`operator/tests/golden/*/objects.yaml`): what
/// the operator creates for each mode, labels included.
pub fn operator_golden_objects() -> Vec<Value> {
    let golden = repo_root().join("operator/tests/golden");
    let mut objects = Vec::new();
    for case in ["multi-master", "master-slave-sync", "master-slave-async"] {
        let path = golden.join(case).join("objects.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        objects.extend(documents(&text));
    }
    objects
}

/// The RocketMQCluster NOTES.txt prints in its `kubectl apply -f - <<'EOF'` here-document.
#[track_caller]
pub fn notes_cluster(notes: &str) -> String {
    let (_, rest) = notes
        .split_once("<<'EOF'\n")
        .expect("a here-document in NOTES.txt");
    let (body, _) = rest.split_once("\n  EOF").expect("the here-document's end");
    body.lines()
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}
