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

use std::sync::atomic::{AtomicBool, Ordering};
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

/// Starts the watcher: the first of the three signals cancels `cancel`.
/// Returns once the handlers are in place.
pub fn cancel_on_signals(cancel: CancellationToken) -> Watcher {
    let watcher = Watcher::default();
    let shared = watcher.0.clone();
    let (listening, ready) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("flow-signals".into())
        .spawn(move || {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(own) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = listening.send(());
                return;
            };
            own.block_on(async move {
                let streams = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                    signal(SignalKind::hangup()),
                );
                let _ = listening.send(());
                let (Ok(mut int), Ok(mut term), Ok(mut hup)) = streams else {
                    return;
                };
                let mut received = 0;
                let why = loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                        _ = hup.recv() => {}
                        answered = answers(&shared), if received > 0 => {
                            if answered {
                                continue;
                            }
                            break "the run was busy and did not stop";
                        }
                    }
                    received += 1;
                    cancel.cancel();
                    if received > 1 {
                        break "a second signal";
                    }
                };
                if let Some(f) = shared.on_end.get() {
                    f();
                }
                end_now(why);
            });
        });
    if spawned.is_ok() {
        let _ = ready.recv();
    }
    release();
    watcher
}

/// Whether the run's runtime ran a task within [`ANSWER`] (waiting that long
/// first when it did, so that it is asked about every [`ANSWER`]).
async fn answers(shared: &Shared) -> bool {
    if shared.done.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let Some(runtime) = shared.runtime.get() else {
        tokio::time::sleep(ANSWER).await;
        return false;
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    runtime.spawn(async move {
        let _ = tx.send(());
    });
    let answered = tokio::time::timeout(ANSWER, rx).await.is_ok();
    if answered {
        tokio::time::sleep(ANSWER).await;
    }
    answered
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
