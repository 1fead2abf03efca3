//! One run of ClientCompat (`e2e/java/client-compat`, the upstream Java client driven from the
//! command line): its JVM, killed if the run is dropped, and the lines it prints, `WORD key=value
//! ...`, one event each, read as they come.

use std::{process::Command, sync::OnceLock};

pub use apogee_e2e::event_process::EventProcess as JavaRun;

const MAIN_CLASS: &str = "dev.apogee.clientcompat.Main";

/// ClientCompat's classpath, built on first use. A missing JDK or Maven fails the test rather
/// than skipping it: compatibility that is not checked is not known.
fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| apogee_e2e::java_tools::build_classpath("client-compat"))
}

/// Builds (or finds) ClientCompat's classpath before a scenario starts its clock.
pub fn prepare() {
    classpath();
}

/// Starts ClientCompat with `subcommand` and `args`.
pub fn java(subcommand: &str, args: &[String]) -> JavaRun {
    let what = format!("{subcommand} {}", args.join(" "));
    // user.home points at a scratch directory: nothing the client keeps lands in the real one.
    let home = tempfile::tempdir().expect("scratch user.home");
    let mut command = Command::new("java");
    command
        // A small heap and the quick JIT tier: runs are short and the machine is shared.
        .args([
            "-Xms64m",
            "-Xmx192m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
        ])
        .arg(format!("-Duser.home={}", home.path().display()))
        .arg("-cp")
        .arg(classpath())
        .arg(MAIN_CLASS)
        .arg(subcommand)
        .args(args)
        // The caller's RocketMQ settings must not leak in.
        .env_remove("ROCKETMQ_HOME")
        .env_remove("NAMESRV_ADDR");
    JavaRun::spawn(
        format!("java ({what}; a JDK 17 must be on PATH)"),
        &mut command,
        Box::new(home),
    )
}
