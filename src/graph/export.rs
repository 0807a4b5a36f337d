//! Drawing a [`TaskGraph`]: Graphviz DOT, Mermaid, and JSON.

use serde_json::json;

use super::*;

fn node_kind(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Value(_) => "value",
        NodeKind::Task(_) => "task",
        NodeKind::Map(_) => "map",
        NodeKind::If(_) => "if",
        NodeKind::Try(_) => "try",
        NodeKind::Gate(_) => "gate",
        NodeKind::Call(_) => "flow",
    }
}

/// The name of the construct node `id`: its label, or for the unnamed `if`
/// of an `else if`, the name of the construct it belongs to.
fn construct_name(graph: &TaskGraph, id: NodeId) -> String {
    let node = graph.node(id);
    if !node.label.is_empty() {
        return node.label.to_string();
    }
    graph
        .bodies
        .iter()
        .find(|b| b.first <= id.0 && id.0 < b.first + b.len)
        .and_then(|b| b.parent)
        .map_or_else(String::new, |parent| construct_name(graph, parent))
}

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

/// The name a body's instances get, relative to the construct's own instance:
/// `raw[i]`, `checks.lint`, `processed.else` (empty for the script).
fn instance_name(graph: &TaskGraph, id: BodyId) -> String {
    let body = graph.body(id);
    let owner = body.parent.map(|p| graph.node(p));
    let name = body
        .parent
        .map_or_else(String::new, |p| construct_name(graph, p));
    match body.kind {
        BodyKind::Script => String::new(),
        BodyKind::Flow => graph
            .flows
            .iter()
            .find(|f| f.body == id)
            .map_or_else(String::new, |f| format!("{}(…)", f.name)),
        BodyKind::MapItem => format!("{name}[i]"),
        BodyKind::IfThen | BodyKind::IfElse | BodyKind::TryAttempt => name,
        BodyKind::TryElse => format!("{name}.else"),
        BodyKind::GateCheck => format!("{name}.{}", check_name(owner, id)),
    }
}

/// A node's name: its label, or for the node giving a body its value, the
/// name of the body's instances (`raw[i]`, `checks.lint`).
fn node_name(graph: &TaskGraph, body: BodyId, node: &Node) -> String {
    if node.label.is_empty() {
        super::task_id(&instance_name(graph, body), "")
    } else {
        node.label.to_string()
    }
}

/// What a node shows: `raw: Extractor`, `checks.lint: Linter`, `total`.
fn caption(graph: &TaskGraph, body: BodyId, node: &Node) -> String {
    let name = node_name(graph, body, node);
    let kind = match &node.kind {
        NodeKind::Task(t) => t.agent_name.to_string(),
        NodeKind::Call(c) => format!("flow {}", graph.flows[c.flow as usize].name),
        NodeKind::Value(_) => return name,
        _ => node_kind(node).to_string(),
    };
    if name == kind {
        kind
    } else {
        format!("{name}: {kind}")
    }
}

