//! Starting and reaping one child process with tokio's `Command`, without
//! `unsafe` code: the spawner used unless the `fast-spawn` feature is on (on
//! Linux), where `process.rs` starts children with `clone` instead. That
//! module says what each costs (bench/README.md has the figures).
//!
//! The child gets the pipes `spawn.rs` made (so a small context is still
//! written before it starts), the environment built there (`env_clear`, then
//! every entry), its working folder, and a process group of its own
//! (`process_group(0)`). The standard library starts it with glibc's
//! `posix_spawn`, which blocks every signal in the child until `exec` and
//! resets its caught signals first (so no handler of the interpreter runs in
//! it), and gives it SIGPIPE's default action, as `process.rs` does.
//!
//! The exit is awaited through Tokio (a pidfd, or `SIGCHLD`). A child dropped
//! before it was reaped goes to Tokio's queue of orphans, reaped as the
//! runtime runs on.
//!
//! Two differences with `process.rs`:
//!
//! - The child starts with the signal mask of the thread that spawns it (the
//!   standard library leaves it as it is), where `process.rs` always gives it
//!   an empty one. The interpreter blocks no signal on its threads; a host
//!   that does passes its mask on to commands (one that blocks SIGTERM is
//!   still killed, after [`kill_grace`](super::LocalOptions::kill_grace)).
//! - A job-control stop (Ctrl-Z at the terminal) sent to the interpreter's
//!   process group in the instant between the child's start and its move to
//!   a group of its own stops the child before `exec`, in a group no `fg`
//!   continues, while the thread that spawns it waits for that `exec`.
//!   `posix_spawn` offers no way to drop such a pending stop, as `process.rs`
//!   does (`discard_stops`).

use std::ffi::{CStr, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};

use super::spawn::Launch;

/// A started child, the leader of a process group of its own.
#[derive(Debug)]
pub(super) struct Process {
    child: Child,
    /// Kept: tokio forgets the id once the child is reaped.
    pid: libc::pid_t,
}

impl Process {
    /// Starts `launch.program` as the leader of a new process group. Needs a
    /// Tokio runtime (the exit is registered with it).
    pub fn spawn(launch: Launch) -> io::Result<Process> {
        let mut command = Command::new(text(launch.program));
        if let Some((first, rest)) = launch.args.split_first() {
            command.arg0(text(first));
            command.args(rest.iter().map(|arg| text(arg)));
        }
        command.env_clear();
        for entry in launch.env {
            let entry = entry.to_bytes();
            // every entry `spawn.rs` builds has a `=`
            if let Some(at) = entry.iter().position(|&b| b == b'=') {
                let (key, value) = (&entry[..at], &entry[at + 1..]);
                command.env(OsStr::from_bytes(key), OsStr::from_bytes(value));
            }
        }
        if let Some(cwd) = launch.cwd {
            command.current_dir(text(cwd));
        }
        let [stdin, stdout, stderr] = launch.stdio;
        command
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .process_group(0);
        let child = command.spawn()?;
        let pid = child
            .id()
            .and_then(|id| libc::pid_t::try_from(id).ok())
            .ok_or_else(|| io::Error::other("the child has no process id"))?;
        Ok(Process { child, pid })
    }

    /// The child's process id, which is also its process group's id.
    pub fn id(&self) -> libc::pid_t {
        self.pid
    }

    /// Waits for the child to exit and reaps it. Cancel-safe; once reaped,
    /// returns the same status again.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }
}

fn text(text: &CStr) -> &OsStr {
    OsStr::from_bytes(text.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::io::{BufRead, Read};
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;

    fn c(text: &str) -> CString {
        CString::new(text).unwrap()
    }

    /// Starts `program` with `args` (its first word included), stdin from
    /// /dev/null and stdout and stderr into a pipe.
    fn start(program: &str, args: &[&str], cwd: &CStr) -> io::Result<(Process, std::fs::File)> {
        let program = c(program);
        let args: Vec<CString> = args.iter().map(|a| c(a)).collect();
        let null = std::fs::File::open("/dev/null")?;
        let (reader, writer) = io::pipe()?;
        let writer = OwnedFd::from(writer);
        let launch = Launch {
            program: &program,
            args: &args,
            env: &[c"FLOW_T_SET=yes=1", c"PATH=/usr/bin:/bin"],
            cwd: Some(cwd),
            stdio: [null.into(), writer.try_clone()?, writer],
        };
        let process = Process::spawn(launch)?;
        Ok((process, std::fs::File::from(OwnedFd::from(reader))))
    }

    /// Whether `pid` is alive (not gone, not a zombie).
    fn alive(pid: i32) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        state.is_some_and(|state| state != "Z" && state != "X")
    }

    /// Waits until `done` holds, failing after 2 minutes: a guard against a
    /// test that never ends, not a bound on how fast anything is.
    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "hang guard: {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_child_starts_in_its_own_group_and_folder_with_clean_signals() {
        let script = "echo $0 $$ $(ps -o pgid= -p $$) $PWD $FLOW_T_SET; exit 3";
        let (mut process, mut out) = start("/bin/sh", &["my-sh", "-c", script], c"/").unwrap();
        let status = process.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        // reaped: asked again, the same status
        assert_eq!(process.wait().await.unwrap().code(), Some(3));
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        let first: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
        let pid = process.id().to_string();
        assert_eq!(first, ["my-sh", &pid, &pid, "/", "yes=1"], "{text}");
        // the signal state exec'd with, read by the child itself: nothing
        // blocked (as this thread blocks nothing; see the module
        // documentation), and SIGPIPE, which every Rust program ignores, not
        // ignored
        let (mut process, mut out) =
            start("/bin/cat", &["cat", "/proc/self/status"], c"/").unwrap();
        assert!(process.wait().await.unwrap().success());
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        let mask = |name: &str| super::super::status_mask(&text, name);
        assert_eq!(mask("SigBlk:"), Some(0), "nothing blocked: {text}");
        let ignored = mask("SigIgn:").expect("SigIgn");
        assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "{text}");
    }

    #[tokio::test]
    async fn a_failed_exec_or_chdir_is_an_error() {
        let error = start("/no/such/program", &["program"], c"/").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
        let error = start("/bin/true", &["true"], c"/no/such/folder").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    }

    #[tokio::test]
    async fn killing_the_group_kills_a_grandchild_and_the_child_is_reaped() {
        let script = "sleep 3600 & echo $!; wait";
        let (mut process, out) = start("/bin/sh", &["sh", "-c", script], c"/").unwrap();
        let mut line = String::new();
        io::BufReader::new(out).read_line(&mut line).unwrap();
        let grandchild: i32 = line.trim().parse().unwrap();
        assert!(alive(grandchild), "{line}");
        killpg(Pid::from_raw(process.id()), Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(120), process.wait())
            .await
            .expect("hang guard: the shell did not exit")
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        until("the grandchild is still alive", || !alive(grandchild)).await;
        // reaped: not even a zombie is left
        let pid = process.id();
        until("the shell was not reaped", || {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .await;
    }

    #[tokio::test]
    async fn a_dropped_process_is_reaped_in_the_background() {
        let (process, _out) = start("/bin/sleep", &["sleep", "30"], c"/").unwrap();
        let pid = process.id();
        killpg(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        drop(process);
        until("the dropped child was not reaped", || {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .await;
    }
}
