//! One task: an agent call with its timeout, retries and backoff.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::journal::TaskKey;
use super::{Attempt, TaskStatus};
use crate::agent::{Agent, AgentError, Approver, Call, Inline, Reply};
use crate::exec::Executor;
use crate::shell::Command;

/// A task ready to run: its call and its modifiers, all evaluated.
pub(crate) struct Prepared {
    /// What carries the call out.
    pub implementation: Arc<dyn Agent>,
    pub agent: Arc<str>,
    /// The task id, set when the task is launched (instant tasks need none).
    pub task: String,
    pub instructions: Option<String>,
    pub context: Map<String, Value>,
    pub config: Arc<Map<String, Value>>,
    pub command: Option<Arc<Command>>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub backoff: Duration,
    /// Its cache key, when the run has a journal.
    pub keyed: Option<TaskKey>,
    /// The tools its call may use.
    pub tools: Option<crate::agent::Tools>,
    /// What it may spend, when its agent spends tokens (for the budget).
    pub estimate: Option<crate::agent::Estimate>,
    /// The budget's cap on its reply, set when it starts.
    pub max_tokens: Option<u64>,
    /// What it takes to run and where (see `scheduler/placement.rs`).
    pub placement: Placement,
}

/// What a task takes while it runs, and which executor runs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Placement {
    /// `--jobs` slots, when it runs here (its `cpus`, else 1).
    pub cpus: u32,
    /// Bytes of memory it was admitted with (its `mem`), when it runs here.
    pub memory: u64,
    /// The executor, as an index in [`Services::executors`]; `None`: the
    /// run's local one.
    pub executor: Option<u16>,
    /// Whether that executor queues work elsewhere (then no `--jobs` slot
    /// or memory here, but a place in its queue).
    pub remote: bool,
}

/// What a run gives each of its calls besides the call itself.
#[derive(Clone)]
pub(crate) struct Services {
    /// Where commands run by default: this machine.
    pub executor: Arc<dyn Executor>,
    /// Every executor of the run, by index: the default first, then the
    /// host's, then the built-in Slurm one.
    pub executors: Arc<[Arc<dyn Executor>]>,
    /// Who answers `approve`.
    pub approver: Option<Arc<dyn Approver>>,
    /// Who hears of a failed attempt that will be retried (the run's
    /// observer), and the secrets its error must not show.
    pub retries: Option<(super::Observer, Arc<crate::secret::Secrets>)>,
}

/// What running a task produced.
pub(crate) struct Executed {
    pub status: TaskStatus,
    pub attempts: u32,
    pub result: Result<Reply, AgentError>,
    pub started: SystemTime,
    pub ended: SystemTime,
    pub elapsed: Duration,
    /// Each attempt (kept when the run has a journal).
    pub history: Vec<Attempt>,
    pub keyed: Option<TaskKey>,
}

impl Prepared {
    /// The call an agent receives, for one attempt.
    fn call(&self, cancel: CancellationToken, services: &Services) -> Call {
        Call {
            agent: self.agent.clone(),
            task: self.task.clone(),
            instructions: self.instructions.clone(),
            context: self.context.clone(),
            config: self.config.clone(),
            command: self.command.clone(),
            cancel,
            executor: match self.placement.executor {
                Some(i) => services.executors[i as usize].clone(),
                None => services.executor.clone(),
            },
            timeout: self.timeout,
            tools: self.tools.clone(),
            max_tokens: self.max_tokens,
            approver: services.approver.clone(),
        }
    }

    /// Runs the task: each attempt within its timeout, failed attempts retried
    /// after an exponential backoff, until one succeeds or `cancel` fires.
    pub(crate) async fn run(self, cancel: CancellationToken, services: Services) -> Executed {
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut attempts = 0;
        let mut history = Vec::new();
        let journaled = self.keyed.is_some();
        let (status, result) = loop {
            attempts += 1;
            let attempt = cancel.child_token();
            let call = self.call(attempt.clone(), &services);
            let began = SystemTime::now();
            let outcome = attempt_once(&*self.implementation, call, self.timeout, &attempt).await;
            let retried = outcome.0 != TaskStatus::Succeeded
                && attempts <= self.retries
                && !cancel.is_cancelled();
            if journaled || (retried && services.retries.is_some()) {
                let ended = Attempt {
                    started_at: began,
                    ended_at: SystemTime::now(),
                    status: outcome.0,
                    exit_code: outcome.1.as_ref().err().and_then(|e| e.exit_code),
                    error: outcome.1.as_ref().err().map(|e| e.message.clone()),
                };
                if retried {
                    self.report_retry(&services, attempts, &ended);
                }
                if journaled {
                    history.push(ended);
                }
            }
            match outcome {
                (TaskStatus::Succeeded, result) => break (TaskStatus::Succeeded, result),
                (_, result) if cancel.is_cancelled() => {
                    // Keep what it printed before it was stopped.
                    let logs = result.err().and_then(|e| e.logs);
                    let error = AgentError {
                        logs,
                        ..AgentError::new("cancelled")
                    };
                    break (TaskStatus::Cancelled, Err(error));
                }
                (status, result) if attempts > self.retries => break (status, result),
                (_, _) => {
                    let wait = backoff_delay(self.backoff, attempts);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => break (TaskStatus::Cancelled, Err(AgentError::new("cancelled"))),
                    }
                }
            }
        };
        Executed {
            status,
            attempts,
            result,
            started,
            ended: SystemTime::now(),
            elapsed: clock.elapsed(),
            history,
            keyed: self.keyed,
        }
    }
}

