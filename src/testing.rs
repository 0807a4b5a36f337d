//! What the crate's unit tests share.

use std::path::PathBuf;

/// The files of a folder of the project (`tests/cases/lint`, `examples`),
/// sorted by name.
pub fn project_files(folder: &str) -> Vec<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable entry").path())
        .collect();
    files.sort();
    files
}
