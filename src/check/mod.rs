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

use std::collections::HashMap;

use crate::ast;
use crate::diag::Diagnostic;
use crate::source::Span;

mod calls;
mod flows;
mod scope;
mod walk;

use scope::{Barrier, BindingId, CallableKind, FlowId, Scope, ValueKind};

/// What a script may use without declaring it: host agents registered from Rust,
/// and (for REPL sessions) names bound by earlier entries.
///
/// These names form a scope around the script: a script may rebind them
/// (its own declaration wins), and REPL values, like top-level `let`s, are not
/// visible inside flow bodies.
#[derive(Default, Clone, Debug)]
pub struct Env {
    pub host_agents: Vec<String>,
    pub values: Vec<String>,
    pub agents: Vec<String>,
    /// Flows bound by earlier entries: name and parameters.
    pub flows: Vec<(String, Vec<String>)>,
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
struct FlowSig {
    name: String,
    params: Vec<String>,
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
struct Checker {
    bindings: Vec<scope::Binding>,
    /// Innermost last. `scopes[0]` holds the [`Env`], `scopes[1]` the top level.
    scopes: Vec<Scope>,
    /// Top-level `param`s, which flow bodies and agent configs see wherever declared.
    top_params: HashMap<String, BindingId>,
    flows: Vec<FlowSig>,
    flow_calls: Vec<FlowCall>,
    /// The flow whose body is being checked.
    current_flow: Option<FlowId>,
    /// Inside an agent declaration's config or `limit`.
    in_config: bool,
    /// Inside a gate check's `where`: its own name and the other checks' names.
    gate: Vec<(String, Vec<String>)>,
    /// Bindings used before their `let` (reported as such), by the span of their name.
    used_early: std::collections::HashSet<Span>,
    diags: Vec<Diagnostic>,
}

impl Checker {
    fn new(env: &Env) -> Checker {
        let mut checker = Checker {
            bindings: Vec::new(),
            scopes: Vec::new(),
            top_params: HashMap::new(),
            flows: Vec::new(),
            flow_calls: Vec::new(),
            current_flow: None,
            in_config: false,
            gate: Vec::new(),
            used_early: std::collections::HashSet::new(),
            diags: Vec::new(),
        };
        let mut root = Scope::new(Barrier::None);
        for name in &env.values {
            let id = checker.env_binding(name, scope::BindingKind::Value(ValueKind::Env));
            root.values.insert(name.clone(), id);
        }
        for name in env.host_agents.iter().chain(&env.agents) {
            let id = checker.env_binding(name, scope::BindingKind::Callable(CallableKind::Agent));
            root.callables.insert(name.clone(), id);
        }
        for (name, params) in &env.flows {
            checker.flows.push(FlowSig {
                name: name.clone(),
                params: params.clone(),
            });
            let flow = checker.flows.len() - 1;
            let id =
                checker.env_binding(name, scope::BindingKind::Callable(CallableKind::Flow(flow)));
            root.callables.insert(name.clone(), id);
        }
        checker.scopes.push(root);
        checker
    }

    fn env_binding(&mut self, name: &str, kind: scope::BindingKind) -> BindingId {
        self.bindings.push(scope::Binding {
            name: name.to_string(),
            span: None,
            kind,
            used: true,
        });
        self.bindings.len() - 1
    }
}
