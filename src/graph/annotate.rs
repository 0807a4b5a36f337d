//! What a drawing says about a node besides its name: its `retry`,
//! `backoff` and `timeout`, a `map`'s `limit` and item count, an agent's
//! `limit`; and what kind each edge is (data, `after`).


use super::{Callee, Expr, Modifiers, Node, NodeKind, Ref, TaskGraph};

/// The most items a `range(…)` is counted to: more is written as it is.
const MAX_COUNTED: i128 = 1 << 53;

/// What an edge between two nodes of a body means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// The node reads the other's value.
    Data,
    /// The node waits for the other with `after`, reading nothing from it.
    After,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Data => "data",
            EdgeKind::After => "after",
        }
    }
}

/// The kind of the edge from local node `dep` to `node`: `after` when the
/// node lists it after `after` and does not read it.
pub fn edge_kind(node: &Node, dep: u32) -> EdgeKind {
    let after = match &node.kind {
        NodeKind::Task(t) => &t.modifiers.after,
        NodeKind::Call(c) => &c.modifiers.after,
        _ => return EdgeKind::Data,
    };
    if !after.iter().any(|(_, k)| *k == dep) {
        return EdgeKind::Data;
    }
    let mut read = false;
    node.kind.for_each_ref(&mut |r| read |= r == Ref::Node(dep));
    if read {
        EdgeKind::Data
    } else {
        EdgeKind::After
    }
}

/// How many items the list of a `map` or `filter` has, when the script says
/// so: a list written out, or `range(…)` of numbers (through `let`s of the
/// same body). `None`: known only when the script runs.
pub fn static_items(graph: &TaskGraph, body_first: u32, list: &Expr) -> Option<usize> {
    let mut list = list;
    // Follow a few plain values (`let xs = [1, 2]`), no further.
    for _ in 0..16 {
        match list {
            Expr::List(items) => return Some(items.len()),
            Expr::Const(v) => return v.as_array().map(Vec::len),
            Expr::Call { function, args, .. } if function.name == "range" => {
                return range_len(args);
            }
            Expr::Ref(Ref::Node(k)) => match graph.nodes.get((body_first + k) as usize) {
                Some(Node {
                    kind: NodeKind::Value(e),
                    ..
                }) => list = e,
                _ => return None,
            },
            _ => return None,
        }
    }
    None
}

/// The length of `range(end)`, `range(start, end)` or `range(start, end, step)`
/// over integer constants.
fn range_len(args: &[Expr]) -> Option<usize> {
    let mut n = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Expr::Const(v) => n.push(v.as_i64()? as i128),
            _ => return None,
        }
    }
    let (start, end, step) = match n[..] {
        [end] => (0, end, 1),
        [start, end] => (start, end, 1),
        [start, end, step] if step != 0 => (start, end, step),
        _ => return None,
    };
    let span = if step > 0 { end - start } else { start - end };
    let count = if span <= 0 {
        0
    } else {
        (span + step.abs() - 1) / step.abs()
    };
    usize::try_from(count.min(MAX_COUNTED)).ok()
}

/// A modifier's value as the script would write it: `3`, `30s`, a param's
/// name; `…` for anything computed.
fn text(graph: &TaskGraph, e: &Expr, duration: bool) -> String {
    match e {
        Expr::Const(v) => match v.as_f64() {
            Some(seconds) if duration => duration_text(seconds),
            _ => v.to_string(),
        },
        Expr::Ref(Ref::Param(i)) => graph
            .params
            .get(*i as usize)
            .map_or_else(|| "…".to_string(), |p| p.name.to_string()),
        _ => "…".to_string(),
    }
}

/// Seconds as the shortest unit that writes them whole: `90s`, `2m`, `1h`.
fn duration_text(seconds: f64) -> String {
    let whole = seconds.fract() == 0.0 && seconds.abs() < 1e15;
    let s = seconds as i64;
    if whole && s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if whole && s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else if whole {
        format!("{s}s")
    } else {
        format!("{seconds}s")
    }
}

