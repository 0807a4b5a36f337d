//! What Flow knows of the POSIX shell language, shared by the checker, the
//! evaluator and the `sh` agent: where a `${…}` stands in a command (so its
//! value is passed by reference, never parsed), where a second shell would
//! parse it after all (`bash -c '…'`), and quoting.

mod context;
mod nested;
mod quote;

pub use context::{contexts, reference, ShellContext, AFTER_BACKSLASH, QUOTED_HEREDOC};
pub use nested::{second_shells, SecondShell};
pub use quote::{quote, quote_value};

/// The prefix of the environment variables that carry the values of a
/// command's `${…}`: `FLOW_VALUE_1`, `FLOW_VALUE_2`, …
pub const VALUE_VAR: &str = "FLOW_VALUE_";

/// A shell command written with `${…}`: its text, which refers to each value
/// by a variable (`"$FLOW_VALUE_1"`), and the values, which the executor
/// passes in those variables. Only the evaluator makes one from a script's
/// string literal; no JSON value converts into one, so data (a param, an
/// agent's output) can never pass for a safely interpolated command.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// The command line, with a reference where each `${…}` stood.
    pub text: String,
    /// The values of the `${…}`, in order: the first is `FLOW_VALUE_1`.
    pub values: Vec<serde_json::Value>,
}

impl Command {
    /// The variables that carry the values, as the command expects them.
    pub fn variables(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{VALUE_VAR}{}", i + 1), crate::value::to_text(v)))
    }
}
