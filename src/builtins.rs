//! The pure built-in functions (`len`, `range`, `env`, …) with the arguments
//! each accepts: `check` reads this table, `runtime` calls them through
//! [`call_function`]. Agents are in the registry (`agent::Registry`).

mod data;
mod files;
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
    /// The capability a host or `--deny` can switch off (`env`).
    pub capability: Option<&'static str>,
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
        capability: None,
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
        "sort",
        1,
        2,
        "sort(list[, key])",
        "numbers or strings in order, or objects by a field; stable",
    ),
    function("reverse", 1, 1, "reverse(list)", "a list or string backwards"),
    function(
        "unique",
        1,
        1,
        "unique(list)",
        "the list without repeats, in first-seen order",
    ),
    function(
        "get",
        2,
        3,
        "get(object, key[, default])",
        "a field or list item, or the default (null) when absent",
    ),
    function(
        "replace",
        3,
        3,
        "replace(text, from, to)",
        "the text with every `from` replaced by `to`",
    ),
    function(
        "starts_with",
        2,
        2,
        "starts_with(text, prefix)",
        "whether the text starts with the prefix",
    ),
    function(
        "ends_with",
        2,
        2,
        "ends_with(text, suffix)",
        "whether the text ends with the suffix",
    ),
    function(
        "lines",
        1,
        1,
        "lines(text)",
        "the text's lines, without their line ends",
    ),
    function(
        "basename",
        1,
        1,
        "basename(path)",
        "the last part of a path",
    ),
    function(
        "dirname",
        1,
        1,
        "dirname(path)",
        "the path without its last part",
    ),
    function(
        "extension",
        1,
        1,
        "extension(path)",
        "the extension of a path's last part, without the dot",
    ),
    function(
        "round",
        1,
        2,
        "round(number[, digits])",
        "rounded, halves away from zero",
    ),
    function("floor", 1, 1, "floor(number)", "rounded down"),
    function("ceil", 1, 1, "ceil(number)", "rounded up"),
    function(
        "fixed",
        2,
        2,
        "fixed(number, digits)",
        "the number as text with exactly that many decimals",
    ),
    function(
        "script_dir",
        0,
        0,
        "script_dir()",
        "the script's folder (where relative paths start)",
    ),
    function(
        "launch_dir",
        0,
        0,
        "launch_dir()",
        "the folder `flow` was started in",
    ),
    Function {
        capability: Some("files"),
        ..function(
            "read_file",
            1,
            1,
            "read_file(path)",
            "a file's text (relative to the script's folder)",
        )
    },
    Function {
        capability: Some("files"),
        ..function(
            "read_json",
            1,
            1,
            "read_json(path)",
            "the JSON value a file holds (relative to the script's folder)",
        )
    },
    Function {
        capability: Some("files"),
        ..function(
            "glob",
            1,
            1,
            "glob(pattern)",
            "the paths a pattern such as `data/*.csv` matches, sorted",
        )
    },
    Function {
        capability: Some("env"),
        ..function(
            "env",
            1,
            2,
            "env(name[, default])",
            "an environment variable (null, or the default, when unset)",
        )
    },
];

/// Looks up a pure built-in function.
pub fn function_named(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_do_not_collide() {
        for f in FUNCTIONS {
            assert!(
                !crate::syntax::is_keyword(f.name),
                "{} is a keyword",
                f.name
            );
        }
    }
}
