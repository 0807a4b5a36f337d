//! Starting and reaping one child process, the fast way.
//!
//! The standard library starts a child with `posix_spawn`, and glibc's
//! `posix_spawn` resets every signal's handler in the child before `exec`:
//! about 130 system calls, during which the parent thread is suspended.
//! Measured on 2 cores, 10,000 `true` commands two at a time take 3.6 s that
//! way and 3.4 s with the plain `clone(CLONE_VM | CLONE_VFORK)` and `exec`
//! below (`cargo bench --bench sh_spawn` compares them). This is the one
//! place of the crate with `unsafe` code.
//!
//! The child shares the parent's memory until it calls `exec`, on a stack of
//! its own, while the parent thread is suspended ([`CLONE_VFORK`]). It makes
//! only async-signal-safe calls on data prepared beforehand: no allocation,
//! no lock, nothing that can panic. Signals are blocked from before the
//! `clone` until just before the `exec`, so no handler of the parent runs in
//! the child while it sets up; `exec` then resets every handler.
//!
//! A child is reaped by [`Process::wait`]. One dropped before that is queued
//! and reaped when the next child starts, like Tokio's orphan queue.
//!
//! [`CLONE_VFORK`]: libc::CLONE_VFORK
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::ptr;
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// What to start: everything the child needs, prepared by the parent.
#[derive(Debug)]
pub(super) struct Launch<'a> {
    /// The program's path, absolute.
    pub program: &'a CStr,
    /// `argv`, its first word included.
    pub args: &'a [CString],
    /// Variables to set (`KEY=VALUE`) over the inherited environment; a later
    /// one wins over an earlier one with the same key.
    pub set_env: &'a [CString],
    /// Inherited variables to leave out.
    pub remove_env: &'a [&'a str],
    /// The working folder; the parent's when `None`.
    pub cwd: Option<&'a CStr>,
    /// The child's standard input, output and error.
    pub stdio: [BorrowedFd<'a>; 3],
}

/// A started child, the leader of a process group of its own.
#[derive(Debug)]
pub(super) struct Process {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
    watch: Option<Watch>,
}

/// How the end of a child is awaited: its pidfd in Tokio's reactor, or, where
/// the kernel has no pidfds (before Linux 5.3), `SIGCHLD`.
#[derive(Debug)]
enum Watch {
    Pidfd(AsyncFd<OwnedFd>),
    Sigchld(Signal),
}

/// Children whose [`Process`] was dropped before they were reaped.
static ORPHANS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

/// The child's stack: it only makes a handful of calls into libc.
const STACK_SIZE: usize = 64 * 1024;

impl Process {
    /// Starts `launch.program` as the leader of a new process group.
    pub fn spawn(launch: &Launch) -> io::Result<Process> {
        reap_orphans();
        let argv = null_terminated(launch.args.iter().map(|arg| arg.as_ptr()));
        let envp = environment(launch.set_env, launch.remove_env);
        // never read by the parent, so left uninitialised
        let mut stack = Vec::<u8>::with_capacity(STACK_SIZE);
        let mut child = ChildArgs {
            program: launch.program.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            cwd: launch.cwd.map_or(ptr::null(), CStr::as_ptr),
            stdio: launch.stdio.map(|fd| fd.as_raw_fd()),
            // SAFETY: sigset_t is plain data; filled in below before use
            mask: unsafe { std::mem::zeroed() },
            error: 0,
        };
        // SAFETY: the stack outlives the child's use of it (the parent is
        // suspended until the child has called exec or exited); `child` and
        // the arrays it points to stay alive and unmoved for as long; the
        // child function only makes async-signal-safe calls.
        let pid = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut child.mask);
            let top = stack.spare_capacity_mut().as_mut_ptr().add(STACK_SIZE);
            let top = top.sub(top as usize % 16).cast::<c_void>();
            let pid = libc::clone(
                child_main,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&raw mut child).cast::<c_void>(),
            );
            let clone_error = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &child.mask, ptr::null_mut());
            if pid == -1 {
                return Err(clone_error);
            }
            pid
        };
        // SAFETY: the child has exec'd or exited; nothing writes `error` now
        let error = unsafe { ptr::read_volatile(&raw const child.error) };
        if error != 0 {
            // the child exited with status 127 right after setting `error`
            let mut status = 0;
            // SAFETY: waiting for our own child
            while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
                && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
            {}
            return Err(io::Error::from_raw_os_error(error));
        }
        Ok(Process {
            pid,
            status: None,
            watch: None,
        })
    }

    /// The child's process id, which is also its process group's id.
    pub fn id(&self) -> libc::pid_t {
        self.pid
    }

    /// The child's exit status when it has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = reap(self.pid)?;
        }
        Ok(self.status)
    }

    /// Waits for the child to exit and reaps it. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                self.watch = None;
                return Ok(status);
            }
            match &mut self.watch {
                // checked once more above, so an exit just before the watch
                // began is not missed
                None => self.watch = Some(Watch::new(self.pid)?),
                Some(Watch::Pidfd(fd)) => fd.readable().await?.clear_ready(),
                Some(Watch::Sigchld(signal)) => {
                    signal.recv().await;
                }
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.status.is_none() && !matches!(reap(self.pid), Ok(Some(_))) {
            ORPHANS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(self.pid);
        }
    }
}

