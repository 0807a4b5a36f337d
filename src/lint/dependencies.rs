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

/// How a value is used, summed up over its uses: the one thing the lint
/// asks is whether it is handed whole to one task and otherwise only ever
/// read for one field.
#[derive(Clone, Copy, Debug, Default)]
struct Seen<'g> {
    /// `value.field`: the field, and whether two different ones were read.
    field: Option<&'g str>,
    fields_differ: bool,
    /// `Agent(key: value)`: handed whole to a task, at this call span; how
    /// many times (two is enough to say "more than once").
    arg: Option<(Span, &'g str)>,
    args: u8,
    /// Anything else: a whole read, an index, an interpolation.
    other: bool,
}

impl<'g> Seen<'g> {
    fn field(&mut self, name: &'g str) {
        self.fields_differ |= self.field.is_some_and(|f| f != name);
        self.field = Some(name);
    }

    fn arg(&mut self, call: Span, key: &'g str) {
        self.arg = Some((call, key));
        self.args = (self.args + 1).min(2);
    }

    fn other(&mut self) {
        self.other = true;
    }

    /// Adds the uses `more` sums up, its field uses only if `fields`.
    fn add(&mut self, more: &Seen<'g>, fields: bool) {
        if fields {
            if let Some(f) = more.field {
                self.field(f);
            }
            self.fields_differ |= more.fields_differ;
        }
        if more.arg.is_some() {
            self.arg = more.arg;
            self.args = (self.args + more.args).min(2);
        }
        self.other |= more.other;
    }

    /// The field and the argument, when that is all the value is used for.
    fn one_field_one_arg(&self) -> Option<(&'g str, (Span, &'g str))> {
        match (self.fields_differ, self.args, self.other) {
            (false, 1, false) => Some((self.field?, self.arg?)),
            _ => None,
        }
    }
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
        let Some((field, (call_span, key))) = all_uses.get(Ref::Node(k as u32)).one_field_one_arg()
        else {
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
                graph.agent_name(task),
                see(Code::WholeValuePassed)
            )),
        );
    }
}

/// How each value is used, borrowing the graph's names: the body's own
/// nodes by index, anything else (inputs, captures, params) in a map.
#[derive(Default)]
struct Uses<'g> {
    nodes: Vec<Seen<'g>>,
    others: HashMap<Ref, Seen<'g>>,
}

impl<'g> Uses<'g> {
    fn new(nodes: usize) -> Uses<'g> {
        Uses {
            nodes: vec![Seen::default(); nodes],
            others: HashMap::default(),
        }
    }

    fn at(&mut self, r: Ref) -> &mut Seen<'g> {
        match r {
            Ref::Node(k) if (k as usize) < self.nodes.len() => &mut self.nodes[k as usize],
            r => self.others.entry(r).or_default(),
        }
    }

    fn get(&self, r: Ref) -> Seen<'g> {
        match r {
            Ref::Node(k) if (k as usize) < self.nodes.len() => self.nodes[k as usize],
            r => self.others.get(&r).copied().unwrap_or_default(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (Ref, &Seen<'g>)> {
        let nodes = self.nodes.iter().enumerate();
        let nodes = nodes.map(|(k, seen)| (Ref::Node(k as u32), seen));
        nodes.chain(self.others.iter().map(|(r, seen)| (*r, seen)))
    }
}

/// How every value is used in body `id` and in the bodies that capture it,
/// in one pass.
fn uses_in_body(graph: &TaskGraph, id: BodyId, result_counts: bool, depth: usize) -> Uses<'_> {
    let body = graph.body(id);
    let mut out = Uses::new(body.len as usize);
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
                        Expr::Ref(r) => out.at(*r).arg(node.span, key),
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
                    out.at(c.from).other();
                }
                continue;
            }
            let inner = uses_in_body(graph, child, true, depth + 1);
            for (i, capture) in captures.iter().enumerate() {
                out.at(capture.from)
                    .add(&inner.get(Ref::Capture(i as u32)), true);
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
    for (r, seen) in inner.iter() {
        out.at(r).add(seen, false);
    }
}

/// Records each use of a reference in `e`.
fn scan<'g>(e: &'g Expr, out: &mut Uses<'g>) {
    match e {
        Expr::Field { base, name, .. } if matches!(**base, Expr::Ref(_)) => {
            if let Expr::Ref(r) = **base {
                out.at(r).field(name);
            }
        }
        Expr::Ref(r) => out.at(*r).other(),
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
