//! What the REPL prints: values as (coloured) JSON, task graphs as an indented
//! listing.

use serde_json::Value;

use crate::graph::{BodyId, BodyKind, NodeKind, TaskGraph};

const KEY: &str = "\x1b[34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const LITERAL: &str = "\x1b[35m";
const RESET: &str = "\x1b[0m";

/// A value as pretty JSON, with ANSI colours when `color`.
pub fn json(v: &Value, color: bool) -> String {
    if !color {
        return serde_json::to_string_pretty(v).unwrap_or_default();
    }
    let mut out = String::new();
    write_json(&mut out, v, 0);
    out
}

fn write_json(out: &mut String, v: &Value, depth: usize) {
    let pad = |out: &mut String, depth: usize| {
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    match v {
        Value::Null | Value::Bool(_) => paint(out, LITERAL, &v.to_string()),
        Value::Number(n) => paint(out, NUMBER, &n.to_string()),
        Value::String(s) => paint(out, STRING, &quoted(s)),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(fields) if fields.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(out, depth + 1);
                write_json(out, item, depth + 1);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push(']');
        }
        Value::Object(fields) => {
            out.push_str("{\n");
            for (i, (key, item)) in fields.iter().enumerate() {
                pad(out, depth + 1);
                paint(out, KEY, &quoted(key));
                out.push_str(": ");
                write_json(out, item, depth + 1);
                out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push('}');
        }
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn paint(out: &mut String, color: &str, text: &str) {
    out.push_str(color);
    out.push_str(text);
    out.push_str(RESET);
}

/// The whole graph: each flow's body, then the script's.
pub fn graph_text(g: &TaskGraph, only: Option<&str>) -> String {
    let mut out = String::new();
    if only.is_none() {
        for flow in &g.flows {
            out.push_str(&format!(
                "flow {}({}):\n",
                flow.name,
                flow.params.join(", ")
            ));
            body(g, flow.body, 1, None, &mut out);
        }
    }
    out.push_str("script:\n");
    body(g, g.root, 1, only, &mut out);
    out
}

/// The part of the graph that computes `name`: a flow's body, or the script
/// nodes of a binding. `None` if nothing is named so.
pub fn graph_of(g: &TaskGraph, name: &str) -> Option<String> {
    if let Some(flow) = g.flows.iter().find(|f| &*f.name == name) {
        let mut out = format!("flow {}({}):\n", flow.name, flow.params.join(", "));
        body(g, flow.body, 1, None, &mut out);
        return Some(out);
    }
    let root = g.body(g.root);
    let any = root
        .node_ids()
        .any(|id| belongs_to(&g.node(id).label, name));
    any.then(|| {
        let mut out = String::new();
        body(g, g.root, 0, Some(name), &mut out);
        out
    })
}

/// Whether a script node's label is `name`'s own: `name`, `name.part`, `name#2`.
fn belongs_to(label: &str, name: &str) -> bool {
    label
        .strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('#'))
}

/// Lists body `top` at `depth` and the bodies under its nodes, each under a
/// title line. A loop, not a recursion: an `else if` chain nests a body per
/// arm, thousands deep.
fn body(g: &TaskGraph, top: BodyId, depth: usize, only: Option<&str>, out: &mut String) {
    enum Step<'o> {
        Body(BodyId, usize, Option<&'o str>),
        Line(String),
    }
    let mut steps = vec![Step::Body(top, depth, only)];
    while let Some(step) = steps.pop() {
        match step {
            Step::Line(line) => out.push_str(&line),
            Step::Body(id, depth, only) => {
                let mut lines = Vec::new();
                body_lines(g, id, depth, only, &mut |line, child| {
                    lines.push(Step::Line(line));
                    if let Some(child) = child {
                        lines.push(Step::Body(child, depth + 2, None));
                    }
                });
                steps.extend(lines.into_iter().rev());
            }
        }
    }
}

/// Bodies nested deeper than this are not indented further.
const MAX_INDENT: usize = 32;

/// The lines of one body, in order: each node's, and for each body under it,
/// a title line followed by that body (`emit`'s second argument).
fn body_lines(
    g: &TaskGraph,
    id: BodyId,
    depth: usize,
    only: Option<&str>,
    emit: &mut impl FnMut(String, Option<BodyId>),
) {
    let b = g.body(id);
    let labels: Vec<String> = b
        .node_ids()
        .map(|n| {
            let label = &g.node(n).label;
            if label.is_empty() {
                "(result)".to_string()
            } else {
                label.to_string()
            }
        })
        .collect();
    let indent = "  ".repeat(depth.min(MAX_INDENT));
    for (local, node_id) in b.node_ids().enumerate() {
        let node = g.node(node_id);
        if only.is_some_and(|name| !belongs_to(&node.label, name)) {
            continue;
        }
        let what = match &node.kind {
            NodeKind::Value(_) => "value".to_string(),
            NodeKind::Task(t) => format!("task {}", g.agent_name(t)),
            NodeKind::Call(c) => g
                .flows
                .get(c.flow as usize)
                .map_or_else(|| "flow".to_string(), |f| format!("flow {}", f.name)),
            _ => crate::graph::kind_name(node).to_string(),
        };
        let deps: Vec<&str> = node
            .deps
            .iter()
            .filter_map(|d| labels.get(*d as usize).map(String::as_str))
            .collect();
        let after = if deps.is_empty() {
            String::new()
        } else {
            format!("  <- {}", deps.join(", "))
        };
        emit(format!("{indent}{}: {what}{after}\n", labels[local]), None);
        for child in TaskGraph::child_bodies(node) {
            let title = match g.body(child).kind {
                BodyKind::MapItem => "each item".to_string(),
                BodyKind::IfThen => "then".to_string(),
                BodyKind::IfElse | BodyKind::TryElse => "else".to_string(),
                BodyKind::TryAttempt => "attempt".to_string(),
                BodyKind::GateCheck => match &node.kind {
                    NodeKind::Gate(gate) => gate
                        .checks
                        .iter()
                        .find(|c| c.body == child)
                        .map_or_else(|| "check".to_string(), |c| format!("check {}", c.name)),
                    _ => "check".to_string(),
                },
                BodyKind::RepeatCond => "until".to_string(),
                BodyKind::RepeatRound => "each round".to_string(),
                BodyKind::RepeatElse => "else (after max rounds)".to_string(),
                BodyKind::MatchArm => match &node.kind {
                    NodeKind::Match(m) => format!("arm {}", m.arm_title(child)),
                    _ => "arm".to_string(),
                },
                BodyKind::ReduceStep => "each step".to_string(),
                BodyKind::Tool => "tool".to_string(),
                BodyKind::Script | BodyKind::Flow => "body".to_string(),
            };
            emit(format!("{indent}  {title}:\n"), Some(child));
        }
    }
    if b.len == 0 && only.is_none() {
        emit(format!("{indent}(no tasks)\n"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_json_is_serde_pretty() {
        let v = json!({"a": [1, "x", null], "b": {}});
        assert_eq!(json(&v, false), serde_json::to_string_pretty(&v).unwrap());
    }

    #[test]
    fn coloured_json_without_escapes_is_serde_pretty() {
        let v = json!({"a": [1, "x\"y", null, true], "b": {}, "c": []});
        let coloured = json(&v, true);
        let stripped = coloured
            .replace(KEY, "")
            .replace(STRING, "")
            .replace(NUMBER, "")
            .replace(LITERAL, "")
            .replace(RESET, "");
        assert_eq!(stripped, serde_json::to_string_pretty(&v).unwrap());
    }

    #[test]
    fn labels_belong_to_their_binding() {
        assert!(belongs_to("draft", "draft"));
        assert!(belongs_to("draft.intro", "draft"));
        assert!(belongs_to("draft#2", "draft"));
        assert!(!belongs_to("drafts", "draft"));
    }
}
