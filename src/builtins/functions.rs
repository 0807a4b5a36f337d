//! The implementations of the pure built-in functions listed in
//! [`FUNCTIONS`](super::FUNCTIONS): `len`, `range`, `split`, `json`, …
//!
//! Each takes its already evaluated arguments and returns a value or a
//! [`ValueError`] without a span; the interpreter attaches the call's span.
//! None of them panics, and none builds a list of more than
//! [`MAX_LIST_ITEMS`] items or a string of more than
//! [`MAX_STRING_BYTES`](crate::value::MAX_STRING_BYTES) bytes.

use std::cmp::Ordering;

use serde_json::Value;

use crate::interrupt;
use crate::value::{
    self, check_list_size, check_string_size, describe, int_value, type_name, whole_number,
    ErrorKind, Num, ValueError, MAX_LIST_ITEMS,
};

/// Calls the pure built-in function `name` with its evaluated arguments.
///
/// ```no_run
/// use flow::builtins::call_function;
/// use serde_json::json;
///
/// assert_eq!(call_function("range", &[json!(3)]), Ok(json!([0, 1, 2])));
/// assert_eq!(call_function("join", &[json!(["a", 1]), json!("-")]), Ok(json!("a-1")));
/// assert!(call_function("range", &[json!(1e12)]).is_err());
/// ```
pub fn call_function(name: &str, args: &[Value]) -> Result<Value, ValueError> {
    let Some(f) = super::function_named(name) else {
        return Err(ValueError::type_error(format!(
            "no built-in function `{name}`"
        )));
    };
    if args.len() < f.min_args || args.len() > f.max_args {
        return Err(ValueError::type_error(format!(
            "`{name}` takes {}, got {}",
            arity(f.min_args, f.max_args),
            args.len()
        ))
        .with_help(format!("call it as `{}`", f.signature)));
    }
    if let Some(result) = super::data::call(name, args) {
        return result;
    }
    if let Some(result) = super::files::call(name, args) {
        return result;
    }
    match (name, args) {
        ("len", [v]) => len(v),
        ("range", _) => range(args),
        ("keys", [v]) => Ok(Value::Array(
            object(v, "keys")?
                .keys()
                .cloned()
                .map(Value::String)
                .collect(),
        )),
        ("values", [v]) => Ok(Value::Array(
            object(v, "values")?.values().cloned().collect(),
        )),
        ("split", [text, sep]) => split(
            string(text, "split", "text")?,
            string(sep, "split", "separator")?,
        ),
        ("join", [list]) => join(list, ""),
        ("join", [list, sep]) => join(list, string(sep, "join", "separator")?),
        ("upper", [v]) => Ok(Value::String(string(v, "upper", "text")?.to_uppercase())),
        ("lower", [v]) => Ok(Value::String(string(v, "lower", "text")?.to_lowercase())),
        ("trim", [v]) => Ok(Value::String(string(v, "trim", "text")?.trim().to_string())),
        ("contains", [haystack, needle]) => contains(haystack, needle),
        ("json", [v]) => json(string(v, "json", "text")?),
        ("str", [v]) => text(v),
        ("int", [v]) => int(v),
        ("float", [v]) => float(v),
        ("sum", [v]) => sum(list(v, "sum")?),
        ("min", _) => extreme(args, "min", Ordering::Less),
        ("max", _) => extreme(args, "max", Ordering::Greater),
        ("flatten", [v]) => flatten(list(v, "flatten")?),
        ("zip", _) => zip(args),
        ("chunk", [v, size]) => chunk(list(v, "chunk")?, size),
        ("env", [name]) => env(name, None),
        ("env", [name, default]) => env(name, Some(default)),
        _ => Err(ValueError::type_error(format!(
            "`{name}` cannot be called with {} arguments",
            args.len()
        ))),
    }
}

fn arity(min: usize, max: usize) -> String {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    if min == max {
        format!("{min} {}", plural(min))
    } else if max == usize::MAX {
        format!("at least {min} {}", plural(min))
    } else {
        format!("{min} to {max} arguments")
    }
}

// ---------------------------------------------------------------------------
// Argument helpers

fn string<'a>(v: &'a Value, func: &str, what: &str) -> Result<&'a str, ValueError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(ValueError::type_error(format!(
            "`{func}` needs a string as its {what}, got {}",
            describe(v)
        ))
        .with_help("convert it with `str(…)`")),
    }
}

