//! What a recorded run did, laid over its script's graph for `flow graph
//! --run`: each node's state (succeeded, failed, skipped, cached, not run),
//! and how many items each `map` really had.
//!
//! The store knows tasks by id (`raw[3].clean`, `review@2.notes`), not by
//! node. Every id a node can give is a pattern: its instance's name, built as
//! the runtime builds it (`raw[i]`, `loop@n`, a `try`'s or a flow call's
//! retries `fetch@n`, a flow's body under each call's name), and its label.
//! Indexes and rounds are written `[#]` and `@#` on both sides, so one
//! lookup matches a node with all its instances.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{task_id, BodyId, BodyKind, NodeKind, TaskGraph};

/// The state a drawing gives a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeState {
    /// Failed, timed out or cancelled (in one instance at least).
    Failed,
    /// Still going when the run was read.
    Running,
    Succeeded,
    /// Re-used from an earlier run (`--resume`).
    Cached,
    /// Never ran: something it waits for failed, or the run stopped first.
    Skipped,
    /// No task of it was recorded: the run never got there.
    NotRun,
}

impl NodeState {
    /// The state as JSON writes it: `succeeded`, `not_run`, …
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Failed => "failed",
            NodeState::Running => "running",
            NodeState::Succeeded => "succeeded",
            NodeState::Cached => "cached",
            NodeState::Skipped => "skipped",
            NodeState::NotRun => "not_run",
        }
    }

    /// The fill of a node in this state (hex, for DOT and Mermaid alike).
    pub fn color(self) -> &'static str {
        match self {
            NodeState::Failed => "#f4a6a6",
            NodeState::Running => "#f5e08c",
            NodeState::Succeeded => "#b6e3a8",
            NodeState::Cached => "#a8c8f0",
            NodeState::Skipped => "#d9d9d9",
            NodeState::NotRun => "#ffffff",
        }
    }

    /// Every state, in the order a legend lists them.
    pub const ALL: [NodeState; 6] = [
        NodeState::Succeeded,
        NodeState::Failed,
        NodeState::Skipped,
        NodeState::Cached,
        NodeState::Running,
        NodeState::NotRun,
    ];

    /// A task's status as the store writes it.
    fn of_status(status: &str) -> NodeState {
        match status {
            "succeeded" => NodeState::Succeeded,
            "cached" => NodeState::Cached,
            "skipped" => NodeState::Skipped,
            "running" | "pending" => NodeState::Running,
            // failed, timed_out, cancelled
            _ => NodeState::Failed,
        }
    }
}

/// A node's state in a run: the state shown, and how many of its tasks
/// (one per instance) ended in each state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeRun {
    pub counts: BTreeMap<NodeState, usize>,
    /// Known to have succeeded, whatever was recorded: a construct in a body
    /// that ran, in a run that succeeded (a failed attempt of a `try` it
    /// holds was handled); a task of an inline agent in a body that ran,
    /// which the store does not write when it succeeds (`echo`); a construct
    /// one of whose bodies holds such a task.
    pub completed: bool,
    /// In a run still going, a node some of whose tasks ended that may have
    /// more to do (a construct, or a task with several instances: in a
    /// `map`'s item, a flow): what is left is not known, so it shows as
    /// running, not as succeeded.
    pub going: bool,
}

impl NodeRun {
    /// What the node is shown as: succeeded when it completed; else failed
    /// if any instance failed, then running, succeeded, cached, skipped; not
    /// run when nothing was recorded.
    pub fn state(&self) -> NodeState {
        if self.completed {
            return NodeState::Succeeded;
        }
        let state = (self.counts.keys().copied().min()).unwrap_or(NodeState::NotRun);
        match state {
            NodeState::Succeeded | NodeState::Cached if self.going => NodeState::Running,
            state => state,
        }
    }

    /// How many tasks were recorded for the node.
    pub fn tasks(&self) -> usize {
        self.counts.values().sum()
    }
}

