//! The owned, spanned syntax tree that `syntax` builds and `check` and `graph` read.
//!
//! Every node carries the byte [`Span`] of the source it came from. The
//! `Display` impls print the tree back as Flow with every operator fully
//! parenthesised (`((1 + 2) * 3)`), so tests can review precedence and structure.

use crate::source::Span;

/// A whole script (or one REPL entry): its statements in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

/// A name as written: a script's names are short, and up to 24 bytes are
/// kept inline, so a name costs no allocation of its own.
pub type Name = compact_str::CompactString;

/// A name as written, with where it was written (empty, nowhere, by default:
/// what the builder puts where pest gave it nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: Name,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `param name = default`: a value the command line may override.
    Param { name: Ident, default: Expr },
    /// `agent Name = backend(config) [limit N]`. Declarations are few and
    /// boxed: a statement is sized for a `let`.
    Agent(Box<AgentDecl>),
    /// `flow name(params) { body }`: a reusable sub-flow.
    Flow(Box<FlowDecl>),
    /// `let name = value`.
    Let { name: Ident, value: Expr },
    /// `budget tokens = 20000` or `budget usd = 0.50`.
    Budget(BudgetDecl),
    /// A bare expression; the last one of a block is its value.
    Expr(Expr),
    /// `output EXPR`: what the script returns (top level, at most once).
    Output(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgentDecl {
    pub name: Ident,
    pub backend: Ident,
    pub args: Vec<Arg>,
    pub limit: Option<Expr>,
}

/// `budget tokens = N` or `budget usd = X`: a limit on what the run's model
/// calls spend (see `docs/language.md`).
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetDecl {
    /// `tokens` or `usd`, as written.
    pub kind: Ident,
    /// The limit.
    pub limit: BudgetLimit,
    /// Where the amount is written.
    pub amount: Span,
}

/// The limit of a `budget` declaration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BudgetLimit {
    /// A whole number of tokens, at least 1.
    Tokens(u64),
    /// Dollars, above 0.
    Usd(f64),
}

impl BudgetLimit {
    /// A token limit as written: a whole number, at least 1 (`_` may group digits).
    pub fn tokens(text: &str) -> Result<u64, String> {
        let digits: String = text.chars().filter(|c| *c != '_').collect();
        match digits.parse::<u64>() {
            Ok(n) if n > 0 && !text.starts_with('_') => Ok(n),
            _ => Err(format!(
                "a token budget is a whole number of tokens, at least 1, not `{text}`"
            )),
        }
    }

