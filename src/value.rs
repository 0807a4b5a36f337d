//! Value semantics: the operators, field and index access, and the conversions
//! the interpreter applies to JSON values (`serde_json::Value`).
//!
//! Everything here is pure and never panics. Errors are [`ValueError`]s without
//! a span; the interpreter attaches the span of the operator, field or call.
//!
//! Numbers follow these rules:
//!
//! - Integers stay integers under `+ - * %` and unary `-`. Arithmetic is done
//!   exactly on 128 bits; a result that fits neither `i64` nor `u64` (the
//!   integers JSON values can hold) falls back to a float.
//! - `/` is exact division: the result is an integer when both operands are
//!   integers and the division is exact (`6 / 2` is `3`), a float otherwise
//!   (`7 / 2` is `3.5`, `6.0 / 2` is `3.0`).
//! - `%` takes the sign of the dividend, as in Rust and C (`-7 % 2` is `-1`).
//! - Dividing by zero is a [`ErrorKind::DivisionByZero`] error; a result that is
//!   not a finite number (`1e308 * 10`) is a [`ErrorKind::BadValue`] error, as
//!   JSON cannot hold infinities or NaN.
//! - `==` compares numbers by value (`1 == 1.0`), exactly, even beyond 2^53.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use crate::ast::{BinaryOp, UnaryOp};
use crate::diag::{Code, Diagnostic};

/// The most items a list built by an operator or a built-in may hold.
pub const MAX_LIST_ITEMS: usize = 10_000_000;

/// The most bytes a string built by an operator or a built-in may hold (256 MiB).
pub const MAX_STRING_BYTES: usize = 256 * 1024 * 1024;

/// What went wrong, one per runtime diagnostic code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A value of the wrong type: `1 + "a"`, `len(3)`, `!5`.
    TypeError,
    /// `x / 0`, `x % 0`.
    DivisionByZero,
    /// `obj.nope`, `obj["nope"]`.
    MissingField,
    /// `[1, 2][5]`, `"ab"[-3]`.
    IndexOutOfRange,
    /// The right type but an unusable value: `range(0, 10, 0)`, `json("{")`,
    /// `int("abc")`, a result too large to represent.
    BadValue,
    /// The run was cancelled while the work ran (see `crate::interrupt`).
    Interrupted,
}

impl ErrorKind {
    pub fn code(self) -> Code {
        match self {
            ErrorKind::TypeError => Code::TypeError,
            ErrorKind::DivisionByZero => Code::DivisionByZero,
            ErrorKind::MissingField => Code::MissingField,
            ErrorKind::IndexOutOfRange => Code::IndexOutOfRange,
            ErrorKind::BadValue => Code::BadValue,
            ErrorKind::Interrupted => Code::Cancelled,
        }
    }
}

/// An error from an operator, an access or a built-in function, without a span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    pub kind: ErrorKind,
    /// Lowercase, no trailing period: "cannot add a string to a number".
    pub message: String,
    /// What to do about it, when a fix is likely: "did you mean `complexity`?".
    pub help: Option<String>,
}

impl ValueError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ValueError {
        ValueError {
            kind,
            message: message.into(),
            help: None,
        }
    }

    pub fn type_error(message: impl Into<String>) -> ValueError {
        ValueError::new(ErrorKind::TypeError, message)
    }

    pub fn bad_value(message: impl Into<String>) -> ValueError {
        ValueError::new(ErrorKind::BadValue, message)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> ValueError {
        self.help = Some(help.into());
        self
    }

    /// The diagnostic code of this error's kind.
    pub fn code(&self) -> Code {
        self.kind.code()
    }

    /// The error as a diagnostic without a span; the caller adds one with `.at(span, label)`.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let diag = Diagnostic::error(self.code(), self.message.clone());
        match &self.help {
            Some(help) => diag.help(help.clone()),
            None => diag,
        }
    }
}

