//! Lowering calls: agent and backend calls become task nodes, sub-flow calls
//! call nodes; their arguments, config and modifiers become expressions.

use std::sync::Arc;

use serde_json::Value;

use super::{constant, Home, Lowerer};
use crate::agent::Agent;
use crate::ast::{self, ExprKind, ModifierKind};
use crate::diag::{Code, Diagnostic};
use crate::graph::*;
use crate::resolve::Target;
use crate::source::Span;

impl<'a, 'i: 'a> Lowerer<'a, '_, 'i> {
    pub(super) fn string(&mut self, parts: &'a [ast::StrPart], shell: bool) -> Expr {
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            match part {
                ast::StrPart::Text(t) => out.push(StrPart::Text(t.as_str().into())),
                ast::StrPart::Interp(e) => out.push(StrPart::Interp(self.expr(e, None))),
            }
        }
        match out.as_slice() {
            [] => constant(Value::String(String::new())),
            [StrPart::Text(t)] => constant(Value::String(t.to_string())),
            _ => Expr::Str { parts: out, shell },
        }
    }

    /// A config or argument value; `shell` passes the interpolations of a
    /// `command`-typed key (an `sh` command) by reference.
    pub(super) fn arg_expr(&mut self, e: &'a ast::Expr, shell: bool) -> Expr {
        match &e.kind {
            ExprKind::Str(parts) if shell => self.string(parts, true),
            _ => self.expr(e, None),
        }
    }

    fn modifiers(&mut self, mods: &'a [ast::Modifier]) -> (Modifiers, Vec<u32>) {
        let mut out = Modifiers::default();
        let mut after = Vec::new();
        for m in mods {
            match &m.kind {
                ModifierKind::Timeout(e) => out.timeout = Some(self.expr(e, None)),
                ModifierKind::Retry(e) => out.retry = Some(self.expr(e, None)),
                ModifierKind::Backoff(e) => out.backoff = Some(self.expr(e, None)),
                ModifierKind::After(names) => {
                    for name in names {
                        if let Expr::Ref(Ref::Node(k)) = self.resolve(name) {
                            after.push(k);
                            out.after.push((name.name.as_str().into(), k));
                        }
                    }
                }
            }
        }
        (out, after)
    }

    pub(super) fn call(&mut self, call: &'a ast::Call, span: Span, label: Option<&str>) -> Expr {
        let not_found = |l: &mut Self| {
            l.errors.push(
                Diagnostic::error(
                    Code::UndefinedName,
                    format!("cannot find agent `{}`", call.callee.name),
                )
                .at(call.callee.span, "not found"),
            );
            constant(Value::Null)
        };
        match self.res.target(&call.callee) {
            Target::Function(function) => {
                if let Some(capability) = function.capability {
                    self.graph.capabilities.insert(capability.to_string());
                }
                let args = call
                    .args
                    .iter()
                    .map(|a| self.expr(&a.value, None))
                    .collect();
                Expr::Call {
                    function,
                    args,
                    span,
                }
            }
            Target::Binding(id) => match self.home_of(id) {
                Home::Flow(flow) => self.flow_call(flow, call, span, label),
                Home::Agent(agent) => self.task(Called::Declared(agent), call, span, label),
                Home::Param(_) | Home::Local { .. } | Home::Unknown => not_found(self),
            },
            Target::Backend(backend) => self.task(Called::Backend(backend), call, span, label),
            Target::Unresolved => not_found(self),
        }
    }

    /// A task node: a call of a declared agent, or of a backend with its config.
    fn task(
        &mut self,
        called: Called<'a>,
        call: &'a ast::Call,
        span: Span,
        label: Option<&str>,
    ) -> Expr {
        let signature = match called {
            Called::Backend(backend) => Some(backend.signature()),
            Called::Declared(_) => None,
        };
        let positional = signature.and_then(|s| s.positional.as_deref());
        let command_key = signature.and_then(|s| s.command_key());
        let mut instructions = None;
        // Sized up front: a vector grown by pushing makes room for 4 (224
        // bytes) and most calls have one or two arguments.
        let named = call.args.iter().filter(|a| a.name.is_some()).count();
        let mut context = Vec::with_capacity(named);
        // Made at the first config argument, for the arguments left: most
        // calls have none (`noop(a, b: c)`), and an empty vector allocates
        // nothing (it cost the 3.7 MB diamond 100,000 allocations, 11 MB).
        let mut config = Vec::new();
        for (i, arg) in call.args.iter().enumerate() {
            let key = match (&arg.name, positional) {
                (None, Some(key)) => Some(key),
                (None, None) => None,
                (Some(n), _) if signature.is_some_and(|s| s.takes(&n.name)) => {
                    Some(n.name.as_str())
                }
                (Some(n), _) => {
                    let key = self.name(&n.name);
                    context.push((key, self.expr(&arg.value, None)));
                    continue;
                }
            };
            match key {
                Some(key) => {
                    self.uses_key(signature, key);
                    let value = self.arg_expr(&arg.value, command_key == Some(key));
                    if config.capacity() == 0 {
                        config.reserve_exact(call.args.len() - i);
                    }
                    config.push((self.name(key), value));
                }
                None => instructions = Some(self.expr(&arg.value, None)),
            }
        }
        let (modifiers, after) = self.modifiers(&call.modifiers);
        let label = self.label(label, &call.callee.name);
        let callee = match called {
            Called::Declared(i) => Callee::Agent(i),
            Called::Backend(backend) => {
                let signature = backend.signature();
                self.uses(signature);
                if !self.graph.direct_secrets && signature.config.iter().any(|k| k.secret) {
                    self.graph.direct_secrets = true;
                }
                Callee::Backend(self.backend(backend), config)
            }
        };
        let tools = match &callee {
            Callee::Agent(i) => self.tool_bodies(*i),
            Callee::Backend(..) => Vec::new(),
        };
        let task = Task {
            callee,
            instructions,
            context,
            modifiers: modifiers.into(),
            tooling: (!tools.is_empty()).then(|| {
                Box::new(Tooling {
                    spread: None,
                    tools,
                })
            }),
        };
        self.push(NodeKind::Task(task), label, span, &after)
    }

    /// `name` as an `Arc<str>` shared by every use (see `Lowerer::names`).
    fn name(&mut self, name: &'a str) -> Arc<str> {
        self.names.entry(name).or_insert_with(|| name.into()).clone()
    }

    /// The index of a backend in [`TaskGraph::backends`], added at its first call.
    fn backend(&mut self, backend: &'a Arc<dyn Agent>) -> u32 {
        // The registry's agent, by address (compared, never dereferenced):
        // no hash of its name on each of a big script's calls.
        let at = Arc::as_ptr(backend).cast::<()>() as usize;
        if let Some(&i) = self.backends.get(&at) {
            return i;
        }
        let i = self.graph.backends.len() as u32;
        let shared = self.name(backend.signature().name.as_str());
        self.graph.backends.push(crate::graph::Backend {
            agent: AgentRef(backend.clone()),
            name: shared,
        });
        self.backends.insert(at, i);
        i
    }

    /// For a call of an agent with tools: one body per tool, whose single
    /// task calls the tool with the arguments the body gets as its input.
    fn tool_bodies(&mut self, agent: u32) -> Vec<ToolUse> {
        let tools = self.graph.agents[agent as usize].tools.clone();
        let mut uses = Vec::with_capacity(tools.len());
        for tool in tools {
            let name = self.graph.agents[tool as usize].name.clone();
            self.open(BodyKind::Tool, &[("args", None)], false);
            let task = Task {
                callee: Callee::Agent(tool),
                instructions: None,
                context: Vec::new(),
                modifiers: CallModifiers::default(),
                // One level of tools: a tool's own tools are not offered.
                tooling: Some(Box::new(Tooling {
                    spread: Some(Expr::Ref(Ref::Input(0))),
                    tools: Vec::new(),
                })),
            };
            let span = self.graph.agents[tool as usize].span;
            let value = self.push(NodeKind::Task(task), "".into(), span, &[]);
            let body = self.close(value);
            uses.push(ToolUse {
                name,
                agent: tool,
                body,
            });
        }
        uses
    }

    fn flow_call(
        &mut self,
        flow: u32,
        call: &'a ast::Call,
        span: Span,
        label: Option<&str>,
    ) -> Expr {
        let params = self.graph.flows[flow as usize].params.clone();
        let mut args: Vec<Option<Expr>> = vec![None; params.len()];
        let mut next_positional = 0;
        for arg in &call.args {
            let slot = match &arg.name {
                Some(n) => params.iter().position(|p| **p == *n.name),
                None => {
                    next_positional += 1;
                    Some(next_positional - 1).filter(|&i| i < params.len())
                }
            };
            let value = self.expr(&arg.value, None);
            if let Some(slot) = slot {
                args[slot] = Some(value);
            }
        }
        let args = args
            .into_iter()
            .map(|a| a.unwrap_or_else(|| constant(Value::Null)))
            .collect();
        let (modifiers, after) = self.modifiers(&call.modifiers);
        let label = self.label(label, &call.callee.name);
        let node = FlowCall {
            flow,
            args,
            modifiers: modifiers.into(),
        };
        self.push(NodeKind::Call(node), label, span, &after)
    }
}

/// What a task calls, as the resolution found it.
#[derive(Clone, Copy)]
enum Called<'a> {
    /// A declared or host agent, by index into the graph's agents.
    Declared(u32),
    /// A backend called directly.
    Backend(&'a Arc<dyn Agent>),
}
