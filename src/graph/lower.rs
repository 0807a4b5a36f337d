//! Lowering: a checked AST to a [`TaskGraph`]. Calls and constructs become nodes,
//! names become slots, and each node records the nodes it waits for.
//!
//! What a name means comes from the [`Resolution`]: a use is a binding id, and
//! the lowering only tracks where each binding's value lives (a param, an
//! agent, a flow, or a slot of the body that bound it), capturing it through
//! the bodies in between when a nested body reads it.

use std::collections::{HashMap as StdMap, HashSet as StdSet};
use std::sync::Arc;

use serde_json::Value;

mod calls;
mod constructs;
mod declare;

use super::*;
use crate::agent::Registry;
use crate::ast::{self, ExprKind, StmtKind};
use crate::diag::{Code, Diagnostic};
use crate::resolve::{BindingId, Index, Reader, Resolution, Target};

/// Maps and sets keyed by names: small keys, no need for a DoS-resistant hash.
type HashMap<K, V> = StdMap<K, V, foldhash::fast::FixedState>;
type HashSet<K> = StdSet<K, foldhash::fast::FixedState>;

/// What a script may use that it does not declare: host agents, and values
/// bound before it (by earlier REPL entries).
#[derive(Clone, Debug)]
pub struct Prelude {
    /// The agents scripts can name: backends and host agents.
    pub registry: Arc<Registry>,
    pub host_agents: Vec<String>,
    pub values: Vec<(String, Arc<Value>)>,
}

