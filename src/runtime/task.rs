//! One task: an agent call with its timeout, retries and backoff, and the
//! interface host agents implement.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::TaskStatus;
use crate::exec::local as sh;

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
    /// Fires when the task must stop (timeout, failure elsewhere, Ctrl-C).
    pub cancel: CancellationToken,
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
    /// ```
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
            cancel: CancellationToken::new(),
        }
    }

    /// The call with one more named argument in its context.
    pub fn arg(mut self, name: impl Into<String>, value: Value) -> Call {
        self.context.insert(name.into(), value);
        self
    }

    /// A named argument, or an error that names the missing one (for `?` in host agents).
    ///
    /// ```
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
}

impl AgentError {
    /// An error with this one-line message.
    ///
    /// ```
    /// use flow::AgentError;
    ///
    /// let error = AgentError::new("quota exceeded").note("try again in an hour");
    /// assert_eq!(error.to_string(), "quota exceeded");
    /// assert_eq!(error.notes, ["try again in an hour"]);
    /// ```
    pub fn new(message: impl Into<String>) -> AgentError {
        AgentError {
            message: message.into(),
            notes: Vec::new(),
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
}

/// The future an agent call returns.
pub type AgentFuture = Pin<Box<dyn Future<Output = Result<Value, AgentError>> + Send>>;

/// An agent implemented by the host program. Closures
/// `Fn(Call) -> impl Future<Output = Result<Value, AgentError>>` implement it;
/// so can types that hold state:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// use flow::{AgentFuture, Call, HostAgent};
/// use serde_json::json;
///
/// /// Counts its calls; the count is its output.
/// struct Counter(Arc<AtomicU64>);
///
/// impl HostAgent for Counter {
///     fn call(&self, _call: Call) -> AgentFuture {
///         let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
///         Box::pin(async move { Ok(json!(n)) })
///     }
/// }
///
/// let engine = flow::Engine::new().agent("Counter", Counter(Arc::default()));
/// assert_eq!(engine.agent_names().collect::<Vec<_>>(), ["Counter"]);
/// ```
///
/// The future should return soon after `call.cancel` fires; a future still
/// running then is dropped.
pub trait HostAgent: Send + Sync {
    /// Runs one call: the script's `Name("instructions", key: value)`.
    fn call(&self, call: Call) -> AgentFuture;
}

impl<F, Fut> HostAgent for F
where
    F: Fn(Call) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, AgentError>> + Send + 'static,
{
    fn call(&self, call: Call) -> AgentFuture {
        Box::pin(self(call))
    }
}

/// How a task's agent is carried out.
#[derive(Clone)]
pub(crate) enum Backend {
    Echo,
    Noop,
    Sleep,
    Fail,
    /// With the environment its commands inherit, captured once per run.
    Sh(Option<sh::Environment>),
    Llm,
    Http,
    Host(Arc<dyn HostAgent>),
}

impl Backend {
    pub(crate) fn named(name: &str) -> Option<Backend> {
        Some(match name {
            "echo" => Backend::Echo,
            "noop" => Backend::Noop,
            "sleep" => Backend::Sleep,
            "fail" => Backend::Fail,
            "sh" => Backend::Sh(None),
            "llm" => Backend::Llm,
            "http" => Backend::Http,
            _ => return None,
        })
    }

    /// Whether a call finishes at once, so the scheduler runs it inline.
    pub(crate) fn is_instant(&self) -> bool {
        matches!(self, Backend::Echo | Backend::Noop | Backend::Fail)
    }

    /// Whether it takes one of the default `--jobs` slots (the CPU-bound kind).
    pub(crate) fn uses_cpu(&self) -> bool {
        matches!(self, Backend::Sh(_))
    }
}

/// A task ready to run: its call and its modifiers, all evaluated.
pub(crate) struct Prepared {
    pub backend: Backend,
    pub agent: Arc<str>,
    /// The task id, set when the task is launched (instant tasks need none).
    pub task: String,
    pub instructions: Option<String>,
    pub context: Map<String, Value>,
    pub config: Arc<Map<String, Value>>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub backoff: Duration,
}

/// What running a task produced.
pub(crate) struct Executed {
    pub status: TaskStatus,
    pub attempts: u32,
    pub result: Result<Reply, AgentError>,
    pub started: SystemTime,
    pub ended: SystemTime,
    pub elapsed: Duration,
}

impl Prepared {
    /// The call an agent receives, for one attempt.
    fn call(&self, cancel: CancellationToken) -> Call {
        Call {
            agent: self.agent.clone(),
            task: self.task.clone(),
            instructions: self.instructions.clone(),
            context: self.context.clone(),
            config: self.config.clone(),
            cancel,
        }
    }

    /// Runs an instant task (`echo`, `noop`, `fail` without modifiers) at once.
    pub(crate) fn run_instant(&self) -> Option<Executed> {
        if !self.backend.is_instant() || self.timeout.is_some() || self.retries > 0 {
            return None;
        }
        let started = SystemTime::now();
        let result = instant(
            &self.backend,
            self.instructions.as_deref(),
            &self.context,
            &self.config,
        )?;
        let status = if result.is_ok() {
            TaskStatus::Succeeded
        } else {
            TaskStatus::Failed
        };
        Some(Executed {
            status,
            attempts: 1,
            result,
            started,
            ended: started,
            elapsed: Duration::ZERO,
        })
    }

    /// Runs the task: each attempt within its timeout, failed attempts retried
    /// after an exponential backoff, until one succeeds or `cancel` fires.
    pub(crate) async fn run(self, cancel: CancellationToken) -> Executed {
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut attempts = 0;
        let (status, result) = loop {
            attempts += 1;
            let attempt = cancel.child_token();
            let call = self.call(attempt.clone());
            let outcome = attempt_once(&self.backend, call, self.timeout, &attempt).await;
            match outcome {
                (TaskStatus::Succeeded, result) => break (TaskStatus::Succeeded, result),
                _ if cancel.is_cancelled() => {
                    break (TaskStatus::Cancelled, Err(AgentError::new("cancelled")))
                }
                (status, result) if attempts > self.retries => break (status, result),
                _ => {
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
        }
    }
}

/// The wait before attempt `attempt + 1`: `backoff`, then twice that, and so on.
pub(crate) fn backoff_delay(backoff: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    backoff.saturating_mul(factor)
}

async fn attempt_once(
    backend: &Backend,
    call: Call,
    timeout: Option<Duration>,
    cancel: &CancellationToken,
) -> (TaskStatus, Result<Reply, AgentError>) {
    let work = dispatch(backend, call);
    tokio::pin!(work);
    let Some(limit) = timeout else {
        let result = work.await;
        let status = if result.is_ok() {
            TaskStatus::Succeeded
        } else {
            TaskStatus::Failed
        };
        return (status, result);
    };
    tokio::select! {
        result = &mut work => {
            let status = if result.is_ok() { TaskStatus::Succeeded } else { TaskStatus::Failed };
            (status, result)
        }
        _ = tokio::time::sleep(limit) => {
            // Ask the agent to stop and wait for it (an `sh` child is killed and reaped).
            cancel.cancel();
            let _ = work.await;
            let message = format!("timed out after {}", duration_text(limit));
            (TaskStatus::TimedOut, Err(AgentError::new(message)))
        }
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

fn instant(
    backend: &Backend,
    instructions: Option<&str>,
    context: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Option<Result<Reply, AgentError>> {
    Some(match backend {
        Backend::Noop => Ok(Reply::default()),
        Backend::Echo => {
            let mut context = context.clone();
            if let Some(instructions) = instructions {
                context.insert(
                    "instructions".into(),
                    Value::String(instructions.to_string()),
                );
            }
            Ok(Reply {
                value: Value::Object(context),
                usage: None,
            })
        }
        Backend::Fail => {
            let message = config
                .get("message")
                .map_or_else(|| "failed".to_string(), crate::value::to_text);
            Err(AgentError::new(message))
        }
        _ => return None,
    })
}

async fn dispatch(backend: &Backend, call: Call) -> Result<Reply, AgentError> {
    if let Some(result) = instant(
        backend,
        call.instructions.as_deref(),
        &call.context,
        &call.config,
    ) {
        return result;
    }
    match backend {
        Backend::Sleep => {
            let duration = match call.config.get("duration").map(crate::value::duration) {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    return Err(AgentError::new(format!("bad duration: {}", e.message)))
                }
                None => Duration::ZERO,
            };
            tokio::select! {
                _ = tokio::time::sleep(duration) => Ok(Reply::default()),
                _ = call.cancel.cancelled() => Err(AgentError::new("cancelled")),
            }
        }
        Backend::Sh(environment) => run_sh(call, environment.clone()).await,
        Backend::Llm => crate::agents::llm::run(&call)
            .await
            .map(|completion| Reply {
                value: completion.value,
                usage: completion.usage,
            }),
        Backend::Http => crate::agents::http::run(&call)
            .await
            .map(|value| Reply { value, usage: None }),
        Backend::Host(agent) => {
            // A host future that ignores `call.cancel` is dropped, so a
            // cancelled run never waits on it.
            let cancel = call.cancel.clone();
            tokio::select! {
                result = agent.call(call) => result.map(|value| Reply { value, usage: None }),
                _ = cancel.cancelled() => Err(AgentError::new("cancelled")),
            }
        }
        Backend::Echo | Backend::Noop | Backend::Fail => unreachable!("handled by `instant`"),
    }
}

async fn run_sh(call: Call, environment: Option<sh::Environment>) -> Result<Reply, AgentError> {
    let text = |key: &str| call.config.get(key).map(crate::value::to_text);
    let mut env: Vec<(String, String)> = match call.config.get("env") {
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| (k.clone(), crate::value::to_text(v)))
            .collect(),
        _ => Vec::new(),
    };
    // A command with `${…}` comes with its values, passed as variables it
    // refers to (see `eval::shell_command`); they are set last, so nothing
    // else can change them.
    let cmd = match call.config.get("cmd") {
        Some(Value::Object(command)) if command.contains_key("sh") => {
            if let Some(Value::Array(values)) = command.get("values") {
                for (i, value) in values.iter().enumerate() {
                    env.push((
                        format!("{}{}", crate::shell::VALUE_VAR, i + 1),
                        crate::value::to_text(value),
                    ));
                }
            }
            command.get("sh").map(crate::value::to_text)
        }
        _ => text("cmd"),
    };
    let Some(cmd) = cmd else {
        return Err(AgentError::new("`sh` needs a command"));
    };
    let command = crate::exec::CommandSpec {
        cmd,
        cwd: text("cwd").map(Into::into),
        env,
        instructions: call.instructions.clone(),
        context: call.context.clone(),
        ..crate::exec::CommandSpec::default()
    };
    let options = sh::LocalOptions {
        environment,
        ..sh::LocalOptions::default()
    };
    match sh::run(&command, &options, &call.cancel).await {
        Ok(value) => Ok(Reply { value, usage: None }),
        Err(error) => {
            let mut failure = AgentError::new(error.to_string());
            if let Some(tail) = error.stderr_tail().filter(|t| !t.trim().is_empty()) {
                failure = failure.note(format!("stderr:\n{}", tail.trim_end()));
            }
            Err(failure)
        }
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
}
