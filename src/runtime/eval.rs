//! Evaluating the pure expressions of a body instance: operators, access,
//! interpolation and built-in functions. No task, no I/O.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Val;
use crate::agent::Signature;
use crate::ast::BinaryOp;
use crate::diag::{Code, Diagnostic};
use crate::graph::{Expr, Ref, StrPart};
use crate::shell::Command;
use crate::source::Span;
use crate::{builtins, value};

/// A runtime error in an expression, pointing at the operator, field or call.
#[derive(Clone, Debug)]
pub struct EvalError {
    /// The diagnostic code (`division_by_zero`, `missing_field`, …).
    pub code: Code,
    /// What went wrong, in one line.
    pub message: String,
    /// The operator, field or call at fault.
    pub span: Span,
    /// A likely fix, when there is one.
    pub help: Option<String>,
}

impl EvalError {
    fn at(error: value::ValueError, span: Span) -> EvalError {
        EvalError {
            code: error.code(),
            message: error.message,
            span,
            help: error.help,
        }
    }

    /// The error as a runtime diagnostic.
    pub fn into_diagnostic(self) -> Diagnostic {
        let label = match self.code {
            Code::DivisionByZero => "division by zero",
            Code::MissingField => "no such field",
            Code::IndexOutOfRange => "out of range",
            Code::TypeError => "wrong type here",
            _ => "here",
        };
        let mut d = Diagnostic::error(self.code, self.message);
        // An error found without a place of its own (a config value) is
        // placed by the caller, at the call or declaration.
        if self.span != Span::default() {
            d = d.at(self.span, label);
        }
        d.help = self.help;
        d
    }
}

/// The values an expression can read.
pub(crate) struct Frame<'a> {
    pub values: &'a [Option<Val>],
    pub inputs: &'a [Val],
    pub captures: &'a [Val],
    pub params: &'a [Val],
}

impl Frame<'_> {
    fn get(&self, r: Ref) -> Val {
        // The scheduler only evaluates a node once everything it reads is set.
        self.slot(r).cloned().unwrap_or_else(|| Arc::new(Value::Null))
    }

    /// [`Frame::get`], borrowed: no reference count taken and dropped for a
    /// value that is only cloned or looked at.
    fn value(&self, r: Ref) -> &Value {
        static NULL: Value = Value::Null;
        self.slot(r).map_or(&NULL, |v| &**v)
    }

    fn slot(&self, r: Ref) -> Option<&Val> {
        match r {
            Ref::Node(k) => self.values.get(k as usize).and_then(Option::as_ref),
            Ref::Input(i) => self.inputs.get(i as usize),
            Ref::Capture(i) => self.captures.get(i as usize),
            Ref::Param(i) => self.params.get(i as usize),
        }
    }
}

pub(crate) fn eval(expr: &Expr, frame: &Frame) -> Result<Val, EvalError> {
    Ok(match expr {
        Expr::Const(v) => v.clone(),
        Expr::Ref(r) => frame.get(*r),
        _ => Arc::new(eval_value(expr, frame)?),
    })
}

/// A shell command with `${…}`: its text refers to each value by an
/// environment variable (`FLOW_VALUE_1`, …) that the executor sets, so the
/// shell expands the values and never parses them (see `shell::reference`).
/// The command travels beside the config, never in it (see `shell::Command`).
fn shell_command(parts: &[StrPart], frame: &Frame) -> Result<Command, EvalError> {
    use crate::shell::{contexts, reference, ShellContext, VALUE_VAR};
    let mut places = contexts(parts.iter().map(|p| match p {
        StrPart::Text(t) => Some(&**t),
        StrPart::Interp(_) => None,
    }))
    .into_iter();
    let mut command = String::new();
    let mut values = Vec::new();
    for part in parts {
        match part {
            StrPart::Text(t) => command.push_str(t),
            StrPart::Interp(e) => {
                let value = eval(e, frame)?;
                let place = places.next().unwrap_or(ShellContext::Unquoted);
                if place == ShellContext::Arithmetic && !is_integer(&value) {
                    return Err(EvalError {
                        code: Code::TypeError,
                        message: format!(
                            "a value inside `$(( ))` of a shell command must be an integer, not {}",
                            value::describe(&value)
                        ),
                        span: Span::default(),
                        help: Some("some shells run code found in a value there; compute the number in Flow: `${n + 1}`".into()),
                    });
                }
                values.push((*value).clone());
                let var = format!("{VALUE_VAR}{}", values.len());
                match reference(place, &var) {
                    Some(written) => command.push_str(&written),
                    // `flow check` refuses these places; never run a guess.
                    None => {
                        return Err(EvalError {
                            code: Code::UnsafeInterpolation,
                            message: "a value cannot stand right after a backslash in a shell command".into(),
                            span: Span::default(),
                            help: Some("remove the backslash, or pass the value as a named argument and use `\"$name\"`".into()),
                        })
                    }
                }
            }
        }
    }
    Ok(Command {
        text: command,
        values,
    })
}

