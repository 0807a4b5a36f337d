//! Ctrl-C, SIGTERM and SIGHUP (a closed terminal, a dropped SSH session)
//! cancel a run. They are watched by a thread of their own, from before the
//! script is even read: a signal that comes while the script compiles, or
//! while the scheduler is busy, is never the default action (death by the
//! signal) but the orderly end — tasks cancelled, process groups killed,
//! exit 130.
//!
//! The orderly end needs the run's runtime to answer. After a signal the
//! watcher asks it, every [`ANSWER`], to run a tiny task; a runtime that
//! does not within [`ANSWER`] is busy with pure work that did not see the
//! cancellation (or has not started: the script is still compiling), and a
//! second signal is impatience: either way the watcher ends `flow` itself —
//! every task's process group killed, "interrupted", exit 130. The run store
//! then shows the run as `killed`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::exit;

/// How long the run's runtime may take to answer once a signal came.
const ANSWER: Duration = Duration::from_millis(100);

/// What the watcher knows of the run.
#[derive(Clone, Default)]
pub struct Watcher(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// The runtime the run goes on, once there is one.
    runtime: OnceLock<Handle>,
    /// The run is over: `flow` is writing its result and exiting.
    done: AtomicBool,
    /// What to do before ending `flow` from the watcher (finish the run in
    /// the store).
    on_end: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Watcher {
    /// The runtime the run goes on from now.
    pub fn runtime(&self, handle: Handle) {
        let _ = self.0.runtime.set(handle);
    }

    /// The run is over: from now on only a second signal ends `flow` early.
    pub fn done(&self) {
        self.0.done.store(true, Ordering::SeqCst);
    }

    /// Runs `f` before ending `flow` from the watcher.
    pub fn on_end(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.0.on_end.set(Box::new(f));
    }
}

/// The signals a run or a session answers.
fn answered() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(signal);
    }
    set
}

/// Holds Ctrl-C, SIGTERM and SIGHUP back (blocks them on this thread, and on
/// the threads it starts) until [`release`]: from `flow`'s first instruction
/// until its handlers are in place, a signal waits instead of killing it.
pub fn hold() {
    let _ = answered().thread_block();
}

/// Lets the held signals through, to the handlers now in place.
pub fn release() {
    let _ = answered().thread_unblock();
}

/// The write end of the pipe the signal handler writes each signal into
/// (-1 before the watcher starts).
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// The handler of the three signals: one byte into the watcher's pipe.
extern "C" fn on_signal(signal: libc::c_int) {
    let fd = PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; one byte from this frame,
        // to a non-blocking pipe (a full one drops it: the watcher has a
        // signal to read already).
        #[allow(unsafe_code)]
        unsafe {
            libc::write(fd, (&raw const byte).cast(), 1)
        };
    }
}

/// Starts the watcher: the first of the three signals cancels `cancel`.
/// Returns once the handlers are in place — at once: they are installed on
/// this thread, and the watcher thread only reads what they write (no
/// runtime of its own, nothing to wait for).
pub fn cancel_on_signals(cancel: CancellationToken) -> Watcher {
    use nix::fcntl::OFlag;
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    let watcher = Watcher::default();
    let shared = watcher.0.clone();
    if let Ok((read, write)) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK) {
        PIPE.store(
            std::os::fd::IntoRawFd::into_raw_fd(write),
            Ordering::Relaxed,
        );
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for signal in answered().iter() {
            // SAFETY: the handler only makes an async-signal-safe write.
            #[allow(unsafe_code)]
            let _ = unsafe { sigaction(signal, &action) };
        }
        let _ = std::thread::Builder::new()
            .name("flow-signals".into())
            .spawn(move || watch(read, cancel, shared));
    }
    release();
    watcher
}

/// The watcher: the first signal cancels the run; then a second signal, or
/// a runtime that does not answer, ends `flow` at once.
fn watch(read: OwnedFd, cancel: CancellationToken, shared: Arc<Shared>) {
    let mut received = 0;
    let why = loop {
        let wait = (received > 0 && !shared.done.load(Ordering::SeqCst)).then_some(ANSWER);
        match next_signals(&read, wait) {
            0 => {
                if !answers(&shared) {
                    break "the run was busy and did not stop";
                }
            }
            n => {
                received += n;
                cancel.cancel();
                if received > 1 {
                    break "a second signal";
                }
            }
        }
    };
    if let Some(f) = shared.on_end.get() {
        f();
    }
    end_now(why);
}

/// How many signals came, waiting for one at most `wait` (for ever: `None`).
fn next_signals(read: &OwnedFd, wait: Option<Duration>) -> usize {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let timeout = match wait {
        Some(wait) => PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
        None => PollTimeout::NONE,
    };
    let mut fds = [PollFd::new(read.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, timeout) {
        Ok(0) | Err(_) => 0,
        Ok(_) => {
            let mut bytes = [0u8; 16];
            nix::unistd::read(read.as_raw_fd(), &mut bytes).unwrap_or(0)
        }
    }
}

/// Whether the run's runtime runs a task within [`ANSWER`] (a run not
/// started yet — the script still compiling — does not).
fn answers(shared: &Shared) -> bool {
    let Some(runtime) = shared.runtime.get() else {
        return false;
    };
    let (tx, rx) = mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(());
    });
    rx.recv_timeout(ANSWER).is_ok()
}

/// Ends `flow` from the watcher (`why`: what made it), the run's processes
/// killed, exit 130.
fn end_now(why: &str) -> ! {
    let children = super::reaper::children();
    for &pid in &children {
        // SAFETY: signals to this process's children and to the process
        // groups they lead (each command leads its own).
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
    }
    match children.len() {
        0 => errln!("interrupted: ended at once ({why})"),
        1 => errln!("interrupted: ended at once ({why}); 1 running command killed"),
        n => errln!("interrupted: ended at once ({why}); {n} running commands killed"),
    }
    std::process::exit(i32::from(exit::INTERRUPTED));
}
