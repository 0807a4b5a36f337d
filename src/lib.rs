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

pub mod agents;
pub mod ast;
pub mod builtins;
pub mod diag;
pub mod graph;
pub mod runtime;
pub mod source;
pub mod syntax;
pub mod value;
