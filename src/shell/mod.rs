//! What Flow knows of the POSIX shell language, shared by the checker, the
//! evaluator and the `sh` agent: where a `${…}` stands in a command (so its
//! value is passed by reference, never parsed), and quoting.

mod context;
mod quote;

pub use context::{contexts, reference, ShellContext, AFTER_BACKSLASH, QUOTED_HEREDOC};
pub use quote::{quote, quote_value};

/// The prefix of the environment variables that carry the values of a
/// command's `${…}`: `FLOW_VALUE_1`, `FLOW_VALUE_2`, …
pub const VALUE_VAR: &str = "FLOW_VALUE_";
