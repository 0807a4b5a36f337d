//! Lowering the declarations: params, agents and flows, hoisted (usable
//! anywhere in the script), and the capabilities they need.

use super::{Home, Lowerer, Prelude};
use crate::agent::ConfigType;
use crate::ast::{self, ExprKind, StmtKind};
use crate::diag::{Code, Diagnostic};
use crate::graph::*;
use crate::resolve::Target;
use crate::source::Span;

impl<'a, 'i: 'a> Lowerer<'a, '_, 'i> {
    /// Registers params, agents and flows (hoisted: usable anywhere).
    pub(super) fn declare(&mut self, program: &'a ast::Program, prelude: &'a Prelude) {
        for (name, value) in &prelude.values {
            let index = self.add_param(name, Expr::Const(value.clone()), Span::default());
            self.home(self.res.env_value(name), Home::Param(index));
        }
        for name in &prelude.host_agents {
            let index = self.graph.agents.len() as u32;
            let registered = self.registry.get(name).cloned().map(AgentRef);
            self.graph.agents.push(Agent {
                name: name.as_str().into(),
                kind: AgentKind::Host(registered),
                config: Vec::new(),
                limit: None,
                span: Span::default(),
                definition: Span::default(),
                digest: None,
                tools: Vec::new(),
            });
            self.home(self.res.env_callable(name), Home::Agent(index));
        }
        // Agents are pushed in the next loop, in this same order.
        let mut agents = self.graph.agents.len() as u32;
        for stmt in &program.stmts {
            match &stmt.kind {
                StmtKind::Agent(decl) => {
                    self.home(self.res.binding_at(decl.name.span), Home::Agent(agents));
                    agents += 1;
                }
                StmtKind::Flow(decl) => {
                    let index = self.graph.flows.len() as u32;
                    self.graph.flows.push(Flow {
                        name: decl.name.name.as_str().into(),
                        params: decl.params.iter().map(|p| p.name.as_str().into()).collect(),
                        body: BodyId(0),
                        span: decl.name.span,
                    });
                    self.home(self.res.binding_at(decl.name.span), Home::Flow(index));
                }
                _ => {}
            }
        }
        // Params and agent configs read params only; lower them in a throwaway
        // body. A param reads the params above it; a config reads any param.
        self.open(BodyKind::Script, &[], false);
        for stmt in &program.stmts {
            if let StmtKind::Budget(budget) = &stmt.kind {
                let limit = match budget.limit {
                    crate::ast::BudgetLimit::Tokens(n) => crate::agent::Budget::tokens(n),
                    crate::ast::BudgetLimit::Usd(usd) => crate::agent::Budget::usd(usd),
                };
                self.graph.budget = self.graph.budget.tighten(limit);
            }
            if let StmtKind::Param { name, default } = &stmt.kind {
                let default = self.expr(default, None);
                let index = self.add_param(&name.name, default, name.span);
                self.home(self.res.binding_at(name.span), Home::Param(index));
            }
        }
        for stmt in &program.stmts {
            if let StmtKind::Agent(decl) = &stmt.kind {
                let mut agent = self.agent(decl);
                agent.definition = stmt.span;
                self.graph.agents.push(agent);
            }
        }
        let scratch = self.builders.pop().expect("the scratch body is open");
        if let Some(node) = scratch.nodes.first() {
            self.errors.push(
                Diagnostic::error(
                    Code::NotAValue,
                    "params and agent configs must not call agents",
                )
                .at(node.span, "this is a task")
                .help("compute it with `let` and pass it to the calls that need it"),
            );
        }
    }

    pub(super) fn add_param(&mut self, name: &'a str, default: Expr, span: Span) -> u32 {
        let index = self.graph.params.len() as u32;
        self.graph.params.push(Param {
            name: name.into(),
            default,
            span,
        });
        index
    }

    pub(super) fn agent(&mut self, decl: &'a ast::AgentDecl) -> Agent {
        let backend = match self.res.target(&decl.backend) {
            Target::Backend(b) => Some(b),
            _ => None,
        };
        let kind = match backend {
            Some(b) => {
                self.uses(b.signature());
                AgentKind::Backend(AgentRef(b.clone()))
            }
            None => {
                self.errors.push(
                    Diagnostic::error(
                        Code::UnknownBackend,
                        format!("unknown backend `{}`", decl.backend.name),
                    )
                    .at(decl.backend.span, "not a backend"),
                );
                AgentKind::Host(None)
            }
        };
        let signature = backend.map(|b| b.signature());
        let mut config = Vec::new();
        let mut tools = Vec::new();
        for arg in &decl.args {
            let key = match (&arg.name, signature.and_then(|s| s.positional.as_deref())) {
                (Some(name), _) => name.name.as_str(),
                (None, Some(positional)) => positional,
                (None, None) => "instructions",
            };
            self.uses_key(signature, key);
            if signature.and_then(|s| s.key(key)).map(|k| k.ty) == Some(ConfigType::Agents) {
                tools = self.agent_list(&arg.value);
                continue;
            }
            let command = signature.and_then(|s| s.command_key()) == Some(key);
            config.push((key.into(), self.arg_expr(&arg.value, command)));
        }
        Agent {
            name: decl.name.name.as_str().into(),
            kind,
            config,
            limit: decl.limit.as_ref().map(|e| self.expr(e, None)),
            span: decl.name.span,
            definition: decl.name.span,
            digest: None,
            tools,
        }
    }

    /// The agents a `tools: [A, B]` list names (the resolution checked them).
    fn agent_list(&mut self, list: &'a ast::Expr) -> Vec<u32> {
        let ExprKind::List(items) = &list.kind else {
            return Vec::new();
        };
        let mut agents = Vec::with_capacity(items.len());
        for item in items {
            if let ExprKind::Name(name) = &item.kind {
                if let Target::Binding(id) = self.res.target(name) {
                    if let Home::Agent(i) = self.home_of(id) {
                        agents.push(i);
                    }
                }
            }
        }
        agents
    }

    /// Records the capability a signature needs.
    pub(super) fn uses(&mut self, signature: &crate::agent::Signature) {
        if let Some(capability) = &signature.capability {
            if !self.graph.capabilities.contains(capability) {
                self.graph.capabilities.insert(capability.clone());
            }
        }
    }

    /// Records the capability a given config key needs (`llm`'s `base_url`).
    pub(super) fn uses_key(&mut self, signature: Option<&crate::agent::Signature>, key: &str) {
        let needed = signature.and_then(|s| s.key(key)?.capability.as_ref());
        if let Some(capability) = needed {
            if !self.graph.capabilities.contains(capability) {
                self.graph.capabilities.insert(capability.clone());
            }
        }
    }

    pub(super) fn lower_flows(&mut self, program: &'a ast::Program) {
        let mut index = 0;
        for stmt in &program.stmts {
            if let StmtKind::Flow(decl) = &stmt.kind {
                let inputs: Vec<(&str, Option<Span>)> = decl
                    .params
                    .iter()
                    .map(|p| (p.name.as_str(), Some(p.span)))
                    .collect();
                self.open(BodyKind::Flow, &inputs, false);
                let result = self.stmts(&decl.body.stmts, false);
                let body = self.close(result);
                self.graph.flows[index].body = body;
                index += 1;
            }
        }
    }
}
