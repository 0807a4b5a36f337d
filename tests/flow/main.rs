//! The integration tests: one binary, one module per stage.

mod check;
mod common;
mod repl;
mod sh;
mod syntax;
