//! Stage 4: running a [`TaskGraph`]. A single scheduler owns every body
//! instance; a task starts the moment the values it reads are ready (dependency
//! counting, never waves), cheap nodes run inline, agent calls run as tokio
//! tasks within the `--jobs`, agent and `map` limits.

mod eval;
mod journal;
mod scheduler;
mod spending;
mod task;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub use crate::agent::{AgentError, AgentFuture, Call, HostAgent, Logs};
pub use journal::{digest, Journal, Request, Reused, TaskKey};
pub use spending::{AgentUsage, BudgetReport, Spending};
#[cfg(feature = "internals")]
pub use eval::EvalError;

use crate::diag::Diagnostic;
use crate::graph::TaskGraph;
use crate::source::Span;

/// A value held by the runtime: shared, never copied between readers.
pub type Val = Arc<Value>;

/// A value as the runtime holds it; `null`, the most common task output, is shared.
pub(crate) fn shared(value: Value) -> Val {
    static NULL: std::sync::LazyLock<Val> = std::sync::LazyLock::new(|| Arc::new(Value::Null));
    if value.is_null() {
        NULL.clone()
    } else {
        Arc::new(value)
    }
}

/// A call's own config, as the scheduler holds it while it prepares the
/// call: the calls without one (most `noop`s, `echo`s, `sh`s) borrow one
/// empty map rather than each allocating its own, and a reference count is
/// taken only when the call is queued (an inline call takes none).
pub(crate) fn call_config(
    config: serde_json::Map<String, Value>,
) -> std::borrow::Cow<'static, Arc<serde_json::Map<String, Value>>> {
    static EMPTY: std::sync::LazyLock<Arc<serde_json::Map<String, Value>>> =
        std::sync::LazyLock::new(Arc::default);
    if config.is_empty() {
        std::borrow::Cow::Borrowed(&EMPTY)
    } else {
        std::borrow::Cow::Owned(Arc::new(config))
    }
}

