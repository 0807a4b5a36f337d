//! The `schema:` of an `llm` agent, checked on the client: a reply is parsed
//! and validated against the JSON Schema, each violation named by its JSON
//! path (`/score: "high" is not of type "number"`), and a reply that breaks
//! it is sent back to the model with those violations, asking for a
//! corrected one (`repair: N` times).

use serde_json::Value;

use super::super::net;
use crate::agent::AgentError;

/// The most violations listed in a repair request or a diagnostic.
const MAX_LISTED: usize = 20;

/// The longest a violation's text gets (it may quote a large value).
const MAX_VIOLATION: usize = 300;

/// A schema compiled for validation. Remote references (`$ref` to an URL or a
/// file) are refused: the crate is built without fetching them.
pub(super) struct Schema(jsonschema::Validator);

impl Schema {
    /// Compiles the `schema:` config, or says why it is not a JSON Schema.
    pub(super) fn compile(schema: &Value) -> Result<Schema, AgentError> {
        jsonschema::validator_for(schema).map(Schema).map_err(|e| {
            let at = e.instance_path().to_string();
            let mut error = AgentError::new(format!(
                "`schema` is not a valid JSON Schema: {}",
                net::snippet(e.to_string().as_bytes(), MAX_VIOLATION)
            ));
            if !at.is_empty() {
                error = error.note(format!("at {at} in the schema"));
            }
            error.note("`schema` takes a JSON Schema (https://json-schema.org), such as {type: \"object\", properties: {score: {type: \"number\"}}, required: [\"score\"]}")
        })
    }

    /// Every way `value` breaks the schema (none: it follows it).
    pub(super) fn violations(&self, value: &Value) -> Vec<Violation> {
        self.0
            .iter_errors(value)
            .map(|e| Violation {
                path: Some(match e.instance_path().to_string() {
                    root if root.is_empty() => "/".to_string(),
                    path => path,
                }),
                message: net::snippet(e.to_string().as_bytes(), MAX_VIOLATION),
            })
            .collect()
    }
}

/// One way a reply breaks what the call asked for.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Violation {
    /// The JSON path (a JSON Pointer; `/` is the whole reply), when the
    /// reply parsed.
    pub path: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{path}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a reply was refused.
pub(super) enum Refusal {
    /// It is not JSON at all.
    NotJson(serde_json::Error),
    /// It is JSON that breaks the schema.
    Breaks(Vec<Violation>),
}

impl Refusal {
    /// The violations to list: one, "the reply is not JSON", for a reply
    /// that does not parse.
    pub(super) fn violations(&self) -> Vec<Violation> {
        match self {
            Refusal::NotJson(e) => vec![Violation {
                path: None,
                message: format!("the reply is not JSON ({e})"),
            }],
            Refusal::Breaks(violations) => violations.clone(),
        }
    }
}

/// The value of a reply: its text, or with `json`/`schema` its JSON, which
/// must follow the schema.
pub(super) fn check(text: &str, json: bool, schema: Option<&Schema>) -> Result<Value, Refusal> {
    if !json {
        return Ok(Value::String(text.to_string()));
    }
    let value = super::parse_json_reply(text).map_err(Refusal::NotJson)?;
    match schema.map(|s| s.violations(&value)) {
        Some(violations) if !violations.is_empty() => Err(Refusal::Breaks(violations)),
        _ => Ok(value),
    }
}

/// The user message that asks the model to correct its reply.
pub(super) fn repair_request(refusal: &Refusal, schema: bool) -> String {
    let what = match refusal {
        Refusal::NotJson(_) => "Your reply is not valid JSON.",
        Refusal::Breaks(_) => "Your reply does not follow the required JSON Schema.",
    };
    let mut text = format!("{what} The problems, by JSON path:\n");
    text.push_str(&listed(&refusal.violations(), "- "));
    text.push_str(if schema {
        "\n\nReply again with only the corrected JSON, following the schema."
    } else {
        "\n\nReply again with only the corrected JSON."
    });
    text
}

/// Each violation on a line of its own, the first [`MAX_LISTED`].
fn listed(violations: &[Violation], bullet: &str) -> String {
    let mut lines: Vec<String> = violations
        .iter()
        .take(MAX_LISTED)
        .map(|v| format!("{bullet}{v}"))
        .collect();
    if violations.len() > MAX_LISTED {
        lines.push(format!(
            "{bullet}… and {} more",
            violations.len() - MAX_LISTED
        ));
    }
    lines.join("\n")
}

