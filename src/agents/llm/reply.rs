//! Reading a model's reply. The usual one (one or more choices, the first
//! with its text and no tool calls) is read straight into what the call
//! needs; any other is read as a JSON tree, which says what is missing.

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{net, tools, LlmOptions};
use crate::agent::AgentError;

/// One reply of the model: its text, usage, and whether `max_tokens` cut it.
pub(super) struct Exchanged {
    pub text: String,
    pub usage: Option<Value>,
    pub cut_off: bool,
    /// The reply's message as the server sent it (kept when it asks for
    /// tools; `null` otherwise).
    pub message: Value,
    /// The tools it asks for, if any.
    pub tool_calls: Vec<Value>,
}

/// Reads a successful response's body as a reply.
pub(super) async fn read(
    response: reqwest::Response,
    options: &LlmOptions,
    shown: &str,
) -> Result<Exchanged, AgentError> {
    let body = net::read_capped(response, options.max_body)
        .await
        .map_err(|e| match e {
            net::BodyError::TooLarge(n) => AgentError::new(format!(
                "the reply from {shown} is larger than {}",
                net::size(n.min(options.max_body))
            )),
            net::BodyError::Read(e) => AgentError::new(format!("model server {shown}: {e}")),
        })?;
    parse(&body, shown)
}

/// A reply's body read: the usual one directly, any other as a tree.
fn parse(body: &[u8], shown: &str) -> Result<Exchanged, AgentError> {
    if let Ok(Object(plain)) = serde_json::from_slice::<Object<Plain>>(body) {
        if let Some(Object(first)) = plain.choices.into_iter().next() {
            let Object(message) = first.message;
            if message.tool_calls.is_none() {
                let usage = plain.usage.and_then(|Object(u)| {
                    counts(u.prompt_tokens, u.completion_tokens, u.total_tokens)
                });
                return Ok(Exchanged {
                    text: message.content,
                    usage,
                    cut_off: first.finish_reason.as_deref() == Some("length"),
                    message: Value::Null,
                    tool_calls: Vec::new(),
                });
            }
        }
    }
    read_tree(body, shown)
}

/// Any reply, read as a JSON tree.
fn read_tree(body: &[u8], shown: &str) -> Result<Exchanged, AgentError> {
    let mut reply: Value = serde_json::from_slice(body).map_err(|e| {
        AgentError::new(format!("the reply from {shown} is not JSON ({e})"))
            .note(format!("reply:\n{}", net::snippet(body, 1000)))
    })?;
    let choice = reply.pointer("/choices/0");
    let message = choice.and_then(|c| c.get("message"));
    let tool_calls = message.map(tools::calls_of).unwrap_or_default();
    let content = message.and_then(|m| m.get("content")).and_then(Value::as_str);
    let Some(text) = content.or_else(|| (!tool_calls.is_empty()).then_some("")) else {
        return Err(
            AgentError::new("the reply has no `choices[0].message.content` text").note(format!(
                "reply:\n{}",
                net::snippet(reply.to_string().as_bytes(), 1000)
            )),
        );
    };
    let text = text.to_string();
    let cut_off = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str)
        == Some("length");
    let usage = usage(&reply);
    // The message is the reply's own: taken, not copied.
    let message = reply
        .pointer_mut("/choices/0/message")
        .map_or(Value::Null, Value::take);
    Ok(Exchanged {
        text,
        usage,
        cut_off,
        message,
        tool_calls,
    })
}

/// The token counts of a reply, as whole numbers.
pub(super) fn usage(reply: &Value) -> Option<Value> {
    let fields = reply.get("usage")?.as_object()?;
    let count = |key: &str| fields.get(key).and_then(Value::as_u64);
    counts(
        count("prompt_tokens"),
        count("completion_tokens"),
        count("total_tokens"),
    )
}

