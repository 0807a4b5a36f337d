//! Secrets: the values Flow never shows, and the environment variables that
//! hold them. [`Secrets`] is the one redactor: the `llm` and `http` agents
//! use it on what they report, the runtime on every task record, result and
//! diagnostic, the run store on what it writes.
//!
//! ```no_run
//! use flow::secret::Secrets;
//!
//! let mut secrets = Secrets::default();
//! secrets.add("Bearer sk-12345678");
//! assert_eq!(secrets.redact("sent sk-12345678"), "sent ***");
//! ```

use std::borrow::Cow;

use serde_json::Value;

/// What a secret is replaced with.
pub const REDACTED: &str = "***";

/// The shortest secret worth redacting: shorter ones would blank out ordinary words.
pub const MIN_SECRET: usize = 6;

/// Secret values to redact, and the names of the environment variables that
/// hold some of them (which commands do not inherit). Its `Debug` shows no value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Variable names, in the order added, each once.
    names: Vec<String>,
    /// Values, longest first (a value is replaced before any part of it),
    /// with their JSON-escaped forms, so JSON text redacts like its values.
    values: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.values.len())
    }
}

impl Secrets {
    /// Adds a secret value, and for `Bearer TOKEN`-like values the token alone too.
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.len() >= MIN_SECRET {
            let escaped = serde_json::to_string(secret).unwrap_or_default();
            let escaped = &escaped[1..escaped.len().saturating_sub(1).max(1)];
            for form in [secret, escaped] {
                if !self.values.iter().any(|s| s == form) {
                    self.values.push(form.to_string());
                }
            }
        }
        if let Some((_, last)) = secret.rsplit_once(char::is_whitespace) {
            self.add(last);
        }
        self.values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Adds an environment variable that holds a secret: its name, and its
    /// value now, if set.
    pub fn add_variable(&mut self, name: &str) {
        if name.is_empty() || self.names.iter().any(|n| n == name) {
            return;
        }
        self.names.push(name.to_string());
        if let Some(value) = std::env::var_os(name) {
            self.add(&value.to_string_lossy());
        }
    }

    /// Adds every name and value of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        for name in &other.names {
            if !self.names.contains(name) {
                self.names.push(name.clone());
            }
        }
        for value in &other.values {
            if !self.values.contains(value) {
                self.values.push(value.clone());
            }
        }
        self.values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// The variables that hold secrets.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether there is no value to redact (names alone redact nothing).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether `text` holds a secret.
    pub fn found_in(&self, text: &str) -> bool {
        self.values.iter().any(|s| text.contains(s.as_str()))
    }

    /// The text with every secret replaced by `***`; borrowed when it holds none.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut text = Cow::Borrowed(text);
        for secret in &self.values {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
            }
        }
        text
    }

    /// Redacts a string in place.
    pub fn redact_in(&self, text: &mut String) {
        if let Cow::Owned(redacted) = self.redact(text) {
            *text = redacted;
        }
    }

    /// The value with every string (and key) redacted; `None` when it holds
    /// no secret (so an unchanged value is never copied).
    pub fn redact_value(&self, value: &Value) -> Option<Value> {
        if self.values.is_empty() || !self.holds(value) {
            return None;
        }
        Some(self.redacted(value))
    }

    fn holds(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.found_in(s),
            Value::Array(items) => items.iter().any(|v| self.holds(v)),
            Value::Object(fields) => fields
                .iter()
                .any(|(k, v)| self.found_in(k) || self.holds(v)),
            _ => false,
        }
    }

    fn redacted(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact(s).into_owned()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redacted(v)).collect()),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (self.redact(k).into_owned(), self.redacted(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_with_their_parts() {
        let mut secrets = Secrets::default();
        secrets.add("Bearer sk-12345678");
        secrets.add("abc"); // too short to redact
        assert_eq!(
            secrets.redact("got Bearer sk-12345678 and sk-12345678, abc"),
            "got *** and ***, abc"
        );
        let value = secrets.redact_value(&json!({"k": ["x sk-12345678"]}));
        assert_eq!(value, Some(json!({"k": ["x ***"]})));
        assert_eq!(secrets.redact_value(&json!({"k": "clean"})), None);
        assert_eq!(format!("{secrets:?}"), "Secrets(2 redacted)");
    }

    #[test]
    fn json_text_is_redacted_like_its_values() {
        let mut secrets = Secrets::default();
        secrets.add("pa\"ss\\word");
        let text = json!({"v": "x pa\"ss\\word"}).to_string();
        assert_eq!(secrets.redact(&text), r#"{"v":"x ***"}"#);
    }

    #[test]
    fn variables_are_named_and_their_values_kept() {
        let mut secrets = Secrets::default();
        secrets.add_variable("FLOW_TEST_SURELY_UNSET_VARIABLE");
        secrets.add_variable("FLOW_TEST_SURELY_UNSET_VARIABLE");
        assert_eq!(secrets.names(), ["FLOW_TEST_SURELY_UNSET_VARIABLE"]);
        assert!(secrets.is_empty());
        let mut all = Secrets::default();
        all.add("another-secret");
        all.extend(&secrets);
        assert_eq!(all.names().len(), 1);
        assert!(!all.is_empty());
    }
}