/// A run laid over a graph (see the module's documentation).
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    /// By node index; `None` for plain values, which are no tasks.
    pub nodes: Vec<Option<NodeRun>>,
    /// By body index: how many instances of a `map`'s item body the run
    /// made, when any of them recorded a task.
    pub items: Vec<Option<Items>>,
}

/// How many instances of a `map`'s item body a run made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Items {
    pub made: usize,
    /// All it will make: the run ended, or (in the script's own body) a task
    /// that waited for the map was recorded. Else more may come.
    pub all: bool,
}

/// More patterns than this for one body (retries inside flows called from
/// retried flows…) are dropped: their nodes show as not run.
const MAX_PATTERNS: usize = 256;

impl Overlay {
    /// Lays the tasks of a run, `(task id, status)`, over `graph`. `status`
    /// is the run's own (`succeeded`, `failed`, `running`…): the store does
    /// not write the tasks of inline agents (`echo`, `noop`) that succeed, so
    /// such a task counts as succeeded where its body is known to have run.
    pub fn new<'t>(
        graph: &TaskGraph,
        tasks: impl IntoIterator<Item = (&'t str, &'t str)>,
        status: &str,
    ) -> Overlay {
        // Every recorded task by its canonical id; and for each canonical
        // prefix ending in an index, the concrete instances seen.
        let mut by_id: BTreeMap<String, BTreeMap<NodeState, usize>> = BTreeMap::new();
        let mut instances: HashMap<String, HashSet<String>> = HashMap::new();
        for (id, state) in tasks {
            let (canonical, indexed) = canonical(id);
            *by_id
                .entry(canonical)
                .or_default()
                .entry(NodeState::of_status(state))
                .or_default() += 1;
            for (pattern, concrete) in indexed {
                instances.entry(pattern).or_default().insert(concrete);
            }
        }
        let under = |name: &str, add: &mut dyn FnMut(&BTreeMap<NodeState, usize>)| {
            for (id, counts) in by_id.range(name.to_string()..) {
                if !id.starts_with(name) {
                    break;
                }
                let rest = &id[name.len()..];
                if rest.is_empty() || rest.starts_with(['.', '[', '@']) {
                    add(counts);
                }
            }
        };
        let (order, patterns) = walk(graph);
        let ended = matches!(status, "succeeded" | "failed" | "cancelled");
        let succeeded = status == "succeeded";
        // Whether each body ran (an instance of it, at least): the script's
        // when the run ended; one with a recorded task; in a run that
        // succeeded, one that its construct always runs.
        let mut reached = vec![false; graph.bodies.len()];
        for &b in &order {
            let mut evidence = false;
            for prefix in &patterns[b.0 as usize] {
                under(prefix, &mut |_| evidence = true);
            }
            let here = &mut reached[b.0 as usize];
            *here = *here || evidence || (b == graph.root && ended);
            if !(*here && succeeded) {
                continue;
            }
            for id in graph.body(b).node_ids() {
                let node = graph.node(id);
                for child in TaskGraph::child_bodies(node) {
                    if always_runs(&graph.body(child).kind) {
                        reached[child.0 as usize] = true;
                    }
                }
                if let NodeKind::Call(call) = &node.kind {
                    if let Some(flow) = graph.flows.get(call.flow as usize) {
                        reached[flow.body.0 as usize] = true;
                    }
                }
            }
        }
        let mut nodes: Vec<Option<NodeRun>> = vec![None; graph.nodes.len()];
        let mut items = vec![None; graph.bodies.len()];
        for &b in &order {
            let prefixes = &patterns[b.0 as usize];
            for id in graph.body(b).node_ids() {
                let node = graph.node(id);
                if matches!(node.kind, NodeKind::Value(_)) {
                    continue;
                }
                let mut run = NodeRun::default();
                let mut add = |counts: &BTreeMap<NodeState, usize>| {
                    for (state, n) in counts {
                        *run.counts.entry(*state).or_default() += n;
                    }
                };
                for prefix in prefixes {
                    let name = task_id(prefix, &node.label);
                    match &node.kind {
                        NodeKind::Task(_) => {
                            if let Some(counts) = by_id.get(&name) {
                                add(counts);
                            }
                        }
                        // A construct: every task under its name.
                        _ => under(&name, &mut add),
                    }
                    if let NodeKind::Map(m) = &node.kind {
                        if let Some(seen) = instances.get(&format!("{name}[#]")) {
                            let count = items[m.body.0 as usize].get_or_insert(Items {
                                made: 0,
                                all: status != "running",
                            });
                            count.made += seen.len();
                        }
                    }
                }
                match &node.kind {
                    NodeKind::Task(task) => {
                        run.completed =
                            run.counts.is_empty() && reached[b.0 as usize] && inline(graph, task);
                    }
                    _ => run.completed = succeeded && reached[b.0 as usize],
                }
                // A task of the script's own body has one instance: ended is done.
                let single = matches!(node.kind, NodeKind::Task(_)) && b == graph.root;
                run.going = status == "running" && !run.counts.is_empty() && !single;
                nodes[id.0 as usize] = Some(run);
            }
        }
        // A construct with no recorded task ran if a body of it did (callees
        // and children come before callers and parents in reverse order).
        for &b in order.iter().rev() {
            for id in graph.body(b).node_ids() {
                let node = graph.node(id);
                let mut bodies = TaskGraph::child_bodies(node);
                if let NodeKind::Call(call) = &node.kind {
                    bodies.extend(graph.flows.get(call.flow as usize).map(|f| f.body));
                }
                let ran = bodies.iter().any(|c| {
                    graph.body(*c).node_ids().any(|n| {
                        nodes[n.0 as usize]
                            .as_ref()
                            .is_some_and(|r| r.state() == NodeState::Succeeded)
                    })
                });
                if let Some(run) = nodes[id.0 as usize].as_mut() {
                    if run.counts.is_empty() && ran {
                        run.completed = true;
                    }
                }
            }
        }
        if status == "running" {
            waited_for_in_script(graph, &mut nodes, &mut items);
        }
        Overlay { nodes, items }
    }

    /// The state of node `index` (`None` for a plain value).
    pub fn state(&self, index: usize) -> Option<NodeState> {
        self.nodes.get(index)?.as_ref().map(NodeRun::state)
    }
}

