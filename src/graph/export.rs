//! Drawing a [`TaskGraph`]: Graphviz DOT, Mermaid, and JSON (its document in
//! `json.rs`); with a run's [`Overlay`], each node in the colour of its state.
//!
//! Three kinds of line, in every format: a data edge (solid arrow, `-->`,
//! `"data"`) from a value to what reads it; an `after` edge (dashed arrow,
//! `-. after .->`, `"after"`) from a task to what waits for it without
//! reading it; and a link (dotted, no arrowhead, `-.-`, `"body"`/`"call"`)
//! from a construct to the cluster of its body, and from a flow call to the
//! flow's body, drawn once however many calls it has.

use std::borrow::Cow;
use std::sync::Arc;

use super::annotate::{self, EdgeKind};
use super::overlay::{NodeState, Overlay};
use super::*;

/// The word for a node's kind: `task`, `map`, `repeat`, …
pub fn kind_name(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Value(_) => "value",
        NodeKind::Task(_) => "task",
        NodeKind::Map(m) if m.filter => "filter",
        NodeKind::Map(_) => "map",
        NodeKind::Repeat(_) => "repeat",
        NodeKind::Match(_) => "match",
        NodeKind::Reduce(r) if r.init.is_some() => "fold",
        NodeKind::Reduce(_) => "reduce",
        NodeKind::If(_) => "if",
        NodeKind::Try(_) => "try",
        NodeKind::Gate(_) => "gate",
        NodeKind::Call(_) => "flow",
    }
}

/// What the drawings call bodies and nodes, computed once for the graph: an
/// `else if` chain nests thousands of bodies, and a name found by walking up
/// or searching each time would make drawing it quadratic.
pub(super) struct Names<'g> {
    pub(super) graph: &'g TaskGraph,
    /// The body each node belongs to, by node index.
    pub(super) owners: Vec<BodyId>,
    /// Each construct node's name: its label, or for the unnamed `if` of an
    /// `else if`, the name of the construct it belongs to.
    constructs: Vec<Arc<str>>,
    /// Each flow body's flow, by body index.
    flows: Vec<Option<&'g str>>,
    /// Each `map` item body's item count, by body index: the run's, else
    /// the script's when it writes the list out, else unknown.
    pub(super) items: Vec<annotate::Count>,
    /// The run drawn over the graph, if any.
    overlay: Option<&'g Overlay>,
}

