//! The reference NameServer and Broker (Apache RocketMQ's own, `e2e/java/reference-broker`) as
//! host processes on loopback: started once per test binary, on first use, and shared by every
//! scenario (each uses its own topics and groups).

use std::{
    fs,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use crate::{broker_probe, scenario::targets::BrokerNames};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// The reference broker's names (the Java suite's Apogee node takes them too).
pub const NAMES: BrokerNames = BrokerNames {
    cluster: "CompatCluster",
    broker: "compat-broker",
};

/// broker.conf lines for the reference alone, after the shared ones ([`NAMES`] and
/// `scenario::targets::BROKER_PROPERTIES`): loopback only, a small index, and no load shedding. The reference
/// answers SYSTEM_BUSY (`[TIMEOUT_CLEAN_QUEUE]broker busy`) to a send that waited more than
/// `waitTimeMillsInSendQueue` (200 ms) in its queue, and (`[REJECTREQUEST]system busy`) while a
/// write has held the commit-log lock over `osPageCacheBusyTimeOutMills` (1 s); a shared 2-core
/// machine sees both, and with the client's retries off that fails a scenario that tests
/// the protocol, not the broker's load shedding. The reference also writes the records that
/// mark a transaction ended (op messages) in batches every `transactionOpBatchInterval` (3 s),
/// so with the shared `transactionTimeOut` of 1 s it would back-check transactions already
/// committed or rolled back; every 100 ms keeps that record well within the timeout.
const REFERENCE_ONLY: &str = "\
bindAddress=127.0.0.1
brokerIP1=127.0.0.1
maxHashSlotNum=10000
maxIndexNum=40000
waitTimeMillsInSendQueue=10000
osPageCacheBusyTimeOutMills=10000
transactionOpBatchInterval=100
";

/// Runs a JVM and ends it when the harness goes away, however it goes (a passing run, a panic,
/// SIGKILL): the harness holds the only write end of this shell's stdin, the kernel closes it
/// when the harness exits, `cat` sees EOF, and the shell stops the JVM (TERM, then KILL after
/// 10 s) and removes its scratch directory. A JVM that exits by itself is recorded in
/// `exit-status` and its logs are kept until the harness goes away. (`wait -n -p` needs bash
/// 5.1 or later.)
const WATCHDOG: &str = r#"
dir=$1; shift
# An asynchronous command's stdin is /dev/null unless redirected: keep the lifeline on fd 3.
exec 3<&0
"$@" >"$dir/stdout.log" 2>"$dir/stderr.log" </dev/null 3<&- &
jvm=$!
cat <&3 >/dev/null &
eof=$!
wait -n -p ended "$jvm" "$eof"
status=$?
if [ "$ended" = "$jvm" ]; then
  echo "$status" >"$dir/exit-status"
  wait "$eof"
else
  kill -TERM "$jvm" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$jvm" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$jvm" 2>/dev/null
  wait "$jvm"
fi
rm -rf "$dir"
"#;

/// Where the reference processes keep their files: the memory filesystem `/dev/shm` when it is
/// there, else the temp directory. The reference broker refuses every write (`the disk is full`)
/// while the partition of its store is over 90 % used (`diskSpaceWarningLevelRatio`, which it
/// clamps to at most 90 %), counted as `df` does; on a shared CI disk, with this workspace's build
/// outputs and caches on it, that happened mid-run once, and every later reference scenario
/// failed. Its store here is small (16 MiB commit-log segments, a 40 000-entry index) and goes
/// with the process.
fn scratch_parent() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let writable = tempfile::tempdir_in(shm).is_ok();
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// One reference server process under [`WATCHDOG`].
#[derive(Debug)]
struct Watched {
    name: &'static str,
    dir: PathBuf,
    _shell: Child,
    /// Held, never written: closing it (dropping this) stops the JVM.
    _lifeline: ChildStdin,
}

impl Watched {
    /// Starts `main_class -c <dir>/<name>.conf`, the file holding what `conf(dir)` returns.
    fn start(name: &'static str, main_class: &str, heap: &str, conf: impl FnOnce(&Path) -> String) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("apogee-reference-{name}-"))
            .tempdir_in(scratch_parent())
            .expect("scratch directory")
            .keep();
        let home = dir.join("home");
        fs::create_dir_all(&home).expect("home directory");
        let conf_path = dir.join(format!("{name}.conf"));
        fs::write(&conf_path, conf(&dir)).expect("write config");
        let mut shell = Command::new("bash")
            .args(["-c", WATCHDOG, "watchdog"])
            .arg(&dir)
            .arg("java")
            .args([heap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Duser.home={}", home.display()))
            .arg("-cp")
            .arg(reference_classpath())
            .arg(main_class)
            .arg("-c")
            .arg(&conf_path)
            // Any directory will do (see e2e/java/reference-broker/build.sh).
            .env("ROCKETMQ_HOME", &home)
            .env_remove("NAMESRV_ADDR")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start bash for the reference {name}: {e}"));
        let lifeline = shell.stdin.take().expect("piped stdin");
        Self {
            name,
            dir,
            _shell: shell,
            _lifeline: lifeline,
        }
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    /// Waits for the startup banner on stdout.
    fn wait_for(&self, banner: &str) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if self.read("stdout.log").contains(banner) {
                return;
            }
            let exited = self.read("exit-status");
            if !exited.is_empty() || Instant::now() > deadline {
                panic!(
                    "the reference {} did not print {banner:?} within {STARTUP_TIMEOUT:?} \
                     (exit status {exited:?})\n{}",
                    self.name,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        format!(
            "--- reference {} (exit status {:?}) stdout ---\n{}\n--- reference {} stderr ---\n{}",
            self.name,
            self.read("exit-status").trim(),
            self.read("stdout.log"),
            self.name,
            self.read("stderr.log")
        )
    }
}

/// The shared NameServer + Broker.
#[derive(Debug)]
pub struct Reference {
    pub namesrv: SocketAddr,
    pub broker: SocketAddr,
    namesrv_proc: Watched,
    broker_proc: Watched,
}

impl Reference {
    /// What both servers logged so far, for a failed test's output.
    pub fn logs(&self) -> String {
        format!("{}\n{}", self.namesrv_proc.logs(), self.broker_proc.logs())
    }
}

fn reference_classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| apogee_e2e::java_tools::build_classpath("reference-broker"))
}

/// The shared reference NameServer + Broker, started on first use.
pub fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(start_reference)
}

fn start_reference() -> Reference {
    let started = Instant::now();
    let namesrv_port = free_ports(&[0]);
    let namesrv = SocketAddr::from(([127, 0, 0, 1], namesrv_port));
    let namesrv_proc = Watched::start(
        "namesrv",
        "org.apache.rocketmq.namesrv.NamesrvStartup",
        "-Xmx128m",
        |dir| {
            format!(
                "listenPort={namesrv_port}\nbindAddress=127.0.0.1\nkvConfigPath={}\n",
                dir.join("kvConfig.json").display()
            )
        },
    );
    namesrv_proc.wait_for("The Name Server boot success");
    // The broker also listens on listenPort - 2 (the VIP channel) and listenPort + 1 (HA).
    let broker_port = free_ports(&[-2, 0, 1]);
    let broker = SocketAddr::from(([127, 0, 0, 1], broker_port));
    let broker_proc = Watched::start(
        "broker",
        "org.apache.rocketmq.broker.BrokerStartup",
        "-Xmx256m",
        |dir| {
            let store = dir.join("store");
            format!(
                "{}{REFERENCE_ONLY}namesrvAddr={namesrv}\nlistenPort={broker_port}\n\
                 storePathRootDir={}\nstorePathCommitLog={}\n",
                NAMES.properties(),
                store.display(),
                store.join("commitlog").display()
            )
        },
    );
    broker_proc.wait_for("boot success");
    // The banner does not mean the NameServer knows the broker: its startup registration goes
    // only to NameServers its remoting client has already found reachable (an asynchronous
    // check), so it often goes nowhere and the next one comes 10 s after startup (see
    // e2e/java/reference-broker/build.sh). Until then clients find no route at all.
    let routed = Instant::now();
    assert!(
        broker_probe::route_within(&namesrv.to_string(), "TBW102", STARTUP_TIMEOUT),
        "the reference NameServer had no route for TBW102 {STARTUP_TIMEOUT:?} after the broker \
         started\n{}",
        broker_proc.logs()
    );
    eprintln!("route for TBW102 after {:.1?}", routed.elapsed());
    eprintln!(
        "reference NameServer {namesrv} and Broker {broker} up in {:.1?}",
        started.elapsed()
    );
    Reference {
        namesrv,
        broker,
        namesrv_proc,
        broker_proc,
    }
}

/// A loopback port `p` such that `p + d` is free for every `d` in `offsets` (bounded tries).
fn free_ports(offsets: &[i32]) -> u16 {
    for _ in 0..100 {
        let base = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("an ephemeral loopback port")
            .port();
        let ports: Option<Vec<u16>> = offsets
            .iter()
            .map(|d| u16::try_from(i32::from(base) + d).ok())
            .collect();
        let Some(ports) = ports else { continue };
        if ports.iter().all(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok()) {
            return base;
        }
    }
    panic!("found no free loopback ports at offsets {offsets:?} in 100 tries");
}