/// A callback that receives every task event.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// How to run a graph.
#[derive(Clone)]
pub struct RunOptions {
    /// Overall cap on running tasks. `None`: the number of CPUs, for `sh`
    /// tasks only (other backends are bounded by their own `limit`).
    pub jobs: Option<usize>,
    /// Let independent branches finish after an unhandled failure, and keep
    /// a partial [`Outcome::result`].
    pub keep_going: bool,
    /// `--param name=value` overrides, by name.
    pub params: Vec<(String, Value)>,
    /// `param` overrides as written on a command line (`--param NAME=TEXT`):
    /// each converted to the type of its param's default (see
    /// [`RunOptions::param_text`]); they take precedence over `params`.
    pub param_texts: Vec<(String, String)>,
    /// The script's folder: where `script_dir()` points and relative paths
    /// of `read_file`, `read_json` and `glob` start (`FLOW_SCRIPT_DIR` for
    /// commands). [`Engine::run`](crate::Engine::run) sets it to the folder
    /// of a script compiled from a file; else the working folder.
    pub script_dir: Option<std::path::PathBuf>,
    /// Agents registered by the host program, by name (they take precedence
    /// over the engine's agents of the same name).
    pub host_agents: Vec<(String, Arc<dyn HostAgent>)>,
    /// Where commands run; a new [`LocalExecutor`](crate::exec::LocalExecutor)
    /// for each run when `None`.
    pub executor: Option<Arc<dyn crate::exec::Executor>>,
    /// More executors, named by `executor: "NAME"` on a process-running
    /// agent or call, and by [`RunOptions::default_executor`]: a host's own.
    /// The built-in `slurm` (see [`RunOptions::slurm`]) is there unless one
    /// of these takes its name.
    pub executors: Vec<Arc<dyn crate::exec::Executor>>,
    /// The executor of every process-running task that names none
    /// (`--executor slurm`); `None`: this machine.
    pub default_executor: Option<String>,
    /// How the built-in Slurm executor submits and watches jobs (its work
    /// folder, job names and comment, polling).
    pub slurm: crate::exec::SlurmOptions,
    /// Called on every task event, from the scheduler (a retry: from the
    /// task), as it happens: keep it cheap.
    pub observer: Option<Observer>,
    /// Cancels the whole run (Ctrl-C, or the embedding program).
    pub cancel: CancellationToken,
    /// Keep the record of every task in [`Outcome::tasks`] (the default).
    /// When false, only tasks that did not succeed are kept, which saves
    /// memory on runs of millions of tasks; the observer still sees them all.
    pub record_all: bool,
    /// Where tasks are recorded and earlier results found (a run store).
    pub journal: Option<Arc<dyn Journal>>,
    /// Environment variables that hold secrets (`--secret NAME`), besides
    /// those the script's agents name (an `llm`'s `api_key_env`): commands
    /// run by the default executor do not inherit them, and their values are
    /// redacted (`***`) from the task records, the result, the diagnostics
    /// and what the journal is given.
    pub secrets: Vec<String>,
    /// A dry run (`flow run --dry-run`): every agent call is answered by its
    /// agent's [`stub`](crate::Agent::stub), a value of the shape it would
    /// return, and nothing is run, spawned or sent (pure inline agents —
    /// `echo`, `noop`, `fail` — answer as usual). Its tasks get no cache
    /// key: a journal neither offers them a result nor keeps one for a
    /// later `--resume` or `--replay`.
    pub dry_run: bool,
    /// How much the run's model calls may spend (`--budget`); a script's
    /// `budget` declaration tightens it (the smaller of each limit wins).
    pub budget: crate::agent::Budget,
    /// Who answers the questions `approve` calls put to a person (the
    /// terminal, the run store, a host's own channel). Without one, an
    /// `approve` call fails at once.
    pub approver: Option<Arc<dyn crate::agent::Approver>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: None,
            keep_going: false,
            params: Vec::new(),
            param_texts: Vec::new(),
            script_dir: None,
            host_agents: Vec::new(),
            executor: None,
            executors: Vec::new(),
            default_executor: None,
            slurm: crate::exec::SlurmOptions::default(),
            observer: None,
            cancel: CancellationToken::new(),
            record_all: true,
            journal: None,
            secrets: Vec::new(),
            dry_run: false,
            budget: crate::agent::Budget::default(),
            approver: None,
        }
    }
}

impl RunOptions {
    /// Default options: CPU-count `sh` jobs, stop at the first failure, no
    /// params, no observer.
    ///
    /// ```no_run
    /// use flow::RunOptions;
    /// use serde_json::json;
    ///
    /// let options = RunOptions::new()
    ///     .param("topic", json!("tides"))
    ///     .jobs(4)
    ///     .keep_going(true)
    ///     .observe(|event| eprintln!("{event:?}"));
    /// assert_eq!(options.params, vec![("topic".to_string(), json!("tides"))]);
    /// ```
    pub fn new() -> RunOptions {
        RunOptions::default()
    }

    /// Sets a `param` of the script for this run (as `--param name=value` does).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Value>) -> RunOptions {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Overrides a `param` with text as a command line gives it, converted to
    /// the type of the param's default: a string default keeps the text as it
    /// is (`1.10` stays `"1.10"`), a number default needs a number, a boolean
    /// `true` or `false`, a list or object default JSON of that kind; with a
    /// `null` default the text is read as JSON when it parses, else kept as a
    /// string. A value that does not convert is a `bad_param` error at the
    /// `param` line, before anything runs.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use flow::{Engine, RunOptions};
    /// use serde_json::json;
    ///
    /// let engine = Engine::new();
    /// let script = engine
    ///     .compile("p.flow", "param version = \"1.0\"\nparam n = 1\n[version, n]")
    ///     .unwrap();
    /// let options = RunOptions::new().param_text("version", "1.10").param_text("n", "2");
    /// let outcome = engine.run(&script, options).await;
    /// assert_eq!(*outcome.result.unwrap(), json!(["1.10", 2]));
    /// # }
    /// ```
    pub fn param_text(mut self, name: impl Into<String>, text: impl Into<String>) -> RunOptions {
        self.param_texts.push((name.into(), text.into()));
        self
    }