impl Prepared {
    /// Tells the run's observer that attempt `attempt` failed and another follows.
    fn report_retry(&self, services: &Services, attempt: u32, ended: &Attempt) {
        let Some((observer, secrets)) = &services.retries else {
            return;
        };
        let mut ended = ended.clone();
        if let Some(error) = &mut ended.error {
            secrets.redact_in(error);
        }
        let retry = super::Retry {
            id: self.task.clone(),
            agent: self.agent.clone(),
            attempt,
            attempts: self.retries + 1,
            ended,
            backoff: backoff_delay(self.backoff, attempt),
        };
        observer(&super::Event::Retrying(&retry));
    }
}

impl Prepared {
    /// How long the call waits, when it only waits (see [`Agent::wait_only`]).
    pub(crate) fn wait_only(&self) -> Option<Duration> {
        if self.timeout.is_some() || self.retries > 0 {
            return None;
        }
        let call = Inline {
            instructions: self.instructions.as_deref(),
            context: &self.context,
            config: &self.config,
        };
        self.implementation.wait_only(&call)
    }
}

impl Prepared {
    /// A dry run's task: the agent's stub for the call, at once; nothing is
    /// run (see [`Agent::stub`]).
    pub(crate) fn stub(self, cancel: CancellationToken, services: &Services) -> Executed {
        let started = SystemTime::now();
        let call = self.call(cancel, services);
        let result = self.implementation.stub(&call).map(|value| Reply {
            notes: vec!["dry run: the agent was not called; this value is a stub".to_string()],
            ..Reply::value(value)
        });
        let status = if result.is_ok() {
            TaskStatus::Succeeded
        } else {
            TaskStatus::Failed
        };
        Executed {
            status,
            attempts: 1,
            result,
            started,
            ended: SystemTime::now(),
            elapsed: Duration::ZERO,
            history: Vec::new(),
            keyed: None,
        }
    }
}

/// A call that only waits: a bare timer, cut short by `cancel`. Its future
/// holds little more than the timer, where [`Prepared::run`]'s holds the call.
pub(crate) async fn wait(wait: Duration, cancel: CancellationToken, keyed: Option<TaskKey>) -> Executed {
    let started = SystemTime::now();
    let clock = Instant::now();
    let (status, result) = tokio::select! {
        () = tokio::time::sleep(wait) => (TaskStatus::Succeeded, Ok(Reply::default())),
        () = cancel.cancelled() => (TaskStatus::Cancelled, Err(AgentError::new("cancelled"))),
    };
    let ended = SystemTime::now();
    let history = match &keyed {
        Some(_) => vec![Attempt {
            started_at: started,
            ended_at: ended,
            status,
            exit_code: None,
            error: result.as_ref().err().map(|e| e.message.clone()),
        }],
        None => Vec::new(),
    };
    Executed {
        status,
        attempts: 1,
        result,
        started,
        ended,
        elapsed: clock.elapsed(),
        history,
        keyed,
    }
}

/// The wall clock as the scheduler's inline answers read it. Within a burst
/// of pure work ([`BurstClock::begin`] to [`BurstClock::end`]) one reading
/// serves up to [`BurstClock::ANSWERS`] answers: a reading costs about 40 ns,
/// a fifth of what a `noop` task costs in all. A time is early by the pure
/// work done since its reading, in the same burst: for a burst of `noop`s a
/// few microseconds, where records keep milliseconds; more only when a value
/// the burst computes meanwhile is slow to make. It is never earlier than
/// the end of a task the answer waited for: a task's end starts a burst,
/// and every burst starts with a fresh reading. Outside a burst, every
/// reading is fresh.
#[derive(Debug, Default)]
pub(crate) struct BurstClock {
    last: std::cell::Cell<Option<SystemTime>>,
    /// How many more answers may take `last`.
    left: std::cell::Cell<u32>,
    in_burst: std::cell::Cell<bool>,
}

impl BurstClock {
    /// How many answers one reading serves, at most.
    pub(crate) const ANSWERS: u32 = 64;

    pub(crate) fn begin(&self) {
        self.in_burst.set(true);
        self.left.set(0);
    }

    pub(crate) fn end(&self) {
        self.in_burst.set(false);
        self.left.set(0);
    }

