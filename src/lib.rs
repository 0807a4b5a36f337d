//! Flow: a workflow language for orchestrating agents.
//!
//! A script goes through one module per stage, data moving forward only:
//!
//! ```text
//! text ─► syntax::parse ─► ast::Program ─► check ─► graph::lower ─► TaskGraph ─► runtime ─► Outcome
//! ```
//!
//! | module | responsibility |
//! |---|---|
//! | [`source`] | source files and byte spans |
//! | [`diag`] | the one diagnostic type of every phase, rendered by miette |
//! | [`ast`] | the owned, spanned syntax tree |
//! | [`syntax`] | the pest parser: text to AST, syntax errors to diagnostics |
//! | [`value`] | value semantics: operators, field and index access, conversions |
//! | [`builtins`] | the names known before any declaration: functions, built-in agents, backends; the pure functions |
//! | [`agents`] | the agent backends: [`agents::sh`] runs shell commands as process groups |
//! | [`check`] | names, arity, duplicates, recursion and lints over the AST: every problem in one pass |
//! | [`lint`] | orchestration lints over the AST and task graph, their levels and allow comments |
//! | [`explain`] | the long explanation of every diagnostic code (`flow explain`) |

pub mod agents;
pub mod ast;
pub mod builtins;
pub mod check;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod explain;
pub mod graph;
pub mod lint;
pub mod runtime;
pub mod source;
pub mod syntax;
pub mod value;

pub use diag::{Code, Diagnostic, RenderStyle, Severity};
pub use engine::{CompileError, Engine, Script};
pub use runtime::{
    AgentError, Call, Event, HostAgent, Outcome, RunOptions, RunStatus, TaskRecord, TaskStatus,
};
pub use source::{SourceFile, Span};
