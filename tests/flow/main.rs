//! The integration tests: one binary, one module per stage.

mod common;
mod syntax;
