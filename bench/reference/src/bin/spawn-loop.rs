//! Where the 10,000 `sh` row's floor is for a program built as `flow` is:
//! `spawn-loop N K [--threads T] [--pipes] [--groups]` runs the program
//! `true` N times, K at a time, from T event loops (default 1), each a
//! thread with K / T slots that waits in `epoll_wait` for its children's
//! ends (a pidfd each, as `flow` awaits them) instead of in `waitpid`.
//! `--pipes` gives each child what `flow` gives a command: stdin a pipe
//! holding `{}`, stdout and stderr pipes read to their end; `--groups`
//! starts each in a process group of its own that dies with the loop
//! (`setpgid`, `PR_SET_PDEATHSIG`) and is killed once the child is reaped.
//! The child is started as `spawn` starts it (`clone(CLONE_VM |
//! CLONE_VFORK)` and `execve`), every signal blocked across the `clone`.
//!
//! `spawn` has a thread per slot, each woken by its own child's end on the
//! core that child just left; one loop with two slots is what a
//! single-threaded runtime such as `flow run`'s can do at best
//! (bench/README.md, the twelfth pass).

use std::ffi::{c_int, c_void, CString};
use std::sync::atomic::{AtomicU64, Ordering};

const USAGE: &str = "spawn-loop N K [--threads T] [--pipes] [--groups]";

/// What a child needs, in the parent's memory (the parent is suspended
/// until the child has called `execve`).
struct Exec {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// stdin, stdout and stderr for the child (-1: inherited).
    stdio: [c_int; 3],
    groups: bool,
}

extern "C" fn child(exec: *mut c_void) -> c_int {
    // SAFETY: `exec` is the suspended parent's `Exec`; only async-signal-safe
    // calls follow, on data prepared beforehand.
    unsafe {
        let exec = &*(exec as *const Exec);
        if exec.groups {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        }
        for (target, &fd) in (0..).zip(&exec.stdio) {
            if fd >= 0 {
                libc::dup2(fd, target);
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(exec.program, exec.argv, exec.envp);
        libc::_exit(127)
    }
}

/// A running child: its pid, its pidfd and, with `--pipes`, the read ends
/// of its stdout and stderr; each open fd is in the loop's epoll set.
#[derive(Default)]
struct Slot {
    pid: libc::pid_t,
    fds: [c_int; 3],
}

/// Panics with the OS error unless `result` is not -1.
fn check(result: c_int, what: &str) -> c_int {
    assert!(result != -1, "{what}: {}", std::io::Error::last_os_error());
    result
}

struct Loop<'a> {
    program: &'a CString,
    envp: Vec<*const libc::c_char>,
    pipes: bool,
    groups: bool,
    epoll: c_int,
    stack: Vec<u8>,
}

impl Loop<'_> {
    /// Starts a child in slot `index`, its fds registered with its index.
    fn start(&mut self, slot: &mut Slot, index: usize) {
        let argv = [self.program.as_ptr(), std::ptr::null()];
        let mut stdio = [-1; 3];
        let mut ours = [-1; 2];
        // SAFETY: plain system calls on fds this function owns, and a clone
        // whose child only runs `child` on its own stack while this thread
        // is suspended (CLONE_VFORK); every pointer outlives the clone.
        unsafe {
            if self.pipes {
                let mut input = [0; 2];
                check(libc::pipe2(input.as_mut_ptr(), libc::O_CLOEXEC), "pipe2");
                libc::write(input[1], b"{}".as_ptr().cast(), 2);
                libc::close(input[1]);
                stdio[0] = input[0];
                for (i, own) in ours.iter_mut().enumerate() {
                    let mut pipe = [0; 2];
                    check(libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC), "pipe2");
                    libc::fcntl(pipe[0], libc::F_SETFL, libc::O_NONBLOCK);
                    (*own, stdio[i + 1]) = (pipe[0], pipe[1]);
                }
            }
            let exec = Exec {
                program: self.program.as_ptr(),
                argv: argv.as_ptr(),
                envp: self.envp.as_ptr(),
                stdio,
                groups: self.groups,
            };
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            let end = self.stack.as_mut_ptr().add(self.stack.len());
            let top = end.sub(end as usize % 16) as *mut c_void;
            let mut pidfd: c_int = -1;
            let pid = libc::clone(
                child,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
                &exec as *const Exec as *mut c_void,
                &mut pidfd as *mut c_int,
            );
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            check(pid, "clone");
            for fd in stdio.into_iter().filter(|&fd| fd >= 0) {
                libc::close(fd);
            }
            slot.pid = pid;
            slot.fds = [pidfd, ours[0], ours[1]];
            for (which, &fd) in slot.fds.iter().enumerate().filter(|(_, &fd)| fd >= 0) {
                let mut event = libc::epoll_event {
                    events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
                    u64: (index * 3 + which) as u64,
                };
                check(
                    libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_ADD, fd, &mut event),
                    "epoll_ctl",
                );
            }
        }
    }

    /// Handles an event on fd `which` of `slot`; whether the slot is done
    /// (the child reaped, its pipes at their end).
    fn event(&mut self, slot: &mut Slot, which: usize) -> bool {
        let fd = slot.fds[which];
        // SAFETY: reads, waits and closes on this slot's own fds and child.
        unsafe {
            let ended = if which == 0 {
                let mut status = 0;
                check(libc::waitpid(slot.pid, &mut status, 0), "waitpid");
                assert_eq!(status, 0, "`true` failed (wait status {status})");
                true
            } else {
                let mut buf = [0u8; 512];
                libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) == 0
            };
            if ended {
                libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut());
                libc::close(fd);
                slot.fds[which] = -1;
            }
            let done = slot.fds.iter().all(|&fd| fd < 0);
            if done && self.groups {
                libc::kill(-slot.pid, libc::SIGKILL); // leftovers (none here)
            }
            done
        }
    }
}

