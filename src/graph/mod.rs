//! Stage 3: the task graph. A checked [`crate::ast::Program`] is lowered to flat,
//! integer-indexed nodes grouped into bodies; the runtime instantiates a body
//! each time its construct runs (once for the script, once per `map` item, once
//! per `try` attempt, …). The graph holds no AST: names are resolved to slots.

/// What a drawing notes on nodes and edges.
#[cfg(any(feature = "cli", feature = "internals"))]
mod annotate;
/// Drawing a graph: `flow graph` and the REPL's `:graph`.
#[cfg(any(feature = "cli", feature = "internals"))]
mod export;
/// The graph as one JSON document: `flow graph --format json`.
#[cfg(any(feature = "cli", feature = "internals"))]
mod json;
mod lower;
/// A recorded run laid over a graph: `flow graph --run`.
#[cfg(any(feature = "cli", feature = "internals"))]
mod overlay;

#[cfg(any(feature = "cli", feature = "internals"))]
pub use export::{kind_name, to_dot_with, to_mermaid_with};
#[cfg(feature = "internals")]
pub use export::{to_dot, to_mermaid};
#[cfg(any(feature = "cli", feature = "internals"))]
pub use json::{to_json_with, write_json};
#[cfg(feature = "internals")]
pub use json::to_json;
#[cfg(any(feature = "cli", feature = "internals"))]
pub use lower::lower;
pub use lower::{lower_indexed, lower_resolved, Prelude};
#[cfg(any(feature = "cli", feature = "internals"))]
pub use overlay::Overlay;
#[cfg(feature = "internals")]
pub use overlay::{Items, NodeRun, NodeState};

use std::sync::Arc;

use serde_json::Value;

use crate::agent::Signature;
use crate::ast::{BinaryOp, UnaryOp};
use crate::builtins::Function;
use crate::source::Span;

/// Joins an instance name and a label into a task id.
pub fn task_id(instance: &str, label: &str) -> String {
    match (instance.is_empty(), label.is_empty()) {
        // The task that gives the script its value.
        (true, true) => "result".to_string(),
        (false, true) => instance.to_string(),
        (true, false) => label.to_string(),
        (false, false) => format!("{instance}.{label}"),
    }
}

/// Index of a body in [`TaskGraph::bodies`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BodyId(pub u32);

/// Index of a node in [`TaskGraph::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// A whole lowered script.
#[derive(Clone, Debug, Default)]
pub struct TaskGraph {
    /// Every node of every body; a body's nodes are contiguous.
    pub nodes: Vec<Node>,
    pub bodies: Vec<Body>,
    /// The script's own body.
    pub root: BodyId,
    pub params: Vec<Param>,
    pub agents: Vec<Agent>,
    pub flows: Vec<Flow>,
    /// The capabilities the script uses (`sh`, `env`, …), from the signatures
    /// of the agents and functions it calls.
    pub capabilities: std::collections::BTreeSet<String>,
    /// The script's `budget` declarations (`budget tokens = N`).
    pub budget: crate::agent::Budget,
    /// The backends tasks call directly ([`Callee::Backend`]).
    pub backends: Vec<Backend>,
    /// Whether a task calls a backend that has a `secret` config key
    /// directly (`llm(…)`, not through a declared agent): only then does a
    /// run look through every node for the variables such keys name.
    pub direct_secrets: bool,
}

/// A registered agent, as the graph refers to it: the runtime calls it, the
/// other stages read its [`Signature`].
#[derive(Clone)]
pub struct AgentRef(pub Arc<dyn crate::agent::Agent>);

impl AgentRef {
    pub fn signature(&self) -> &Signature {
        self.0.signature()
    }

    pub fn name(&self) -> &str {
        &self.0.signature().name
    }
}

impl std::fmt::Debug for AgentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `param`: its default is evaluated at start unless the command line sets it.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: Arc<str>,
    /// May read earlier params only.
    pub default: Expr,
    pub span: Span,
}

