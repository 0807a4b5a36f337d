//! Built-ins that read the script's surroundings: its folders
//! (`script_dir()`, `launch_dir()`), files (`read_file`, `read_json`) and
//! the paths a pattern matches (`glob`). Relative paths start at the
//! script's folder, so a script works from any working folder. Reads only:
//! writing a file is a task's work. They take the `files` capability.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::interrupt;
use crate::value::{check_list_size, check_string_size, describe, ValueError};

/// Calls `name` when it is one of this file's functions.
pub(super) fn call(name: &str, args: &[Value]) -> Option<Result<Value, ValueError>> {
    let path_text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ValueError::type_error(format!(
            "`{name}` needs a path (a non-empty string), got {}",
            describe(v)
        ))),
    };
    Some(match (name, args) {
        ("script_dir", []) => Ok(text_of(&interrupt::dirs().script)),
        ("launch_dir", []) => Ok(text_of(&interrupt::dirs().launch)),
        ("read_file", [p]) => path_text(p).and_then(|p| read(&p).map(Value::String)),
        ("read_json", [p]) => path_text(p).and_then(|p| read_json(&p)),
        ("glob", [p]) => path_text(p).and_then(|p| glob(&p)),
        _ => return None,
    })
}

fn text_of(path: &Path) -> Value {
    Value::String(path.to_string_lossy().into_owned())
}

/// `path` from the script's folder (an absolute one as it is).
fn resolved(path: &str) -> PathBuf {
    interrupt::dirs().script.join(path)
}

fn read(path: &str) -> Result<String, ValueError> {
    let full = resolved(path);
    let size = std::fs::metadata(&full).map(|m| m.len()).unwrap_or(0);
    check_string_size(usize::try_from(size).unwrap_or(usize::MAX))?;
    std::fs::read_to_string(&full).map_err(|e| {
        ValueError::bad_value(format!("cannot read `{}`: {e}", full.display()))
            .with_help("relative paths start at the script's folder (`script_dir()`)")
    })
}

fn read_json(path: &str) -> Result<Value, ValueError> {
    let text = read(path)?;
    serde_json::from_str(&text).map_err(|e| {
        ValueError::bad_value(format!(
            "`{}` is not JSON: {e}",
            resolved(path).display()
        ))
    })
}

/// The paths `pattern` matches, sorted, as written: relative to the
/// script's folder when the pattern is relative.
fn glob(pattern: &str) -> Result<Value, ValueError> {
    let base = interrupt::dirs().script.clone();
    let full = base.join(pattern);
    let entries = glob::glob(&full.to_string_lossy()).map_err(|e| {
        ValueError::bad_value(format!("`glob` was given a bad pattern `{pattern}`: {e}"))
    })?;
    let mut found = Vec::new();
    for (i, entry) in entries.enumerate() {
        interrupt::check(i)?;
        let Ok(path) = entry else { continue };
        let shown = match path.strip_prefix(&base) {
            Ok(relative) if Path::new(pattern).is_relative() => relative.to_path_buf(),
            _ => path,
        };
        found.push(Value::String(shown.to_string_lossy().into_owned()));
        check_list_size(found.len())?;
    }
    found.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    Ok(Value::Array(found))
}
