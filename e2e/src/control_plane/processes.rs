//! The control plane's child processes, and the guarantee that none outlives the test process.
//!
//! Each component runs under `setpriv --pdeathsig KILL` (util-linux): setpriv asks the kernel
//! to SIGKILL it when its parent goes away, then execs the component, which keeps that
//! setting. That covers the exits a `Drop` never sees: a panic that aborts, a test binary
//! killed by a timeout, the shared instance living in a static (statics are never dropped).
//! Doing the `prctl` ourselves would need `unsafe` (`pre_exec`), which the workspace forbids.
//!
//! The kernel's "parent" here is the *thread* that forked the child, not the process: a child
//! spawned from a test's thread would be killed when that test ends, even while the shared
//! instance still serves other tests. So every spawn goes through one launcher thread that
//! lives as long as the process.

use std::{
    fs::{self, File},
    io::{self, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{OnceLock, mpsc},
    thread,
};

use anyhow::{Context, Result, bail};

/// A spawn request for the launcher thread, and where to send the result.
struct Request {
    command: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// The launcher thread's inbox; the thread runs until the process exits, because this sender
/// (in a static) is never dropped.
static LAUNCHER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();

/// Spawns `command` from the launcher thread.
pub(crate) fn spawn(command: Command) -> Result<Child> {
    let launcher = LAUNCHER.get_or_init(|| {
        let (requests, inbox) = mpsc::channel::<Request>();
        thread::Builder::new()
            .name("control-plane-launcher".to_owned())
            .spawn(move || {
                for mut request in inbox {
                    // The requester may have given up waiting; nothing to do then.
                    let _ = request.reply.send(request.command.spawn());
                }
            })
            .expect("cannot start the control plane's launcher thread");
        requests
    });
    let (reply, answer) = mpsc::channel();
    launcher
        .send(Request { command, reply })
        .ok()
        .context("the control plane's launcher thread is gone")?;
    answer
        .recv()
        .context("the control plane's launcher thread dropped a request")?
        .map_err(anyhow::Error::from)
}

/// Fails with an installation hint when `setpriv` (util-linux) is not on PATH.
pub(crate) fn check_setpriv() -> Result<()> {
    match Command::new("setpriv").arg("--help").output() {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("--pdeathsig") => Ok(()),
        Ok(_) => bail!(
            "setpriv on PATH has no --pdeathsig option; the control plane needs util-linux 2.33 \
             or newer so its processes die with the test process"
        ),
        Err(e) => bail!(
            "cannot run setpriv ({e}); install util-linux (Debian package util-linux): the \
             control plane starts its processes through `setpriv --pdeathsig KILL`"
        ),
    }
}

/// One running component, its output going to a log file. Dropping it kills the process.
#[derive(Debug)]
pub(crate) struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Process {
    /// Starts `program args...` under `setpriv --pdeathsig KILL`, stdout and stderr appended to
    /// `log`.
    pub(crate) fn start(name: &'static str, program: &Path, args: &[String], log: PathBuf) -> Result<Self> {
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new("setpriv");
        command
            .arg("--pdeathsig")
            .arg("KILL")
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = spawn(command).with_context(|| format!("cannot start {name} ({})", program.display()))?;
        Ok(Self {
            name,
            child,
            log,
            exited: None,
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status once the process has exited (it should not, while the plane runs).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Kills the process and reaps it.
    pub(crate) fn stop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `bytes` of a log file, from a line start, for failure messages.
pub(crate) fn tail(path: &Path, bytes: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("({} does not exist)", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(bytes);
    let mut text = String::new();
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut raw = Vec::new();
    let _ = file.read_to_end(&mut raw);
    text.push_str(&String::from_utf8_lossy(&raw));
    if start > 0
        && let Some(newline) = text.find('\n')
    {
        text.drain(..=newline);
    }
    text
}

/// Removes `dir` once this process has exited, however it exits, and the components have died
/// with it. A shared control plane sits in a static that is never dropped, so its temporary
/// directory (etcd preallocates 64 MiB of WAL) would otherwise stay behind after every run.
///
/// A shell waits on a pipe from us: end-of-file means we are gone. It then waits (bounded) for
/// the pids listed in `dir/pids` to disappear and removes the directory. It is spawned directly,
/// without a death signal, so it survives us.
#[derive(Debug)]
pub(crate) struct Janitor {
    child: Child,
}

impl Janitor {
    pub(crate) fn start(dir: &Path) -> Result<Self> {
        // Waits at most 20 s for the components; a zombie nobody reaps counts as gone then.
        let script = r#"read -r _ || true
for _ in $(seq 200); do
  alive=0
  for pid in $(cat "$1/pids" 2>/dev/null); do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
rm -rf "$1""#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("control-plane-janitor")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the control plane's clean-up shell")?;
        Ok(Self { child })
    }

    /// Records a pid the janitor must wait for.
    pub(crate) fn watch(dir: &Path, pid: u32) -> Result<()> {
        let path = dir.join("pids");
        let mut pids = fs::read_to_string(&path).unwrap_or_default();
        pids.push_str(&format!("{pid}\n"));
        fs::write(&path, pids).with_context(|| format!("cannot write {}", path.display()))
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        // Closing its stdin is the signal; the owner removes the directory itself on drop, so
        // the shell finds nothing left to do.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
