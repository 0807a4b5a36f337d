//! The walk over statements, blocks and expressions: scopes open and close
//! here, and every name is resolved at its use site.

use super::Env;
use crate::agent::Registry;
use crate::ast::{
    AgentDecl, Block, Call, Check, Expr, ExprKind, FlowDecl, Ident, ModifierKind, Program, Stmt,
    StmtKind, StrPart,
};
use crate::diag::Diagnostic;
use crate::source::Span;
use std::sync::Arc;

use super::index::{env_names, EnvName, Index, TopUses, Writer};
use super::scope::{Barrier, Scope};
use super::{
    backend, Binding, BindingId, BindingKind, FlowId, FlowSig, Map, Resolution, Target, Use,
    ValueKind,
};

/// The state of one resolution: scopes, every binding and use so far.
///
/// Names are borrowed from the AST and the [`Env`]: the pass allocates per
/// scope, binding and use, never per name.
pub(super) struct Resolver<'a> {
    pub bindings: Vec<Binding<'a>>,
    /// Whether each binding was used (for the unused-binding warning).
    pub used: Vec<bool>,
    /// Innermost last. `scopes[0]` holds the [`Env`], `scopes[1]` the top level.
    pub scopes: Vec<Scope<'a>>,
    /// Top-level `param`s, which flow bodies and agent configs see wherever declared.
    pub top_params: Map<&'a str, BindingId>,
    /// The binding made for each top-level `param` before the walk, by the
    /// offset of its name.
    early_params: super::OffsetMap<BindingId>,
    pub flows: Vec<FlowSig<'a>>,
    /// Inside an agent declaration's config or `limit`.
    pub in_config: bool,
    /// Inside a top-level `param`'s default.
    pub in_param_default: bool,
    /// Inside a gate check's `where`: its own name and the other checks' names.
    pub gate: Vec<(&'a str, Vec<&'a str>)>,
    /// Bindings used before their `let` (reported as such), by the span of their name.
    pub used_early: std::collections::HashSet<Span, foldhash::fast::FixedState>,
    pub registry: &'a Registry,
    /// Where every use and binding is recorded, batch by batch.
    pub out: Writer<'a>,
    pub top: Vec<TopUses>,
    pub diags: Vec<Diagnostic>,
    /// How many more names "did you mean" may compare (see `Resolver::suggest`).
    pub suggestion_budget: std::cell::Cell<usize>,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(env: &'a Env, program: &Program, index: Arc<Index<'a>>) -> Resolver<'a> {
        let statements = program.stmts.len();
        let bindings = super::bindings_hint(program);
        let mut r = Resolver {
            bindings: Vec::with_capacity(bindings),
            used: Vec::with_capacity(bindings),
            scopes: Vec::new(),
            top_params: Map::default(),
            early_params: Default::default(),
            flows: Vec::new(),
            in_config: false,
            in_param_default: false,
            gate: Vec::new(),
            used_early: Default::default(),
            registry: &env.registry,
            out: Writer::new(index),
            top: Vec::with_capacity(statements),
            suggestion_budget: std::cell::Cell::new(super::explain::SUGGESTION_BUDGET),
            diags: Vec::new(),
        };
        // The ids are those `Index::new` gave the same names.
        let mut root = Scope::new(Barrier::None);
        for name in env_names(env) {
            match name {
                EnvName::Value(name) => {
                    let id = r.new_binding(name, None, BindingKind::Value(ValueKind::Env));
                    root.values.insert(name, id);
                }
                EnvName::Param(name) => {
                    let id = r.new_binding(name, None, BindingKind::Value(ValueKind::EnvParam));
                    root.values.insert(name, id);
                    r.top_params.insert(name, id);
                }
                EnvName::Agent(name) => {
                    let id = r.new_binding(name, None, BindingKind::Agent);
                    root.callables.insert(name, id);
                }
                EnvName::Flow(name, params) => {
                    r.flows.push(FlowSig {
                        name,
                        params: params.iter().map(String::as_str).collect(),
                    });
                    let flow = (r.flows.len() - 1) as FlowId;
                    let id = r.new_binding(name, None, BindingKind::Flow(flow));
                    root.callables.insert(name, id);
                }
            }
        }
        r.scopes.push(root);
        r
    }

    pub(super) fn finish(self) -> Resolution<'a> {
        let index = self.out.index().clone();
        // Publishes the batches still pending.
        drop(self.out);
        Resolution {
            bindings: self.bindings,
            flows: self.flows,
            index,
            top: self.top,
            diagnostics: self.diags,
            cursor: Default::default(),
        }
    }

    fn record(&mut self, ident: &Ident, target: Target<'a>) {
        self.out.record(Use {
            span: ident.span,
            target,
        });
    }

    pub(super) fn program(&mut self, program: &'a Program) {
        let mut top = Scope::new(Barrier::None);
        top.values.reserve(program.stmts.len());
        top.owned.reserve(program.stmts.len());
        self.scopes.push(top);
        for stmt in &program.stmts {
            if let StmtKind::Param { name, .. } = &stmt.kind {
                // Bound (and checked for duplicates) in order below; seen from flows already.
                let id = self.new_binding(
                    &name.name,
                    Some(name.span),
                    BindingKind::Value(ValueKind::Param),
                );
                self.early_params.insert(name.span.start, id);
                match self.top_params.get(name.name.as_str()) {
                    Some(&old)
                        if self.bindings[old as usize].kind
                            != BindingKind::Value(ValueKind::EnvParam) => {}
                    _ => {
                        self.top_params.insert(&name.name, id);
                    }
                }
            }
        }
        self.stmts(&program.stmts, true);
        // Top-level values form the script's result: never "unused".
        self.scopes.pop();
    }

    /// Resolves a block's statements in the innermost scope, hoisting its agents and flows.
    fn stmts(&mut self, stmts: &'a [Stmt], top: bool) {
        let flow_ids = self.hoist(stmts);
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .set_stmts(stmts);
        for (i, (stmt, flow)) in stmts.iter().zip(flow_ids).enumerate() {
            self.scopes.last_mut().expect("a scope is open").at = i;
            if !top {
                self.stmt(stmt, false, flow);
                continue;
            }
            self.out.enter(stmt.span.start);
            let (batch, start) = self.out.mark();
            self.stmt(stmt, true, flow);
            let end = self.out.mark().1;
            self.top.push(TopUses { batch, start, end });
        }
        self.scopes.last_mut().expect("a scope is open").at = stmts.len();
    }

    /// Binds the agents and flows of a block.
    fn hoist(&mut self, stmts: &'a [Stmt]) -> Vec<Option<FlowId>> {
        let mut flow_ids = Vec::with_capacity(stmts.len());
        for stmt in stmts {
            let mut flow_id = None;
            match &stmt.kind {
                StmtKind::Agent(agent) => {
                    self.declare_callable(&agent.name.name, agent.name.span, BindingKind::Agent);
                }
                StmtKind::Flow(flow) => {
                    self.flows.push(FlowSig {
                        name: &flow.name.name,
                        params: flow.params.iter().map(|p| p.name.as_str()).collect(),
                    });
                    let id = (self.flows.len() - 1) as FlowId;
                    self.declare_callable(&flow.name.name, flow.name.span, BindingKind::Flow(id));
                    flow_id = Some(id);
                }
                StmtKind::Param { .. }
                | StmtKind::Let { .. }
                | StmtKind::Expr(_)
                | StmtKind::Output(_)
                | StmtKind::Budget(_) => {}
            }
            flow_ids.push(flow_id);
        }
        flow_ids
    }

    fn stmt(&mut self, stmt: &'a Stmt, top: bool, flow: Option<FlowId>) {
        match &stmt.kind {
            StmtKind::Param { name, default } => {
                let outer = std::mem::replace(&mut self.in_param_default, top);
                self.expr(default);
                self.in_param_default = outer;
                match self.early_params.get(&name.span.start).copied() {
                    Some(id) if top => self.bind_value(id),
                    _ => {
                        self.declare_value(&name.name, name.span, ValueKind::Param);
                    }
                }
            }
            StmtKind::Agent(agent) => self.agent_decl(agent),
            StmtKind::Flow(decl) => {
                if let Some(id) = flow {
                    self.flow_decl(decl, id);
                }
            }
            StmtKind::Let { name, value } => {
                self.expr(value);
                let kind = if top {
                    ValueKind::TopLet
                } else {
                    ValueKind::Let
                };
                self.declare_value(&name.name, name.span, kind);
            }
            StmtKind::Expr(expr) | StmtKind::Output(expr) => self.expr(expr),
            StmtKind::Budget(_) => {}
        }
    }

    fn flow_decl(&mut self, decl: &'a FlowDecl, id: FlowId) {
        self.push_scope(Barrier::Flow);
        for param in &decl.params {
            self.declare_value(&param.name, param.span, ValueKind::FlowParam(id));
        }
        self.block_body(&decl.body);
        self.pop_scope();
    }

    /// A block in its own scope, with `bound` (map items, `error`) bound first.
    fn block(&mut self, block: &'a Block, bound: &[(&'a str, Span, ValueKind)]) {
        self.push_scope(Barrier::None);
        for &(name, span, kind) in bound {
            self.declare_value(name, span, kind);
        }
        self.block_body(block);
        self.pop_scope();
    }

    /// A block's statements in the innermost scope, then the lint on a trailing `let`.
    fn block_body(&mut self, block: &'a Block) {
        self.stmts(&block.stmts, false);
        let Some(Stmt {
            kind: StmtKind::Let { name, .. },
            ..
        }) = block.stmts.last()
        else {
            return;
        };
        let scope = self.scopes.last().expect("a scope is open");
        let Some(&id) = scope.values.get(name.name.as_str()) else {
            return;
        };
        if self.used[id as usize] || name.name.starts_with('_') {
            return;
        }
        self.used[id as usize] = true;
        self.diags.push(super::explain::trailing_let(name));
    }

    fn expr(&mut self, expr: &'a Expr) {
        match &expr.kind {
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Duration(_) => {}
            ExprKind::Str(parts) => {
                for part in parts {
                    if let StrPart::Interp(e) = part {
                        self.expr(e);
                    }
                }
            }
            ExprKind::List(items) => items.iter().for_each(|e| self.expr(e)),
            ExprKind::Object(entries) => entries.iter().for_each(|(_, e)| self.expr(e)),
            ExprKind::Name(name) => self.use_value(name),
            ExprKind::Field { base, .. } => self.expr(base),
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Call(call) => self.call(call),
            ExprKind::Map(map) => {
                self.expr(&map.list);
                if let Some(limit) = &map.limit {
                    self.expr(limit);
                }
                let mut bound = Vec::with_capacity(2);
                if let Some(index) = &map.index {
                    bound.push((index.name.as_str(), index.span, ValueKind::MapIndex));
                }
                bound.push((map.item.name.as_str(), map.item.span, ValueKind::MapItem));
                self.block(&map.body, &bound);
            }
            ExprKind::Filter(map) => {
                self.expr(&map.list);
                if let Some(limit) = &map.limit {
                    self.expr(limit);
                }
                let mut bound = Vec::with_capacity(2);
                if let Some(index) = &map.index {
                    bound.push((index.name.as_str(), index.span, ValueKind::Bound));
                }
                bound.push((map.item.name.as_str(), map.item.span, ValueKind::Bound));
                self.block(&map.body, &bound);
            }
            ExprKind::Repeat(r) => {
                self.expr(&r.init);
                self.expr(&r.max);
                // One binding of the state, seen by the condition, the rounds
                // and the `else`.
                self.push_scope(Barrier::None);
                self.declare_value(&r.state.name, r.state.span, ValueKind::Bound);
                self.expr(&r.until);
                self.block(&r.body, &[]);
                if let Some(block) = &r.otherwise {
                    self.block(block, &[]);
                }
                self.pop_scope();
            }
            ExprKind::Match(m) => {
                self.expr(&m.value);
                for arm in &m.arms {
                    self.expr(&arm.value);
                }
            }
            ExprKind::Reduce(r) => {
                self.expr(&r.list);
                for e in [&r.init, &r.limit].into_iter().flatten() {
                    self.expr(e);
                }
                let bound = [
                    (r.acc.name.as_str(), r.acc.span, ValueKind::Bound),
                    (r.item.name.as_str(), r.item.span, ValueKind::Bound),
                ];
                self.block(&r.body, &bound);
            }
            ExprKind::Fanout(branches) => branches.iter().for_each(|b| self.expr(&b.value)),
            ExprKind::Gate(checks) => self.gate(checks),
            ExprKind::If(if_) => {
                for (cond, block) in &if_.arms {
                    self.expr(cond);
                    self.block(block, &[]);
                }
                if let Some(block) = &if_.otherwise {
                    self.block(block, &[]);
                }
            }
            ExprKind::Try(try_) => {
                self.block(&try_.body, &[]);
                if let Some(retry) = &try_.retry {
                    self.expr(retry);
                }
                if let Some(backoff) = &try_.backoff {
                    self.expr(backoff);
                }
                if let Some(block) = &try_.otherwise {
                    self.block(block, &[("error", block.span, ValueKind::Error)]);
                }
            }
            ExprKind::Block(block) => self.block(block, &[]),
            // The condition is not resolved: its names only make sense once it
            // moves into a gate check, where the check's own name is bound
            // (`check` says where it belongs).
            ExprKind::Where { value, .. } => self.expr(value),
        }
    }

    fn gate(&mut self, checks: &'a [Check]) {
        for check in checks {
            self.expr(&check.value);
            let Some(cond) = &check.cond else {
                continue;
            };
            let others = checks
                .iter()
                .filter(|c| c.name.name != check.name.name)
                .map(|c| c.name.name.as_str())
                .collect();
            self.gate.push((&check.name.name, others));
            self.push_scope(Barrier::None);
            self.declare_value(&check.name.name, check.name.span, ValueKind::GateCheck);
            self.expr(cond);
            self.pop_scope();
            self.gate.pop();
        }
    }

    /// A call: its callee, then its arguments and modifiers, in source
    /// order, which the later stages' lookups follow (`Index::target_near`).
    fn call(&mut self, call: &'a Call) {
        let callee = &call.callee;
        let target = match self.find_callable(&callee.name) {
            None => {
                let diag = self.uncallable(callee);
                self.diags.push(diag);
                Target::Unresolved
            }
            Some(target) if self.in_config && !matches!(target, Target::Function(_)) => {
                let diag = self.not_in_config(callee, target);
                self.diags.push(diag);
                Target::Unresolved
            }
            Some(target) => target,
        };
        self.record(callee, target);
        for arg in &call.args {
            self.expr(&arg.value);
        }
        for modifier in &call.modifiers {
            match &modifier.kind {
                ModifierKind::Timeout(e) | ModifierKind::Retry(e) | ModifierKind::Backoff(e) => {
                    self.expr(e)
                }
                ModifierKind::After(names) => names.iter().for_each(|n| self.use_value(n)),
            }
        }
    }

    /// `agent Name = backend(config) [limit N]`: the backend first (as the
    /// later stages look it up), then the config behind its barrier.
    fn agent_decl(&mut self, agent: &'a AgentDecl) {
        let target = match backend(self.registry, &agent.backend.name) {
            Some(b) => Target::Backend(b),
            None => {
                let diag = self.unknown_backend(&agent.backend);
                self.diags.push(diag);
                Target::Unresolved
            }
        };
        self.record(&agent.backend, target);
        let outer = std::mem::replace(&mut self.in_config, true);
        self.push_scope(Barrier::Config);
        let signature = match target {
            Target::Backend(b) => Some(b.signature()),
            _ => None,
        };
        for arg in &agent.args {
            let key = arg
                .name
                .as_ref()
                .map(|n| n.name.as_str())
                .or_else(|| signature.and_then(|s| s.positional.as_deref()));
            let ty = signature.zip(key).and_then(|(s, k)| s.key(k)).map(|k| k.ty);
            if ty == Some(crate::agent::ConfigType::Agents) {
                self.agent_list(&arg.value);
            } else {
                self.expr(&arg.value);
            }
        }
        if let Some(limit) = &agent.limit {
            self.expr(limit);
        }
        self.pop_scope();
        self.in_config = outer;
    }

    /// `tools: [Search, Calc]`: a list of declared agents, by name.
    fn agent_list(&mut self, list: &'a Expr) {
        let ExprKind::List(items) = &list.kind else {
            self.diags
                .push(super::explain::not_an_agent_list(list.span));
            return;
        };
        for item in items {
            let ExprKind::Name(name) = &item.kind else {
                self.diags
                    .push(super::explain::not_an_agent_list(item.span));
                continue;
            };
            let target = match self.find_callable(&name.name) {
                Some(Target::Binding(id))
                    if self.bindings[id as usize].kind == BindingKind::Agent =>
                {
                    self.used[id as usize] = true;
                    Target::Binding(id)
                }
                _ => {
                    self.diags.push(super::explain::not_a_tool(name));
                    Target::Unresolved
                }
            };
            self.record(name, target);
        }
    }

    /// Resolves a name used as a value, explaining why when it resolves to nothing.
    fn use_value(&mut self, name: &'a Ident) {
        let target = match self.find_value(&name.name) {
            Some(id) => match self.bindings[id as usize].kind {
                // A param's default is evaluated before the script runs.
                BindingKind::Value(ValueKind::TopLet | ValueKind::Env) if self.in_param_default => {
                    let diag = self.not_in_param_default(name, id);
                    self.diags.push(diag);
                    Target::Unresolved
                }
                _ => Target::Binding(id),
            },
            None => {
                if let Some(later) = self.find_pending(&name.name) {
                    self.used_early.insert(later);
                }
                let diag = self.unbound_value(name);
                self.diags.push(diag);
                Target::Unresolved
            }
        };
        self.record(name, target);
    }
}
