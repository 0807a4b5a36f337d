//! Pest pairs to the owned AST: operator precedence through pest's Pratt
//! parser, literals decoded, names checked against the keywords, and a cap on
//! the height of the tree so no later stage can overflow its stack.

use std::cell::{Cell, RefCell};
use std::sync::LazyLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::Rule;
use crate::ast::*;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

/// The tallest tree the parser builds, counted in nested expressions and blocks.
pub const MAX_HEIGHT: usize = 128;

/// Building stopped: the tree would be too tall. The reason is in `errors`.
pub struct Stop;

pub(super) type Built<T> = Result<T, Stop>;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    let infix = |rule| Op::infix(rule, Assoc::Left);
    PrattParser::new()
        .op(infix(Rule::or))
        .op(infix(Rule::and))
        .op(infix(Rule::eq) | infix(Rule::ne))
        .op(infix(Rule::lt) | infix(Rule::le) | infix(Rule::gt) | infix(Rule::ge))
        .op(infix(Rule::add) | infix(Rule::sub))
        .op(infix(Rule::mul) | infix(Rule::div) | infix(Rule::rem))
        .op(Op::prefix(Rule::neg) | Op::prefix(Rule::not))
        .op(Op::postfix(Rule::field) | Op::postfix(Rule::index))
});

pub struct Builder<'a> {
    pub(super) text: &'a str,
    /// Where `text` starts in the script: a piece of a big script is built
    /// with the spans of the whole (see `parse_in_parallel`).
    pub(super) offset: u32,
    /// The comments of `text` as byte ranges, in order (from `scan`).
    comments: &'a [(u32, u32)],
    pub(super) errors: RefCell<Vec<Diagnostic>>,
    depth: Cell<usize>,
}

/// The pairs of `pair` that carry meaning: keywords are dropped.
pub(super) fn parts<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|p| {
        !matches!(
            p.as_rule(),
            Rule::kw_param
                | Rule::kw_agent
                | Rule::kw_flow
                | Rule::kw_let
                | Rule::kw_map
                | Rule::kw_in
                | Rule::kw_limit
                | Rule::kw_fanout
                | Rule::kw_gate
                | Rule::kw_where
                | Rule::kw_if
                | Rule::kw_else
                | Rule::kw_try
                | Rule::kw_retry
                | Rule::kw_backoff
                | Rule::kw_timeout
                | Rule::kw_after
                | Rule::kw_repeat
                | Rule::kw_until
                | Rule::kw_max
                | Rule::kw_match
                | Rule::kw_reduce
                | Rule::kw_fold
                | Rule::kw_from
                | Rule::kw_filter
                | Rule::kw_budget
                | Rule::kw_output
                | Rule::EOI
        )
    })
}

