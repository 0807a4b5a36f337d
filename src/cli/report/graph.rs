//! The report's task graph, drawn as SVG from `graph::to_json`: nodes in
//! layers by their longest path from a node that waits for nothing, left to
//! right, ordered in each layer by where their inputs stand; data edges
//! solid, `after` edges dashed, a construct's link to its bodies dotted.
//! No layout engine, no external renderer: the page stays self-contained.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::html::{esc, shorten};

/// Graphs with more nodes are listed, not drawn.
pub(super) const MAX_NODES: usize = 400;

const W: usize = 190;
const H: usize = 40;
const GAP_X: usize = 60;
const GAP_Y: usize = 14;

struct Node {
    kind: String,
    name: String,
    agent: Option<String>,
    body_title: String,
    /// Whether its body is the script's own.
    top: bool,
}

/// How the tasks of a node did, by the node's name (`raw[i]`, `fetch`).
pub(super) struct Outcome {
    pub tasks: usize,
    pub failed: usize,
    /// The status class the node is drawn with.
    pub class: &'static str,
}

/// The graph as an SVG picture (or a note why it is not drawn).
pub(super) fn svg(graph: &Value, outcomes: &HashMap<String, Outcome>) -> String {
    let empty = Vec::new();
    let json_nodes = graph["nodes"].as_array().unwrap_or(&empty);
    let bodies = graph["bodies"].as_array().unwrap_or(&empty);
    let root = graph["root"].as_u64().unwrap_or(0);
    let count = json_nodes.len();
    if count == 0 {
        return "<p class=\"note\">The script has no task.</p>".to_string();
    }
    if count > MAX_NODES {
        return format!(
            "<p class=\"note\">The graph has {count} nodes, more than the {MAX_NODES} this page \
             draws; <code>flow graph</code> exports it (DOT, Mermaid, JSON).</p>"
        );
    }
    let title_of = |body: u64| {
        bodies
            .get(body as usize)
            .and_then(|b| b["title"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let index = |v: &Value| v.as_u64().map(|n| n as usize).filter(|&n| n < count);
    let mut nodes = Vec::with_capacity(count);
    // (from, to, style): 0 data, 1 after, 2 body.
    let mut edges: Vec<(usize, usize, u8)> = Vec::new();
    for (i, n) in json_nodes.iter().enumerate() {
        let body = n["body"].as_u64().unwrap_or(root);
        nodes.push(Node {
            kind: n["kind"].as_str().unwrap_or("?").to_string(),
            name: n["name"].as_str().unwrap_or("?").to_string(),
            agent: n["agent"].as_str().map(str::to_string),
            body_title: title_of(body),
            top: body == root,
        });
        let list = |key: &str| n[key].as_array().cloned().unwrap_or_default();
        edges.extend(list("deps").iter().filter_map(index).map(|d| (d, i, 0)));
        edges.extend(list("after").iter().filter_map(index).map(|d| (d, i, 1)));
        for b in list("bodies").iter().filter_map(Value::as_u64) {
            let inside = bodies
                .get(b as usize)
                .and_then(|b| b["nodes"].as_array())
                .cloned()
                .unwrap_or_default();
            edges.extend(inside.iter().filter_map(index).map(|c| (i, c, 2)));
        }
    }
    edges.retain(|(a, b, _)| a != b);
    let layers = layers(count, &edges);
    let positions = place(count, &edges, &layers);
    let columns = layers.iter().copied().max().unwrap_or(0) + 1;
    let rows = positions.iter().map(|p| p.1).max().unwrap_or(0) + 1;
    let width = columns * (W + GAP_X);
    let height = rows * (H + GAP_Y) + GAP_Y;
    let xy = |i: usize| {
        let (layer, rank) = (layers[i], positions[i].1);
        (layer * (W + GAP_X) + GAP_X / 2, rank * (H + GAP_Y) + GAP_Y)
    };
    let mut svg = format!(
        "<svg class=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"task graph\" data-nodes=\"{count}\" data-edges=\"{}\">",
        edges.len()
    );
    svg.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" class=\"arrowhead\"/></marker></defs>",
    );
    for &(from, to, style) in &edges {
        let (x1, y1) = xy(from);
        let (x2, y2) = xy(to);
        let (x1, y1, x2, y2) = (x1 + W, y1 + H / 2, x2, y2 + H / 2);
        let bend = GAP_X / 2;
        let class = ["data", "after", "contains"][usize::from(style)];
        let _ = write!(
            svg,
            "<path class=\"edge {class}\" d=\"M {x1} {y1} C {} {y1}, {} {y2}, {x2} {y2}\" \
             marker-end=\"url(#arrow)\"/>",
            x1 + bend,
            x2.saturating_sub(bend)
        );
    }
    for (i, node) in nodes.iter().enumerate() {
        let (x, y) = xy(i);
        let caption = match &node.agent {
            Some(agent) if *agent != node.name => format!("{}: {agent}", node.name),
            _ => node.name.clone(),
        };
        let outcome = outcomes.get(&node.name).filter(|_| node.kind != "value");
        let status = outcome.map_or("", |o| o.class);
        let kind = match node.kind.as_str() {
            "task" => "task",
            "value" => "value",
            "flow" => "call",
            _ => "construct",
        };
        let second = match (outcome, kind) {
            (Some(o), _) if o.failed > 0 && o.tasks == 1 => "failed".to_string(),
            (Some(o), _) if o.failed > 0 => format!("{} tasks, {} failed", o.tasks, o.failed),
            (Some(o), _) if o.tasks > 1 => format!("{} tasks", o.tasks),
            (Some(_), _) => String::new(),
            (None, "construct") => node.kind.clone(),
            _ => String::new(),
        };
        let body = if node.top {
            String::new()
        } else {
            format!(" (in {})", node.body_title)
        };
        let _ = write!(
            svg,
            "<g class=\"node {kind} {status}\" data-name=\"{}\"><title>{}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{H}\" rx=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            esc(&node.name),
            esc(&format!("{} {caption}{body}", node.kind)),
            if kind == "value" { 16 } else { 4 },
            x + 8,
            y + if second.is_empty() { 25 } else { 17 },
            esc(&shorten(&caption, 27)),
        );
        if !second.is_empty() {
            let _ = write!(
                svg,
                "<text class=\"sub\" x=\"{}\" y=\"{}\">{}</text>",
                x + 8,
                y + 33,
                esc(&second)
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// Each node's layer: the length of its longest path from a node with no
/// incoming edge (a node on a cycle, which a graph should not have, stays
/// where it was when the cycle was found).
fn layers(count: usize, edges: &[(usize, usize, u8)]) -> Vec<usize> {
    let mut incoming = vec![0usize; count];
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); count];
    for &(a, b, _) in edges {
        incoming[b] += 1;
        outgoing[a].push(b);
    }
    let mut layer = vec![0usize; count];
    let mut ready: Vec<usize> = (0..count).filter(|&i| incoming[i] == 0).collect();
    ready.reverse();
    while let Some(n) = ready.pop() {
        for &m in &outgoing[n] {
            layer[m] = layer[m].max(layer[n] + 1);
            incoming[m] -= 1;
            if incoming[m] == 0 {
                ready.push(m);
            }
        }
    }
    layer
}

/// Each node's (layer, rank in its layer): in the first layer by index,
/// in the others by the mean rank of their inputs.
fn place(count: usize, edges: &[(usize, usize, u8)], layers: &[usize]) -> Vec<(usize, usize)> {
    let columns = layers.iter().copied().max().unwrap_or(0) + 1;
    let mut by_layer: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for (i, &l) in layers.iter().enumerate() {
        by_layer[l].push(i);
    }
    let mut inputs: Vec<Vec<usize>> = vec![Vec::new(); count];
    for &(a, b, _) in edges {
        inputs[b].push(a);
    }
    let mut rank = vec![0usize; count];
    for nodes in &mut by_layer {
        let key = |i: usize| {
            let from = &inputs[i];
            if from.is_empty() {
                i as f64
            } else {
                from.iter().map(|&a| rank[a] as f64).sum::<f64>() / from.len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = nodes.iter().map(|&i| (key(i), i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *nodes = keyed.into_iter().map(|(_, i)| i).collect();
        for (r, &i) in nodes.iter().enumerate() {
            rank[i] = r;
        }
    }
    (0..count).map(|i| (layers[i], rank[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layers_follow_the_longest_path() {
        // 0 → 1 → 2, 0 → 2, 3 alone; a cycle 4 ⇄ 5 does not hang.
        let edges = [(0, 1, 0), (1, 2, 0), (0, 2, 0), (4, 5, 0), (5, 4, 0)];
        assert_eq!(layers(6, &edges), vec![0, 1, 2, 0, 0, 0]);
    }

    #[test]
    fn draws_every_node_and_escapes_names() {
        let graph = json!({
            "root": 0,
            "nodes": [
                {"id": 0, "kind": "task", "name": "a<b>", "agent": "sh", "body": 0, "deps": [], "after": [], "bodies": []},
                {"id": 1, "kind": "map", "name": "m", "agent": null, "body": 0, "deps": [0], "after": [], "bodies": [1]},
                {"id": 2, "kind": "task", "name": "m[i]", "agent": "sh", "body": 1, "deps": [], "after": [], "bodies": []}
            ],
            "bodies": [{"id": 0, "title": "script", "nodes": [0, 1]}, {"id": 1, "title": "map m[i]", "nodes": [2]}]
        });
        let mut outcomes = HashMap::new();
        outcomes.insert(
            "m[i]".to_string(),
            Outcome {
                tasks: 5,
                failed: 1,
                class: "s-failed",
            },
        );
        let svg = svg(&graph, &outcomes);
        assert_eq!(svg.matches("<g class=\"node").count(), 3);
        assert!(svg.contains("a&lt;b&gt;") && !svg.contains("a<b>"), "{svg}");
        assert!(svg.contains("5 tasks, 1 failed"), "{svg}");
        assert_eq!(svg.matches("class=\"edge").count(), 2);
    }
}
