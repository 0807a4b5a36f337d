//! `--keep-going` results. In an instance whose failures go up (not inside a
//! `try` or a gate check), a failed node's place holds an *error value*, each
//! task or construct skipped because of it holds one naming it, and the pure
//! expressions downstream are computed when the instance ends, so its result
//! keeps every value that could be computed:
//!
//! `{"error": {"task": "fetch[3]", "message": "command exited with status 1", "skipped": false}}`
//!
//! Nothing here runs before a failure, nor without `--keep-going`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::graph::StrPart;

impl Failure {
    /// The value of the place that failed: what could be computed of it (a
    /// `map`'s list), else its error value.
    pub(super) fn take_place_value(&mut self) -> Val {
        if let Some(partial) = self.partial.take() {
            return partial;
        }
        let mut error = json!({ "task": self.task, "message": self.message, "skipped": false });
        if !self.notes.is_empty() {
            error["notes"] = json!(self.notes);
        }
        Arc::new(json!({ "error": error }))
    }
}

/// The error value of a task or construct that did not run because of `cause`
/// (`` `fetch[3]` failed ``).
fn skipped_value(task: String, cause: &str) -> Val {
    let message = format!("not run: {cause}");
    Arc::new(json!({ "error": { "task": task, "message": message, "skipped": true } }))
}

fn error_value(task: &str, message: String) -> Val {
    Arc::new(json!({ "error": { "task": task, "message": message, "skipped": false } }))
}

/// Whether a value has the shape of an error value.
fn is_error_value(value: &Value) -> bool {
    let Some(outer) = value.as_object() else {
        return false;
    };
    let Some(Value::Object(error)) = outer.get("error") else {
        return false;
    };
    outer.len() == 1
        && error.get("task").is_some_and(Value::is_string)
        && error.get("message").is_some_and(Value::is_string)
        && error.get("skipped").is_some_and(Value::is_boolean)
}

impl Scheduler {
    /// Node `k` failed and `skipped` will never run: the failed node's place
    /// holds its error value (or its partial value), each skipped task or
    /// construct an error value that names it and the `cause`. Skipped pure
    /// expressions are left to [`Scheduler::partial_result`].
    pub(super) fn keep_failed_places(
        &mut self,
        key: Key,
        k: u32,
        failure: &mut Failure,
        skipped: &[u32],
        cause: &str,
    ) {
        let graph = self.graph.clone();
        let place = failure.take_place_value();
        let Some(inst) = self.inst_mut(key) else {
            return;
        };
        inst.values[k as usize] = Some(place);
        for &d in skipped {
            let node = graph.local(inst.body, d);
            if !matches!(node.kind, NodeKind::Value(_)) {
                let id = super::super::task_id(&inst.name, &node.label);
                inst.values[d as usize] = Some(skipped_value(id, cause));
            }
        }
    }

    /// The value of an instance that failed under `--keep-going`, from its
    /// places: the skipped pure expressions, then the body's result. `None`
    /// without `--keep-going`, without a failure, in a handled instance, or
    /// when the instance stopped before every node ended.
    pub(super) fn partial_result(&mut self, key: Key) -> Option<Val> {
        if !self.options.keep_going {
            return None;
        }
        let inst = self.inst(key)?;
        if inst.failure.is_none() || inst.handled || self.is_stopped(key) {
            return None;
        }
        let graph = self.graph.clone();
        let body = graph.body(inst.body);
        // Source order is a topological order: what a node reads is set first.
        for k in 0..body.len {
            let inst = self.inst(key)?;
            if inst.values[k as usize].is_some() {
                continue;
            }
            let node = graph.local(inst.body, k);
            let (NodeKind::Value(expr), NodeState::Skipped) = (&node.kind, inst.state[k as usize])
            else {
                return None;
            };
            let id = super::super::task_id(&inst.name, &node.label);
            let value = partial_eval(expr, &Self::frame_of(inst, &self.params), &id);
            self.inst_mut(key)?.values[k as usize] = Some(value);
        }
        let inst = self.inst(key)?;
        let name = if inst.name.is_empty() {
            "script"
        } else {
            &inst.name
        };
        Some(partial_eval(
            &body.result,
            &Self::frame_of(inst, &self.params),
            name,
        ))
    }
}

/// Evaluates an expression over places that may hold error values. A list or
/// an object keeps its good members; any other expression with an operand
/// that is an error value is that error value (the first, as a NaN spreads);
/// one that fails on good values is an error value naming `task`.
fn partial_eval(expr: &Expr, frame: &Frame, task: &str) -> Val {
    let owned = |v: Val| Arc::try_unwrap(v).unwrap_or_else(|v| (*v).clone());
    match expr {
        Expr::List(items) => Arc::new(Value::Array(
            items
                .iter()
                .map(|e| owned(partial_eval(e, frame, task)))
                .collect(),
        )),
        Expr::Object(entries) => Arc::new(Value::Object(
            entries
                .iter()
                .map(|(k, e)| (k.to_string(), owned(partial_eval(e, frame, task))))
                .collect(),
        )),
        _ => {
            if let Some(error) = operands(expr)
                .into_iter()
                .map(|e| partial_eval(e, frame, task))
                .find(|v| is_error_value(v))
            {
                return error;
            }
            eval(expr, frame).unwrap_or_else(|e| error_value(task, e.message))
        }
    }
}

/// The expressions an operator, access, call or interpolation reads.
fn operands(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Const(_) | Expr::Ref(_) | Expr::List(_) | Expr::Object(_) => Vec::new(),
        Expr::Str { parts, .. } => parts
            .iter()
            .filter_map(|p| match p {
                StrPart::Interp(e) => Some(e),
                StrPart::Text(_) => None,
            })
            .collect(),
        Expr::Field { base, .. } => vec![base],
        Expr::Index { base, index, .. } => vec![base, index],
        Expr::Unary { operand, .. } => vec![operand],
        Expr::Binary { lhs, rhs, .. } => vec![lhs, rhs],
        Expr::Call { args, .. } => args.iter().collect(),
    }
}