/// The notes of a node: `retry 3`, `backoff 1s`, `timeout 30s`, `limit 8`,
/// `agent limit 2`, in that order, as `(key, value)`.
pub fn notes(graph: &TaskGraph, node: &Node) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let modifiers = |m: &Modifiers, out: &mut Vec<(&'static str, String)>| {
        if let Some(e) = &m.retry {
            out.push(("retry", text(graph, e, false)));
        }
        if let Some(e) = &m.backoff {
            out.push(("backoff", text(graph, e, true)));
        }
        if let Some(e) = &m.timeout {
            out.push(("timeout", text(graph, e, true)));
        }
    };
    match &node.kind {
        NodeKind::Task(t) => {
            modifiers(&t.modifiers, &mut out);
            if let Callee::Agent(i) = t.callee {
                if let Some(limit) = graph.agents.get(i as usize).and_then(|a| a.limit.as_ref()) {
                    out.push(("agent limit", text(graph, limit, false)));
                }
            }
        }
        NodeKind::Call(c) => modifiers(&c.modifiers, &mut out),
        NodeKind::Try(t) => {
            if let Some(e) = &t.retry {
                out.push(("retry", text(graph, e, false)));
            }
            if let Some(e) = &t.backoff {
                out.push(("backoff", text(graph, e, true)));
            }
        }
        NodeKind::Map(m) => {
            if let Some(e) = &m.limit {
                out.push(("limit", text(graph, e, false)));
            }
        }
        NodeKind::Reduce(r) => {
            if let Some(e) = &r.limit {
                out.push(("limit", text(graph, e, false)));
            }
        }
        NodeKind::Repeat(r) => out.push(("max", text(graph, &r.max, false))),
        NodeKind::Value(_) | NodeKind::If(_) | NodeKind::Gate(_) | NodeKind::Match(_) => {}
    }
    out
}

/// The notes as one line: `retry 3 · timeout 30s`.
pub fn notes_line(notes: &[(&'static str, String)]) -> String {
    let words: Vec<String> = notes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    words.join(" · ")
}

/// The notes as a JSON object, `{"retry": "3", "agent_limit": "2"}`,
/// written without building it.
pub struct NotesJson<'a>(pub &'a [(&'static str, String)]);

impl serde::Serialize for NotesJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = self.0.iter().map(|(k, v)| (k.replace(' ', "_"), v));
        serializer.collect_map(entries)
    }
}

/// How many items a `map` has, as far as a drawing knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// Known: from its list's text, or from a run that ended.
    Known(usize),
    /// The items a run still going has made so far: more may come.
    SoFar(usize),
    /// Only a run can tell.
    Unknown,
}

impl Count {
    /// The count as a number, when one is known (so far or for good).
    pub fn number(self) -> Option<usize> {
        match self {
            Count::Known(n) | Count::SoFar(n) => Some(n),
            Count::Unknown => None,
        }
    }
}

/// An item count as drawn: `×1000`; `×12…` for the items a run still going
/// has made so far (as `flow runs` writes a going run's time); `×?` when
/// only a run can tell.
pub fn count_text(items: Count) -> String {
    match items {
        Count::Known(n) => format!("×{n}"),
        Count::SoFar(n) => format!("×{n}…"),
        Count::Unknown => "×?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_in_the_largest_whole_unit() {
        assert_eq!(duration_text(30.0), "30s");
        assert_eq!(duration_text(90.0), "90s");
        assert_eq!(duration_text(120.0), "2m");
        assert_eq!(duration_text(7200.0), "2h");
        assert_eq!(duration_text(0.5), "0.5s");
        assert_eq!(duration_text(0.0), "0s");
    }

    #[test]
    fn ranges_are_counted_like_the_builtin() {
        let c = |v: i64| Expr::Const(std::sync::Arc::new(serde_json::Value::from(v)));
        assert_eq!(range_len(&[c(1000)]), Some(1000));
        assert_eq!(range_len(&[c(1), c(10)]), Some(9));
        assert_eq!(range_len(&[c(10), c(0), c(-3)]), Some(4));
        assert_eq!(range_len(&[c(5), c(1)]), Some(0));
        assert_eq!(range_len(&[c(0), c(5), c(0)]), None);
    }
}
