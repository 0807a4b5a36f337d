//! Flow: a workflow language for orchestrating agents, and its interpreter.
//!
//! This library is what the `flow` command is built on, for programs that
//! embed Flow. Its API is small:
//!
//! | item | what it is for |
//! |---|---|
//! | [`Engine`] | compiles and runs scripts; holds the agents and the [`Capabilities`] |
//! | [`Script`], [`CompileError`] | a compiled script, or every diagnostic of one that did not compile |
//! | [`RunOptions`], [`Outcome`], [`RunHandle`], [`RunEvent`], [`TaskRecord`] | running: params, limits, events, cancellation, what happened |
//! | [`Journal`], [`TaskKey`], [`Reused`] | the run-store seam: where tasks are recorded and earlier results found (`flow`'s SQLite store, feature `store`) |
//! | [`Diagnostic`], [`Code`], [`SourceFile`], [`Span`] | errors and warnings, rendered against the source |
//! | [`Value`] | the JSON value agents take and return |
//! | [`agent`] | the agent seam: [`Agent`], [`Signature`], [`Call`], [`Registry`]; host agents ([`HostAgent`], closures) |
//! | [`exec`] | the executor seam: where commands run ([`exec::Executor`], [`exec::LocalExecutor`]) |
//! | [`shell`] | quoting for shell commands, and the out-of-band [`shell::Command`] |
//!
//! Inside, a script goes through one module per stage (see
//! `docs/architecture.md`), data moving forward only:
//!
//! ```text
//! text ─► syntax::parse ─► ast::Program ─► resolve ─┬─► check ──────┐
//!                                                    └─► graph::lower ┴─► TaskGraph ─► runtime ─► Outcome
//! ```
//!
//! Cargo features: `cli` (default) builds the `flow` command and brings clap,
//! rustyline and the progress display; `--no-default-features` builds the
//! library alone. `internals` exposes the stages to the project's own tests
//! and benchmarks; it is not part of the API.
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

// The public API is documented (with `internals`, every stage is public).
#![cfg_attr(not(feature = "internals"), warn(missing_docs))]

// pest without `std` (see Cargo.toml) generates code that names `alloc`.
extern crate alloc;

/// Declares the modules that are not part of the public API: crate-private,
/// except for the project's own tests and benchmarks, which turn on the
/// `internals` feature (a dev-dependency of the crate on itself).
/// `when (…)` says when the crate needs the module itself.
macro_rules! internal {
    (when ($when:meta): $($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(all(not(feature = "internals"), $when))]
        mod $name;
    )*};
}

pub mod agent;
pub mod exec;
mod interrupt;
pub mod secret;
pub mod shell;
#[cfg(test)]
mod testing;

internal! {
    when (all()):
    agents, ast, builtins, check, diag, engine, graph, resolve, runtime, source, syntax, value,
}

// The run store (cargo feature `store`, which `cli` turns on).
#[cfg(all(feature = "store", feature = "internals"))]
#[doc(hidden)]
pub mod store;
#[cfg(all(feature = "store", not(feature = "internals")))]
mod store;

// `flow check`'s lints and `flow explain`: the command line's alone.
internal! { when (feature = "cli"): explain, lint }

/// The `flow` command line; the binary's code, not part of the library's API.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;

pub use agent::{Agent, Budget, Capabilities, Registry, Signature};
pub use diag::{Code, Diagnostic, RenderStyle, Severity};
pub use engine::{CompileError, Engine, RunHandle, Script};
pub use runtime::{
    AgentError, AgentFuture, AgentUsage, Attempt, BudgetReport, Call, Event, HostAgent, Journal,
    Observer, Outcome, Request, Retry, Reused, RunEvent, RunOptions, RunStatus, Spending, TaskKey,
    TaskRecord, TaskStatus, Val,
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
