//! The messages of an `llm` call: the `system` config, then the history the
//! call continues (`messages:`, a list of `{role, content}`), then the call's
//! own user message (its instructions and context). With `history: true`
//! the call returns the history extended by that user message and the reply,
//! for the next call of a conversation.

use serde_json::{json, Map, Value};

use super::{user_message, Config};
use crate::agent::{AgentError, Call};

/// The key of the history, in the config and among a call's arguments.
pub(super) const MESSAGES: &str = "messages";

/// The roles a message of `messages` may have.
const ROLES: &[&str] = &["system", "user", "assistant", "tool"];

/// What one call says to the model.
#[derive(Clone, Debug)]
pub(super) struct Conversation {
    /// The system message (the `system` config), sent first, kept out of the history.
    pub system: Option<String>,
    /// The messages the call continues: its `messages` argument, else the config's.
    pub history: Vec<Value>,
    /// The call's user message, when it has one: its instructions and
    /// context, or (with a history) nothing when it has neither.
    pub user: Option<String>,
}

impl Conversation {
    /// The conversation of a call: `messages` given to the call (a named
    /// argument, never sent as context) wins over the agent's `messages:`.
    pub(super) fn new(config: &Config, call: &Call) -> Result<Conversation, AgentError> {
        Conversation::of(config, call.instructions.as_deref(), &call.context)
    }

    /// [`Conversation::new`] of a call's parts.
    pub(super) fn of(
        config: &Config,
        instructions: Option<&str>,
        context: &Map<String, Value>,
    ) -> Result<Conversation, AgentError> {
        let given = context;
        let mut context = std::borrow::Cow::Borrowed(given);
        let history = match given.get(MESSAGES) {
            Some(given) => {
                let history = read_messages(given)?;
                context.to_mut().remove(MESSAGES);
                history
            }
            None => config.messages.clone().unwrap_or_default(),
        };
        let text = user_message(instructions, &context);
        let system = config.system.clone().filter(|s| !s.trim().is_empty());
        let mut user = (!text.is_empty() || history.is_empty()).then_some(text);
        if config.json {
            // OpenAI refuses JSON mode unless a message asks for JSON.
            let asks = system
                .iter()
                .map(String::as_str)
                .chain(history.iter().filter_map(|m| m["content"].as_str()))
                .chain(user.as_deref())
                .any(|text| text.to_ascii_lowercase().contains("json"));
            if !asks {
                let ask = "Reply with a JSON object.";
                user = Some(match user {
                    Some(text) if !text.is_empty() => format!("{text}\n\n{ask}"),
                    _ => ask.to_string(),
                });
            }
        }
        Ok(Conversation {
            system,
            history,
            user,
        })
    }

    /// The request's messages: system, history, user.
    pub(super) fn request(&self) -> Vec<Value> {
        let mut messages = Vec::with_capacity(self.history.len() + 2);
        if let Some(system) = &self.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.extend(self.history.iter().cloned());
        if let Some(user) = &self.user {
            messages.push(json!({"role": "user", "content": user}));
        }
        messages
    }

    /// The history after the call: what it continued, its user message and
    /// the model's reply (the `system` config is not part of it: the agent
    /// sends it on every call).
    pub(super) fn extended(&self, reply: &str) -> Vec<Value> {
        let mut messages = self.history.clone();
        if let Some(user) = &self.user {
            messages.push(json!({"role": "user", "content": user}));
        }
        messages.push(json!({"role": "assistant", "content": reply}));
        messages
    }
}

/// Reads and checks a `messages` list: objects with a `role` (system, user,
/// assistant or tool) and a string `content`; other keys (`name`,
/// `tool_call_id`) are sent as they are.
pub(super) fn read_messages(value: &Value) -> Result<Vec<Value>, AgentError> {
    let help = "`messages` is the history a call continues: a list of {role, content} \
                objects, e.g. [{role: \"system\", content: \"Be brief.\"}, {role: \"user\", content: \"Hi\"}]";
    let Value::Array(items) = value else {
        return Err(AgentError::new(format!(
            "`messages` must be a list of {{role, content}} objects, not {}",
            super::net::kind_of(value)
        ))
        .note(help));
    };
    for (i, item) in items.iter().enumerate() {
        check_message(i, item).map_err(|e| e.note(help))?;
    }
    Ok(items.clone())
}

