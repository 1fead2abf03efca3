//! `codecbench`: cost of the remoting codec per request, on the frames real clients send.
//!
//! Decodes, `--iterations` times each, whole frames (length prefix, JSON or binary header, body)
//! as the connection's read loop does, and encodes the send response the broker writes back,
//! reporting nanoseconds per operation. The headers are the ones the upstream Java client 5.3.3
//! sends for a message (SEND_MESSAGE_V2, code 310: one-letter field names, properties with the
//! `\u0001`/`\u0002` separators JSON escapes) and for a pull (code 11), and the Go client's
//! send (code 310 with long field names). Single-threaded; every loop is bounded.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use apogee_broker::protocol::{RemotingCommand, SerializeType, frame};
use bytes::BytesMut;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "codecbench",
    about = "Nanoseconds per remoting frame decode and response encode"
)]
struct Opts {
    /// Operations per measurement.
    #[arg(long, default_value_t = 1_000_000)]
    iterations: u32,
    /// Measurements per case; the report gives the best and the median.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
}

/// A Java producer's SEND_MESSAGE_V2 header (the fields of a send with a key and a tag).
const JAVA_SEND: &str = concat!(
    r#"{"code":310,"extFields":{"a":"ProducerGroupName","b":"TopicTest","c":"TBW102","d":"4","#,
    r#""e":"2","f":"0","g":"1733472000000","h":"0","i":"KEYS\u0001OrderID188\u0002UNIQ_KEY\u0001"#,
    r#"7F0000010B5C18B4AAC2622C83D00000\u0002WAIT\u0001true\u0002TAGS\u0001TagA\u0002","j":"0","#,
    r#""k":"false","m":"false","n":"compat-broker"},"flag":0,"language":"JAVA","opaque":42,"#,
    r#""serializeTypeCurrentRPC":"JSON","version":475}"#
);

/// A Java push consumer's PULL_MESSAGE header.
const JAVA_PULL: &str = concat!(
    r#"{"code":11,"extFields":{"bname":"compat-broker","commitOffset":"0","consumerGroup":"#,
    r#""ConsumerGroup","expressionType":"TAG","maxMsgNums":"32","queueId":"1","queueOffset":"#,
    r#""1024","subVersion":"1733472000000","subscription":"*","suspendTimeoutMillis":"15000","#,
    r#""sysFlag":"3","topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":43,"#,
    r#""serializeTypeCurrentRPC":"JSON","version":475}"#
);

/// The Go client's send header (long names, numbers as strings).
const GO_SEND: &str = concat!(
    r#"{"code":310,"language":"GO","version":317,"opaque":44,"flag":0,"remark":"","extFields":{"#,
    r#""a":"go-producer","b":"TopicTest","c":"TBW102","d":"4","e":"0","f":"0","g":"1733472000000","#,
    r#""h":"0","i":"UNIQ_KEY\u0001C0A8000100002A9F0000000000000001\u0002TAGS\u0001TagA\u0002","#,
    r#""j":"0","k":"false","l":"0","m":"false"}}"#
);

/// A frame as a client writes it: length, serialize type and header length, header, body.
fn frame_of(header: &[u8], serialize: u8, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(8 + header.len() + body.len());
    let len = u32::try_from(4 + header.len() + body.len()).expect("small frame");
    out.extend_from_slice(&len.to_be_bytes());
    let word = (u32::from(serialize) << 24) | u32::try_from(header.len()).expect("small header");
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

/// Best and median of `rounds` timings of `iterations` calls of `op`, in ns per call.
fn measure(rounds: u32, iterations: u32, mut op: impl FnMut()) -> (f64, f64) {
    let mut per_op: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                op();
            }
            duration_ns(started.elapsed()) / f64::from(iterations)
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    (per_op[0], per_op[per_op.len() / 2])
}

fn duration_ns(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

fn decode_case(name: &str, opts: &Opts, frame_bytes: &BytesMut) -> anyhow::Result<()> {
    let mut buf = frame_bytes.clone();
    let (command, _) = frame::decode(&mut buf, frame::DEFAULT_MAX_FRAME)?.context("a whole frame")?;
    ensure!(!command.ext_fields.is_empty(), "{name}: no fields decoded");
    let (best, median) = measure(opts.rounds, opts.iterations, || {
        let mut buf = frame_bytes.clone();
        let decoded = frame::decode(&mut buf, frame::DEFAULT_MAX_FRAME);
        black_box(decoded.ok());
    });
    println!("{name:<32} {best:>8.0} ns best {median:>8.0} ns median");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    ensure!(
        opts.iterations > 0 && opts.rounds > 0,
        "--iterations and --rounds must be > 0"
    );
    let body = vec![b'x'; 1024];
    let java_send = frame_of(JAVA_SEND.as_bytes(), 0, &body);
    decode_case("decode java send (JSON, 1 KiB)", &opts, &java_send)?;
    decode_case(
        "decode java pull (JSON)",
        &opts,
        &frame_of(JAVA_PULL.as_bytes(), 0, &[]),
    )?;
    decode_case(
        "decode go send (JSON, 1 KiB)",
        &opts,
        &frame_of(GO_SEND.as_bytes(), 0, &body),
    )?;

    // The same send with the binary header, as the broker would read it from a client set to
    // ROCKETMQ serialization: decode the JSON once, re-encode it binary.
    let (command, _) = frame::decode(&mut java_send.clone(), frame::DEFAULT_MAX_FRAME)?.context("frame")?;
    let mut binary = BytesMut::new();
    frame::encode(&command, SerializeType::RocketMq, &mut binary);
    decode_case("decode java send (binary, 1 KiB)", &opts, &binary)?;

    let response = RemotingCommand::response_to(&command, 0)
        .with_field("msgId", "7F00000100002A9F0000000000001486")
        .with_field("queueId", 1)
        .with_field("queueOffset", 1024)
        .with_field("transactionId", "7F0000010B5C18B4AAC2622C83D00000")
        .with_field("MSG_REGION", "DefaultRegion")
        .with_field("TRACE_ON", "true");
    let (best, median) = measure(opts.rounds, opts.iterations, || {
        let mut out = BytesMut::with_capacity(512);
        frame::encode(black_box(&response), SerializeType::Json, &mut out);
        black_box(out);
    });
    println!(
        "{:<32} {best:>8.0} ns best {median:>8.0} ns median",
        "encode send response (JSON)"
    );
    Ok(())
}
