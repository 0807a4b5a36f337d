//! Sequential when parallel is possible: `after` edges the data already implies
//! (`redundant_after`), `after` edges between tasks that share no data and
//! only compute values, so that removing the edge never changes what the
//! workflow does (`unneeded_after`, or `after_chain` when several are
//! chained), and `map … limit 1` (`map_limit_one`).

use std::collections::HashSet;

use super::{afters, data_refs, see, Cx};
use crate::ast::{ExprKind, ModifierKind};
use crate::diag::{Code, Diagnostic};
use crate::graph::{BodyId, Node, NodeKind, Ref};
use crate::source::Span;

pub(super) fn check(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    for index in 0..cx.graph.bodies.len() {
        body(cx, BodyId(index as u32), diags);
    }
    map_limit_one(cx, diags);
}

/// An `after` edge that orders without data and is not excused.
struct Unneeded {
    /// The waiting node and the node it waits for (local indexes).
    from: u32,
    to: u32,
}

fn body(cx: &Cx, id: BodyId, diags: &mut Vec<Diagnostic>) {
    let graph = cx.graph;
    let body = graph.body(id);
    let nodes: Vec<&Node> = body.node_ids().map(|n| graph.node(n)).collect();
    if !nodes.iter().any(|n| !afters(&n.kind).is_empty()) {
        return;
    }
    let data: Vec<Vec<u32>> = nodes.iter().map(|n| data_deps(n)).collect();

    let mut unneeded = Vec::new();
    for (j, node) in nodes.iter().enumerate() {
        let j = j as u32;
        let after = afters(&node.kind);
        for (name, k) in after {
            let k = *k;
            let Some(target) = nodes.get(k as usize) else {
                continue;
            };
            let span = after_span(cx, node, name);
            if data[j as usize].contains(&k) {
                diags.push(
                    Diagnostic::warning(
                        Code::RedundantAfter,
                        format!(
                            "`after {name}` is redundant: {} already reads `{name}`",
                            describe(cx, node)
                        ),
                    )
                    .at(span, "already implied by the data")
                    .help(format!(
                        "remove `after {name}`: a task already waits for every value it reads {}",
                        see(Code::RedundantAfter)
                    )),
                );
                continue;
            }
            let others = data[j as usize]
                .iter()
                .copied()
                .chain(after.iter().map(|(_, o)| *o).filter(|&o| o != k));
            if let Some(via) = others
                .into_iter()
                .find(|&o| reaches(&nodes, o, k, &mut HashSet::new()))
            {
                let via_name = nodes
                    .get(via as usize)
                    .map_or_else(|| "another value".to_string(), |n| describe(cx, n));
                diags.push(
                    Diagnostic::warning(
                        Code::RedundantAfter,
                        format!(
                            "`after {name}` is redundant: {} already waits for `{name}` through {via_name}",
                            describe(cx, node)
                        ),
                    )
                    .at(span, "already implied by the data")
                    .help(format!(
                        "remove `after {name}`: {via_name} cannot start before `{name}` is done {}",
                        see(Code::RedundantAfter)
                    )),
                );
                continue;
            }
            if orders_on_purpose(cx, node, target) {
                continue;
            }
            unneeded.push(Unneeded { from: j, to: k });
        }
    }
    report_unneeded(cx, &nodes, &unneeded, diags);
}

/// Whether an `after` without data orders something that must be ordered,
/// so that removing it could change what the workflow does:
///
/// - either side has effects (`sh`, `http`, a host agent, or a flow or
///   construct containing one): `sh("rm x") after backup`,
///   `fail("stop") after notify`, `Deploy() after summary` (which must not
///   deploy when the summary fails);
/// - either side is a checkpoint (`approve`, `sleep`), whose whole point is
///   when things happen;
/// - the target is a `gate`: "go on only once these checks passed".
///
/// What is left are `after`s between calls that only compute values (`llm`,
/// `echo`): removing one changes when they run, never what they do.
fn orders_on_purpose(cx: &Cx, node: &Node, target: &Node) -> bool {
    matches!(target.kind, NodeKind::Gate(_))
        || cx.checkpoint(&target.kind)
        || cx.checkpoint(&node.kind)
        || cx.effectful(&target.kind)
        || cx.effectful(&node.kind)
}