impl From<ValueError> for Diagnostic {
    fn from(err: ValueError) -> Diagnostic {
        let diag = Diagnostic::error(err.code(), err.message);
        match err.help {
            Some(help) => diag.help(help),
            None => diag,
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValueError {}

// ---------------------------------------------------------------------------
// Describing values

/// Human-readable size: `16 MiB`, `512 KiB`, `300 bytes`.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else if bytes == 1 {
        "1 byte".to_string()
    } else {
        format!("{bytes} bytes")
    }
}

/// The type of a value with its article, as messages use it: `null`,
/// `a boolean`, `a number`, `a string`, `a list`, `an object`.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The type and a short preview: `a number (3)`, `a string ("abc")`, `null`.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        _ => format!("{} ({})", type_name(v), preview(v, 40)),
    }
}

/// A value as text: strings as they are, everything else as compact JSON.
/// This is what `${…}` interpolation and `str()` produce.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => {
            let mut out = String::new();
            write_text(&mut out, v);
            out
        }
    }
}

/// Appends [`to_text`] of a value to `out`, without an intermediate string.
pub fn write_text(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(s),
        _ => {
            use fmt::Write;
            // A Value displays as compact JSON; writing into a String cannot fail.
            let _ = write!(out, "{v}");
        }
    }
}

/// A one-line preview of a value as compact JSON, cut to at most `max_chars`
/// characters with a trailing `…`. Large values are not serialised in full.
pub fn preview(v: &Value, max_chars: usize) -> String {
    let max_chars = max_chars.max(1);
    // A char is at most 4 bytes, so this many bytes always hold max_chars + 1 chars.
    let mut writer = Bounded {
        buf: Vec::new(),
        limit: max_chars.saturating_add(1).saturating_mul(4),
    };
    // Stops with an error once the limit is reached; what was written is kept.
    let _ = serde_json::to_writer(&mut writer, v);
    let text = String::from_utf8_lossy(&writer.buf);
    if text.chars().count() <= max_chars {
        return text.into_owned();
    }
    let mut out: String = text.chars().take(max_chars - 1).collect();
    out.push('…');
    out
}

/// A writer that accepts at most `limit` bytes, then fails.
struct Bounded {
    buf: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.limit - self.buf.len();
        if room == 0 {
            return Err(std::io::Error::other("preview is full"));
        }
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Numbers

/// A JSON number, widened so every operation is exact where it can be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    /// Every integer a JSON number holds (`i64` and `u64`) fits.
    Int(i128),
    Float(f64),
}