impl Default for Prelude {
    fn default() -> Self {
        Prelude {
            registry: Registry::builtin(),
            host_agents: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl Prelude {
    /// What the resolution needs to know of the prelude: its values and agents.
    pub fn env(&self) -> crate::check::Env {
        crate::check::Env {
            registry: self.registry.clone(),
            host_agents: self.host_agents.clone(),
            values: self.values.iter().map(|(n, _)| n.clone()).collect(),
            ..crate::check::Env::default()
        }
    }
}

/// Resolves and lowers a program that `check` accepted (see [`lower_resolved`]).
// Used by the REPL and tests; the engine resolves once and calls `lower_resolved`.
#[cfg_attr(not(any(feature = "cli", feature = "internals")), allow(dead_code))]
pub fn lower(program: &ast::Program, prelude: &Prelude) -> Result<TaskGraph, Vec<Diagnostic>> {
    let env = prelude.env();
    let resolution = crate::resolve::resolve(program, &env);
    lower_resolved(program, &resolution, prelude)
}

/// Lowers a program that `check` accepted, resolved against the names of
/// `prelude`. Problems it cannot lower (which `check` reports first) come
/// back as diagnostics, never as a panic.
pub fn lower_resolved(
    program: &ast::Program,
    resolution: &Resolution<'_>,
    prelude: &Prelude,
) -> Result<TaskGraph, Vec<Diagnostic>> {
    lower_indexed(program, resolution.index(), prelude)
}

/// [`lower_resolved`] from the resolution's [`Index`] alone, which may still
/// be being filled on another thread ([`crate::resolve::resolve_into`]): a
/// lookup waits for the batch it needs, so lowering follows the resolution
/// statement by statement.
pub fn lower_indexed(
    program: &ast::Program,
    index: &Index<'_>,
    prelude: &Prelude,
) -> Result<TaskGraph, Vec<Diagnostic>> {
    let mut l = Lowerer {
        graph: TaskGraph::default(),
        homes: Vec::new(),
        res: Reader::new(index),
        builders: Vec::new(),
        errors: Vec::new(),
        names: HashMap::default(),
        backends: HashMap::default(),
        registry: &prelude.registry,
    };
    l.declare(program, prelude);
    l.lower_flows(program);
    l.open(BodyKind::Script, &[], false);
    // About a node, label and binding per statement: room made once, not by doubling.
    let statements = program.stmts.len();
    let script = l.builder();
    script.nodes.reserve(statements);
    script.labels.reserve(statements);
    l.homes.reserve(crate::resolve::bindings_hint(program));
    let result = l.stmts(&program.stmts, true);
    let root = l.close(result);
    l.graph.root = root;
    if l.errors.is_empty() {
        Ok(l.graph)
    } else {
        Err(l.errors)
    }
}

/// Where a binding's value lives.
#[derive(Clone, Copy)]
pub(super) enum Home {
    /// Not lowered (yet): a use of it is an error.
    Unknown,
    Param(u32),
    Agent(u32),
    Flow(u32),
    /// A slot of the body open at this depth of [`Lowerer::builders`].
    Local {
        depth: u32,
        at: Ref,
    },
}

/// A body being built.
struct Builder {
    kind: BodyKind,
    nodes: Vec<Node>,
    inputs: Vec<Arc<str>>,
    captures: Vec<Capture>,
    /// The binding each capture carries in, by index.
    captured: Vec<BindingId>,
    /// Whether bindings of the enclosing body are visible (not for flow bodies).
    captures_outer: bool,
    /// Prefix for labels of nodes made inside an inline block (`x.`).
    prefix: String,
    labels: HashSet<Arc<str>>,
    /// For each label taken more than once, the next `#n` to try: the
    /// thousandth `echo` of a list must not try `echo#2` … `echo#999` first.
    suffixes: HashMap<Arc<str>, u32>,
    /// Each body of a construct of this body (a `map`, an `if`, a tool's
    /// use), with the construct's index here: hung under it when this body
    /// closes.
    constructs: Vec<(u32, BodyId)>,
}

/// Names borrow from the AST (or the prelude) for `'a`.
struct Lowerer<'a, 'r, 'i: 'a> {
    graph: TaskGraph,
    res: Reader<'r, 'i>,
    /// Where each binding of the resolution lives, by id.
    homes: Vec<Home>,
    builders: Vec<Builder>,
    errors: Vec<Diagnostic>,
    /// Backend names and argument names, each allocated once: a task's
    /// keys are shared, so the run reads them from cache.
    names: HashMap<&'a str, Arc<str>>,
    /// Each backend's index in [`TaskGraph::backends`], by the address of
    /// the registry's agent (one per name).
    backends: HashMap<usize, u32>,
    registry: &'a Registry,
}

impl<'a, 'i: 'a> Lowerer<'a, '_, 'i> {
    /// Records where a binding (if the resolution made one) lives.
    fn home(&mut self, binding: Option<BindingId>, home: Home) {
        if let Some(id) = binding {
            let id = id as usize;
            // Bindings are numbered as the resolution goes: grow as they
            // come, within the room made for them while there is some.
            if id >= self.homes.len() {
                let doubled = (self.homes.len() * 2).min(self.homes.capacity());
                self.homes.resize((id + 1).max(doubled), Home::Unknown);
            }
            self.homes[id] = home;
        }
    }

    /// Where binding `id` lives, if lowered yet.
    fn home_of(&self, id: BindingId) -> Home {
        self.homes
            .get(id as usize)
            .copied()
            .unwrap_or(Home::Unknown)
    }


    // ---- bodies and scopes -------------------------------------------------

    /// Opens a body whose inputs bind the names declared at their spans.
    fn open(&mut self, kind: BodyKind, inputs: &[(&str, Option<Span>)], captures_outer: bool) {
        self.builders.push(Builder {
            kind,
            nodes: Vec::new(),
            inputs: inputs.iter().map(|(name, _)| Arc::from(*name)).collect(),
            captures: Vec::new(),
            captured: Vec::new(),
            captures_outer,
            prefix: String::new(),
            labels: HashSet::default(),
            suffixes: HashMap::default(),
            constructs: Vec::new(),
        });
        for (i, (_, span)) in inputs.iter().enumerate() {
            if let Some(span) = span {
                self.bind(*span, Ref::Input(i as u32));
            }
        }
    }

    /// Finishes the innermost body and appends its nodes to the graph.
    fn close(&mut self, result: Expr) -> BodyId {
        let b = self.builders.pop().expect("a body is open");
        let first = self.graph.nodes.len() as u32;
        let len = b.nodes.len() as u32;
        if self.graph.nodes.is_empty() {
            // Often the script's body, the biggest: moved, not copied.
            self.graph.nodes = b.nodes;
        } else {
            self.graph.nodes.extend(b.nodes);
        }
        // The nodes now have their final indexes: each body of a construct
        // (closed before it) hangs under it.
        for (local, body) in b.constructs {
            self.graph.bodies[body.0 as usize].parent = Some(NodeId(first + local));
        }
        let id = BodyId(self.graph.bodies.len() as u32);
        self.graph.bodies.push(Body {
            kind: b.kind,
            first,
            len,
            inputs: b.inputs,
            captures: b.captures,
            result,
            // set when the body holding its construct closes
            parent: None,
        });
        id
    }

    fn builder(&mut self) -> &mut Builder {
        self.builders.last_mut().expect("a body is open")
    }

    /// The binding declared at `span` lives at `r` of the innermost body.
    fn bind(&mut self, span: Span, r: Ref) {
        let depth = self.builders.len() as u32 - 1;
        self.home(self.res.binding_at(span), Home::Local { depth, at: r });
    }

    /// Where body `depth` finds binding `id`, which lives at `at` of body
    /// `home`: capturing it through every body in between. A loop, not a
    /// recursion: an `else if` chain nests a body per arm, thousands deep.
    fn capture(
        &mut self,
        depth: usize,
        (id, name): (BindingId, &str),
        home: usize,
        at: Ref,
    ) -> Option<Ref> {
        // Down to the nearest body that has the value: its home, or one
        // that captured it already.
        let mut from = depth;
        let mut found = loop {
            if from == home {
                break at;
            }
            let b = self.builders.get(from)?;
            if from < home || !b.captures_outer {
                return None;
            }
            if let Some(i) = b.captured.iter().position(|&c| c == id) {
                break Ref::Capture(i as u32);
            }
            from -= 1;
        };
        // Then up again, each body capturing it from the one around it.
        for b in &mut self.builders[from + 1..=depth] {
            b.captures.push(Capture {
                name: name.into(),
                from: found,
            });
            b.captured.push(id);
            found = Ref::Capture(b.captures.len() as u32 - 1);
        }
        Some(found)
    }

    /// The value a name stands for in the innermost body.
    fn resolve(&mut self, ident: &'a ast::Ident) -> Expr {
        let found = match self.res.target(ident) {
            Target::Binding(id) => match self.home_of(id) {
                Home::Param(i) => Some(Ref::Param(i)),
                Home::Local { depth, at } => {
                    // A use names its binding: the capture carries the same name.
                    let innermost = self.builders.len() - 1;
                    self.capture(innermost, (id, &ident.name), depth as usize, at)
                }
                Home::Unknown | Home::Agent(_) | Home::Flow(_) => None,
            },
            _ => None,
        };
        match found {
            Some(r) => Expr::Ref(r),
            None => {
                self.errors.push(
                    Diagnostic::error(
                        Code::UndefinedName,
                        format!("cannot find `{}` in this scope", ident.name),
                    )
                    .at(ident.span, "not found"),
                );
                Expr::Const(Arc::new(Value::Null))
            }
        }
    }

    /// A unique label in this body: `base`, else `base#2`, `base#3`…
    fn label(&mut self, base: Option<&str>, fallback: &str) -> Arc<str> {
        let b = self.builder();
        let name = match base {
            Some("") => return "".into(),
            Some(name) => name,
            None => fallback,
        };
        if b.prefix.is_empty() {
            // One hash, not a look then an insert: a label is most often
            // new (a `let`'s name).
            let label: Arc<str> = name.into();
            if b.labels.insert(label.clone()) {
                return label;
            }
        }
        let mut label = format!("{}{}", b.prefix, name);
        if b.labels.contains(label.as_str()) {
            let stem: Arc<str> = label.as_str().into();
            let n = b.suffixes.entry(stem.clone()).or_insert(2);
            label = format!("{stem}#{n}");
            while b.labels.contains(label.as_str()) {
                *n += 1;
                label = format!("{stem}#{n}");
            }
            *n += 1;
        }
        let label: Arc<str> = label.into();
        b.labels.insert(label.clone());
        label
    }

    /// Adds a node to the innermost body and returns a reference to its value.
    fn push(&mut self, kind: NodeKind, label: Arc<str>, span: Span, extra: &[u32]) -> Expr {
        let mut deps = super::Deps::from_slice(extra);
        let mut add = |r: Ref| {
            if let Ref::Node(k) = r {
                deps.push(k);
            }
        };
        kind.for_each_ref(&mut add);
        let mut node = Node {
            kind,
            deps: super::Deps::new(),
            label,
            span,
        };
        let bodies = TaskGraph::child_bodies(&node);
        for &body in &bodies {
            for capture in &self.graph.body(body).captures {
                if let Ref::Node(k) = capture.from {
                    deps.push(k);
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        node.deps = deps;
        let b = self.builder();
        let index = b.nodes.len() as u32;
        b.constructs.extend(bodies.into_iter().map(|body| (index, body)));
        b.nodes.push(node);
        Expr::Ref(Ref::Node(index))
    }

    /// Makes `e` a node of its own (so it has a slot and a label) unless it already is one.
    fn as_node(&mut self, e: Expr, label: Arc<str>, span: Span) -> u32 {
        match e {
            Expr::Ref(Ref::Node(k)) => {
                let b = self.builder();
                if b.nodes[k as usize].label.is_empty() || label.is_empty() {
                    b.nodes[k as usize].label = label;
                }
                k
            }
            e => match self.push(NodeKind::Value(e), label, span, &[]) {
                Expr::Ref(Ref::Node(k)) => k,
                _ => unreachable!("push returns a node reference"),
            },
        }
    }

    // ---- statements ----------------------------------------------------------

    /// Lowers statements; returns the value they evaluate to. At the top of a
    /// script, that is its `output`; without one and with no final
    /// expression, the object of its `let`s.
    fn stmts(&mut self, stmts: &'a [ast::Stmt], script: bool) -> Expr {
        // Most statements make one node and one label: spare the growing
        // copies (and rehashing) of a long body.
        let b = self.builder();
        b.nodes.reserve(stmts.len());
        b.labels.reserve(stmts.len());
        let mut lets: Vec<(Arc<str>, Expr)> = Vec::new();
        // A script declares its result with `output`; without, its final
        // expression gives it, or, with none, the object of its `let`s.
        let declared = script && stmts.iter().any(|s| matches!(s.kind, StmtKind::Output(_)));
        let keep_lets = script
            && !declared
            && !matches!(stmts.last(), Some(s) if matches!(s.kind, StmtKind::Expr(_)));
        let mut last = None;
        let mut output = None;
        for (i, stmt) in stmts.iter().enumerate() {
            let is_last = i + 1 == stmts.len();
            match &stmt.kind {
                StmtKind::Let { name, value } => {
                    let e = self.expr(value, Some(&name.name));
                    let k = match e {
                        // Already a node with its name (`let x = A()`).
                        Expr::Ref(Ref::Node(k))
                            if !self.builder().nodes[k as usize].label.is_empty() =>
                        {
                            k
                        }
                        e => {
                            let label = self.label(Some(&name.name), "");
                            self.as_node(e, label, value.span)
                        }
                    };
                    self.bind(name.span, Ref::Node(k));
                    if keep_lets {
                        lets.push((name.name.as_str().into(), Expr::Ref(Ref::Node(k))));
                    }
                }
                StmtKind::Expr(e) => {
                    // The value of a construct body takes its instance's name (`raw[2]`);
                    // the script's own last call keeps its agent's (`sh`).
                    let label = if is_last && !script { Some("") } else { None };
                    let value = self.expr(e, label);
                    if is_last {
                        last = Some(value);
                    }
                }
                // The checker allows one, at the top of the script only.
                StmtKind::Output(e) => {
                    let value = self.expr(e, None);
                    if output.is_none() {
                        output = Some(value);
                    }
                }
                // Declarations are lowered by `declare` and `lower_flows`.
                StmtKind::Param { .. }
                | StmtKind::Agent(_)
                | StmtKind::Flow(_)
                | StmtKind::Budget(_) => {}
            }
        }
        if let (Some(e), true) = (output, script) {
            return e;
        }
        match last {
            Some(e) => e,
            None if script => Expr::Object(lets),
            None => Expr::Const(Arc::new(Value::Null)),
        }
    }

    /// Lowers an inline block: its own scope and label prefix; its value waits
    /// for every node made inside it (structured concurrency).
    fn block(&mut self, block: &'a ast::Block, label: Option<&str>) -> Expr {
        let start = self.builder().nodes.len() as u32;
        let saved = self.builder().prefix.clone();
        if let Some(name) = label.filter(|l| !l.is_empty()) {
            self.builder().prefix = format!("{saved}{name}.");
        }
        let value = self.stmts(&block.stmts, false);
        self.builder().prefix = saved;
        let end = self.builder().nodes.len() as u32;
        if end - start <= 1 {
            return value;
        }
        let all: Vec<u32> = (start..end).collect();
        let label = self.label(label, "block");
        self.push(NodeKind::Value(value), label, block.span, &all)
    }

    /// Lowers a construct's body as a body of its own.
    fn body(
        &mut self,
        kind: BodyKind,
        inputs: &[(&str, Option<Span>)],
        block: &'a ast::Block,
    ) -> BodyId {
        self.open(kind, inputs, true);
        let result = self.stmts(&block.stmts, false);
        self.close(result)
    }

    // ---- expressions ---------------------------------------------------------

    /// Lowers an expression; `label` names the node it becomes, if it becomes one.
    fn expr(&mut self, e: &'a ast::Expr, label: Option<&str>) -> Expr {
        match &e.kind {
            ExprKind::Null => constant(Value::Null),
            ExprKind::Bool(b) => constant(Value::Bool(*b)),
            ExprKind::Int(i) => constant(Value::from(*i)),
            ExprKind::Float(x) => {
                constant(serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number))
            }
            ExprKind::Duration(d) => {
                let seconds = d.seconds();
                if seconds.fract() == 0.0 && seconds.abs() < 9e15 {
                    constant(Value::from(seconds as i64))
                } else {
                    constant(
                        serde_json::Number::from_f64(seconds).map_or(Value::Null, Value::Number),
                    )
                }
            }
            ExprKind::Str(parts) => self.string(parts, false),
            ExprKind::List(items) => Expr::List(items.iter().map(|i| self.expr(i, None)).collect()),
            ExprKind::Object(entries) => Expr::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.as_str().into(), self.expr(v, None)))
                    .collect(),
            ),
            ExprKind::Name(ident) => self.resolve(ident),
            ExprKind::Field { base, field } => Expr::Field {
                base: Box::new(self.expr(base, None)),
                name: field.name.as_str().into(),
                span: field.span,
            },
            ExprKind::Index { base, index } => Expr::Index {
                base: Box::new(self.expr(base, None)),
                index: Box::new(self.expr(index, None)),
                span: index.span,
            },
            ExprKind::Unary {
                op,
                op_span,
                operand,
            } => Expr::Unary {
                op: *op,
                operand: Box::new(self.expr(operand, None)),
                span: *op_span,
            },
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => Expr::Binary {
                op: *op,
                lhs: Box::new(self.expr(lhs, None)),
                rhs: Box::new(self.expr(rhs, None)),
                span: *op_span,
            },
            ExprKind::Call(call) => self.call(call, e.span, label),
            ExprKind::Map(map) => self.map(map, false, label, e.span),
            ExprKind::Filter(map) => self.map(map, true, label, e.span),
            ExprKind::Repeat(r) => self.repeat(r, label, e.span),
            ExprKind::Match(m) => self.match_(m, label, e.span),
            ExprKind::Reduce(r) => self.reduce(r, label, e.span),
            ExprKind::Fanout(branches) => {
                let base = label.filter(|l| !l.is_empty()).map(str::to_string);
                let entries = branches
                    .iter()
                    .map(|b| {
                        let name = match &base {
                            Some(base) => format!("{base}.{}", b.name.name),
                            None => b.name.name.to_string(),
                        };
                        let value = self.expr(&b.value, Some(&name));
                        (Arc::from(b.name.name.as_str()), value)
                    })
                    .collect();
                Expr::Object(entries)
            }
            ExprKind::Gate(checks) => {
                let checks = checks.iter().map(|c| self.gate_check(c)).collect();
                let label = self.label(label, "gate");
                self.push_construct(NodeKind::Gate(GateNode { checks }), label, e.span)
            }
            ExprKind::If(if_) => {
                let label = self.label(label, "if");
                self.if_arms(&if_.arms, if_.otherwise.as_ref(), label, e.span)
            }
            ExprKind::Try(try_) => {
                let body = self.body(BodyKind::TryAttempt, &[], &try_.body);
                let retry = try_.retry.as_ref().map(|r| self.expr(r, None));
                let backoff = try_.backoff.as_ref().map(|b| self.expr(b, None));
                let otherwise = try_
                    .otherwise
                    .as_ref()
                    .map(|b| self.body(BodyKind::TryElse, &[("error", Some(b.span))], b));
                let label = self.label(label, "try");
                let node = TryNode {
                    body,
                    retry,
                    backoff,
                    otherwise,
                };
                self.push_construct(NodeKind::Try(node), label, e.span)
            }
            ExprKind::Block(block) => self.block(block, label),
            // `check` reports a `where` outside a gate; lower the value alone.
            ExprKind::Where { value, .. } => self.expr(value, label),
        }
    }

    fn push_construct(&mut self, kind: NodeKind, label: Arc<str>, span: Span) -> Expr {
        self.push(kind, label, span, &[])
    }
}

fn constant(v: Value) -> Expr {
    Expr::Const(Arc::new(v))
}
