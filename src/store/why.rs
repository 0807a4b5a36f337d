//! Why a task ran or was re-used, in words (`flow why`, `flow run --resume --explain`).
//!
//! A task of run R is compared with the task of the same id in the run R
//! resumed from (or, for a run that did not resume, the run of the same
//! script before it): a re-used task names the run that computed its value;
//! one that ran says which input changed (by name, old and new value), that
//! its agent's declaration or config changed, that it was not in the earlier
//! run, or that it failed there.

use serde_json::Value;

use super::TaskRow;

/// Why `task` (of a run that `resumed` or not) ran or was re-used, given the
/// task of the same id in the earlier run (`base`: its id and that task).
pub fn explain(
    task: &TaskRow,
    resumed: bool,
    base: Option<(i64, Option<&TaskRow>)>,
) -> Vec<String> {
    match task.state.as_str() {
        "cached" => {
            let from = task
                .reused_from
                .map_or_else(String::new, |r| format!(" from run {r}"));
            return vec![format!("re-used{from}: its inputs are the same")];
        }
        "skipped" => {
            let cause = task.error.as_deref().unwrap_or("a task it reads failed");
            return vec![format!(
                "not run: {}",
                cause.trim_start_matches("not started: ")
            )];
        }
        _ => {}
    }
    let ran = ran(&task.state);
    let Some((base_run, base_task)) = base else {
        return vec![format!(
            "{ran}: there is no earlier run of this script to re-use"
        )];
    };
    let Some(before) = base_task else {
        return vec![format!("{ran}: it was not in run {base_run}")];
    };
    let mut reasons = Vec::new();
    match before.state.as_str() {
        "succeeded" | "cached" => {}
        "skipped" => reasons.push(format!("it did not run in run {base_run} (skipped)")),
        "cancelled" => reasons.push(format!("it was cancelled in run {base_run}")),
        state => {
            let error = before.error.as_deref().unwrap_or(state);
            reasons.push(format!(
                "it failed in run {base_run}: {}",
                shorten(error, 80)
            ));
        }
    }
    if before.key.is_some() && before.key == task.key && reasons.is_empty() {
        let off = task
            .inputs
            .as_ref()
            .and_then(|i| i.pointer("/config/cache"))
            == Some(&Value::Bool(false));
        reasons.push(if off {
            "`cache: false`: it always runs".to_string()
        } else if !resumed {
            format!("the run did not resume (no `--resume`); its inputs are the same as in run {base_run}")
        } else {
            format!("its result in run {base_run} could not be read back")
        });
    } else if before.key.is_none() && !reasons.is_empty() {
        // It never ran there (skipped, failed before it started): it has
        // no inputs to compare, and what it came to says it all.
    } else if before.key != task.key {
        match (&before.inputs, &task.inputs) {
            (Some(old), Some(new)) => changes(old, new, "", &mut reasons),
            _ => reasons.push(format!("its inputs differ from run {base_run}")),
        }
        if !reasons.is_empty() && before.key.is_some() && reasons.len() == 1 && !resumed {
            reasons.push("(and the run did not resume)".to_string());
        }
    }
    if reasons.is_empty() {
        reasons.push(format!("its inputs differ from run {base_run}"));
    }
    let mut lines = vec![format!("{ran}:")];
    lines.extend(reasons.into_iter().map(|r| format!("  - {r}")));
    lines
}

/// How a task that ran ended, in words: `ran`, `ran and failed`…
pub fn ran(state: &str) -> &str {
    match state {
        "succeeded" => "ran",
        "failed" => "ran and failed",
        "timed_out" => "ran and timed out",
        "cancelled" => "ran and was cancelled",
        other => other,
    }
}

/// What differs between two sets of key inputs (an earlier and a later
/// one), in words: `input `topic` changed: "tides" → "waves"`.
pub fn differences(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    changes(old, new, "", &mut out);
    out
}

