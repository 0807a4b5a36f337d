//! `flow explain`: the long explanation of every diagnostic code, with a bad
//! and a good example, as `rustc --explain` gives. The texts live in
//! `docs/codes/<name>.md` and are compiled into the binary.

use crate::agent::{ConfigType, Registry, Resource, Role, Signature};
use crate::diag::Code;

/// Declares the table of explanations, one Markdown file per code name.
macro_rules! explanations {
    ($($name:literal,)*) => {
        const TEXTS: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../docs/codes/", $name, ".md"))),)*
        ];
    };
}

explanations! {
    "unexpected_token",
    "unclosed_delimiter",
    "mismatched_delimiter",
    "unterminated_string",
    "keyword_as_name",
    "bad_duration",
    "bad_number",
    "bad_escape",
    "too_deep",
    "too_large",
    "too_complex",
    "undefined_name",
    "used_before_bound",
    "duplicate_binding",
    "duplicate_key",
    "unknown_backend",
    "unknown_function",
    "wrong_arity",
    "unknown_argument",
    "missing_argument",
    "not_callable",
    "not_a_value",
    "unsafe_interpolation",
    "non_exhaustive_match",
    "unreachable_arm",
    "unknown_field",
    "type_mismatch",
    "capability_denied",
    "recursive_flow",
    "where_outside_gate",
    "error_outside_try",
    "misplaced_declaration",
    "unused_binding",
    "bad_literal",
    "redundant_after",
    "unneeded_after",
    "after_chain",
    "map_limit_one",
    "too_many_inputs",
    "whole_value_passed",
    "god_agent",
    "many_responsibilities",
    "single_call_script",
    "constant_condition",
    "single_check_gate",
    "implicit_result",
    "retry_without_backoff",
    "missing_timeout",
    "unquoted_shell_var",
    "interpolated_command",
    "unused_allow",
    "task_failed",
    "timed_out",
    "skipped",
    "cancelled",
    "gate_failed",
    "no_match",
    "did_not_converge",
    "empty_reduce",
    "missing_field",
    "index_out_of_range",
    "division_by_zero",
    "type_error",
    "bad_value",
    "bad_param",
    "unknown_param",
    "budget_exhausted",
}

/// The explanation of a code, as Markdown.
pub fn text(code: Code) -> Option<&'static str> {
    TEXTS
        .iter()
        .find(|(name, _)| *name == code.name())
        .map(|(_, text)| *text)
}

/// The one-line summary of a code: the first sentence of its explanation
/// after the title (which may be wrapped over several lines).
pub fn summary(code: Code) -> Option<String> {
    let paragraph: Vec<&str> = (text(code)?.lines().skip(1))
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let paragraph = paragraph.join(" ");
    // A sentence ends at a full stop before a space, outside backquotes.
    let mut quoted = false;
    let bytes = paragraph.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'`' => quoted = !quoted,
            b'.' if !quoted && bytes.get(i + 1) == Some(&b' ') => {
                return Some(paragraph[..=i].to_string());
            }
            _ => {}
        }
    }
    Some(paragraph)
}

/// The examples of an explanation: the ```flow blocks under `## Bad` and under `## Good`.
#[cfg(feature = "internals")]
pub fn examples(code: Code) -> (Vec<String>, Vec<String>) {
    let mut bad = Vec::new();
    let mut good = Vec::new();
    let Some(text) = text(code) else {
        return (bad, good);
    };
    let mut section = "";
    let mut block: Option<String> = None;
    for line in text.lines() {
        if let Some(current) = &mut block {
            if line.trim_start().starts_with("```") {
                let done = block.take().unwrap_or_default();
                match section {
                    "bad" => bad.push(done),
                    "good" => good.push(done),
                    _ => {}
                }
            } else {
                current.push_str(line);
                current.push('\n');
            }
            continue;
        }
        if let Some(heading) = line.strip_prefix("## ") {
            section = match heading.trim().to_lowercase().as_str() {
                "bad" => "bad",
                "good" => "good",
                _ => "",
            };
        } else if line.trim_start().starts_with("```flow") {
            block = Some(String::new());
        }
    }
    (bad, good)
}

