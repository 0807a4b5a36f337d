//! Before the first task: params from their defaults or the command line, and
//! each declared agent's backend, config and limit.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::*;
use crate::agent::{Agent, Host};
use crate::graph::AgentKind;

/// Text from a command line as a value of the type of `default`.
pub(crate) fn typed_param(text: &str, default: &Value) -> Result<Value, String> {
    let json = || serde_json::from_str::<Value>(text.trim());
    match default {
        Value::String(_) => Ok(Value::String(text.to_string())),
        Value::Null => Ok(json().unwrap_or_else(|_| Value::String(text.to_string()))),
        Value::Number(_) => match json() {
            Ok(n @ Value::Number(_)) => Ok(n),
            _ => Err(format!("`{text}` is not a number")),
        },
        Value::Bool(_) => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not `true` or `false`")),
        },
        Value::Array(_) => match json() {
            Ok(list @ Value::Array(_)) => Ok(list),
            _ => Err(format!("`{text}` is not a JSON list")),
        },
        Value::Object(_) => match json() {
            Ok(object @ Value::Object(_)) => Ok(object),
            _ => Err(format!("`{text}` is not a JSON object")),
        },
    }
}

/// The params' values, in the order they are declared: a `--param` text
/// typed as its default, else a value given (`--params-file`), else the
/// default; and what is wrong with what was given (a name the script does
/// not declare, a text not of its default's type). Run before the run's
/// record is made, so that a usage error leaves none.
pub(crate) fn param_values(
    graph: &TaskGraph,
    given: &[(String, Value)],
    texts: &[(String, String)],
) -> (Vec<Val>, Vec<Diagnostic>) {
let mut errors = Vec::new();
let mut values: Vec<Val> = Vec::with_capacity(graph.params.len());
let named = (given.iter().map(|(n, _)| n)).chain(texts.iter().map(|(n, _)| n));
    for name in named {
        if !graph.params.iter().any(|p| &*p.name == name) {
            let names: Vec<&str> = graph.params.iter().map(|p| &*p.name).collect();
            let mut diag = Diagnostic::error(
                Code::UnknownParam,
                format!("the script has no param `{name}`"),
            );
            let known = format!("its params are: {}", names.join(", "));
            diag = match crate::value::suggest(name, names.iter().copied()) {
                Some(close) => diag.help(format!("did you mean `{close}`? {known}")),
                None if names.is_empty() => diag.help("this script declares no params"),
                None => diag.help(known),
            };
            errors.push(diag);
        }
    }
    for param in &graph.params {
        let value_given = given.iter().rev().find(|(n, _)| **n == *param.name);
        let text = texts.iter().rev().find(|(n, _)| **n == *param.name);
        let value = match (text, value_given) {
            (None, Some((_, v))) => Arc::new(v.clone()),
            (text, _) => {
                let frame = Frame {
                    values: &[],
                    inputs: &[],
                    captures: &[],
                    params: &values,
                };
                let default = match eval(&param.default, &frame) {
                    Ok(v) => v,
                    Err(e) => {
                        errors.push(e.into_diagnostic());
                        Arc::new(Value::Null)
                    }
                };
                match text {
                    None => default,
                    Some((_, text)) => match typed_param(text, &default) {
                        Ok(v) => Arc::new(v),
                        Err(why) => {
                            errors.push(
                                Diagnostic::error(
                                    Code::BadParam,
                                    format!("`--param {}={text}`: {why}", param.name),
                                )
                                .at(param.span, "this param")
                                .help(format!(
                                    "give `{}` {}, as its default is",
                                    param.name,
                                    crate::value::type_name(&default)
                                )),
                            );
                            Arc::new(Value::Null)
                        }
                    },
                }
            }
        };
        values.push(value);
    }
    (values, errors)
}

