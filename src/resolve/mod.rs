//! Name resolution: one pass over the AST, after parsing and before checking
//! and lowering, that decides what every name means.
//!
//! ```text
//! syntax::parse ─► resolve ─┬─► check  (calls, arity, config keys, literals, recursion)
//!                           └─► graph::lower  (binding → where its value lives)
//! ```
//!
//! The pass owns the scope rules of the language, and nothing else does:
//!
//! - agents and flows are hoisted (bound when their block opens); `let`s and
//!   `param`s are sequential, and a use before its `let` reads as such;
//! - a flow body and an agent's config are behind a barrier: past it only the
//!   top-level `param`s (wherever declared) and callables are visible, and a
//!   config may call built-in functions only;
//! - a `param`'s default reads the `param`s above it, never a `let`;
//! - a `map` binds its item and index, a gate check's `where` its own name, a
//!   try's `else` the implicit `error`;
//! - the names bound before the script ([`Env`]: host agents,
//!   earlier REPL entries) form a scope around it, which the script may rebind.
//!
//! Its product, a [`Resolution`], lists every [`Binding`] (id, name, span,
//! kind) and, for every identifier at a use site (a name read, a callee, an
//! `after` name, an agent's backend), its [`Target`]: a binding, a backend, a
//! built-in function, or nothing. Both are found by the byte offset where the
//! identifier starts, in the [`Index`]: a hash table per batch of top-level
//! statements (made when a reader first needs it), so the later stages look
//! a name up in O(1) without walking
//! scopes again, and the lowering can read the batches already resolved
//! while the walk goes on (see `index.rs`). The name diagnostics (undefined,
//! used before bound, duplicate, unused, not a value, not callable, unknown
//! backend) are reported here, once.
//!
//! | file | what it holds |
//! |---|---|
//! | `index.rs` | the answers by offset, batch by batch, and the names bound before the script |
//! | `scope.rs` | the scope stack: declaring, looking up, unused bindings |
//! | `walk.rs` | the walk over statements, blocks and expressions |
//! | `explain.rs` | what to say when a name resolves to nothing |

use std::collections::HashMap;
use std::sync::Arc;

use crate::agent::{Agent, Capabilities, Registry};
use crate::ast::{self, Ident};
use crate::builtins::Function;
use crate::diag::Diagnostic;
use crate::source::Span;

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
    /// Params bound by earlier entries: visible, like top-level `param`s, in
    /// flow bodies, agent configs and params' defaults.
    pub params: Vec<String>,
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
            params: Vec::new(),
            agents: Vec::new(),
            flows: Vec::new(),
        }
    }
}

mod explain;
mod index;
mod scope;
mod walk;

pub use index::{Index, Reader};

pub(crate) use scope::{closest, quoted_list};

/// Maps keyed by names or offsets: a fast hash (scripts are not adversarial
/// to their own compiler).
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Hashes the byte offset of an identifier so that nearby offsets land in
/// nearby slots: every stage looks names up roughly in source order, so the
/// table is read almost sequentially instead of at random. The top bits,
/// which the table compares as a tag, come from a multiplicative hash.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OffsetHasher(u64);

impl std::hash::Hasher for OffsetHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only offsets (`u32`) are hashed with it; stay correct for anything else.
        for &b in bytes {
            self.write_u32(u32::from(b) ^ (self.0 as u32).rotate_left(8));
        }
    }

    fn write_u32(&mut self, n: u32) {
        let n = u64::from(n);
        self.0 = n | (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (0x7F << 57));
    }
}

/// A table keyed by byte offsets.
pub(crate) type OffsetMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<OffsetHasher>>;

/// Index of a binding in [`Resolution::bindings`].
pub type BindingId = u32;
/// Index of a flow in [`Resolution::flows`].
pub type FlowId = u32;

/// What a value binding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// `param` (top level or misplaced).
    Param,
    /// A top-level `let`: part of the script's result, never "unused".
    TopLet,
    /// A `let` in a block.
    Let,
    MapItem,
    MapIndex,
    /// What `repeat`, `reduce`, `fold` and `filter` bind for their bodies.
    Bound,
    FlowParam(FlowId),
    /// A gate check's own name inside its `where`.
    GateCheck,
    /// `error` inside a try's `else`.
    Error,
    /// A value bound before the script (an earlier REPL entry's `let`).
    Env,
    /// A `param` declared before the script (by an earlier REPL entry).
    EnvParam,
}

impl ValueKind {
    /// Implicit bindings may be shadowed in their own scope without a duplicate.
    fn implicit(self) -> bool {
        matches!(
            self,
            ValueKind::Error | ValueKind::Env | ValueKind::EnvParam
        )
    }