/// A declared agent: a backend and its config, evaluated once at start.
#[derive(Clone, Debug)]
pub struct Agent {
    pub name: Arc<str>,
    pub kind: AgentKind,
    /// Config expressions; they may read params only.
    pub config: Vec<(Arc<str>, Expr)>,
    pub limit: Option<Expr>,
    pub span: Span,
    /// The whole declaration, `agent X = backend(…)`.
    pub definition: Span,
    /// The declared agents its calls may use as tools (`tools: [Search]`).
    pub tools: Vec<u32>,
    /// A digest of the declaration's text, part of its tasks' cache keys
    /// (set by the engine, which has the text).
    pub digest: Option<Arc<str>>,
}

#[derive(Clone, Debug)]
pub enum AgentKind {
    Backend(AgentRef),
    /// Registered by the host program under this agent's name (found in the
    /// registry when compiled, or given with the run's options).
    Host(Option<AgentRef>),
}

impl AgentKind {
    /// The agent's signature, when known before the run.
    pub fn signature(&self) -> Option<&Signature> {
        match self {
            AgentKind::Backend(a) | AgentKind::Host(Some(a)) => Some(a.signature()),
            AgentKind::Host(None) => None,
        }
    }
}

/// A sub-flow: parameters are its body's inputs.
#[derive(Clone, Debug)]
pub struct Flow {
    pub name: Arc<str>,
    pub params: Vec<Arc<str>>,
    pub body: BodyId,
    pub span: Span,
}

/// Why a body exists; names its instances and draws it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyKind {
    Script,
    Flow,
    MapItem,
    IfThen,
    IfElse,
    TryAttempt,
    TryElse,
    GateCheck,
    /// A `repeat`'s `until` condition, once per state.
    RepeatCond,
    /// One round of a `repeat`.
    RepeatRound,
    /// A `repeat`'s `else`, when `max` rounds did not satisfy `until`.
    RepeatElse,
    /// One arm (or the `_` arm) of a `match`.
    MatchArm,
    /// One merge of a `reduce`, one step of a `fold`.
    ReduceStep,
    /// One use of a tool by a task's call: its input is the arguments.
    Tool,
}

/// A group of nodes instantiated together at run time.
#[derive(Clone, Debug)]
pub struct Body {
    pub kind: BodyKind,
    /// Its nodes: `first..first + len` in [`TaskGraph::nodes`], in source order
    /// (which is a topological order: a node only reads earlier nodes).
    pub first: u32,
    pub len: u32,
    /// Values the construct hands in: a map's item and index, a flow's
    /// arguments, a try's `error`.
    pub inputs: Vec<Arc<str>>,
    /// Values read from the enclosing instance, by where they live there.
    pub captures: Vec<Capture>,
    /// The body's value.
    pub result: Expr,
    /// The construct node in the enclosing body, if any (for drawing).
    pub parent: Option<NodeId>,
}

impl Body {
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> {
        (self.first..self.first + self.len).map(NodeId)
    }
}

/// A value a body reads from the instance that creates it.
#[derive(Clone, Debug)]
pub struct Capture {
    pub name: Arc<str>,
    /// Where the value lives in the enclosing body.
    pub from: Ref,
}

/// Where a value lives inside a body instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ref {
    /// The result of the body's node with this local index.
    Node(u32),
    Input(u32),
    Capture(u32),
    Param(u32),
}

/// One node: computes one value.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: NodeKind,
    /// Local indexes of the nodes of the same body this one waits for: the
    /// ones it reads plus its `after`s (sorted, no duplicates).
    pub deps: Deps,
    /// Its name inside the body instance (`raw`, `draft.intro`); empty for the
    /// node that gives the body its value, which takes the instance's own name.
    pub label: Arc<str>,
    pub span: Span,
}

/// A node's [`Node::deps`]: up to four in the node itself (most nodes read
/// one or two), more on the heap; the size of a `Vec`.
pub type Deps = smallvec::SmallVec<[u32; 4]>;

#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A pure value: no task.
    Value(Expr),
    /// An agent call: a task.
    Task(Task),
    Map(MapNode),
    If(IfNode),
    Try(TryNode),
    Gate(GateNode),
    Repeat(Box<RepeatNode>),
    Match(Box<MatchNode>),
    Reduce(Box<ReduceNode>),
    /// A sub-flow call: its body, with the arguments as inputs.
    Call(FlowCall),
}