impl Watch {
    fn new(pid: libc::pid_t) -> io::Result<Watch> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd >= 0 {
            let fd = c_int::try_from(fd).map_err(io::Error::other)?;
            // SAFETY: the kernel just returned this fd, and nothing else owns
            // it; the AsyncFd owns it from then on, so it stays open as long
            let watch = unsafe {
                AsyncFd::register_with_interest(OwnedFd::from_raw_fd(fd), Interest::READABLE)
            };
            return match watch {
                Ok(fd) => Ok(Watch::Pidfd(fd)),
                Err(error) => Err(error.into_parts().1),
            };
        }
        Ok(Watch::Sigchld(signal(SignalKind::child())?))
    }
}

/// Reaps `pid` if it has exited.
fn reap(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child, without blocking
        match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
            0 => return Ok(None),
            -1 => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            _ => return Ok(Some(ExitStatus::from_raw(status))),
        }
    }
}

/// Reaps the orphans that have exited since; the others stay queued.
fn reap_orphans() {
    let Ok(mut orphans) = ORPHANS.try_lock() else {
        return; // another thread is at it
    };
    orphans.retain(|&pid| matches!(reap(pid), Ok(None)));
}

fn null_terminated(pointers: impl Iterator<Item = *const c_char>) -> Vec<*const c_char> {
    pointers.chain(std::iter::once(ptr::null())).collect()
}

unsafe extern "C" {
    /// The process's environment, as `execve` wants it.
    static environ: *const *const c_char;
}

/// The child's environment: the inherited one without `remove` and the keys
/// of `set`, then `set` (the last of each key).
///
/// Reads the process environment without a lock, as libc's `getenv` does:
/// Rust makes changing it (`std::env::set_var`) `unsafe` for that reason.
fn environment(set: &[CString], remove: &[&str]) -> Vec<*const c_char> {
    let key =
        |entry: &[u8]| -> usize { entry.iter().position(|&b| b == b'=').unwrap_or(entry.len()) };
    let replaced = |entry: &[u8]| {
        let name = &entry[..key(entry)];
        remove.iter().any(|r| r.as_bytes() == name)
            || set
                .iter()
                .any(|s| &s.as_bytes()[..key(s.as_bytes())] == name)
    };
    let mut inherited = Vec::new();
    // SAFETY: `environ` is a null-terminated array of C strings
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            if !replaced(CStr::from_ptr(*entry).to_bytes()) {
                inherited.push(*entry);
            }
            entry = entry.add(1);
        }
    }
    let own = set.iter().enumerate().filter(|(i, s)| {
        let name = &s.as_bytes()[..key(s.as_bytes())];
        !set[i + 1..]
            .iter()
            .any(|later| &later.as_bytes()[..key(later.as_bytes())] == name)
    });
    null_terminated(inherited.into_iter().chain(own.map(|(_, s)| s.as_ptr())))
}

/// What the child function reads, in the parent's memory.
struct ChildArgs {
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    stdio: [RawFd; 3],
    /// The parent thread's signal mask, restored just before `exec`.
    mask: libc::sigset_t,
    /// Why the child could not `exec` (an errno), set just before it exits.
    error: c_int,
}

/// The child, from `clone` to `exec`. See the module documentation for what
/// it may do.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` of the suspended parent
    unsafe {
        let args = &mut *arg.cast::<ChildArgs>();
        if libc::setpgid(0, 0) != 0 {
            fail(args);
        }
        for (target, &fd) in (0..).zip(&args.stdio) {
            // dup2 onto itself would keep the close-on-exec flag
            let done = if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target)
            };
            if done == -1 {
                fail(args);
            }
        }
        if !args.cwd.is_null() && libc::chdir(args.cwd) != 0 {
            fail(args);
        }
        // Rust programs ignore SIGPIPE, and an ignored signal stays ignored
        // across exec; commands expect the default (as std's spawn does)
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::pthread_sigmask(libc::SIG_SETMASK, &args.mask, ptr::null_mut());
        libc::execve(args.program, args.argv, args.envp);
        fail(args)
    }
}

/// Records errno for the parent and exits the child.
unsafe fn fail(args: &mut ChildArgs) -> ! {
    // SAFETY: errno is the suspended parent thread's, readable here
    unsafe {
        args.error = *libc::__errno_location();
        libc::_exit(127)
    }
}