    /// Caps how many tasks run at once, whatever their agent.
    pub fn jobs(mut self, jobs: usize) -> RunOptions {
        self.jobs = Some(jobs.max(1));
        self
    }

    /// After an unhandled failure, lets independent branches finish (`--keep-going`).
    pub fn keep_going(mut self, keep_going: bool) -> RunOptions {
        self.keep_going = keep_going;
        self
    }

    /// Runs commands with `executor` instead of on this machine.
    pub fn executor(mut self, executor: Arc<dyn crate::exec::Executor>) -> RunOptions {
        self.executor = Some(executor);
        self
    }

    /// Runs every process-running task that names no executor on the
    /// executor called `name` (`"slurm"`, or one of [`RunOptions::executors`]).
    pub fn default_executor(mut self, name: impl Into<String>) -> RunOptions {
        self.default_executor = Some(name.into());
        self
    }

    /// Calls `observer` on every task event, from the scheduler, as it happens.
    /// It replaces an observer set before.
    pub fn observe(mut self, observer: impl Fn(&Event) + Send + Sync + 'static) -> RunOptions {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Whether [`Outcome::tasks`] keeps every task's record (the default) or
    /// only those that did not succeed.
    pub fn record_all(mut self, record_all: bool) -> RunOptions {
        self.record_all = record_all;
        self
    }

    /// Records every task in `journal` and re-uses the results it offers.
    pub fn journal(mut self, journal: Arc<dyn Journal>) -> RunOptions {
        self.journal = Some(journal);
        self
    }

    /// Treats the environment variable `name` as a secret (`--secret NAME`):
    /// the run's commands do not inherit it (unless a call passes it with
    /// `env:`), and its value never shows in what the run reports.
    ///
    /// ```no_run
    /// let options = flow::RunOptions::new().secret("GITHUB_TOKEN");
    /// assert_eq!(options.secrets, ["GITHUB_TOKEN"]);
    /// ```
    pub fn secret(mut self, name: impl Into<String>) -> RunOptions {
        self.secrets.push(name.into());
        self
    }

    /// Makes the run a dry run (see [`RunOptions::dry_run`]): every agent
    /// call answered by a stub, nothing run or sent.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use flow::{Engine, RunOptions};
    /// use serde_json::json;
    ///
    /// let engine = Engine::new();
    /// let script = engine
    ///     .compile("d.flow", "let files = sh(\"ls\", output: \"lines\")\n{n: len(files), say: sh(\"date\")}")
    ///     .unwrap();
    /// let outcome = engine.run(&script, RunOptions::new().dry_run(true)).await;
    /// assert_eq!(*outcome.result.unwrap(), json!({"n": 0, "say": "<dry run: sh>"}));
    /// # }
    /// ```
    pub fn dry_run(mut self, dry_run: bool) -> RunOptions {
        self.dry_run = dry_run;
        self
    }

    /// Limits what the run's model calls may spend (`--budget`): each call's
    /// worst case is reserved before it starts, and a call the budget cannot
    /// cover fails with `budget_exhausted`. A script's own `budget`
    /// declaration still applies where it is tighter.
    ///
    /// ```no_run
    /// use flow::{Budget, RunOptions};
    ///
    /// let options = RunOptions::new().budget(Budget::tokens(20_000));
    /// assert_eq!(options.budget.tokens, Some(20_000));
    /// ```
    pub fn budget(mut self, budget: crate::agent::Budget) -> RunOptions {
        self.budget = budget;
        self
    }

    /// Asks `approver` the questions of the run's `approve` calls.
    pub fn approver(mut self, approver: Arc<dyn crate::agent::Approver>) -> RunOptions {
        self.approver = Some(approver);
        self
    }

    /// Uses `cancel` to stop the run: cancelling it cancels every running
    /// task, and the run ends with [`RunStatus::Cancelled`].
    pub fn cancel_with(mut self, cancel: CancellationToken) -> RunOptions {
        self.cancel = cancel;
        self
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("jobs", &self.jobs)
            .field("keep_going", &self.keep_going)
            .field("params", &self.params)
            .field("param_texts", &self.param_texts)
            .field("record_all", &self.record_all)
            .field("secrets", &self.secrets)
            .field("dry_run", &self.dry_run)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Waiting for its inputs or for a free slot.
    Pending,
    /// Handed to its agent.
    Running,
    /// The agent returned a value.
    Succeeded,
    /// The agent failed (non-zero exit, HTTP error, agent error).
    Failed,
    /// Never ran: a task it depends on failed, or the run stopped first.
    Skipped,
    /// Stopped while running: a failure elsewhere, or the run was cancelled.
    Cancelled,
    /// Ran longer than its `timeout`.
    TimedOut,
    /// Not run: its result was re-used from an earlier run (`--resume`).
    Cached,
}

impl TaskStatus {
    /// The status as `--json` writes it: `succeeded`, `timed_out`, …
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::TimedOut => "timed_out",
            TaskStatus::Cached => "cached",
        }
    }
}

