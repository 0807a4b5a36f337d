//! The walk over statements, blocks and expressions: scopes open and close here,
//! and every value name is resolved at its use site.

use std::collections::HashMap;

use crate::ast::{
    Block, Check, Expr, ExprKind, FlowDecl, Ident, Key, Program, Stmt, StmtKind, StrPart,
};
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

use super::calls::Literal;
use super::scope::{closest, Barrier, CallableKind, FlowId, ValueKind};
use super::{Checker, FlowSig};

impl<'a> Checker<'a> {
    pub(super) fn program(&mut self, program: &'a Program) {
        self.push_scope(Barrier::None);
        for stmt in &program.stmts {
            if let StmtKind::Param { name, .. } = &stmt.kind {
                // Bound (and checked for duplicates) in order below; seen from flows already.
                let id = self.bindings.len();
                self.bindings.push(super::scope::Binding {
                    name: &name.name,
                    span: Some(name.span),
                    kind: super::scope::BindingKind::Value(ValueKind::Param),
                    used: true,
                });
                self.top_params.entry(&name.name).or_insert(id);
            }
        }
        self.stmts(&program.stmts, true);
        // Top-level values form the script's result: never "unused".
        self.scopes.pop();
    }

    /// Checks a block's statements in the innermost scope, hoisting its agents and flows.
    fn stmts(&mut self, stmts: &'a [Stmt], top: bool) {
        let flow_ids = self.hoist(stmts);
        for (stmt, flow) in stmts.iter().zip(flow_ids) {
            self.stmt(stmt, top, flow);
        }
    }

    /// Binds the agents and flows of a block, and notes the values it binds later.
    fn hoist(&mut self, stmts: &'a [Stmt]) -> Vec<Option<FlowId>> {
        let mut flow_ids = Vec::with_capacity(stmts.len());
        for stmt in stmts {
            let mut flow_id = None;
            match &stmt.kind {
                StmtKind::Agent(agent) => {
                    self.declare_callable(&agent.name.name, agent.name.span, CallableKind::Agent);
                }
                StmtKind::Flow(flow) => {
                    self.flows.push(FlowSig {
                        name: &flow.name.name,
                        params: flow.params.iter().map(|p| p.name.as_str()).collect(),
                    });
                    let id = self.flows.len() - 1;
                    self.declare_callable(&flow.name.name, flow.name.span, CallableKind::Flow(id));
                    flow_id = Some(id);
                }
                StmtKind::Param { name, .. } | StmtKind::Let { name, .. } => {
                    let scope = self.scopes.last_mut().expect("a scope is open");
                    scope.pending.entry(&name.name).or_insert(name.span);
                }
                StmtKind::Expr(_) => {}
            }
            flow_ids.push(flow_id);
        }
        flow_ids
    }

