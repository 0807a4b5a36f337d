//! The limit for `sh("true")`: `spawn N K` runs the program `true` N times,
//! K at a time, each from a thread of its own that starts it with
//! `clone(CLONE_VM | CLONE_VFORK)` and `execve` (the child does nothing
//! else: no signal reset as in glibc's `posix_spawn`, no pipes, the standard
//! streams inherited) and waits for it with `waitpid`. No shell, as `flow`
//! execs a plain program; `true` is looked up on `PATH` once, as `flow`
//! does. `spawn 1 1` is the start-up row's one raw spawn.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the child needs to exec: NUL-terminated strings and arrays of them,
/// each array ending in a null pointer.
struct Exec {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
}

/// The child, on a stack of its own in the parent's memory: exec, or exit 127.
extern "C" fn child(exec: *mut c_void) -> c_int {
    // SAFETY: `exec` points to the parent's `Exec`, alive while the parent
    // is suspended (CLONE_VFORK); execve and _exit allocate nothing and take
    // no lock.
    unsafe {
        let exec = &*(exec as *const Exec);
        libc::execve(exec.program, exec.argv, exec.envp);
        libc::_exit(127)
    }
}

/// Runs the program to its end, `stack` as the child's stack until it
/// execs; returns its wait status.
fn spawn(exec: &Exec, stack: &mut [u8]) -> c_int {
    // SAFETY: the stack is ours and big enough for `child`; the child shares
    // our memory only until execve, and this thread is suspended till then.
    let pid = unsafe {
        let end = stack.as_mut_ptr().add(stack.len());
        let top = end.sub(end as usize % 16) as *mut c_void; // 16-byte aligned
        libc::clone(
            child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            exec as *const Exec as *mut c_void,
        )
    };
    assert!(pid > 0, "clone failed: {}", std::io::Error::last_os_error());
    let mut status = 0;
    // SAFETY: waits for our own child, writing into a local.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid failed");
    status
}

fn main() {
    let [n, k] = flow_reference::numbers("spawn N K", std::env::args().skip(1), 2)[..] else {
        unreachable!("two numbers")
    };
    let (program, environment) = flow_reference::true_and_environment();
    let next = AtomicU64::new(0);
    let worker = || {
        let argv = [program.as_ptr(), std::ptr::null()];
        let envp: Vec<_> = environment
            .iter()
            .map(|e| e.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        let exec = Exec {
            program: program.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
        };
        let mut stack = vec![0u8; 64 << 10];
        while next.fetch_add(1, Ordering::Relaxed) < n {
            let status = spawn(&exec, &mut stack);
            assert_eq!(status, 0, "`true` failed (wait status {status})");
        }
    };
    // the main thread is one of the K
    std::thread::scope(|scope| {
        for _ in 1..k {
            scope.spawn(worker);
        }
        worker();
    });
}