/// Every code with its summary, grouped by phase, then every agent: what
/// `flow explain` prints with no code.
pub fn index(registry: &Registry) -> String {
    let mut out = String::from(
        "Every diagnostic code and agent; `flow explain CODE` or `flow explain AGENT` explains one.\n",
    );
    let mut phase = "";
    for code in Code::ALL {
        if code.phase() != phase {
            phase = code.phase();
            out.push_str(&format!("\n{phase}:\n"));
        }
        let level = match (
            crate::lint::levels::can_warn(*code),
            crate::lint::levels::default_level(*code),
        ) {
            (false, _) => "error",
            _ if crate::lint::levels::error_or_warning(*code) => "err/warn",
            (true, crate::lint::Level::Allow) => "allow",
            (true, _) => "warning",
        };
        out.push_str(&format!(
            "  {:<24} {:<8} {}\n",
            code.name(),
            level,
            summary(*code).unwrap_or_default()
        ));
    }
    out.push_str("\nagents:\n");
    for agent in registry.iter() {
        let signature = agent.signature();
        out.push_str(&format!("  {:<24} {}\n", signature.name, signature.summary));
    }
    out
}

/// A built-in function as Markdown: how it is called, and its capability.
pub fn function(function: &crate::builtins::Function) -> String {
    let mut out = format!(
        "# {}\n\n`{}`: {}.\n\nA built-in function: it runs at once, on the scheduler, without a task.\n",
        function.name, function.signature, function.summary
    );
    if let Some(capability) = function.capability {
        out.push_str(&format!(
            "It needs the capability `{capability}`: `--deny {capability}` switches it off.\n"
        ));
    }
    out
}

/// An agent's signature as Markdown: how it is called, its config keys with
/// their types, how it is scheduled and what switches it off.
pub fn agent(signature: &Signature) -> String {
    let name = &signature.name;
    let mut out = format!("# {name}\n\n{}.\n\n", signature.summary);
    match signature.role {
        Role::Agent => out.push_str(&format!(
            "A ready agent: `{name}(\"instructions\", key: value)`; named arguments are its context.\n"
        )),
        Role::Backend => {
            out.push_str(&format!(
                "Declare agents from it, `agent X = {name}(…)`, or call it directly; named \
                 arguments that are not config keys are the call's context.\n"
            ));
            if let Some(key) = &signature.positional {
                out.push_str(&format!("A positional argument is its `{key}`.\n"));
            }
        }
    }
    if signature.config.is_empty() {
        out.push_str("\nIt takes no config.\n");
    } else {
        out.push_str("\n| key | type | required | default | what |\n|---|---|---|---|---|\n");
        for key in &signature.config {
            let ty = match key.ty {
                ConfigType::Command => "a shell command",
                other => other.describe(),
            };
            out.push_str(&format!(
                "| `{}` | {ty} | {} | {} | {} |\n",
                key.name,
                if key.required { "yes" } else { "no" },
                key.default
                    .as_ref()
                    .map_or(String::new(), |d| format!("`{d}`")),
                key.doc
            ));
        }
    }
    if let Some(key) = signature.output_schema_key() {
        out.push_str(&format!(
            "\n`{key}` is the JSON Schema of each call's result: when it is written \
             out, `flow check` checks the fields read from results and how they are used.\n"
        ));
    }
    if let Some(key) = signature.input_schemas_key() {
        out.push_str(&format!(
            "`{key}` declares a JSON Schema for each named argument: when it is written \
             out, `flow check` reports a call passing a value of another shape.\n"
        ));
    }
    out.push('\n');
    out.push_str(match (signature.inline, signature.resource) {
        (true, _) => "Its calls finish at once: they run inline, without a task.\n",
        (false, Resource::Cpu) => {
            "Each call takes one `--jobs` slot (by default, as many as CPUs).\n"
        }
        (false, Resource::Remote) => {
            "A remote service: its calls are bounded by the agent's `limit` (and an explicit \
             `--jobs`); give them a `timeout`.\n"
        }
        (false, Resource::None) => "Its calls are bounded by an explicit `--jobs` only.\n",
    });
    if signature.tokens {
        out.push_str(
            "Its calls spend tokens: a budget (`--budget tokens=N` or `usd=X`) reserves each \
             call's worst case before it starts.\n",
        );
    }
    if let Some(capability) = &signature.capability {
        out.push_str(&format!(
            "It needs the capability `{capability}`: `--deny {capability}` switches it off.\n"
        ));
    }
    if signature.checkpoint {
        out.push_str(
            "Its calls are checkpoints: `… after NAME` waits for one to pass, which no lint calls unneeded.\n",
        );
    }
    out
}