impl<'g> Names<'g> {
    pub(super) fn new(graph: &'g TaskGraph, overlay: Option<&'g Overlay>) -> Names<'g> {
        let owners = bodies_of_nodes(graph);
        let mut flows = vec![None; graph.bodies.len()];
        for flow in &graph.flows {
            if let Some(slot) = flows.get_mut(flow.body.0 as usize) {
                *slot = Some(&*flow.name);
            }
        }
        // Unnamed nodes take their name from the construct above them, found
        // by walking up once: what a walk finds is kept for every node it passed.
        let mut constructs: Vec<Option<Arc<str>>> = vec![None; graph.nodes.len()];
        for start in 0..graph.nodes.len() {
            let mut passed = Vec::new();
            let mut at = Some(start);
            let name: Arc<str> = loop {
                let Some(i) = at else { break "".into() };
                if let Some(name) = &constructs[i] {
                    break name.clone();
                }
                let label = &graph.nodes[i].label;
                if !label.is_empty() || passed.len() > graph.nodes.len() {
                    break label.clone();
                }
                passed.push(i);
                at = graph.body(owners[i]).parent.map(|p| p.0 as usize);
            };
            for i in passed {
                constructs[i] = Some(name.clone());
            }
            constructs[start].get_or_insert(name);
        }
        let mut items = vec![annotate::Count::Unknown; graph.bodies.len()];
        for (i, node) in graph.nodes.iter().enumerate() {
            if let NodeKind::Map(m) = &node.kind {
                let first = graph.body(owners[i]).first;
                let run = overlay.and_then(|o| o.items.get(m.body.0 as usize).copied().flatten());
                let text = annotate::static_items(graph, first, &m.list);
                if let Some(slot) = items.get_mut(m.body.0 as usize) {
                    // With a run, each map's count is all the items it made
                    // (a map inside another counts those of every instance);
                    // in the script's own body, the list's length, when its
                    // text says it, is that count before the run is done.
                    *slot = match (text, run) {
                        (Some(n), _) if owners[i] == graph.root => annotate::Count::Known(n),
                        (_, Some(run)) if run.all => annotate::Count::Known(run.made),
                        (_, Some(run)) => annotate::Count::SoFar(run.made),
                        // Without a run, an instance's own count.
                        (Some(n), None) if overlay.is_none() => annotate::Count::Known(n),
                        (_, None) => annotate::Count::Unknown,
                    };
                }
            }
        }
        Names {
            graph,
            owners,
            constructs: constructs
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
            flows,
            items,
            overlay,
        }
    }

    /// The lines a node shows: its caption; its notes (a map's item count,
    /// `retry 3 · timeout 30s`); with a run, how its instances ended when
    /// there were several.
    fn lines(&self, body: BodyId, index: usize, node: &Node) -> Vec<String> {
        let mut lines = vec![self.caption(body, node)];
        let mut notes = annotate::notes_line(&annotate::notes(self.graph, node));
        if let NodeKind::Map(m) = &node.kind {
            let count = annotate::count_text(self.items[m.body.0 as usize]);
            notes = if notes.is_empty() {
                count
            } else {
                format!("{count} · {notes}")
            };
        }
        if !notes.is_empty() {
            lines.push(notes);
        }
        if let Some(Some(run)) = self.overlay.and_then(|o| o.nodes.get(index)) {
            if run.tasks() > 1 {
                let counts: Vec<String> = (run.counts.iter())
                    .map(|(state, n)| format!("{n} {}", state.as_str().replace('_', " ")))
                    .collect();
                lines.push(counts.join(" · "));
            }
        }
        lines
    }

    /// A node's state in the run drawn (`None`: no run, or a plain value).
    pub(super) fn state(&self, index: usize) -> Option<NodeState> {
        self.overlay?.state(index)
    }

    /// The name of the construct a body belongs to (empty for the script and flows).
    fn owner_name(&self, id: BodyId) -> &str {
        self.graph
            .body(id)
            .parent
            .map_or("", |p| &self.constructs[p.0 as usize])
    }

    /// The name a body's instances get, relative to the construct's own instance:
    /// `raw[i]`, `checks.lint`, `processed.else` (empty for the script).
    fn instance_name(&self, id: BodyId) -> String {
        let graph = self.graph;
        let body = graph.body(id);
        let owner = body.parent.map(|p| graph.node(p));
        let name = self.owner_name(id);
        match body.kind {
            BodyKind::Script => String::new(),
            BodyKind::Flow => {
                self.flows[id.0 as usize].map_or_else(String::new, |f| format!("{f}(…)"))
            }
            BodyKind::MapItem => format!("{name}[i]"),
            BodyKind::IfThen | BodyKind::IfElse | BodyKind::TryAttempt => name.to_string(),
            BodyKind::TryElse => format!("{name}.else"),
            BodyKind::GateCheck => format!("{name}.{}", check_name(owner, id)),
            BodyKind::RepeatCond => format!("{name}@n.until"),
            BodyKind::RepeatRound => format!("{name}@n"),
            BodyKind::RepeatElse => format!("{name}.else"),
            BodyKind::MatchArm => name.to_string(),
            BodyKind::ReduceStep => format!("{name}[i]"),
            BodyKind::Tool => format!("{name}.{}[i]", tool_name(graph, id)),
        }
    }

    /// A node's name: its label, or for the node giving a body its value, the
    /// name of the body's instances (`raw[i]`, `checks.lint`).
    pub(super) fn node_name<'n>(&self, body: BodyId, node: &'n Node) -> Cow<'n, str> {
        if node.label.is_empty() {
            Cow::Owned(super::task_id(&self.instance_name(body), ""))
        } else {
            Cow::Borrowed(&node.label)
        }
    }

    /// What a node shows: `raw: Extractor`, `checks.lint: Linter`, `total`.
    fn caption(&self, body: BodyId, node: &Node) -> String {
        let name = self.node_name(body, node);
        let kind = match &node.kind {
            NodeKind::Task(t) => self.graph.agent_name(t).to_string(),
            NodeKind::Call(c) => format!("flow {}", self.graph.flows[c.flow as usize].name),
            NodeKind::Value(_) => return name.into_owned(),
            _ => kind_name(node).to_string(),
        };
        if name == kind {
            kind
        } else {
            format!("{name}: {kind}")
        }
    }

    pub(super) fn body_title(&self, id: BodyId) -> String {
        let graph = self.graph;
        let body = graph.body(id);
        let owner = body.parent.map(|p| graph.node(p));
        let name = self.owner_name(id);
        match body.kind {
            BodyKind::Script => "script".to_string(),
            BodyKind::Flow => format!("flow {}", self.flows[id.0 as usize].unwrap_or("?")),
            BodyKind::MapItem => {
                let kind = match owner.map(|o| &o.kind) {
                    Some(NodeKind::Map(m)) if m.filter => "filter",
                    _ => "map",
                };
                let count = annotate::count_text(self.items[id.0 as usize]);
                format!("{kind} {name}[{count}]")
            }
            BodyKind::IfThen => format!("if {name}: then"),
            BodyKind::IfElse => format!("if {name}: else"),
            BodyKind::TryAttempt => format!("try {name}"),
            BodyKind::TryElse => format!("try {name}: else"),
            BodyKind::GateCheck => format!("gate {name}: {}", check_name(owner, id)),
            BodyKind::RepeatCond => format!("repeat {name}: until"),
            BodyKind::RepeatRound => format!("repeat {name}: each round"),
            BodyKind::RepeatElse => format!("repeat {name}: else (after max rounds)"),
            BodyKind::MatchArm => match owner.map(|o| &o.kind) {
                Some(NodeKind::Match(m)) => format!("match {name}: {}", m.arm_title(id)),
                _ => format!("match {name}"),
            },
            BodyKind::ReduceStep => match owner.map(|o| &o.kind) {
                Some(NodeKind::Reduce(r)) if r.init.is_some() => format!("fold {name}: each step"),
                _ => format!("reduce {name}: each merge"),
            },
            BodyKind::Tool => format!("tool {} of {name}", tool_name(graph, id)),
        }
    }

    /// Draws the clusters of `top` and the bodies nested in it, depth first,
    /// with a loop rather than recursion: `open` writes a body's heading and
    /// nodes, `close` its end, each given the body's indentation.
    fn nest(
        &self,
        top: BodyId,
        out: &mut String,
        open: impl Fn(&Self, BodyId, &str, &mut String),
        close: impl Fn(&str, &mut String),
    ) {
        enum Step {
            Open(BodyId, usize),
            Close(usize),
        }
        let pad = |depth: usize| "  ".repeat(depth.min(MAX_INDENT));
        let mut steps = vec![Step::Open(top, 1)];
        while let Some(step) = steps.pop() {
            match step {
                Step::Close(depth) => close(&pad(depth), out),
                Step::Open(id, depth) => {
                    if self.graph.body(id).len == 0 {
                        continue; // a branch that is a plain value: nothing to draw
                    }
                    open(self, id, &pad(depth), out);
                    steps.push(Step::Close(depth));
                    let children = children(self.graph, id);
                    steps.extend(children.into_iter().rev().map(|c| Step::Open(c, depth + 1)));
                }
            }
        }
    }
}

