//! Check-time contracts: an agent's declared output schema gives its calls'
//! results a [`Shape`], which flows through `let`s, field access, indexing,
//! `map` and operators; its declared input schemas are compared with the
//! shapes of the arguments it is passed. Which config keys declare these is
//! read from the agent's [`Signature`] ([`Signature::output_schema_key`],
//! [`Signature::input_schemas_key`]), never from its name.
//!
//! Only certain problems are reported, and only where a declared contract is
//! involved: a value of unknown shape is never wrong, and operators on
//! literals alone are left to the run (docs/language.md, "Check-time
//! contracts", has the rules).

use std::rc::Rc;

use serde_json::{Map, Value};

use crate::agent::Signature;
use crate::ast::{AgentDecl, Arg, BinaryOp, Expr, ExprKind, Ident, StrPart, UnaryOp};
use crate::diag::{Code, Diagnostic};
use crate::resolve::{closest, quoted_list, BindingKind, Target};
use crate::source::Span;

use super::shapes::{kinds, Kind, ObjectShape, Origin, Shape};
use super::Checker;

/// What an agent declares about its calls.
#[derive(Debug)]
pub(super) struct AgentContract {
    /// The shape of each call's result.
    output: Shape,
    /// Each named argument's declared shape, and where it is declared.
    inputs: Vec<(String, Shape, Span)>,
    /// The config key that declares them.
    inputs_key: String,
    /// Whose contract it is: "`Editor`".
    who: String,
}

