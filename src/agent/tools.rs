//! Tools: agents that another agent's call may call while it runs (a model
//! asking for `Search`). The runtime gives such a call a [`Tools`]; each use
//! of a tool becomes a task of its own, named, limited, logged and cancelled
//! like any other, and its value comes back to the caller.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use super::AgentError;

/// A tool as the calling agent describes it to whoever chooses (a model).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// The agent's name in the script.
    pub name: String,
    /// What it does.
    pub description: String,
    /// A JSON Schema of the arguments it takes.
    pub parameters: Value,
}

/// A request for the runtime to run one use of a tool.
#[derive(Debug)]
pub(crate) struct ToolRequest {
    /// Which call asks (the runtime's own number for it).
    pub origin: u64,
    /// The tool, by its index in [`Tools::specs`].
    pub tool: usize,
    /// Its arguments: `instructions` (text) and the context.
    pub args: Map<String, Value>,
    /// Where the tool's value, or why it failed, goes.
    pub reply: oneshot::Sender<Result<Value, String>>,
}

/// The tools one call may use, and the way to ask the runtime to run one.
#[derive(Clone, Debug)]
pub struct Tools {
    /// The tools, as the caller may describe them (to a model).
    pub specs: Arc<[ToolSpec]>,
    /// Which call asks, for the runtime.
    pub(crate) origin: u64,
    pub(crate) sender: mpsc::UnboundedSender<ToolRequest>,
}

impl Tools {
    /// Runs tool `name` with `args` as a task and waits for its value. Several
    /// uses may run at once (join their futures).
    pub async fn call(&self, name: &str, args: Map<String, Value>) -> Result<Value, AgentError> {
        let Some(tool) = self.specs.iter().position(|s| s.name == name) else {
            let known: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
            return Err(AgentError::new(format!(
                "there is no tool `{name}` (the tools: {})",
                known.join(", ")
            )));
        };
        let (reply, answer) = oneshot::channel();
        let request = ToolRequest {
            origin: self.origin,
            tool,
            args,
            reply,
        };
        self.sender
            .send(request)
            .map_err(|_| AgentError::new("the run ended before the tool could run"))?;
        match answer.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(AgentError::new(message)),
            Err(_) => Err(AgentError::new(format!("the tool `{name}` was cancelled"))),
        }
    }
}