fn body_title(graph: &TaskGraph, id: BodyId) -> String {
    let body = graph.body(id);
    let owner = body.parent.map(|p| graph.node(p));
    let name = body
        .parent
        .map_or_else(String::new, |p| construct_name(graph, p));
    match body.kind {
        BodyKind::Script => "script".to_string(),
        BodyKind::Flow => {
            let flow = graph.flows.iter().find(|f| f.body == id);
            format!("flow {}", flow.map_or("?", |f| &f.name))
        }
        BodyKind::MapItem => format!("map {name}[i]"),
        BodyKind::IfThen => format!("if {name}: then"),
        BodyKind::IfElse => format!("if {name}: else"),
        BodyKind::TryAttempt => format!("try {name}"),
        BodyKind::TryElse => format!("try {name}: else"),
        BodyKind::GateCheck => format!("gate {name}: {}", check_name(owner, id)),
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

/// Graphviz DOT: bodies as clusters, edges from each node's inputs.
pub fn to_dot(graph: &TaskGraph) -> String {
    let owners = bodies_of_nodes(graph);
    let mut out = String::from(
        "digraph flow {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for top in top_bodies(graph) {
        dot_body(graph, top, 1, &mut out);
    }
    for (from, to) in data_edges(graph, &owners) {
        out.push_str(&format!("  n{from} -> n{to};\n"));
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        for child in TaskGraph::child_bodies(node) {
            if let Some(first) = graph.body(child).node_ids().next() {
                out.push_str(&format!(
                    "  n{i} -> n{} [style=dashed, arrowhead=none];\n",
                    first.0
                ));
            }
        }
    }
    out.push_str("}\n");
    out
}

fn dot_body(graph: &TaskGraph, id: BodyId, depth: usize, out: &mut String) {
    if graph.body(id).len == 0 {
        return; // a branch that is a plain value: nothing to draw
    }
    let pad = "  ".repeat(depth);
    out.push_str(&format!("{pad}subgraph cluster_b{} {{\n", id.0));
    out.push_str(&format!(
        "{pad}  label={};\n",
        quote_dot(&body_title(graph, id))
    ));
    for n in graph.body(id).node_ids() {
        let node = graph.node(n);
        let shape = match node.kind {
            NodeKind::Task(_) => "box",
            NodeKind::Value(_) => "ellipse",
            _ => "hexagon",
        };
        out.push_str(&format!(
            "{pad}  n{} [label={}, shape={shape}];\n",
            n.0,
            quote_dot(&caption(graph, id, node))
        ));
    }
    for child in children(graph, id) {
        dot_body(graph, child, depth + 1, out);
    }
    out.push_str(&format!("{pad}}}\n"));
}

/// The bodies drawn at the top level: the script's and each flow's.
fn top_bodies(graph: &TaskGraph) -> impl Iterator<Item = BodyId> + '_ {
    std::iter::once(graph.root).chain(graph.flows.iter().map(|f| f.body))
}

/// Every edge from a node to a node that waits for it, as global indexes.
fn data_edges<'g>(
    graph: &'g TaskGraph,
    owners: &'g [BodyId],
) -> impl Iterator<Item = (u32, usize)> + 'g {
    graph.nodes.iter().enumerate().flat_map(move |(i, node)| {
        let first = graph.body(owners[i]).first;
        node.deps.iter().map(move |dep| (first + dep, i))
    })
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
pub fn to_mermaid(graph: &TaskGraph) -> String {
    let owners = bodies_of_nodes(graph);
    let mut out = String::from("flowchart LR\n");
    for top in top_bodies(graph) {
        mermaid_body(graph, top, 1, &mut out);
    }
    for (from, to) in data_edges(graph, &owners) {
        out.push_str(&format!("  n{from} --> n{to}\n"));
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        for child in TaskGraph::child_bodies(node) {
            if graph.body(child).len > 0 {
                out.push_str(&format!("  n{i} -.- b{}\n", child.0));
            }
        }
    }
    out
}

fn mermaid_body(graph: &TaskGraph, id: BodyId, depth: usize, out: &mut String) {
    if graph.body(id).len == 0 {
        return;
    }
    let pad = "  ".repeat(depth);
    out.push_str(&format!(
        "{pad}subgraph b{}[{}]\n",
        id.0,
        quote_mermaid(&body_title(graph, id))
    ));
    for n in graph.body(id).node_ids() {
        let node = graph.node(n);
        let text = quote_mermaid(&caption(graph, id, node));
        let shape = match node.kind {
            NodeKind::Task(_) => format!("n{}[{text}]", n.0),
            NodeKind::Value(_) => format!("n{}([{text}])", n.0),
            _ => format!("n{}{{{{{text}}}}}", n.0),
        };
        out.push_str(&format!("{pad}  {shape}\n"));
    }
    for child in children(graph, id) {
        mermaid_body(graph, child, depth + 1, out);
    }
    out.push_str(&format!("{pad}end\n"));
}

/// JSON: `{ nodes: [...], bodies: [...] }` with global node ids.
pub fn to_json(graph: &TaskGraph) -> serde_json::Value {
    let owners = bodies_of_nodes(graph);
    let nodes: Vec<_> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let body = owners[i];
            let first = graph.body(body).first;
            let agent = match &node.kind {
                NodeKind::Task(t) => Some(t.agent_name.to_string()),
                NodeKind::Call(c) => Some(graph.flows[c.flow as usize].name.to_string()),
                _ => None,
            };
            json!({
                "id": i,
                "kind": node_kind(node),
                "label": &*node.label,
                "name": node_name(graph, body, node),
                "agent": agent,
                "body": body.0,
                "deps": node.deps.iter().map(|d| first + d).collect::<Vec<_>>(),
                "after": match &node.kind {
                    NodeKind::Task(t) => t.modifiers.after.iter().map(|(_, k)| first + k).collect::<Vec<_>>(),
                    NodeKind::Call(c) => c.modifiers.after.iter().map(|(_, k)| first + k).collect::<Vec<_>>(),
                    _ => Vec::new(),
                },
                "bodies": TaskGraph::child_bodies(node).iter().map(|b| b.0).collect::<Vec<_>>(),
                "span": [node.span.start, node.span.end],
            })
        })
        .collect();
    let bodies: Vec<_> = graph
        .bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({
                "id": i,
                "title": body_title(graph, BodyId(i as u32)),
                "nodes": b.node_ids().map(|n| n.0).collect::<Vec<_>>(),
                "inputs": b.inputs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "captures": b.captures.iter().map(|c| c.name.to_string()).collect::<Vec<_>>(),
                "parent": b.parent.map(|p| p.0),
            })
        })
        .collect();
    json!({ "root": graph.root.0, "nodes": nodes, "bodies": bodies })
}
