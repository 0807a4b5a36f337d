//! Starting and reaping one child process, the fast way: compiled on Linux
//! with the `fast-spawn` cargo feature (on by default), else `child.rs`
//! starts children with tokio's `Command`. This is the one place with
//! `unsafe` code outside the command line (docs/architecture.md, "Unsafe
//! code", lists every one).
//!
//! The standard library (and so tokio) starts a child with `posix_spawn`,
//! and glibc's `posix_spawn` resets every signal's handler in the child
//! before `exec`: about 130 system calls, during which the parent thread is
//! suspended, and a stack mapped and unmapped for each child. This module
//! starts it with a plain `clone(CLONE_VM | CLONE_VFORK)` and `exec` instead.
//!
//! Measured side by side on 2026-12-04 (the reference machine, 2 cores,
//! shared with other work; bench/README.md, "Which spawner"): 10,000
//! `sh("true")` at `--jobs 2` with release builds of `flow`, alternated, runs
//! disturbed by other work left out, took 4.12 s at best with this module
//! and 4.44 s with tokio's `Command` (median 4.49 s against 4.97 s): tokio's
//! spawner takes 7.3 % longer (the median within 13 alternated pairs; every
//! pair between 3 % and 14 %), and 4 % more CPU. Worth more than the 5 % the
//! issue asked for, so `fast-spawn` stays a default feature. Per task, the
//! interpreter makes about 26 system calls here against 38 with tokio's, and
//! the child about 6 before `exec` against about 135.
//!
//! It also drops a job-control stop pending in the child before `exec`,
//! which `posix_spawn` cannot (see `child.rs`), and asks the kernel to kill
//! the shell when `flow` dies, `kill -9` included (`PR_SET_PDEATHSIG`).
//!
//! The child shares the parent's memory until it calls `exec`, on a stack of
//! its own, while the parent thread is suspended ([`CLONE_VFORK`]). It makes
//! only async-signal-safe calls on data prepared beforehand: no allocation,
//! no lock, nothing that can panic. Signals are blocked from before the
//! `clone`, so no handler of the parent runs in the child while it sets up.
//! Its first act is to leave the parent's process group; it then resets the
//! handlers only if a signal sent to that group in the meantime is pending
//! (rare; a pending Ctrl-Z is dropped, or the child would stop before `exec`
//! with the parent waiting for it), and unblocks every signal just before
//! `exec`, which resets every handler.
//!
//! A child is reaped by [`Process::wait`]. One dropped before that is waited
//! for by a task of its own (outside a runtime, reaped when the next child
//! starts).
//!
//! [`CLONE_VFORK`]: libc::CLONE_VFORK
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::ptr;
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::spawn::Launch;