impl Num {
    pub(crate) fn of(n: &Number) -> Num {
        if let Some(i) = n.as_i64() {
            Num::Int(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Num::Int(i128::from(u))
        } else {
            // Without arbitrary precision every number is an i64, a u64 or an f64.
            Num::Float(n.as_f64().unwrap_or(0.0))
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// The number as a JSON value; an integer outside `i64`/`u64` becomes a float.
    pub(crate) fn to_value(self) -> Result<Value, ValueError> {
        match self {
            Num::Int(i) => Ok(int_value(i)),
            Num::Float(f) => float_value(f),
        }
    }
}

/// An integer as a JSON value, or the nearest float when no JSON integer holds it.
pub(crate) fn int_value(i: i128) -> Value {
    if let Ok(i) = i64::try_from(i) {
        Value::from(i)
    } else if let Ok(u) = u64::try_from(i) {
        Value::from(u)
    } else {
        // |i| < 2^128, so the float is finite.
        Number::from_f64(i as f64).map_or(Value::Null, Value::Number)
    }
}

/// A float as a JSON value; infinities and NaN are errors.
pub(crate) fn float_value(f: f64) -> Result<Value, ValueError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| ValueError::bad_value("the result is too large to be a number"))
}

/// Compares two numbers exactly, whatever their representation.
fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

fn cmp_int_float(i: i128, f: f64) -> Ordering {
    // 2^127: beyond it every float is beyond every i128.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if f.is_nan() {
        return Ordering::Equal;
    }
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f < -LIMIT {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // |whole| < 2^127 and integral, so the cast is exact.
    match i.cmp(&(whole as i128)) {
        Ordering::Equal => 0.0.partial_cmp(&(f - whole)).unwrap_or(Ordering::Equal),
        other => other,
    }
}

/// The integer a number holds, if it is whole (`3` and `3.0`, not `3.5`).
pub(crate) fn whole_number(n: &Number) -> Option<i128> {
    match Num::of(n) {
        Num::Int(i) => Some(i),
        Num::Float(f) if f.fract() == 0.0 && f.abs() < 1.7e38 => Some(f as i128),
        Num::Float(_) => None,
    }
}

// ---------------------------------------------------------------------------
// Operators

/// Applies a binary operator. `&&` and `||` are evaluated on two booleans
/// (the interpreter short-circuits them before calling this).
///
/// ```no_run
/// use flow::ast::BinaryOp;
/// use flow::value::{binary, ErrorKind};
/// use serde_json::json;
///
/// assert_eq!(binary(BinaryOp::Div, &json!(7), &json!(2)), Ok(json!(3.5)));
/// assert_eq!(binary(BinaryOp::Div, &json!(6), &json!(2)), Ok(json!(3)));
/// assert_eq!(binary(BinaryOp::Eq, &json!(1), &json!(1.0)), Ok(json!(true)));
/// let err = binary(BinaryOp::Add, &json!(1), &json!("a")).unwrap_err();
/// assert_eq!(err.kind, ErrorKind::TypeError);
/// assert_eq!(err.message, "cannot add a string to a number");
/// ```
pub fn binary(op: BinaryOp, lhs: &Value, rhs: &Value) -> Result<Value, ValueError> {
    match op {
        BinaryOp::Eq => Ok(Value::Bool(equal(lhs, rhs))),
        BinaryOp::Ne => Ok(Value::Bool(!equal(lhs, rhs))),
        BinaryOp::Lt => Ok(Value::Bool(compare(lhs, rhs)?.is_lt())),
        BinaryOp::Le => Ok(Value::Bool(compare(lhs, rhs)?.is_le())),
        BinaryOp::Gt => Ok(Value::Bool(compare(lhs, rhs)?.is_gt())),
        BinaryOp::Ge => Ok(Value::Bool(compare(lhs, rhs)?.is_ge())),
        BinaryOp::And => Ok(Value::Bool(truthy_bool(lhs)? && truthy_bool(rhs)?)),
        BinaryOp::Or => Ok(Value::Bool(truthy_bool(lhs)? || truthy_bool(rhs)?)),
        BinaryOp::Add => add(lhs, rhs),
        BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => match (lhs, rhs) {
            (Value::Number(a), Value::Number(b)) => arithmetic(op, Num::of(a), Num::of(b)),
            _ => Err(arithmetic_type_error(op, lhs, rhs)),
        },
    }
}

fn add(lhs: &Value, rhs: &Value) -> Result<Value, ValueError> {
    match (lhs, rhs) {
        (Value::Number(a), Value::Number(b)) => arithmetic(BinaryOp::Add, Num::of(a), Num::of(b)),
        (Value::String(a), Value::String(b)) => {
            let len = a.len().saturating_add(b.len());
            check_string_size(len)?;
            let mut s = String::with_capacity(len);
            s.push_str(a);
            s.push_str(b);
            Ok(Value::String(s))
        }
        (Value::Array(a), Value::Array(b)) => {
            let len = a.len().saturating_add(b.len());
            check_list_size(len)?;
            let mut items = Vec::with_capacity(len);
            items.extend_from_slice(a);
            items.extend_from_slice(b);
            Ok(Value::Array(items))
        }
        _ => Err(arithmetic_type_error(BinaryOp::Add, lhs, rhs)),
    }
}

/// Arithmetic on two numbers, as the module documentation describes.
pub(crate) fn arithmetic(op: BinaryOp, a: Num, b: Num) -> Result<Value, ValueError> {
    let by_zero =
        |what: &str| ValueError::new(ErrorKind::DivisionByZero, format!("cannot {what} by zero"));
    if let (Num::Int(x), Num::Int(y)) = (a, b) {
        // Both fit in 65 bits, so only `*` can overflow an i128.
        return match op {
            BinaryOp::Add => Ok(int_value(x + y)),
            BinaryOp::Sub => Ok(int_value(x - y)),
            BinaryOp::Mul => match x.checked_mul(y) {
                Some(p) => Ok(int_value(p)),
                None => float_value(x as f64 * y as f64),
            },
            BinaryOp::Div if y == 0 => Err(by_zero("divide")),
            BinaryOp::Div if x % y == 0 => Ok(int_value(x / y)),
            BinaryOp::Div => float_value(x as f64 / y as f64),
            BinaryOp::Rem if y == 0 => Err(by_zero("take the remainder of a division")),
            BinaryOp::Rem => Ok(int_value(x % y)),
            _ => Err(ValueError::type_error(format!(
                "`{}` is not an arithmetic operator",
                op.symbol()
            ))),
        };
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    let result = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div if y == 0.0 => return Err(by_zero("divide")),
        BinaryOp::Div => x / y,
        BinaryOp::Rem if y == 0.0 => return Err(by_zero("take the remainder of a division")),
        BinaryOp::Rem => x % y,
        _ => {
            return Err(ValueError::type_error(format!(
                "`{}` is not an arithmetic operator",
                op.symbol()
            )))
        }
    };
    float_value(result).map_err(|_| {
        ValueError::bad_value(format!(
            "the result of `{} {} {}` is too large to be a number",
            float_text(x),
            op.symbol(),
            float_text(y)
        ))
    })
}

/// A float for a message: `1e308` rather than its 309 digits.
fn float_text(x: f64) -> String {
    if x != 0.0 && !(1e-6..1e16).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

fn arithmetic_type_error(op: BinaryOp, lhs: &Value, rhs: &Value) -> ValueError {
    let (l, r) = (type_name(lhs), type_name(rhs));
    let message = match op {
        BinaryOp::Add => format!("cannot add {r} to {l}"),
        BinaryOp::Sub => format!("cannot subtract {r} from {l}"),
        BinaryOp::Mul => format!("cannot multiply {l} by {r}"),
        BinaryOp::Div => format!("cannot divide {l} by {r}"),
        _ => format!("cannot take the remainder of {l} divided by {r}"),
    };
    let err = ValueError::type_error(message);
    let one_string = lhs.is_string() != rhs.is_string();
    match (op, one_string) {
        (BinaryOp::Add, true) => err.with_help(
            "convert the other side with `str(…)`, or interpolate it: \"text ${value}\"",
        ),
        (_, true) if lhs.is_number() || rhs.is_number() => {
            err.with_help("convert the string to a number with `int(…)` or `float(…)`")
        }
        _ => err,
    }
}

/// Deep structural equality; numbers compare by value (`1 == 1.0`), object
/// keys in any order. Never an error.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => cmp_num(Num::of(x), Num::of(y)).is_eq(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| equal(a, b)))
        }
        _ => false,
    }
}

