//! Tools for a model: the `tools` of a request (each agent's name,
//! description and parameters), and the answers to the tool calls a reply
//! asks for. Each call runs as a task of its own (see
//! [`crate::agent::Tools`]); calls asked for in one reply run at once.

use serde_json::{json, Map, Value};

use crate::agent::{AgentError, Tools};

/// How many replies asking for tools a call answers before it fails.
pub(super) const DEFAULT_MAX_TOOL_ROUNDS: u32 = 8;

/// The `tools` field of a request.
pub(super) fn definitions(tools: &Tools) -> Value {
    let list: Vec<Value> = tools
        .specs
        .iter()
        .map(|spec| {
            json!({
                "type": "function",
                "function": {
                    "name": spec.name,
                    "description": spec.description,
                    "parameters": spec.parameters,
                },
            })
        })
        .collect();
    Value::Array(list)
}

/// `max_tool_rounds`: a whole number, 1 or more.
pub(super) fn max_rounds(config: &Map<String, Value>) -> Result<u32, AgentError> {
    match config.get("max_tool_rounds") {
        None | Some(Value::Null) => Ok(DEFAULT_MAX_TOOL_ROUNDS),
        Some(value) => value
            .as_u64()
            .filter(|n| *n >= 1)
            .map(|n| n.min(1000) as u32)
            .ok_or_else(|| {
                AgentError::new(format!(
                    "`max_tool_rounds` must be a whole number of at least 1, not {}",
                    crate::value::to_text(value)
                ))
            }),
    }
}

/// The tool calls of a reply's message (`choices[0].message.tool_calls`).
pub(super) fn calls_of(message: &Value) -> Vec<Value> {
    message
        .get("tool_calls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Runs every tool call of a reply at once; one `tool` message per call, in
/// order, holding the tool's value (text as it is, anything else as JSON) or
/// what went wrong, for the model to read.
pub(super) async fn answer(tools: &Tools, calls: &[Value]) -> Vec<Value> {
    let mut running = tokio::task::JoinSet::new();
    for (i, call) in calls.iter().enumerate() {
        let tools = tools.clone();
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let arguments = call
            .pointer("/function/arguments")
            .cloned()
            .unwrap_or(Value::Null);
        running.spawn(async move { (i, run(&tools, &name, arguments).await) });
    }
    let mut contents = vec![String::new(); calls.len()];
    while let Some(joined) = running.join_next().await {
        if let Ok((i, content)) = joined {
            contents[i] = content;
        }
    }
    calls
        .iter()
        .zip(contents)
        .map(|(call, content)| {
            json!({
                "role": "tool",
                "tool_call_id": call.get("id").cloned().unwrap_or(Value::Null),
                "content": content,
            })
        })
        .collect()
}

/// One tool call: its arguments (a JSON object, usually as a string) and its answer.
async fn run(tools: &Tools, name: &str, arguments: Value) -> String {
    let parsed = match arguments {
        Value::String(text) if text.trim().is_empty() => Ok(Value::Object(Map::new())),
        Value::String(text) => serde_json::from_str::<Value>(&text),
        Value::Null => Ok(Value::Object(Map::new())),
        other => Ok(other),
    };
    let args = match parsed {
        Ok(Value::Object(args)) => args,
        Ok(other) => {
            return format!(
                "error: the arguments of `{name}` must be a JSON object, not {}",
                crate::value::describe(&other)
            )
        }
        Err(e) => return format!("error: the arguments of `{name}` are not JSON ({e})"),
    };
    match tools.call(name, args).await {
        Ok(Value::String(text)) => text,
        Ok(value) => value.to_string(),
        Err(e) => format!("error: {}", e.message),
    }
}