fn list<'a>(v: &'a Value, func: &str) -> Result<&'a [Value], ValueError> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(ValueError::type_error(format!(
            "`{func}` needs a list, got {}",
            describe(v)
        ))),
    }
}

fn object<'a>(v: &'a Value, func: &str) -> Result<&'a serde_json::Map<String, Value>, ValueError> {
    match v {
        Value::Object(map) => Ok(map),
        _ => Err(ValueError::type_error(format!(
            "`{func}` needs an object, got {}",
            describe(v)
        ))),
    }
}

/// A whole-number argument (`3` or `3.0`).
fn integer(v: &Value, func: &str, what: &str) -> Result<i128, ValueError> {
    match v {
        Value::Number(n) => whole_number(n).ok_or_else(|| {
            ValueError::bad_value(format!(
                "`{func}` needs a whole number as its {what}, got {n}"
            ))
        }),
        _ => Err(ValueError::type_error(format!(
            "`{func}` needs a whole number as its {what}, got {}",
            describe(v)
        ))),
    }
}

// ---------------------------------------------------------------------------
// The functions

fn len(v: &Value) -> Result<Value, ValueError> {
    let n = match v {
        Value::Array(items) => items.len(),
        Value::String(s) => s.chars().count(),
        Value::Object(map) => map.len(),
        _ => {
            return Err(ValueError::type_error(format!(
                "`len` needs a list, string or object, got {}",
                describe(v)
            )))
        }
    };
    Ok(Value::from(n))
}

fn range(args: &[Value]) -> Result<Value, ValueError> {
    let (start, end, step) = match args {
        [end] => (0, integer(end, "range", "end")?, 1),
        [start, end] => (
            integer(start, "range", "start")?,
            integer(end, "range", "end")?,
            1,
        ),
        [start, end, step] => (
            integer(start, "range", "start")?,
            integer(end, "range", "end")?,
            integer(step, "range", "step")?,
        ),
        _ => return Err(ValueError::type_error("`range` takes 1 to 3 arguments")),
    };
    if step == 0 {
        return Err(ValueError::bad_value("`range` needs a step other than 0")
            .with_help("use a positive step to count up, a negative one to count down"));
    }
    // Every bound is below 2^127 in magnitude and so is the step: no overflow.
    let span = if step > 0 { end - start } else { start - end };
    let magnitude = step.abs();
    let count = if span <= 0 {
        0
    } else {
        (span + magnitude - 1) / magnitude
    };
    if count > MAX_LIST_ITEMS as i128 {
        return Err(ValueError::bad_value(format!(
            "`range` would make a list of {count} items; the limit is {MAX_LIST_ITEMS}"
        )));
    }
    let mut items = Vec::with_capacity(count as usize);
    let mut i = start;
    for n in 0..count as usize {
        interrupt::check(n)?;
        items.push(int_value(i));
        i += step;
    }
    Ok(Value::Array(items))
}

fn split(text: &str, sep: &str) -> Result<Value, ValueError> {
    // Counted first, so a huge string is refused before anything is allocated.
    if sep.is_empty() {
        check_list_size(text.chars().count())?;
        let parts = text.chars().enumerate().map(|(i, c)| {
            interrupt::check(i)?;
            Ok(Value::String(c.to_string()))
        });
        Ok(Value::Array(parts.collect::<Result<_, ValueError>>()?))
    } else {
        check_list_size(text.matches(sep).count().saturating_add(1))?;
        let parts = text.split(sep).enumerate().map(|(i, p)| {
            interrupt::check(i)?;
            Ok(Value::String(p.to_string()))
        });
        Ok(Value::Array(parts.collect::<Result<_, ValueError>>()?))
    }
}

fn join(v: &Value, sep: &str) -> Result<Value, ValueError> {
    let items = list(v, "join")?;
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        value::write_text(&mut out, item);
        check_string_size(out.len())?;
        interrupt::check(i)?;
    }
    Ok(Value::String(out))
}

