//! The store of one `flow run`, on a thread of its own from the start: it
//! opens the database while the script compiles, answers the questions the
//! run asks before it starts (`--resume latest`, strays of killed runs), then
//! writes the run's row and stays on as the run's writer, on the same
//! connection.
//!
//! Opening a store costs about a millisecond (the log's index rebuilt, the
//! schema read, the version checked); a run of one `sh` task takes about as
//! long. On the run's thread that millisecond would come before the first
//! task; here it overlaps the compile, and one connection and one thread do
//! what three connections and two threads did (`bench/README.md`, "Start-up").

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::inbox::Inbox;
use super::journal::{write, Begun, Message};
use super::{NewRun, RunJournal, Store, StoreError};

/// A store being opened, then used, on its own thread. See the module
/// documentation.
pub struct StoreWorker {
    dir: PathBuf,
    jobs: mpsc::Sender<Job>,
    /// The thread, or why none could be started.
    thread: Result<JoinHandle<Result<(), StoreError>>, String>,
}

type Call = Box<dyn FnOnce(Result<&Store, &StoreError>) + Send>;

/// A run's row written, and the queue to its writer.
type Started = (Begun, Arc<Inbox<Message>>);

enum Job {
    /// Run a function on the store (or learn why it did not open).
    Call(Call),
    /// Write the run's row, answer, and become the run's writer.
    Begin(NewRun, mpsc::Sender<Result<Started, StoreError>>),
}

impl StoreWorker {
    /// Starts opening the store in `dir` (creating it, migrating an older
    /// one); returns at once.
    pub fn open(dir: PathBuf) -> StoreWorker {
        let (jobs, received) = mpsc::channel();
        let at = dir.clone();
        // Without a thread, every job is refused (its receiver is gone) with
        // the reason kept here.
        let thread = std::thread::Builder::new()
            .name("flow-store".into())
            .spawn(move || serve(&at, received))
            .map_err(|e| format!("cannot start its thread: {e}"));
        StoreWorker { dir, jobs, thread }
    }

    /// Runs `f` on the store, on its thread, and returns what `f` returns;
    /// the error that kept the store from opening, when it did not.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        let answered = self.submit(move |store| store.map(f).map_err(StoreError::clone));
        answered.recv().unwrap_or_else(|_| Err(self.stopped()))
    }

    /// Queues `f` for the store's thread, given the store or why it did not
    /// open, and returns at once: `f`'s result comes on the receiver, which
    /// is closed without one if the thread is gone. For work that needs no
    /// answer yet, done on that thread while this one is busy.
    pub fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(Result<&Store, &StoreError>) -> R + Send + 'static,
    ) -> mpsc::Receiver<R> {
        let (answer, answered) = mpsc::channel();
        let job = Job::Call(Box::new(move |store: Result<&Store, &StoreError>| {
            let _ = answer.send(f(store));
        }));
        // Refused: `answer` went with the job, so the receiver is closed.
        let _ = self.jobs.send(job);
        answered
    }

    /// Writes the run's row and hands the run to this thread as its writer.
    pub fn begin(self, run: NewRun) -> Result<RunJournal, StoreError> {
        let (answer, answered) = mpsc::channel();
        let stopped = self.stopped();
        if self.jobs.send(Job::Begin(run, answer)).is_err() {
            return Err(stopped);
        }
        let (begun, inbox) = answered.recv().unwrap_or(Err(stopped))?;
        let thread = self.thread.map_err(|why| StoreError::new(&self.dir, why))?;
        Ok(RunJournal::new(begun, &self.dir, inbox, thread))
    }

    fn stopped(&self) -> StoreError {
        let why = match &self.thread {
            Ok(_) => "its thread stopped unexpectedly",
            Err(why) => why,
        };
        StoreError::new(&self.dir, why)
    }
}

/// The thread: opens the store, answers calls until a run begins, then
/// writes that run.
fn serve(dir: &Path, jobs: mpsc::Receiver<Job>) -> Result<(), StoreError> {
    let store = Store::open(dir);
    for job in jobs {
        let (run, answer) = match job {
            Job::Call(f) => {
                f(store.as_ref());
                continue;
            }
            Job::Begin(run, answer) => (run, answer),
        };
        let begun = store.and_then(|store| Ok((store.write_run_row(run)?, store)));
        let (begun, Store { dir, conn }) = match begun {
            Ok(begun) => begun,
            Err(e) => {
                let _ = answer.send(Err(e.clone()));
                return Err(e);
            }
        };
        let inbox = Arc::new(Inbox::new());
        let id = begun.id;
        let _ = answer.send(Ok((begun, inbox.clone())));
        return write(conn, &dir, id, inbox);
    }
    store.map(drop)
}
