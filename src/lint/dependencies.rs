//! Too many dependencies: a task waiting for more values than a threshold
//! (`too_many_inputs`), and a task handed a whole value when the script only
//! ever uses one field of it (`whole_value_passed`).

use super::HashMap;

use super::{afters, data_refs, see, Cx};
use crate::diag::{Code, Diagnostic};
use crate::graph::{Body, BodyId, Expr, NodeKind, Ref, TaskGraph};
use crate::source::Span;

pub(super) fn check(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    for index in 0..cx.graph.bodies.len() {
        let id = BodyId(index as u32);
        too_many_inputs(cx, id, diags);
        whole_value_passed(cx, id, diags);
    }
}

/// The name a reference has in a body, for messages.
fn ref_name(graph: &TaskGraph, body: &Body, r: Ref) -> String {
    match r {
        Ref::Node(k) => {
            let node = (k < body.len)
                .then(|| graph.nodes.get((body.first + k) as usize))
                .flatten();
            match node {
                Some(n) if !n.label.is_empty() => n.label.to_string(),
                _ => "a value".to_string(),
            }
        }
        Ref::Input(i) => body
            .inputs
            .get(i as usize)
            .map_or_else(|| "an input".to_string(), |n| n.to_string()),
        Ref::Capture(i) => body
            .captures
            .get(i as usize)
            .map_or_else(|| "a value".to_string(), |c| c.name.to_string()),
        Ref::Param(i) => graph
            .params
            .get(i as usize)
            .map_or_else(|| "a param".to_string(), |p| p.name.to_string()),
    }
}

fn too_many_inputs(cx: &Cx, id: BodyId, diags: &mut Vec<Diagnostic>) {
    let graph = cx.graph;
    let body = graph.body(id);
    for node_id in body.node_ids() {
        let node = graph.node(node_id);
        if !matches!(node.kind, NodeKind::Task(_) | NodeKind::Call(_)) {
            continue;
        }
        let mut inputs = data_refs(&node.kind);
        for (_, k) in afters(&node.kind) {
            if !inputs.contains(&Ref::Node(*k)) {
                inputs.push(Ref::Node(*k));
            }
        }
        if inputs.len() <= cx.config.max_inputs {
            continue;
        }
        let names: Vec<String> = inputs
            .iter()
            .map(|r| format!("`{}`", ref_name(graph, body, *r)))
            .collect();
        let who = super::sequential::describe(cx, node);
        let span = cx
            .call_at(node.span)
            .map_or(node.span, |call| call.callee.span);
        diags.push(
            Diagnostic::warning(
                Code::TooManyInputs,
                format!(
                    "{who} has too many dependencies: it waits for {} values (more than {}): {}",
                    inputs.len(),
                    cx.config.max_inputs,
                    names.join(", ")
                ),
            )
            .at(span, format!("depends on {} values", inputs.len()))
            .help(format!(
                "depend only on actual dependencies, not on everything: pass only what this task uses, drop `after`s it doesn't need, or split it into smaller tasks; values that belong together can travel as one list (`map`) or object {}",
                see(Code::TooManyInputs)
            )),
        );
    }
}

