//! The modules form layers: each depends only on those listed above it in
//! `docs/architecture.md`, so the table there stays true and no cycle creeps in.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common;

/// The modules of the table under "## Modules, in layers", in order.
fn layers() -> Vec<String> {
    let doc = std::fs::read_to_string(common::root().join("docs/architecture.md")).unwrap();
    let section = doc
        .split("## Modules, in layers")
        .nth(1)
        .expect("docs/architecture.md has the layer table");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cell = l.split('|').nth(1)?.trim();
            Some(cell.trim_matches('`').to_string())
        })
        .collect()
}

/// The top-level modules `file` names as `crate::x` in code (comments and
/// unit-test modules left out).
fn dependencies(file: &Path, out: &mut BTreeSet<String>) {
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                out.extend(group.split(',').filter_map(|p| {
                    let name = p.trim().split("::").next()?.trim();
                    (!name.is_empty() && name != "self").then(|| name.to_string())
                }));
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // `crate::Outcome`: a type the crate root re-exports.
                if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                    out.insert(name);
                }
            }
        }
    }
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_depends_only_on_the_layers_above_it() {
    let layers = layers();
    assert!(layers.len() > 10, "the layer table is missing: {layers:?}");
    let src = common::root().join("src");
    let mut problems = Vec::new();
    let mut modules = BTreeSet::new();
    let mut all = Vec::new();
    files(&src, &mut all);
    for file in all {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.iter().next().unwrap().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        modules.insert(module.clone());
        let Some(level) = layers.iter().position(|l| *l == module) else {
            continue;
        };
        let mut used = BTreeSet::new();
        dependencies(&file, &mut used);
        for dependency in used.iter().filter(|d| **d != module) {
            match layers.iter().position(|l| l == dependency) {
                Some(other) if other < level => {}
                Some(_) => problems.push(format!(
                    "{} uses `{dependency}`, which is not above `{module}`",
                    relative.display()
                )),
                None => problems.push(format!(
                    "{} uses `{dependency}`, which the table does not list",
                    relative.display()
                )),
            }
        }
    }
    for module in &modules {
        if !layers.contains(module) {
            problems.push(format!("the table does not list the module `{module}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
