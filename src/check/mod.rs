//! Stage 2: the semantic checker. Reads an [`ast::Program`] and its
//! [`Resolution`] and reports every problem in one pass: misplaced
//! declarations, duplicate keys, unknown arguments, arity, capabilities,
//! recursive flows, bad literals, and the uses of values that agents' declared
//! schemas contradict (check-time contracts). What names mean, and the diagnostics
//! about names, come from [`crate::resolve`].
//!
//! | file | what it checks |
//! |---|---|
//! | `walk.rs` | statements, blocks and expressions |
//! | `calls.rs` | callees and their arguments, agent declarations, literal modifiers |
//! | `constructs.rs` | `repeat`, `match`, `reduce` and `fold` |
//! | `flows.rs` | flows that call themselves, directly or through others |
//! | `shell.rs` | the `${…}` of shell commands: places no reference can stand, second shells |
//! | `shapes.rs` | shapes: what is known of a value, read from JSON Schemas and literals |
//! | `contracts.rs` | agents' declared output and input schemas: fields, operators, arguments |

use std::rc::Rc;

use crate::agent::Capabilities;
use crate::ast;
use crate::diag::Diagnostic;
use crate::resolve::{BindingId, FlowId, Resolution};
use crate::source::Span;

use contracts::AgentContract;
use shapes::Shape;

/// Maps and sets keyed by binding ids and names: no need for a DoS-resistant hash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

mod calls;
mod constructs;
mod contracts;
mod flows;
mod shapes;
mod shell;
mod walk;

pub use crate::resolve::Env;

/// Resolves and checks a parsed program. Returns its errors and warnings in
/// source order; only errors (see [`crate::diag::has_errors`]) mean the
/// program must not run. (The engine resolves once for both the checker and
/// the lowering; this is for tests and benchmarks of the checker alone.)
#[cfg(feature = "internals")]
pub fn check(program: &ast::Program, env: &Env) -> Vec<Diagnostic> {
    let resolution = crate::resolve::resolve(program, env);
    check_resolved(program, &resolution, env)
}

/// Checks a program already resolved against `env`: the resolution's name
/// diagnostics and the checker's own, in source order.
pub fn check_resolved<'a>(
    program: &'a ast::Program,
    resolution: &Resolution<'a>,
    env: &Env,
) -> Vec<Diagnostic> {
    let mut checker = Checker {
        res: resolution,
        flow_calls: Vec::new(),
        current_flow: None,
        capabilities: &env.capabilities,
        diags: resolution.diagnostics().to_vec(),
        contracts: HashMap::default(),
        shapes: HashMap::default(),
    };
    checker.program(program);
    checker.check_recursion();
    let mut diags = checker.diags;
    diags.sort_by_key(|d| d.span().map_or(0, |s| s.start));
    diags
}

/// A call from one flow's body to another flow.
#[derive(Debug)]
struct FlowCall {
    caller: FlowId,
    callee: FlowId,
    span: Span,
}

/// The state of one check: the resolution it reads, flows' calls, diagnostics.
struct Checker<'r, 'a> {
    res: &'r Resolution<'a>,
    flow_calls: Vec<FlowCall>,
    /// The flow whose body is being checked.
    current_flow: Option<FlowId>,
    capabilities: &'r Capabilities,
    diags: Vec<Diagnostic>,
    /// The contracts of declared agents (see `contracts.rs`).
    contracts: HashMap<BindingId, Rc<AgentContract>>,
    /// The known shapes of values bound by `let`s and `map`s.
    shapes: HashMap<BindingId, Shape>,
}
