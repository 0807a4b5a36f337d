//! `flow check` (parse, check, lint; levels from the command line and allow
//! comments) and `flow explain`.

use std::path::PathBuf;

use clap::Args;

use super::{exit, print_diagnostics, read_source, Format};
use crate::diag::has_errors;
use std::collections::BTreeSet;

use crate::engine::Engine;
use crate::lint::{self, Level, Levels};

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The scripts to check (`-` reads one from stdin); a folder stands for
    /// every `*.flow` file in it and its subfolders (but hidden ones).
    #[arg(required = true, value_name = "FILES")]
    files: Vec<PathBuf>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Allow a lint: don't report it (`god-agent`, or `warnings` for every one).
    /// A capability (`sh`, `http`, `llm`, `env`, `files`, `approve`) makes an allow-list, as for `flow run`.
    #[arg(
        short = 'A',
        long = "allow",
        value_name = "CODE",
        value_delimiter = ','
    )]
    allow: Vec<String>,
    /// Report a lint as a warning (its default).
    #[arg(short = 'W', long = "warn", value_name = "CODE")]
    warn: Vec<String>,
    /// Report a lint as an error, failing the check; `--deny warnings` denies every warning.
    /// A capability (`sh`, `http`, `llm`, `env`, `files`, `approve`) is switched off, as for `flow run`.
    #[arg(short = 'D', long = "deny", value_name = "CODE", value_delimiter = ',')]
    deny: Vec<String>,
    /// `too_many_inputs`: the most values one task may wait for.
    #[arg(long, value_name = "N", default_value_t = lint::Config::default().max_inputs, value_parser = super::count::<usize>)]
    max_inputs: usize,
    /// `many_responsibilities`: the most steps one prompt may enumerate.
    #[arg(long, value_name = "N", default_value_t = lint::Config::default().max_steps, value_parser = super::count::<usize>)]
    max_steps: usize,
    /// `after_chain`: how many `after`s without data make a chain.
    #[arg(long, value_name = "N", default_value_t = lint::Config::default().after_chain, value_parser = super::count::<usize>)]
    after_chain: usize,
    /// `god_agent`: the fewest calls of one agent that can make it a god agent.
    #[arg(long, value_name = "N", default_value_t = lint::Config::default().god_agent_calls, value_parser = super::count::<usize>)]
    god_agent_calls: usize,
    /// Print every diagnostic, not only the first 20 of each code (`--format
    /// json` always lists every one).
    #[arg(long)]
    all_diagnostics: bool,
}

impl CheckArgs {
    /// Lint levels; a capability named by `--allow` or `--deny` is not a
    /// lint, it goes to [`CheckArgs::engine`].
    fn levels(&self, capabilities: &BTreeSet<String>) -> Result<Levels, String> {
        let mut levels = Levels::default();
        for (names, level) in [
            (&self.allow, Level::Allow),
            (&self.warn, Level::Warn),
            (&self.deny, Level::Deny),
        ] {
            for name in names.iter().filter(|n| !capabilities.contains(*n)) {
                levels.set(name, level)?;
            }
        }
        Ok(levels)
    }

    /// The engine, with the capabilities named by `--allow` and `--deny`.
    fn engine(&self, engine: Engine, known: &BTreeSet<String>) -> Result<Engine, String> {
        let pick = |names: &[String]| -> Vec<String> {
            names
                .iter()
                .filter(|n| known.contains(*n))
                .cloned()
                .collect()
        };
        let capabilities =
            super::capabilities(engine.registry(), &pick(&self.deny), &pick(&self.allow))?;
        Ok(engine.capabilities(capabilities))
    }

    fn config(&self) -> lint::Config {
        lint::Config {
            max_inputs: self.max_inputs,
            max_steps: self.max_steps,
            after_chain: self.after_chain,
            god_agent_calls: self.god_agent_calls,
        }
    }
}

pub(crate) fn check(args: &CheckArgs) -> u8 {
    let engine = Engine::new();
    let known = engine.registry().capabilities();
    let prepared = args
        .levels(&known)
        .and_then(|levels| Ok((levels, args.engine(engine, &known)?)));
    let (levels, engine) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => {
            errln!("error: {message}");
            return exit::USAGE;
        }
    };
    let config = args.config();
    let mut code = exit::OK;
    let mut json = Vec::new();
    let mut files = Vec::new();
    for path in &args.files {
        if path.is_dir() {
            let before = files.len();
            scripts_in(path, &mut files);
            if files.len() == before {
                errln!("error: no `.flow` file in `{}`", path.display());
                code = exit::USAGE;
            }
        } else {
            files.push(path.clone());
        }
    }
    for (i, path) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let source = match read_source(path) {
            Ok(s) => s,
            Err(message) => {
                errln!("error: {message}");
                code = code.max(exit::USAGE);
                continue;
            }
        };
        let (diagnostics, script) = lint::check_source(&engine, &source, &config, &levels);
        if last {
            // The process ends next: freeing a big tree and graph node by
            // node would only delay the exit.
            std::mem::forget(script);
        }
        if has_errors(&diagnostics) {
            code = exit::INVALID;
        }
        match args.format {
            Format::Text => print_diagnostics(&source, &diagnostics, args.all_diagnostics),
            Format::Json => json.extend(diagnostics.iter().map(|d| d.to_json(&source))),
        }
    }
    if let Format::Json = args.format {
        outln!("{}", serde_json::Value::Array(json));
    }
    code
}

pub(crate) fn explain(code: Option<&str>) -> u8 {
    let registry = crate::agent::Registry::builtin();
    let Some(name) = code else {
        out!("{}", crate::explain::index(&registry));
        return exit::OK;
    };
    if let Some(agent) = registry.get(name) {
        out!("{}", crate::explain::agent(agent.signature()));
        return exit::OK;
    }
    if let Some(function) = crate::builtins::function_named(name) {
        out!("{}", crate::explain::function(function));
        return exit::OK;
    }
    match lint::levels::parse_code(name) {
        Ok(code) => match crate::explain::text(code) {
            Some(text) => {
                out!("{text}");
                exit::OK
            }
            None => {
                errln!("error: `{}` has no explanation yet", code.as_str());
                exit::FAILED
            }
        },
        Err(message) => {
            errln!("error: {message} (nor is it an agent or a function)");
            exit::USAGE
        }
    }
}

/// The `*.flow` files in `dir` and its subfolders (not hidden ones, such as
/// `.flow` or `.git`, nor links to folders, which could loop), in name order.
fn scripts_in(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<std::fs::DirEntry> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            scripts_in(&path, out);
        } else if path.extension().is_some_and(|e| e == "flow") && path.is_file() {
            out.push(path);
        }
    }
}
