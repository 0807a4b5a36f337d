//! Built-in functions over data that workflows reach for first: ordering
//! (`sort`, `reverse`, `unique`), lookups (`get`), text (`replace`,
//! `starts_with`, `ends_with`, `lines`), paths (`basename`, `dirname`,
//! `extension`) and numbers (`round`, `floor`, `ceil`, `fixed`). Pure, like
//! the others in [`functions`](super::functions).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::interrupt;
use crate::value::{self, describe, float_value, int_value, Num, ValueError};

/// Calls `name` when it is one of this file's functions (arity checked by
/// the caller).
pub(super) fn call(name: &str, args: &[Value]) -> Option<Result<Value, ValueError>> {
    let known = matches!(
        name,
        "sort" | "reverse" | "unique" | "get" | "replace" | "starts_with" | "ends_with"
            | "lines" | "basename" | "dirname" | "extension" | "round" | "floor" | "ceil"
            | "fixed"
    );
    known.then(|| dispatch(name, args))
}

fn dispatch(name: &str, args: &[Value]) -> Result<Value, ValueError> {
    Ok(match (name, args) {
        ("sort", [list]) => sort(list, None)?,
        ("sort", [list, key]) => sort(list, Some(key))?,
        ("reverse", [v]) => reverse(v)?,
        ("unique", [list]) => unique(list)?,
        ("get", [from, key]) => get(from, key).unwrap_or(Value::Null),
        ("get", [from, key, default]) => get(from, key).unwrap_or_else(|| default.clone()),
        ("replace", [t, from, to]) => replace(t, from, to)?,
        ("starts_with", [t, p]) => Value::Bool(text(t, name)?.starts_with(text(p, name)?)),
        ("ends_with", [t, s]) => Value::Bool(text(t, name)?.ends_with(text(s, name)?)),
        ("lines", [t]) => lines(text(t, name)?),
        ("basename", [p]) => Value::String(basename(text(p, name)?)),
        ("dirname", [p]) => Value::String(dirname(text(p, name)?)),
        ("extension", [p]) => Value::String(extension(text(p, name)?)),
        ("round", [x]) => whole(x, name, f64::round)?,
        ("floor", [x]) => whole(x, name, f64::floor)?,
        ("ceil", [x]) => whole(x, name, f64::ceil)?,
        ("round", [x, digits]) => round_to(x, digits)?,
        ("fixed", [x, digits]) => fixed(x, digits)?,
        _ => {
            return Err(ValueError::type_error(format!(
                "`{name}` cannot be called with {} arguments",
                args.len()
            )))
        }
    })
}

fn text<'a>(v: &'a Value, func: &str) -> Result<&'a str, ValueError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(ValueError::type_error(format!(
            "`{func}` needs a string, got {}",
            describe(v)
        ))
        .with_help("convert it with `str(…)`")),
    }
}

fn number(v: &Value, func: &str) -> Result<f64, ValueError> {
    match v {
        Value::Number(n) => Ok(Num::of(n).as_f64()),
        _ => Err(ValueError::type_error(format!(
            "`{func}` needs a number, got {}",
            describe(v)
        ))),
    }
}

fn digits(v: &Value, func: &str) -> Result<usize, ValueError> {
    match v.as_u64() {
        Some(d) if d <= 15 => Ok(d as usize),
        _ => Err(ValueError::bad_value(format!(
            "`{func}` needs a number of digits from 0 to 15, got {}",
            describe(v)
        ))),
    }
}