impl<'a> Checker<'_, 'a> {
    /// Reads the contracts of the agents declared at the top level, before
    /// the walk: agents are hoisted, so a call may come before its declaration.
    pub(super) fn declared_contracts(&mut self, stmts: &'a [crate::ast::Stmt]) {
        for stmt in stmts {
            let crate::ast::StmtKind::Agent(decl) = &stmt.kind else {
                continue;
            };
            let (Some(id), Target::Backend(backend)) = (
                self.res.binding_at(decl.name.span),
                self.res.target(&decl.backend),
            ) else {
                continue;
            };
            if let Some(contract) = agent_contract(decl, backend.signature()) {
                self.contracts.insert(id, Rc::new(contract));
            }
        }
    }

    /// A call's result shape, after checking its arguments against the
    /// callee's declared inputs.
    pub(super) fn call_contract(
        &mut self,
        resolved: Target,
        callee: &Ident,
        args: &[Arg],
        shapes: &[Shape],
    ) -> Shape {
        let contract = match resolved {
            Target::Binding(id) if self.res.binding(id).kind == BindingKind::Agent => {
                self.contracts.get(&id).cloned()
            }
            Target::Backend(backend) => {
                let signature = backend.signature();
                contract(signature, args, &format_args!("this `{}` call", callee.name)).map(Rc::new)
            }
            _ => None,
        };
        let Some(contract) = contract else {
            return Shape::ANY;
        };
        let signature = match resolved {
            Target::Backend(backend) => Some(backend.signature()),
            _ => None,
        };
        for (arg, given) in args.iter().zip(shapes) {
            let Some(name) = &arg.name else {
                continue;
            };
            // A direct call's config keys are not its context.
            if signature.is_some_and(|s| s.takes(&name.name)) {
                continue;
            }
            let Some((_, expected, declared)) =
                contract.inputs.iter().find(|(n, _, _)| *n == name.name)
            else {
                continue;
            };
            let Some(reason) = super::shapes::conflict(expected, given, &name.name) else {
                continue;
            };
            let message = format!(
                "`{}` does not fit {}'s inputs: {reason}",
                name.name, contract.who
            );
            let help = format!(
                "{} declares {} for `{}`: pass such a value, or change its `{}`",
                contract.who,
                expected.describe_choices(),
                name.name,
                contract.inputs_key
            );
            self.diags.push(
                Diagnostic::error(Code::TypeMismatch, message)
                    .at(arg.value.span, described(given))
                    .label(*declared, format!("declared by {} here", contract.who))
                    .help(help),
            );
        }
        contract.output.clone()
    }

    /// The shape of a name: what its `let` (or `map`) bound.
    pub(super) fn name_shape(&self, ident: &Ident) -> Shape {
        match self.res.target(ident) {
            Target::Binding(id) => self.shapes.get(&id).cloned().unwrap_or(Shape::ANY),
            _ => Shape::ANY,
        }
    }

    /// Remembers the shape of the value bound at `name` (a `let`, a `map`'s item).
    pub(super) fn bind_shape(&mut self, name: Span, shape: Shape) {
        if shape.is_any() {
            return;
        }
        if let Some(id) = self.res.binding_at(name) {
            self.shapes.insert(id, shape);
        }
    }

    /// `base.field`: the field's shape; a field a declared object cannot
    /// have, and a field of a declared value that is not an object, are errors.
    pub(super) fn field_shape(&mut self, base: &Shape, base_expr: &Expr, field: &Ident) -> Shape {
        self.member(base, base_expr, &field.name, field.span, true)
    }

    fn member(&mut self, base: &Shape, base_expr: &Expr, name: &str, at: Span, dot: bool) -> Shape {
        if base.is_any() {
            return Shape::ANY;
        }
        if base.kinds() & kinds::OBJECT == 0 {
            if base.origin.is_some() && dot {
                let help = match crate::builtins::function_named(name) {
                    Some(f) => format!(
                        "only objects have fields; to call `{name}`, write `{}`",
                        f.signature
                    ),
                    None => "only objects have fields".to_string(),
                };
                self.diags.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("{} has no fields: `.{name}` always fails", base.describe()),
                    )
                    .at(at, "always fails")
                    .label(base_expr.span, described(base))
                    .help(help),
                );
            }
            return Shape::ANY;
        }
        let mut objects = base.alternatives().iter().filter_map(|s| match &s.kind {
            Kind::Object(object) => Some((object, &s.origin)),
            _ => None,
        });
        let (Some((object, origin)), None) = (objects.next(), objects.next()) else {
            return Shape::ANY;
        };
        if let Some(field) = object.fields.iter().find(|f| f.name == name) {
            return field.shape.clone();
        }
        if !object.closed {
            return object.rest.clone();
        }
        if let Some(origin) = origin {
            self.diags
                .push(unknown_field(object, origin, name, at, base_expr.span));
        }
        Shape::ANY
    }

    /// `base[index]`: a list's item, a string's character, an object's field
    /// by a literal key.
    pub(super) fn index_shape(&mut self, base: &Shape, base_expr: &Expr, index: &Expr) -> Shape {
        if base.is_any() {
            return Shape::ANY;
        }
        if base.kinds() & (kinds::LIST | kinds::STRING | kinds::OBJECT) == 0 {
            if base.origin.is_some() {
                self.diags.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("cannot index into {}", base.describe()),
                    )
                    .at(index.span, "always fails")
                    .label(base_expr.span, described(base))
                    .help("only lists, strings and objects can be indexed"),
                );
            }
            return Shape::ANY;
        }
        match &base.kind {
            Kind::List(item) => (**item).clone(),
            Kind::String { .. } => Shape {
                kind: Kind::String { choices: None },
                origin: base.origin.clone(),
            },
            Kind::Object(_) => match literal_text(index) {
                Some(key) => self.member(base, base_expr, &key, index.span, false),
                None => Shape::ANY,
            },
            _ => Shape::ANY,
        }
    }

    /// `-x`, `!x`: the operand a declared contract says is of the wrong kind.
    pub(super) fn unary_shape(
        &mut self,
        op: UnaryOp,
        op_span: Span,
        operand: &Shape,
        expr: &Expr,
    ) -> Shape {
        let (needs, what, kind, help) = match op {
            UnaryOp::Neg => (
                kinds::NUMBER,
                "negate",
                Kind::Number { integer: false },
                "`-` takes a number; convert a string with `int(…)` or `float(…)`",
            ),
            UnaryOp::Not => (
                kinds::BOOL,
                "apply `!` to",
                Kind::Bool,
                "`!` takes true or false; compare the value, e.g. `x == \"yes\"`",
            ),
        };
        if operand.kinds() & needs == 0 && operand.origin.is_some() {
            self.diags.push(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!("cannot {what} {}", operand.describe()),
                )
                .at(op_span, "always fails")
                .label(expr.span, described(operand))
                .help(help),
            );
            return Shape::ANY;
        }
        result(kind, operand.origin.is_some(), operand, operand)
    }

    /// A binary operator whose operands' known kinds make it fail whatever
    /// their values, when a declared contract gave one of them.
    pub(super) fn binary_shape(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        l: &Shape,
        lhs: &Expr,
        r: &Shape,
        rhs: &Expr,
    ) -> Shape {
        let (lk, rk) = (l.kinds(), r.kinds());
        let declared = l.origin.is_some() || r.origin.is_some();
        match op {
            BinaryOp::Eq | BinaryOp::Ne => Shape::literal(Kind::Bool),
            BinaryOp::And | BinaryOp::Or => {
                for (side, expr) in [(l, lhs), (r, rhs)] {
                    if side.kinds() & kinds::BOOL == 0 && side.origin.is_some() {
                        self.condition_error(
                            side,
                            expr,
                            &format!("`{}`", op.symbol()),
                            Some(op_span),
                        );
                    }
                }
                Shape::literal(Kind::Bool)
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                if lk & rk & (kinds::NUMBER | kinds::STRING) == 0 && declared {
                    let help = if (lk | rk) & kinds::STRING != 0 && (lk | rk) & kinds::NUMBER != 0 {
                        "convert the string to a number with `int(…)` or `float(…)`"
                    } else {
                        "only two numbers or two strings can be ordered"
                    };
                    let message = format!("cannot compare {} with {}", l.describe(), r.describe());
                    self.operator_error(message, op_span, (l, lhs), (r, rhs), help);
                }
                Shape::literal(Kind::Bool)
            }
            BinaryOp::Add => {
                if lk & rk & (kinds::NUMBER | kinds::STRING | kinds::LIST) == 0 {
                    if declared {
                        let message = format!("cannot add {} to {}", r.describe(), l.describe());
                        let help = if (lk | rk) & kinds::STRING != 0 {
                            "convert the other side with `str(…)`, or interpolate it: \"text ${value}\""
                        } else {
                            "`+` adds two numbers, joins two strings or two lists"
                        };
                        self.operator_error(message, op_span, (l, lhs), (r, rhs), help);
                    }
                    return Shape::ANY;
                }
                match (lk, rk) {
                    (kinds::NUMBER, kinds::NUMBER) => {
                        result(Kind::Number { integer: false }, declared, l, r)
                    }
                    (kinds::STRING, kinds::STRING) => {
                        result(Kind::String { choices: None }, declared, l, r)
                    }
                    _ => Shape::ANY,
                }
            }
            BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                if lk & kinds::NUMBER == 0 || rk & kinds::NUMBER == 0 {
                    if declared {
                        let (l_, r_) = (l.describe(), r.describe());
                        let message = match op {
                            BinaryOp::Sub => format!("cannot subtract {r_} from {l_}"),
                            BinaryOp::Mul => format!("cannot multiply {l_} by {r_}"),
                            BinaryOp::Div => format!("cannot divide {l_} by {r_}"),
                            _ => format!("cannot take the remainder of {l_} divided by {r_}"),
                        };
                        let help = if (lk | rk) & kinds::STRING != 0 {
                            "convert the string to a number with `int(…)` or `float(…)`"
                        } else {
                            "arithmetic takes two numbers"
                        };
                        self.operator_error(message, op_span, (l, lhs), (r, rhs), help);
                    }
                    return Shape::ANY;
                }
                result(Kind::Number { integer: false }, declared, l, r)
            }
        }
    }

    /// A condition (`if`, `&&`, `||`) that a declared contract says is not a boolean.
    pub(super) fn condition(&mut self, shape: &Shape, expr: &Expr) {
        if shape.kinds() & kinds::BOOL == 0 && shape.origin.is_some() {
            self.condition_error(shape, expr, "a condition", None);
        }
    }

    fn condition_error(&mut self, shape: &Shape, expr: &Expr, place: &str, op: Option<Span>) {
        let mut d = Diagnostic::error(
            Code::TypeMismatch,
            format!("{place} needs true or false, not {}", shape.describe()),
        )
        .at(expr.span, described(shape))
        .help(match shape.kinds() & (kinds::NUMBER | kinds::NULL) {
            0 => "test what you mean, e.g. `len(x) > 0` or `x == \"yes\"`",
            _ => "compare it, e.g. `x > 0` or `x != null`",
        });
        if let Some(op) = op {
            d = d.label(op, "fails here whenever this side is evaluated");
        }
        self.diags.push(d);
    }

    fn operator_error(
        &mut self,
        message: String,
        op_span: Span,
        (l, lhs): (&Shape, &Expr),
        (r, rhs): (&Shape, &Expr),
        help: &str,
    ) {
        self.diags.push(
            Diagnostic::error(Code::TypeMismatch, message)
                .at(op_span, "always fails")
                .label(lhs.span, described(l))
                .label(rhs.span, described(r))
                .help(help.to_string()),
        );
    }
}

