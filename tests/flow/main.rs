//! The integration tests: one binary, one module per stage.

mod check;
mod common;
mod lint;
mod repl;
mod run;
mod sh;
mod syntax;
