//! The journal seam: what a run tells a run store as it goes, and what it
//! asks of one (`--resume`). The runtime knows nothing of databases; the
//! store (`crate::store`) implements [`Journal`].
//!
//! A task's **cache key** is a digest of what decides its result: the agent
//! (its name, the digest of its declaration's text), its config, its
//! instructions and context values, and for a command written with `${…}`
//! the command text and the values passed to it. Not timings, not task ids:
//! two runs that call an agent with the same inputs compute the same key.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{TaskRecord, Val};
use crate::agent::{Resource, Signature, CACHE_KEY};
use crate::shell::Command;

/// Where a run records its tasks and finds results to re-use.
pub trait Journal: Send + Sync {
    /// The value a task with this key produced in the run being resumed;
    /// `None` runs the task.
    fn reuse(&self, key: &str) -> Option<Reused>;

    /// A task ended: ran, failed, was skipped or cancelled, or was re-used.
    /// `key` is its cache key and what it was computed from: `None` for
    /// tasks that never started and for inline ones (`echo`, `noop`: pure,
    /// answered at once, so a journal may count them rather than write each
    /// one down). Called on the scheduler: hand the work elsewhere.
    fn record(&self, record: &TaskRecord, key: Option<&TaskKey>);

    /// [`Journal::record`] of a record the run keeps no copy of: a journal
    /// that keeps what it is given takes it rather than a copy. The
    /// default hands it to [`Journal::record`].
    fn record_owned(&self, record: TaskRecord, key: Option<&TaskKey>) {
        self.record(&record, key);
    }

    /// Where it counts the tasks without a key (inline ones: `echo`, `noop`,
    /// pure and answered at once) that succeed, when it only counts them
    /// rather than being given a record of each. The run then makes no
    /// record of such a task when nothing else takes one (a million-item
    /// `map` of `noop`s makes none) and stores its running total of them in
    /// the counter after each: a plain store, no locked instruction, and the
    /// count read at any moment (the run's end, or `flow` ended by a second
    /// Ctrl-C while the run goes on) is exact. The default, `None`: every
    /// record goes to [`Journal::record_owned`].
    fn unkeyed_count(&self) -> Option<Arc<AtomicU64>> {
        None
    }

    /// Under `--replay`: the recorded reply to a call of a remote agent
    /// (`llm`, `http`: [`Resource::Remote`](crate::agent::Resource)), or why
    /// there is none. `None` when the run does not replay: the call is made.
    fn replay(&self, _key: &TaskKey) -> Option<Result<Reused, String>> {
        None
    }

    /// Whether it records or replays remote calls, and so needs each
    /// remote call's [`TaskKey::request`] (`--record`, `--replay`).
    fn uses_requests(&self) -> bool {
        false
    }

    /// The run's secrets, given before its first task when it has any values
    /// to hide. The records a journal is given are redacted already; the key
    /// inputs and requests are not (redacting them is the journal's work, off
    /// the scheduler).
    fn secrets(&self, _secrets: &Arc<crate::secret::Secrets>) {}
}

/// A result found for a key in an earlier run.
#[derive(Clone, Debug)]
pub struct Reused {
    /// The value.
    pub value: Val,
    /// The run that computed it.
    pub run: i64,
}

/// A task's cache key and what it was computed from.
#[derive(Clone, Debug)]
pub struct TaskKey {
    /// The digest (32 hex digits).
    pub key: Arc<str>,
    /// What it is a digest of, as JSON text: agent, definition, config,
    /// instructions, context, command (see the module documentation).
    pub inputs: Arc<str>,
    /// Whether a recorded result may stand in for running it (`cache: false` says no).
    pub reusable: bool,
    /// For a remote service's call (`llm`, `http`): the request as
    /// `--record` keeps it and `--replay` matches it. It is the inputs less
    /// the config keys about how calls travel (`base_url`, `timeout`…: see
    /// [`Signature::transport`](crate::agent::Signature::transport)), so a
    /// recording replays against another address. Computed only for a
    /// journal that [records or replays calls](Journal::uses_requests).
    pub request: Option<Request>,
}

/// A remote call's request: its digest, and what it is a digest of.
#[derive(Clone, Debug)]
pub struct Request {
    /// The digest (32 hex digits).
    pub key: Arc<str>,
    /// The inputs, less the transport config keys.
    pub content: Arc<Value>,
}

/// What a task's key is a digest of, in the order it is written.
#[derive(serde::Serialize)]
struct KeyInputs<'a> {
    agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    definition: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<CommandInputs<'a>>,
}

#[derive(serde::Serialize)]
struct CommandInputs<'a> {
    text: &'a str,
    values: &'a [Value],
}