/// A started child, the leader of a process group of its own.
#[derive(Debug)]
pub(super) struct Process {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
    watch: Option<Watch>,
    /// Already handed over to be reaped in the background.
    orphan: bool,
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
    pub fn spawn(launch: Launch) -> io::Result<Process> {
        reap_orphans();
        let argv = null_terminated(launch.args.iter().map(|arg| arg.as_ptr()));
        let envp = null_terminated(launch.env.iter().map(|var| var.as_ptr()));
        // never read by the parent, so left uninitialised
        let mut stack = Vec::<u8>::with_capacity(STACK_SIZE);
        let mut child = ChildArgs {
            program: launch.program.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            cwd: launch.cwd.map_or(ptr::null(), CStr::as_ptr),
            stdio: launch.stdio.each_ref().map(|fd| fd.as_raw_fd()),
            // SAFETY: sigset_t is plain data; filled in below before use
            mask: unsafe { std::mem::zeroed() },
            child_mask: empty_signal_set(),
            error: 0,
            // SAFETY: getpid has no preconditions
            parent: unsafe { libc::getpid() },
        };
        // SAFETY: `all` is plain data that sigfillset initialises; the mask
        // calls only change this thread's mask, restored right after the
        // clone. `top` stays within the stack's allocation (its end, rounded
        // down to the 16 bytes the ABI wants), and the stack outlives the
        // child's use of it: with CLONE_VFORK the parent is suspended until
        // the child has called exec or exited, and with CLONE_VM the child
        // then no longer touches this memory. `child` and the arrays it
        // points to (`argv`, `envp`, the launch's strings and fds) stay alive
        // and unmoved for as long. Every signal is blocked across the clone,
        // so no handler of the parent runs in the child on the shared
        // memory, and `child_main` only makes async-signal-safe calls (see
        // its own SAFETY).
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
        // SAFETY: `child` is alive, and the child, which shared it, has
        // exec'd or exited (CLONE_VFORK): nothing writes `error` any more; the
        // volatile read keeps the compiler from assuming its initial 0
        let error = unsafe { ptr::read_volatile(&raw const child.error) };
        if error != 0 {
            // the child exited with status 127 right after setting `error`
            let mut status = 0;
            // SAFETY: waiting for our own child, which has exited, into a
            // local status
            while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
                && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
            {}
            return Err(io::Error::from_raw_os_error(error));
        }
        Ok(Process {
            pid,
            status: None,
            watch: None,
            orphan: false,
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
    /// A child dropped before it was reaped (its run was cancelled from
    /// outside, say) is waited for by a task of its own, or, outside a Tokio
    /// runtime, queued to be reaped when the next child starts.
    fn drop(&mut self) {
        if self.status.is_some() || matches!(reap(self.pid), Ok(Some(_))) {
            return;
        }
        if !self.orphan {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let mut process = Process {
                    pid: self.pid,
                    status: None,
                    watch: None,
                    orphan: true,
                };
                runtime.spawn(async move {
                    let _ = process.wait().await;
                });
                return;
            }
        }
        ORPHANS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(self.pid);
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

/// What the child function reads, in the parent's memory.
struct ChildArgs {
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    stdio: [RawFd; 3],
    /// The parent thread's signal mask, restored once the child has started.
    mask: libc::sigset_t,
    /// The child's: empty, whatever the parent blocks (as std's spawn does),
    /// so that a command can always be stopped with SIGTERM.
    child_mask: libc::sigset_t,
    /// Why the child could not `exec` (an errno), set just before it exits.
    error: c_int,
    /// This process: the child checks it is still its parent once it has
    /// asked to die with it.
    parent: libc::pid_t,
}

/// The child, from `clone` to `exec`. See the module documentation for what
/// it may do.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` of `Process::spawn`, alive and not
    // used by the parent, which is suspended until this function has called
    // exec or exited (CLONE_VFORK); its pointers (program, argv, envp, cwd)
    // are NUL-terminated strings and arrays the parent keeps alive, its fds
    // open. This runs on its own stack, in memory shared with the parent, so
    // it only makes async-signal-safe libc calls: no allocation, no lock, no
    // panic, nothing that returns to the parent's frames (`fail` exits).
    unsafe {
        let args = &mut *arg.cast::<ChildArgs>();
        if libc::setpgid(0, 0) != 0 {
            fail(args);
        }
        // The shell dies with `flow`, even by `kill -9`, so that a command
        // never finishes unrecorded after its run is gone (and `--resume`
        // never finds it done twice). The signal comes when the thread that
        // started the child ends: a scheduler's thread, which outlives its
        // commands. If `flow` is already gone, so is the point of starting.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            fail(args);
        }
        if libc::getppid() != args.parent {
            libc::_exit(127);
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
        // A signal sent to the parent's process group before `setpgid` above
        // (Ctrl-C, a terminal resize) may be pending, and unblocking would run
        // the parent's handler for it here, on the parent's memory. Then every
        // handler is reset first, as glibc's posix_spawn always does. Since
        // `setpgid`, only a signal sent to this new pid can still arrive.
        let mut pending: libc::sigset_t = std::mem::zeroed();
        if libc::sigpending(&mut pending) != 0 || any_signal(&pending) {
            reset_handlers();
            discard_stops(&pending);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &args.child_mask, ptr::null_mut());
        libc::execve(args.program, args.argv, args.envp);
        fail(args)
    }
}

fn empty_signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the plain-data set
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

/// Whether `set` holds any signal.
///
/// # Safety
/// Async-signal-safe: for the child.
unsafe fn any_signal(set: &libc::sigset_t) -> bool {
    // SAFETY: sigismember only reads the set
    (1..=libc::SIGRTMAX()).any(|signal| unsafe { libc::sigismember(set, signal) } == 1)
}

/// Sets every signal with a handler back to its default action (ignored
/// signals stay ignored, as across exec).
///
/// # Safety
/// For the child only: it changes the calling process's dispositions.
unsafe fn reset_handlers() {
    for signal in 1..=libc::SIGRTMAX() {
        // SAFETY: a plain sigaction query and, for a caught signal, a reset;
        // glibc refuses its own internal signals (EINVAL), which is fine
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, ptr::null(), &mut action) == 0
                && action.sa_sigaction != libc::SIG_DFL
                && action.sa_sigaction != libc::SIG_IGN
            {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }
}

/// Drops a pending job-control stop (Ctrl-Z at the terminal while the child
/// was still in the interpreter's group): it would stop the child before
/// `exec`, in a group no `fg` continues, with the parent waiting for it.
/// Ignoring a signal discards it; the default action then comes back.
///
/// # Safety
/// For the child only: it changes the calling process's dispositions.
unsafe fn discard_stops(pending: &libc::sigset_t) {
    for signal in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        // SAFETY: reads the set and changes this process's dispositions
        unsafe {
            if libc::sigismember(pending, signal) == 1
                && libc::signal(signal, libc::SIG_IGN) == libc::SIG_DFL
            {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }
}

/// Records errno for the parent and exits the child.
///
/// # Safety
/// For the child only (from [`child_main`]): it ends the calling process.
unsafe fn fail(args: &mut ChildArgs) -> ! {
    // SAFETY: the child shares the suspended parent thread's memory and
    // thread pointer, so `__errno_location` is that thread's errno, just set
    // by the child's failed call, and `args` is the parent's `ChildArgs`;
    // `_exit` is async-signal-safe and runs none of the parent's exit hooks
    unsafe {
        args.error = *libc::__errno_location();
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::io::Read;

    fn c(text: &str) -> CString {
        CString::new(text).unwrap()
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
            env: &[c"FLOW_T_SET=yes"],
            cwd: Some(c"/"),
            stdio: [null.into(), writer.try_clone()?, writer],
        };
        let process = Process::spawn(launch)?;
        Ok((process, std::fs::File::from(OwnedFd::from(reader))))
    }

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
        // blocks signals for a moment whenever it forks); nothing blocked
        // even when this thread blocks SIGTERM
        let mut term = empty_signal_set();
        // SAFETY: plain signal-mask calls on this thread's mask
        unsafe {
            libc::sigaddset(&mut term, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &term, ptr::null_mut());
        }
        let started = start(&["/bin/cat", "/proc/self/status"]);
        // SAFETY: unblocks on this thread what was blocked just above
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &term, ptr::null_mut()) };
        let (mut process, mut out) = started.unwrap();
        assert!(process.wait().await.unwrap().success());
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        let mask = |name: &str| super::super::status_mask(&text, name);
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
        let launch = Launch {
            program: &args[0],
            args: &args,
            env: &[],
            cwd: Some(c"/no/such/folder"),
            stdio: [0, 1, 2].map(|_| std::fs::File::open("/dev/null").unwrap().into()),
        };
        let error = Process::spawn(launch).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    }

    #[tokio::test]
    async fn without_pidfds_the_exit_is_seen_through_sigchld() {
        let (mut process, _out) = start(&["/bin/sh", "-c", "sleep 0.2; exit 5"]).unwrap();
        process.watch = Some(Watch::Sigchld(signal(SignalKind::child()).unwrap()));
        let status = tokio::time::timeout(std::time::Duration::from_secs(120), process.wait())
            .await
            .expect("the exit was missed");
        assert_eq!(status.unwrap().code(), Some(5));
    }

    /// Waits until `pid` is gone, zombie included, calling `between`
    /// meanwhile; fails after 2 minutes (a guard against a test that never
    /// ends, not a bound on how fast anything is).
    async fn until_gone(pid: libc::pid_t, mut between: impl FnMut()) {
        let stat = format!("/proc/{pid}/stat");
        let start = std::time::Instant::now();
        while std::path::Path::new(&stat).exists() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(120),
                "hang guard: {pid} is still there: {:?}",
                std::fs::read_to_string(&stat)
            );
            between();
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// A child that was killed, then dropped without being reaped.
    fn killed_and_dropped() -> libc::pid_t {
        let (process, _out) = start(&["/bin/sleep", "30"]).unwrap();
        let pid = process.id();
        // SAFETY: signalling our own child, not yet reaped (its pid is not reused)
        unsafe { libc::kill(pid, libc::SIGKILL) };
        drop(process);
        pid
    }

    #[tokio::test]
    async fn a_dropped_process_is_reaped_in_the_background() {
        let pid = killed_and_dropped();
        until_gone(pid, || {}).await;
    }

    #[test]
    fn outside_a_runtime_a_dropped_process_is_reaped_when_the_next_starts() {
        let pid = killed_and_dropped();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(until_gone(pid, || {
            let (mut next, _out) = start(&["/bin/true"]).unwrap();
            while next.try_wait().unwrap().is_none() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }));
    }
}
