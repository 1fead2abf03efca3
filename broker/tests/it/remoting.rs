//! The remoting layer over real loopback sockets: both header encodings, oneway, out-of-order
//! replies, server-to-client requests, and misbehaving clients that must hurt only themselves.

use std::{
    io::{Read, Write},
    net::TcpStream as StdStream,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use apogee_broker::{
    protocol::{RemotingCommand, SerializeType, code, frame},
    remoting::{Connection, ConnectionConfig, Handler, Server, connect},
};
use bytes::BytesMut;
use tokio::sync::{Notify, watch};

use crate::harness::runtime;

/// Test handler: 105 echoes field `x`; 11 waits for `release`; 12 counts itself in `entered`
/// and waits for `gate` to open; 77 records field `n` in `seen` (meant as oneway); 34 calls the
/// client back with 40 and reports its answer; 99 answers with a 1 MiB body; anything else is
/// not supported.
struct TestHandler {
    release: Notify,
    gate: watch::Sender<bool>,
    entered: AtomicUsize,
    seen: Mutex<Vec<String>>,
}

impl Handler for TestHandler {
    async fn handle(&self, connection: Arc<Connection>, request: RemotingCommand) -> Option<RemotingCommand> {
        let reply = |code| RemotingCommand::response_to(&request, code);
        Some(match request.code {
            105 => reply(code::response::SUCCESS).with_field("echo", request.field("x").unwrap_or("")),
            11 => {
                self.release.notified().await;
                reply(code::response::SUCCESS).with_field("released", "true")
            }
            12 => {
                self.entered.fetch_add(1, Ordering::SeqCst);
                let _ = self.gate.subscribe().wait_for(|open| *open).await;
                reply(code::response::SUCCESS)
            }
            77 => {
                let n = request.field("n").unwrap_or("").to_owned();
                self.seen.lock().unwrap().push(n);
                return None;
            }
            34 => {
                let answer = connection
                    .request(RemotingCommand::request(40, 0), Duration::from_secs(5))
                    .await;
                let text =
                    answer.map_or_else(|e| e.to_string(), |a| a.field("client").unwrap_or("").to_owned());
                reply(code::response::SUCCESS).with_field("client", text)
            }
            99 => reply(code::response::SUCCESS).with_body(vec![7u8; 1 << 20]),
            other => reply(code::response::REQUEST_CODE_NOT_SUPPORTED)
                .with_remark(format!(" request type {other} not supported")),
        })
    }
}

/// Client-side handler answering the broker's callback.
struct ClientHandler;

impl Handler for ClientHandler {
    async fn handle(&self, _: Arc<Connection>, request: RemotingCommand) -> Option<RemotingCommand> {
        Some(RemotingCommand::response_to(&request, 0).with_field("client", format!("got {}", request.code)))
    }
}

struct Running {
    rt: tokio::runtime::Runtime,
    addr: String,
    handler: Arc<TestHandler>,
    _stop: watch::Sender<bool>,
}

fn start(config: ConnectionConfig) -> Running {
    let rt = runtime();
    let handler = Arc::new(TestHandler {
        release: Notify::new(),
        gate: watch::channel(false).0,
        entered: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let (stop, stop_rx) = watch::channel(false);
    let server = rt.block_on(Server::bind("127.0.0.1:0", config)).unwrap();
    let addr = server.local_addr().to_string();
    rt.spawn(server.serve(handler.clone(), stop_rx));
    Running {
        rt,
        addr,
        handler,
        _stop: stop,
    }
}

fn raw_frame(command: &RemotingCommand, ser: SerializeType) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frame::encode(command, ser, &mut buf);
    buf.to_vec()
}

fn read_frame(stream: &mut StdStream) -> Option<(RemotingCommand, SerializeType)> {
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(decoded) = frame::decode(&mut buf, usize::MAX).unwrap() {
            return Some(decoded);
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn both_header_encodings_are_answered_in_json() {
    let server = start(ConnectionConfig::default());
    let mut stream = StdStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for (opaque, ser) in [(1, SerializeType::Json), (2, SerializeType::RocketMq)] {
        let request = RemotingCommand::request(105, opaque).with_field("x", format!("v{opaque}"));
        stream.write_all(&raw_frame(&request, ser)).unwrap();
        let (response, answered_in) = read_frame(&mut stream).unwrap();
        assert_eq!(answered_in, SerializeType::Json);
        assert!(response.is_response());
        assert_eq!(
            (response.opaque, response.field("echo")),
            (opaque, Some(format!("v{opaque}").as_str()))
        );
    }
    let unknown = RemotingCommand::request(7777, 3);
    stream
        .write_all(&raw_frame(&unknown, SerializeType::Json))
        .unwrap();
    let (response, _) = read_frame(&mut stream).unwrap();
    assert_eq!(response.code, code::response::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(
        response.remark.as_deref(),
        Some(" request type 7777 not supported")
    );
}

#[test]
fn oneway_is_never_answered_and_replies_come_out_of_order() {
    let server = start(ConnectionConfig::default());
    let mut stream = StdStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let parked = RemotingCommand::request(11, 1);
    let oneway = RemotingCommand::request(105, 2).oneway();
    let quick = RemotingCommand::request(105, 3).with_field("x", "q");
    for command in [&parked, &oneway, &quick] {
        stream
            .write_all(&raw_frame(command, SerializeType::Json))
            .unwrap();
    }
    let (first, _) = read_frame(&mut stream).unwrap();
    assert_eq!(
        first.opaque, 3,
        "the quick request overtakes the parked one; the oneway gets nothing"
    );
    // Release the parked request only once it is surely waiting.
    std::thread::sleep(Duration::from_millis(100));
    server.handler.release.notify_one();
    let (second, _) = read_frame(&mut stream).unwrap();
    assert_eq!((second.opaque, second.field("released")), (1, Some("true")));
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    assert!(
        read_frame(&mut stream).is_none(),
        "nothing more: the oneway request was not answered"
    );
}

/// A client that closes with answers unread resets the connection, so the server's next write
/// fails; the requests it sent just before closing (a Go consumer's final offset commits are
/// oneway) must still be handled. Here they wait unread in the server's socket while the only
/// in-flight slot is taken, and the failing write happens before the server reads them.
#[test]
fn requests_sent_before_a_reset_are_handled_after_a_failed_write() {
    let server = start(ConnectionConfig {
        max_in_flight: 1,
        ..ConnectionConfig::default()
    });
    let mut stream = StdStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // As Go clients do: with Nagle's algorithm the last small writes could still sit in this
    // socket when it closes, and a reset discards them.
    stream.set_nodelay(true).unwrap();
    // An answer left unread: closing the socket then sends a reset, not a FIN.
    let echo = RemotingCommand::request(105, 1).with_field("x", "unread");
    stream.write_all(&raw_frame(&echo, SerializeType::Json)).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(stream.peek(&mut byte).unwrap(), 1, "the echo is answered");
    // Two gated requests in one write: the first takes the in-flight slot, the second waits
    // for it, and the server reads nothing more from the socket until the gate opens.
    let gated: Vec<u8> = [2, 3]
        .iter()
        .flat_map(|&opaque| raw_frame(&RemotingCommand::request(12, opaque), SerializeType::Json))
        .collect();
    stream.write_all(&gated).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.handler.entered.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the first gated request never reached the handler"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let oneways: Vec<u8> = (1..=5)
        .flat_map(|n| {
            let request = RemotingCommand::request(77, 10 + n).with_field("n", n.to_string());
            raw_frame(&request.oneway(), SerializeType::Json)
        })
        .collect();
    stream.write_all(&oneways).unwrap();
    drop(stream);
    // The first gated answer is written to a reset socket and fails.
    server.handler.gate.send_replace(true);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = server.handler.seen.lock().unwrap().clone();
        if seen.len() == 5 {
            assert_eq!(seen, ["1", "2", "3", "4", "5"], "oneways handled in order");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "oneway requests sent before the reset were dropped; handled: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn server_calls_the_client_back_on_its_connection() {
    let server = start(ConnectionConfig::default());
    let answer = server.rt.block_on(async {
        let client = connect(
            &server.addr,
            Arc::new(ClientHandler),
            &ConnectionConfig::default(),
        )
        .await
        .unwrap();
        client
            .request(RemotingCommand::request(34, 0), Duration::from_secs(5))
            .await
            .unwrap()
    });
    assert_eq!(answer.field("client"), Some("got 40"));
}

#[test]
fn a_bad_frame_closes_only_its_own_connection() {
    let server = start(ConnectionConfig {
        max_frame: 1 << 20,
        ..ConnectionConfig::default()
    });
    let mut good = StdStream::connect(&server.addr).unwrap();
    good.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for garbage in [
        (64i32 << 20).to_be_bytes().to_vec(), // announces 64 MiB: over the limit
        vec![0, 0, 0, 8, 9, 0, 0, 0, 1, 2, 3, 4], // serialize type 9
        vec![0, 0, 0, 10, 0, 0, 0, 6, b'{', b'x', 0, 0, 0, 0], // header that is not JSON
    ] {
        let mut bad = StdStream::connect(&server.addr).unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        bad.write_all(&garbage).unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(bad.read(&mut byte).unwrap_or(0), 0, "server closes the offender");
        let request = RemotingCommand::request(105, 1).with_field("x", "still here");
        good.write_all(&raw_frame(&request, SerializeType::Json)).unwrap();
        assert_eq!(read_frame(&mut good).unwrap().0.field("echo"), Some("still here"));
    }
    let missing = RemotingCommand::request(14, 5);
    assert_eq!(
        missing.required::<i32>("queueId").unwrap_err().to_string(),
        "the custom field <queueId> is null",
        "handlers reject a missing field with the reference's wording"
    );
}

#[test]
fn a_client_that_stops_reading_loses_only_its_connection() {
    let config = ConnectionConfig {
        write_queue: 4,
        write_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let server = start(config);
    let mut stuck = StdStream::connect(&server.addr).unwrap();
    // Ask for 1 MiB answers and never read them: socket buffers and the queue fill up.
    let requests: Vec<u8> = (0..64)
        .flat_map(|i| raw_frame(&RemotingCommand::request(99, i), SerializeType::Json))
        .collect();
    stuck.write_all(&requests).unwrap();
    let mut good = StdStream::connect(&server.addr).unwrap();
    good.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for i in 0..20 {
        let request = RemotingCommand::request(105, i).with_field("x", i.to_string());
        good.write_all(&raw_frame(&request, SerializeType::Json)).unwrap();
        assert_eq!(
            read_frame(&mut good).unwrap().0.field("echo"),
            Some(i.to_string().as_str())
        );
    }
    // The stuck client is disconnected: draining its socket ends in EOF, with fewer than the
    // 64 MiB it asked for.
    std::thread::sleep(Duration::from_millis(800));
    stuck.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut total = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match stuck.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(err) => panic!("expected the server to close the stuck connection: {err}"),
        }
    }
    assert!(
        total < 64 << 20,
        "server gave up on the stuck client after {total} bytes"
    );
}
