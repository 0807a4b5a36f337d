//! One call of an agent as the agent sees it, and what it returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::exec::Executor;
use crate::shell::Command;

/// One call of an agent, as the agent sees it. Its `Debug` output lists the
/// config's keys only, since config values may hold secrets (HTTP headers).
#[derive(Clone)]
pub struct Call {
    /// The agent's name in the script (`Writer`, `sh`).
    pub agent: Arc<str>,
    /// The task id (`draft.intro`).
    pub task: String,
    /// The call's positional argument, as text.
    pub instructions: Option<String>,
    /// The call's named arguments.
    pub context: Map<String, Value>,
    /// The agent's configuration (`agent X = backend(config…)`).
    pub config: Arc<Map<String, Value>>,
    /// A `command`-typed config entry written with `${…}` (an `sh` command):
    /// its text and values, kept out of [`Call::config`] so that no data can
    /// pass for one. See [`crate::shell::Command`].
    pub command: Option<Arc<Command>>,
    /// Fires when the task must stop (timeout, failure elsewhere, Ctrl-C).
    pub cancel: CancellationToken,
    /// Where commands run: the run's executor (local processes by default).
    pub executor: Arc<dyn Executor>,
    /// The task's `timeout`, when it has one: the runtime enforces it; an
    /// agent may pass it on (to a batch scheduler, as a request deadline).
    pub timeout: Option<std::time::Duration>,
    /// The agents this call may use as tools, when its agent was given some.
    pub tools: Option<super::Tools>,
    /// The most completion tokens the call may use, when a budget caps it
    /// (`--budget`): an agent that spends tokens asks its server for no
    /// more than this, whatever its own `max_tokens` (see
    /// [`super::Agent::estimate`]). `None`: no cap.
    pub max_tokens: Option<u64>,
    /// Who can answer a question put to a person (the `approve` agent): the
    /// run's [`RunOptions::approver`](crate::RunOptions::approver), if any.
    pub approver: Option<Arc<dyn super::Approver>>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.config.keys().map(String::as_str).collect();
        f.debug_struct("Call")
            .field("agent", &self.agent)
            .field("task", &self.task)
            .field("instructions", &self.instructions)
            .field("context", &self.context)
            .field("config_keys", &keys)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// A call of `agent` with these instructions and no context, for testing
    /// a host agent on its own; add context with [`Call::arg`].
    ///
    /// ```no_run
    /// use flow::Call;
    /// use serde_json::json;
    ///
    /// let call = Call::new("Classifier", "Label this").arg("text", json!("hello"));
    /// assert_eq!(call.context["text"], "hello");
    /// ```
    pub fn new(agent: &str, instructions: impl Into<String>) -> Call {
        Call {
            agent: agent.into(),
            task: agent.to_string(),
            instructions: Some(instructions.into()),
            context: Map::new(),
            config: Arc::new(Map::new()),
            command: None,
            cancel: CancellationToken::new(),
            executor: crate::exec::default_executor(),
            timeout: None,
            tools: None,
            max_tokens: None,
            approver: None,
        }
    }

    /// The call with one more named argument in its context.
    pub fn arg(mut self, name: impl Into<String>, value: Value) -> Call {
        self.context.insert(name.into(), value);
        self
    }

    /// A named argument, or an error that names the missing one (for `?` in host agents).
    ///
    /// ```no_run
    /// # use flow::Call;
    /// let call = Call::new("Classifier", "Label this");
    /// assert_eq!(call.get("text").unwrap_err().message, "`Classifier` needs the argument `text`");
    /// ```
    pub fn get(&self, name: &str) -> Result<&Value, AgentError> {
        self.context
            .get(name)
            .ok_or_else(|| AgentError::new(format!("`{}` needs the argument `{name}`", self.agent)))
    }
}

/// Why an agent call failed.
#[derive(Clone, Debug, Default)]
pub struct AgentError {
    /// One line: "exited with status 3".
    pub message: String,
    /// Further detail shown under the diagnostic: a stderr tail, a response body.
    pub notes: Vec<String>,
    /// The command's exit status, when the agent ran one that exited.
    pub exit_code: Option<i32>,
    /// What the call printed before it failed (kept by the run store).
    pub logs: Option<Box<Logs>>,
    /// Tokens spent before it failed (an `llm` call whose replies never
    /// followed its schema), counted in the run's usage like a reply's.
    pub usage: Option<Value>,
}