/// Orders two numbers or two strings (strings by character, i.e. by code point).
pub fn compare(a: &Value, b: &Value) -> Result<Ordering, ValueError> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(cmp_num(Num::of(x), Num::of(y))),
        (Value::String(x), Value::String(y)) => Ok(x.as_str().cmp(y.as_str())),
        _ => {
            let err = ValueError::type_error(format!(
                "cannot compare {} with {}",
                type_name(a),
                type_name(b)
            ));
            Err(
                if (a.is_number() && b.is_string()) || (a.is_string() && b.is_number()) {
                    err.with_help("convert the string to a number with `int(…)` or `float(…)`")
                } else {
                    err.with_help("only two numbers or two strings can be ordered")
                },
            )
        }
    }
}

/// A condition's value: only `true` and `false` are accepted.
pub fn truthy_bool(v: &Value) -> Result<bool, ValueError> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(
            ValueError::type_error(format!("expected true or false, got {}", describe(v)))
                .with_help(match v {
                    Value::Number(_) => "compare it, e.g. `x > 0`",
                    Value::String(_) | Value::Array(_) | Value::Object(_) => {
                        "test its length, e.g. `len(x) > 0`"
                    }
                    _ => "compare it, e.g. `x != null`",
                }),
        ),
    }
}

/// Applies a unary operator: `-` to numbers, `!` to booleans.
pub fn unary(op: UnaryOp, v: &Value) -> Result<Value, ValueError> {
    match (op, v) {
        (UnaryOp::Neg, Value::Number(n)) => match Num::of(n) {
            Num::Int(i) => Ok(int_value(-i)),
            Num::Float(f) => float_value(-f),
        },
        (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (UnaryOp::Neg, _) => Err(ValueError::type_error(format!(
            "cannot negate {}",
            describe(v)
        ))),
        (UnaryOp::Not, _) => truthy_bool(v).map(|b| Value::Bool(!b)),
    }
}

// ---------------------------------------------------------------------------
// Access

/// `base.name`: a field of an object.
///
/// ```no_run
/// use flow::value::field;
/// use serde_json::json;
///
/// let analysis = json!({"complexity": 7, "rows": []});
/// assert_eq!(field(&analysis, "complexity"), Ok(&json!(7)));
/// let err = field(&analysis, "complexty").unwrap_err();
/// assert_eq!(err.message, "no field `complexty` in this object; it has `complexity`, `rows`");
/// assert_eq!(err.help.as_deref(), Some("did you mean `complexity`?"));
/// ```
pub fn field<'a>(base: &'a Value, name: &str) -> Result<&'a Value, ValueError> {
    match base {
        Value::Object(map) => map.get(name).ok_or_else(|| missing_key(map, name, "field")),
        _ => Err(ValueError::type_error(format!(
            "cannot read field `{name}` of {}",
            describe(base)
        ))),
    }
}