    /// Bound at the top level of the script or before it: what a REPL entry
    /// reads from the session.
    // For the REPL's `:save`.
    #[cfg_attr(not(any(feature = "cli", feature = "internals")), allow(dead_code))]
    pub fn is_top_level(self) -> bool {
        matches!(
            self,
            ValueKind::Param | ValueKind::TopLet | ValueKind::Env | ValueKind::EnvParam
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingKind {
    Value(ValueKind),
    /// A declared agent, a host agent, or one bound by an earlier REPL entry.
    Agent,
    Flow(FlowId),
}

/// A name bound somewhere: by the script, or before it ([`Env`]).
#[derive(Clone, Debug)]
pub struct Binding<'a> {
    pub name: &'a str,
    /// Where it was bound (the name; a try's `else` block for `error`);
    /// `None` for names from the [`Env`].
    pub span: Option<Span>,
    pub kind: BindingKind,
}

/// What an identifier at a use site stands for.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// A value, a declared or host agent, or a flow.
    Binding(BindingId),
    /// A backend of the registry, called directly or declared from.
    Backend(&'a Arc<dyn Agent>),
    Function(&'static Function),
    /// Nothing usable here; the resolution reported why.
    Unresolved,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Binding(id) => write!(f, "Binding({id})"),
            Target::Backend(agent) => write!(f, "Backend({})", agent.signature().name),
            Target::Function(function) => write!(f, "Function({})", function.name),
            Target::Unresolved => f.write_str("Unresolved"),
        }
    }
}

/// An identifier at a use site and what it resolved to.
#[derive(Clone, Copy, Debug)]
// `span` is for the REPL's `:save`.
#[cfg_attr(not(any(feature = "cli", feature = "internals")), allow(dead_code))]
pub struct Use<'a> {
    pub span: Span,
    pub target: Target<'a>,
}

/// A flow's signature, for calls and recursion messages.
#[derive(Clone, Debug)]
pub struct FlowSig<'a> {
    pub name: &'a str,
    pub params: Vec<&'a str>,
}

/// In the [`Index`], marks a declared binding (else a use).
const DEF: u32 = 1 << 31;

/// What every name of a program means. Names borrow from the program and the
/// [`Env`] it was resolved against.
#[derive(Debug)]
pub struct Resolution<'a> {
    bindings: Vec<Binding<'a>>,
    flows: Vec<FlowSig<'a>>,
    /// Every use and binding by the offset of its identifier, and the names
    /// bound before the script.
    index: Arc<Index<'a>>,
    /// Where the uses inside each top-level statement are, in walk order.
    // For the REPL's `:save`.
    #[cfg_attr(not(any(feature = "cli", feature = "internals")), allow(dead_code))]
    top: Vec<index::TopUses>,
    diagnostics: Vec<Diagnostic>,
    /// Where [`Resolution::target`] looks first.
    cursor: index::Cursor,
}

/// About how many bindings a resolution of `program` makes, at most for
/// most programs: a statement's and one every 64 bytes, more than a `let`
/// a statement makes. Room for them is made once, not by doubling (room not
/// used costs no memory).
pub(crate) fn bindings_hint(program: &ast::Program) -> usize {
    program.stmts.len() + program.span.end as usize / 64 + 16
}

/// Resolves every name of `program` against what `env` says exists before it.
pub fn resolve<'a>(program: &'a ast::Program, env: &'a Env) -> Resolution<'a> {
    resolve_into(program, env, Arc::new(Index::new(program, env)))
}

/// [`resolve`], filling `index` (made by [`Index::new`] for the same program
/// and env), which another thread may read as the batches are published.
pub fn resolve_into<'a>(
    program: &'a ast::Program,
    env: &'a Env,
    index: Arc<Index<'a>>,
) -> Resolution<'a> {
    let mut resolver = walk::Resolver::new(env, program, index);
    resolver.program(program);
    resolver.finish()
}

impl<'a> Resolution<'a> {
    /// What the identifier at this use site stands for.
    pub fn target(&self, ident: &Ident) -> Target<'a> {
        self.index.target_near(ident, &self.cursor)
    }

    /// The binding declared at `span` (a declared name; a try's `else` block
    /// for its `error`).
    pub fn binding_at(&self, span: Span) -> Option<BindingId> {
        self.index.binding_near(span, &self.cursor)
    }

    /// The uses and bindings by offset: what the lowering reads.
    pub fn index(&self) -> &Index<'a> {
        &self.index
    }

    pub fn binding(&self, id: BindingId) -> &Binding<'a> {
        &self.bindings[id as usize]
    }

    /// Every flow, by [`FlowId`]: those of the [`Env`] first.
    pub fn flows(&self) -> &[FlowSig<'a>] {
        &self.flows
    }

    pub fn flow(&self, id: FlowId) -> &FlowSig<'a> {
        &self.flows[id as usize]
    }

    /// The uses inside the `i`th top-level statement, in walk order.
    // For the REPL's `:save`.
    #[cfg_attr(not(any(feature = "cli", feature = "internals")), allow(dead_code))]
    pub fn uses_in_statement(&self, i: usize) -> &[Use<'a>] {
        match self.top.get(i) {
            Some(t) => self.index.uses(t.batch, t.start, t.end),
            None => &[],
        }
    }

    /// The name diagnostics, in the order the walk found them.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

/// The backend named `name` in `registry`.
fn backend<'r>(registry: &'r Registry, name: &str) -> Option<&'r Arc<dyn Agent>> {
    registry.backend(name)
}

#[cfg(test)]
mod tests;