/// Which agent a task calls.
#[derive(Clone, Debug)]
pub enum Callee {
    /// A declared agent, by index into [`TaskGraph::agents`].
    Agent(u32),
    /// A backend or built-in agent called directly, by index into
    /// [`TaskGraph::backends`], with per-call config.
    Backend(u32, Vec<(Arc<str>, Expr)>),
}

/// A backend the script calls directly, once per graph however many tasks
/// call it: a task holds its index, not a counted reference, so lowering a
/// big script makes no atomic increment per task.
#[derive(Clone, Debug)]
pub struct Backend {
    pub agent: AgentRef,
    /// Its name, as records and diagnostics show it (`sh`).
    pub name: Arc<str>,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub callee: Callee,
    pub instructions: Option<Expr>,
    pub context: Vec<(Arc<str>, Expr)>,
    pub modifiers: CallModifiers,
    /// Tools, and the arguments of a tool's use: boxed, as few tasks have any.
    pub tooling: Option<Box<Tooling>>,
}

/// The tool side of a task (see [`Task::tooling`]).
#[derive(Clone, Debug, Default)]
pub struct Tooling {
    /// An object whose entries are more context (its `instructions`, the
    /// instructions): the arguments a tool is used with.
    pub spread: Option<Expr>,
    /// The tools its call may use, each a body run once per use.
    pub tools: Vec<ToolUse>,
}

impl Task {
    /// The tools its call may use.
    pub fn tools(&self) -> &[ToolUse] {
        self.tooling.as_ref().map_or(&[], |t| &t.tools)
    }

    /// The object whose entries are more of its context (a tool's use).
    pub fn spread(&self) -> Option<&Expr> {
        self.tooling.as_ref()?.spread.as_ref()
    }
}

/// A tool a task's call may use: the agent's name and the body of one use.
#[derive(Clone, Debug)]
pub struct ToolUse {
    pub name: Arc<str>,
    pub agent: u32,
    pub body: BodyId,
}

/// `timeout`, `retry` and `backoff` of a call.
#[derive(Clone, Debug, Default)]
pub struct Modifiers {
    pub timeout: Option<Expr>,
    pub retry: Option<Expr>,
    pub backoff: Option<Expr>,
    /// The `after` names, for drawing and lints (the edges are in `deps`).
    pub after: Vec<(Arc<str>, u32)>,
}

impl Modifiers {
    pub fn is_empty(&self) -> bool {
        self.timeout.is_none()
            && self.retry.is_none()
            && self.backoff.is_none()
            && self.after.is_empty()
    }
}

/// The [`Modifiers`] of a call, boxed when there are any: most calls have
/// none, and a node without them stays small (a graph may hold millions).
#[derive(Clone, Debug, Default)]
pub struct CallModifiers(Option<Box<Modifiers>>);

static NO_MODIFIERS: Modifiers = Modifiers {
    timeout: None,
    retry: None,
    backoff: None,
    after: Vec::new(),
};

impl std::ops::Deref for CallModifiers {
    type Target = Modifiers;

    fn deref(&self) -> &Modifiers {
        self.0.as_deref().unwrap_or(&NO_MODIFIERS)
    }
}

impl From<Modifiers> for CallModifiers {
    fn from(modifiers: Modifiers) -> CallModifiers {
        CallModifiers((!modifiers.is_empty()).then(|| Box::new(modifiers)))
    }
}

/// A `map`, or a `filter` (whose body gives each item's condition).
#[derive(Clone, Debug)]
pub struct MapNode {
    pub list: Expr,
    pub limit: Option<Expr>,
    pub body: BodyId,
    pub filter: bool,
}

/// `repeat state = init until cond max rounds { body } [else { … }]`: each
/// body has one input, the state.
#[derive(Clone, Debug)]
pub struct RepeatNode {
    pub init: Expr,
    pub max: Expr,
    pub until: BodyId,
    /// The condition's source, for a condition that is not a boolean.
    pub until_span: Span,
    pub body: BodyId,
    pub otherwise: Option<BodyId>,
}

/// `match value { … }`: the first arm with a pattern equal to the value runs,
/// else the `_` arm, else the match fails.
#[derive(Clone, Debug)]
pub struct MatchNode {
    pub value: Expr,
    pub value_span: Span,
    pub arms: Vec<MatchArm>,
    pub otherwise: Option<BodyId>,
}

