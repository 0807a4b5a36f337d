//! Calls and agent declarations: what the callee is, whether its arguments fit,
//! and the literal values of modifiers (`retry 3`, `timeout 30s`, `limit 2`).

use crate::agent::{ConfigType, Signature};
use crate::ast::{AgentDecl, Arg, Call, Expr, ExprKind, Ident, ModifierKind, UnaryOp};
use crate::diag::{Code, Diagnostic};
use crate::resolve::{closest, quoted_list, BindingKind, FlowId, Target};
use crate::source::Span;

use super::shapes::Shape;
use super::{Checker, FlowCall, HashSet};

/// What a literal expression is, for checking counts and durations before running.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Literal {
    Int(i64),
    Float(f64),
    /// Seconds.
    Duration,
    /// Another literal, described: "a string", "a list".
    Other(&'static str),
    /// Computed at run time; nothing to check now.
    Computed,
}

impl Literal {
    pub(super) fn of(expr: &Expr) -> Literal {
        match &expr.kind {
            ExprKind::Int(n) => Literal::Int(*n),
            ExprKind::Float(x) => Literal::Float(*x),
            ExprKind::Duration(_) => Literal::Duration,
            ExprKind::Str(_) => Literal::Other("a string"),
            ExprKind::Bool(_) => Literal::Other("a boolean"),
            ExprKind::Null => Literal::Other("`null`"),
            ExprKind::List(_) => Literal::Other("a list"),
            ExprKind::Object(_) => Literal::Other("an object"),
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand,
                ..
            } => match Literal::of(operand) {
                Literal::Int(n) => Literal::Int(n.saturating_neg()),
                Literal::Float(x) => Literal::Float(-x),
                Literal::Duration => Literal::Float(-1.0),
                other => other,
            },
            _ => Literal::Computed,
        }
    }
}

