//! Bad conditions with the real thing: a filesystem that fills up, a directory the process may
//! not write. Both need root (mount, setpriv), which CI has; without it they fail and say so.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use apogee_broker::store::{MessageStore, NotWritable, StoreConfig, StoreError};

use crate::harness::{message, read_all, runtime, settle};

/// A tmpfs of a given size mounted on a temp dir for the life of the value.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root): {status}"
        );
        Self { dir }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remount tmpfs: {status}");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[test]
fn full_disk_refuses_writes_loses_nothing_and_recovers() {
    let fs = Tmpfs::mount("512k");
    let root = fs.path().join("store");
    // Retention stays out of this test: on a full disk it would (rightly) delete the oldest
    // segments forcibly, which is tested in the retention suite; here nothing may go.
    let config = StoreConfig {
        delete_when: vec![],
        disk_max_used_space_ratio: 1.0,
        disk_space_clean_forcibly_ratio: 1.0,
        disk_space_warning_level_ratio: 1.0,
        ..StoreConfig::small(&root)
    };
    let store = MessageStore::open(config.clone()).unwrap();
    let rt = runtime();
    let mut acked = Vec::new();
    let mut failure = None;
    for seq in 0..2000u64 {
        match rt.block_on(store.put(message("Full", 0, seq, 1024, None))) {
            Ok(_) => acked.push(seq),
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    let failure = failure.expect("a 512 KiB filesystem must fill up");
    let text = failure.to_string();
    match &failure {
        StoreError::Io { source, .. } => {
            assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {text}");
            assert!(
                text.contains(root.to_str().unwrap()),
                "error names the file: {text}"
            );
        }
        StoreError::NotWritable(NotWritable::DispatchFailed) => {}
        other => panic!("unexpected error on a full disk: {other}"),
    }
    assert!(
        acked.len() > 100,
        "wrote {} records before filling up",
        acked.len()
    );
    // Make room: the store resumes on its own and everything acknowledged is there.
    fs.resize("4m");
    let resumed = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        rt.block_on(store.put(message("Full", 0, acked.len() as u64, 1024, None)))
            .is_ok()
    });
    assert!(resumed, "writes resume once space is available");
    acked.push(acked.len() as u64);
    settle(&store);
    assert_eq!(read_all(&store, "Full", 0), acked);
    store.shutdown().unwrap();
    let reopened = MessageStore::open(config).unwrap();
    assert_eq!(
        read_all(&reopened, "Full", 0),
        acked,
        "nothing acknowledged was lost or corrupted"
    );
}

fn apogee_as_nobody(dir: &Path, args: &[&str]) -> std::process::Output {
    // A copy nobody can execute, whatever the permissions of the build directory.
    let bin: PathBuf = dir.join("apogee");
    std::fs::copy(env!("CARGO_BIN_EXE_apogee"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(args)
        .output()
        .expect("run setpriv (util-linux)")
}

#[test]
fn permission_denied_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = dir.path().join("store");
    let out = apogee_as_nobody(dir.path(), &["inspect", "--store", store.to_str().unwrap()]);
    assert_denied(&out, &store);

    // An existing store written by another user: readable, not writable.
    let opened = MessageStore::open(StoreConfig::small(&store)).unwrap();
    runtime()
        .block_on(opened.put(message("P", 0, 0, 10, None)))
        .unwrap();
    opened.shutdown().unwrap();
    for entry in walk(&store) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let before = std::fs::read(store.join("commitlog/00000000000000000000")).unwrap();
    let out = apogee_as_nobody(dir.path(), &["inspect", "--store", store.to_str().unwrap()]);
    assert_denied(&out, &store);
    assert_eq!(
        std::fs::read(store.join("commitlog/00000000000000000000")).unwrap(),
        before
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The run failed with a permission error that names the store path.
fn assert_denied(out: &std::process::Output, store: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail: {stderr}");
    assert!(
        stderr.contains("Permission denied") && stderr.contains(store.to_str().unwrap()),
        "{stderr}"
    );
}