/// Whether a construct runs this body of its whenever it runs (not a branch
/// it may not take).
fn always_runs(kind: &BodyKind) -> bool {
    matches!(
        kind,
        BodyKind::MapItem
            | BodyKind::ReduceStep
            | BodyKind::GateCheck
            | BodyKind::TryAttempt
            | BodyKind::RepeatCond
    )
}

/// Whether a task's agent answers at once, on the scheduler (`echo`,
/// `noop`): the store does not write such a task when it succeeds.
fn inline(graph: &TaskGraph, task: &super::Task) -> bool {
    match &task.callee {
        super::Callee::Backend(i, _) => graph.backend(*i).signature().inline,
        super::Callee::Agent(i) => graph
            .agents
            .get(*i as usize)
            .and_then(|a| a.kind.signature())
            .is_some_and(|s| s.inline),
    }
}

/// A task id with its indexes and rounds made `[#]` and `@#`, and for each
/// `[#]`, the canonical prefix that ends with it and the concrete one.
fn canonical(id: &str) -> (String, Vec<(String, String)>) {
    let mut out = String::with_capacity(id.len());
    let mut indexed = Vec::new();
    let bytes = id.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'[' || c == b'@' {
            let digits = |from: usize| {
                let mut j = from;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                j
            };
            let mut j = digits(i + 1);
            if j > i + 1 {
                if c == b'@' {
                    out.push_str("@#");
                    i = j;
                    continue;
                }
                // `[3]`, or a reduce's merge `[0-3]`.
                if j < bytes.len() && bytes[j] == b'-' && digits(j + 1) > j + 1 {
                    j = digits(j + 1);
                }
                if j < bytes.len() && bytes[j] == b']' {
                    out.push_str("[#]");
                    indexed.push((out.clone(), id[..=j].to_string()));
                    i = j + 1;
                    continue;
                }
            }
        }
        // Ids are built from names, so any other byte is copied whole with
        // the rest of its character.
        let len = id[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&id[i..i + len]);
        i += len;
    }
    (out, indexed)
}

