//! The command lines of the control plane's components: etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok, all on loopback ports picked at start-up.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use super::pki::Pki;

/// The Service IP range; the serving certificate names its first address (10.96.0.1).
const SERVICE_CIDR: &str = "10.96.0.0/16";
/// Pod IPs kwok hands out (it never routes them); a /16 so that long suites never run out.
const POD_CIDR: &str = "10.244.0.0/16";
/// The address kwok reports for every node.
const NODE_IP: &str = "10.0.0.1";

/// Loopback ports, one per listener, free when picked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) etcd_client: u16,
    pub(crate) etcd_peer: u16,
    pub(crate) apiserver: u16,
    pub(crate) controller_manager: u16,
    pub(crate) scheduler: u16,
    pub(crate) kwok: u16,
}

impl Ports {
    /// Asks the kernel for six free ports, holding all of them until every one is picked so
    /// that no two coincide. Another process may still take one before its component binds
    /// it; the component then fails to start and says so in its log.
    pub(crate) fn pick() -> Result<Self> {
        let listeners = (0..6)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .context("cannot bind a loopback port")?;
        let port = |i: usize| -> Result<u16> { Ok(listeners[i].local_addr()?.port()) };
        Ok(Self {
            etcd_client: port(0)?,
            etcd_peer: port(1)?,
            apiserver: port(2)?,
            controller_manager: port(3)?,
            scheduler: port(4)?,
            kwok: port(5)?,
        })
    }
}

/// Where the components' files live inside the control plane's directory.
#[derive(Debug)]
pub(crate) struct Files {
    pub(crate) etcd_data: PathBuf,
    /// Kubeconfigs per identity.
    pub(crate) controller_manager_kubeconfig: PathBuf,
    pub(crate) scheduler_kubeconfig: PathBuf,
    pub(crate) kwok_kubeconfig: PathBuf,
    /// kwok's stages (its `--config`), from `scripts/kube-tools`.
    pub(crate) kwok_stages: PathBuf,
}

pub(crate) fn etcd(ports: &Ports, files: &Files) -> Vec<String> {
    let client = format!("http://127.0.0.1:{}", ports.etcd_client);
    let peer = format!("http://127.0.0.1:{}", ports.etcd_peer);
    vec![
        "--name=apogee-test".to_owned(),
        format!("--data-dir={}", files.etcd_data.display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=apogee-test={peer}"),
        // Test data: nothing survives the process anyway, and fsync dominates on a busy disk.
        "--unsafe-no-fsync=true".to_owned(),
        "--log-level=warn".to_owned(),
    ]
}

pub(crate) fn apiserver(ports: &Ports, pki: &Pki) -> Vec<String> {
    vec![
        format!("--etcd-servers=http://127.0.0.1:{}", ports.etcd_client),
        "--bind-address=127.0.0.1".to_owned(),
        "--advertise-address=127.0.0.1".to_owned(),
        format!("--secure-port={}", ports.apiserver),
        path_flag("--tls-cert-file", &pki.serving.cert),
        path_flag("--tls-private-key-file", &pki.serving.key),
        path_flag("--client-ca-file", &pki.ca.cert),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
        path_flag("--service-account-key-file", &pki.service_account_pub),
        path_flag("--service-account-signing-key-file", &pki.service_account_key),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        "--authorization-mode=RBAC".to_owned(),
        // The front-proxy settings the controller manager and scheduler read back from
        // kube-system/extension-apiserver-authentication (without them they log an error every
        // few seconds). Only a CN nobody is issued may use the headers.
        path_flag("--requestheader-client-ca-file", &pki.ca.cert),
        "--requestheader-allowed-names=front-proxy-client".to_owned(),
        "--requestheader-username-headers=X-Remote-User".to_owned(),
        "--requestheader-group-headers=X-Remote-Group".to_owned(),
        "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_owned(),
        // The `kubernetes` Service's endpoints would point at 127.0.0.1, which the API server
        // refuses for an Endpoints object; nothing in a kwok cluster connects to it.
        "--endpoint-reconciler-type=none".to_owned(),
        "--allow-privileged=true".to_owned(),
        "--profiling=false".to_owned(),
    ]
}

pub(crate) fn controller_manager(ports: &Ports, pki: &Pki, files: &Files) -> Vec<String> {
    let kubeconfig = &files.controller_manager_kubeconfig;
    vec![
        path_flag("--kubeconfig", kubeconfig),
        // Its own health endpoint checks callers against the API server, as kubeadm sets it up.
        path_flag("--authentication-kubeconfig", kubeconfig),
        path_flag("--authorization-kubeconfig", kubeconfig),
        "--leader-elect=false".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--secure-port={}", ports.controller_manager),
        "--controllers=*".to_owned(),
        // Each controller acts as its own ServiceAccount, so RBAC is exercised as in a cluster.
        "--use-service-account-credentials=true".to_owned(),
        path_flag("--service-account-private-key-file", &pki.service_account_key),
        path_flag("--root-ca-file", &pki.ca.cert),
        path_flag("--cluster-signing-cert-file", &pki.ca.cert),
        path_flag("--cluster-signing-key-file", &pki.ca.key),
        "--profiling=false".to_owned(),
    ]
}

pub(crate) fn scheduler(ports: &Ports, files: &Files) -> Vec<String> {
    let kubeconfig = &files.scheduler_kubeconfig;
    vec![
        path_flag("--kubeconfig", kubeconfig),
        path_flag("--authentication-kubeconfig", kubeconfig),
        path_flag("--authorization-kubeconfig", kubeconfig),
        "--leader-elect=false".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--secure-port={}", ports.scheduler),
        "--profiling=false".to_owned(),
    ]
}

pub(crate) fn kwok(ports: &Ports, files: &Files) -> Vec<String> {
    vec![
        path_flag("--kubeconfig", &files.kwok_kubeconfig),
        path_flag("--config", &files.kwok_stages),
        "--manage-all-nodes=true".to_owned(),
        format!("--cidr={POD_CIDR}"),
        format!("--node-ip={NODE_IP}"),
        // The heartbeat stage renews a Lease per node, as a kubelet does.
        "--node-lease-duration-seconds=40".to_owned(),
        format!("--server-address=127.0.0.1:{}", ports.kwok),
    ]
}

fn path_flag(flag: &str, path: &Path) -> String {
    format!("{flag}={}", path.display())
}
