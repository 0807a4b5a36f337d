//! The end of a `gate`: the object of its checks' values, or one failure
//! listing every check that did not pass.

use std::sync::Arc;

use serde_json::Value;

use super::*;

impl Scheduler {
    /// Every check of a gate is done: pass with the object of their values, or
    /// fail listing each check that did not pass.
    pub(super) fn gate_done(&mut self, id: u32) {
        let graph = self.graph.clone();
        let Some(owner_key) = self.constructs.owner(id) else {
            return;
        };
        let Some(owner_body) = self.inst(owner_key).map(|i| i.body) else {
            return;
        };
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let node = graph.local(owner_body, c.node);
        let NodeKind::Gate(gate) = &node.kind else {
            return;
        };
        let Kind::Gate { results, .. } = &mut c.kind else {
            return;
        };
        let mut values = serde_json::Map::new();
        let mut failed = Vec::new();
        let mut all_cancelled = true;
        for (check, outcome) in gate.checks.iter().zip(results.iter()) {
            let value_span = match &graph.body(check.body).result {
                Expr::Ref(crate::graph::Ref::Node(k)) => graph.local(check.body, *k).span,
                _ => node.span,
            };
            match outcome {
                Some((Ok(v), cond)) => {
                    let span = check.cond_span.unwrap_or(value_span);
                    match cond.as_deref().map(crate::value::truthy_bool) {
                        None | Some(Ok(true)) => {
                            values.insert(check.name.to_string(), (**v).clone());
                        }
                        Some(Ok(false)) => {
                            all_cancelled = false;
                            let shown = crate::value::preview(v, 60);
                            let why =
                                format!("`where` condition is false ({} = {shown})", check.name);
                            failed.push((check.name.clone(), span, why, Vec::new()));
                        }
                        Some(Err(e)) => {
                            all_cancelled = false;
                            let why =
                                format!("`where` condition is not true or false: {}", e.message);
                            failed.push((check.name.clone(), span, why, Vec::new()));
                        }
                    }
                }
                Some((Err(f), _)) => {
                    all_cancelled &= f.cancelled;
                    let notes = f.diag.notes.clone();
                    failed.push((check.name.clone(), value_span, f.message.clone(), notes));
                }
                None => failed.push((
                    check.name.clone(),
                    value_span,
                    "did not run".to_string(),
                    Vec::new(),
                )),
            }
        }
        let name = c.name.clone();
        if failed.is_empty() {
            return self.construct_done(id, Ok(Arc::new(Value::Object(values))));
        }
        let total = gate.checks.len();
        let mut diag = Diagnostic::error(
            Code::GateFailed,
            format!(
                "gate `{name}` failed: {} of {total} checks did not pass",
                failed.len()
            ),
        )
        .at(node.span, "this gate");
        for (check, span, why, notes) in &failed {
            diag = diag.label(*span, format!("`{check}`: {why}"));
            for note in notes {
                diag = diag.note(format!("`{check}`: {note}"));
            }
        }
        let failure = Failure {
            message: diag.message.clone(),
            notes: Vec::new(),
            diag,
            task: name.to_string(),
            cancelled: all_cancelled,
            partial: None,
        };
        self.construct_done(id, Err(failure));
    }
}