/// `sort(list)`: numbers or strings in order; `sort(list, key)`: objects by
/// a field. Stable: equal items keep their order.
fn sort(list: &Value, key: Option<&Value>) -> Result<Value, ValueError> {
    let Value::Array(items) = list else {
        return Err(ValueError::type_error(format!(
            "`sort` needs a list, got {}",
            describe(list)
        )));
    };
    let key = key.map(|k| text(k, "sort")).transpose()?;
    // The value each item sorts by, checked to be of one kind.
    let mut by = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        interrupt::check(i)?;
        let v = match key {
            None => item,
            Some(key) => item.get(key).ok_or_else(|| {
                ValueError::new(value::ErrorKind::MissingField, format!(
                    "`sort` by `{key}`: item {i} has no field `{key}` ({})",
                    value::preview(item, 60)
                ))
            })?,
        };
        let kind_ok = matches!(
            (by.first().map(|(_, v): &(usize, &Value)| *v), v),
            (None, Value::Number(_) | Value::String(_))
                | (Some(Value::Number(_)), Value::Number(_))
                | (Some(Value::String(_)), Value::String(_))
        );
        if !kind_ok {
            return Err(ValueError::type_error(format!(
                "`sort` needs all numbers or all strings, got {} at item {i}",
                describe(v)
            )));
        }
        by.push((i, v));
    }
    let mut failed = None;
    by.sort_by(|(_, a), (_, b)| {
        value::compare(a, b).unwrap_or_else(|e| {
            failed.get_or_insert(e);
            Ordering::Equal
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(Value::Array(
        by.into_iter().map(|(i, _)| items[i].clone()).collect(),
    ))
}

fn reverse(v: &Value) -> Result<Value, ValueError> {
    match v {
        Value::Array(items) => Ok(Value::Array(items.iter().rev().cloned().collect())),
        Value::String(s) => Ok(Value::String(s.chars().rev().collect())),
        _ => Err(ValueError::type_error(format!(
            "`reverse` needs a list or a string, got {}",
            describe(v)
        ))),
    }
}

/// The list without repeats, each item where it first stood.
fn unique(list: &Value) -> Result<Value, ValueError> {
    let Value::Array(items) = list else {
        return Err(ValueError::type_error(format!(
            "`unique` needs a list, got {}",
            describe(list)
        )));
    };
    let mut seen = HashSet::with_capacity(items.len());
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        interrupt::check(i)?;
        // Equal values have equal compact JSON (numbers as written: 1 and 1.0 differ).
        if seen.insert(item.to_string()) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

/// A field of an object or an item of a list (negative from the end), if there.
fn get(from: &Value, key: &Value) -> Option<Value> {
    match (from, key) {
        (Value::Object(fields), Value::String(k)) => fields.get(k).cloned(),
        (Value::Array(items), Value::Number(n)) => {
            let i = n.as_i64()?;
            let i = if i < 0 { items.len() as i64 + i } else { i };
            items.get(usize::try_from(i).ok()?).cloned()
        }
        _ => None,
    }
}

fn replace(t: &Value, from: &Value, to: &Value) -> Result<Value, ValueError> {
    let (t, from, to) = (
        text(t, "replace")?,
        text(from, "replace")?,
        text(to, "replace")?,
    );
    if from.is_empty() {
        return Err(ValueError::bad_value(
            "`replace` needs a non-empty text to look for",
        ));
    }
    let count = t.matches(from).count();
    let len = t.len() - count * from.len() + count * to.len();
    value::check_string_size(len)?;
    Ok(Value::String(t.replace(from, to)))
}

/// The lines of a text, without their `\n` or `\r\n`; a final newline ends
/// the last line.
fn lines(t: &str) -> Value {
    if t.is_empty() {
        return Value::Array(Vec::new());
    }
    let t = t.strip_suffix('\n').unwrap_or(t);
    Value::Array(
        t.split('\n')
            .map(|l| Value::String(l.strip_suffix('\r').unwrap_or(l).to_string()))
            .collect(),
    )
}

/// The last part of a path, trailing `/` ignored (`a/b.txt` → `b.txt`).
fn basename(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return if p.is_empty() { "" } else { "/" }.to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// The path without its last part, as `dirname` prints it (`b.txt` → `.`).
fn dirname(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    match trimmed.rfind('/') {
        None if p.starts_with('/') => "/".to_string(),
        None => ".".to_string(),
        Some(i) => {
            let dir = trimmed[..i].trim_end_matches('/');
            if dir.is_empty() { "/" } else { dir }.to_string()
        }
    }
}

/// The extension of the last part, without its dot (`a.tar.gz` → `gz`, `.bashrc` → ``).
fn extension(p: &str) -> String {
    Path::new(&basename(p))
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `round`, `floor`, `ceil` to a whole number (integers stay as they are).
fn whole(x: &Value, func: &str, f: fn(f64) -> f64) -> Result<Value, ValueError> {
    if let Value::Number(n) = x {
        if let Num::Int(_) = Num::of(n) {
            return Ok(x.clone());
        }
    }
    let r = f(number(x, func)?);
    if r.abs() < 9.0e15 {
        Ok(int_value(r as i128))
    } else {
        float_value(r)
    }
}

/// `round(x, digits)`: to that many decimals, halves away from zero.
fn round_to(x: &Value, digits: &Value) -> Result<Value, ValueError> {
    let (v, d) = (number(x, "round")?, self::digits(digits, "round")?);
    if d == 0 {
        return whole(x, "round", f64::round);
    }
    // Through the decimal text, so that 2.675 rounds as written, not as stored.
    let text = format!("{v:.*}", d + 3);
    let exact: f64 = text.parse().unwrap_or(v);
    let scale = 10f64.powi(d as i32);
    float_value((exact * scale).round() / scale)
}

/// `fixed(x, digits)`: the number as text with exactly that many decimals.
fn fixed(x: &Value, digits: &Value) -> Result<Value, ValueError> {
    let (v, d) = (number(x, "fixed")?, self::digits(digits, "fixed")?);
    Ok(Value::String(format!("{v:.d$}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call_ok(name: &str, args: &[Value]) -> Value {
        call(name, args).expect("a function").expect("a value")
    }

    #[test]
    fn sorting_is_stable_and_by_key() {
        assert_eq!(call_ok("sort", &[json!([3, 1.5, 2])]), json!([1.5, 2, 3]));
        assert_eq!(call_ok("sort", &[json!(["b", "a"])]), json!(["a", "b"]));
        let rows = json!([{"n": 2, "id": "x"}, {"n": 1, "id": "y"}, {"n": 2, "id": "z"}]);
        assert_eq!(
            call_ok("sort", &[rows, json!("n")]),
            json!([{"n": 1, "id": "y"}, {"n": 2, "id": "x"}, {"n": 2, "id": "z"}])
        );
        assert!(call("sort", &[json!([1, "a"])]).unwrap().is_err());
        assert!(call("sort", &[json!([{"a": 1}]), json!("n")]).unwrap().is_err());
    }

    #[test]
    fn lists_and_lookups() {
        assert_eq!(call_ok("reverse", &[json!([1, 2])]), json!([2, 1]));
        assert_eq!(call_ok("reverse", &[json!("ab")]), json!("ba"));
        assert_eq!(call_ok("unique", &[json!([1, 2, 1, "1", 2])]), json!([1, 2, "1"]));
        assert_eq!(call_ok("get", &[json!({"a": 1}), json!("a")]), json!(1));
        assert_eq!(call_ok("get", &[json!({"a": 1}), json!("b"), json!(0)]), json!(0));
        assert_eq!(call_ok("get", &[json!([1, 2]), json!(-1)]), json!(2));
        assert_eq!(call_ok("get", &[json!([1, 2]), json!(5)]), json!(null));
    }

    #[test]
    fn texts_and_paths() {
        assert_eq!(call_ok("replace", &[json!("a-b-c"), json!("-"), json!("+")]), json!("a+b+c"));
        assert_eq!(call_ok("starts_with", &[json!("report.md"), json!("rep")]), json!(true));
        assert_eq!(call_ok("ends_with", &[json!("report.md"), json!(".txt")]), json!(false));
        assert_eq!(call_ok("lines", &[json!("a\r\nb\n\nc\n")]), json!(["a", "b", "", "c"]));
        assert_eq!(call_ok("lines", &[json!("")]), json!([]));
        for (path, base, dir, ext) in [
            ("data/in/a.tar.gz", "a.tar.gz", "data/in", "gz"),
            ("a.txt", "a.txt", ".", "txt"),
            ("/a/b/", "b", "/a", ""),
            ("/x", "x", "/", ""),
            (".bashrc", ".bashrc", ".", ""),
        ] {
            assert_eq!(basename(path), base, "{path}");
            assert_eq!(dirname(path), dir, "{path}");
            assert_eq!(extension(path), ext, "{path}");
        }
    }

    #[test]
    fn numbers_round_and_format() {
        assert_eq!(call_ok("round", &[json!(2.5)]), json!(3));
        assert_eq!(call_ok("round", &[json!(-2.5)]), json!(-3));
        assert_eq!(call_ok("floor", &[json!(-1.2)]), json!(-2));
        assert_eq!(call_ok("ceil", &[json!(1.2)]), json!(2));
        assert_eq!(call_ok("round", &[json!(7)]), json!(7));
        assert_eq!(call_ok("round", &[json!(2.675), json!(2)]), json!(2.68));
        assert_eq!(call_ok("round", &[json!(1.23456), json!(3)]), json!(1.235));
        assert_eq!(call_ok("fixed", &[json!(1.23456), json!(2)]), json!("1.23"));
        assert_eq!(call_ok("fixed", &[json!(2), json!(1)]), json!("2.0"));
        assert!(call("fixed", &[json!(1), json!(99)]).unwrap().is_err());
    }
}