fn missing_key(map: &serde_json::Map<String, Value>, name: &str, what: &str) -> ValueError {
    const SHOWN: usize = 8;
    let message = if map.is_empty() {
        format!("no {what} `{name}` in this object; it is empty")
    } else {
        let mut listed: Vec<String> = map.keys().take(SHOWN).map(|k| format!("`{k}`")).collect();
        if map.len() > SHOWN {
            listed.push(format!("and {} more", map.len() - SHOWN));
        }
        format!(
            "no {what} `{name}` in this object; it has {}",
            listed.join(", ")
        )
    };
    let err = ValueError::new(ErrorKind::MissingField, message);
    match suggest(name, map.keys().map(String::as_str)) {
        Some(close) => err.with_help(format!("did you mean `{close}`?")),
        None => err,
    }
}

/// The candidate closest to `name`, if one is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = if candidate.eq_ignore_ascii_case(name) {
            0
        } else {
            strsim::damerau_levenshtein(name, candidate)
        };
        if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `base[idx]`: a list item or a string's character by integer (negative
/// counts from the end, `-1` is the last), an object field by string.
///
/// ```no_run
/// use flow::value::index;
/// use serde_json::json;
///
/// let rows = json!([10, 20, 30]);
/// assert_eq!(*index(&rows, &json!(-1)).unwrap(), json!(30));
/// let err = index(&rows, &json!(5)).unwrap_err();
/// assert_eq!(err.message, "index 5 is out of range for a list of 3 items");
/// ```
pub fn index<'a>(base: &'a Value, idx: &Value) -> Result<Cow<'a, Value>, ValueError> {
    match (base, idx) {
        (Value::Array(items), Value::Number(n)) => {
            let i = position(n, items.len(), "list")?;
            Ok(Cow::Borrowed(&items[i]))
        }
        (Value::String(s), Value::Number(n)) => {
            let i = whole_index(n)?;
            let c = if i >= 0 {
                usize::try_from(i).ok().and_then(|i| s.chars().nth(i))
            } else {
                usize::try_from(-i)
                    .ok()
                    .and_then(|back| s.chars().rev().nth(back - 1))
            };
            match c {
                Some(c) => Ok(Cow::Owned(Value::String(c.to_string()))),
                None => Err(out_of_range(i, s.chars().count(), "string", "characters")),
            }
        }
        (Value::Object(map), Value::String(key)) => map
            .get(key)
            .map(Cow::Borrowed)
            .ok_or_else(|| missing_key(map, key, "key")),
        (Value::Array(_) | Value::String(_), _) => Err(ValueError::type_error(format!(
            "{} is indexed by an integer, not {}",
            type_name(base),
            describe(idx)
        ))),
        (Value::Object(_), _) => Err(ValueError::type_error(format!(
            "an object is indexed by a string key, not {}",
            describe(idx)
        ))),
        _ => Err(
            ValueError::type_error(format!("cannot index into {}", describe(base)))
                .with_help("only lists, strings and objects can be indexed"),
        ),
    }
}