/// Whether a value is an integer, or a string holding only one (digits and
/// a sign): all that may stand inside a shell's `$(( ))`.
fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// An agent's evaluated config and its shell command, if any.
pub(crate) type Config = (Map<String, Value>, Option<Arc<Command>>);

/// An agent's config: its values, and the shell command written with `${…}`
/// when it has one. Each value is checked against the agent's signature, so
/// an agent never sees a config of the wrong type (`cmd` as an object).
pub(crate) fn config(
    entries: &[(Arc<str>, Expr)],
    signature: &Signature,
    frame: &Frame,
) -> Result<Config, EvalError> {
    let mut values = Map::with_capacity(entries.len());
    let mut command = None;
    for (key, expr) in entries {
        if let Expr::Str { parts, shell: true } = expr {
            command = Some(Arc::new(shell_command(parts, frame)?));
            continue;
        }
        let value = eval_value(expr, frame)?;
        if let Some(spec) = signature.key(key) {
            // `null` leaves an optional key unset; a required one must be given.
            if (spec.required || !value.is_null()) && !spec.ty.accepts(&value) {
                return Err(EvalError {
                    code: Code::TypeError,
                    message: format!(
                        "`{}` takes {} for `{key}`, but got {}",
                        signature.name,
                        spec.ty.describe(),
                        value::describe(&value)
                    ),
                    span: Span::default(),
                    help: Some(format!("`{key}`: {}", spec.doc)),
                });
            }
        }
        values.insert(key.to_string(), value);
    }
    Ok((values, command))
}

/// Evaluates to a value that is only read (a call's instructions, turned
/// to text): a constant or a name is borrowed, with no reference count
/// taken and dropped.
pub(crate) fn eval_borrowed<'f>(
    expr: &'f Expr,
    frame: &'f Frame<'_>,
) -> Result<std::borrow::Cow<'f, Value>, EvalError> {
    use std::borrow::Cow;
    Ok(match expr {
        Expr::Const(v) => Cow::Borrowed(&**v),
        Expr::Ref(r) => Cow::Borrowed(frame.value(*r)),
        _ => Cow::Owned(eval_value(expr, frame)?),
    })
}

/// Evaluates to an owned value (what operators and functions take apart,
/// and what a call's context and config hold).
pub(crate) fn eval_value(expr: &Expr, frame: &Frame) -> Result<Value, EvalError> {
    Ok(match expr {
        Expr::Const(v) => (**v).clone(),
        Expr::Ref(r) => frame.value(*r).clone(),
        // A shell command is only ever a config entry, evaluated by `config`;
        // anywhere else its text is a string like any other.
        Expr::Str { parts, .. } => {
            let mut out = String::new();
            for part in parts {
                match part {
                    StrPart::Text(t) => out.push_str(t),
                    StrPart::Interp(e) => out.push_str(&value::to_text(&*eval(e, frame)?)),
                }
            }
            Value::String(out)
        }
        Expr::List(items) => Value::Array(
            items
                .iter()
                .map(|e| eval_value(e, frame))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Object(entries) => {
            let mut map = serde_json::Map::with_capacity(entries.len());
            for (k, e) in entries {
                map.insert(k.to_string(), eval_value(e, frame)?);
            }
            Value::Object(map)
        }
        Expr::Field { base, name, span } => {
            let base = eval(base, frame)?;
            value::field(&base, name)
                .map_err(|e| EvalError::at(e, *span))?
                .clone()
        }
        Expr::Index { base, index, span } => {
            let base = eval(base, frame)?;
            let index = eval(index, frame)?;
            value::index(&base, &index)
                .map_err(|e| EvalError::at(e, *span))?
                .into_owned()
        }
        Expr::Unary { op, operand, span } => {
            let v = eval(operand, frame)?;
            value::unary(*op, &v).map_err(|e| EvalError::at(e, *span))?
        }
        Expr::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            lhs,
            rhs,
            span,
        } => {
            let l = eval(lhs, frame)?;
            let l = value::truthy_bool(&l).map_err(|e| EvalError::at(e, *span))?;
            // Short-circuit: the right side is not evaluated when the left decides.
            if (*op == BinaryOp::And) != l {
                return Ok(Value::Bool(l));
            }
            let r = eval(rhs, frame)?;
            Value::Bool(value::truthy_bool(&r).map_err(|e| EvalError::at(e, *span))?)
        }
        Expr::Binary { op, lhs, rhs, span } => {
            let l = eval(lhs, frame)?;
            let r = eval(rhs, frame)?;
            value::binary(*op, &l, &r).map_err(|e| EvalError::at(e, *span))?
        }
        Expr::Call {
            function,
            args,
            span,
        } => {
            let args = args
                .iter()
                .map(|a| eval_value(a, frame))
                .collect::<Result<Vec<_>, _>>()?;
            builtins::call_function(function.name, &args).map_err(|e| EvalError::at(e, *span))?
        }
    })
}