    /// A dollar limit as written: a number above 0 (`0.50`; `$0.50` too).
    pub fn usd(text: &str) -> Result<f64, String> {
        let number = text.strip_prefix('$').unwrap_or(text);
        let plain = number.chars().all(|c| c.is_ascii_digit() || c == '.');
        match number.parse::<f64>() {
            Ok(x) if plain && x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(format!(
                "a dollar budget is a number above 0, such as 0.50, not `{text}`"
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FlowDecl {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub body: Block,
}

/// `{ stmt; stmt; expr }`: its value is the last statement when that is an expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

/// A call argument: positional (`"text"`) or named (`notes: research`).
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

impl Arg {
    pub fn span(&self) -> Span {
        match &self.name {
            Some(name) => name.span.to(self.value.span),
            None => self.value.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// `250ms`, `30s`, `5m`, `2h`; its value is a number of seconds.
    Duration(Duration),
    /// A string, plain or `"""` multi-line, split at its `${…}` interpolations.
    Str(Vec<StrPart>),
    List(Vec<Expr>),
    Object(Vec<(Key, Expr)>),
    Name(Ident),
    /// `base.field`
    Field {
        base: Box<Expr>,
        field: Ident,
    },
    /// `base[index]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        op_span: Span,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call(Box<Call>),
    Map(Box<Map>),
    /// `fanout { name: expr, … }`
    Fanout(Vec<Branch>),
    /// `gate { name: expr [where cond], … }`
    Gate(Vec<Check>),
    If(Box<If>),
    Try(Box<Try>),
    /// `repeat s = init until cond max n { body } [else { … }]`
    Repeat(Box<Repeat>),
    /// `match value { pattern => expr, … }`
    Match(Box<Match>),
    /// `reduce (a, b) in list { … }` and `fold (acc, x) in list from init { … }`
    Reduce(Box<Reduce>),
    /// `filter [(index,)] item in list [limit N] { cond }`
    Filter(Box<Map>),
    Block(Block),
    /// `value where cond` outside a gate: parsed so `check` can say where it belongs.
    Where {
        value: Box<Expr>,
        cond: Box<Expr>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Duration {
    /// The number as written, in `unit`s.
    pub amount: f64,
    pub unit: DurationUnit,
}

impl Duration {
    pub fn seconds(self) -> f64 {
        self.amount * self.unit.seconds()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationUnit {
    Millis,
    Seconds,
    Minutes,
    Hours,
}

impl DurationUnit {
    pub fn seconds(self) -> f64 {
        match self {
            DurationUnit::Millis => 0.001,
            DurationUnit::Seconds => 1.0,
            DurationUnit::Minutes => 60.0,
            DurationUnit::Hours => 3600.0,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            DurationUnit::Millis => "ms",
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "m",
            DurationUnit::Hours => "h",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StrPart {
    /// Literal text, escapes already decoded.
    Text(String),
    /// `${expr}`
    Interp(Expr),
}

/// An object key: a bare name or a quoted string.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: Name,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
        }
    }
}

/// `callee(args) [timeout D] [retry N] [backoff D] [after a, b]`: an agent, a
/// backend, a built-in function or a sub-flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub callee: Ident,
    pub args: Vec<Arg>,
    pub modifiers: Vec<Modifier>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Modifier {
    pub kind: ModifierKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModifierKind {
    Timeout(Expr),
    Retry(Expr),
    Backoff(Expr),
    After(Vec<Ident>),
}

/// `map [(index,)] item in list [limit N] { body }`
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    pub index: Option<Ident>,
    pub item: Ident,
    pub list: Expr,
    pub limit: Option<Expr>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub name: Ident,
    pub value: Expr,
    pub cond: Option<Expr>,
}

/// `if c { } else if c { } else { }`: one arm per condition, then the `else`.
#[derive(Clone, Debug, PartialEq)]
pub struct If {
    pub arms: Vec<(Expr, Block)>,
    pub otherwise: Option<Block>,
}

/// `try { } [retry N] [backoff D] [else { }]`
#[derive(Clone, Debug, PartialEq)]
pub struct Try {
    pub body: Block,
    pub retry: Option<Expr>,
    pub backoff: Option<Expr>,
    pub otherwise: Option<Block>,
}

/// `repeat state = init until cond max rounds { body } [else { otherwise }]`:
/// `state` is bound in `cond`, `body` and `otherwise`.
#[derive(Clone, Debug, PartialEq)]
pub struct Repeat {
    pub state: Ident,
    pub init: Expr,
    pub until: Expr,
    pub max: Expr,
    pub body: Block,
    /// Runs when `max` rounds did not satisfy `until`; without it the loop fails.
    pub otherwise: Option<Block>,
}

/// `match value { arm, … }`
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    pub value: Expr,
    pub arms: Vec<Arm>,
}

/// `"a" | "b" => value`; a `_` pattern (`None`) matches anything.
#[derive(Clone, Debug, PartialEq)]
pub struct Arm {
    /// Literal expressions (strings without `${…}`, numbers, booleans, null).
    pub patterns: Vec<Pattern>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// `None` for `_`.
    pub literal: Option<Expr>,
    pub span: Span,
}

/// `reduce (acc, item) in list [limit N] { body }` (a balanced tree of merges)
/// or `fold (acc, item) in list from init { body }` (in order).
#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    pub acc: Ident,
    pub item: Ident,
    pub list: Expr,
    /// `fold`'s starting value; `None` for `reduce`.
    pub init: Option<Expr>,
    pub limit: Option<Expr>,
    pub body: Block,
}

impl Reduce {
    pub fn keyword(&self) -> &'static str {
        if self.init.is_some() {
            "fold"
        } else {
            "reduce"
        }
    }
}

impl Block {
    /// The expression that gives the block its value, if the last statement is one.
    pub fn tail(&self) -> Option<&Expr> {
        match self.stmts.last().map(|s| &s.kind) {
            Some(StmtKind::Expr(e)) => Some(e),
            _ => None,
        }
    }
}

impl Expr {
    /// Calls `f` on each direct child expression, including those inside
    /// blocks' statements, in source order.
    pub fn for_each_child<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        match &self.kind {
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Duration(_)
            | ExprKind::Name(_) => {}
            ExprKind::Str(parts) => {
                for part in parts {
                    if let StrPart::Interp(e) = part {
                        f(e);
                    }
                }
            }
            ExprKind::List(items) => items.iter().for_each(f),
            ExprKind::Object(entries) => entries.iter().for_each(|(_, e)| f(e)),
            ExprKind::Field { base, .. } => f(base),
            ExprKind::Index { base, index } => {
                f(base);
                f(index);
            }
            ExprKind::Unary { operand, .. } => f(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                f(lhs);
                f(rhs);
            }
            ExprKind::Call(call) => {
                call.args.iter().for_each(|a| f(&a.value));
                for m in &call.modifiers {
                    match &m.kind {
                        ModifierKind::Timeout(e)
                        | ModifierKind::Retry(e)
                        | ModifierKind::Backoff(e) => f(e),
                        ModifierKind::After(_) => {}
                    }
                }
            }
            ExprKind::Map(map) => {
                f(&map.list);
                if let Some(limit) = &map.limit {
                    f(limit);
                }
                map.body.for_each_expr(f);
            }
            ExprKind::Fanout(branches) => branches.iter().for_each(|b| f(&b.value)),
            ExprKind::Gate(checks) => {
                for check in checks {
                    f(&check.value);
                    if let Some(cond) = &check.cond {
                        f(cond);
                    }
                }
            }
            ExprKind::If(if_) => {
                for (cond, block) in &if_.arms {
                    f(cond);
                    block.for_each_expr(f);
                }
                if let Some(block) = &if_.otherwise {
                    block.for_each_expr(f);
                }
            }
            ExprKind::Try(try_) => {
                try_.body.for_each_expr(f);
                if let Some(e) = &try_.retry {
                    f(e);
                }
                if let Some(e) = &try_.backoff {
                    f(e);
                }
                if let Some(block) = &try_.otherwise {
                    block.for_each_expr(f);
                }
            }
            ExprKind::Repeat(r) => {
                f(&r.init);
                f(&r.until);
                f(&r.max);
                r.body.for_each_expr(f);
                if let Some(block) = &r.otherwise {
                    block.for_each_expr(f);
                }
            }
            ExprKind::Match(m) => {
                f(&m.value);
                for arm in &m.arms {
                    arm.patterns
                        .iter()
                        .filter_map(|p| p.literal.as_ref())
                        .for_each(&mut *f);
                    f(&arm.value);
                }
            }
            ExprKind::Reduce(r) => {
                f(&r.list);
                if let Some(init) = &r.init {
                    f(init);
                }
                if let Some(limit) = &r.limit {
                    f(limit);
                }
                r.body.for_each_expr(f);
            }
            ExprKind::Filter(map) => {
                f(&map.list);
                if let Some(limit) = &map.limit {
                    f(limit);
                }
                map.body.for_each_expr(f);
            }
            ExprKind::Block(block) => block.for_each_expr(f),
            ExprKind::Where { value, cond } => {
                f(value);
                f(cond);
            }
        }
    }
}

impl Expr {
    /// The value of a literal without `${…}` (a `match` pattern), if it is one.
    pub fn literal_value(&self) -> Option<serde_json::Value> {
        use serde_json::Value;
        Some(match &self.kind {
            ExprKind::Null => Value::Null,
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Int(i) => Value::from(*i),
            ExprKind::Float(x) => serde_json::Number::from_f64(*x).map(Value::Number)?,
            ExprKind::Str(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        StrPart::Text(t) => text.push_str(t),
                        StrPart::Interp(_) => return None,
                    }
                }
                Value::String(text)
            }
            _ => return None,
        })
    }
}

impl Block {
    /// Calls `f` on the top-level expression of each statement of the block.
    pub fn for_each_expr<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        for stmt in &self.stmts {
            stmt.for_each_expr(f);
        }
    }
}

impl Stmt {
    /// Calls `f` on each expression the statement holds directly.
    pub fn for_each_expr<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        match &self.kind {
            StmtKind::Param { default, .. } => f(default),
            StmtKind::Agent(agent) => {
                agent.args.iter().for_each(|a| f(&a.value));
                if let Some(limit) = &agent.limit {
                    f(limit);
                }
            }
            StmtKind::Flow(flow) => flow.body.for_each_expr(f),
            StmtKind::Let { value, .. } => f(value),
            StmtKind::Expr(e) | StmtKind::Output(e) => f(e),
            StmtKind::Budget(_) => {}
        }
    }
}