/// How a value is used.
#[derive(Clone, Debug, PartialEq)]
enum Use<'g> {
    /// `value.field`
    Field(&'g str),
    /// `Agent(key: value)`: handed whole to a task, at this call span.
    Arg { call: Span, key: &'g str },
    /// Anything else: a whole read, an index, an interpolation.
    Other,
}

fn whole_value_passed(cx: &Cx, id: BodyId, diags: &mut Vec<Diagnostic>) {
    let graph = cx.graph;
    let body = graph.body(id);
    if !body
        .node_ids()
        .any(|n| matches!(graph.node(n).kind, NodeKind::Task(_)))
    {
        return;
    }
    let implicit_result = id == graph.root && !cx.has_explicit_result();
    let all_uses = uses_in_body(graph, id, !implicit_result, 0);
    for (k, node_id) in body.node_ids().enumerate() {
        let NodeKind::Task(task) = &graph.node(node_id).kind else {
            continue;
        };
        let Some(uses) = all_uses.get(&Ref::Node(k as u32)) else {
            continue;
        };
        let mut field: Option<&str> = None;
        let mut arg = None;
        let mut ok = true;
        for u in uses {
            match u {
                Use::Field(f) => {
                    if field.is_some_and(|g| g != *f) {
                        ok = false;
                    }
                    field = Some(*f);
                }
                Use::Arg { call, key } => {
                    if arg.is_some() {
                        ok = false;
                    }
                    arg = Some((*call, *key));
                }
                Use::Other => ok = false,
            }
        }
        let (true, Some(field), Some((call_span, key))) = (ok, field, arg) else {
            continue;
        };
        let name = graph.node(node_id).label.to_string();
        if name.is_empty() {
            continue;
        }
        let call = cx.call_at(call_span);
        let receiver = call.map_or("the task", |c| c.callee.name.as_str());
        let span = call
            .and_then(|c| {
                c.args
                    .iter()
                    .find(|a| a.name.as_ref().is_some_and(|n| n.name == key))
            })
            .map_or(call_span, |a| a.value.span);
        diags.push(
            Diagnostic::warning(
                Code::WholeValuePassed,
                format!(
                    "`{receiver}` receives all of `{name}`, but the script only ever uses `{name}.{field}`"
                ),
            )
            .at(span, "the whole value")
            .help(format!(
                "pass just the field: `{key}: {name}.{field}` (`{name}` comes from `{}`; a smaller input is cheaper to send and easier to reason about) {}",
                task.agent_name,
                see(Code::WholeValuePassed)
            )),
        );
    }
}

/// Uses by what they use, borrowing the graph's names.
type Uses<'g> = HashMap<Ref, Vec<Use<'g>>>;

/// How every value is used in body `id` and in the bodies that capture it,
/// in one pass.
fn uses_in_body(graph: &TaskGraph, id: BodyId, result_counts: bool, depth: usize) -> Uses<'_> {
    let mut out = Uses::default();
    let body = graph.body(id);
    for node_id in body.node_ids() {
        let node = graph.node(node_id);
        match &node.kind {
            NodeKind::Value(e) => scan(e, &mut out),
            NodeKind::Task(t) => {
                if let crate::graph::Callee::Backend(_, config) = &t.callee {
                    config.iter().for_each(|(_, e)| scan(e, &mut out));
                }
                t.instructions.iter().for_each(|e| scan(e, &mut out));
                for (key, e) in &t.context {
                    match e {
                        Expr::Ref(r) => out.entry(*r).or_default().push(Use::Arg {
                            call: node.span,
                            key,
                        }),
                        e => scan(e, &mut out),
                    }
                }
                for e in [
                    &t.modifiers.timeout,
                    &t.modifiers.retry,
                    &t.modifiers.backoff,
                ]
                .into_iter()
                .flatten()
                {
                    scan(e, &mut out);
                }
            }
            // A flow parameter may be used any way inside the flow.
            NodeKind::Call(c) => c.args.iter().for_each(|e| scan(e, &mut out)),
            NodeKind::Map(m) => {
                scan(&m.list, &mut out);
                m.limit.iter().for_each(|e| scan(e, &mut out));
            }
            NodeKind::If(i) => scan_control(&i.cond, &mut out),
            NodeKind::Try(t) => {
                t.retry.iter().for_each(|e| scan(e, &mut out));
                t.backoff.iter().for_each(|e| scan(e, &mut out));
            }
            NodeKind::Gate(_) => {}
            NodeKind::Repeat(r) => {
                scan(&r.init, &mut out);
                scan(&r.max, &mut out);
            }
            NodeKind::Match(m) => scan_control(&m.value, &mut out),
            NodeKind::Reduce(r) => {
                scan(&r.list, &mut out);
                r.init.iter().for_each(|e| scan(e, &mut out));
                r.limit.iter().for_each(|e| scan(e, &mut out));
            }
        }
        for child in TaskGraph::child_bodies(node) {
            let captures = &graph.body(child).captures;
            if captures.is_empty() {
                continue;
            }
            if depth > 64 {
                // Deeper than any real script: count every capture as a whole use.
                for c in captures {
                    out.entry(c.from).or_default().push(Use::Other);
                }
                continue;
            }
            let inner = uses_in_body(graph, child, true, depth + 1);
            for (i, capture) in captures.iter().enumerate() {
                if let Some(uses) = inner.get(&Ref::Capture(i as u32)) {
                    out.entry(capture.from)
                        .or_default()
                        .extend(uses.iter().cloned());
                }
            }
        }
    }
    if result_counts {
        scan(&body.result, &mut out);
    }
    out
}

/// Records the uses in a condition: a field tested there decides which branch
/// runs, it is not data a task consumes, so only whole uses count.
fn scan_control<'g>(e: &'g Expr, out: &mut Uses<'g>) {
    let mut inner = Uses::default();
    scan(e, &mut inner);
    for (r, uses) in inner {
        let whole: Vec<Use<'g>> = uses
            .into_iter()
            .filter(|u| !matches!(u, Use::Field(_)))
            .collect();
        out.entry(r).or_default().extend(whole);
    }
}

/// Records each use of a reference in `e`.
fn scan<'g>(e: &'g Expr, out: &mut Uses<'g>) {
    match e {
        Expr::Field { base, name, .. } if matches!(**base, Expr::Ref(_)) => {
            if let Expr::Ref(r) = **base {
                out.entry(r).or_default().push(Use::Field(name));
            }
        }
        Expr::Ref(r) => out.entry(*r).or_default().push(Use::Other),
        Expr::Const(_) => {}
        Expr::Str { parts, .. } => {
            for part in parts {
                if let crate::graph::StrPart::Interp(e) = part {
                    scan(e, out);
                }
            }
        }
        Expr::List(items) => items.iter().for_each(|e| scan(e, out)),
        Expr::Object(entries) => entries.iter().for_each(|(_, e)| scan(e, out)),
        Expr::Field { base, .. } => scan(base, out),
        Expr::Index { base, index, .. } => {
            scan(base, out);
            scan(index, out);
        }
        Expr::Unary { operand, .. } => scan(operand, out),
        Expr::Binary { lhs, rhs, .. } => {
            scan(lhs, out);
            scan(rhs, out);
        }
        Expr::Call { args, .. } => args.iter().for_each(|e| scan(e, out)),
    }
}
