//! What to say when a name resolves to nothing, or to something that can't
//! be used where it stands.

use crate::ast::Ident;
use crate::diag::{Code, Diagnostic};

use super::scope::{closest, quoted_list, Barrier};
use super::walk::Resolver;
use super::{BindingId, BindingKind, Target};

/// A block's last statement is a `let`, so nothing can read it.
pub(super) fn trailing_let(name: &Ident) -> Diagnostic {
    Diagnostic::warning(
        Code::UnusedBinding,
        format!(
            "`{}` is bound by the block's last statement, so it is never used",
            name.name
        ),
    )
    .at(name.span, "never used")
    .help(format!(
        "a block's value is its last expression: drop `let {} =` to make it the block's value",
        name.name
    ))
}

/// How many candidate names all the "did you mean"s of one resolution may
/// compare. Each unknown name is compared with every name in sight: a script
/// with 100,000 of each would take hours. Past the budget, an unknown name
/// gets the help without a suggestion.
pub(super) const SUGGESTION_BUDGET: usize = 1_000_000;

impl<'a> Resolver<'a> {
    /// The name among `candidates` closest to `name`, while the budget lasts.
    fn suggest(&self, name: &str, candidates: impl FnOnce() -> Vec<&'a str>) -> Option<&'a str> {
        let budget = self.suggestion_budget.get();
        if budget == 0 {
            return None;
        }
        let candidates = candidates();
        self.suggestion_budget
            .set(budget.saturating_sub(candidates.len()));
        closest(name, candidates)
    }

    pub(super) fn unbound_value(&self, name: &Ident) -> Diagnostic {
        let n = &name.name;
        if self.in_config {
            let mut d = Diagnostic::error(Code::UndefinedName, format!("`{n}` can't be used in an agent's config"))
                .at(name.span, "not available here")
                .help("an agent's config is evaluated once, before the script runs: it may use `param`s, literals and built-in functions, nothing bound by `let`");
            if self.hidden_top_value(n).is_none()
                && self.any_value(n).is_none()
                && self.find_callable(n).is_none()
            {
                d.message = format!("cannot find `{n}`");
                d = d.help(match self.suggest(n, || self.top_params.keys().copied().collect()) {
                    Some(s) => format!("did you mean `{s}`? an agent's config may only use `param`s, literals and built-in functions"),
                    None => "an agent's config may only use `param`s, literals and built-in functions".to_string(),
                });
            }
            return d;
        }
        if let Some(callee) = self.find_callable(n) {
            let what = self.describe_callable(callee);
            let example = match callee {
                Target::Binding(id) => match self.bindings[id as usize].kind {
                    BindingKind::Flow(flow) => {
                        let args: Vec<String> = self.flows[flow as usize]
                            .params
                            .iter()
                            .map(|p| format!("{p}: …"))
                            .collect();
                        format!("{n}({})", args.join(", "))
                    }
                    _ => format!("{n}(\"…\")"),
                },
                _ => format!("{n}(…)"),
            };
            return Diagnostic::error(Code::NotAValue, format!("`{n}` is {what}, not a value"))
                .at(name.span, "used as a value")
                .help(format!("call it to get a value: `{example}`"));
        }
        if let Some(later) = self.find_pending(n) {
            let d = Diagnostic::error(
                Code::UsedBeforeBound,
                format!("`{n}` is used before it is bound"),
            );
            if later.start < name.span.start {
                return d
                    .at(name.span, "used in its own definition")
                    .label(later, "bound here, once its value is computed")
                    .help("a `let` can only use names bound before it");
            }
            return d
                .at(name.span, "used here")
                .label(later, "bound here, later")
                .help(format!(
                    "move the `let {n} = …` above this use: a script reads from top to bottom"
                ));
        }
        if self.barrier() == Barrier::Flow {
            if let Some(span) = self.hidden_top_value(n) {
                let mut d = Diagnostic::error(Code::UndefinedName, format!("flow bodies can't see the top-level value `{n}`"))
                    .at(name.span, "not visible inside a flow")
                    .help(format!("pass it to the flow as a parameter: add `{n}` to the flow's parameters and call it with `{n}: {n}`"));
                if let Some(span) = span {
                    d = d.label(span, "bound here, outside the flow");
                }
                return d;
            }
        }
        if let Some((own, others)) = self.gate.last() {
            if others.iter().any(|o| *o == n) {
                return Diagnostic::error(Code::UndefinedName, format!("a `where` condition can't see the other check `{n}`"))
                    .at(name.span, "another check of this gate")
                    .help(format!(
                        "a check's `where` sees only its own result, here `{own}`; checks run in parallel, so one can't wait for another"
                    ));
            }
        }
        if n == "error" {
            return Diagnostic::error(Code::ErrorOutsideTry, "`error` is only bound in the `else` block of a `try`")
                .at(name.span, "not inside a `try … else`")
                .help("catch a failure with `try { … } else { … error.message … }`, where `error` holds `{ task, message }`");
        }
        let d = Diagnostic::error(
            Code::UndefinedName,
            format!("cannot find `{n}` in this scope"),
        )
        .at(name.span, "unknown name");
        // `${HOME}` in a string: most likely meant for the shell.
        let env_like = n.len() > 1
            && n.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        let suggestion = self.suggest(n, || self.visible_values());
        if env_like && suggestion.is_none() {
            return d.help(format!(
                "`${{…}}` inserts a Flow value; for the environment variable write `$ {n}` in an `sh` command (or `\\${{{n}}}`), or `env(\"{n}\")` in Flow"
            ).replace("$ ", "$"));
        }
        match suggestion {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("bind it before using it, e.g. `let {n} = …`, or declare `param {n} = …` at the top level")),
        }
    }

