//! The control plane's binaries, built by `scripts/kube-tools` into
//! `${APOGEE_CACHE:-$HOME/.cache/apogee}/kube/<pin>/` (20-30 minutes cold, seconds warm).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Instant,
};

use anyhow::{Result, anyhow};

/// The built binaries and kwok's files.
#[derive(Debug)]
pub struct Tools {
    /// `etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`, `kubectl`, `kwok`,
    /// `helm`.
    pub bin: PathBuf,
    /// kwok's stages (`--config`), from the kwok module.
    pub kwok_stages: PathBuf,
    /// kwok's StorageClass `kwok-volume` (the default class, no expansion) and its twin
    /// `kwok-volume-expandable` (`allowVolumeExpansion`); PVCs of both bind through kwok's
    /// volume stages.
    pub kwok_storage_class: PathBuf,
    /// prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs.
    pub monitoring_crds: PathBuf,
}

static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();

/// Runs `scripts/kube-tools` once per process and returns what it built. A failure (no Go, no
/// module proxy while the cache is cold) is returned to every caller, with the script's log.
pub fn tools() -> Result<&'static Tools> {
    TOOLS
        .get_or_init(|| build().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

fn build() -> Result<Tools> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kube-tools");
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| anyhow!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(anyhow!(
            "{} failed ({}). It needs go (1.26+) on PATH, and the Go module proxy while \
             ${{APOGEE_CACHE:-$HOME/.cache/apogee}}/go/mod is cold:\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let root = bin
        .parent()
        .ok_or_else(|| anyhow!("{} printed {bin:?}", script.display()))?;
    let kwok = root.join("kwok");
    let monitoring_crds = root.join("monitoring");
    eprintln!("kube-tools ready in {:.1?}: {}", started.elapsed(), bin.display());
    Ok(Tools {
        kwok_stages: kwok.join("stages.yaml"),
        kwok_storage_class: kwok.join("storage-class.yaml"),
        monitoring_crds,
        bin,
    })
}