impl Scheduler {
    pub(super) fn setup(&mut self) -> Result<(), Vec<Diagnostic>> {
        let graph = self.graph.clone();
        let (params, mut errors) =
            param_values(&graph, &self.options.params, &self.options.param_texts);
        self.params = params;
        for (i, agent) in graph.agents.iter().enumerate() {
            // A host agent given with the run's options takes precedence.
            let overridden = || {
                self.options
                    .host_agents
                    .iter()
                    .find(|(n, _)| **n == *agent.name)
                    .map(|(name, a)| Arc::new(Host::new(name, a.clone())) as Arc<dyn Agent>)
            };
            let implementation = match &agent.kind {
                AgentKind::Backend(b) => Some(b.0.clone()),
                AgentKind::Host(registered) => {
                    overridden().or_else(|| registered.as_ref().map(|r| r.0.clone()))
                }
            };
            let Some(implementation) = implementation else {
                errors.push(
                    Diagnostic::error(
                        Code::UnknownBackend,
                        format!("agent `{}` is not registered", agent.name),
                    )
                    .at(agent.span, "declared here")
                    .help("register it with `Engine::agent` before running the script"),
                );
                continue;
            };
            let frame = Frame {
                values: &[],
                inputs: &[],
                captures: &[],
                params: &self.params,
            };
            let (config, command) =
                match super::super::eval::config(&agent.config, implementation.signature(), &frame)
                {
                    Ok(evaluated) => evaluated,
                    Err(e) => {
                        errors.push(e.into_diagnostic().or_at(agent.span, "in this agent's config"));
                        (Map::new(), None)
                    }
                };
            if let Some(limit) = &agent.limit {
                let counted = eval(limit, &frame)
                    .map_err(|e| e.into_diagnostic())
                    .and_then(|v| {
                        crate::value::count(&v, "limit", 1).map_err(|e| e.to_diagnostic())
                    });
                match counted {
                    Ok(n) => self
                        .queues
                        .set_limit(i, usize::try_from(n).unwrap_or(usize::MAX)),
                    Err(d) => errors.push(d.at(agent.span, "in this agent's `limit`")),
                }
            }
            self.agents.push(AgentRuntime {
                implementation,
                config: Arc::new(config),
                command,
            });
        }
        self.hide_secrets();
        self.setup_executors(&mut errors);
        self.setup_budget(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Gathers the run's secrets: the variables the options name, and those
    /// the `secret` config keys of its agents name (their values, else their
    /// defaults), declared or called directly. The default executor's
    /// commands do not inherit them; the journal learns their values.
    fn hide_secrets(&mut self) {
        let mut secrets = crate::secret::Secrets::default();
        for name in &self.options.secrets {
            secrets.add_variable(name);
        }
        let named = |signature: &crate::agent::Signature, given: &dyn Fn(&str) -> Option<String>| {
            signature
                .config
                .iter()
                .filter(|k| k.secret)
                .filter_map(|k| {
                    given(&k.name).or_else(|| Some(k.default.as_ref()?.as_str()?.to_string()))
                })
                .collect::<Vec<_>>()
        };
        for agent in &self.agents {
            let config = &agent.config;
            let given = |key: &str| Some(config.get(key)?.as_str()?.to_string());
            for name in named(agent.implementation.signature(), &given) {
                secrets.add_variable(&name);
            }
        }
        // A look at every node, only when one of them may name a secret.
        let nodes = if self.graph.direct_secrets {
            &self.graph.nodes[..]
        } else {
            &[]
        };
        for node in nodes {
            if let NodeKind::Task(crate::graph::Task {
                callee: Callee::Backend(agent, config),
                ..
            }) = &node.kind
            {
                let given = |key: &str| match config.iter().find(|(k, _)| &**k == key)? {
                    (_, Expr::Const(value)) => Some(value.as_str()?.to_string()),
                    _ => None,
                };
                for name in named(self.graph.backend(*agent).signature(), &given) {
                    secrets.add_variable(&name);
                }
            }
        }
        if self.options.executor.is_none() {
            let executor = crate::exec::LocalExecutor::new().hiding(secrets.names());
            self.services.executor = Arc::new(executor.setting(self.dirs.variables()));
        }
        let secrets = Arc::new(secrets);
        if let (Some(journal), false) = (&self.options.journal, secrets.is_empty()) {
            journal.secrets(&secrets);
        }
        // A person is never shown a secret, nor is one written with a question.
        if let (Some(approver), false) = (&self.options.approver, secrets.is_empty()) {
            self.services.approver = Some(Arc::new(redact::Approver {
                inner: approver.clone(),
                secrets: secrets.clone(),
            }));
        }
        if let Some(observer) = &self.options.observer {
            self.services.retries = Some((observer.clone(), secrets.clone()));
        }
        self.secrets = secrets;
    }
}