/// What decides a task's result, as one JSON object (shown by `flow why`).
pub(crate) fn key_inputs(
    agent: &str,
    definition: Option<&str>,
    config: &Map<String, Value>,
    instructions: Option<&str>,
    context: &Map<String, Value>,
    command: Option<&Command>,
    signature: &Signature,
) -> TaskKey {
    // Where a call runs (`cpus`, `executor`…) is not what it computes: a
    // config with placement keys is keyed without them (a copy, only then).
    let unplaced;
    let config = if signature.is_placed()
        && (config.keys()).any(|k| crate::exec::PLACEMENT_KEYS.contains(&k.as_str()))
    {
        unplaced = (config.iter())
            .filter(|(k, _)| !crate::exec::PLACEMENT_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Map<String, Value>>();
        &unplaced
    } else {
        config
    };
    // Written straight from the call's parts: no copy of its values.
    let inputs = KeyInputs {
        agent,
        definition,
        config: (!config.is_empty()).then_some(config),
        instructions,
        context: (!context.is_empty()).then_some(context),
        command: command.map(|c| CommandInputs {
            text: &c.text,
            values: &c.values,
        }),
    };
    let bytes = serde_json::to_vec(&inputs).unwrap_or_default();
    TaskKey {
        key: digest(&bytes).into(),
        inputs: String::from_utf8_lossy(&bytes).into(),
        reusable: config.get(CACHE_KEY) != Some(&Value::Bool(false)),
        request: None,
    }
}

impl TaskKey {
    /// The key with its [`TaskKey::request`], for a call of a remote agent
    /// when the journal records or replays calls (the only ones that read
    /// it: computing it costs a parse and a digest per call).
    pub(crate) fn with_request(mut self, signature: &Signature) -> TaskKey {
        if signature.resource != Resource::Remote {
            return self;
        }
        let mut content: Value = serde_json::from_str(&self.inputs).unwrap_or(Value::Null);
        if let Some(Value::Object(config)) = content.get_mut("config") {
            config.retain(|k, _| !signature.config.iter().any(|c| c.transport && c.name == *k));
        }
        let bytes = serde_json::to_vec(&content).unwrap_or_default();
        self.request = Some(Request {
            key: digest(&bytes).into(),
            content: Arc::new(content),
        });
        self
    }
}

/// A short, stable digest of some bytes: 128 bits of BLAKE3, in hex.
pub fn digest(bytes: &[u8]) -> String {
    let hash = blake3::hash(bytes);
    hash.to_hex()[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sh() -> Signature {
        Signature::backend("sh", "test")
    }

    #[test]
    fn a_remote_request_leaves_out_how_it_travels() {
        let llm = Signature::backend("llm", "test")
            .optional("model", crate::agent::ConfigType::Text, "")
            .optional("base_url", crate::agent::ConfigType::Text, "")
            .transport()
            .resource(Resource::Remote);
        let at = |url: &str| map(json!({ "model": "m", "base_url": url }));
        let here = key_inputs("llm", None, &at("http://a"), Some("hi"), &Map::new(), None, &llm)
            .with_request(&llm);
        let there = key_inputs("llm", None, &at("http://b"), Some("hi"), &Map::new(), None, &llm)
            .with_request(&llm);
        assert_ne!(here.key, there.key, "the cache key covers where it goes");
        let (here, there) = (here.request.unwrap(), there.request.unwrap());
        assert_eq!(here.key, there.key, "the request does not");
        assert_eq!(here.content["config"], json!({ "model": "m" }));
        assert!(key_inputs("sh", None, &Map::new(), None, &Map::new(), None, &sh())
            .with_request(&sh())
            .request
            .is_none());
    }

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn keys_depend_on_inputs_only() {
        let config = map(json!({ "cmd": "wc -l" }));
        let a = key_inputs("sh", None, &config, None, &map(json!({ "x": 1 })), None, &sh());
        let b = key_inputs("sh", None, &config, None, &map(json!({ "x": 1 })), None, &sh());
        let c = key_inputs("sh", None, &config, None, &map(json!({ "x": 2 })), None, &sh());
        assert_eq!(a.key, b.key);
        assert_ne!(a.key, c.key);
        assert_eq!(a.key.len(), 32);
        let defined = key_inputs("sh", Some("abc"), &config, None, &Map::new(), None, &sh());
        let redefined = key_inputs("sh", Some("abd"), &config, None, &Map::new(), None, &sh());
        assert_ne!(defined.key, redefined.key);
    }

    #[test]
    fn a_command_s_values_are_part_of_its_key() {
        let command = |v: i64| Command {
            text: "echo \"$FLOW_VALUE_1\"".into(),
            values: vec![json!(v)],
        };
        let config = Map::new();
        let one = key_inputs("sh", None, &config, None, &config, Some(&command(1)), &sh());
        let two = key_inputs("sh", None, &config, None, &config, Some(&command(2)), &sh());
        assert_ne!(one.key, two.key);
        assert!(one.reusable);
        let off = map(json!({ "cache": false }));
        assert!(!key_inputs("sh", None, &off, None, &config, None, &sh()).reusable);
    }
}