/// One event loop: `slots` children at a time until `next` reaches `n`.
fn run_loop(
    n: u64,
    slots: usize,
    next: &AtomicU64,
    program: &CString,
    environment: &[CString],
    pipes: bool,
    groups: bool,
) {
    let envp = environment
        .iter()
        .map(|e| e.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    // SAFETY: epoll_create1 takes flags only.
    let epoll = check(
        unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) },
        "epoll_create1",
    );
    let mut looped = Loop {
        program,
        envp,
        pipes,
        groups,
        epoll,
        stack: vec![0u8; 64 << 10],
    };
    let mut table: Vec<Slot> = (0..slots).map(|_| Slot::default()).collect();
    let mut running = 0;
    for (index, slot) in table.iter_mut().enumerate() {
        if next.fetch_add(1, Ordering::Relaxed) < n {
            looped.start(slot, index);
            running += 1;
        }
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
    while running > 0 {
        // SAFETY: `events` has room for the 64 events asked for.
        let ready = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), 64, -1) };
        if ready == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        }
        for event in &events[..check(ready, "epoll_wait") as usize] {
            let (index, which) = (event.u64 as usize / 3, event.u64 as usize % 3);
            let slot = &mut table[index];
            if slot.fds[which] < 0 || !looped.event(slot, which) {
                continue;
            }
            running -= 1;
            if next.fetch_add(1, Ordering::Relaxed) < n {
                looped.start(slot, index);
                running += 1;
            }
        }
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |name: &str| match args.iter().position(|a| a == name) {
        Some(at) => {
            args.remove(at);
            true
        }
        None => false,
    };
    let (pipes, groups) = (flag("--pipes"), flag("--groups"));
    let threads = match args.iter().position(|a| a == "--threads") {
        Some(at) if at + 1 < args.len() => {
            let value = args.remove(at + 1);
            args.remove(at);
            flow_reference::numbers(USAGE, [value].into_iter(), 1)[0]
        }
        Some(_) => flow_reference::numbers(USAGE, std::iter::empty(), 1)[0],
        None => 1,
    };
    let [n, k] = flow_reference::numbers(USAGE, args.into_iter(), 2)[..] else {
        unreachable!("two numbers")
    };
    if threads == 0 || k % threads != 0 {
        eprintln!("usage: {USAGE} (T must divide K)");
        std::process::exit(2);
    }
    let (program, environment) = flow_reference::true_and_environment();
    let next = AtomicU64::new(0);
    let slots = (k / threads) as usize;
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| run_loop(n, slots, &next, &program, &environment, pipes, groups));
        }
        run_loop(n, slots, &next, &program, &environment, pipes, groups);
    });
}