/// Every body in an order where each comes after its construct's body and
/// after every body that calls it (flows cannot recurse), and for every body
/// the canonical names its instances can have: a flow's body takes the names
/// of all its calls.
fn walk(graph: &TaskGraph) -> (Vec<BodyId>, Vec<Vec<String>>) {
    let mut patterns: Vec<Vec<String>> = vec![Vec::new(); graph.bodies.len()];
    // The top bodies: the script's, then each flow's, callers first.
    let mut calls: Vec<Vec<u32>> = vec![Vec::new(); graph.flows.len()];
    for (f, flow) in graph.flows.iter().enumerate() {
        calls[f] = tree(graph, flow.body)
            .into_iter()
            .flat_map(|b| called_flows(graph, b))
            .collect();
    }
    let mut order: Vec<BodyId> = vec![graph.root];
    order.extend(
        callers_first(&calls)
            .into_iter()
            .filter_map(|f| graph.flows.get(f as usize).map(|fl| fl.body)),
    );
    patterns[graph.root.0 as usize].push(String::new());
    let mut all = Vec::with_capacity(graph.bodies.len());
    for top in order {
        for body in tree(graph, top) {
            all.push(body);
            let prefixes = patterns[body.0 as usize].clone();
            for id in graph.body(body).node_ids() {
                let node = graph.node(id);
                for prefix in &prefixes {
                    let name = task_id(prefix, &node.label);
                    let mut give = |b: BodyId, names: &[String]| {
                        let slot = &mut patterns[b.0 as usize];
                        for n in names {
                            if slot.len() < MAX_PATTERNS && !slot.contains(n) {
                                slot.push(n.clone());
                            }
                        }
                    };
                    if let NodeKind::Call(call) = &node.kind {
                        if let Some(flow) = graph.flows.get(call.flow as usize) {
                            give(flow.body, &[name.clone(), format!("{name}@#")]);
                        }
                        continue;
                    }
                    if let NodeKind::Task(task) = &node.kind {
                        for tool in task.tools() {
                            give(tool.body, &[format!("{name}.{}[#]", tool.name)]);
                        }
                        continue;
                    }
                    for child in TaskGraph::child_bodies(node) {
                        let names = match graph.body(child).kind {
                            BodyKind::MapItem | BodyKind::ReduceStep => vec![format!("{name}[#]")],
                            BodyKind::TryAttempt => vec![name.clone(), format!("{name}@#")],
                            BodyKind::TryElse | BodyKind::RepeatElse => {
                                vec![format!("{name}.else")]
                            }
                            BodyKind::RepeatRound => vec![format!("{name}@#")],
                            BodyKind::RepeatCond => vec![format!("{name}@#.until")],
                            BodyKind::GateCheck => match &node.kind {
                                NodeKind::Gate(g) => g
                                    .checks
                                    .iter()
                                    .filter(|c| c.body == child)
                                    .map(|c| format!("{name}.{}", c.name))
                                    .collect(),
                                _ => Vec::new(),
                            },
                            _ => vec![name.clone()],
                        };
                        give(child, &names);
                    }
                }
            }
        }
    }
    (all, patterns)
}

/// Body `top` and every body nested under its nodes (not the flows it
/// calls), parents before children.
fn tree(graph: &TaskGraph, top: BodyId) -> Vec<BodyId> {
    let mut out = Vec::new();
    let mut stack = vec![top];
    while let Some(b) = stack.pop() {
        if b.0 as usize >= graph.bodies.len() {
            continue;
        }
        out.push(b);
        for id in graph.body(b).node_ids() {
            let node = graph.node(id);
            stack.extend(TaskGraph::child_bodies(node));
        }
    }
    out
}

/// The flows that body `b`'s own nodes call.
fn called_flows(graph: &TaskGraph, b: BodyId) -> Vec<u32> {
    graph
        .body(b)
        .node_ids()
        .filter_map(|id| match &graph.node(id).kind {
            NodeKind::Call(call) => Some(call.flow),
            _ => None,
        })
        .collect()
}

