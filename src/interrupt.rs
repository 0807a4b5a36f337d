//! What pure work knows of the run it belongs to: its cancellation, and its
//! folders ([`Dirs`], for `script_dir()`, `read_file`, `glob`).
//!
//! Pure work notices its run was cancelled. A built-in function or an
//! operator over a 10,000,000-item list runs on the scheduler's thread and
//! does not yield; while a run's scheduler is polled, its cancellation token
//! is this thread's [`current`] one, and long loops ask [`check`] every
//! [`EVERY`] steps. An interrupted computation fails with
//! [`ErrorKind::Interrupted`], which the scheduler turns into the run's
//! cancellation (never a failure a `try` could catch or a `retry` repeat).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::sync::CancellationToken;

use crate::value::{ErrorKind, ValueError};

/// Steps between two looks at the token (a look takes a lock: about 20 ns).
pub(crate) const EVERY: usize = 1 << 14;

/// The folders of a run: the script's own (relative paths of `read_file`
/// and `glob` start there) and the one `flow` was started in.
#[derive(Debug)]
pub(crate) struct Dirs {
    pub script: std::path::PathBuf,
    pub launch: std::path::PathBuf,
}

impl Dirs {
    /// The variables every command of the run gets: `FLOW_SCRIPT_DIR` and
    /// `FLOW_LAUNCH_DIR`.
    pub(crate) fn variables(&self) -> Vec<(String, String)> {
        [
            ("FLOW_SCRIPT_DIR", &self.script),
            ("FLOW_LAUNCH_DIR", &self.launch),
        ]
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_string_lossy().into_owned()))
        .collect()
    }
}

/// The run being polled on a thread.
struct Run {
    token: CancellationToken,
    dirs: std::sync::Arc<Dirs>,
}

thread_local! {
    static CURRENT: RefCell<Option<Run>> = const { RefCell::new(None) };
}

/// Whether the run being polled on this thread was cancelled.
pub(crate) fn current() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|r| r.token.is_cancelled()))
}

/// The folders of the run being polled on this thread (the working folder
/// for both outside a run).
pub(crate) fn dirs() -> std::sync::Arc<Dirs> {
    let found = CURRENT.with(|c| c.borrow().as_ref().map(|r| r.dirs.clone()));
    found.unwrap_or_else(|| {
        let here = std::env::current_dir().unwrap_or_default();
        std::sync::Arc::new(Dirs {
            script: here.clone(),
            launch: here,
        })
    })
}

/// In a loop, at step `i`: an error when the run was cancelled (looked at
/// every [`EVERY`] steps).
pub(crate) fn check(i: usize) -> Result<(), ValueError> {
    if i % EVERY == EVERY - 1 && current() {
        return Err(interrupted());
    }
    Ok(())
}

/// The error of interrupted work.
pub(crate) fn interrupted() -> ValueError {
    ValueError::new(ErrorKind::Interrupted, "interrupted: the run was cancelled")
}

/// A future (a run's scheduler) whose cancellation token is this thread's
/// [`current`] one while it is polled.
pub(crate) struct Interruptible<F> {
    run: Option<Run>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Interruptible<F> {
    pub(crate) fn new(
        token: CancellationToken,
        dirs: std::sync::Arc<Dirs>,
        inner: F,
    ) -> Interruptible<F> {
        Interruptible {
            run: Some(Run { token, dirs }),
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for Interruptible<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // The token moves in and out: no reference count touched per poll.
        let outer = CURRENT.with(|c| c.replace(this.run.take()));
        let polled = this.inner.as_mut().poll(cx);
        this.run = CURRENT.with(|c| c.replace(outer));
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs_now() -> std::path::PathBuf {
        dirs().script.clone()
    }

    #[tokio::test]
    async fn pure_work_sees_the_run_it_belongs_to() {
        let token = CancellationToken::new();
        let dirs = || {
            std::sync::Arc::new(Dirs {
                script: "/s".into(),
                launch: "/l".into(),
            })
        };
        assert!(!current());
        let seen = Interruptible::new(token.clone(), dirs(), async { current() }).await;
        assert!(!seen);
        let script = Interruptible::new(token.clone(), dirs(), async { dirs_now() }).await;
        assert_eq!(script, std::path::PathBuf::from("/s"));
        token.cancel();
        let seen = Interruptible::new(token.clone(), dirs(), async {
            (0..EVERY * 2).try_for_each(check)
        })
        .await;
        assert_eq!(seen.unwrap_err().kind, ErrorKind::Interrupted);
        // Outside the run, nothing is cancelled and the folders are the working one.
        assert!(!current());
        assert!((0..EVERY * 2).try_for_each(check).is_ok());
        assert_eq!(dirs_now(), std::env::current_dir().unwrap());
    }
}