/// Sets `O_NONBLOCK` on a fresh pipe end (one `fcntl`, as it has no other
/// status flags to keep).
pub(super) fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn c(text: &str) -> CString {
        CString::new(text).unwrap()
    }

    #[test]
    fn the_environment_is_inherited_with_changes() {
        let set = [c("FLOW_T_A=1"), c("FLOW_T_B=2"), c("FLOW_T_A=3")];
        let envp = environment(&set, &["PATH"]);
        assert!(envp.last().is_some_and(|p| p.is_null()));
        let entries: Vec<String> = envp[..envp.len() - 1]
            .iter()
            // SAFETY: every entry but the last is a C string
            .map(|&p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
            .collect();
        assert!(entries.iter().any(|e| e == "FLOW_T_A=3"), "{entries:?}");
        assert!(entries.iter().any(|e| e == "FLOW_T_B=2"), "{entries:?}");
        assert!(!entries.iter().any(|e| e == "FLOW_T_A=1"), "{entries:?}");
        assert!(
            !entries.iter().any(|e| e.starts_with("PATH=")),
            "{entries:?}"
        );
        if let Some(home) = std::env::var_os("HOME") {
            let home = format!("HOME={}", home.to_string_lossy());
            assert!(entries.contains(&home), "{entries:?}");
        }
    }

    /// Starts `args` with stdin from /dev/null and stdout into a pipe.
    fn start(args: &[&str]) -> io::Result<(Process, std::fs::File)> {
        let args: Vec<CString> = args.iter().map(|a| c(a)).collect();
        let null = std::fs::File::open("/dev/null")?;
        let (reader, writer) = io::pipe()?;
        let writer = OwnedFd::from(writer);
        let launch = Launch {
            program: &args[0],
            args: &args,
            set_env: &[c("FLOW_T_SET=yes")],
            remove_env: &[],
            cwd: Some(c"/"),
            stdio: [null.as_fd(), writer.as_fd(), writer.as_fd()],
        };
        let process = Process::spawn(&launch)?;
        Ok((process, std::fs::File::from(OwnedFd::from(reader))))
    }

    use std::os::fd::AsFd;

    #[tokio::test]
    async fn a_child_starts_in_its_own_group_and_folder_with_clean_signals() {
        let script = "echo $$ $(ps -o pgid= -p $$) $PWD $FLOW_T_SET; exit 3";
        let (mut process, mut out) = start(&["/bin/sh", "-c", script]).unwrap();
        let status = process.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        let first: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(first[0], process.id().to_string(), "{text}");
        assert_eq!(first[1], process.id().to_string(), "its own group: {text}");
        assert_eq!(&first[2..], ["/", "yes"], "{text}");
        // the signal state exec'd with, read by the child itself (a shell
        // blocks signals for a moment whenever it forks)
        let (mut process, mut out) = start(&["/bin/cat", "/proc/self/status"]).unwrap();
        assert!(process.wait().await.unwrap().success());
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        let mask = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        };
        assert_eq!(mask("SigBlk:"), Some(0), "nothing blocked: {text}");
        // Ignored signals stay ignored across exec (glibc's own two may be,
        // when this test's parent ignored them), but not SIGPIPE, which every
        // Rust program ignores.
        let ignored = mask("SigIgn:").expect("SigIgn");
        assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "{text}");
    }

    #[test]
    fn a_failed_exec_or_chdir_is_an_error() {
        let error = start(&["/no/such/program"]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
        let args = [c("/bin/true")];
        let null = std::fs::File::open("/dev/null").unwrap();
        let launch = Launch {
            program: &args[0],
            args: &args,
            set_env: &[],
            remove_env: &[],
            cwd: Some(c"/no/such/folder"),
            stdio: [null.as_fd(), null.as_fd(), null.as_fd()],
        };
        let error = Process::spawn(&launch).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    }

    #[tokio::test]
    async fn without_pidfds_the_exit_is_seen_through_sigchld() {
        let (mut process, _out) = start(&["/bin/sh", "-c", "sleep 0.2; exit 5"]).unwrap();
        process.watch = Some(Watch::Sigchld(signal(SignalKind::child()).unwrap()));
        let status = tokio::time::timeout(std::time::Duration::from_secs(10), process.wait())
            .await
            .expect("the exit was missed");
        assert_eq!(status.unwrap().code(), Some(5));
    }

    #[tokio::test]
    async fn a_dropped_process_is_reaped_when_the_next_one_starts() {
        let (process, _out) = start(&["/bin/sleep", "30"]).unwrap();
        let pid = process.id();
        // SAFETY: signalling our own child
        unsafe { libc::kill(pid, libc::SIGKILL) };
        drop(process);
        let stat = format!("/proc/{pid}/stat");
        let start_time = std::time::Instant::now();
        while std::path::Path::new(&stat).exists() {
            assert!(
                start_time.elapsed() < std::time::Duration::from_secs(5),
                "{pid} is still there: {:?}",
                std::fs::read_to_string(&stat)
            );
            let (mut next, _out) = start(&["/bin/true"]).unwrap();
            next.wait().await.unwrap();
        }
    }
}