    /// A `param`'s default reads a value bound by `let` (here or in an
    /// earlier REPL entry): params are evaluated before the script runs.
    pub(super) fn not_in_param_default(&self, name: &Ident, id: BindingId) -> Diagnostic {
        let n = &name.name;
        let mut d = Diagnostic::error(
            Code::UndefinedName,
            format!("`{n}` can't be used in a param's default"),
        )
        .at(name.span, "not available here")
        .help("a `param`'s default is evaluated before the script runs: it may use the `param`s above it, literals and built-in functions, nothing bound by `let`");
        if let Some(span) = self.bindings[id as usize].span {
            d = d.label(span, "bound here by `let`");
        }
        d
    }

    /// A callee other than a built-in function inside an agent's config.
    pub(super) fn not_in_config(&self, callee: &Ident, target: Target) -> Diagnostic {
        let what = self.describe_callable(target);
        Diagnostic::error(
            Code::UndefinedName,
            format!("`{}` is {what} and can't be called in an agent's config", callee.name),
        )
        .at(callee.span, "not available here")
        .help("an agent's config is evaluated once, before the script runs: it may use `param`s, literals and built-in functions")
    }

    /// Explains a callee that names no callable.
    pub(super) fn uncallable(&self, callee: &Ident) -> Diagnostic {
        let n = &callee.name;
        if self.in_config {
            return Diagnostic::error(Code::UndefinedName, format!("cannot find a function `{n}`"))
                .at(callee.span, "not a built-in function")
                .help("an agent's config may only use `param`s, literals and built-in functions");
        }
        if let Some(span) = self.any_value(n) {
            let mut d = Diagnostic::error(
                Code::NotCallable,
                format!("`{n}` is a value, not an agent, flow or function"),
            )
            .at(callee.span, "called here");
            if let Some(span) = span {
                d = d.label(span, "bound here as a value");
            }
            return d.help(match self.suggest(n, || self.visible_callables()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => {
                    "only agents, flows, backends and built-in functions can be called".to_string()
                }
            });
        }
        let suggestion = self.suggest(n, || self.visible_callables());
        let function = suggestion
            .and_then(crate::builtins::function_named)
            .or_else(|| function_alias(n));
        if let Some(function) = function {
            return Diagnostic::error(Code::UnknownFunction, format!("unknown function `{n}`"))
                .at(callee.span, "no function has this name")
                .help(format!(
                    "did you mean `{}`? `{}`: {}",
                    function.name, function.signature, function.summary
                ));
        }
        let d = Diagnostic::error(
            Code::UndefinedName,
            format!("cannot find an agent, flow or function named `{n}`"),
        )
        .at(callee.span, "not declared");
        match suggestion {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!(
                "declare it at the top level: `agent {n} = sh(\"…\")` or `flow {n}(…) {{ … }}`"
            )),
        }
    }

    /// An agent declared from something that is not a backend.
    pub(super) fn unknown_backend(&self, backend: &Ident) -> Diagnostic {
        let n = &backend.name;
        let all = quoted_list(&self.backend_names().collect::<Vec<_>>());
        let d = Diagnostic::error(Code::UnknownBackend, format!("unknown backend `{n}`"));
        if let Some(callee) = self.find_callable(n) {
            let what = self.describe_callable(callee);
            return d.at(backend.span, format!("{what}, not a backend")).help(format!(
                "an agent is declared from a backend ({all}); to use `{n}`, call it where you need its result"
            ));
        }
        let d = d.at(backend.span, "not a backend");
        match closest(n, self.backend_names()) {
            Some(s) => d.help(format!("did you mean `{s}`? the backends are {all}")),
            None => d.help(format!("the backends are {all}")),
        }
    }
}

/// Names other languages give the built-in functions, so `length(xs)` (or the
/// typo `lenght(xs)`) suggests `len`.
const FUNCTION_ALIASES: &[(&str, &str)] = &[
    ("length", "len"),
    ("size", "len"),
    ("count", "len"),
    ("strip", "trim"),
    ("uppercase", "upper"),
    ("lowercase", "lower"),
    ("to_upper", "upper"),
    ("to_lower", "lower"),
    ("string", "str"),
    ("to_string", "str"),
    ("parse_json", "json"),
    ("from_json", "json"),
    ("integer", "int"),
    ("number", "float"),
    ("includes", "contains"),
    ("getenv", "env"),
    ("concat", "flatten"),
    ("total", "sum"),
];

fn function_alias(name: &str) -> Option<&'static crate::builtins::Function> {
    let lower = name.to_lowercase();
    let alias = closest(&lower, FUNCTION_ALIASES.iter().map(|(a, _)| *a)).or_else(|| {
        FUNCTION_ALIASES
            .iter()
            .map(|(a, _)| *a)
            .find(|a| *a == lower)
    })?;
    let target = FUNCTION_ALIASES.iter().find(|(a, _)| *a == alias)?.1;
    crate::builtins::function_named(target)
}

/// A `tools:` value that is not a list of names.
pub(super) fn not_an_agent_list(at: crate::source::Span) -> Diagnostic {
    Diagnostic::error(Code::NotAValue, "tools are given as a list of agent names")
        .at(at, "expected a list of declared agents")
        .help("declare each tool with `agent Name = …` and list them: `tools: [Search, Calculator]`")
}

/// A `tools:` entry that is not a declared agent.
pub(super) fn not_a_tool(name: &Ident) -> Diagnostic {
    Diagnostic::error(
        Code::UndefinedName,
        format!("`{}` is not a declared agent", name.name),
    )
    .at(name.span, "not an agent")
    .help("a tool is an agent declared in the script: `agent Search = http(…)`, then `tools: [Search]`")
}