impl<'a> Checker<'_, 'a> {
    /// Checks a call: its arguments' values, modifiers, callee and argument
    /// shape; the shape of its result when the callee declares it.
    pub(super) fn call(&mut self, call: &'a Call, span: Span) -> Shape {
        // Looked up before the arguments, in the resolution's order, which
        // its cursor follows (`Index::target_near`).
        let resolved = self.res.target(&call.callee);
        let shapes: Vec<Shape> = call.args.iter().map(|a| self.expr(&a.value)).collect();
        self.modifiers(call);
        self.duplicate_keys(
            call.args
                .iter()
                .filter_map(|a| a.name.as_ref())
                .map(|n| (n.name.as_str(), n.span)),
            "argument",
            "in this call",
        );
        self.callee(call, span, resolved);
        self.call_contract(resolved, &call.callee, &call.args, &shapes)
    }

    /// Checks what is called (`resolved`) and whether the arguments fit it.
    fn callee(&mut self, call: &'a Call, span: Span, resolved: Target<'a>) {
        let callee = &call.callee;
        // A callee that resolved to nothing was reported by the resolution.
        self.capability_use(resolved, callee);
        match resolved {
            Target::Unresolved => {}
            Target::Binding(id) => match self.res.binding(id).kind {
                BindingKind::Agent => self.agent_args(callee, &call.args),
                BindingKind::Flow(flow) => {
                    if let Some(caller) = self.current_flow {
                        self.flow_calls.push(FlowCall {
                            caller,
                            callee: flow,
                            span: callee.span,
                        });
                    }
                    self.flow_args(callee, flow, &call.args, span);
                }
                BindingKind::Value(_) => {}
            },
            Target::Backend(backend) => {
                self.backend_args(callee, backend.signature(), &call.args, false)
            }
            Target::Function(function) => {
                for arg in &call.args {
                    if let Some(name) = &arg.name {
                        self.diags.push(
                            Diagnostic::error(
                                Code::UnknownArgument,
                                format!("built-in functions take no named arguments, but `{}` was given", name.name),
                            )
                            .at(name.span, "named argument")
                            .help(format!("pass it by position: `{}`", function.signature)),
                        );
                    }
                }
                let n = call.args.len();
                if n < function.min_args || n > function.max_args {
                    let expected = match (function.min_args, function.max_args) {
                        (a, b) if a == b => plural(a, "argument"),
                        (a, usize::MAX) => format!("at least {}", plural(a, "argument")),
                        (a, b) if b == a + 1 => format!("{a} or {b} arguments"),
                        (a, b) => format!("{a} to {b} arguments"),
                    };
                    self.diags.push(
                        Diagnostic::error(
                            Code::WrongArity,
                            format!(
                                "`{}` takes {expected}, but {} given",
                                function.name,
                                given(n)
                            ),
                        )
                        .at(span, format!("{} given", plural(n, "argument")))
                        .help(format!(
                            "call it as `{}`: {}",
                            function.signature, function.summary
                        )),
                    );
                }
            }
        }
    }

    /// An agent takes one positional argument, its instructions; named ones are context.
    fn agent_args(&mut self, callee: &Ident, args: &[Arg]) {
        if let Some(extra) = args.iter().filter(|a| a.name.is_none()).nth(1) {
            self.diags.push(
                Diagnostic::error(
                    Code::WrongArity,
                    format!(
                        "agent `{}` takes one positional argument, its instructions",
                        callee.name
                    ),
                )
                .at(extra.value.span, "a second positional argument")
                .help(format!(
                    "name the other arguments to pass them as context: `{}(\"…\", notes: notes)`",
                    callee.name
                )),
            );
        }
    }

    /// A backend's arguments: its positional config key (or, without one, the
    /// instructions), config keys, and (when called directly) context.
    fn backend_args(&mut self, callee: &Ident, backend: &Signature, args: &[Arg], declared: bool) {
        if let Some(command) = backend.command_key() {
            self.shell_command(args, backend.positional.as_deref(), command);
        }
        self.config_literals(backend, args);
        self.key_capabilities(backend, args);
        let mut positionals = args.iter().filter(|a| a.name.is_none());
        let first = positionals.next();
        if let Some(extra) = positionals.next() {
            let what = match &backend.positional {
                Some(key) => format!(
                    "`{}` takes one positional argument, its `{key}`",
                    backend.name
                ),
                None if declared => format!("`{}` takes no positional argument", backend.name),
                None => format!(
                    "`{}` takes one positional argument, the instructions",
                    backend.name
                ),
            };
            let help = if declared {
                format!("name each setting: {}", config_keys(backend))
            } else {
                format!(
                    "name the other arguments: `{}(…, key: value)`",
                    backend.name
                )
            };
            self.diags.push(
                Diagnostic::error(Code::WrongArity, what)
                    .at(extra.value.span, "one positional argument too many")
                    .help(help),
            );
        } else if declared && backend.positional.is_none() {
            if let Some(first) = first {
                self.diags.push(
                    Diagnostic::error(
                        Code::WrongArity,
                        format!("`{}` takes no positional argument", backend.name),
                    )
                    .at(first.value.span, "unnamed setting")
                    .help(format!("name each setting: {}", config_keys(backend))),
                );
            }
        }
        let mut given: HashSet<&str> = HashSet::default();
        if let (Some(key), Some(_)) = (backend.positional.as_deref(), first) {
            given.insert(key);
        }
        for arg in args {
            let Some(name) = &arg.name else {
                continue;
            };
            let key = name.name.as_str();
            if backend.takes(key) {
                if !given.insert(key) {
                    if let Some(first) = first {
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateKey,
                                format!("`{key}` is given twice: by position and by name"),
                            )
                            .at(name.span, "given again here")
                            .label(
                                first.value.span,
                                format!("the positional argument is the `{key}`"),
                            )
                            .help("keep one of them"),
                        );
                    }
                }
            } else if declared {
                let mut d = Diagnostic::error(
                    Code::UnknownArgument,
                    format!("backend `{}` has no setting `{key}`", backend.name),
                )
                .at(name.span, "unknown setting");
                let accepted = config_keys(backend);
                d = d.help(
                    match closest(key, backend.config.iter().map(|k| k.name.as_str())) {
                        Some(s) => format!("did you mean `{s}`? {accepted}"),
                        None => accepted,
                    },
                );
                self.diags.push(d);
            }
        }
        let missing: Vec<&str> = backend
            .required_keys()
            .filter(|k| !given.contains(k))
            .collect();
        let example_value =
            |key: &str| example_value(backend.key(key).map_or(ConfigType::Any, |k| k.ty));
        if !missing.is_empty() {
            let example = match backend.positional.as_deref() {
                Some(key) if missing == [key] => format!(
                    "`{}({})` or `{}({key}: {})`",
                    backend.name,
                    example_value(key),
                    backend.name,
                    example_value(key)
                ),
                _ => format!(
                    "`{}({})`",
                    backend.name,
                    missing
                        .iter()
                        .map(|k| format!("{k}: {}", example_value(k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            self.diags.push(
                Diagnostic::error(
                    Code::MissingArgument,
                    format!(
                        "`{}` is missing its {}",
                        backend.name,
                        quoted_list(&missing)
                    ),
                )
                .at(callee.span, format!("no {} given", quoted_list(&missing)))
                .help(format!("give it like this: {example}")),
            );
        }
    }

    /// A sub-flow's arguments: by name, or by position in the order of its parameters.
    fn flow_args(&mut self, callee: &Ident, flow: FlowId, args: &[Arg], span: Span) {
        let res = self.res;
        let params = &res.flow(flow).params;
        let mut given = vec![false; params.len()];
        let mut positional = 0;
        let mut unknown = false;
        for arg in args {
            match &arg.name {
                None => {
                    if positional < params.len() {
                        if given[positional] {
                            self.diags.push(
                                Diagnostic::error(
                                    Code::DuplicateKey,
                                    format!(
                                        "`{}` is given twice: by name and by position",
                                        params[positional]
                                    ),
                                )
                                .at(arg.value.span, format!("this is the `{}` again", params[positional]))
                                .help("keep one of them; positional arguments fill the parameters in order"),
                            );
                        }
                        given[positional] = true;
                    } else if positional == params.len() {
                        self.diags.push(
                            Diagnostic::error(
                                Code::WrongArity,
                                format!(
                                    "flow `{}` takes {}, but more were given",
                                    callee.name,
                                    plural(params.len(), "argument")
                                ),
                            )
                            .at(arg.value.span, "one argument too many")
                            .help(signature(&callee.name, params)),
                        );
                    }
                    positional += 1;
                }
                Some(name) => match params.iter().position(|p| *p == name.name) {
                    Some(i) if given[i] && i < positional => self.diags.push(
                        Diagnostic::error(
                            Code::DuplicateKey,
                            format!("`{}` is given twice: by position and by name", name.name),
                        )
                        .at(name.span, "given again here")
                        .help("keep one of them"),
                    ),
                    Some(i) => given[i] = true,
                    None => {
                        unknown = true;
                        let mut d = Diagnostic::error(
                            Code::UnknownArgument,
                            format!("flow `{}` has no parameter `{}`", callee.name, name.name),
                        )
                        .at(name.span, "unknown parameter");
                        let sig = signature(&callee.name, params);
                        d = d.help(match closest(&name.name, params.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`? {sig}"),
                            None => sig,
                        });
                        self.diags.push(d);
                    }
                },
            }
        }
        let missing: Vec<&str> = params
            .iter()
            .zip(&given)
            .filter(|(_, g)| !**g)
            .map(|(p, _)| *p)
            .collect();
        // A misspelt argument is reported once, as unknown, not also as missing.
        if !missing.is_empty() && !unknown {
            self.diags.push(
                Diagnostic::error(
                    Code::MissingArgument,
                    format!(
                        "flow `{}` needs {} for {}",
                        callee.name,
                        if missing.len() == 1 {
                            "an argument"
                        } else {
                            "arguments"
                        },
                        quoted_list(&missing)
                    ),
                )
                .at(span, format!("missing {}", quoted_list(&missing)))
                .help(format!(
                    "pass every parameter: `{}({})`",
                    callee.name,
                    params
                        .iter()
                        .map(|p| format!("{p}: …"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }

    /// Literal config values of the wrong type (`temperature: "hot"`).
    fn config_literals(&mut self, backend: &Signature, args: &[Arg]) {
        for arg in args {
            let key = match &arg.name {
                Some(name) => Some(name.name.as_str()),
                None => backend.positional.as_deref(),
            };
            let Some(key) = key.and_then(|k| backend.key(k)) else {
                continue;
            };
            let fits = match (key.ty, Literal::of(&arg.value)) {
                (_, Literal::Computed) | (ConfigType::Any, _) => true,
                (ConfigType::Number, Literal::Int(_) | Literal::Float(_)) => true,
                (ConfigType::Integer, Literal::Int(_)) => true,
                (ConfigType::Duration, Literal::Duration | Literal::Int(_) | Literal::Float(_)) => {
                    true
                }
                (ConfigType::Text | ConfigType::Command, Literal::Other(what)) => {
                    what == "a string"
                }
                (ConfigType::Bool, Literal::Other(what)) => what == "a boolean",
                (ConfigType::List | ConfigType::Agents, Literal::Other(what)) => what == "a list",
                (ConfigType::Object, Literal::Other(what)) => what == "an object",
                (ConfigType::Memory, Literal::Int(_) | Literal::Float(_)) => true,
                (ConfigType::Memory, Literal::Other("a string")) => match &arg.value.kind {
                    ExprKind::Str(parts) => match &parts[..] {
                        [crate::ast::StrPart::Text(text)] => {
                            crate::exec::memory(&serde_json::Value::String(text.clone())).is_ok()
                        }
                        _ => true,
                    },
                    _ => true,
                },
                _ => false,
            };
            if let (true, Some(choices), ExprKind::Str(parts)) = (fits, key.choices, &arg.value.kind) {
                self.choice(backend, key.name.as_str(), choices, parts, arg.value.span);
            }
            if !fits {
                let given = match (Literal::of(&arg.value), &arg.value.kind) {
                    // A size that does not read as one: show it.
                    (_, ExprKind::Str(parts)) if key.ty == ConfigType::Memory => match &parts[..] {
                        [crate::ast::StrPart::Text(text)] => format!("\"{text}\""),
                        _ => "a string".to_string(),
                    },
                    (Literal::Int(_), _) => "an integer".to_string(),
                    (Literal::Float(_), _) => "a number".to_string(),
                    (Literal::Duration, _) => "a duration".to_string(),
                    (Literal::Other(what), _) => what.to_string(),
                    (Literal::Computed, _) => "a computed value".to_string(),
                };
                self.diags.push(
                    Diagnostic::error(
                        Code::BadLiteral,
                        format!(
                            "`{}` takes {} for `{}`, not {given}",
                            backend.name,
                            key.ty.describe(),
                            key.name
                        ),
                    )
                    .at(arg.value.span, given)
                    .help(format!(
                        "`{}`: {}, for example `{}: {}`",
                        key.name,
                        key.doc,
                        key.name,
                        example_value(key.ty)
                    )),
                );
            }
        }
    }

    /// A literal string for a key that takes one of a few (`output: "jsno"`).
    fn choice(
        &mut self,
        backend: &Signature,
        key: &str,
        choices: &[&str],
        parts: &[crate::ast::StrPart],
        span: crate::source::Span,
    ) {
        let [crate::ast::StrPart::Text(given)] = parts else {
            return;
        };
        if choices.contains(&given.as_str()) {
            return;
        }
        let listed = choices
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut diag = Diagnostic::error(
            Code::BadLiteral,
            format!("`{}` takes one of {listed} for `{key}`, not \"{given}\"", backend.name),
        )
        .at(span, "not one of them");
        if let Some(c) = closest(given, choices.iter().copied()) {
            diag = diag.help(format!("did you mean \"{c}\"?"));
        }
        self.diags.push(diag);
    }

    /// A use of an agent or function whose capability the host or `--deny`
    /// switched off.
    pub(super) fn capability_use(&mut self, callee: Target, at: &Ident) {
        let (capability, what) = match callee {
            Target::Backend(agent) => (agent.signature().capability.as_deref(), "agent"),
            Target::Function(function) => (function.capability, "function"),
            Target::Binding(_) | Target::Unresolved => (None, ""),
        };
        if let Some(capability) = capability {
            self.denied(capability, format!("the {what} `{}`", at.name), at.span);
        }
    }

    /// The config keys given to a backend that need a capability of their own.
    fn key_capabilities(&mut self, backend: &Signature, args: &[Arg]) {
        for arg in args {
            let (key, span) = match &arg.name {
                Some(name) => (name.name.as_str(), name.span),
                None => match backend.positional.as_deref() {
                    Some(key) => (key, arg.value.span),
                    None => continue,
                },
            };
            if let Some(capability) = backend.key(key).and_then(|k| k.capability.as_deref()) {
                let what = format!("`{key}` of `{}`", backend.name);
                self.denied(capability, what, span);
            }
        }
    }

    /// Reports `capability` as switched off at `span`, unless it is permitted.
    fn denied(&mut self, capability: &str, what: String, span: Span) {
        if self.capabilities.permits(capability) {
            return;
        }
        self.diags.push(
            Diagnostic::error(
                Code::CapabilityDenied,
                format!("the capability `{capability}` is switched off, and {what} needs it"),
            )
            .at(span, format!("needs `{capability}`"))
            .help(format!(
                "capabilities in force: {}; allow `{capability}` to run this script, or do this step another way",
                self.capabilities.describe()
            )),
        );
    }

    fn modifiers(&mut self, call: &'a Call) {
        let mut seen: Vec<(&str, Span)> = Vec::new();
        for modifier in &call.modifiers {
            let keyword = match &modifier.kind {
                ModifierKind::Timeout(e) => {
                    self.expr(e);
                    self.literal_duration(e, "a timeout");
                    "timeout"
                }
                ModifierKind::Retry(e) => {
                    self.expr(e);
                    self.literal_count(e);
                    "retry"
                }
                ModifierKind::Backoff(e) => {
                    self.expr(e);
                    self.literal_duration(e, "a backoff");
                    "backoff"
                }
                ModifierKind::After(_) => "after",
            };
            seen.push((keyword, modifier.span));
        }
        self.duplicate_keys(seen.into_iter(), "modifier", "on this call");
    }

    /// A literal retry count: a whole number, zero or more.
    pub(super) fn literal_count(&mut self, expr: &Expr) {
        let problem = match Literal::of(expr) {
            Literal::Int(n) if n >= 0 => return,
            Literal::Int(_) => "negative".to_string(),
            Literal::Float(_) => "not a whole number".to_string(),
            Literal::Duration => "a duration, not a count".to_string(),
            Literal::Other(kind) => format!("{kind}, not a number"),
            Literal::Computed => return,
        };
        self.diags.push(
            Diagnostic::error(Code::BadLiteral, "a retry count must be a whole number, zero or more")
                .at(expr.span, problem)
                .help("write how many more times to try, e.g. `retry 3`; to wait between tries, add `backoff 2s`"),
        );
    }

    /// A literal timeout or backoff: a duration (or a number of seconds), zero or more.
    pub(super) fn literal_duration(&mut self, expr: &Expr, what: &str) {
        let problem = match Literal::of(expr) {
            Literal::Int(n) if n >= 0 => return,
            Literal::Float(x) if x >= 0.0 => return,
            Literal::Duration => return,
            Literal::Int(_) | Literal::Float(_) => "negative".to_string(),
            Literal::Other(kind) => format!("{kind}, not a duration"),
            Literal::Computed => return,
        };
        self.diags.push(
            Diagnostic::error(
                Code::BadLiteral,
                format!("{what} must be a duration, zero or more"),
            )
            .at(expr.span, problem)
            .help("write a duration such as `250ms`, `30s`, `5m` or `2h`"),
        );
    }

    /// `agent Name = backend(config) [limit N]`: its config's values, and
    /// the backend's settings (an unknown backend was reported by the resolution).
    pub(super) fn agent_decl(&mut self, agent: &'a AgentDecl) {
        for arg in &agent.args {
            self.expr(&arg.value);
        }
        if let Some(limit) = &agent.limit {
            self.expr(limit);
            self.literal_limit(limit, "an agent's limit");
        }
        self.duplicate_keys(
            agent
                .args
                .iter()
                .filter_map(|a| a.name.as_ref())
                .map(|n| (n.name.as_str(), n.span)),
            "setting",
            "in this agent",
        );
        let backend = &agent.backend;
        if let Target::Backend(b) = self.res.target(backend) {
            self.capability_use(Target::Backend(b), backend);
            self.backend_args(backend, b.signature(), &agent.args, true);
        }
    }
}

/// A plausible value of a setting's type, for examples in help lines.
fn example_value(ty: ConfigType) -> &'static str {
    match ty {
        ConfigType::Command => "\"./run.sh\"",
        ConfigType::Text => "\"…\"",
        ConfigType::Duration => "2s",
        ConfigType::Number | ConfigType::Integer => "1",
        ConfigType::Bool => "true",
        ConfigType::List => "[…]",
        ConfigType::Agents => "[Search, Calculator]",
        ConfigType::Object => "{…}",
        ConfigType::Memory => "\"4G\"",
        ConfigType::Any => "…",
    }
}

fn config_keys(backend: &Signature) -> String {
    if backend.config.is_empty() {
        format!("`{}` takes no settings", backend.name)
    } else {
        let names: Vec<&str> = backend.config.iter().map(|k| k.name.as_str()).collect();
        format!("`{}` accepts {}", backend.name, quoted_list(&names))
    }
}

fn signature(name: &str, params: &[&str]) -> String {
    format!(
        "the flow is declared as `flow {name}({})`",
        params.join(", ")
    )
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn given(n: usize) -> String {
    if n == 1 {
        "1 was".to_string()
    } else {
        format!("{n} were")
    }
}