fn whole_index(n: &Number) -> Result<i128, ValueError> {
    whole_number(n)
        .ok_or_else(|| ValueError::bad_value(format!("an index must be a whole number, got {n}")))
}

/// Resolves a possibly negative index into a sequence of `len` items.
fn position(n: &Number, len: usize, what: &str) -> Result<usize, ValueError> {
    let i = whole_index(n)?;
    let len_i = len as i128;
    let resolved = if i < 0 { len_i + i } else { i };
    if (0..len_i).contains(&resolved) {
        // 0 <= resolved < len, so it fits.
        Ok(resolved as usize)
    } else {
        Err(out_of_range(i, len, what, "items"))
    }
}

fn out_of_range(i: i128, len: usize, what: &str, unit: &str) -> ValueError {
    let (message, help) = if len == 0 {
        (
            format!("index {i} is out of range for an empty {what}"),
            format!("the {what} has no {unit}"),
        )
    } else {
        let unit = if len == 1 {
            &unit[..unit.len() - 1]
        } else {
            unit
        };
        (
            format!("index {i} is out of range for a {what} of {len} {unit}"),
            format!(
                "valid indices are 0 to {} (or -{len} to -1 from the end)",
                len - 1
            ),
        )
    };
    ValueError::new(ErrorKind::IndexOutOfRange, message).with_help(help)
}

// ---------------------------------------------------------------------------
// Modifier arguments

/// A duration for `timeout`, `backoff` or `sleep`: a finite, non-negative number of seconds.
pub fn duration_seconds(v: &Value) -> Result<f64, ValueError> {
    match v {
        Value::Number(n) => {
            let secs = Num::of(n).as_f64();
            if secs.is_finite() && secs >= 0.0 {
                Ok(secs)
            } else {
                Err(ValueError::bad_value(format!(
                    "a duration cannot be negative, got {n}"
                )))
            }
        }
        _ => Err(ValueError::type_error(format!(
            "expected a duration (a number of seconds, or `30s`, `5m`), got {}",
            describe(v)
        ))),
    }
}

/// [`duration_seconds`] as a `Duration`; one too long to represent (`1e20`)
/// is the longest there is, which timers treat as never.
pub fn duration(v: &Value) -> Result<std::time::Duration, ValueError> {
    duration_seconds(v).map(|secs| {
        std::time::Duration::try_from_secs_f64(secs).unwrap_or(std::time::Duration::MAX)
    })
}

/// A count for `retry N` (`min` 0) or `limit N` (`min` 1): a whole number of at
/// least `min`. `what` names the modifier in messages (`retry`, `limit`).
pub fn count(v: &Value, what: &str, min: u64) -> Result<u64, ValueError> {
    let n = match v {
        Value::Number(n) => n,
        _ => {
            return Err(ValueError::type_error(format!(
                "`{what}` needs a whole number, got {}",
                describe(v)
            )))
        }
    };
    let Some(i) = whole_number(n) else {
        return Err(ValueError::bad_value(format!(
            "`{what}` needs a whole number, got {n}"
        )));
    };
    match u64::try_from(i) {
        Ok(c) if c >= min => Ok(c),
        _ => Err(ValueError::bad_value(format!(
            "`{what}` must be at least {min}, got {n}"
        ))),
    }
}

// ---------------------------------------------------------------------------
// Size caps

pub(crate) fn check_list_size(len: usize) -> Result<(), ValueError> {
    if len > MAX_LIST_ITEMS {
        Err(ValueError::bad_value(format!(
            "a list of {len} items is too large; the limit is {MAX_LIST_ITEMS}"
        )))
    } else {
        Ok(())
    }
}

pub(crate) fn check_string_size(len: usize) -> Result<(), ValueError> {
    if len > MAX_STRING_BYTES {
        Err(ValueError::bad_value(format!(
            "a string of {len} bytes is too large; the limit is {MAX_STRING_BYTES}"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