/// What differs between two sets of key inputs, in words.
fn changes(old: &Value, new: &Value, path: &str, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if !path.starts_with("command") || path.is_empty() => {
            for (key, value) in b {
                let inner = join(path, key);
                match a.get(key) {
                    Some(before) => changes(before, value, &inner, out),
                    None => out.push(format!("{} is new: {}", name(&inner), shorten_value(value))),
                }
            }
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(format!("{} was removed", name(&join(path, key))));
            }
        }
        _ if path == "definition" => {
            out.push("the agent's declaration changed".to_string());
        }
        (Value::Object(a), Value::Object(b)) => {
            // A command: its text, then each value by position.
            if a.get("text") != b.get("text") {
                out.push(format!(
                    "the command changed: {} → {}",
                    shorten_value(a.get("text").unwrap_or(&Value::Null)),
                    shorten_value(b.get("text").unwrap_or(&Value::Null))
                ));
            }
            let empty = Vec::new();
            let values = |v: &Value| v.get("values").and_then(Value::as_array).cloned();
            let (va, vb) = (
                values(old).unwrap_or_default(),
                values(new).unwrap_or(empty),
            );
            // The same change to several `${…}` (one value used twice) is said once.
            let mut changed: Vec<(Vec<usize>, &Value, &Value)> = Vec::new();
            for (i, (x, y)) in va.iter().zip(&vb).enumerate().filter(|(_, (x, y))| x != y) {
                match changed.iter_mut().find(|(_, a, b)| *a == x && *b == y) {
                    Some((at, _, _)) => at.push(i + 1),
                    None => changed.push((vec![i + 1], x, y)),
                }
            }
            for (at, x, y) in changed {
                let which = match at.as_slice() {
                    [one] => format!("value {one}"),
                    many => format!(
                        "values {}",
                        many.iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                out.push(format!(
                    "the command's {which} (its `${{…}}`, in order) changed: {} → {}",
                    shorten_value(x),
                    shorten_value(y)
                ));
            }
        }
        // A list of the same length where a few items changed: each of
        // them by its path (`rows[1].source`), not the two whole lists.
        (Value::Array(a), Value::Array(b))
            if a.len() == b.len()
                && a.iter().zip(b).filter(|(x, y)| x != y).count() <= MAX_ITEMS_SAID =>
        {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                changes(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(format!(
            "{} changed: {} → {}",
            name(path),
            shorten_value(old),
            shorten_value(new)
        )),
    }
}

/// The most changed items of a list that are said one by one.
const MAX_ITEMS_SAID: usize = 3;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A path of the key inputs as a user reads it.
fn name(path: &str) -> String {
    if let Some(arg) = path.strip_prefix("context.") {
        format!("input `{arg}`")
    } else if let Some(key) = path.strip_prefix("config.") {
        format!("config `{key}`")
    } else if path == "instructions" {
        "the instructions".to_string()
    } else if path == "agent" {
        "the agent".to_string()
    } else {
        format!("`{path}`")
    }
}

fn shorten_value(value: &Value) -> String {
    shorten(&value.to_string(), 60)
}

/// `text` cut to about `max` characters, with `…` where it was cut.
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(state: &str, key: &str, inputs: Value) -> TaskRow {
        TaskRow {
            run: 2,
            seq: 0,
            task: "count[3]".into(),
            agent: "sh".into(),
            key: Some(key.into()),
            state: state.into(),
            attempts: 1,
            started_at: None,
            ended_at: None,
            duration_ms: None,
            value: None,
            error: None,
            notes: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
            usage: None,
            inputs: Some(inputs),
            reused_from: None,
        }
    }

    #[test]
    fn a_changed_input_is_named_with_both_values() {
        let old = task(
            "succeeded",
            "a",
            json!({"agent": "Count", "context": {"doc": "a.txt"}}),
        );
        let new = task(
            "succeeded",
            "b",
            json!({"agent": "Count", "context": {"doc": "b.txt"}}),
        );
        let lines = explain(&new, true, Some((1, Some(&old))));
        assert_eq!(
            lines,
            ["ran:", "  - input `doc` changed: \"a.txt\" → \"b.txt\""]
        );
        // Inside a list: the item and the field, not the two whole lists.
        let rows = |source: &str| {
            json!({"agent": "Load", "context": {"rows": [
                {"id": 1, "source": "orders"}, {"id": 2, "source": source}, {"id": 3, "source": "stock"}
            ]}})
        };
        let (old, new) = (
            task("succeeded", "a", rows("customers")),
            task("succeeded", "b", rows("bb")),
        );
        assert_eq!(
            explain(&new, true, Some((1, Some(&old)))),
            [
                "ran:",
                "  - input `rows[1].source` changed: \"customers\" → \"bb\""
            ]
        );
    }

    #[test]
    fn a_changed_declaration_and_command_value_are_said() {
        let old = task(
            "succeeded",
            "a",
            json!({"agent": "W", "definition": "1", "command": {"text": "wc $V", "values": [1]}}),
        );
        let new = task(
            "succeeded",
            "b",
            json!({"agent": "W", "definition": "2", "command": {"text": "wc $V", "values": [2]}}),
        );
        let lines = explain(&new, true, Some((1, Some(&old))));
        assert!(
            lines.iter().any(|l| l.contains("declaration changed")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("value 1") && l.contains("1 → 2")),
            "{lines:?}"
        );
    }

    #[test]
    fn new_failed_and_reused_tasks() {
        let new = task("succeeded", "a", json!({}));
        assert_eq!(
            explain(&new, true, Some((1, None))),
            ["ran: it was not in run 1"]
        );
        let mut failed = task("failed", "a", json!({}));
        failed.error = Some("command exited with status 3".into());
        let lines = explain(&new, true, Some((1, Some(&failed))));
        assert!(lines[1].contains("it failed in run 1: command exited with status 3"));
        // Skipped there, it has no key nor inputs: nothing to compare.
        let mut skipped = task("skipped", "a", json!({}));
        (skipped.key, skipped.inputs) = (None, None);
        assert_eq!(
            explain(&new, true, Some((1, Some(&skipped)))),
            ["ran:", "  - it did not run in run 1 (skipped)"]
        );
        let mut cached = task("cached", "a", json!({}));
        cached.reused_from = Some(1);
        assert_eq!(
            explain(&cached, true, None),
            ["re-used from run 1: its inputs are the same"]
        );
    }
}
