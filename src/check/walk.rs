//! The walk over statements, blocks and expressions: what is checked besides
//! names (which [`crate::resolve`] has resolved already).

use crate::ast::{Block, Check, Expr, ExprKind, FlowDecl, Key, Program, Stmt, StmtKind, StrPart};
use crate::diag::{Code, Diagnostic};
use crate::resolve::BindingKind;
use crate::source::Span;

use super::calls::Literal;
use super::contracts::literal_text;
use super::shapes::{Field, Kind, ObjectShape, Shape};
use super::{Checker, HashMap};

impl<'a> Checker<'_, 'a> {
    pub(super) fn program(&mut self, program: &'a Program) {
        self.declared_contracts(&program.stmts);
        self.budgets(&program.stmts);
        self.outputs(&program.stmts);
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
                    .label(first.span, "first declared here")
                    .help("keep one of them (`--budget` on the command line can only tighten it)"),
                ),
                None => seen.push(&budget.kind),
            }
        }
    }

    /// Checks statements; the shape of the last when it is an expression.
    fn stmts(&mut self, stmts: &'a [Stmt], top: bool) -> Shape {
        let mut last = Shape::ANY;
        for stmt in stmts {
            last = self.stmt(stmt, top);
        }
        last
    }

    /// Checks a statement; its shape when it is an expression.
    fn stmt(&mut self, stmt: &'a Stmt, top: bool) -> Shape {
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
            StmtKind::Let { name, value } => {
                let shape = self.expr(value);
                self.bind_shape(name.span, shape);
            }
            StmtKind::Expr(expr) => return self.expr(expr),
            StmtKind::Output(expr) => {
                if !top {
                    self.misplaced_output(stmt.span);
                }
                return self.expr(expr);
            }
            StmtKind::Budget(budget) => {
                if !top {
                    self.misplaced("budget", stmt.span, budget.kind.span);
                }
            }
        }
        Shape::ANY
    }

    /// `output` inside a flow or a block: their value is their last expression.
    fn misplaced_output(&mut self, stmt: Span) {
        let keyword = Span::new(
            stmt.start as usize,
            (stmt.start as usize + 6).min(stmt.end as usize),
        );
        self.diags.push(
            Diagnostic::error(
                Code::MisplacedDeclaration,
                "`output` declares what the script returns: it is only allowed at the top level of a script",
            )
            .at(keyword, "not at the top level")
            .help("the value of a flow or a block is its last expression: write the expression alone, as the last statement"),
        );
    }

    /// A script says what it returns at most once.
    fn outputs(&mut self, stmts: &'a [Stmt]) {
        let mut first: Option<Span> = None;
        for stmt in stmts {
            if !matches!(stmt.kind, StmtKind::Output(_)) {
                continue;
            }
            let keyword = Span::new(
                stmt.span.start as usize,
                (stmt.span.start as usize + 6).min(stmt.span.end as usize),
            );
            match first {
                Some(earlier) => self.diags.push(
                    Diagnostic::error(Code::DuplicateBinding, "`output` is declared twice")
                        .at(keyword, "declared again")
                        .label(earlier, "first declared here")
                        .help("a script returns one value: keep one `output`, with an object if it returns several things (`output { summary: s, score: r.score }`)"),
                ),
                None => first = Some(keyword),
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

    /// Checks a block; the shape of its value.
    pub(super) fn block(&mut self, block: &'a Block) -> Shape {
        self.stmts(&block.stmts, false)
    }

    /// Checks an expression; what is known of its value (see `shapes.rs`).
    pub(super) fn expr(&mut self, expr: &'a Expr) -> Shape {
        match &expr.kind {
            ExprKind::Null => Shape::literal(Kind::Null),
            ExprKind::Bool(_) => Shape::literal(Kind::Bool),
            ExprKind::Int(_) => Shape::literal(Kind::Number { integer: true }),
            ExprKind::Float(_) | ExprKind::Duration(_) => {
                Shape::literal(Kind::Number { integer: false })
            }
            ExprKind::Name(name) => self.name_shape(name),
            ExprKind::Str(parts) => {
                for part in parts {
                    if let StrPart::Interp(e) = part {
                        self.expr(e);
                    }
                }
                Shape::literal(Kind::String {
                    choices: literal_text(expr).map(|text| std::rc::Rc::from([text])),
                })
            }
            ExprKind::List(items) => {
                let shapes: Vec<Shape> = items.iter().map(|e| self.expr(e)).collect();
                Shape::literal(Kind::List(std::rc::Rc::new(Shape::join(shapes))))
            }
            ExprKind::Object(entries) => {
                self.duplicate_keys(
                    entries.iter().map(|(k, _)| key_ident(k)),
                    "key",
                    "in this object",
                );
                let fields = entries
                    .iter()
                    .map(|(k, e)| (k.name.as_str(), self.expr(e)))
                    .collect();
                literal_object(fields)
            }
            ExprKind::Field { base, field } => {
                let shape = self.expr(base);
                self.field_shape(&shape, base, field)
            }
            ExprKind::Index { base, index } => {
                let shape = self.expr(base);
                self.expr(index);
                self.index_shape(&shape, base, index)
            }
            ExprKind::Unary {
                op,
                op_span,
                operand,
            } => {
                let shape = self.expr(operand);
                self.unary_shape(*op, *op_span, &shape, operand)
            }
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                let l = self.expr(lhs);
                let r = self.expr(rhs);
                self.binary_shape(*op, *op_span, &l, lhs, &r, rhs)
            }
            ExprKind::Call(call) => self.call(call, expr.span),
            ExprKind::Map(map) => {
                let list = self.expr(&map.list);
                if let Some(limit) = &map.limit {
                    self.expr(limit);
                    self.literal_limit(limit, "a `map` limit");
                }
                self.bind_shape(map.item.span, item_shape(&list));
                let body = self.block(&map.body);
                Shape::literal(Kind::List(std::rc::Rc::new(body)))
            }
            ExprKind::Fanout(branches) => {
                self.duplicate_keys(
                    branches.iter().map(|b| (b.name.name.as_str(), b.name.span)),
                    "branch",
                    "in this fanout",
                );
                let fields = branches
                    .iter()
                    .map(|b| (b.name.name.as_str(), self.expr(&b.value)))
                    .collect();
                literal_object(fields)
            }
            ExprKind::Gate(checks) => {
                self.gate(checks);
                Shape::ANY
            }
            ExprKind::If(if_) => {
                let mut arms = Vec::with_capacity(if_.arms.len() + 1);
                for (cond, block) in &if_.arms {
                    let shape = self.expr(cond);
                    self.condition(&shape, cond);
                    arms.push(self.block(block));
                }
                match &if_.otherwise {
                    Some(block) => {
                        arms.push(self.block(block));
                        Shape::join(arms)
                    }
                    // Without `else`, the value may be null.
                    None => Shape::ANY,
                }
            }
            ExprKind::Try(try_) => {
                let mut arms = vec![self.block(&try_.body)];
                if let Some(retry) = &try_.retry {
                    self.expr(retry);
                    self.literal_count(retry);
                }
                if let Some(backoff) = &try_.backoff {
                    self.expr(backoff);
                    self.literal_duration(backoff, "a backoff");
                }
                if let Some(block) = &try_.otherwise {
                    arms.push(self.block(block));
                }
                Shape::join(arms)
            }
            ExprKind::Repeat(r) => {
                self.repeat(r);
                Shape::ANY
            }
            ExprKind::Match(m) => self.match_(m),
            ExprKind::Reduce(r) => {
                self.reduce(r);
                Shape::ANY
            }
            ExprKind::Filter(map) => {
                let list = self.expr(&map.list);
                if let Some(limit) = &map.limit {
                    self.expr(limit);
                    self.literal_limit(limit, "a `filter` limit");
                }
                self.bind_shape(map.item.span, item_shape(&list));
                self.block(&map.body);
                match list.kind {
                    Kind::List(_) => list,
                    _ => Shape::ANY,
                }
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
                Shape::ANY
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
        // A call or an object has a few keys: compared on the stack, with no
        // map made (and no allocation) per call; past `FEW`, in a map.
        const FEW: usize = 8;
        let mut few = [("", Span::default()); FEW];
        let mut count = 0;
        let mut many: HashMap<&str, Span> = HashMap::default();
        for (name, span) in keys {
            let first = if count <= FEW {
                few[..count].iter().find(|k| k.0 == name).map(|k| k.1)
            } else {
                many.get(name).copied()
            };
            match first {
                Some(first) => self.diags.push(
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
                    if count < FEW {
                        few[count] = (name, span);
                    } else {
                        if count == FEW {
                            many.extend(few);
                        }
                        many.insert(name, span);
                    }
                    count += 1;
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

/// The shape of a literal object or a fanout: exactly these fields (the last
/// of a key given twice, as at run time).
fn literal_object(entries: Vec<(&str, Shape)>) -> Shape {
    let mut fields: Vec<Field> = Vec::with_capacity(entries.len());
    for (name, shape) in entries {
        fields.retain(|f| f.name != name);
        fields.push(Field {
            name: name.to_string(),
            shape,
            required: true,
        });
    }
    Shape::literal(Kind::Object(std::rc::Rc::new(ObjectShape {
        fields,
        closed: true,
        rest: Shape::ANY,
    })))
}

/// The shape of an item of a list of this shape.
fn item_shape(list: &Shape) -> Shape {
    match &list.kind {
        Kind::List(item) => (**item).clone(),
        _ => Shape::ANY,
    }
}
