//! Tools: a task whose agent has `tools: [Search, …]` gets a
//! [`crate::agent::Tools`]; each use it asks for arrives here and runs as an
//! instance of the tool's body (one task calling the tool with the use's
//! arguments), named `review.Search[0]`, `review.Search[1]`, …. Its value or
//! failure goes back to the asking call; a failure is the caller's to
//! handle (a model reads the error), so it never fails the run by itself.
//! Uses are children of the asking task's instance: when that stops, they do.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::agent::{ToolRequest, ToolSpec, Tools};
use crate::graph::Task;

/// Where one use's value goes.
struct Use {
    owner: Key,
    reply: Option<oneshot::Sender<Result<Value, String>>>,
}

/// A task that may use tools: its instance, id and tool bodies.
struct Origin {
    key: Key,
    node: u32,
    task: Arc<str>,
    bodies: Vec<(Arc<str>, BodyId)>,
    uses: Vec<u32>,
}

pub(super) struct ToolState {
    origins: HashMap<u64, Origin>,
    next_origin: u64,
    uses: Vec<Option<Use>>,
    free: Vec<u32>,
    sender: mpsc::UnboundedSender<ToolRequest>,
    pub(super) receiver: mpsc::UnboundedReceiver<ToolRequest>,
}

impl Default for ToolState {
    fn default() -> ToolState {
        let (sender, receiver) = mpsc::unbounded_channel();
        ToolState {
            origins: HashMap::new(),
            next_origin: 0,
            uses: Vec::new(),
            free: Vec::new(),
            sender,
            receiver,
        }
    }
}

impl ToolState {
    /// The instance that owns a use (for cancellation and stopping).
    pub(super) fn owner(&self, id: u32) -> Option<Key> {
        self.uses.get(id as usize)?.as_ref().map(|u| u.owner)
    }
}

impl Scheduler {
    /// The tools a task's call may use: their descriptions for the agent,
    /// and a way back here.
    pub(super) fn toolbox(&mut self, key: Key, k: u32, node: &Node, task: &Task) -> Option<Tools> {
        if task.tools().is_empty() {
            return None;
        }
        let specs: Vec<ToolSpec> = task
            .tools()
            .iter()
            .map(|tool| {
                let agent = &self.agents[tool.agent as usize];
                let signature = agent.implementation.signature();
                let description = match agent.config.get("system").and_then(Value::as_str) {
                    Some(system) => format!("{}: {system}", tool.name),
                    None => format!("{} ({}: {})", tool.name, signature.name, signature.summary),
                };
                ToolSpec {
                    name: tool.name.to_string(),
                    description,
                    parameters: agent.implementation.tool_parameters(&agent.config),
                }
            })
            .collect();
        let origin = self.tools.next_origin;
        self.tools.next_origin += 1;
        self.tools.origins.insert(
            origin,
            Origin {
                key,
                node: k,
                task: self.node_id(key, node).into(),
                bodies: task.tools().iter().map(|t| (t.name.clone(), t.body)).collect(),
                uses: vec![0; task.tools().len()],
            },
        );
        Some(Tools {
            specs: specs.into(),
            origin,
            sender: self.tools.sender.clone(),
        })
    }

    /// The asking task ended: its tools can no longer be used.
    pub(super) fn forget_tools(&mut self, key: Key, k: u32) {
        if !self.tools.origins.is_empty() {
            self.tools.origins.retain(|_, o| !(o.key == key && o.node == k));
        }
    }

    /// A call asks to use a tool: run its body with the arguments.
    pub(super) fn on_tool_request(&mut self, request: ToolRequest) {
        let ToolRequest {
            origin,
            tool,
            args,
            reply,
        } = request;
        let Some(o) = self.tools.origins.get_mut(&origin) else {
            let _ = reply.send(Err("the task that asked for the tool has ended".into()));
            return;
        };
        let (owner, task) = (o.key, o.task.clone());
        let Some((name, body)) = o.bodies.get(tool).cloned() else {
            let _ = reply.send(Err(format!("there is no tool number {tool}")));
            return;
        };
        let n = o.uses[tool];
        o.uses[tool] += 1;
        if self.is_stopped(owner) {
            let _ = reply.send(Err(format!("`{task}` was stopped")));
            return;
        }
        let use_ = Use {
            owner,
            reply: Some(reply),
        };
        let id = match self.tools.free.pop() {
            Some(id) => {
                self.tools.uses[id as usize] = Some(use_);
                id
            }
            None => {
                self.tools.uses.push(Some(use_));
                self.tools.uses.len() as u32 - 1
            }
        };
        let instance: Arc<str> = format!("{task}.{name}[{n}]").into();
        let args = Arc::new(Value::Object(args));
        let key = self.instantiate(body, Parent::Tool { id }, instance, vec![args], Vec::new(), true);
        self.maybe_finish(key);
    }

    /// A use ended: its value, or why it failed, goes back to the call.
    pub(super) fn tool_done(&mut self, id: u32, result: Result<Val, Failure>) {
        let Some(use_) = self.tools.uses.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        self.tools.free.push(id);
        if let Some(reply) = use_.reply {
            let answer = match result {
                Ok(value) => Ok(Arc::try_unwrap(value).unwrap_or_else(|v| (*v).clone())),
                Err(failure) => Err(failure_text(&failure)),
            };
            let _ = reply.send(answer);
        }
    }
}

/// A failed use, in words for the caller (a model): the message and the
/// agent's notes (an `sh` command's stderr tail).
fn failure_text(failure: &Failure) -> String {
    let mut text = failure.message.clone();
    for note in &failure.notes {
        text.push('\n');
        text.push_str(note);
    }
    text
}

/// Arguments of a tool use that are not an object: what the tool gets instead.
pub(super) fn spread_context(value: &Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map.clone(),
        other => {
            let mut map = Map::new();
            map.insert("instructions".into(), other.clone());
            map
        }
    }
}
