//! The names the language knows before any declaration: pure functions, built-in
//! agents and agent backends, with the arguments each accepts. `check` reads
//! these tables; `runtime` and `agents` implement them. The pure functions are
//! implemented in `functions` and called through [`call_function`].

mod functions;

pub use functions::call_function;

/// A pure built-in function: no task, no side effect (`len`, `range`, …).
#[derive(Clone, Copy, Debug)]
pub struct Function {
    pub name: &'static str,
    /// Fewest and most positional arguments.
    pub min_args: usize,
    pub max_args: usize,
    /// How it is called, for diagnostics and `:help`.
    pub signature: &'static str,
    pub summary: &'static str,
}

const fn function(
    name: &'static str,
    min_args: usize,
    max_args: usize,
    signature: &'static str,
    summary: &'static str,
) -> Function {
    Function {
        name,
        min_args,
        max_args,
        signature,
        summary,
    }
}

/// Every pure built-in function.
pub const FUNCTIONS: &[Function] = &[
    function(
        "len",
        1,
        1,
        "len(value)",
        "the length of a list, string or object",
    ),
    function(
        "range",
        1,
        3,
        "range(end) | range(start, end[, step])",
        "a list of integers",
    ),
    function("keys", 1, 1, "keys(object)", "an object's keys, in order"),
    function(
        "values",
        1,
        1,
        "values(object)",
        "an object's values, in order",
    ),
    function(
        "split",
        2,
        2,
        "split(text, separator)",
        "a string cut at each separator",
    ),
    function(
        "join",
        1,
        2,
        "join(list[, separator])",
        "list items joined into one string",
    ),
    function("upper", 1, 1, "upper(text)", "the string in upper case"),
    function("lower", 1, 1, "lower(text)", "the string in lower case"),
    function(
        "trim",
        1,
        1,
        "trim(text)",
        "the string without surrounding whitespace",
    ),
    function(
        "contains",
        2,
        2,
        "contains(haystack, needle)",
        "whether a string, list or object (by key) contains a value",
    ),
    function("json", 1, 1, "json(text)", "the JSON value a string holds"),
    function(
        "str",
        1,
        1,
        "str(value)",
        "a value as a string (strings unchanged, others as JSON)",
    ),
    function(
        "int",
        1,
        1,
        "int(value)",
        "a number or numeric string as an integer",
    ),
    function(
        "float",
        1,
        1,
        "float(value)",
        "a number or numeric string as a float",
    ),
    function("sum", 1, 1, "sum(list)", "the sum of a list of numbers"),
    function(
        "min",
        1,
        usize::MAX,
        "min(list) | min(a, b, …)",
        "the smallest number",
    ),
    function(
        "max",
        1,
        usize::MAX,
        "max(list) | max(a, b, …)",
        "the largest number",
    ),
    function(
        "flatten",
        1,
        1,
        "flatten(list)",
        "a list of lists as one list",
    ),
    function(
        "zip",
        2,
        usize::MAX,
        "zip(list, list, …)",
        "lists paired item by item",
    ),
    function(
        "chunk",
        2,
        2,
        "chunk(list, size)",
        "a list cut into lists of at most `size` items",
    ),
    function(
        "env",
        1,
        2,
        "env(name[, default])",
        "an environment variable (null, or the default, when unset)",
    ),
];

/// Looks up a pure built-in function.
pub fn function_named(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// An agent backend: `agent X = backend(config…)`, or called directly for a one-off task.
#[derive(Clone, Copy, Debug)]
pub struct Backend {
    pub name: &'static str,
    /// The config key a positional argument stands for (`sh("ls")` is `sh(cmd: "ls")`).
    pub positional: Option<&'static str>,
    /// Config keys it accepts.
    pub config: &'static [&'static str],
    /// Config keys it requires.
    pub required: &'static [&'static str],
    pub summary: &'static str,
}

/// Every backend, including the built-in agents (which take no config but their
/// positional argument).
pub const BACKENDS: &[Backend] = &[
    Backend {
        name: "sh",
        positional: Some("cmd"),
        config: &["cmd", "cwd", "env"],
        required: &["cmd"],
        summary: "runs a command with /bin/sh -c; context on stdin and in the environment",
    },
    Backend {
        name: "llm",
        positional: None,
        config: &[
            "model",
            "system",
            "base_url",
            "api_key_env",
            "temperature",
            "max_tokens",
            "json",
            "schema",
            "timeout",
        ],
        required: &[],
        summary: "an OpenAI-compatible /chat/completions model",
    },
    Backend {
        name: "http",
        positional: Some("url"),
        config: &["url", "method", "headers", "timeout"],
        required: &["url"],
        summary: "an HTTP service; the context is the JSON body (the query for GET)",
    },
    Backend {
        name: "echo",
        positional: None,
        config: &[],
        required: &[],
        summary: "returns its context",
    },
    Backend {
        name: "noop",
        positional: None,
        config: &[],
        required: &[],
        summary: "does nothing and returns null",
    },
    Backend {
        name: "sleep",
        positional: Some("duration"),
        config: &["duration"],
        required: &["duration"],
        summary: "waits for a duration, then returns null",
    },
    Backend {
        name: "fail",
        positional: Some("message"),
        config: &["message"],
        required: &["message"],
        summary: "fails with a message",
    },
];

/// Looks up a backend or built-in agent.
pub fn backend_named(name: &str) -> Option<&'static Backend> {
    BACKENDS.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_do_not_collide() {
        for f in FUNCTIONS {
            assert!(backend_named(f.name).is_none(), "{} is both", f.name);
            assert!(
                !crate::syntax::is_keyword(f.name),
                "{} is a keyword",
                f.name
            );
        }
    }
}
