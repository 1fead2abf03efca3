//! StoreCompat, Apache RocketMQ's own store driven as a test oracle: built once per test process by
//! `e2e/java/store-compat/build.sh`, then run as one JVM per check.

use std::{
    io::{Read, Write},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use apogee_broker::store::StoreConfig;

use super::record::Output;

/// Longest one JVM run may take: startup, recovery, reads and the reference store's fixed 3 s
/// pause in `shutdown()`, on a loaded CI machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The oracle's classpath, building it on first use. A missing JDK or Maven fails the test
/// rather than skipping it: compatibility that is not checked is not known.
fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| apogee_e2e::java_tools::build_classpath("store-compat"))
}

/// The arguments every mode starts with: the directory and the file dimensions, which must
/// equal the writer's (the reference refuses files of any other size).
fn layout_args(mode: &str, config: &StoreConfig, topic: &str, queues: i32) -> Vec<String> {
    vec![
        mode.to_owned(),
        config.root_dir.display().to_string(),
        config.commit_log_segment_size.to_string(),
        config.consume_queue_file_size.to_string(),
        config.max_hash_slot_num.to_string(),
        config.max_index_num.to_string(),
        topic.to_owned(),
        queues.to_string(),
    ]
}

/// Opens the store at `config.root_dir` with the reference implementation, reads every message
/// of `queues` queues and looks each of `keys` up in its index.
pub fn read(config: &StoreConfig, topic: &str, queues: i32, keys: &[String]) -> Output {
    let mut stdin = keys.join("\n");
    stdin.push('\n');
    run(layout_args("read", config, topic, queues), &stdin)
}

/// Writes `count` messages round-robin over `queues` queues with the reference implementation
/// into a new store at `config.root_dir`; the output describes each message as stored.
pub fn write(config: &StoreConfig, topic: &str, queues: i32, count: usize) -> Output {
    let mut args = layout_args("write", config, topic, queues);
    args.push(count.to_string());
    run(args, "")
}

fn drain(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        from.read_to_string(&mut text).expect("read StoreCompat output");
        text
    })
}

fn wait(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("poll StoreCompat") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("StoreCompat {what} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run(args: Vec<String>, stdin: &str) -> Output {
    let what = args.join(" ");
    let started = Instant::now();
    let mut child = Command::new("java")
        // A small heap and the quick JIT tier: the runs are short and CI machines are shared.
        .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg("-cp")
        .arg(classpath())
        .arg("dev.apogee.compat.StoreCompat")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start java (a JDK 17 must be on PATH): {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    {
        // A run that fails before reading its input closes the pipe; its exit status and stderr
        // below say why, which a broken-pipe error here would hide.
        let mut input = child.stdin.take().expect("piped stdin");
        let _ = input.write_all(stdin.as_bytes());
    }
    let status = wait(&mut child, &what);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    assert!(
        status.success(),
        "StoreCompat {what} failed ({status}); its stderr (the reference store's log):\n{stderr}"
    );
    // On success the reference store's warnings are still worth a look when a check fails.
    eprintln!("StoreCompat {what}: {:.1?}\n{stderr}", started.elapsed());
    Output::parse(&stdout)
}
