//! No orphans: every process a run starts is gone when the run ends, however
//! it ends — a task that timed out or was cancelled, Ctrl-C, SIGTERM, SIGHUP,
//! or `kill -9` of `flow` itself. Four mechanisms, each for what the others
//! miss (docs/reliability.md):
//!
//! 1. each command runs in a process group of its own, which the executor
//!    kills when its task is cancelled or times out (`exec/local`);
//! 2. its shell dies with `flow`, `kill -9` included (`PR_SET_PDEATHSIG`);
//! 3. `flow run` and `flow repl` are *child subreapers*: a process that left
//!    its group (`setsid`) or whose parent exited (a double fork) is
//!    re-parented to `flow`, and [`sweep`] kills every such child when a run
//!    or a REPL entry ends;
//! 4. a *guard* process, forked before anything else, outlives `flow`: when
//!    `flow` is gone, however it died, the guard kills every process whose
//!    environment carries this process's tag ([`TAG_VARIABLE`], which every
//!    command inherits), then exits.
//!
//! A process that clears its environment (`env -i`) and leaves its group
//! escapes the guard, and only the guard: while `flow` lives, [`sweep`] finds
//! it as a child.

#![allow(unsafe_code)] // prctl, pipe2, fork, kill, waitpid: each call carries its SAFETY argument

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The environment variable that tags every process a `flow` process starts
/// (`<pid>.<nanoseconds>`): the guard kills what carries it.
pub const TAG_VARIABLE: &str = "FLOW_RUN_TAG";

/// The guard's pid, which [`sweep`] leaves alone (0 when there is none).
static GUARD: AtomicI32 = AtomicI32::new(0);

/// This process's end of the guard's pipe (-1 when there is no guard).
static GUARD_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Makes this process a child subreaper and starts its guard. Call it before
/// any thread starts: it forks, and it sets [`TAG_VARIABLE`] in this process's
/// environment. Failing (an old kernel, no `/proc`) leaves the first two
/// mechanisms, and is not an error.
pub fn start() {
    // SAFETY: prctl with an integer option; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut ends = [0; 2];
    // SAFETY: `ends` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    // SAFETY: pipe2 just returned these fds and nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tag = format!("{}.{nanos}", std::process::id());
    // SAFETY: no other thread exists yet (the caller's promise), so the child
    // is a whole copy of this process and may do anything it could.
    match unsafe { libc::fork() } {
        -1 => {}
        0 => {
            drop(write);
            guard(read, &tag)
        }
        pid => {
            GUARD.store(pid, Ordering::Relaxed);
            drop(read);
            // The write end stays open until this process is gone; close-on-exec,
            // so no command holds it.
            GUARD_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
            std::mem::forget(write);
            std::env::set_var(TAG_VARIABLE, &tag);
        }
    }
}

/// The guard: waits for `flow` to be gone (the pipe's end of file), kills
/// what carries `tag`, and exits.
fn guard(read: OwnedFd, tag: &str) -> ! {
    // SAFETY: plain calls on this (single-threaded) child: a session of its
    // own, so neither a Ctrl-C at the terminal nor a signal to `flow`'s group
    // reaches it; ignored signals; stdio on /dev/null, so that it holds no
    // pipe of whoever started `flow`; every other fd closed.
    unsafe {
        libc::setsid();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(signal, libc::SIG_IGN);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        libc::dup2(read.as_raw_fd(), 0);
        for fd in [1, 2] {
            libc::dup2(null, fd);
        }
        libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0);
    }
    std::mem::forget(read); // it is fd 0 now; the original number is closed
    let mut stdin = std::io::stdin();
    let mut byte = [0];
    // Returns at the end of file (`flow` is gone), or with the byte of
    // `dismiss` (`flow` ends in order, nothing of its runs left).
    let dismissed = loop {
        match stdin.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(1) => break true,
            _ => break false,
        }
    };
    if dismissed {
        // SAFETY: ends this process without running anything of `flow`'s.
        unsafe { libc::_exit(0) }
    }
    let entry = format!("{TAG_VARIABLE}={tag}");
    // Until a look finds none: a process killed meanwhile may have forked.
    for _ in 0..50 {
        if kill_tagged(entry.as_bytes()) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: ends this process without running anything of `flow`'s.
    unsafe { libc::_exit(0) }
}

/// Kills every process (but this one) whose environment holds `entry`;
/// returns how many it found.
fn kill_tagged(entry: &[u8]) -> usize {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut found = 0;
    for pid in dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|&b| b == 0).any(|var| var == entry) {
            found += 1;
            // SAFETY: a signal to a pid.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
    found
}

/// Sends the guard away without its look for tagged processes: for a
/// `flow` that ends in order, after its last [`sweep`] found nothing left
/// (a process a task left behind is this subreaper's child, so the sweep
/// sees it). Does nothing when children remain: the guard then looks when
/// `flow` is gone, as after a crash.
pub fn dismiss() {
    let fd = GUARD_PIPE.swap(-1, Ordering::Relaxed);
    if fd < 0 || !children().is_empty() {
        return;
    }
    // SAFETY: a one-byte write to the pipe end this process kept open.
    unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
}

/// This process's children, the guard left out: when no task runs, every
/// one of them is a process a task left behind.
pub fn children() -> Vec<libc::pid_t> {
    let guard = GUARD.load(Ordering::Relaxed);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        let found = text
            .split_whitespace()
            .filter_map(|p| p.parse::<libc::pid_t>().ok());
        pids.extend(found.filter(|&p| p != guard));
    }
    pids
}

/// Kills and reaps every child left behind — processes re-parented to this
/// subreaper after their parents exited. Call it when no task runs: at the
/// end of a run, after a REPL entry. Cheap when there are none (the common
/// case: one read per thread of `flow`). Returns how many it killed.
pub fn sweep() -> usize {
    let mut killed = 0;
    // A child killed here hands its own children to this process: again
    // until none is left (bounded, against a process that keeps forking).
    for _ in 0..20 {
        let pids = children();
        if pids.is_empty() {
            break;
        }
        for &pid in &pids {
            // SAFETY: signals to this process's own children (its group too:
            // a `setsid` child leads one).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        killed += pids.len();
        reap(&pids);
    }
    killed
}

/// Waits (a little) for killed children, so that none stays a zombie.
fn reap(pids: &[libc::pid_t]) {
    for &pid in pids {
        for _ in 0..100 {
            let mut status = 0;
            // SAFETY: waiting for our own child, without blocking.
            match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
                0 => std::thread::sleep(Duration::from_millis(1)),
                _ => break, // reaped, or another waiter had it
            }
        }
    }
}
