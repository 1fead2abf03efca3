//! Java tools the suites drive (the reference store, mqadmin): each lives in `e2e/java/<name>/`
//! with a `build.sh` that fetches and builds it into `${APOGEE_CACHE:-$HOME/.cache/apogee}` and
//! prints its classpath.

use std::{path::Path, process::Command, time::Instant};

/// Runs `e2e/java/<name>/build.sh` and returns the classpath it prints. A missing JDK or Maven
/// fails the calling test rather than skipping it: compatibility that is not checked is not known.
pub fn build_classpath(name: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("java")
        .join(name)
        .join("build.sh");
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}). It needs java and javac (JDK 17) and mvn on PATH, and Maven Central \
         while its cache (${{APOGEE_CACHE:-$HOME/.cache/apogee}}) is cold:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let classpath = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!classpath.is_empty(), "{} printed no classpath", script.display());
    eprintln!("{name} ready in {:.1?}", started.elapsed());
    classpath
}