fn contains(haystack: &Value, needle: &Value) -> Result<Value, ValueError> {
    let found = match (haystack, needle) {
        (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
        (Value::String(_), _) => {
            return Err(ValueError::type_error(format!(
                "`contains` on a string looks for a string, got {}",
                describe(needle)
            ))
            .with_help("convert it with `str(…)`"))
        }
        (Value::Array(items), _) => items.iter().any(|item| value::equal(item, needle)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        (Value::Object(_), _) => {
            return Err(ValueError::type_error(format!(
                "`contains` on an object looks for a key (a string), got {}",
                describe(needle)
            )))
        }
        _ => {
            return Err(ValueError::type_error(format!(
                "`contains` needs a string, list or object to search, got {}",
                describe(haystack)
            )))
        }
    };
    Ok(Value::Bool(found))
}

/// Bytes written or read between two looks at the run's cancellation.
const CHECKED_BYTES: usize = 1 << 20;

/// `str`: [`value::to_text`], stopped when the run is cancelled.
fn text(v: &Value) -> Result<Value, ValueError> {
    /// A buffer that refuses more once the run is cancelled.
    struct Out(Vec<u8>, usize);
    impl std::io::Write for Out {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(bytes);
            if self.0.len() >= self.1 {
                self.1 = self.0.len() + CHECKED_BYTES;
                if interrupt::current() {
                    return Err(std::io::Error::other("interrupted"));
                }
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    if let Value::String(s) = v {
        return Ok(Value::String(s.clone()));
    }
    let mut out = Out(Vec::new(), CHECKED_BYTES);
    serde_json::to_writer(&mut out, v).map_err(|_| interrupt::interrupted())?;
    String::from_utf8(out.0)
        .map(Value::String)
        .map_err(|_| ValueError::bad_value("`str` made text that is not UTF-8"))
}

fn json(text: &str) -> Result<Value, ValueError> {
    /// The text, read in pieces, refused once the run is cancelled.
    struct In<'a>(&'a [u8]);
    impl std::io::Read for In<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if interrupt::current() {
                return Err(std::io::Error::other("interrupted"));
            }
            let n = buf.len().min(self.0.len()).min(CHECKED_BYTES);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let invalid = |e: serde_json::Error| {
        ValueError::bad_value(format!("`json` was given invalid JSON: {e}"))
    };
    if text.len() <= CHECKED_BYTES {
        return serde_json::from_str(text).map_err(invalid);
    }
    // A big text: slower to parse from a reader, but it can be stopped.
    let reader = std::io::BufReader::with_capacity(1 << 16, In(text.as_bytes()));
    match serde_json::from_reader(reader) {
        Ok(value) => Ok(value),
        Err(e) if e.is_io() => Err(interrupt::interrupted()),
        Err(e) => Err(invalid(e)),
    }
}

fn int(v: &Value) -> Result<Value, ValueError> {
    match v {
        Value::Number(n) => match Num::of(n) {
            Num::Int(_) => Ok(v.clone()),
            Num::Float(f) => truncate(f, &n.to_string()),
        },
        Value::String(s) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i128>() {
                if i64::try_from(i).is_ok() || u64::try_from(i).is_ok() {
                    return Ok(int_value(i));
                }
            }
            match parse_float(t) {
                Some(f) => truncate(f, s),
                None => Err(not_numeric("int", s)),
            }
        }
        _ => Err(ValueError::type_error(format!(
            "`int` needs a number or a numeric string, got {}",
            describe(v)
        ))),
    }
}

/// A float truncated toward zero, as an integer.
fn truncate(f: f64, shown: &str) -> Result<Value, ValueError> {
    let t = f.trunc();
    // 2^63 and 2^64: the integers JSON holds are -2^63 ..= 2^64 - 1.
    if (-9_223_372_036_854_775_808.0..18_446_744_073_709_551_616.0).contains(&t) {
        Ok(int_value(t as i128))
    } else {
        Err(ValueError::bad_value(format!(
            "`int` cannot hold {shown}: it is too large for an integer"
        )))
    }
}

/// A finite float in decimal notation; `inf` and `NaN` are not numbers in JSON.
fn parse_float(t: &str) -> Option<f64> {
    let looks_numeric = t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
    if !looks_numeric {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn not_numeric(func: &str, s: &str) -> ValueError {
    ValueError::bad_value(format!(
        "`{func}` needs a numeric string, got {}",
        value::preview(&Value::String(s.to_string()), 40)
    ))
}

fn float(v: &Value) -> Result<Value, ValueError> {
    let f = match v {
        Value::Number(n) => Num::of(n).as_f64(),
        Value::String(s) => parse_float(s.trim()).ok_or_else(|| not_numeric("float", s))?,
        _ => {
            return Err(ValueError::type_error(format!(
                "`float` needs a number or a numeric string, got {}",
                describe(v)
            )))
        }
    };
    value::float_value(f)
}

fn sum(items: &[Value]) -> Result<Value, ValueError> {
    // Exact on i128 while every item is an integer; a float item or an
    // overflow switches to f64 for the rest.
    let mut total = Num::Int(0);
    for (i, item) in items.iter().enumerate() {
        interrupt::check(i)?;
        let Value::Number(n) = item else {
            return Err(ValueError::type_error(format!(
                "`sum` needs a list of numbers, but item {i} is {}",
                describe(item)
            )));
        };
        total = match (total, Num::of(n)) {
            (Num::Int(a), Num::Int(b)) => match a.checked_add(b) {
                Some(s) => Num::Int(s),
                None => Num::Float(a as f64 + b as f64),
            },
            (a, b) => Num::Float(a.as_f64() + b.as_f64()),
        };
    }
    if let Num::Float(f) = total {
        if !f.is_finite() {
            return Err(ValueError::bad_value("the sum is too large to be a number"));
        }
    }
    total.to_value()
}

/// `min` (`want` is `Less`) or `max` (`Greater`) of one list or of several arguments.
fn extreme(args: &[Value], func: &str, want: Ordering) -> Result<Value, ValueError> {
    let items: &[Value] = match args {
        [Value::Array(items)] => items,
        [single] => {
            return Err(ValueError::type_error(format!(
                "`{func}` of one argument needs a list, got {}",
                describe(single)
            ))
            .with_help(format!(
                "pass a list, `{func}([a, b])`, or several values, `{func}(a, b)`"
            )))
        }
        _ => args,
    };
    let Some(first) = items.first() else {
        return Err(ValueError::bad_value(format!(
            "`{func}` of an empty list has no value"
        )));
    };
    let mut best = first;
    for item in items {
        let same_kind = matches!(
            (best, item),
            (Value::Number(_), Value::Number(_)) | (Value::String(_), Value::String(_))
        );
        if !same_kind {
            return Err(ValueError::type_error(format!(
                "`{func}` needs all numbers or all strings, got {} and {}",
                type_name(best),
                type_name(item)
            )));
        }
        if value::compare(item, best)? == want {
            best = item;
        }
    }
    Ok(best.clone())
}

fn flatten(items: &[Value]) -> Result<Value, ValueError> {
    let total = items.iter().fold(0usize, |n, item| {
        n.saturating_add(match item {
            Value::Array(inner) => inner.len(),
            _ => 1,
        })
    });
    check_list_size(total)?;
    let mut out = Vec::with_capacity(total);
    for (i, item) in items.iter().enumerate() {
        interrupt::check(i)?;
        match item {
            Value::Array(inner) => out.extend_from_slice(inner),
            other => out.push(other.clone()),
        }
    }
    Ok(Value::Array(out))
}

fn zip(args: &[Value]) -> Result<Value, ValueError> {
    let mut lists = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        match arg {
            Value::Array(items) => lists.push(items),
            _ => {
                return Err(ValueError::type_error(format!(
                    "`zip` needs lists, but argument {} is {}",
                    i + 1,
                    describe(arg)
                )))
            }
        }
    }
    let shortest = lists.iter().map(|l| l.len()).min().unwrap_or(0);
    let tuples = (0..shortest).map(|i| {
        interrupt::check(i)?;
        Ok(Value::Array(lists.iter().map(|l| l[i].clone()).collect()))
    });
    Ok(Value::Array(tuples.collect::<Result<_, ValueError>>()?))
}

fn chunk(items: &[Value], size: &Value) -> Result<Value, ValueError> {
    let size = integer(size, "chunk", "size")?;
    if size < 1 {
        return Err(ValueError::bad_value(format!(
            "`chunk` needs a size of at least 1, got {size}"
        )));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::Array(
        items
            .chunks(size)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

fn env(name: &Value, default: Option<&Value>) -> Result<Value, ValueError> {
    let name = string(name, "env", "name")?;
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(ValueError::new(
            ErrorKind::BadValue,
            format!(
                "`env` needs a variable name without `=` or NUL, got {}",
                value::preview(&Value::String(name.to_string()), 40)
            ),
        ));
    }
    Ok(match std::env::var_os(name) {
        Some(v) => Value::String(v.to_string_lossy().into_owned()),
        None => default.cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests;