    fn stmt(&mut self, stmt: &'a Stmt, top: bool, flow: Option<FlowId>) {
        match &stmt.kind {
            StmtKind::Param { name, default } => {
                if !top {
                    self.misplaced("param", stmt.span, name.span);
                }
                self.expr(default);
                self.declare_value(&name.name, name.span, ValueKind::Param);
            }
            StmtKind::Agent(agent) => {
                if !top {
                    self.misplaced("agent", stmt.span, agent.name.span);
                }
                self.agent_decl(agent);
            }
            StmtKind::Flow(decl) => {
                if !top {
                    self.misplaced("flow", stmt.span, decl.name.span);
                }
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
            StmtKind::Expr(expr) => self.expr(expr),
        }
    }

    fn misplaced(&mut self, what: &str, stmt: Span, name: Span) {
        // Point at the keyword and the name, not at a whole flow body.
        let head = Span::new(stmt.start as usize, name.end.max(stmt.start) as usize);
        self.diags.push(
            Diagnostic::error(
                Code::MisplacedDeclaration,
                format!("`{what}` declarations are only allowed at the top level of a script"),
            )
            .at(head, "declared inside a block")
            .help("move it to the top level of the script"),
        );
    }

    fn flow_decl(&mut self, decl: &'a FlowDecl, id: FlowId) {
        let outer = self.current_flow.replace(id);
        self.push_scope(Barrier::Flow);
        for param in &decl.params {
            self.declare_value(&param.name, param.span, ValueKind::FlowParam(id));
        }
        self.block_body(&decl.body);
        self.pop_scope();
        self.current_flow = outer;
    }

    /// A block in its own scope, with `bound` (map items, `error`) bound first.
    pub(super) fn block(&mut self, block: &'a Block, bound: &[(&'a str, Span, ValueKind)]) {
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
        if self.bindings[id].used || name.name.starts_with('_') {
            return;
        }
        self.bindings[id].used = true;
        self.diags.push(
            Diagnostic::warning(
                Code::UnusedBinding,
                format!("`{}` is bound by the block's last statement, so it is never used", name.name),
            )
            .at(name.span, "never used")
            .help(format!(
                "a block's value is its last expression: drop `let {} =` to make it the block's value",
                name.name
            )),
        );
    }

    pub(super) fn expr(&mut self, expr: &'a Expr) {
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
            ExprKind::Object(entries) => {
                self.duplicate_keys(
                    entries.iter().map(|(k, _)| key_ident(k)),
                    "key",
                    "in this object",
                );
                entries.iter().for_each(|(_, e)| self.expr(e));
            }
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
            ExprKind::Call(call) => self.call(call, expr.span),
            ExprKind::Map(map) => {
                self.expr(&map.list);
                if let Some(limit) = &map.limit {
                    self.expr(limit);
                    self.literal_limit(limit, "a `map` limit");
                }
                let mut bound = Vec::with_capacity(2);
                if let Some(index) = &map.index {
                    bound.push((index.name.as_str(), index.span, ValueKind::MapIndex));
                }
                bound.push((map.item.name.as_str(), map.item.span, ValueKind::MapItem));
                self.block(&map.body, &bound);
            }
            ExprKind::Fanout(branches) => {
                self.duplicate_keys(
                    branches.iter().map(|b| (b.name.name.as_str(), b.name.span)),
                    "branch",
                    "in this fanout",
                );
                branches.iter().for_each(|b| self.expr(&b.value));
            }
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
                    self.literal_count(retry);
                }
                if let Some(backoff) = &try_.backoff {
                    self.expr(backoff);
                    self.literal_duration(backoff, "a backoff");
                }
                if let Some(block) = &try_.otherwise {
                    self.block(block, &[("error", block.span, ValueKind::Error)]);
                }
            }
            ExprKind::Block(block) => self.block(block, &[]),
            ExprKind::Where { value, cond } => {
                self.diags.push(
                    Diagnostic::error(
                        Code::WhereOutsideGate,
                        "`where` can only follow a check inside a `gate`",
                    )
                    .at(cond.span, "this condition is not part of a gate check")
                    .help("`where` conditions belong to a gate check: `gate { name: expr where cond }`"),
                );
                // The condition is not checked: its names only make sense once it
                // moves into a gate check, where the check's own name is bound.
                self.expr(value);
            }
        }
    }

    fn gate(&mut self, checks: &'a [Check]) {
        self.duplicate_keys(
            checks.iter().map(|c| (c.name.name.as_str(), c.name.span)),
            "check",
            "in this gate",
        );
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

    /// Reports keys given twice, pointing back at the first.
    pub(super) fn duplicate_keys<'n>(
        &mut self,
        keys: impl Iterator<Item = (&'n str, Span)>,
        what: &str,
        place: &str,
    ) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (name, span) in keys {
            match seen.get(name) {
                Some(&first) => self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateKey,
                        format!("{what} `{name}` appears twice {place}"),
                    )
                    .at(span, "given again here")
                    .label(first, "first given here")
                    .help(format!(
                        "remove one of them, or rename it: each {what} needs its own name"
                    )),
                ),
                None => {
                    seen.insert(name, span);
                }
            }
        }
    }

    /// Resolves a name used as a value, explaining why when it resolves to nothing.
    pub(super) fn use_value(&mut self, name: &'a Ident) {
        if self.find_value(&name.name).is_some() {
            return;
        }
        if let Some(later) = self.find_pending(&name.name) {
            self.used_early.insert(later);
        }
        let diag = self.unbound_value(name);
        self.diags.push(diag);
    }

    fn unbound_value(&self, name: &Ident) -> Diagnostic {
        let n = &name.name;
        if self.in_config {
            let mut d = Diagnostic::error(Code::UndefinedName, format!("`{n}` can't be used in an agent's config"))
                .at(name.span, "not available here")
                .help("an agent's config is evaluated once, before the script runs: it may use `param`s, literals and built-in functions, nothing bound by `let`");
            if self.hidden_top_value(n).is_none()
                && self.any_value(n).is_none()
                && self.find_callable(n).is_none()
            {
                d.message = format!("cannot find `{n}`");
                d = d.help(match closest(n, self.top_params.keys().copied()) {
                    Some(s) => format!("did you mean `{s}`? an agent's config may only use `param`s, literals and built-in functions"),
                    None => "an agent's config may only use `param`s, literals and built-in functions".to_string(),
                });
            }
            return d;
        }
        if let Some(callee) = self.find_callable(n) {
            let what = self.describe_callable(callee);
            let example = match callee {
                super::scope::Callee::Flow(flow) => {
                    let args: Vec<String> = self.flows[flow]
                        .params
                        .iter()
                        .map(|p| format!("{p}: …"))
                        .collect();
                    format!("{n}({})", args.join(", "))
                }
                super::scope::Callee::Agent => format!("{n}(\"…\")"),
                _ => format!("{n}(…)"),
            };
            return Diagnostic::error(Code::NotAValue, format!("`{n}` is {what}, not a value"))
                .at(name.span, "used as a value")
                .help(format!("call it to get a value: `{example}`"));
        }
        if let Some(later) = self.find_pending(n) {
            let d = Diagnostic::error(
                Code::UsedBeforeBound,
                format!("`{n}` is used before it is bound"),
            );
            if later.start < name.span.start {
                return d
                    .at(name.span, "used in its own definition")
                    .label(later, "bound here, once its value is computed")
                    .help("a `let` can only use names bound before it");
            }
            return d
                .at(name.span, "used here")
                .label(later, "bound here, later")
                .help(format!(
                    "move the `let {n} = …` above this use: a script reads from top to bottom"
                ));
        }
        if self.barrier() == Barrier::Flow {
            if let Some(span) = self.hidden_top_value(n) {
                let mut d = Diagnostic::error(Code::UndefinedName, format!("flow bodies can't see the top-level value `{n}`"))
                    .at(name.span, "not visible inside a flow")
                    .help(format!("pass it to the flow as a parameter: add `{n}` to the flow's parameters and call it with `{n}: {n}`"));
                if let Some(span) = span {
                    d = d.label(span, "bound here, outside the flow");
                }
                return d;
            }
        }
        if let Some((own, others)) = self.gate.last() {
            if others.iter().any(|o| *o == n) {
                return Diagnostic::error(Code::UndefinedName, format!("a `where` condition can't see the other check `{n}`"))
                    .at(name.span, "another check of this gate")
                    .help(format!(
                        "a check's `where` sees only its own result, here `{own}`; checks run in parallel, so one can't wait for another"
                    ));
            }
        }
        if n == "error" {
            return Diagnostic::error(Code::ErrorOutsideTry, "`error` is only bound in the `else` block of a `try`")
                .at(name.span, "not inside a `try … else`")
                .help("catch a failure with `try { … } else { … error.message … }`, where `error` holds `{ task, message }`");
        }
        let candidates = self.visible_values();
        let d = Diagnostic::error(
            Code::UndefinedName,
            format!("cannot find `{n}` in this scope"),
        )
        .at(name.span, "unknown name");
        // `${HOME}` in a string: most likely meant for the shell.
        let env_like = n.len() > 1
            && n.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if env_like && closest(n, self.visible_values()).is_none() {
            return d.help(format!(
                "`${{…}}` inserts a Flow value; for the environment variable write `$ {n}` in an `sh` command (or `\\${{{n}}}`), or `env(\"{n}\")` in Flow"
            ).replace("$ ", "$"));
        }
        match closest(n, candidates) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("bind it before using it, e.g. `let {n} = …`, or declare `param {n} = …` at the top level")),
        }
    }

    /// Checks a literal `limit` (a `map`'s, an agent's): a whole number of at least 1.
    pub(super) fn literal_limit(&mut self, expr: &Expr, what: &str) {
        let problem = match Literal::of(expr) {
            Literal::Int(n) if n >= 1 => return,
            Literal::Int(n) => format!("`{n}` would never let a task run"),
            Literal::Float(_) => "not a whole number".to_string(),
            Literal::Duration => "a duration, not a count".to_string(),
            Literal::Other(kind) => format!("{kind}, not a number"),
            Literal::Computed => return,
        };
        self.diags.push(
            Diagnostic::error(
                Code::BadLiteral,
                format!("{what} must be a whole number of at least 1"),
            )
            .at(expr.span, problem)
            .help("write how many tasks may run at once, e.g. `limit 4`"),
        );
    }
}

fn key_ident(key: &Key) -> (&str, Span) {
    (key.name.as_str(), key.span)
}