fn check_message(i: usize, item: &Value) -> Result<(), AgentError> {
    let Value::Object(fields) = item else {
        return Err(AgentError::new(format!(
            "`messages[{i}]` must be an object {{role, content}}, not {}",
            super::net::kind_of(item)
        )));
    };
    let roles = ROLES
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect::<Vec<_>>()
        .join(", ");
    match fields.get("role") {
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => {}
        Some(Value::String(role)) => {
            return Err(AgentError::new(format!(
                "`messages[{i}]` has the role {}, which is not one of {roles}",
                crate::value::preview(&Value::String(role.clone()), 40)
            )))
        }
        Some(other) => {
            return Err(AgentError::new(format!(
                "`messages[{i}].role` must be a string ({roles}), not {}",
                super::net::kind_of(other)
            )))
        }
        None => {
            return Err(AgentError::new(format!(
                "`messages[{i}]` has no `role` ({roles})"
            )))
        }
    }
    match fields.get("content") {
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(AgentError::new(format!(
            "`messages[{i}].content` must be a string, not {}",
            super::net::kind_of(other)
        ))),
        None => Err(AgentError::new(format!(
            "`messages[{i}]` has no `content`{}",
            unknown_keys(fields)
        ))),
    }
}

/// ` (it has `contnet`)`: the keys of a message that lacks its content.
fn unknown_keys(fields: &Map<String, Value>) -> String {
    let others: Vec<String> = fields
        .keys()
        .filter(|k| *k != "role")
        .map(|k| format!("`{k}`"))
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(" (it has {})", others.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn config(value: Value) -> Config {
        Config::read(value.as_object().unwrap()).unwrap()
    }

    #[test]
    fn a_calls_messages_come_between_system_and_user_and_leave_the_context() {
        let history = json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]);
        let call = Call::new("Chat", "Go on")
            .arg("messages", history.clone())
            .arg("topic", json!("tides"));
        let conversation = Conversation::new(&config(json!({"system": "Be brief."})), &call).unwrap();
        let request = conversation.request();
        let roles: Vec<&str> = request.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(
            request[3]["content"],
            "Go on\n\n{\n  \"topic\": \"tides\"\n}",
            "the context without `messages`"
        );
        let extended = conversation.extended("Sure");
        assert_eq!(extended.len(), 4, "no system message in the history");
        assert_eq!(extended[3], json!({"role": "assistant", "content": "Sure"}));
    }

    #[test]
    fn the_calls_messages_win_over_the_configs() {
        let preset = json!({"messages": [{"role": "user", "content": "preset"}]});
        let mut call = Call::new("Chat", "");
        call.instructions = None;
        call.config = Arc::new(preset.as_object().unwrap().clone());
        let from_config = Conversation::new(&config(preset.clone()), &call).unwrap();
        assert_eq!(from_config.history[0]["content"], "preset");
        assert_eq!(from_config.user, None, "no instructions, no context: no user message");
        let call = call.arg("messages", json!([]));
        let given = Conversation::new(&config(preset), &call).unwrap();
        assert!(given.history.is_empty());
        assert_eq!(given.user.as_deref(), Some(""), "no history: the user message as before");
    }

    #[test]
    fn bad_messages_name_the_index() {
        for (bad, expected) in [
            (json!("hi"), "`messages` must be a list of {role, content} objects, not a string"),
            (json!([{"role": "user", "content": "a"}, "b"]), "`messages[1]` must be an object"),
            (json!([{"role": "bot", "content": "a"}]), "`messages[0]` has the role \"bot\", which is not one of"),
            (json!([{"content": "a"}]), "`messages[0]` has no `role`"),
            (json!([{"role": "user", "contnet": "a"}]), "`messages[0]` has no `content` (it has `contnet`)"),
            (json!([{"role": "user", "content": 3}]), "`messages[0].content` must be a string, not a number"),
        ] {
            let error = read_messages(&bad).unwrap_err();
            assert!(error.message.starts_with(expected), "{bad}: {}", error.message);
        }
    }
}
