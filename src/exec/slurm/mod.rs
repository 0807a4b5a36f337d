//! The Slurm executor: each command becomes a batch job on a Slurm cluster.
//!
//! Commands handed to [`SlurmExecutor::run`] are gathered for a moment
//! ([`SlurmOptions::gather`]) and submitted together: the commands that ask
//! for the same resources go as one job array (`sbatch --array`, chunked to
//! the cluster's `MaxArraySize`), so a `map` of 500 commands is one
//! `sbatch`, not 500. Every file of a job lives in the work folder, which
//! the cluster's nodes must share: the job script, each task's script
//! (its environment and command), its stdin (the context, as locally), its
//! stdout and stderr, and the exit status the job writes when the command
//! ends.
//!
//! One driver task per executor (`driver.rs`) owns every job of the run: it
//! looks for exit-status files every [`SlurmOptions::check`] (one
//! `read_dir` per batch) and asks `squeue` about the run's jobs every
//! [`SlurmOptions::poll`] — one call for the whole run, never one per job —
//! to notice jobs that ended without a status (`TIMEOUT`, `OUT_OF_MEMORY`,
//! `NODE_FAIL`, a cancellation from outside). Cancelled commands are
//! `scancel`led together, and the jobs still live when the executor is
//! dropped are cancelled then (see docs/executors.md).

mod driver;
mod job;
mod queue;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Capacity, CommandSpec, ExecError, ExecFuture, Executor, RunEnvironment};

/// How the Slurm executor submits and watches jobs.
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    /// Where job files go: a folder the cluster's nodes share (created when
    /// the first job is submitted). `flow run` uses the run's folder in the
    /// run store (`.flow/runs/<run>/slurm`), or `--work-dir`.
    pub work_dir: PathBuf,
    /// Each job's name (`--job-name`), before the task's: `flow-12` for run 12.
    pub name: String,
    /// Each job's comment (`--comment`): what finds the run's jobs again
    /// after `flow` was killed (`flow:<store>#<run>`).
    pub tag: String,
    /// How often `squeue` is asked about the run's jobs. Default 1 s.
    pub poll: Duration,
    /// How often the work folder is looked at for exit statuses. Default 100 ms.
    pub check: Duration,
    /// How long commands handed over are gathered before one `sbatch`.
    /// Default 20 ms.
    pub gather: Duration,
    /// The most of the run's jobs queued or running at once. Default 1,000.
    pub queue_size: usize,
    /// The most tasks in one job array, below the cluster's `MaxArraySize`
    /// (`FLOW_SLURM_ARRAY_SIZE`); `None`: the cluster's.
    pub max_array: Option<usize>,
    /// How many times a job that ends `NODE_FAIL`, `PREEMPTED` or
    /// `BOOT_FAIL` is submitted again. Default 3.
    pub resubmit: u32,
    /// How long to wait for a job's exit status once the queue says it
    /// ended (a shared file system may show it late). Default 30 s.
    pub exit_grace: Duration,
    /// Variables of this process that jobs must not get, besides the run's
    /// secrets: `flow` keeps its own process tag out of them (its guard
    /// kills the processes that carry it when `flow` dies, and a job is
    /// the cluster's, not `flow`'s).
    pub not_exported: Vec<String>,
    /// A file made before the first job is submitted, which says the run
    /// may have left jobs behind: the next command looks for a killed
    /// run's jobs in Slurm's queue only when it exists (`flow run` puts it
    /// in the run's folder in the store).
    pub marker: Option<PathBuf>,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        let id = std::process::id();
        SlurmOptions {
            work_dir: PathBuf::from(".flow/work").join(format!("slurm-{id}")),
            name: format!("flow-{id}"),
            tag: format!("flow:pid{id}"),
            poll: Duration::from_secs(1),
            check: Duration::from_millis(100),
            gather: Duration::from_millis(20),
            queue_size: 1000,
            max_array: None,
            resubmit: 3,
            exit_grace: Duration::from_secs(30),
            not_exported: Vec::new(),
            marker: None,
        }
    }
}