impl MatchNode {
    /// An arm's patterns, as its title: `"a" | "b"`, or `_`.
    pub fn arm_title(&self, body: BodyId) -> String {
        match self.arms.iter().find(|a| a.body == body) {
            Some(arm) => {
                let patterns: Vec<String> = arm.patterns.iter().map(Value::to_string).collect();
                patterns.join(" | ")
            }
            None => "_".to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct MatchArm {
    pub patterns: Vec<Value>,
    pub body: BodyId,
}

/// `reduce` (no `init`: a balanced tree of merges) or `fold` (in order from
/// `init`); the body's inputs are the accumulated value and the item.
#[derive(Clone, Debug)]
pub struct ReduceNode {
    pub list: Expr,
    pub init: Option<Expr>,
    pub limit: Option<Expr>,
    pub body: BodyId,
}

#[derive(Clone, Debug)]
pub struct IfNode {
    pub cond: Expr,
    /// The condition's source, for a condition that is not a boolean.
    pub cond_span: Span,
    pub then: BodyId,
    /// `else` or `else if` (an `If` node inside this body).
    pub otherwise: Option<BodyId>,
}

#[derive(Clone, Debug)]
pub struct TryNode {
    pub body: BodyId,
    pub retry: Option<Expr>,
    pub backoff: Option<Expr>,
    /// Has one input, `error`.
    pub otherwise: Option<BodyId>,
}

#[derive(Clone, Debug)]
pub struct GateNode {
    pub checks: Vec<GateCheck>,
}

#[derive(Clone, Debug)]
pub struct GateCheck {
    pub name: Arc<str>,
    pub body: BodyId,
    /// The local index, in the check's body, of the node holding its `where`
    /// condition's value.
    pub cond: Option<u32>,
    /// The condition's source, for the failure message.
    pub cond_span: Option<Span>,
}

#[derive(Clone, Debug)]
pub struct FlowCall {
    pub flow: u32,
    /// One per flow parameter, in order.
    pub args: Vec<Expr>,
    pub modifiers: CallModifiers,
}

/// A pure expression over the values of a body instance.
#[derive(Clone, Debug)]
pub enum Expr {
    Const(Arc<Value>),
    Ref(Ref),
    /// A string with interpolations; `shell` quotes each interpolated value
    /// (the command of an `sh` agent).
    Str {
        parts: Vec<StrPart>,
        shell: bool,
    },
    List(Vec<Expr>),
    Object(Vec<(Arc<str>, Expr)>),
    Field {
        base: Box<Expr>,
        name: Arc<str>,
        span: Span,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
        span: Span,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
        span: Span,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
    Call {
        function: &'static Function,
        args: Vec<Expr>,
        span: Span,
    },
}

#[derive(Clone, Debug)]
pub enum StrPart {
    Text(Arc<str>),
    Interp(Expr),
}

impl Expr {
    /// Calls `f` on every reference the expression reads.
    pub fn for_each_ref(&self, f: &mut impl FnMut(Ref)) {
        match self {
            Expr::Const(_) => {}
            Expr::Ref(r) => f(*r),
            Expr::Str { parts, .. } => {
                for part in parts {
                    if let StrPart::Interp(e) = part {
                        e.for_each_ref(f);
                    }
                }
            }
            Expr::List(items) => items.iter().for_each(|e| e.for_each_ref(f)),
            Expr::Object(entries) => entries.iter().for_each(|(_, e)| e.for_each_ref(f)),
            Expr::Field { base, .. } => base.for_each_ref(f),
            Expr::Index { base, index, .. } => {
                base.for_each_ref(f);
                index.for_each_ref(f);
            }
            Expr::Unary { operand, .. } => operand.for_each_ref(f),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.for_each_ref(f);
                rhs.for_each_ref(f);
            }
            Expr::Call { args, .. } => args.iter().for_each(|e| e.for_each_ref(f)),
        }
    }
}

impl NodeKind {
    /// Calls `f` on every value the node reads (its `after`s excepted: they
    /// order, they are not read). Child bodies' captures are not included.
    pub fn for_each_ref(&self, f: &mut impl FnMut(Ref)) {
        fn modifiers(m: &Modifiers, f: &mut impl FnMut(Ref)) {
            for e in [&m.timeout, &m.retry, &m.backoff].into_iter().flatten() {
                e.for_each_ref(f);
            }
        }
        match self {
            NodeKind::Value(e) => e.for_each_ref(f),
            NodeKind::Task(t) => {
                if let Callee::Backend(_, config) = &t.callee {
                    config.iter().for_each(|(_, e)| e.for_each_ref(f));
                }
                t.instructions.iter().for_each(|e| e.for_each_ref(f));
                t.context.iter().for_each(|(_, e)| e.for_each_ref(f));
                t.spread().iter().for_each(|e| e.for_each_ref(f));
                modifiers(&t.modifiers, f);
            }
            NodeKind::Call(c) => {
                c.args.iter().for_each(|e| e.for_each_ref(f));
                modifiers(&c.modifiers, f);
            }
            NodeKind::Map(m) => {
                m.list.for_each_ref(f);
                m.limit.iter().for_each(|e| e.for_each_ref(f));
            }
            NodeKind::If(i) => i.cond.for_each_ref(f),
            NodeKind::Try(t) => {
                t.retry.iter().for_each(|e| e.for_each_ref(f));
                t.backoff.iter().for_each(|e| e.for_each_ref(f));
            }
            NodeKind::Gate(_) => {}
            NodeKind::Repeat(r) => {
                r.init.for_each_ref(f);
                r.max.for_each_ref(f);
            }
            NodeKind::Match(m) => m.value.for_each_ref(f),
            NodeKind::Reduce(r) => {
                r.list.for_each_ref(f);
                r.init.iter().for_each(|e| e.for_each_ref(f));
                r.limit.iter().for_each(|e| e.for_each_ref(f));
            }
        }
    }
}

impl TaskGraph {
    /// The backend a [`Callee::Backend`] calls.
    pub fn backend(&self, i: u32) -> &AgentRef {
        &self.backends[i as usize].agent
    }

    /// The name of the agent a task calls, for diagnostics and records:
    /// `Writer`, `sh`.
    pub fn agent_name(&self, task: &Task) -> &Arc<str> {
        match &task.callee {
            Callee::Agent(i) => &self.agents[*i as usize].name,
            Callee::Backend(i, _) => &self.backends[*i as usize].name,
        }
    }

    pub fn body(&self, id: BodyId) -> &Body {
        &self.bodies[id.0 as usize]
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    /// The node with local index `local` of body `body`.
    pub fn local(&self, body: BodyId, local: u32) -> &Node {
        &self.nodes[(self.body(body).first + local) as usize]
    }

    /// The bodies a node instantiates.
    pub fn child_bodies(node: &Node) -> Vec<BodyId> {
        Self::kind_bodies(&node.kind)
    }

    /// The bodies a node of this kind instantiates.
    pub fn kind_bodies(kind: &NodeKind) -> Vec<BodyId> {
        match kind {
            NodeKind::Task(t) => t.tools().iter().map(|t| t.body).collect(),
            NodeKind::Value(_) | NodeKind::Call(_) => Vec::new(),
            NodeKind::Map(m) => vec![m.body],
            NodeKind::If(i) => std::iter::once(i.then).chain(i.otherwise).collect(),
            NodeKind::Try(t) => std::iter::once(t.body).chain(t.otherwise).collect(),
            NodeKind::Gate(g) => g.checks.iter().map(|c| c.body).collect(),
            NodeKind::Repeat(r) => [r.until, r.body].into_iter().chain(r.otherwise).collect(),
            NodeKind::Match(m) => m.arms.iter().map(|a| a.body).chain(m.otherwise).collect(),
            NodeKind::Reduce(r) => vec![r.body],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph may hold millions of nodes: keep them small (call modifiers
    /// are boxed, and only when a call has any).
    #[test]
    fn nodes_stay_small() {
        let size = std::mem::size_of::<Node>();
        assert!(size <= 160, "a node takes {size} bytes");
        assert!(CallModifiers::from(Modifiers::default()).0.is_none());
        // Its `deps` in the node cost no more than a `Vec` would.
        assert_eq!(std::mem::size_of::<Deps>(), std::mem::size_of::<Vec<u32>>());
        let deps = Deps::from_slice(&[1, 2, 3, 4]);
        assert!(!deps.spilled(), "four dependencies stay in the node");
    }
}
