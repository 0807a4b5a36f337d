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
//! | [`agents`] | the agent backends: [`agents::sh`] runs shell commands as process groups, [`agents::llm`] calls OpenAI-compatible models, [`agents::http`] calls services |
//! | [`check`] | names, arity, duplicates and recursion over the AST: every problem in one pass |
//! | [`graph`] | the task graph: lowering from the AST, DOT/Mermaid/JSON export |
//! | [`lint`] | orchestration lints over the AST and task graph, their levels and allow comments |
//! | [`explain`] | the long explanation of every diagnostic code (`flow explain`) |
//! | [`runtime`] | the scheduler: runs a task graph, with limits, cancellation, events and task records |
//! | [`engine`] | the embedding API: [`Engine`], host agents, [`Engine::compile`], [`Engine::run`], [`Engine::start`] |
//! | `cli` | the `flow` command line: `run`, `check`, `graph`, `explain`, the REPL (cargo feature `cli`, on by default) |
//!
//! Embedding Flow in a Rust program takes an [`Engine`], host agents (async
//! closures or [`HostAgent`] types), and [`RunOptions`]:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use flow::{Call, Engine, RunOptions};
//! use serde_json::json;
//!
//! let engine = Engine::new().agent("Extractor", |call: Call| async move {
//!     Ok(json!({ "rows": 3, "source": call.get("source")? }))
//! });
//! let outcome = engine
//!     .run_source("etl.flow", "map s in [\"a\", \"b\"] { Extractor(source: s).rows }", RunOptions::new())
//!     .await
//!     .expect("the script compiles");
//! assert_eq!(*outcome.result.unwrap(), json!([3, 3]));
//! # }
//! ```

// pest without `std` (see Cargo.toml) generates code that names `alloc`.
extern crate alloc;

pub mod agents;
pub mod ast;
pub mod builtins;
pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod diag;
#[warn(missing_docs)]
pub mod engine;
pub mod exec;
pub mod explain;
pub mod graph;
pub mod lint;
#[warn(missing_docs)]
pub mod runtime;
pub mod shell;
pub mod source;
pub mod syntax;
pub mod value;

pub use diag::{Code, Diagnostic, RenderStyle, Severity};
pub use engine::{CompileError, Engine, RunHandle, Script};
pub use runtime::{
    AgentError, AgentFuture, Call, Event, HostAgent, Outcome, RunEvent, RunOptions, RunStatus,
    TaskRecord, TaskStatus,
};
/// The JSON value every agent takes and returns.
pub use serde_json::Value;
pub use source::{SourceFile, Span};
/// The token that cancels a run ([`RunOptions::cancel_with`]) or tells an
/// agent to stop ([`Call::cancel`]).
pub use tokio_util::sync::CancellationToken;

/// The Rust examples of `docs/agents.md`, run as doctests so the page stays true.
#[cfg(doctest)]
#[doc = include_str!("../docs/agents.md")]
pub struct AgentsDoc;
