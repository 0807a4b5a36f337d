//! Before the first task: params from their defaults or the command line, and
//! each declared agent's backend, config and limit.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::*;
use crate::agent::{Agent, Host};
use crate::graph::AgentKind;

impl Scheduler {
    pub(super) fn setup(&mut self) -> Result<(), Vec<Diagnostic>> {
        let graph = self.graph.clone();
        let mut errors = Vec::new();
        for (name, _) in &self.options.params {
            if !graph.params.iter().any(|p| &*p.name == name) {
                let names: Vec<&str> = graph.params.iter().map(|p| &*p.name).collect();
                let mut diag = Diagnostic::error(
                    Code::UnknownParam,
                    format!("the script has no param `{name}`"),
                );
                diag = match crate::value::suggest(name, names.iter().copied()) {
                    Some(close) => diag.help(format!("did you mean `{close}`?")),
                    None if names.is_empty() => diag.help("this script declares no params"),
                    None => diag.help(format!("its params are: {}", names.join(", "))),
                };
                errors.push(diag);
            }
        }
        for param in &graph.params {
            let given = self
                .options
                .params
                .iter()
                .rev()
                .find(|(n, _)| **n == *param.name);
            let value = match given {
                Some((_, v)) => Arc::new(v.clone()),
                None => {
                    let frame = Frame {
                        values: &[],
                        inputs: &[],
                        captures: &[],
                        params: &self.params,
                    };
                    match eval(&param.default, &frame) {
                        Ok(v) => v,
                        Err(e) => {
                            errors.push(e.into_diagnostic());
                            Arc::new(Value::Null)
                        }
                    }
                }
            };
            self.params.push(value);
        }
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
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