/// Clusters nested deeper than this are not indented further.
const MAX_INDENT: usize = 32;

/// The name of the gate check whose body is `id` (`?` when `owner` is no gate).
fn check_name(owner: Option<&Node>, id: BodyId) -> &str {
    match owner.map(|n| &n.kind) {
        Some(NodeKind::Gate(g)) => g
            .checks
            .iter()
            .find(|c| c.body == id)
            .map_or("?", |c| &c.name),
        _ => "?",
    }
}

/// The agent a tool body calls.
fn tool_name(graph: &TaskGraph, id: BodyId) -> &str {
    match graph
        .body(id)
        .node_ids()
        .next()
        .map(|n| &graph.node(n).kind)
    {
        Some(NodeKind::Task(t)) => graph.agent_name(t),
        _ => "?",
    }
}

/// The bodies hanging directly under body `id`'s nodes.
fn children(graph: &TaskGraph, id: BodyId) -> Vec<BodyId> {
    graph
        .body(id)
        .node_ids()
        .flat_map(|n| TaskGraph::child_bodies(graph.node(n)))
        .collect()
}

fn quote_dot(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Lines as one DOT label: each quoted, joined by DOT's `\n`.
fn dot_label(lines: &[String]) -> String {
    let quoted: Vec<String> = lines
        .iter()
        .map(|l| {
            let q = quote_dot(l);
            q[1..q.len() - 1].to_string()
        })
        .collect();
    format!("\"{}\"", quoted.join("\\n"))
}

/// Graphviz DOT: bodies as clusters, edges from each node's inputs.
#[cfg(feature = "internals")]
pub fn to_dot(graph: &TaskGraph) -> String {
    to_dot_with(graph, None)
}

/// DOT, with each node filled in the colour of its state in `run`.
pub fn to_dot_with(graph: &TaskGraph, run: Option<&Overlay>) -> String {
    let names = Names::new(graph, run);
    let mut out = String::from(
        "digraph flow {\n  rankdir=LR;\n  compound=true;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for top in top_bodies(graph) {
        names.nest(top, &mut out, dot_open, |pad, out| {
            out.push_str(&format!("{pad}}}\n"))
        });
    }
    for (from, to, kind) in edges(graph, &names.owners, 0..graph.nodes.len()) {
        match kind {
            EdgeKind::Data => out.push_str(&format!("  n{from} -> n{to};\n")),
            EdgeKind::After => out.push_str(&format!("  n{from} -> n{to} [style=dashed];\n")),
        }
    }
    for (from, body, _) in links(graph) {
        if let Some(first) = graph.body(body).node_ids().next() {
            out.push_str(&format!(
                "  n{from} -> n{} [style=dotted, arrowhead=none, lhead=cluster_b{}];\n",
                first.0, body.0
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// A body's cluster heading and nodes, in DOT.
fn dot_open(names: &Names<'_>, id: BodyId, pad: &str, out: &mut String) {
    let graph = names.graph;
    out.push_str(&format!("{pad}subgraph cluster_b{} {{\n", id.0));
    out.push_str(&format!(
        "{pad}  label={};\n",
        quote_dot(&names.body_title(id))
    ));
    for n in graph.body(id).node_ids() {
        let node = graph.node(n);
        let shape = match node.kind {
            NodeKind::Task(_) => "box",
            NodeKind::Value(_) => "ellipse",
            _ => "hexagon",
        };
        let fill = names.state(n.0 as usize).map_or_else(String::new, |state| {
            format!(", style=filled, fillcolor=\"{}\"", state.color())
        });
        out.push_str(&format!(
            "{pad}  n{} [label={}, shape={shape}{fill}];\n",
            n.0,
            dot_label(&names.lines(id, n.0 as usize, node))
        ));
    }
}

/// The bodies drawn at the top level: the script's and each flow's.
fn top_bodies(graph: &TaskGraph) -> impl Iterator<Item = BodyId> + '_ {
    std::iter::once(graph.root).chain(graph.flows.iter().map(|f| f.body))
}

/// Every edge from a node to a node that waits for it, as global indexes,
/// with what it means.
/// `readers` limits them to the edges into those nodes.
pub(super) fn edges<'g>(
    graph: &'g TaskGraph,
    owners: &'g [BodyId],
    readers: std::ops::Range<usize>,
) -> impl Iterator<Item = (u32, usize, EdgeKind)> + 'g {
    let nodes = graph.nodes[readers.clone()].iter();
    nodes.zip(readers).flat_map(move |(node, i)| {
        let first = graph.body(owners[i]).first;
        node.deps
            .iter()
            .map(move |&dep| (first + dep, i, annotate::edge_kind(node, dep)))
    })
}

/// What a link joins a node to a body for: a construct's own body, or the
/// body of the flow a call runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    Body,
    Call,
}

/// Every link from a node to a body it runs (bodies that are plain values,
/// with no node to draw, have none).
pub(super) fn links(graph: &TaskGraph) -> Vec<(usize, BodyId, Link)> {
    let mut out = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        for child in TaskGraph::child_bodies(node) {
            out.push((i, child, Link::Body));
        }
        if let NodeKind::Call(call) = &node.kind {
            if let Some(flow) = graph.flows.get(call.flow as usize) {
                out.push((i, flow.body, Link::Call));
            }
        }
    }
    out.retain(|(_, body, _)| graph.bodies.get(body.0 as usize).is_some_and(|b| b.len > 0));
    out
}

/// The body each node belongs to, by node index.
fn bodies_of_nodes(graph: &TaskGraph) -> Vec<BodyId> {
    let mut owners = vec![BodyId(0); graph.nodes.len()];
    for (b, body) in graph.bodies.iter().enumerate() {
        for n in body.node_ids() {
            owners[n.0 as usize] = BodyId(b as u32);
        }
    }
    owners
}

fn quote_mermaid(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "#quot;"))
}

