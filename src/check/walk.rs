//! The walk over statements, blocks and expressions: what is checked besides
//! names (which [`crate::resolve`] has resolved already).

use std::collections::HashMap;

use crate::ast::{Block, Check, Expr, ExprKind, FlowDecl, Key, Program, Stmt, StmtKind, StrPart};
use crate::diag::{Code, Diagnostic};
use crate::resolve::BindingKind;
use crate::source::Span;

use super::calls::Literal;
use super::Checker;

impl<'a> Checker<'_, 'a> {
    pub(super) fn program(&mut self, program: &'a Program) {
        self.budgets(&program.stmts);
        self.stmts(&program.stmts, true);
    }

    /// A script says each kind of `budget` once.
    fn budgets(&mut self, stmts: &'a [Stmt]) {
        let mut seen: Vec<&'a crate::ast::Ident> = Vec::new();
        for stmt in stmts {
            let StmtKind::Budget(budget) = &stmt.kind else {
                continue;
            };
            match seen.iter().find(|k| k.name == budget.kind.name) {
                Some(first) => self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateBinding,
                        format!("`budget {}` is declared twice", budget.kind.name),
                    )
                    .at(budget.kind.span, "declared again")
                    .at(first.span, "first declared here")
                    .help("keep one of them (`--budget` on the command line can only tighten it)"),
                ),
                None => seen.push(&budget.kind),
            }
        }
    }

    fn stmts(&mut self, stmts: &'a [Stmt], top: bool) {
        for stmt in stmts {
            self.stmt(stmt, top);
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt, top: bool) {
        match &stmt.kind {
            StmtKind::Param { name, default } => {
                if !top {
                    self.misplaced("param", stmt.span, name.span);
                }
                self.expr(default);
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
                self.flow_decl(decl);
            }
            StmtKind::Let { value, .. } => self.expr(value),
            StmtKind::Expr(expr) => self.expr(expr),
            StmtKind::Budget(budget) => {
                if !top {
                    self.misplaced("budget", stmt.span, budget.kind.span);
                }
            }
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

    fn flow_decl(&mut self, decl: &'a FlowDecl) {
        let id =
            self.res
                .binding_at(decl.name.span)
                .and_then(|id| match self.res.binding(id).kind {
                    BindingKind::Flow(flow) => Some(flow),
                    _ => None,
                });
        let outer = std::mem::replace(&mut self.current_flow, id);
        self.block(&decl.body);
        self.current_flow = outer;
    }

    pub(super) fn block(&mut self, block: &'a Block) {
        self.stmts(&block.stmts, false);
    }

    pub(super) fn expr(&mut self, expr: &'a Expr) {
        match &expr.kind {
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Duration(_)
            | ExprKind::Name(_) => {}
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
                self.block(&map.body);
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
                    self.block(block);
                }
                if let Some(block) = &if_.otherwise {
                    self.block(block);
                }
            }
            ExprKind::Try(try_) => {
                self.block(&try_.body);
                if let Some(retry) = &try_.retry {
                    self.expr(retry);
                    self.literal_count(retry);
                }
                if let Some(backoff) = &try_.backoff {
                    self.expr(backoff);
                    self.literal_duration(backoff, "a backoff");
                }
                if let Some(block) = &try_.otherwise {
                    self.block(block);
                }
            }
            ExprKind::Repeat(r) => self.repeat(r),
            ExprKind::Match(m) => self.match_(m),
            ExprKind::Reduce(r) => self.reduce(r),
            ExprKind::Filter(map) => {
                self.expr(&map.list);
                if let Some(limit) = &map.limit {
                    self.expr(limit);
                    self.literal_limit(limit, "a `filter` limit");
                }
                self.block(&map.body);
            }
            ExprKind::Block(block) => self.block(block),
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
            if let Some(cond) = &check.cond {
                self.expr(cond);
            }
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

    /// Checks a literal `limit` (a `map`'s, an agent's): a whole number of at least 1.
    pub(super) fn literal_limit(&mut self, expr: &Expr, what: &str) {
        self.at_least_one(
            expr,
            what,
            "would never let a task run",
            "write how many tasks may run at once, e.g. `limit 4`",
        );
    }

    /// Checks a literal count that must be a whole number of at least 1.
    pub(super) fn at_least_one(&mut self, expr: &Expr, what: &str, zero: &str, help: &str) {
        let problem = match Literal::of(expr) {
            Literal::Int(n) if n >= 1 => return,
            Literal::Int(n) => format!("`{n}` {zero}"),
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
            .help(help.to_string()),
        );
    }
}

fn key_ident(key: &Key) -> (&str, Span) {
    (key.name.as_str(), key.span)
}