/// What became of one task (one agent call).
#[derive(Clone, Debug)]
pub struct TaskRecord {
    /// The instance the task ran in (`raw[2]`), shared by its tasks.
    pub instance: Arc<str>,
    /// The task's name inside its instance (`raw`, `draft.intro`), empty for
    /// the task that gives the instance its value.
    pub label: Arc<str>,
    /// The agent called: a declared name (`Writer`), a backend (`sh`) or a host agent.
    pub agent: Arc<str>,
    /// How it ended.
    pub status: TaskStatus,
    /// How many times it ran (more than 1 with `retry`).
    pub attempts: u32,
    /// When the first attempt started (`None` when it never ran).
    pub started_at: Option<SystemTime>,
    /// When the last attempt ended.
    pub ended_at: Option<SystemTime>,
    /// How long it ran, retries and backoff included.
    pub duration: Option<Duration>,
    /// The agent's output, when it succeeded.
    pub output: Option<Val>,
    /// Why it failed, was skipped or cancelled (one line).
    pub error: Option<String>,
    /// More about a failure (the stderr tail of an `sh` command, a response
    /// body), or about how a value came about (an `llm` reply "repaired after
    /// 1 retry", a dry run's stub).
    pub notes: Vec<String>,
    /// The call in the script.
    pub span: Span,
    /// Token usage reported by the agent (LLM calls).
    pub usage: Option<Value>,
    /// The cache key, when the run has a journal (see [`Journal`]).
    pub key: Option<Arc<str>>,
    /// Each attempt, in order (empty when it never ran).
    pub history: Vec<Attempt>,
    /// What the last attempt printed (an `sh` command's stdout and stderr).
    pub logs: Option<Arc<Logs>>,
    /// For a re-used result, the run that computed it.
    pub reused_from: Option<i64>,
}

/// One attempt of a task.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// When it started.
    pub started_at: SystemTime,
    /// When it ended.
    pub ended_at: SystemTime,
    /// `Succeeded`, `Failed`, `TimedOut` or `Cancelled`.
    pub status: TaskStatus,
    /// The command's exit status, when it ran one that exited.
    pub exit_code: Option<i32>,
    /// Why it failed (one line).
    pub error: Option<String>,
}

impl TaskRecord {
    /// A record of a task that never ran, or was re-used: no attempts, no timings.
    pub(crate) fn new(
        instance: Arc<str>,
        label: Arc<str>,
        agent: Arc<str>,
        status: TaskStatus,
        span: Span,
    ) -> TaskRecord {
        TaskRecord {
            instance,
            label,
            agent,
            status,
            attempts: 0,
            started_at: None,
            ended_at: None,
            duration: None,
            output: None,
            error: None,
            notes: Vec::new(),
            span,
            usage: None,
            key: None,
            history: Vec::new(),
            logs: None,
            reused_from: None,
        }
    }