/// A computed value's shape: it keeps a contract's origin, so what is
/// computed from a declared value is checked too.
fn result(kind: Kind, declared: bool, l: &Shape, r: &Shape) -> Shape {
    Shape {
        kind,
        origin: if declared {
            l.origin.clone().or_else(|| r.origin.clone())
        } else {
            None
        },
    }
}

/// A shape for a label: "a number, by `Critic`'s schema".
fn described(shape: &Shape) -> String {
    match &shape.origin {
        Some(origin) => format!("{}, by {}", shape.describe(), origin.what),
        None => shape.describe(),
    }
}

fn unknown_field(
    object: &ObjectShape,
    origin: &Origin,
    name: &str,
    at: Span,
    base: Span,
) -> Diagnostic {
    let names: Vec<&str> = object.fields.iter().map(|f| f.name.as_str()).collect();
    let listed = if names.is_empty() {
        "it lists no fields".to_string()
    } else {
        format!("its fields are {}", quoted_list(&names))
    };
    let help = match closest(name, names.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? {listed}"),
        None => format!(
            "{listed}; to allow other fields, set `additionalProperties: true` in the schema"
        ),
    };
    Diagnostic::error(
        Code::UnknownField,
        format!("{} has no field `{name}`", origin.what),
    )
    .at(at, "not in the schema")
    .label(base, "an object, by the schema")
    .label(origin.span, "declared here")
    .help(help)
}

