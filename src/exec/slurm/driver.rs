//! The driver: one task per executor that owns every job of the run. It
//! gathers commands into batches, submits each with one `sbatch`, finds
//! finished tasks by their exit-status files, asks `squeue` about all the
//! run's jobs at once, resubmits jobs whose node failed, and cancels with
//! one `scancel` what was cancelled together.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::job::{self, Shape};
use super::queue::{self, Asked, Verdict};
use super::{Live, SlurmOptions};
use crate::exec::{CommandOutput, CommandSpec, ExecError, RunEnvironment};

/// What the executor tells its driver.
pub(super) enum Message {
    /// Run this command.
    Submit(Box<Submission>),
    /// The command with this id was cancelled.
    Cancel(u64),
}

/// A command handed over, and where its answer goes.
pub(super) struct Submission {
    pub id: u64,
    pub spec: CommandSpec,
    pub reply: oneshot::Sender<Result<CommandOutput, ExecError>>,
}

/// A command waiting to be submitted (again, after its node failed).
struct Waiting {
    submission: Box<Submission>,
    /// Earlier submissions, and what became of them.
    attempts: u32,
    notes: Vec<String>,
    since: Instant,
}

/// A command submitted as element `index` of batch `batch`.
struct Job {
    waiting: Waiting,
    batch: usize,
    index: usize,
    /// Its id in Slurm: `123_4`, or `123` for a lone job.
    slurm_id: String,
    submitted: Instant,
    /// When the queue first said it ended while its status was not there yet.
    ended: Option<(Instant, String)>,
    /// An exit status above 128 (the command killed by a signal), held until
    /// the queue says whether Slurm killed it (a time limit, a node failure).
    signalled: Option<i32>,
}

/// One `sbatch`: its folder, job id, what it asked for, its tasks by index.
struct Batch {
    dir: PathBuf,
    asked: Asked,
    tasks: Vec<u64>,
    live: usize,
}

pub(super) struct Driver {
    options: SlurmOptions,
    environment: RunEnvironment,
    live: Arc<Live>,
    gathered: Vec<Waiting>,
    jobs: HashMap<u64, Job>,
    batches: Vec<Batch>,
    /// The cluster's `MaxArraySize`, once asked.
    max_array: Option<usize>,
    /// The number of the last batch folder made (`b3`).
    next_dir: usize,
}

impl Driver {
    pub(super) fn new(
        options: SlurmOptions,
        environment: RunEnvironment,
        live: Arc<Live>,
    ) -> Driver {
        Driver {
            options,
            environment,
            live,
            gathered: Vec::new(),
            jobs: HashMap::new(),
            batches: Vec::new(),
            max_array: None,
            next_dir: 0,
        }
    }