impl<'a> Builder<'a> {
    /// A builder for `text`, which starts at byte `offset` of the script;
    /// `comments` are those of `text`, relative to it.
    pub fn new(text: &'a str, offset: u32, comments: &'a [(u32, u32)]) -> Builder<'a> {
        Builder {
            text,
            offset,
            comments,
            errors: RefCell::new(Vec::new()),
            depth: Cell::new(0),
        }
    }

    /// The span of a pair without the whitespace and comments pest's implicit
    /// skipping leaves at its end (before an optional part that did not match).
    pub(super) fn span_of(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let (start, mut end) = (s.start(), s.end());
        // Only rules that end with an optional or repeated part can carry trivia
        // (a string's text may end with spaces that belong to it).
        let trailing = matches!(
            pair.as_rule(),
            Rule::param_decl
                | Rule::let_stmt
                | Rule::agent_decl
                | Rule::where_expr
                | Rule::expr
                | Rule::call
                | Rule::if_expr
                | Rule::try_expr
                | Rule::repeat_expr
                | Rule::arm
                | Rule::after
                | Rule::mod_arg
                | Rule::timeout
                | Rule::retry
                | Rule::backoff
                | Rule::try_retry
                | Rule::try_backoff
                | Rule::check
                | Rule::branch
                | Rule::entry
                | Rule::arg
        );
        if !trailing {
            return self.span(start, end);
        }
        let bytes = self.text.as_bytes();
        loop {
            while end > start && matches!(bytes[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
                end -= 1;
            }
            // A comment holding the last byte is trivia too: continue before it.
            let i = self.comments.partition_point(|c| (c.0 as usize) < end);
            match i.checked_sub(1).map(|i| self.comments[i]) {
                Some((from, to)) if from as usize >= start && end <= to as usize => {
                    end = from as usize;
                }
                _ => return self.span(start, end),
            }
        }
    }

    /// The span of bytes `start..end` of `text`, in the whole script.
    fn span(&self, start: usize, end: usize) -> Span {
        let at = self.offset as usize;
        Span::new(at + start, at + end)
    }

    /// The errors found while building (bad literals, keywords as names, …).
    pub fn into_errors(self) -> Vec<Diagnostic> {
        self.errors.into_inner()
    }

    pub(super) fn error(&self, d: Diagnostic) {
        self.errors.borrow_mut().push(d);
    }

    /// Counts `levels` more levels of tree for the duration of `f`.
    fn nested<T>(&self, levels: usize, span: Span, f: impl FnOnce() -> Built<T>) -> Built<T> {
        let depth = self.depth.get() + levels;
        if depth > MAX_HEIGHT {
            self.error(
                Diagnostic::error(
                    Code::TooDeep,
                    "this expression is too deep: too many operators in a row, or constructs inside each other",
                )
                    .at(
                        Span::new(span.start as usize, span.start as usize + 1),
                        format!("more than {MAX_HEIGHT} levels of operators and nested constructs"),
                    )
                    .help("split it into several `let` bindings"),
            );
            return Err(Stop);
        }
        self.depth.set(depth);
        let result = f();
        self.depth.set(depth - levels);
        result
    }

    pub fn program(&self, pair: Pair<'_, Rule>) -> Built<Program> {
        let span = self.span(0, self.text.len());
        let stmts = parts(pair).map(|p| self.stmt(p)).collect::<Built<_>>()?;
        Ok(Program { stmts, span })
    }

    fn stmt(&self, pair: Pair<'_, Rule>) -> Built<Stmt> {
        let span = self.span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::param_decl => {
                let mut it = parts(pair);
                let name = self.decl_name(it.next());
                let default = self.opt_where_expr(it.next(), span)?;
                StmtKind::Param { name, default }
            }
            Rule::let_stmt => {
                let mut it = parts(pair);
                let name = self.decl_name(it.next());
                let value = self.opt_where_expr(it.next(), span)?;
                StmtKind::Let { name, value }
            }
            Rule::agent_decl => {
                let mut it = parts(pair);
                let name = self.decl_name(it.next());
                let backend = self.decl_name(it.next());
                let args = match it.next() {
                    Some(p) => self.args(p)?,
                    None => Vec::new(),
                };
                let limit = it.next().map(|p| self.expr(p)).transpose()?;
                StmtKind::Agent(Box::new(AgentDecl {
                    name,
                    backend,
                    args,
                    limit,
                }))
            }
            Rule::flow_decl => {
                let mut it = parts(pair);
                let name = self.decl_name(it.next());
                let params = it
                    .next()
                    .map(|p| parts(p).map(|n| self.decl_name(Some(n))).collect())
                    .unwrap_or_default();
                let body = self.opt_block(it.next(), span)?;
                StmtKind::Flow(Box::new(FlowDecl { name, params, body }))
            }
            Rule::budget_decl => StmtKind::Budget(self.budget_decl(pair)),
            Rule::output_decl => match parts(pair).next() {
                Some(value) => StmtKind::Output(self.where_expr(value)?),
                None => StmtKind::Output(Expr {
                    kind: ExprKind::Null,
                    span,
                }),
            },
            _ => StmtKind::Expr(self.where_expr(pair)?),
        };
        Ok(Stmt { kind, span })
    }

    /// `budget tokens = N` or `budget usd = X`; a bad amount is reported
    /// and read as no limit at all (the script does not run anyway).
    fn budget_decl(&self, pair: Pair<'_, Rule>) -> BudgetDecl {
        let mut it = parts(pair);
        let kind = it.next().map_or_else(Ident::default, |p| self.ident(&p));
        let (text, amount) = it
            .next()
            .map_or(("", Span::default()), |p| (p.as_str(), self.span_of(&p)));
        let limit = if kind.name == "tokens" {
            BudgetLimit::tokens(text).map(BudgetLimit::Tokens)
        } else {
            BudgetLimit::usd(text).map(BudgetLimit::Usd)
        };
        let limit = limit.unwrap_or_else(|message| {
            self.error(
                Diagnostic::error(Code::BadNumber, message)
                    .at(amount, "this amount")
                    .help(format!(
                        "write it as in `budget {} = {}`",
                        kind.name,
                        if kind.name == "tokens" {
                            "20000"
                        } else {
                            "0.50"
                        }
                    )),
            );
            BudgetLimit::Tokens(u64::MAX)
        });
        BudgetDecl {
            kind,
            limit,
            amount,
        }
    }

    /// A name being declared; a keyword is reported and kept as written.
    pub(super) fn decl_name(&self, pair: Option<Pair<'_, Rule>>) -> Ident {
        let Some(pair) = pair else {
            return Ident::default();
        };
        let span = self.span_of(&pair);
        let name = pair.as_str();
        if super::is_keyword(name) {
            self.error(
                Diagnostic::error(
                    Code::KeywordAsName,
                    format!("`{name}` is a keyword and cannot be used as a name"),
                )
                .at(span, "a keyword")
                .help(format!("rename it, for example `{name}_`")),
            );
        }
        Ident {
            name: name.into(),
            span,
        }
    }

    /// A name (an atomic pair: no trivia to trim).
    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        let s = pair.as_span();
        Ident {
            name: pair.as_str().into(),
            span: self.span(s.start(), s.end()),
        }
    }

    pub(super) fn opt_block(&self, pair: Option<Pair<'_, Rule>>, at: Span) -> Built<Block> {
        match pair {
            Some(p) => self.block(p),
            None => Ok(Block {
                stmts: Vec::new(),
                span: Span::at(at.end as usize),
            }),
        }
    }

    pub(super) fn block(&self, pair: Pair<'_, Rule>) -> Built<Block> {
        let span = self.span_of(&pair);
        self.nested(1, span, || {
            let stmts = parts(pair).map(|p| self.stmt(p)).collect::<Built<_>>()?;
            Ok(Block { stmts, span })
        })
    }

    pub(super) fn opt_where_expr(&self, pair: Option<Pair<'_, Rule>>, at: Span) -> Built<Expr> {
        match pair {
            Some(p) if p.as_rule() == Rule::expr => self.expr(p),
            Some(p) => self.where_expr(p),
            None => Ok(Expr {
                kind: ExprKind::Null,
                span: Span::at(at.end as usize),
            }),
        }
    }

    /// `expr [where cond]`.
    fn where_expr(&self, pair: Pair<'_, Rule>) -> Built<Expr> {
        let span = self.span_of(&pair);
        let mut it = parts(pair);
        let Some(value) = it.next() else {
            return self.opt_where_expr(None, span);
        };
        let value = self.expr(value)?;
        match it.next() {
            None => Ok(value),
            Some(cond) => self.nested(1, span, || {
                let cond = self.expr(cond)?;
                Ok(Expr {
                    kind: ExprKind::Where {
                        value: Box::new(value),
                        cond: Box::new(cond),
                    },
                    span,
                })
            }),
        }
    }

    /// A flat operator sequence, folded by precedence.
    pub(super) fn expr(&self, pair: Pair<'_, Rule>) -> Built<Expr> {
        let span = self.span_of(&pair);
        let inner = pair.into_inner();
        // Every operator may add a level: bound the height before building,
        // so a chain of 100,000 `+` never becomes a 100,000-deep tree.
        let ops = inner
            .clone()
            .filter(|p| is_operator(p.as_rule()))
            .take(MAX_HEIGHT + 1)
            .count();
        if ops == 0 {
            // The common case, a lone operand: no need for the Pratt parser.
            if let Some(primary) = inner.clone().next() {
                return self.primary(primary);
            }
        }
        self.nested(ops, span, || self.fold(inner))
    }

    fn fold(&self, inner: Pairs<'_, Rule>) -> Built<Expr> {
        PRATT
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, operand| {
                let operand = operand?;
                let op_span = self.span_of(&op);
                let op = match op.as_rule() {
                    Rule::neg => UnaryOp::Neg,
                    _ => UnaryOp::Not,
                };
                Ok(Expr {
                    span: op_span.to(operand.span),
                    kind: ExprKind::Unary {
                        op,
                        op_span,
                        operand: Box::new(operand),
                    },
                })
            })
            .map_postfix(|base, op| {
                let base = base?;
                let span = base.span.to(self.span_of(&op));
                let kind = match op.as_rule() {
                    Rule::field => {
                        let field = op
                            .into_inner()
                            .next()
                            .map(|p| self.ident(&p))
                            .unwrap_or_else(|| Ident {
                                name: Name::default(),
                                span,
                            });
                        ExprKind::Field {
                            base: Box::new(base),
                            field,
                        }
                    }
                    _ => {
                        let index = match op.into_inner().next() {
                            Some(p) => self.expr(p)?,
                            None => Expr {
                                kind: ExprKind::Null,
                                span,
                            },
                        };
                        ExprKind::Index {
                            base: Box::new(base),
                            index: Box::new(index),
                        }
                    }
                };
                Ok(Expr { kind, span })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op_span = self.span_of(&op);
                let op = binary_op(op.as_rule());
                Ok(Expr {
                    span: lhs.span.to(rhs.span),
                    kind: ExprKind::Binary {
                        op,
                        op_span,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                })
            })
            .parse(inner)
    }

    pub(super) fn primary(&self, pair: Pair<'_, Rule>) -> Built<Expr> {
        let span = self.span_of(&pair);
        self.nested(1, span, || self.primary_in(pair, span))
    }

    /// Builds one primary. Each construct has its own function, so the stack
    /// frame of this recursion stays small even in debug builds.
    fn primary_in(&self, pair: Pair<'_, Rule>, span: Span) -> Built<Expr> {
        let kind = match pair.as_rule() {
            Rule::null => ExprKind::Null,
            Rule::true_lit => ExprKind::Bool(true),
            Rule::false_lit => ExprKind::Bool(false),
            Rule::var | Rule::plain_var => ExprKind::Name(self.ident(&pair)),
            Rule::number => return Ok(self.number(pair)),
            Rule::paren => return self.paren(pair, span),
            Rule::mod_arg => return self.mod_arg(pair),
            _ => self.compound(pair, span)?,
        };
        Ok(Expr { kind, span })
    }

    fn compound(&self, pair: Pair<'_, Rule>, span: Span) -> Built<ExprKind> {
        match pair.as_rule() {
            Rule::sstring | Rule::mstring | Rule::rsstring | Rule::rmstring => {
                self.string(pair).map(ExprKind::Str)
            }
            Rule::list => self.list(pair),
            Rule::object => self.entries(pair).map(ExprKind::Object),
            Rule::block => self.block(pair).map(ExprKind::Block),
            Rule::call => self.call(pair),
            Rule::map_expr => self.map(pair, span),
            Rule::fanout_expr => self.fanout(pair).map(ExprKind::Fanout),
            Rule::gate_expr => self.gate(pair).map(ExprKind::Gate),
            Rule::if_expr => self.if_(pair, span),
            Rule::try_expr => self.try_(pair, span),
            Rule::repeat_expr => self.repeat(pair, span),
            Rule::match_expr => self.match_(pair, span),
            Rule::reduce_expr | Rule::fold_expr => self.reduce(pair, span),
            Rule::filter_expr => match self.map(pair, span)? {
                ExprKind::Map(map) => Ok(ExprKind::Filter(map)),
                other => Ok(other),
            },
            _ => Ok(ExprKind::Null),
        }
    }

    /// Parentheses only group: the inner node takes their span.
    fn paren(&self, pair: Pair<'_, Rule>, span: Span) -> Built<Expr> {
        let mut inner = self.opt_where_expr(parts(pair).next(), span)?;
        inner.span = span;
        Ok(inner)
    }

    fn list(&self, pair: Pair<'_, Rule>) -> Built<ExprKind> {
        let items = parts(pair).map(|p| self.expr(p)).collect::<Built<_>>()?;
        Ok(ExprKind::List(items))
    }

    fn entries(&self, pair: Pair<'_, Rule>) -> Built<Vec<(Key, Expr)>> {
        let mut entries = Vec::new();
        for entry in parts(pair) {
            let mut it = parts(entry);
            let (Some(key), Some(value)) = (it.next(), it.next()) else {
                continue;
            };
            let key = self.key(key)?;
            entries.push((key, self.expr(value)?));
        }
        Ok(entries)
    }

    fn args(&self, pair: Pair<'_, Rule>) -> Built<Vec<Arg>> {
        // As many as the pairs inside (all `arg`s): most calls have one or
        // two, and a growing vector would hold room for four.
        let inner = pair.into_inner();
        let mut args = Vec::with_capacity(inner.len());
        for arg in inner {
            let mut it = parts(arg);
            let (first, second) = (it.next(), it.next());
            let (name, value) = match (first, second) {
                // A named argument is a key, not a binding: `Fetch(timeout: 5)` is fine.
                (Some(name), Some(value)) => (Some(self.ident(&name)), value),
                (Some(value), None) => (None, value),
                _ => continue,
            };
            args.push(Arg {
                name,
                value: self.expr(value)?,
            });
        }
        Ok(args)
    }

    fn call(&self, pair: Pair<'_, Rule>) -> Built<ExprKind> {
        let mut it = parts(pair);
        let callee = it.next().map(|p| self.ident(&p)).unwrap_or_default();
        let args = match it.next() {
            Some(p) => self.args(p)?,
            None => Vec::new(),
        };
        let mut modifiers: Vec<Modifier> = Vec::new();
        for m in it {
            let span = self.span_of(&m);
            let rule = m.as_rule();
            let kind = match rule {
                Rule::after => ModifierKind::After(parts(m).map(|p| self.ident(&p)).collect()),
                _ => {
                    let arg = self.opt_mod_arg(parts(m).next(), span)?;
                    match rule {
                        Rule::timeout => ModifierKind::Timeout(arg),
                        Rule::retry => ModifierKind::Retry(arg),
                        _ => ModifierKind::Backoff(arg),
                    }
                }
            };
            if let Some(first) = modifiers
                .iter()
                .find(|m| std::mem::discriminant(&m.kind) == std::mem::discriminant(&kind))
            {
                self.twice(first.span, span);
            }
            modifiers.push(Modifier { kind, span });
        }
        Ok(ExprKind::Call(Box::new(Call {
            callee,
            args,
            modifiers,
        })))
    }

    fn twice(&self, first: Span, again: Span) {
        let at = self.offset as usize;
        let word = self
            .text
            .get(again.start as usize - at..again.end as usize - at)
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("");
        self.error(
            Diagnostic::error(Code::UnexpectedToken, format!("`{word}` is given twice"))
                .at(again, "given again here")
                .label(first, "first given here")
                .help("keep only one"),
        );
    }

    fn opt_mod_arg(&self, pair: Option<Pair<'_, Rule>>, at: Span) -> Built<Expr> {
        match pair {
            Some(p) => self.mod_arg(p),
            None => self.opt_where_expr(None, at),
        }
    }

    /// A modifier's value: a primary and its postfix accesses.
    fn mod_arg(&self, pair: Pair<'_, Rule>) -> Built<Expr> {
        let span = self.span_of(&pair);
        let inner = pair.into_inner();
        let ops = inner.len().saturating_sub(1);
        self.nested(ops, span, || self.fold(inner))
    }

    pub(super) fn map(&self, pair: Pair<'_, Rule>, span: Span) -> Built<ExprKind> {
        let mut index = None;
        let mut item = None;
        let mut list = None;
        let mut limit = None;
        let mut body = None;
        for p in parts(pair) {
            match p.as_rule() {
                Rule::map_pair => {
                    let mut names = parts(p);
                    index = Some(self.decl_name(names.next()));
                    item = Some(self.decl_name(names.next()));
                }
                Rule::name => item = Some(self.decl_name(Some(p))),
                Rule::block => body = Some(p),
                _ if list.is_none() => list = Some(self.expr(p)?),
                _ => limit = Some(self.expr(p)?),
            }
        }
        let list = match list {
            Some(list) => list,
            None => self.opt_where_expr(None, span)?,
        };
        Ok(ExprKind::Map(Box::new(Map {
            index,
            item: item.unwrap_or_else(|| self.decl_name(None)),
            list,
            limit,
            body: self.opt_block(body, span)?,
        })))
    }

    fn fanout(&self, pair: Pair<'_, Rule>) -> Built<Vec<Branch>> {
        let mut branches = Vec::new();
        for b in parts(pair) {
            let span = self.span_of(&b);
            let mut it = parts(b);
            let name = self.decl_name(it.next());
            let value = self.opt_where_expr(it.next(), span)?;
            branches.push(Branch { name, value });
        }
        Ok(branches)
    }

    fn gate(&self, pair: Pair<'_, Rule>) -> Built<Vec<Check>> {
        let mut checks = Vec::new();
        for c in parts(pair) {
            let span = self.span_of(&c);
            let mut it = parts(c);
            let name = self.decl_name(it.next());
            let value = self.opt_where_expr(it.next(), span)?;
            let cond = it.next().map(|p| self.expr(p)).transpose()?;
            checks.push(Check { name, value, cond });
        }
        Ok(checks)
    }

    fn if_(&self, pair: Pair<'_, Rule>, span: Span) -> Built<ExprKind> {
        let mut arms = Vec::new();
        let mut otherwise = None;
        let mut it = parts(pair);
        while let Some(p) = it.next() {
            if p.as_rule() == Rule::block {
                otherwise = Some(self.block(p)?);
                break;
            }
            let cond = self.expr(p)?;
            let block = self.opt_block(it.next(), span)?;
            arms.push((cond, block));
        }
        Ok(ExprKind::If(Box::new(If { arms, otherwise })))
    }

    fn try_(&self, pair: Pair<'_, Rule>, span: Span) -> Built<ExprKind> {
        let mut it = parts(pair);
        let body = self.opt_block(it.next(), span)?;
        let mut try_ = Try {
            body,
            retry: None,
            backoff: None,
            otherwise: None,
        };
        let mut seen: [Option<Span>; 2] = [None, None];
        for p in it {
            let at = self.span_of(&p);
            match p.as_rule() {
                Rule::block => try_.otherwise = Some(self.block(p)?),
                rule => {
                    let slot = usize::from(rule == Rule::try_backoff);
                    if let Some(first) = seen[slot] {
                        self.twice(first, at);
                    }
                    seen[slot] = Some(at);
                    let arg = self.opt_mod_arg(parts(p).next(), at)?;
                    if slot == 0 {
                        try_.retry = Some(arg);
                    } else {
                        try_.backoff = Some(arg);
                    }
                }
            }
        }
        Ok(ExprKind::Try(Box::new(try_)))
    }
}

/// A prefix, infix or postfix operator of the Pratt parser.
pub(super) fn is_operator(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::neg
            | Rule::not
            | Rule::field
            | Rule::index
            | Rule::or
            | Rule::and
            | Rule::eq
            | Rule::ne
            | Rule::lt
            | Rule::le
            | Rule::gt
            | Rule::ge
            | Rule::add
            | Rule::sub
            | Rule::mul
            | Rule::div
            | Rule::rem
    )
}

fn binary_op(rule: Rule) -> BinaryOp {
    match rule {
        Rule::or => BinaryOp::Or,
        Rule::and => BinaryOp::And,
        Rule::eq => BinaryOp::Eq,
        Rule::ne => BinaryOp::Ne,
        Rule::lt => BinaryOp::Lt,
        Rule::le => BinaryOp::Le,
        Rule::gt => BinaryOp::Gt,
        Rule::ge => BinaryOp::Ge,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        _ => BinaryOp::Rem,
    }
}
