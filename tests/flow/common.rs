//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// The project's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of a test case under `tests/cases/`.
pub fn case(path: &str) -> PathBuf {
    root().join("tests/cases").join(path)
}