/// The flows in an order where each comes after every flow that calls it
/// (`calls[f]`: the flows `f` calls). Flows cannot recurse; on a graph
/// where they do, the rest follow in index order.
fn callers_first(calls: &[Vec<u32>]) -> Vec<u32> {
    let mut callers = vec![0usize; calls.len()];
    for callees in calls {
        for &c in callees {
            if let Some(n) = callers.get_mut(c as usize) {
                *n += 1;
            }
        }
    }
    let mut ready: Vec<u32> = (0..calls.len() as u32)
        .filter(|&f| callers[f as usize] == 0)
        .rev()
        .collect();
    let mut order = Vec::with_capacity(calls.len());
    let mut placed = vec![false; calls.len()];
    while let Some(f) = ready.pop() {
        order.push(f);
        placed[f as usize] = true;
        for &c in &calls[f as usize] {
            if let Some(n) = callers.get_mut(c as usize) {
                *n -= 1;
                if *n == 0 {
                    ready.push(c);
                }
            }
        }
    }
    order.extend((0..calls.len() as u32).filter(|&f| !placed[f as usize]));
    order
}

/// In a run still going: the nodes of the script's own body (one instance
/// each) that a node with a recorded task waited for have ended, so they
/// and the nodes inside them are no longer going, and a `map` among them
/// has made all its items.
fn waited_for_in_script(graph: &TaskGraph, nodes: &mut [Option<NodeRun>], items: &mut [Option<Items>]) {
    let body = graph.body(graph.root);
    let ids: Vec<_> = body.node_ids().collect();
    let mut waited_for = vec![false; ids.len()];
    // From each node with a task that started (a skipped one is recorded as
    // soon as one of its inputs fails, while the others may still run), back
    // through what it waited for (`deps` are indices into the body).
    let started = |r: &NodeRun| r.counts.keys().any(|s| *s != NodeState::Skipped);
    let mut next: Vec<usize> = (ids.iter().enumerate())
        .filter(|(_, id)| nodes[id.0 as usize].as_ref().is_some_and(started))
        .map(|(k, _)| k)
        .collect();
    while let Some(k) = next.pop() {
        for &d in &graph.node(ids[k]).deps {
            if let Some(w) = waited_for.get_mut(d as usize).filter(|w| !**w) {
                *w = true;
                next.push(d as usize);
            }
        }
    }
    // Each such node, and the nodes of the bodies it holds (a map's item,
    // a branch), which ended with it.
    let mut ended: Vec<_> = (ids.iter().zip(&waited_for))
        .filter_map(|(&id, &w)| w.then_some(id))
        .collect();
    while let Some(id) = ended.pop() {
        if let Some(run) = nodes[id.0 as usize].as_mut() {
            run.going = false;
        }
        for child in TaskGraph::child_bodies(graph.node(id)) {
            if let Some(count) = items[child.0 as usize].as_mut() {
                count.all = true;
            }
            ended.extend(graph.body(child).node_ids());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ids_hide_indexes_and_rounds() {
        let (id, indexed) = canonical("batches[3].raw[12].clean@2");
        assert_eq!(id, "batches[#].raw[#].clean@#");
        assert_eq!(
            indexed,
            [
                ("batches[#]".to_string(), "batches[3]".to_string()),
                (
                    "batches[#].raw[#]".to_string(),
                    "batches[3].raw[12]".to_string()
                ),
            ]
        );
        assert_eq!(canonical("total[0-3]").0, "total[#]");
        assert_eq!(canonical("sh#2").0, "sh#2");
        assert_eq!(canonical("odd[x]@").0, "odd[x]@");
    }

    #[test]
    fn callers_come_before_the_flows_they_call() {
        // 0 calls 2, 2 calls 1.
        let order = callers_first(&[vec![2], vec![], vec![1]]);
        let at = |f: u32| order.iter().position(|&x| x == f).unwrap();
        assert!(at(0) < at(2) && at(2) < at(1), "{order:?}");
    }
}