impl AgentError {
    /// An error with this one-line message.
    ///
    /// ```no_run
    /// use flow::AgentError;
    ///
    /// let error = AgentError::new("quota exceeded").note("try again in an hour");
    /// assert_eq!(error.to_string(), "quota exceeded");
    /// assert_eq!(error.notes, ["try again in an hour"]);
    /// ```
    pub fn new(message: impl Into<String>) -> AgentError {
        AgentError {
            message: message.into(),
            ..AgentError::default()
        }
    }

    /// The error with one more note (shown under the diagnostic).
    pub fn note(mut self, note: impl Into<String>) -> AgentError {
        self.notes.push(note.into());
        self
    }
}

impl From<String> for AgentError {
    fn from(message: String) -> Self {
        AgentError::new(message)
    }
}

impl From<&str> for AgentError {
    fn from(message: &str) -> Self {
        AgentError::new(message)
    }
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AgentError {}

/// What an agent returns: its output and, for model calls, token usage.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// The agent's output.
    pub value: Value,
    /// Token counts (`prompt_tokens`, `completion_tokens`, `total_tokens`).
    pub usage: Option<Value>,
    /// What the call printed (an `sh` command's stdout and stderr), kept by
    /// the run store for `flow log`.
    pub logs: Option<Box<Logs>>,
    /// Remarks on how the value came about, kept as the task's notes (an
    /// `llm` reply "repaired after 1 retry"; a dry run's stub).
    pub notes: Vec<String>,
}

/// What a call printed: the ends of its stdout and stderr (each at most
/// [`Logs::CAP`] bytes, the tail kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logs {
    /// The end of what it wrote to stdout.
    pub stdout: String,
    /// The end of what it wrote to stderr.
    pub stderr: String,
}

impl Logs {
    /// How much of each stream is kept: the last 64 KiB.
    pub const CAP: usize = 64 << 10;

    /// Logs from raw output, each stream cut to its last [`Logs::CAP`] bytes
    /// (invalid UTF-8 replaced); `None` when both are empty.
    pub fn from_bytes(stdout: &[u8], stderr: &[u8]) -> Option<Box<Logs>> {
        if stdout.is_empty() && stderr.is_empty() {
            return None;
        }
        Some(Box::new(Logs {
            stdout: tail(stdout),
            stderr: tail(stderr),
        }))
    }
}

/// The last [`Logs::CAP`] bytes of `bytes` as text, starting at a whole character.
fn tail(bytes: &[u8]) -> String {
    let mut start = bytes.len().saturating_sub(Logs::CAP);
    while start < bytes.len() && bytes[start] & 0b1100_0000 == 0b1000_0000 {
        start += 1;
    }
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The future a host agent's call returns.
pub type AgentFuture = Pin<Box<dyn Future<Output = Result<Value, AgentError>> + Send>>;

/// The future an [`Agent`](super::Agent)'s call returns.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Result<Reply, AgentError>> + Send>>;

impl Reply {
    /// A reply with this value and no usage.
    pub fn value(value: Value) -> Reply {
        Reply {
            value,
            ..Reply::default()
        }
    }
}

/// Adds one task's token usage (`{"prompt_tokens": 3, …}`) into a running total.
pub(crate) fn add_usage(total: &mut Option<Value>, usage: &Value) {
    let Some(fields) = usage.as_object() else {
        return;
    };
    let total = total.get_or_insert_with(|| Value::Object(Default::default()));
    let Some(total) = total.as_object_mut() else {
        return;
    };
    for (key, value) in fields {
        if let Some(n) = value.as_u64() {
            // In place when the total has the key: no copy of it.
            match total.get_mut(key) {
                Some(sum) => *sum = Value::from(sum.as_u64().unwrap_or(0) + n),
                None => {
                    total.insert(key.clone(), Value::from(n));
                }
            }
        }
    }
}