    /// The task id: `raw[2]`, `batches[3].raw`, `draft.intro`.
    pub fn id(&self) -> String {
        task_id(&self.instance, &self.label)
    }

    /// The record as the JSON object `flow run --json` prints.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The record as `flow run --json` prints it, written straight to a
/// serializer (the report of a million tasks is never a tree of values).
impl serde::Serialize for TaskRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id())?;
        map.serialize_entry("agent", &*self.agent)?;
        map.serialize_entry("status", self.status.as_str())?;
        map.serialize_entry("attempts", &self.attempts)?;
        map.serialize_entry("started_at", &self.started_at.map(Rfc3339))?;
        map.serialize_entry("ended_at", &self.ended_at.map(Rfc3339))?;
        let ms = self
            .duration
            .map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
        map.serialize_entry("duration_ms", &ms)?;
        if let Some(output) = &self.output {
            map.serialize_entry("output", &**output)?;
        }
        if let Some(error) = &self.error {
            map.serialize_entry("error", error)?;
        }
        if !self.notes.is_empty() {
            map.serialize_entry("notes", &self.notes)?;
        }
        if let Some(usage) = &self.usage {
            map.serialize_entry("usage", usage)?;
        }
        if let Some(run) = self.reused_from {
            map.serialize_entry("reused_from", &run)?;
        }
        map.end()
    }
}

/// A time as RFC 3339 text with milliseconds: `2026-12-04T18:14:39.858Z`.
struct Rfc3339(SystemTime);

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_millis(self.0))
    }
}

pub(crate) use crate::agent::add_usage;
#[cfg(feature = "cli")] // `flow run` checks the params before it records the run
pub(crate) use scheduler::param_values;

pub use crate::graph::task_id;

/// What the scheduler reports while it runs, borrowed (see [`RunEvent`] for
/// an owned copy). More kinds of event may come: match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// More tasks became known: an instance of a body that holds `tasks`
    /// agent calls was created (the script's, a `map` item's, a branch
    /// taken, a `try` attempt, a sub-flow call). Their sum is the number of
    /// tasks known so far, which grows as `map`s expand; every task that
    /// ends ([`Event::Finished`]) was counted here first.
    Planned {
        /// How many tasks the new instance holds.
        tasks: u32,
    },
    /// A task was handed to its agent.
    Started {
        /// The task id (`draft.intro`).
        id: String,
        /// The agent called.
        agent: &'a str,
        /// The command line of an `sh` call (with `$FLOW_VALUE_n` where its
        /// `${…}` values go, secrets redacted), when it has one.
        command: Option<&'a str>,
    },
    /// An attempt of a task failed and the task will be tried again (its
    /// `retry`), after `backoff`. Sent from the task as it happens; the
    /// last attempt is reported by [`Event::Finished`].
    Retrying(&'a Retry),
    /// A task ended (also skipped and cancelled ones).
    Finished(&'a TaskRecord),
}

/// An attempt that failed and will be tried again (see [`Event::Retrying`]).
#[derive(Clone, Debug)]
pub struct Retry {
    /// The task id (`raw[3]`).
    pub id: String,
    /// The agent called.
    pub agent: Arc<str>,
    /// Which attempt failed: 1 for the first.
    pub attempt: u32,
    /// How many attempts the task may make in all (its `retry` plus one).
    pub attempts: u32,
    /// How it ended, when it started and ended, its exit status and error.
    pub ended: Attempt,
    /// The wait before the next attempt starts.
    pub backoff: Duration,
}

/// An owned [`Event`], as [`crate::RunHandle`] streams them. More kinds of
/// event may come: match with a `_` arm.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RunEvent {
    /// More tasks became known (see [`Event::Planned`]).
    Planned {
        /// How many.
        tasks: u32,
    },
    /// A task was handed to its agent.
    Started {
        /// The task id (`draft.intro`).
        id: String,
        /// The agent called.
        agent: String,
        /// The command line of an `sh` call, when it has one.
        command: Option<String>,
    },
    /// An attempt failed; the task will be tried again.
    Retrying(Retry),
    /// A task ended (also skipped and cancelled ones).
    Finished(TaskRecord),
}

