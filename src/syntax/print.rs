//! Prints the AST back as Flow, every operator parenthesised, blocks indented.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;

/// Writes nodes with the indentation of the block they are in.
struct Printer<'a, 'b> {
    out: &'a mut Formatter<'b>,
    indent: usize,
}

impl Printer<'_, '_> {
    fn newline(&mut self) -> fmt::Result {
        self.out.write_char('\n')?;
        for _ in 0..self.indent {
            self.out.write_str("  ")?;
        }
        Ok(())
    }

    fn stmts(&mut self, stmts: &[Stmt]) -> fmt::Result {
        for (i, stmt) in stmts.iter().enumerate() {
            if i > 0 {
                self.newline()?;
            }
            self.stmt(stmt)?;
        }
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt) -> fmt::Result {
        match &stmt.kind {
            StmtKind::Param { name, default } => {
                write!(self.out, "param {} = ", name.name)?;
                self.expr(default)
            }
            StmtKind::Agent(agent) => {
                write!(
                    self.out,
                    "agent {} = {}",
                    agent.name.name, agent.backend.name
                )?;
                self.args(&agent.args)?;
                if let Some(limit) = &agent.limit {
                    self.out.write_str(" limit ")?;
                    self.expr(limit)?;
                }
                Ok(())
            }
            StmtKind::Flow(flow) => {
                write!(self.out, "flow {}(", flow.name.name)?;
                for (i, p) in flow.params.iter().enumerate() {
                    if i > 0 {
                        self.out.write_str(", ")?;
                    }
                    self.out.write_str(&p.name)?;
                }
                self.out.write_str(") ")?;
                self.block(&flow.body)
            }
            StmtKind::Let { name, value } => {
                write!(self.out, "let {} = ", name.name)?;
                self.expr(value)
            }
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::Output(e) => {
                self.out.write_str("output ")?;
                self.expr(e)
            }
            StmtKind::Budget(budget) => match budget.limit {
                BudgetLimit::Tokens(n) => write!(self.out, "budget tokens = {n}"),
                BudgetLimit::Usd(usd) => write!(self.out, "budget usd = {usd}"),
            },
        }
    }

    fn block(&mut self, block: &Block) -> fmt::Result {
        if block.stmts.is_empty() {
            return self.out.write_str("{ }");
        }
        self.out.write_char('{')?;
        self.indent += 1;
        self.newline()?;
        self.stmts(&block.stmts)?;
        self.indent -= 1;
        self.newline()?;
        self.out.write_char('}')
    }

