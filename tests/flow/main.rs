//! The integration tests: one binary, one module per stage.

mod agents;
mod backlog;
mod check;
mod common;
mod embed;
mod http;
mod layers;
mod lint;
mod llm;
mod repl;
mod resolve;
mod run;
mod servers;
mod sh;
mod syntax;