impl RunEvent {
    /// The id of the task the event is about (empty for [`RunEvent::Planned`],
    /// which is about no task in particular).
    pub fn id(&self) -> String {
        match self {
            RunEvent::Planned { .. } => String::new(),
            RunEvent::Started { id, .. } => id.clone(),
            RunEvent::Retrying(retry) => retry.id.clone(),
            RunEvent::Finished(record) => record.id(),
        }
    }
}

impl From<&Event<'_>> for RunEvent {
    fn from(event: &Event<'_>) -> RunEvent {
        match event {
            Event::Planned { tasks } => RunEvent::Planned { tasks: *tasks },
            Event::Started { id, agent, command } => RunEvent::Started {
                id: id.clone(),
                agent: agent.to_string(),
                command: command.map(str::to_string),
            },
            Event::Retrying(retry) => RunEvent::Retrying((*retry).clone()),
            Event::Finished(record) => RunEvent::Finished((*record).clone()),
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Every task it needed succeeded; the result is there.
    Succeeded,
    /// A task or an expression failed unhandled; the errors say why.
    Failed,
    /// Cancelled from outside (Ctrl-C, SIGTERM, the host program).
    Cancelled,
}

impl RunStatus {
    /// The status as `--json` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// The result of a run and every task record.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How the run ended.
    pub status: RunStatus,
    /// The script's value, when it succeeded. When it failed with
    /// [`RunOptions::keep_going`]: every value that could be computed, with an
    /// error value (`{"error": {"task", "message", "skipped"}}`, see the
    /// language reference) in each place that failed or was skipped.
    pub result: Option<Val>,
    /// Every task, in the order they ended.
    pub tasks: Vec<TaskRecord>,
    /// Why it failed: one diagnostic per unhandled failure.
    pub errors: Vec<Diagnostic>,
    /// Token usage summed over every task that reported it (also those not
    /// kept in `tasks`).
    pub usage: Option<Value>,
    /// Tokens and cost per agent, and what the budget counted.
    pub spending: Spending,
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded
    }

    /// The record of the task with this id (`draft.intro`, `raw[2]`).
    pub fn task(&self, id: &str) -> Option<&TaskRecord> {
        self.tasks.iter().find(|t| t.id() == id)
    }

    /// Token usage summed over every task that reported it.
    pub fn usage(&self) -> Option<Value> {
        self.usage.clone()
    }

    /// The document `flow run --json` prints.
    pub fn to_json(&self) -> Value {
        let mut tasks: Vec<&TaskRecord> = self.tasks.iter().collect();
        // Tasks in the order they started; those that never started last.
        tasks.sort_by_key(|t| (t.started_at.is_none(), t.started_at));
        let mut doc = json!({
            "status": self.status.as_str(),
            "result": self.result.as_deref().cloned(),
            "tasks": tasks.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
        });
        if let Some(usage) = self.spending.usage_json(self.usage.as_ref()) {
            doc["usage"] = usage;
        }
        if let Some(budget) = self.spending.budget_json() {
            doc["budget"] = budget;
        }
        doc
    }
}

/// Runs a graph to the end and returns what happened. Never panics on any
/// script, value or agent behaviour; a cancelled `options.cancel` stops it.
pub async fn run(graph: Arc<TaskGraph>, options: RunOptions) -> Outcome {
    let cancel = options.cancel.clone();
    let launch = std::env::current_dir().unwrap_or_default();
    let script = options.script_dir.clone().unwrap_or_else(|| launch.clone());
    let dirs = Arc::new(crate::interrupt::Dirs { script, launch });
    let run = scheduler::Scheduler::new(graph, options, dirs.clone()).run();
    crate::interrupt::Interruptible::new(cancel, dirs, run).await
}
