//! The agent seam: the one interface every agent implements, the types a
//! call needs, and the registry. Built-in agents (`crate::agents`), host
//! agents and the agents to come are all an [`Agent`] in a [`Registry`];
//! the checker, the lowering, the lints, the REPL and `flow explain` read an
//! agent's [`Signature`], the runtime calls [`Agent::call`]. No stage knows
//! an agent by its name.
//!
//! An agent in full, registered by a host program:
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use flow::agent::{Agent, Call, ConfigType, Reply, ReplyFuture, Signature};
//! use flow::{Engine, RunOptions};
//! use serde_json::json;
//!
//! /// `shout(text: …)`: the text in capitals, with `marks` exclamation marks.
//! struct Shout(Signature);
//!
//! impl Shout {
//!     fn new() -> Shout {
//!         Shout(
//!             Signature::backend("shout", "the text in capitals")
//!                 .optional("marks", ConfigType::Integer, "how many `!` to add")
//!                 .inline(),
//!         )
//!     }
//! }
//!
//! impl Agent for Shout {
//!     fn signature(&self) -> &Signature {
//!         &self.0
//!     }
//!     fn call(&self, call: Call) -> ReplyFuture {
//!         let text = call.get("text").map(|t| t.as_str().unwrap_or_default().to_uppercase());
//!         let marks = call.config.get("marks").and_then(|m| m.as_u64()).unwrap_or(1) as usize;
//!         Box::pin(async move { Ok(Reply::value(json!(text? + &"!".repeat(marks)))) })
//!     }
//! }
//!
//! let engine = Engine::new().register(Shout::new());
//! let outcome = engine
//!     .run_source("s.flow", "shout(text: \"hi\", marks: 3)", RunOptions::new())
//!     .await
//!     .unwrap();
//! assert_eq!(*outcome.result.unwrap(), json!("HI!!!"));
//! // The signature is checked before anything runs.
//! assert!(engine.compile("s.flow", "shout(text: \"hi\", marks: \"many\")").is_err());
//! # }
//! ```

pub mod approval;
mod call;
mod host;
mod registry;
mod signature;
mod spend;
mod tools;

use serde_json::{Map, Value};

pub use approval::{Approver, Decision, Question, Withdrawal};
pub(crate) use call::add_usage;
pub use call::{AgentError, AgentFuture, Call, Logs, Reply, ReplyFuture};
pub(crate) use host::Host;
pub use host::HostAgent;
pub use registry::{Capabilities, Registry};
pub use signature::{ConfigKey, ConfigType, Contract, Resource, Role, Signature, CACHE_KEY};
pub use spend::{dollars, Budget, Estimate, Price};
pub(crate) use tools::ToolRequest;
pub use tools::{ToolSpec, Tools};

/// An agent: what it takes ([`Agent::signature`]) and what one call does.
pub trait Agent: Send + Sync {
    /// What it takes and how the scheduler treats it; the same for its whole life.
    fn signature(&self) -> &Signature;

    /// Runs one call. The future should end soon after `call.cancel` fires
    /// (a timeout, a failure elsewhere, Ctrl-C); one still running 5 s later
    /// is dropped, and the task ends as timed out or cancelled either way.
    fn call(&self, call: Call) -> ReplyFuture;

    /// The reply at once, on the scheduler, for a call without `timeout` or
    /// `retry` that needs no work: every call of an agent whose signature
    /// says `inline` (`echo`, `noop`), or some calls of another (`sleep(0s)`).
    /// `None` (the default) makes the call a task like any other.
    fn call_inline(&self, call: &Inline<'_>) -> Option<Result<Reply, AgentError>> {
        let _ = call;
        None
    }

    /// For a call without `timeout` or `retry` that only waits and then
    /// returns `null` (`sleep(2s)`): how long. The scheduler then waits on a
    /// bare timer instead of running the call: a few hundred bytes for each
    /// waiting call, not a few kilobytes. `None` (the default): the call runs.
    fn wait_only(&self, call: &Inline<'_>) -> Option<std::time::Duration> {
        let _ = call;
        None
    }

    /// For an agent whose signature says it spends tokens
    /// ([`Signature::spends_tokens`]): a bound on what this call may spend,
    /// which a run with a budget (`--budget`) reserves before the call
    /// starts. The call must then stay within it: never more completion
    /// tokens than [`Call::max_tokens`] when that is set (the budget's share),
    /// else than the estimate's `max_completion_tokens`. An error (a bad
    /// `price`) fails the call before it starts. `Ok(None)` (the default):
    /// the call spends nothing.
    fn estimate(&self, call: &Inline<'_>) -> Result<Option<Estimate>, AgentError> {
        let _ = call;
        Ok(None)
    }
    /// As a tool another agent's call may use ([`Tools`]): a JSON Schema of
    /// the arguments its calls take, given its config. The default: the
    /// instructions, as text, and any named argument.
    fn tool_parameters(&self, config: &Map<String, Value>) -> Value {
        let _ = config;
        serde_json::json!({
            "type": "object",
            "properties": {
                "instructions": {"type": "string", "description": "what to do"}
            },
        })
    }

    /// A dry run's answer to a call (`flow run --dry-run`,
    /// [`RunOptions::dry_run`](crate::RunOptions::dry_run)): a value of the
    /// shape the call would return, made without running anything, spawning
    /// a process or sending a request. An agent that knows its output's
    /// shape says so (`llm` with a `schema:` makes a minimal value that
    /// follows it; `sh` with `output: "lines"` gives `[]`); the default is
    /// [`placeholder`]: `"<dry run: Writer>"`. An error (a config the call
    /// would refuse) fails the task as the call would.
    fn stub(&self, call: &Call) -> Result<Value, AgentError> {
        Ok(placeholder(call))
    }
}

/// The value a dry run gives for a call whose agent states no shape:
/// `"<dry run: NAME>"`, NAME the agent's name in the script.
pub fn placeholder(call: &Call) -> Value {
    Value::String(format!("<dry run: {}>", call.agent))
}

/// A call run inline ([`Agent::call_inline`]): the call's parts, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Inline<'a> {
    /// The call's positional argument, as text.
    pub instructions: Option<&'a str>,
    /// The call's named arguments.
    pub context: &'a Map<String, Value>,
    /// The agent's configuration.
    pub config: &'a Map<String, Value>,
}
