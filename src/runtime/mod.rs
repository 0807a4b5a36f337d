//! Stage 4: running a [`TaskGraph`]. A single scheduler owns every body
//! instance; a task starts the moment the values it reads are ready (dependency
//! counting, never waves), cheap nodes run inline, agent calls run as tokio
//! tasks within the `--jobs`, agent and `map` limits.

mod eval;
mod scheduler;
mod task;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub use eval::EvalError;
pub use task::{AgentError, AgentFuture, Call, HostAgent};

use crate::diag::Diagnostic;
use crate::graph::TaskGraph;
use crate::source::Span;

/// A value held by the runtime: shared, never copied between readers.
pub type Val = Arc<Value>;

/// A callback that receives every task event.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// How to run a graph.
#[derive(Clone)]
pub struct RunOptions {
    /// Overall cap on running tasks. `None`: the number of CPUs, for `sh`
    /// tasks only (other backends are bounded by their own `limit`).
    pub jobs: Option<usize>,
    /// Let independent branches finish after an unhandled failure.
    pub keep_going: bool,
    /// `--param name=value` overrides, by name.
    pub params: Vec<(String, Value)>,
    /// Agents registered by the host program, by name.
    pub host_agents: Vec<(String, Arc<dyn HostAgent>)>,
    /// Called on every task event, from the scheduler (keep it cheap).
    pub observer: Option<Observer>,
    /// Cancels the whole run (Ctrl-C, or the embedding program).
    pub cancel: CancellationToken,
    /// Keep the record of every task in [`Outcome::tasks`] (the default).
    /// When false, only tasks that did not succeed are kept, which saves
    /// memory on runs of millions of tasks; the observer still sees them all.
    pub record_all: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: None,
            keep_going: false,
            params: Vec::new(),
            host_agents: Vec::new(),
            observer: None,
            cancel: CancellationToken::new(),
            record_all: true,
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("jobs", &self.jobs)
            .field("keep_going", &self.keep_going)
            .field("params", &self.params)
            .field("record_all", &self.record_all)
            .finish_non_exhaustive()
    }
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Never ran: a task it depends on failed, or the run stopped first.
    Skipped,
    Cancelled,
    TimedOut,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::TimedOut => "timed_out",
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
    pub agent: Arc<str>,
    pub status: TaskStatus,
    pub attempts: u32,
    pub started_at: Option<SystemTime>,
    pub ended_at: Option<SystemTime>,
    pub duration: Option<Duration>,
    pub output: Option<Val>,
    pub error: Option<String>,
    /// The call in the script.
    pub span: Span,
    /// Token usage reported by the agent (LLM calls).
    pub usage: Option<Value>,
}

impl TaskRecord {
    /// The task id: `raw[2]`, `batches[3].raw`, `draft.intro`.
    pub fn id(&self) -> String {
        task_id(&self.instance, &self.label)
    }

    /// The record as the JSON object `flow run --json` prints.
    pub fn to_json(&self) -> Value {
        let time =
            |t: Option<SystemTime>| t.map(|t| humantime::format_rfc3339_millis(t).to_string());
        let mut record = json!({
            "id": self.id(),
            "agent": &*self.agent,
            "status": self.status.as_str(),
            "attempts": self.attempts,
            "started_at": time(self.started_at),
            "ended_at": time(self.ended_at),
            "duration_ms": self.duration.map(|d| d.as_secs_f64() * 1000.0),
        });
        if let Some(output) = &self.output {
            record["output"] = (**output).clone();
        }
        if let Some(error) = &self.error {
            record["error"] = Value::String(error.clone());
        }
        if let Some(usage) = &self.usage {
            record["usage"] = usage.clone();
        }
        record
    }
}

/// Joins an instance name and a label into a task id.
pub fn task_id(instance: &str, label: &str) -> String {
    match (instance.is_empty(), label.is_empty()) {
        // The task that gives the script its value.
        (true, true) => "result".to_string(),
        (false, true) => instance.to_string(),
        (true, false) => label.to_string(),
        (false, false) => format!("{instance}.{label}"),
    }
}

/// What the scheduler reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// A task was handed to its agent.
    Started { id: String, agent: &'a str },
    /// A task ended (also skipped and cancelled ones).
    Finished(&'a TaskRecord),
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// Cancelled from outside (Ctrl-C, SIGTERM, the host program).
    Cancelled,
}

impl RunStatus {
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
    pub status: RunStatus,
    /// The script's value, when it succeeded.
    pub result: Option<Val>,
    /// Every task, in the order they ended.
    pub tasks: Vec<TaskRecord>,
    /// Why it failed: one diagnostic per unhandled failure.
    pub errors: Vec<Diagnostic>,
}

impl Outcome {
    /// Token usage summed over every task that reported it.
    pub fn usage(&self) -> Option<Value> {
        let mut total: Option<serde_json::Map<String, Value>> = None;
        for usage in self.tasks.iter().filter_map(|t| t.usage.as_ref()) {
            let Some(fields) = usage.as_object() else {
                continue;
            };
            let total = total.get_or_insert_with(Default::default);
            for (key, value) in fields {
                if let Some(n) = value.as_u64() {
                    let sum = total.get(key).and_then(Value::as_u64).unwrap_or(0) + n;
                    total.insert(key.clone(), Value::from(sum));
                }
            }
        }
        total.map(Value::Object)
    }

    /// The document `flow run --json` prints.
    pub fn to_json(&self) -> Value {
        let mut tasks: Vec<&TaskRecord> = self.tasks.iter().collect();
        tasks.sort_by_key(|t| t.started_at);
        let mut doc = json!({
            "status": self.status.as_str(),
            "result": self.result.as_deref().cloned(),
            "tasks": tasks.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
        });
        if let Some(usage) = self.usage() {
            doc["usage"] = usage;
        }
        doc
    }
}

/// Runs a graph to the end and returns what happened. Never panics on any
/// script, value or agent behaviour; a cancelled `options.cancel` stops it.
pub async fn run(graph: Arc<TaskGraph>, options: RunOptions) -> Outcome {
    scheduler::Scheduler::new(graph, options).run().await
}
