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
//! 4. a *guard* process, started before anything else, outlives `flow`: when
//!    `flow` is gone, however it died, the guard kills every process whose
//!    environment carries this process's tag ([`TAG_VARIABLE`], which every
//!    command inherits), then exits.
//!
//! A process that clears its environment (`env -i`) and leaves its group
//! escapes the guard, and only the guard: while `flow` lives, [`sweep`] finds
//! it as a child.

#![allow(unsafe_code)] // prctl, pipe2, posix_spawn, kill, waitpid: each call carries its SAFETY argument

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

/// The argument that makes a `flow` process the guard of the `flow` that
/// started it: `flow __flow_guard__ TAG`, its stdin the guard's pipe.
const GUARD_ARGUMENT: &str = "__flow_guard__";

/// Makes this process a child subreaper and tags it: sets [`TAG_VARIABLE`]
/// in this process's environment, so call it before any thread starts. The
/// guard itself starts with [`start_guard`], once `flow` knows it will
/// start processes. Failing (an old kernel, no `/proc`) leaves the first two
/// mechanisms, and is not an error.
pub fn start() {
    // SAFETY: prctl with an integer option; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tag = format!("{}.{nanos}", std::process::id());
    std::env::set_var(TAG_VARIABLE, &tag);
    let _ = TAG.set(tag);
}

/// This process's tag, once [`start`] has made it.
static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Starts the guard of the processes this one starts, once (the REPL at
/// once; `flow run` only for a script that can start any: one that calls
/// `sh`, about 1.5 ms of a core saved for the others, and a process fewer).
/// Call it before the first command starts. Nothing without [`start`].
///
/// The guard is this binary started again (`posix_spawn`, which suspends
/// this thread only until the `exec`), not a `fork` of this process: a fork
/// shares every page of `flow` with the guard for the whole run, and each of
/// `flow`'s writes to one then copies it, with a TLB shootdown across the
/// run's threads — about 3 ms of a one-task run's wall time.
pub fn start_guard() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    let Some(tag) = TAG.get() else {
        return;
    };
    STARTED.call_once(|| {
        let mut ends = [0; 2];
        // SAFETY: `ends` has room for the two fds pipe2 writes.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return;
        }
        // SAFETY: pipe2 just returned these fds and nothing else owns them.
        let (read, write) =
            unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
        let Some(pid) = spawn_guard(&read, tag) else {
            return;
        };
        GUARD.store(pid, Ordering::Relaxed);
        drop(read);
        // The write end stays open until this process is gone; close-on-exec,
        // so no command holds it.
        GUARD_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
        std::mem::forget(write);
    });
}

/// Starts `flow __flow_guard__ TAG` in a session of its own, its stdin the
/// pipe's read end, its stdout and stderr `/dev/null`, with this thread's
/// signal mask (`run` and `repl` hold Ctrl-C until they listen, so one
/// pressed meanwhile cannot reach the guard before it ignores it).
fn spawn_guard(read: &OwnedFd, tag: &str) -> Option<libc::pid_t> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let exe = std::env::current_exe()
        .ok()
        .filter(|path| path.exists())
        .and_then(|path| CString::new(path.as_os_str().as_bytes()).ok())
        .unwrap_or_else(|| c"/proc/self/exe".to_owned());
    let (arg0, argument, tag) = (
        c"flow".to_owned(),
        CString::new(GUARD_ARGUMENT).ok()?,
        CString::new(tag).ok()?,
    );
    let argv = [
        arg0.as_ptr(),
        argument.as_ptr(),
        tag.as_ptr(),
        std::ptr::null(),
    ];
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: the attribute and file-action objects are initialised before
    // use and destroyed after; every pointer passed outlives the call
    // (`argv`'s strings, `environ`, which nothing changes after `start`:
    // `flow` sets no variable once its threads may run).
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attributes: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawnattr_init(&mut attributes);
        libc::posix_spawn_file_actions_adddup2(&mut actions, read.as_raw_fd(), 0);
        let null = c"/dev/null".as_ptr();
        libc::posix_spawn_file_actions_addopen(&mut actions, 1, null, libc::O_WRONLY, 0);
        libc::posix_spawn_file_actions_adddup2(&mut actions, 1, 2);
        libc::posix_spawnattr_setflags(&mut attributes, libc::POSIX_SPAWN_SETSID as libc::c_short);
        let mut pid = 0;
        let spawned = libc::posix_spawn(
            &mut pid,
            exe.as_ptr(),
            &actions,
            &attributes,
            argv.as_ptr().cast(),
            environ.cast(),
        );
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attributes);
        (spawned == 0).then_some(pid)
    }
}

/// When this process was started as a guard (`flow __flow_guard__ TAG`),
/// its tag. `flow`'s `main` asks before anything else.
pub fn guard_tag() -> Option<String> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != GUARD_ARGUMENT {
        return None;
    }
    args.next()?.into_string().ok()
}

/// The guard: waits for `flow` to be gone (the end of file on its stdin),
/// kills what carries `tag`, and exits.
pub fn guard(tag: &str) -> ! {
    // SAFETY: plain calls on this single-threaded process (the guard starts
    // no thread): ignored signals (a pending Ctrl-C is dropped), and every
    // fd but the standard three closed, so that it holds no pipe of whoever
    // started `flow`.
    unsafe {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(signal, libc::SIG_IGN);
        }
        libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0);
    }
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