fn report_unneeded(cx: &Cx, nodes: &[&Node], edges: &[Unneeded], diags: &mut Vec<Diagnostic>) {
    let mut used = vec![false; edges.len()];
    let min_chain = cx.config.after_chain.max(2);
    // Chains end at a node that no unneeded edge waits for.
    for end in 0..edges.len() {
        let last = edges[end].from;
        if edges.iter().any(|e| e.to == last) || used[end] {
            continue;
        }
        let mut chain = vec![end];
        let mut at = edges[end].to;
        while let Some(next) = edges
            .iter()
            .position(|e| e.from == at)
            .filter(|n| !chain.contains(n))
        {
            chain.push(next);
            at = edges[next].to;
        }
        if chain.len() < min_chain {
            continue;
        }
        for &e in &chain {
            used[e] = true;
        }
        // Names from the first task of the chain to the last.
        let mut names = vec![name_of(cx, nodes, at)];
        names.extend(
            chain
                .iter()
                .rev()
                .map(|&e| name_of(cx, nodes, edges[e].from)),
        );
        let list = super::levels::and_list(&names);
        let first = &edges[end];
        let mut d = Diagnostic::warning(
            Code::AfterChain,
            format!("{list} run one after another, but none reads anything from the one before"),
        )
        .at(
            edge_span(cx, nodes, first),
            format!("the last of {} `after`s without data", chain.len()),
        );
        for &e in chain.iter().skip(1) {
            d = d.label(edge_span(cx, nodes, &edges[e]), "ordering without data");
        }
        diags.push(d.help(format!(
            "remove these `after`s so the {} calls run in parallel: none has effects, so only the timing changes {}",
            names.len(),
            see(Code::AfterChain)
        )));
    }
    for (i, edge) in edges.iter().enumerate() {
        if used[i] {
            continue;
        }
        let (Some(from), Some(to)) = (nodes.get(edge.from as usize), nodes.get(edge.to as usize))
        else {
            continue;
        };
        let to_name = name_of(cx, nodes, edge.to);
        let from_name = describe(cx, from);
        diags.push(
            Diagnostic::warning(
                Code::UnneededAfter,
                format!("{from_name} waits for {to_name} but reads nothing from it"),
            )
            .at(edge_span(cx, nodes, edge), "ordering without data")
            .label(to.span, format!("{to_name} shares no data with {from_name}"))
            .help(format!(
                "remove `after {}` so {to_name} and {from_name} run in parallel: neither has effects, so only the timing changes; if {from_name} must not start before {to_name} passed, make {to_name} a check of a `gate` and wait for the gate {}",
                after_name(from, edge.to),
                see(Code::UnneededAfter)
            )),
        );
    }
}

fn after_name(node: &Node, to: u32) -> String {
    afters(&node.kind)
        .iter()
        .find(|(_, k)| *k == to)
        .map_or_else(String::new, |(n, _)| n.to_string())
}

fn edge_span(cx: &Cx, nodes: &[&Node], edge: &Unneeded) -> Span {
    match nodes.get(edge.from as usize) {
        Some(node) => after_span(cx, node, &after_name(node, edge.to)),
        None => Span::default(),
    }
}

fn name_of(cx: &Cx, nodes: &[&Node], k: u32) -> String {
    nodes
        .get(k as usize)
        .map_or_else(|| "a value".to_string(), |n| describe(cx, n))
}

/// How a node is named in messages: its binding, else its agent.
pub(super) fn describe(cx: &Cx, node: &Node) -> String {
    if !node.label.is_empty() {
        return format!("`{}`", node.label);
    }
    match &node.kind {
        NodeKind::Task(t) => format!("the `{}` call", cx.graph.agent_name(t)),
        NodeKind::Call(_) => "the flow call".to_string(),
        _ => "this value".to_string(),
    }
}

/// The span of `name` in the node's `after` list, else the whole call.
fn after_span(cx: &Cx, node: &Node, name: &str) -> Span {
    let Some(call) = cx.call_at(node.span) else {
        return node.span;
    };
    call.modifiers
        .iter()
        .filter_map(|m| match &m.kind {
            ModifierKind::After(names) => names.iter().find(|n| n.name == name),
            _ => None,
        })
        .map(|n| n.span)
        .next()
        .unwrap_or(node.span)
}

/// Local indexes a node reads as data. A task or flow call's `deps` also hold
/// its `after`s; a construct's `deps` are all data (its bodies' captures).
fn data_deps(node: &Node) -> Vec<u32> {
    match &node.kind {
        NodeKind::Task(_) | NodeKind::Call(_) => data_refs(&node.kind)
            .into_iter()
            .filter_map(|r| match r {
                Ref::Node(k) => Some(k),
                _ => None,
            })
            .collect(),
        _ => node.deps.to_vec(),
    }
}

/// Whether `from` waits for `to`, directly or not, through any edge.
fn reaches(nodes: &[&Node], from: u32, to: u32, seen: &mut HashSet<u32>) -> bool {
    if from == to {
        return true;
    }
    // A node only waits for earlier nodes.
    if from < to || !seen.insert(from) {
        return false;
    }
    nodes.get(from as usize).is_some_and(|n| {
        n.deps
            .iter()
            .any(|&d| d == to || reaches(nodes, d, to, seen))
    })
}

fn map_limit_one(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    cx.for_each_expr(|e| {
        let ExprKind::Map(map) = &e.kind else {
            return;
        };
        let Some(limit) = &map.limit else {
            return;
        };
        if !matches!(limit.kind, ExprKind::Int(1)) {
            return;
        }
        diags.push(
            Diagnostic::warning(
                Code::MapLimitOne,
                format!(
                    "`map {} in … limit 1` runs its items one at a time",
                    map.item.name
                ),
            )
            .at(limit.span, "one item at a time")
            .label(map_keyword(e.span), "a map is for items that can run in parallel")
            .help(format!(
                "raise the limit (`limit 4`) or drop it; if the items must not overlap (a rolling deploy), cap the agent instead (`agent Deployer = … limit 1`) {}",
                see(Code::MapLimitOne)
            )),
        );
    });
}

fn map_keyword(span: Span) -> Span {
    Span::new(
        span.start as usize,
        (span.start as usize + 3).min(span.end as usize),
    )
}