/// The contract a declared agent's config gives it, if any.
fn agent_contract(decl: &AgentDecl, signature: &Signature) -> Option<AgentContract> {
    contract(signature, &decl.args, &format_args!("`{}`", decl.name.name))
}

/// The contract of an agent configured with `args`: its output schema and
/// its inputs, when they are literal. `who` names the call or the agent in
/// messages, formatted only when there is a contract.
fn contract(
    signature: &Signature,
    args: &[Arg],
    who: &dyn std::fmt::Display,
) -> Option<AgentContract> {
    let output_key = signature.output_schema_key();
    let inputs_key = signature.input_schemas_key();
    if output_key.is_none() && inputs_key.is_none() {
        return None;
    }
    let output = output_key
        .and_then(|key| config_arg(signature, args, key))
        .and_then(|(span, value)| {
            let schema = literal_json(value)?;
            let origin = Rc::new(Origin {
                what: format!("{who}'s schema"),
                span,
            });
            Some(Shape::from_schema(&schema, &origin))
        })
        .unwrap_or(Shape::ANY);
    let mut inputs = Vec::new();
    if let Some((span, value)) = inputs_key.and_then(|key| config_arg(signature, args, key)) {
        if let ExprKind::Object(entries) = &value.kind {
            let origin = Rc::new(Origin {
                what: format!("{who}'s inputs"),
                span,
            });
            for (key, schema) in entries {
                if let Some(schema) = literal_json(schema) {
                    let shape = Shape::from_schema(&schema, &origin);
                    inputs.push((key.name.to_string(), shape, key.span));
                }
            }
        }
    }
    if output.is_any() && inputs.is_empty() {
        return None;
    }
    Some(AgentContract {
        output,
        inputs,
        inputs_key: inputs_key.unwrap_or_default().to_string(),
        who: who.to_string(),
    })
}

/// The value given for config key `key` (by name, or by position when it is
/// the positional key), and the span that names it.
fn config_arg<'e>(signature: &Signature, args: &'e [Arg], key: &str) -> Option<(Span, &'e Expr)> {
    args.iter().find_map(|arg| match &arg.name {
        Some(name) if name.name == key => Some((name.span, &arg.value)),
        None if signature.positional.as_deref() == Some(key) => Some((arg.value.span, &arg.value)),
        _ => None,
    })
}

/// A literal expression as JSON; `None` when any part of it is computed.
fn literal_json(expr: &Expr) -> Option<Value> {
    Some(match &expr.kind {
        ExprKind::List(items) => {
            Value::Array(items.iter().map(literal_json).collect::<Option<_>>()?)
        }
        ExprKind::Object(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                map.insert(key.name.to_string(), literal_json(value)?);
            }
            Value::Object(map)
        }
        ExprKind::Unary {
            op: UnaryOp::Neg,
            operand,
            ..
        } => match literal_json(operand)? {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::from(i.checked_neg()?)
                } else {
                    Value::from(-n.as_f64()?)
                }
            }
            _ => return None,
        },
        _ => expr.literal_value()?,
    })
}

/// The text of a string literal without `${…}`.
pub(super) fn literal_text(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Str(parts) => {
            let mut text = String::new();
            for part in parts {
                match part {
                    StrPart::Text(t) => text.push_str(t),
                    StrPart::Interp(_) => return None,
                }
            }
            Some(text)
        }
        _ => None,
    }
}
