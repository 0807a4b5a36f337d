//! Shell quoting: how a value goes into an `sh` command line without ever being parsed as shell syntax.

use serde_json::Value;

/// Quotes `text` as one POSIX shell word that stands for exactly `text`.
///
/// The whole text goes inside single quotes, where the shell treats every byte
/// literally; each `'` becomes `'\''` (close the quotes, an escaped quote, reopen).
/// The result is always quoted, even for plain words, so that a value can never
/// turn into a keyword (`if`), an assignment (`A=1`) or a glob.
///
/// A NUL byte cannot be passed to a process at all; a command holding one fails
/// to start with [`ExecError::Spawn`](crate::exec::ExecError::Spawn) instead of running.
///
/// ```no_run
/// use flow::shell::quote;
/// assert_eq!(quote("it's"), r"'it'\''s'");
/// assert_eq!(quote(""), "''");
/// assert_eq!(quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
/// ```
pub fn quote(text: &str) -> String {
    let quotes = text.bytes().filter(|&b| b == b'\'').count();
    let mut out = String::with_capacity(text.len() + 2 + 3 * quotes);
    out.push('\'');
    for (i, part) in text.split('\'').enumerate() {
        if i > 0 {
            out.push_str(r"'\''");
        }
        out.push_str(part);
    }
    out.push('\'');
    out
}

/// Quotes a value for an `sh` command line: a string as its text, anything else
/// as its compact JSON.
///
/// ```no_run
/// use flow::shell::quote_value;
/// use serde_json::json;
/// assert_eq!(quote_value(&json!("a b")), "'a b'");
/// assert_eq!(quote_value(&json!(3)), "'3'");
/// assert_eq!(quote_value(&json!({"k": "it's"})), r#"'{"k":"it'\''s"}'"#);
/// ```
pub fn quote_value(value: &Value) -> String {
    match value {
        Value::String(text) => quote(text),
        other => quote(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_every_kind_of_text() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("'"), r"''\'''");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote("日本"), "'日本'");
    }

    #[test]
    fn quotes_values_by_kind() {
        assert_eq!(quote_value(&Value::Null), "'null'");
        assert_eq!(quote_value(&Value::Bool(true)), "'true'");
        assert_eq!(quote_value(&serde_json::json!([1, "x"])), r#"'[1,"x"]'"#);
    }
}
