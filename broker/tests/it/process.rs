//! The `apogee broker` process as a pod runs it: identity from `--ordinal`, JSON logs when
//! stderr is not a terminal, and a clean shutdown on SIGTERM (what Kubernetes sends).

use std::{
    net::{IpAddr, Ipv4Addr},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::ha_cluster::free_port;

fn conf(dir: &std::path::Path) -> std::path::PathBuf {
    let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let ha = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let path = dir.join("broker.conf");
    let text = format!(
        "brokerName=pod\nlistenPort={port}\nhaListenPort={ha}\nnamesrvAddr=127.0.0.1:1\nstorePathRootDir={}\n\
         mappedFileSizeCommitLog=1048576\nmaxMessageSize=65536\nbrokerIP1=127.0.0.1\n",
        dir.join("store").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_bad_ordinal_is_refused_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args(["broker", "--bind", "127.0.0.1", "-c"])
        .arg(conf(dir.path()))
        .args(["--ordinal", "$(APOGEE_POD_ORDINAL)"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a pod ordinal") && stderr.contains("pod-index"),
        "{stderr}"
    );
}

#[test]
fn ordinal_sets_identity_logs_are_json_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args(["broker", "--bind", "127.0.0.1", "-c"])
        .arg(conf(dir.path()))
        .args(["--ordinal", "1"])
        .env_remove("APOGEE_LOG_FORMAT")
        .env("APOGEE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let store = dir.path().join("store");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.join("abort").exists() {
        assert!(Instant::now() < deadline, "the broker never opened its store");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exited = (0..500).find_map(|_| {
        std::thread::sleep(Duration::from_millis(20));
        child.try_wait().unwrap()
    });
    let exited = exited.expect("the broker stops within 10 s of SIGTERM");
    assert!(exited.success(), "clean exit: {exited}");
    assert!(
        !store.join("abort").exists(),
        "a clean shutdown removes the abort file"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    let serving = events
        .iter()
        .find(|e| e["fields"]["message"] == "broker serving")
        .unwrap_or_else(|| panic!("no 'broker serving' event in {stderr}"));
    assert_eq!(serving["fields"]["role"], "SLAVE", "ordinal 1 runs as a slave");
    assert_eq!(serving["level"], "INFO");
}
