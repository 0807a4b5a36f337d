//! Moves every span of a parsed fragment by an offset: the statements of a
//! script parsed in pieces (see `parse_in_parallel`) point into the whole text.

use crate::ast::*;
use crate::source::Span;

pub(super) fn stmts(stmts: &mut [Stmt], by: u32) {
    for stmt in stmts {
        self::stmt(stmt, by);
    }
}

fn span(s: &mut Span, by: u32) {
    s.start += by;
    s.end += by;
}

fn ident(i: &mut Ident, by: u32) {
    span(&mut i.span, by);
}

fn block(b: &mut Block, by: u32) {
    span(&mut b.span, by);
    stmts(&mut b.stmts, by);
}

fn args(args: &mut [Arg], by: u32) {
    for arg in args {
        if let Some(name) = &mut arg.name {
            ident(name, by);
        }
        expr(&mut arg.value, by);
    }
}

fn stmt(s: &mut Stmt, by: u32) {
    span(&mut s.span, by);
    match &mut s.kind {
        StmtKind::Param { name, default } => {
            ident(name, by);
            expr(default, by);
        }
        StmtKind::Agent(agent) => {
            ident(&mut agent.name, by);
            ident(&mut agent.backend, by);
            args(&mut agent.args, by);
            if let Some(limit) = &mut agent.limit {
                expr(limit, by);
            }
        }
        StmtKind::Flow(flow) => {
            ident(&mut flow.name, by);
            flow.params.iter_mut().for_each(|p| ident(p, by));
            block(&mut flow.body, by);
        }
        StmtKind::Let { name, value } => {
            ident(name, by);
            expr(value, by);
        }
        StmtKind::Budget(budget) => {
            ident(&mut budget.kind, by);
            span(&mut budget.amount, by);
        }
        StmtKind::Expr(e) | StmtKind::Output(e) => expr(e, by),
    }
}

fn expr(e: &mut Expr, by: u32) {
    span(&mut e.span, by);
    match &mut e.kind {
        ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Duration(_) => {}
        ExprKind::Str(parts) => {
            for part in parts {
                if let StrPart::Interp(e) = part {
                    expr(e, by);
                }
            }
        }
        ExprKind::List(items) => items.iter_mut().for_each(|e| expr(e, by)),
        ExprKind::Object(entries) => {
            for (key, value) in entries {
                span(&mut key.span, by);
                expr(value, by);
            }
        }
        ExprKind::Name(i) => ident(i, by),
        ExprKind::Field { base, field } => {
            expr(base, by);
            ident(field, by);
        }
        ExprKind::Index { base, index } => {
            expr(base, by);
            expr(index, by);
        }
        ExprKind::Unary {
            op_span, operand, ..
        } => {
            span(op_span, by);
            expr(operand, by);
        }
        ExprKind::Binary {
            op_span, lhs, rhs, ..
        } => {
            span(op_span, by);
            expr(lhs, by);
            expr(rhs, by);
        }
        ExprKind::Call(call) => {
            ident(&mut call.callee, by);
            args(&mut call.args, by);
            for m in &mut call.modifiers {
                span(&mut m.span, by);
                match &mut m.kind {
                    ModifierKind::Timeout(e)
                    | ModifierKind::Retry(e)
                    | ModifierKind::Backoff(e) => expr(e, by),
                    ModifierKind::After(names) => names.iter_mut().for_each(|n| ident(n, by)),
                }
            }
        }
        ExprKind::Repeat(r) => {
            ident(&mut r.state, by);
            for e in [&mut r.init, &mut r.until, &mut r.max] {
                expr(e, by);
            }
            block(&mut r.body, by);
            if let Some(b) = &mut r.otherwise {
                block(b, by);
            }
        }
        ExprKind::Match(m) => {
            expr(&mut m.value, by);
            for arm in &mut m.arms {
                span(&mut arm.span, by);
                for p in &mut arm.patterns {
                    span(&mut p.span, by);
                    if let Some(e) = &mut p.literal {
                        expr(e, by);
                    }
                }
                expr(&mut arm.value, by);
            }
        }
        ExprKind::Reduce(r) => {
            ident(&mut r.acc, by);
            ident(&mut r.item, by);
            expr(&mut r.list, by);
            for e in [&mut r.init, &mut r.limit].into_iter().flatten() {
                expr(e, by);
            }
            block(&mut r.body, by);
        }
        ExprKind::Map(map) | ExprKind::Filter(map) => {
            if let Some(index) = &mut map.index {
                ident(index, by);
            }
            ident(&mut map.item, by);
            expr(&mut map.list, by);
            if let Some(limit) = &mut map.limit {
                expr(limit, by);
            }
            block(&mut map.body, by);
        }
        ExprKind::Fanout(branches) => {
            for b in branches {
                ident(&mut b.name, by);
                expr(&mut b.value, by);
            }
        }
        ExprKind::Gate(checks) => {
            for c in checks {
                ident(&mut c.name, by);
                expr(&mut c.value, by);
                if let Some(cond) = &mut c.cond {
                    expr(cond, by);
                }
            }
        }
        ExprKind::If(if_) => {
            for (cond, body) in &mut if_.arms {
                expr(cond, by);
                block(body, by);
            }
            if let Some(b) = &mut if_.otherwise {
                block(b, by);
            }
        }
        ExprKind::Try(try_) => {
            block(&mut try_.body, by);
            for e in [&mut try_.retry, &mut try_.backoff].into_iter().flatten() {
                expr(e, by);
            }
            if let Some(b) = &mut try_.otherwise {
                block(b, by);
            }
        }
        ExprKind::Block(b) => block(b, by),
        ExprKind::Where { value, cond } => {
            expr(value, by);
            expr(cond, by);
        }
    }
}
