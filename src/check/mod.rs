//! Stage 2: the semantic checker. Reads an [`ast::Program`] and reports every
//! problem in one pass: undefined and misplaced names, duplicates, unknown
//! backends and arguments, arity, recursive flows, bad literals, and lints.
//!
//! | file | what it checks |
//! |---|---|
//! | `scope.rs` | scopes, bindings, lookups and suggestions |
//! | `walk.rs` | statements, blocks and expressions; names at their use sites |
//! | `calls.rs` | callees and their arguments, agent declarations, literal modifiers |
//! | `flows.rs` | flows that call themselves, directly or through others |

use std::sync::Arc;

use crate::agent::{Capabilities, Registry};
use crate::ast;
use crate::diag::Diagnostic;
use crate::source::Span;

mod calls;
mod flows;
mod scope;
mod walk;

use scope::{Barrier, BindingId, CallableKind, FlowId, Map, Scope, ValueKind};

/// What a script may use without declaring it: host agents registered from Rust,
/// and (for REPL sessions) names bound by earlier entries.
///
/// These names form a scope around the script: a script may rebind them
/// (its own declaration wins), and REPL values, like top-level `let`s, are not
/// visible inside flow bodies.
#[derive(Clone, Debug)]
pub struct Env {
    /// The agents scripts can name, with their signatures.
    pub registry: Arc<Registry>,
    /// The capabilities scripts may use; a use of any other is an error.
    pub capabilities: Capabilities,
    pub host_agents: Vec<String>,
    pub values: Vec<String>,
    pub agents: Vec<String>,
    /// Flows bound by earlier entries: name and parameters.
    pub flows: Vec<(String, Vec<String>)>,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            registry: Registry::builtin(),
            capabilities: Capabilities::all(),
            host_agents: Vec::new(),
            values: Vec::new(),
            agents: Vec::new(),
            flows: Vec::new(),
        }
    }
}

/// Checks a parsed program. Returns its errors and warnings in source order;
/// only errors (see [`crate::diag::has_errors`]) mean the program must not run.
pub fn check(program: &ast::Program, env: &Env) -> Vec<Diagnostic> {
    let mut checker = Checker::new(env);
    checker.program(program);
    checker.check_recursion();
    let mut diags = checker.diags;
    diags.sort_by_key(|d| d.span().map_or(0, |s| s.start));
    diags
}

/// A flow's signature, for calls and recursion messages.
#[derive(Debug)]
struct FlowSig<'a> {
    name: &'a str,
    params: Vec<&'a str>,
}

/// A call from one flow's body to another flow.
#[derive(Debug)]
struct FlowCall {
    caller: FlowId,
    callee: FlowId,
    span: Span,
}

/// The state of one check: scopes, every binding, flows and their calls.
#[derive(Debug)]
///
/// Names are borrowed from the AST and the [`Env`]: a check allocates per
/// scope and binding, never per name.
struct Checker<'a> {
    bindings: Vec<scope::Binding<'a>>,
    /// Innermost last. `scopes[0]` holds the [`Env`], `scopes[1]` the top level.
    scopes: Vec<Scope<'a>>,
    /// Top-level `param`s, which flow bodies and agent configs see wherever declared.
    top_params: Map<&'a str, BindingId>,
    flows: Vec<FlowSig<'a>>,
    flow_calls: Vec<FlowCall>,
    /// The flow whose body is being checked.
    current_flow: Option<FlowId>,
    /// Inside an agent declaration's config or `limit`.
    in_config: bool,
    /// Inside a gate check's `where`: its own name and the other checks' names.
    gate: Vec<(&'a str, Vec<&'a str>)>,
    /// Bindings used before their `let` (reported as such), by the span of their name.
    used_early: scope::Set<Span>,
    registry: &'a Registry,
    capabilities: &'a Capabilities,
    diags: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn new(env: &'a Env) -> Checker<'a> {
        let mut checker = Checker {
            bindings: Vec::new(),
            scopes: Vec::new(),
            top_params: Map::default(),
            flows: Vec::new(),
            flow_calls: Vec::new(),
            current_flow: None,
            in_config: false,
            gate: Vec::new(),
            used_early: scope::Set::default(),
            registry: &env.registry,
            capabilities: &env.capabilities,
            diags: Vec::new(),
        };
        let mut root = Scope::new(Barrier::None);
        for name in &env.values {
            let id = checker.env_binding(name, scope::BindingKind::Value(ValueKind::Env));
            root.values.insert(name, id);
        }
        for name in env.host_agents.iter().chain(&env.agents) {
            let id = checker.env_binding(name, scope::BindingKind::Callable(CallableKind::Agent));
            root.callables.insert(name, id);
        }
        for (name, params) in &env.flows {
            checker.flows.push(FlowSig {
                name,
                params: params.iter().map(String::as_str).collect(),
            });
            let flow = checker.flows.len() - 1;
            let id =
                checker.env_binding(name, scope::BindingKind::Callable(CallableKind::Flow(flow)));
            root.callables.insert(name, id);
        }
        checker.scopes.push(root);
        checker
    }

    fn env_binding(&mut self, name: &'a str, kind: scope::BindingKind) -> BindingId {
        self.bindings.push(scope::Binding {
            name,
            span: None,
            kind,
            used: true,
        });
        self.bindings.len() - 1
    }
}