    pub(super) async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Message>) {
        let mut gather_until: Option<Instant> = None;
        let (mut next_check, mut next_poll) = (Instant::now(), Instant::now());
        loop {
            // Commands to submit (handed over, or to submit again) wait at
            // most `gather` for others to join them.
            if !self.gathered.is_empty() && gather_until.is_none() {
                gather_until = Some(Instant::now() + self.options.gather);
            }
            let busy = !self.jobs.is_empty();
            let wake = [
                gather_until,
                busy.then_some(next_check),
                busy.then_some(next_poll),
            ]
            .into_iter()
            .flatten()
            .min();
            let mut cancels = Vec::new();
            tokio::select! {
                message = inbox.recv() => {
                    let Some(message) = message else { break };
                    self.take(message, &mut cancels);
                    while let Ok(message) = inbox.try_recv() {
                        self.take(message, &mut cancels);
                    }
                }
                () = sleep_until(wake), if wake.is_some() => {}
            }
            if !cancels.is_empty() {
                self.cancel(cancels).await;
            }
            let now = Instant::now();
            if !self.gathered.is_empty() {
                let until = *gather_until.get_or_insert(now + self.options.gather);
                if now >= until || self.gathered.len() >= self.max_array.unwrap_or(usize::MAX) {
                    if self.jobs.is_empty() {
                        next_poll = now + self.options.poll;
                    }
                    self.submit().await;
                    gather_until = None;
                }
            }
            if !self.jobs.is_empty() && now >= next_check {
                self.check_statuses();
                self.drop_abandoned().await;
                next_check = now + self.options.check;
            }
            if !self.jobs.is_empty() && now >= next_poll {
                self.poll().await;
                next_poll = Instant::now() + self.options.poll;
            }
        }
        // The executor is gone with jobs still live (its run was dropped).
        self.live.cancel_all();
    }

    fn take(&mut self, message: Message, cancels: &mut Vec<u64>) {
        match message {
            Message::Submit(submission) => self.gathered.push(Waiting {
                submission,
                attempts: 0,
                notes: Vec::new(),
                since: Instant::now(),
            }),
            Message::Cancel(id) => cancels.push(id),
        }
    }

    /// Cancels these commands: the submitted ones with one `scancel`, then
    /// answers each (after `scancel`, so no job outlives its answer).
    async fn cancel(&mut self, ids: Vec<u64>) {
        let mut answers = Vec::new();
        let mut scancel = Vec::new();
        for id in ids {
            if let Some(at) = self.gathered.iter().position(|w| w.submission.id == id) {
                answers.push((self.gathered.swap_remove(at), ExecError::cancelled()));
            } else if let Some(job) = self.forget(id) {
                let dir = &self.batches[job.batch].dir;
                let error = ExecError::Cancelled {
                    stderr_tail: job::tail(&dir.join(format!("{}.err", job.index))),
                    stdout_tail: job::tail(&dir.join(format!("{}.out", job.index))),
                };
                scancel.push(job.slurm_id);
                answers.push((job.waiting, error));
            }
        }
        if !scancel.is_empty() {
            let _ = slurm_command("scancel")
                .args(&scancel)
                .stdin(std::process::Stdio::null())
                .output()
                .await;
        }
        for (waiting, error) in answers {
            let _ = waiting.submission.reply.send(Err(error));
        }
    }

    /// Takes a submitted job out of every table.
    fn forget(&mut self, id: u64) -> Option<Job> {
        let job = self.jobs.remove(&id)?;
        self.live.lock().remove(&job.slurm_id);
        self.batches[job.batch].live -= 1;
        Some(job)
    }

    /// Cancels the jobs whose caller stopped waiting (its future was dropped).
    async fn drop_abandoned(&mut self) {
        let abandoned: Vec<u64> = (self.jobs.iter())
            .filter(|(_, job)| job.waiting.submission.reply.is_closed())
            .map(|(id, _)| *id)
            .collect();
        if !abandoned.is_empty() {
            self.cancel(abandoned).await;
        }
    }

    /// Submits what was gathered: one batch per shape, each chunked to the
    /// cluster's `MaxArraySize`.
    async fn submit(&mut self) {
        let max = self.max_array().await;
        let mut groups: Vec<(Shape, Vec<Waiting>)> = Vec::new();
        for waiting in std::mem::take(&mut self.gathered) {
            let shape = Shape::of(&waiting.submission.spec);
            match groups.iter_mut().find(|(s, _)| *s == shape) {
                Some((_, group)) => group.push(waiting),
                None => groups.push((shape, vec![waiting])),
            }
        }
        for (shape, mut group) in groups {
            while !group.is_empty() {
                let rest = group.split_off(group.len().min(max));
                let chunk = std::mem::replace(&mut group, rest);
                self.submit_batch(&shape, chunk).await;
            }
        }
    }

    /// The most elements of one job array (`scontrol show config`, asked
    /// once; 1,001, Slurm's default, when it cannot say).
    async fn max_array(&mut self) -> usize {
        if let Some(max) = self.max_array {
            return max;
        }
        let answer = slurm_command("scontrol")
            .args(["show", "config"])
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        let max = answer
            .ok()
            .filter(|a| a.status.success())
            .and_then(|a| queue::max_array_size(&String::from_utf8_lossy(&a.stdout)))
            .unwrap_or(1001)
            .min(self.options.max_array.unwrap_or(usize::MAX))
            // 0 turns arrays off: one job per command.
            .max(1);
        self.max_array = Some(max);
        max
    }

    /// One `sbatch` for these commands, which share `shape`.
    async fn submit_batch(&mut self, shape: &Shape, chunk: Vec<Waiting>) {
        let dir = match self.new_batch_dir() {
            Ok(dir) => dir,
            Err(e) => {
                let shown = self.options.work_dir.display();
                let message = format!("cannot create a folder in the work folder `{shown}`: {e}");
                return fail_all(chunk, &message, "");
            }
        };
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let mut ready = Vec::with_capacity(chunk.len());
        for waiting in chunk {
            let spec = &waiting.submission.spec;
            match job::write_task(&dir, ready.len(), spec, &self.environment) {
                Ok(()) => ready.push(waiting),
                Err(error) => {
                    let _ = waiting.submission.reply.send(Err(error));
                }
            }
        }
        if ready.is_empty() {
            return;
        }
        if let Err(e) = job::write_batch_script(&dir) {
            let message = format!("cannot write the job script in `{}`: {e}", dir.display());
            return fail_all(ready, &message, "");
        }
        let name = job_name(&self.options.name, &ready[0].submission.spec.task);
        let args = job::sbatch_args(shape, &dir, ready.len(), &name, &self.options.tag);
        let mut sbatch = slurm_command("sbatch");
        sbatch.args(&args).stdin(std::process::Stdio::null());
        for hidden in &self.environment.hidden {
            sbatch.env_remove(hidden);
        }
        let id = match sbatch.output().await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let message = "cannot submit to Slurm: `sbatch` is not on PATH (run flow where Slurm's commands are, or use `--executor local`)";
                return fail_all(ready, message, "");
            }
            Err(e) => return fail_all(ready, &format!("cannot run `sbatch`: {e}"), ""),
            Ok(answer) => {
                let stderr = String::from_utf8_lossy(&answer.stderr).trim().to_string();
                match job::parsable_id(&String::from_utf8_lossy(&answer.stdout)) {
                    Some(id) if answer.status.success() => id,
                    _ => {
                        let first = stderr.lines().next().unwrap_or("no answer");
                        let message = format!("Slurm refused the job: {first}");
                        return fail_all(ready, &message, &stderr);
                    }
                }
            }
        };
        let array = ready.len() > 1;
        let batch = self.batches.len();
        let now = Instant::now();
        let mut tasks = Vec::with_capacity(ready.len());
        let mut live = self.live.lock();
        for (index, waiting) in ready.into_iter().enumerate() {
            let slurm_id = if array {
                format!("{id}_{index}")
            } else {
                id.clone()
            };
            live.insert(slurm_id.clone());
            tasks.push(waiting.submission.id);
            let job = Job {
                waiting,
                batch,
                index,
                slurm_id,
                submitted: now,
                ended: None,
                signalled: None,
            };
            self.jobs.insert(job.waiting.submission.id, job);
        }
        drop(live);
        self.batches.push(Batch {
            dir,
            asked: shape.asked(),
            live: tasks.len(),
            tasks,
        });
    }

    /// A new folder for a batch: `b1`, `b2`, … in the work folder, skipping
    /// those that exist (another run, or an earlier entry of a REPL
    /// session, may have used the same work folder).
    fn new_batch_dir(&mut self) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.options.work_dir)?;
        if let Some(marker) = self.options.marker.take() {
            if let Some(parent) = marker.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::File::create(&marker)?;
        }
        loop {
            self.next_dir += 1;
            let dir = self.options.work_dir.join(format!("b{}", self.next_dir));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Answers every job whose exit status is there (one `read_dir` per
    /// batch with live jobs). A status above 128 (a signal) waits for the
    /// next poll: Slurm may have killed the command (`TIMEOUT`,
    /// `NODE_FAIL`), which the queue tells and the status does not.
    fn check_statuses(&mut self) {
        let mut ended = Vec::new();
        for batch in self.batches.iter().filter(|b| b.live > 0) {
            let Ok(entries) = std::fs::read_dir(&batch.dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(index) = name.to_str().and_then(|n| n.strip_suffix(".exit")) else {
                    continue;
                };
                let Some(&id) = index.parse::<usize>().ok().and_then(|i| batch.tasks.get(i)) else {
                    continue;
                };
                if self
                    .jobs
                    .get(&id)
                    .is_some_and(|job| job.signalled.is_none())
                {
                    ended.push(id);
                }
            }
        }
        for id in ended {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            let dir = &self.batches[job.batch].dir;
            match job::exit_status(dir, job.index) {
                Some(code) if code > 128 => job.signalled = Some(code),
                Some(code) => self.finish(id, code),
                None => {
                    let message = format!("the exit status of job {} cannot be read", job.slurm_id);
                    if let Some(job) = self.forget(id) {
                        fail_all(vec![job.waiting], &message, "");
                    }
                }
            }
        }
    }

    /// Answers a job whose command exited with `code`, from its files.
    fn finish(&mut self, id: u64, code: i32) {
        let Some(job) = self.forget(id) else { return };
        let dir = &self.batches[job.batch].dir;
        let elapsed = job.waiting.since.elapsed();
        let spec = &job.waiting.submission.spec;
        let result = job::result(dir, job.index, code, spec, elapsed).map(|mut output| {
            output.notes = job.waiting.notes;
            output
        });
        let _ = job.waiting.submission.reply.send(result);
    }

    /// Asks `squeue` about every job of the user (one call for the whole
    /// run), and acts on the run's jobs that ended without a status.
    async fn poll(&mut self) {
        let uid = nix::unistd::getuid().to_string();
        let answer = slurm_command("squeue")
            .args(["-h", "-r", "-t", "all", "-u", &uid, "-o", "%i|%T|%r"])
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        // The queue cannot be read (slurmctld restarting): the statuses still
        // come in, and the next poll asks again.
        let Ok(answer) = answer
            .map_err(drop)
            .and_then(|a| a.status.success().then_some(a).ok_or(()))
        else {
            return;
        };
        let states = queue::parse(&String::from_utf8_lossy(&answer.stdout));
        self.check_statuses();
        let now = Instant::now();
        let mut acts = Vec::new();
        for (&id, job) in &mut self.jobs {
            let asked = &self.batches[job.batch].asked;
            let (verdict, state) = match states.get(&job.slurm_id) {
                Some((state, reason)) => (queue::interpret(state, reason, asked), state.clone()),
                // Just submitted, or purged from the queue once ended.
                None if now - job.submitted < 2 * self.options.poll => continue,
                None => (Verdict::ExpectStatus, "gone from the queue".to_string()),
            };
            match verdict {
                Verdict::Alive => job.ended = None,
                Verdict::ExpectStatus if job.signalled.is_some() => {
                    acts.push((id, Act::Finish(job.signalled.unwrap_or_default())));
                }
                Verdict::ExpectStatus => {
                    let (since, state) = job.ended.get_or_insert((now, state));
                    if now - *since >= self.options.exit_grace {
                        let message = format!(
                            "job {} ended ({state}) without its command leaving an exit status in `{}` (is the work folder on a file system the nodes share? see `--work-dir`)",
                            job.slurm_id,
                            self.batches[job.batch].dir.display()
                        );
                        acts.push((id, Act::Fail(message)));
                    }
                }
                Verdict::Resubmit => acts.push((id, Act::Resubmit(state))),
                Verdict::Fail(message) => {
                    acts.push((id, Act::Fail(format!("{message}: job {}", job.slurm_id))))
                }
            }
        }
        for (id, act) in acts {
            if let Act::Finish(code) = act {
                self.finish(id, code);
                continue;
            }
            let Some(mut job) = self.forget(id) else {
                continue;
            };
            match act {
                Act::Finish(_) => {}
                Act::Resubmit(state) if job.waiting.attempts < self.options.resubmit => {
                    job.waiting.attempts += 1;
                    job.waiting.notes.push(format!(
                        "submitted again: job {} ended {state}",
                        job.slurm_id
                    ));
                    self.gathered.push(job.waiting);
                }
                Act::Resubmit(state) => {
                    let message = format!(
                        "the job ended {state} {} times (last: job {}); flow gave up",
                        job.waiting.attempts + 1,
                        job.slurm_id
                    );
                    let log = self.log_tail(&job);
                    fail_all(vec![job.waiting], &message, &log);
                }
                Act::Fail(message) => {
                    let log = self.log_tail(&job);
                    fail_all(vec![job.waiting], &message, &log);
                }
            }
        }
    }

    /// What Slurm and the command wrote about a job that ended badly.
    fn log_tail(&self, job: &Job) -> String {
        let dir = &self.batches[job.batch].dir;
        let log = job::tail(&dir.join(format!("slurm-{}.log", job.index)));
        let err = job::tail(&dir.join(format!("{}.err", job.index)));
        [log, err]
            .into_iter()
            .filter(|t| !t.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What the poll decided about a job.
enum Act {
    /// Its command ended with this status, which the queue does not contradict.
    Finish(i32),
    Resubmit(String),
    Fail(String),
}

/// Answers each command with the same failure.
fn fail_all(chunk: Vec<Waiting>, message: &str, log: &str) {
    for waiting in chunk {
        let _ = waiting.submission.reply.send(Err(ExecError::Cluster {
            message: message.to_string(),
            stderr_tail: log.to_string(),
            stdout_tail: String::new(),
        }));
    }
}

/// A job's name: the run's, then the task's without its indices
/// (`flow-12.align` for `align[3]`), in characters any scheduler takes.
fn job_name(run: &str, task: &str) -> String {
    let mut name = run.to_string();
    let base: String = task
        .split('[')
        .next()
        .unwrap_or("")
        .chars()
        .take(40)
        .collect();
    if !base.is_empty() {
        name.push('.');
        name.extend(base.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        }));
    }
    name
}

/// One of Slurm's commands, in a process group of its own: a Ctrl-C at the
/// terminal (sent to `flow`'s whole group) must not kill an `sbatch` that
/// has submitted but not yet said the job's id, which would leave a job
/// nobody knows of.
fn slurm_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command.stdin(std::process::Stdio::null()).process_group(0);
    command
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_carry_the_run_and_the_task() {
        assert_eq!(job_name("flow-12", "align[3]"), "flow-12.align");
        assert_eq!(job_name("flow-12", "draft.intro"), "flow-12.draft.intro");
        assert_eq!(job_name("flow-12", "a b/c"), "flow-12.a_b_c");
        assert_eq!(job_name("flow-12", ""), "flow-12");
    }
}
