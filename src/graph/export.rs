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

/// What a node shows: `raw: Extractor`, `total = …`.
fn caption(graph: &TaskGraph, node: &Node) -> String {
    let name = if node.label.is_empty() {
        "(result)"
    } else {
        &node.label
    };
    match &node.kind {
        NodeKind::Task(t) => format!("{name}: {}", t.agent_name),
        NodeKind::Call(c) => format!("{name}: flow {}", graph.flows[c.flow as usize].name),
        NodeKind::Value(_) => name.to_string(),
        other => format!(
            "{name}: {}",
            node_kind(&Node {
                kind: other.clone(),
                deps: Vec::new(),
                label: "".into(),
                span: node.span
            })
        ),
    }
}

fn body_title(graph: &TaskGraph, id: BodyId) -> String {
    let body = graph.body(id);
    let owner = body.parent.map(|p| graph.node(p));
    let name = owner.map_or("", |n| &n.label);
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
        BodyKind::GateCheck => {
            let check = owner.and_then(|n| match &n.kind {
                NodeKind::Gate(g) => g
                    .checks
                    .iter()
                    .find(|c| c.body == id)
                    .map(|c| c.name.clone()),
                _ => None,
            });
            format!("gate {name}: {}", check.as_deref().unwrap_or("?"))
        }
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
    let mut out = String::from(
        "digraph flow {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let mut tops: Vec<BodyId> = vec![graph.root];
    tops.extend(graph.flows.iter().map(|f| f.body));
    for top in tops {
        dot_body(graph, top, 1, &mut out);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let body = owning_body(graph, NodeId(i as u32));
        for dep in &node.deps {
            let from = graph.body(body).first + dep;
            out.push_str(&format!("  n{from} -> n{i};\n"));
        }
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
            quote_dot(&caption(graph, node))
        ));
    }
    for child in children(graph, id) {
        dot_body(graph, child, depth + 1, out);
    }
    out.push_str(&format!("{pad}}}\n"));
}

/// The body a node belongs to.
pub(crate) fn owning_body(graph: &TaskGraph, node: NodeId) -> BodyId {
    let index = graph
        .bodies
        .iter()
        .position(|b| b.first <= node.0 && node.0 < b.first + b.len)
        .unwrap_or(0);
    BodyId(index as u32)
}

fn quote_mermaid(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "#quot;"))
}

/// Mermaid flowchart: bodies as subgraphs.
pub fn to_mermaid(graph: &TaskGraph) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut tops: Vec<BodyId> = vec![graph.root];
    tops.extend(graph.flows.iter().map(|f| f.body));
    for top in tops {
        mermaid_body(graph, top, 1, &mut out);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let body = owning_body(graph, NodeId(i as u32));
        for dep in &node.deps {
            let from = graph.body(body).first + dep;
            out.push_str(&format!("  n{from} --> n{i}\n"));
        }
        for child in TaskGraph::child_bodies(node) {
            out.push_str(&format!("  n{i} -.- b{}\n", child.0));
        }
    }
    out
}

fn mermaid_body(graph: &TaskGraph, id: BodyId, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    out.push_str(&format!(
        "{pad}subgraph b{}[{}]\n",
        id.0,
        quote_mermaid(&body_title(graph, id))
    ));
    for n in graph.body(id).node_ids() {
        let node = graph.node(n);
        let text = quote_mermaid(&caption(graph, node));
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
    let nodes: Vec<_> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let body = owning_body(graph, NodeId(i as u32));
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