    fn args(&mut self, args: &[Arg]) -> fmt::Result {
        self.out.write_char('(')?;
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.out.write_str(", ")?;
            }
            if let Some(name) = &arg.name {
                write!(self.out, "{}: ", name.name)?;
            }
            self.expr(&arg.value)?;
        }
        self.out.write_char(')')
    }

    fn list(&mut self, items: &[Expr]) -> fmt::Result {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.write_str(", ")?;
            }
            self.expr(item)?;
        }
        Ok(())
    }

    /// `{` then one `name: value,` line per entry, then `}`.
    fn entries<T>(
        &mut self,
        keyword: &str,
        entries: &[T],
        mut entry: impl FnMut(&mut Self, &T) -> fmt::Result,
    ) -> fmt::Result {
        write!(self.out, "{keyword} {{")?;
        self.indent += 1;
        for e in entries {
            self.newline()?;
            entry(self, e)?;
            self.out.write_char(',')?;
        }
        self.indent -= 1;
        self.newline()?;
        self.out.write_char('}')
    }

    /// `map` or `filter`: `KEYWORD [(index,)] item in list [limit n] { … }`.
    fn map(&mut self, keyword: &str, map: &Map) -> fmt::Result {
        write!(self.out, "{keyword} ")?;
        match &map.index {
            Some(index) => write!(self.out, "({}, {})", index.name, map.item.name)?,
            None => self.out.write_str(&map.item.name)?,
        }
        self.out.write_str(" in ")?;
        self.expr(&map.list)?;
        if let Some(limit) = &map.limit {
            self.out.write_str(" limit ")?;
            self.expr(limit)?;
        }
        self.out.write_char(' ')?;
        self.block(&map.body)
    }

    fn expr(&mut self, expr: &Expr) -> fmt::Result {
        match &expr.kind {
            ExprKind::Null => self.out.write_str("null"),
            ExprKind::Bool(b) => write!(self.out, "{b}"),
            ExprKind::Int(i) => write!(self.out, "{i}"),
            ExprKind::Float(x) => write!(self.out, "{x:?}"),
            ExprKind::Duration(d) => write!(self.out, "{}{}", d.amount, d.unit.suffix()),
            ExprKind::Str(parts) => {
                self.out.write_char('"')?;
                for part in parts {
                    match part {
                        StrPart::Text(text) => write_escaped(self.out, text)?,
                        StrPart::Interp(e) => {
                            self.out.write_str("${")?;
                            self.expr(e)?;
                            self.out.write_char('}')?;
                        }
                    }
                }
                self.out.write_char('"')
            }
            ExprKind::List(items) => {
                self.out.write_char('[')?;
                self.list(items)?;
                self.out.write_char(']')
            }
            ExprKind::Object(entries) => {
                self.out.write_char('{')?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    self.out.write_str(if i > 0 { ", " } else { " " })?;
                    write_key(self.out, &key.name)?;
                    self.out.write_str(": ")?;
                    self.expr(value)?;
                }
                self.out
                    .write_str(if entries.is_empty() { "}" } else { " }" })
            }
            ExprKind::Name(ident) => self.out.write_str(&ident.name),
            ExprKind::Field { base, field } => {
                self.expr(base)?;
                write!(self.out, ".{}", field.name)
            }
            ExprKind::Index { base, index } => {
                self.expr(base)?;
                self.out.write_char('[')?;
                self.expr(index)?;
                self.out.write_char(']')
            }
            ExprKind::Unary { op, operand, .. } => {
                write!(self.out, "({}", op.symbol())?;
                self.expr(operand)?;
                self.out.write_char(')')
            }
            ExprKind::Binary { op, lhs, rhs, .. } => {
                self.out.write_char('(')?;
                self.expr(lhs)?;
                write!(self.out, " {} ", op.symbol())?;
                self.expr(rhs)?;
                self.out.write_char(')')
            }
            ExprKind::Call(call) => {
                self.out.write_str(&call.callee.name)?;
                self.args(&call.args)?;
                for m in &call.modifiers {
                    match &m.kind {
                        ModifierKind::Timeout(e) => {
                            self.out.write_str(" timeout ")?;
                            self.expr(e)?;
                        }
                        ModifierKind::Retry(e) => {
                            self.out.write_str(" retry ")?;
                            self.expr(e)?;
                        }
                        ModifierKind::Backoff(e) => {
                            self.out.write_str(" backoff ")?;
                            self.expr(e)?;
                        }
                        ModifierKind::After(names) => {
                            self.out.write_str(" after ")?;
                            for (i, n) in names.iter().enumerate() {
                                if i > 0 {
                                    self.out.write_str(", ")?;
                                }
                                self.out.write_str(&n.name)?;
                            }
                        }
                    }
                }
                Ok(())
            }
            ExprKind::Map(map) => self.map("map", map),
            ExprKind::Filter(map) => self.map("filter", map),
            ExprKind::Repeat(r) => {
                write!(self.out, "repeat {} = ", r.state.name)?;
                self.expr(&r.init)?;
                self.out.write_str(" until ")?;
                self.expr(&r.until)?;
                self.out.write_str(" max ")?;
                self.expr(&r.max)?;
                self.out.write_char(' ')?;
                self.block(&r.body)?;
                if let Some(block) = &r.otherwise {
                    self.out.write_str(" else ")?;
                    self.block(block)?;
                }
                Ok(())
            }
            ExprKind::Match(m) => {
                self.out.write_str("match ")?;
                self.expr(&m.value)?;
                self.out.write_str(" {")?;
                self.indent += 1;
                for arm in &m.arms {
                    self.newline()?;
                    for (i, pattern) in arm.patterns.iter().enumerate() {
                        if i > 0 {
                            self.out.write_str(" | ")?;
                        }
                        match &pattern.literal {
                            Some(e) => self.expr(e)?,
                            None => self.out.write_char('_')?,
                        }
                    }
                    self.out.write_str(" => ")?;
                    self.expr(&arm.value)?;
                    self.out.write_char(',')?;
                }
                self.indent -= 1;
                self.newline()?;
                self.out.write_char('}')
            }
            ExprKind::Reduce(r) => {
                write!(
                    self.out,
                    "{} ({}, {}) in ",
                    r.keyword(),
                    r.acc.name,
                    r.item.name
                )?;
                self.expr(&r.list)?;
                if let Some(init) = &r.init {
                    self.out.write_str(" from ")?;
                    self.expr(init)?;
                }
                if let Some(limit) = &r.limit {
                    self.out.write_str(" limit ")?;
                    self.expr(limit)?;
                }
                self.out.write_char(' ')?;
                self.block(&r.body)
            }
            ExprKind::Fanout(branches) => self.entries("fanout", branches, |p, b| {
                write!(p.out, "{}: ", b.name.name)?;
                p.expr(&b.value)
            }),
            ExprKind::Gate(checks) => self.entries("gate", checks, |p, c| {
                write!(p.out, "{}: ", c.name.name)?;
                p.expr(&c.value)?;
                if let Some(cond) = &c.cond {
                    p.out.write_str(" where ")?;
                    p.expr(cond)?;
                }
                Ok(())
            }),
            ExprKind::If(if_) => {
                for (i, (cond, block)) in if_.arms.iter().enumerate() {
                    if i > 0 {
                        self.out.write_str(" else ")?;
                    }
                    self.out.write_str("if ")?;
                    self.expr(cond)?;
                    self.out.write_char(' ')?;
                    self.block(block)?;
                }
                if let Some(block) = &if_.otherwise {
                    self.out.write_str(" else ")?;
                    self.block(block)?;
                }
                Ok(())
            }
            ExprKind::Try(try_) => {
                self.out.write_str("try ")?;
                self.block(&try_.body)?;
                if let Some(retry) = &try_.retry {
                    self.out.write_str(" retry ")?;
                    self.expr(retry)?;
                }
                if let Some(backoff) = &try_.backoff {
                    self.out.write_str(" backoff ")?;
                    self.expr(backoff)?;
                }
                if let Some(block) = &try_.otherwise {
                    self.out.write_str(" else ")?;
                    self.block(block)?;
                }
                Ok(())
            }
            ExprKind::Block(block) => self.block(block),
            ExprKind::Where { value, cond } => {
                self.out.write_char('(')?;
                self.expr(value)?;
                self.out.write_str(" where ")?;
                self.expr(cond)?;
                self.out.write_char(')')
            }
        }
    }
}

fn write_escaped(out: &mut Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\t' => out.write_str("\\t")?,
            '\r' => out.write_str("\\r")?,
            '$' => out.write_str("\\$")?,
            c if c.is_control() => write!(out, "\\u{{{:x}}}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

fn write_key(out: &mut Formatter<'_>, key: &str) -> fmt::Result {
    let bare = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !super::is_keyword(key);
    if bare {
        out.write_str(key)
    } else {
        out.write_char('"')?;
        write_escaped(out, key)?;
        out.write_char('"')
    }
}

impl Display for Program {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut p = Printer { out: f, indent: 0 };
        p.stmts(&self.stmts)?;
        if !self.stmts.is_empty() {
            p.out.write_char('\n')?;
        }
        Ok(())
    }
}

impl Display for Stmt {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Printer { out: f, indent: 0 }.stmt(self)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Printer { out: f, indent: 0 }.expr(self)
    }
}

impl Display for Block {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Printer { out: f, indent: 0 }.block(self)
    }
}