/// Mermaid flowchart: bodies as subgraphs.
#[cfg(feature = "internals")]
pub fn to_mermaid(graph: &TaskGraph) -> String {
    to_mermaid_with(graph, None)
}

/// Mermaid, with each node in the class of its state in `run`.
pub fn to_mermaid_with(graph: &TaskGraph, run: Option<&Overlay>) -> String {
    let names = Names::new(graph, run);
    let mut out = String::from("flowchart LR\n");
    for top in top_bodies(graph) {
        names.nest(top, &mut out, mermaid_open, |pad, out| {
            out.push_str(&format!("{pad}end\n"))
        });
    }
    for (from, to, kind) in edges(graph, &names.owners, 0..graph.nodes.len()) {
        match kind {
            EdgeKind::Data => out.push_str(&format!("  n{from} --> n{to}\n")),
            EdgeKind::After => out.push_str(&format!("  n{from} -. after .-> n{to}\n")),
        }
    }
    for (from, body, _) in links(graph) {
        out.push_str(&format!("  n{from} -.- b{}\n", body.0));
    }
    if run.is_some() {
        for state in NodeState::ALL {
            out.push_str(&format!(
                "  classDef {} fill:{},stroke:#555\n",
                state.as_str(),
                state.color()
            ));
        }
        for state in NodeState::ALL {
            let nodes: Vec<String> = (0..graph.nodes.len())
                .filter(|&i| names.state(i) == Some(state))
                .map(|i| format!("n{i}"))
                .collect();
            if !nodes.is_empty() {
                out.push_str(&format!("  class {} {}\n", nodes.join(","), state.as_str()));
            }
        }
    }
    out
}

/// A body's subgraph heading and nodes, in Mermaid.
fn mermaid_open(names: &Names<'_>, id: BodyId, pad: &str, out: &mut String) {
    let graph = names.graph;
    out.push_str(&format!(
        "{pad}subgraph b{}[{}]\n",
        id.0,
        quote_mermaid(&names.body_title(id))
    ));
    for n in graph.body(id).node_ids() {
        let node = graph.node(n);
        let text = quote_mermaid(&names.lines(id, n.0 as usize, node).join("<br/>"));
        let shape = match node.kind {
            NodeKind::Task(_) => format!("n{}[{text}]", n.0),
            NodeKind::Value(_) => format!("n{}([{text}])", n.0),
            _ => format!("n{}{{{{{text}}}}}", n.0),
        };
        out.push_str(&format!("{pad}  {shape}\n"));
    }
}
