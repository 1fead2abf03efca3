//! The `apogee broker` process as a pod runs it: identity from `--pod-name` (or `--ordinal`),
//! JSON logs when stderr is not a terminal, and a clean shutdown on SIGTERM (what Kubernetes
//! sends). The NameServer and the Broker log each failed request once, with the same fields.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use apogee_broker::protocol::{
    RemotingCommand, SerializeType,
    code::{request, response},
    frame,
};
use bytes::BytesMut;
use serde_json::Value;

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
fn a_pod_name_outside_its_groups_config_or_without_an_ordinal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (pod, cause) in [
        (
            "other-group-0",
            "belongs to StatefulSet other-group, but the config file sets brokerName=pod",
        ),
        ("pod-x", "is not a pod ordinal"),
        ("pod", "is not a StatefulSet pod name"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_apogee"))
            .args(["broker", "--bind", "127.0.0.1", "-c"])
            .arg(conf(dir.path()))
            .args(["--pod-name", pod])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{pod} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(cause), "{pod}: {stderr}");
    }
}

#[test]
fn pod_name_sets_identity_logs_are_json_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args(["broker", "--bind", "127.0.0.1", "-c"])
        .arg(conf(dir.path()))
        .args(["--pod-name", "pod-1"])
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
    assert_eq!(serving["fields"]["broker"], "pod", "the StatefulSet's name");
    assert_eq!(serving["level"], "INFO");
}

/// Sends `req` on a new connection and returns the answer with the connection's own address
/// (what the server sees as the client).
fn ask(server: SocketAddr, req: &RemotingCommand) -> (RemotingCommand, SocketAddr) {
    let mut stream = TcpStream::connect(server).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = BytesMut::new();
    frame::encode(req, SerializeType::Json, &mut out);
    stream.write_all(&out).unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut buf = BytesMut::from(&len[..]);
    buf.resize(4 + u32::from_be_bytes(len) as usize, 0);
    stream.read_exact(&mut buf[4..]).unwrap();
    let (reply, _) = frame::decode(&mut buf, 1 << 20)
        .unwrap()
        .expect("one whole frame");
    (reply, stream.local_addr().unwrap())
}

/// Sends SIGTERM and waits (at most 10 s) for a clean exit.
fn stop(child: &mut Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exited = loop {
        if let Some(exited) = child.try_wait().unwrap() {
            break exited;
        }
        assert!(
            Instant::now() < deadline,
            "the process stops within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exited.success(), "clean exit: {exited}");
}

#[test]
fn namesrv_and_broker_log_each_failed_request_once_with_client_request_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args(["standalone", "--bind", "127.0.0.1", "--namesrv-port", "0"])
        .args(["--broker-port", "0", "--no-metrics", "--store"])
        .arg(dir.path().join("store"))
        .env("HOME", dir.path())
        .env_remove("APOGEE_LOG_FORMAT")
        .env("APOGEE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Lines as they come, so the test learns the ports the node picked.
    let (tx, lines) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let parse = |line: &str| -> Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
    };
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the node never got ready: {events:#?}"));
        let event = parse(&line);
        events.push(event.clone());
        if event["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("standalone node ready"))
        {
            break event;
        }
    };
    let addr = |field: &str| -> SocketAddr { ready["fields"][field].as_str().unwrap().parse().unwrap() };
    let (namesrv, broker) = (addr("namesrv"), addr("broker"));

    let unknown = RemotingCommand::request(9999, 1);
    let (to_broker, broker_client) = ask(broker, &unknown);
    assert_eq!(to_broker.code, response::REQUEST_CODE_NOT_SUPPORTED);
    let no_route =
        RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 2).with_field("topic", "Nowhere");
    let (to_namesrv, namesrv_client) = ask(namesrv, &no_route);
    assert_eq!(to_namesrv.code, response::TOPIC_NOT_EXIST);
    // A request the NameServer cannot parse (no topic) fails too, on its own path.
    let malformed = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 3);
    let (to_namesrv2, malformed_client) = ask(namesrv, &malformed);
    assert_eq!(to_namesrv2.code, response::SYSTEM_ERROR);
    // A missing KV entry is an ordinary answer, not a failure: no line.
    let kv = RemotingCommand::request(request::GET_KV_CONFIG, 4)
        .with_field("namespace", "ORDER_TOPIC_CONFIG")
        .with_field("key", "Nowhere");
    let (to_kv, quiet_client) = ask(namesrv, &kv);
    assert_eq!(to_kv.code, response::QUERY_NOT_FOUND);

    // Each server logged before it answered; stopping the process ends stderr.
    stop(&mut child);
    reader.join().unwrap();
    events.extend(lines.try_iter().map(|l| parse(&l)));
    let from = |client: SocketAddr| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["fields"]["client"] == client.to_string())
            .collect()
    };
    for (client, request, code) in [
        (broker_client, 9999, response::REQUEST_CODE_NOT_SUPPORTED),
        (
            namesrv_client,
            request::GET_ROUTEINFO_BY_TOPIC,
            response::TOPIC_NOT_EXIST,
        ),
        (
            malformed_client,
            request::GET_ROUTEINFO_BY_TOPIC,
            response::SYSTEM_ERROR,
        ),
    ] {
        let logged = from(client);
        assert_eq!(logged.len(), 1, "one line for {client}: {logged:#?}");
        let fields = &logged[0]["fields"];
        assert_eq!(fields["message"], "request failed");
        assert_eq!(fields["request"], request, "{fields}");
        assert_eq!(fields["code"], code, "{fields}");
    }
    assert!(from(quiet_client).is_empty(), "{:#?}", from(quiet_client));
}