    /// Now, or the reading of a moment ago in this burst.
    pub(crate) fn now(&self) -> SystemTime {
        match self.last.get() {
            Some(last) if self.left.get() > 0 => {
                self.left.set(self.left.get() - 1);
                last
            }
            _ => {
                let now = SystemTime::now();
                if self.in_burst.get() {
                    self.last.set(Some(now));
                    self.left.set(Self::ANSWERS - 1);
                }
                now
            }
        }
    }
}

/// A call of an inline agent (`echo`, `noop`, `fail`), answered at once on
/// the scheduler, as the task it ran as. It takes no time: it starts and
/// ends when it answers (`clock`), and the clock is read only when that
/// time will be recorded (`timed`, or a failure, or usage).
pub(crate) fn inline_executed(
    result: Result<Reply, AgentError>,
    timed: bool,
    clock: &BurstClock,
) -> Executed {
    let plain = matches!(&result, Ok(reply) if reply.usage.is_none());
    let started = if timed || !plain {
        clock.now()
    } else {
        SystemTime::UNIX_EPOCH
    };
    let status = if result.is_ok() {
        TaskStatus::Succeeded
    } else {
        TaskStatus::Failed
    };
    Executed {
        status,
        attempts: 1,
        result,
        started,
        ended: started,
        elapsed: Duration::ZERO,
        history: Vec::new(),
        keyed: None,
    }
}

/// The wait before attempt `attempt + 1`: `backoff`, then twice that, and so on.
pub(crate) fn backoff_delay(backoff: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    backoff.saturating_mul(factor)
}

/// How long an agent has to stop once its call times out or is cancelled (an
/// `sh` command gets SIGTERM, 2 s, then SIGKILL); a future still running then
/// is dropped (the local executor kills the process group when dropped).
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

async fn attempt_once(
    agent: &dyn Agent,
    call: Call,
    timeout: Option<Duration>,
    cancel: &CancellationToken,
) -> (TaskStatus, Result<Reply, AgentError>) {
    let work = agent.call(call);
    tokio::pin!(work);
    let deadline = async {
        match timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = &mut work => {
            let status = if result.is_ok() { TaskStatus::Succeeded } else { TaskStatus::Failed };
            (status, result)
        }
        () = deadline => {
            // Ask the agent to stop and give it time to (an `sh` child is
            // killed and reaped); one that ignores `call.cancel` is dropped.
            cancel.cancel();
            let logs = stopped_logs(tokio::time::timeout(STOP_GRACE, work).await);
            let limit = timeout.unwrap_or_default();
            let message = format!("timed out after {}", duration_text(limit));
            (TaskStatus::TimedOut, Err(AgentError { logs, ..AgentError::new(message) }))
        }
        () = cancel.cancelled() => {
            let logs = stopped_logs(tokio::time::timeout(STOP_GRACE, work).await);
            (TaskStatus::Cancelled, Err(AgentError { logs, ..AgentError::new("cancelled") }))
        }
    }
}

/// What a stopped call printed before it stopped, when it said.
fn stopped_logs<E>(
    ended: Result<Result<Reply, AgentError>, E>,
) -> Option<Box<crate::agent::Logs>> {
    match ended {
        Ok(Ok(reply)) => reply.logs,
        Ok(Err(error)) => error.logs,
        Err(_) => None,
    }
}

/// A duration as a script would write it: `200ms`, `1.5s`, `2m`, `1h 30m`.
pub(crate) fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if d.as_secs() < 60 {
        let text = format!("{:.3}", d.as_secs_f64());
        return format!("{}s", text.trim_end_matches('0').trim_end_matches('.'));
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// The help of a timed-out task or call: more time, or retries when there were none.
pub(crate) fn timeout_help(retried: bool) -> &'static str {
    if retried {
        "raise its `timeout`: every attempt ran out of time"
    } else {
        "raise its `timeout`, or add `retry N` if it is only sometimes slow"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_script_writes_them() {
        assert_eq!(duration_text(Duration::from_millis(200)), "200ms");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1.5s");
        assert_eq!(duration_text(Duration::from_secs(30)), "30s");
        assert_eq!(duration_text(Duration::from_secs(150)), "2m 30s");
        assert_eq!(duration_text(Duration::from_secs(5400)), "1h 30m");
    }

    /// Waits until the wall clock has moved on from `since`.
    fn after(since: SystemTime) {
        while SystemTime::now() <= since {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_burst_reads_the_clock_once_for_many_answers_and_never_outside() {
        let clock = BurstClock::default();
        // Outside a burst, every reading is fresh.
        let first = clock.now();
        after(first);
        assert!(clock.now() > first);

        clock.begin();
        let read = clock.now();
        after(read);
        for answer in 1..BurstClock::ANSWERS {
            assert_eq!(clock.now(), read, "answer {answer} takes the burst's reading");
        }
        let next = clock.now();
        assert!(next > read, "after {} answers the clock is read again", BurstClock::ANSWERS);

        // A new burst starts with a fresh reading, and the end of one
        // leaves nothing behind for what comes after it.
        after(next);
        clock.begin();
        let fresh = clock.now();
        assert!(fresh > next);
        clock.end();
        after(fresh);
        assert!(clock.now() > fresh);
    }
}