/// Runs each command as a Slurm batch job (see the module documentation).
pub struct SlurmExecutor {
    options: SlurmOptions,
    environment: OnceLock<RunEnvironment>,
    driver: OnceLock<mpsc::UnboundedSender<driver::Message>>,
    /// The job ids (`123_4`) submitted and not yet ended, shared with the driver.
    live: Arc<Live>,
    next: AtomicU64,
}

/// The run's jobs that may still be queued or running.
#[derive(Default)]
pub(super) struct Live(Mutex<HashSet<String>>);

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Cancels every job still live, waiting for `scancel` (for the ends of
    /// a run that no task saw: a dropped run, `flow` ending on a signal).
    pub(super) fn cancel_all(&self) {
        let ids: Vec<String> = self.lock().drain().collect();
        if !ids.is_empty() {
            use std::os::unix::process::CommandExt;
            let _ = std::process::Command::new("scancel")
                .process_group(0)
                .args(&ids)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl SlurmExecutor {
    /// An executor with these options. Nothing is run until the first command.
    pub fn new(options: SlurmOptions) -> SlurmExecutor {
        SlurmExecutor {
            options,
            environment: OnceLock::new(),
            driver: OnceLock::new(),
            live: Arc::default(),
            next: AtomicU64::new(0),
        }
    }

    /// Its options.
    pub fn options(&self) -> &SlurmOptions {
        &self.options
    }

    /// A function that cancels every job of the run still queued or running,
    /// and waits for `scancel`: for a program ending without dropping the
    /// executor (`flow` on a second Ctrl-C).
    pub fn canceller(&self) -> impl Fn() + Send + Sync + 'static {
        let live = self.live.clone();
        move || live.cancel_all()
    }

    /// The driver's inbox, starting the driver on the current Tokio runtime
    /// at the first command.
    fn driver(&self) -> &mpsc::UnboundedSender<driver::Message> {
        self.driver.get_or_init(|| {
            let (sender, inbox) = mpsc::unbounded_channel();
            let mut environment = self.environment.get().cloned().unwrap_or_default();
            environment
                .hidden
                .extend(self.options.not_exported.iter().cloned());
            let driver = driver::Driver::new(self.options.clone(), environment, self.live.clone());
            tokio::spawn(driver.run(inbox));
            sender
        })
    }
}

impl Drop for SlurmExecutor {
    fn drop(&mut self) {
        self.live.cancel_all();
    }
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &str {
        "slurm"
    }

    fn capacity(&self) -> Capacity {
        Capacity::Queue(self.options.queue_size.max(1))
    }

    fn begin_run(&self, environment: &RunEnvironment) {
        let _ = self.environment.set(environment.clone());
    }

    fn run<'a>(&'a self, spec: &'a CommandSpec, cancel: &'a CancellationToken) -> ExecFuture<'a> {
        Box::pin(async move {
            if cancel.is_cancelled() {
                return Err(ExecError::cancelled());
            }
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            let (reply, mut answer) = oneshot::channel();
            let lost = || ExecError::Io {
                source: std::io::Error::other("the Slurm executor's driver stopped"),
            };
            let driver = self.driver();
            let submission = driver::Submission {
                id,
                spec: spec.clone(),
                reply,
            };
            if driver
                .send(driver::Message::Submit(Box::new(submission)))
                .is_err()
            {
                return Err(lost());
            }
            tokio::select! {
                answer = &mut answer => answer.unwrap_or_else(|_| Err(lost())),
                () = cancel.cancelled() => {
                    // The driver cancels the job (`scancel`, batched with
                    // others) and answers once it has.
                    let _ = driver.send(driver::Message::Cancel(id));
                    answer.await.unwrap_or_else(|_| Err(ExecError::cancelled()))
                }
            }
        })
    }
}