/// `{prompt_tokens, completion_tokens, total_tokens}`, those known (the
/// total from the other two when the server gave none); `None`: none is.
fn counts(prompt: Option<u64>, completion: Option<u64>, total: Option<u64>) -> Option<Value> {
    let total = total.or_else(|| Some(prompt? + completion?));
    let mut usage = Map::new();
    for (key, n) in [
        ("prompt_tokens", prompt),
        ("completion_tokens", completion),
        ("total_tokens", total),
    ] {
        if let Some(n) = n {
            usage.insert(key.into(), Value::from(n));
        }
    }
    (!usage.is_empty()).then_some(Value::Object(usage))
}

/// The usual reply, with only what a call reads. A field of another type
/// (`content: null`, a float count) fails the read, and the tree reads it.
#[derive(Deserialize)]
struct Plain {
    choices: Vec<Object<Choice>>,
    #[serde(default)]
    usage: Option<Object<Counts>>,
}

#[derive(Deserialize)]
struct Choice {
    message: Object<Message>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: String,
    #[serde(default)]
    tool_calls: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Counts {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
}

/// A `T` read from a JSON object only: a derived struct would also take an
/// array of its fields, which the tree does not read so.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }
        deserializer.deserialize_map(Fields(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An [`Exchanged`] as its parts: text, usage, cut off, message, tool calls.
    type Parts = (String, Option<Value>, bool, Value, Vec<Value>);

    /// What a reply reads as, both ways when the direct way takes it.
    fn read_both(reply: &Value) -> (bool, Result<Parts, String>) {
        let body = reply.to_string();
        let direct = serde_json::from_slice::<Object<Plain>>(body.as_bytes()).is_ok_and(|Object(p)| {
            p.choices.first().is_some_and(|Object(c)| c.message.0.tool_calls.is_none())
        });
        let parts = |e: Exchanged| (e.text, e.usage, e.cut_off, e.message, e.tool_calls);
        let parsed = parse(body.as_bytes(), "s").map(parts).map_err(|e| e.message);
        let tree = read_tree(body.as_bytes(), "s").map(parts).map_err(|e| e.message);
        if direct {
            let (mut a, b) = (parsed.clone().unwrap(), tree.unwrap());
            a.3 = b.3.clone(); // the direct way keeps no message: no tool asked for
            assert_eq!(a, b, "{reply}");
        } else {
            assert_eq!(parsed, tree, "{reply}");
        }
        (direct, parsed)
    }

    #[test]
    fn usual_replies_read_directly_and_as_the_tree_reads_them() {
        let usual = json!({
            "id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13, "details": {"a": 1}},
        });
        let (direct, read) = read_both(&usual);
        assert!(direct);
        let (text, usage, cut_off, message, calls) = read.unwrap();
        assert_eq!((text.as_str(), cut_off, message, calls.len()), ("hi", true, Value::Null, 0));
        assert_eq!(usage, Some(json!({"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13})));
        for (reply, direct) in [
            (json!({"choices": [{"message": {"content": "a"}}], "usage": {"prompt_tokens": 2, "completion_tokens": 3}}), true),
            (json!({"choices": [{"message": {"content": "a", "tool_calls": null}, "finish_reason": null}], "usage": null}), true),
            (json!({"choices": [{"message": {"content": "a"}}], "usage": {"prompt_tokens": 2.5}}), false),
            (json!({"choices": [{"message": {"content": "a"}}], "usage": "lots"}), false),
            (json!({"choices": [{"message": {"content": "a"}, "finish_reason": 3}]}), false),
            (json!({"choices": [{"message": {"content": null, "tool_calls": [{"id": "1"}]}}]}), false),
            (json!({"choices": [{"message": {"content": "", "tool_calls": []}}]}), false),
            (json!({"choices": [{"message": {"content": 3}}]}), false),
            (json!({"choices": []}), false),
            (json!({"choices": [[{"content": "a"}, "stop"]]}), false),
            (json!({"choices": {"0": {"message": {"content": "a"}}}}), false),
            (json!([[{"message": {"content": "a"}}]]), false),
            (json!({"error": "no"}), false),
        ] {
            assert_eq!(read_both(&reply).0, direct, "{reply}");
        }
    }
}