/// The error of a call whose last reply was still refused: the count in the
/// message, each violation as a note, then the reply and what was tried.
pub(super) fn failure(
    refusal: &Refusal,
    text: &str,
    repairs: u32,
    repair: u32,
    cut_off: bool,
) -> AgentError {
    let mut error = match refusal {
        Refusal::NotJson(e) => AgentError::new(format!("the model's reply is not valid JSON ({e})")),
        Refusal::Breaks(violations) => {
            let n = violations.len();
            let mut error = AgentError::new(format!(
                "the model's reply does not follow the schema: {n} violation{}",
                if n == 1 { "" } else { "s" }
            ));
            for violation in violations.iter().take(MAX_LISTED) {
                error = error.note(violation.to_string());
            }
            if n > MAX_LISTED {
                error = error.note(format!("… and {} more violations", n - MAX_LISTED));
            }
            error
        }
    };
    error = error.note(format!("reply:\n{}", net::snippet(text.as_bytes(), 2000)));
    if cut_off {
        error = error.note("the reply was cut off at `max_tokens`");
    }
    match repairs {
        0 if repair == 0 => error.note("`repair: 0`: no corrected reply was asked for"),
        0 => error,
        n => error.note(format!(
            "asked for a corrected reply {n} time{} (`repair: {repair}`), and the last reply still had these problems",
            if n == 1 { "" } else { "s" }
        )),
    }
}

/// The note of a reply accepted after `repairs` retries: which one passed.
pub(super) fn repaired(repairs: u32) -> String {
    format!(
        "repaired after {repairs} {}: the reply to request {} was accepted",
        if repairs == 1 { "retry" } else { "retries" },
        repairs + 1
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Schema {
        Schema::compile(&json!({
            "type": "object",
            "properties": {"score": {"type": "number"}, "name": {"type": "string"}},
            "required": ["score", "name"],
        }))
        .unwrap()
    }

    #[test]
    fn violations_are_named_by_json_path() {
        let Err(Refusal::Breaks(violations)) = check(r#"{"score": "high"}"#, true, Some(&schema()))
        else {
            panic!("the reply breaks the schema")
        };
        let shown: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert!(
            shown.contains(&r#"/score: "high" is not of type "number""#.to_string()),
            "{shown:?}"
        );
        assert!(
            shown.contains(&r#"/: "name" is a required property"#.to_string()),
            "{shown:?}"
        );
        assert_eq!(
            check(r#"{"score": 1, "name": "x"}"#, true, Some(&schema())).ok(),
            Some(json!({"score": 1, "name": "x"}))
        );
    }

    #[test]
    fn a_reply_that_is_not_json_is_one_violation() {
        let Err(refusal) = check("no", true, None) else {
            panic!("not JSON")
        };
        let violations = refusal.violations();
        assert_eq!(violations.len(), 1);
        assert!(violations[0].to_string().starts_with("the reply is not JSON"));
        let request = repair_request(&refusal, false);
        assert!(request.starts_with("Your reply is not valid JSON."), "{request}");
        assert_eq!(check("no", false, None).ok(), Some(json!("no")));
    }

    #[test]
    fn invalid_schemas_are_config_errors() {
        for bad in [
            json!({"type": "nubmer"}),
            json!({"properties": {"a": {"minimum": "five"}}}),
            json!({"$ref": "https://example.com/schema.json"}),
        ] {
            let Err(error) = Schema::compile(&bad) else {
                panic!("{bad} is not a valid schema")
            };
            assert!(
                error.message.starts_with("`schema` is not a valid JSON Schema"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn long_lists_are_cut() {
        let many: Vec<Violation> = (0..25)
            .map(|i| Violation {
                path: Some(format!("/{i}")),
                message: "bad".into(),
            })
            .collect();
        let error = failure(&Refusal::Breaks(many), "[]", 2, 2, false);
        assert_eq!(error.message, "the model's reply does not follow the schema: 25 violations");
        assert!(error.notes.iter().any(|n| n == "… and 5 more violations"));
        assert!(error.notes.iter().any(|n| n.contains("asked for a corrected reply 2 times")));
    }
}
