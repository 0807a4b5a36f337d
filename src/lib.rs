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
//! | [`builtins`] | the names known before any declaration: functions, built-in agents, backends |
//! | [`check`] | names, arity, duplicates, recursion and lints over the AST: every problem in one pass |

pub mod ast;
pub mod builtins;
pub mod check;
pub mod diag;
pub mod source;
pub mod syntax;
