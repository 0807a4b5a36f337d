//! `flow graph`: a script's task graph in DOT, Mermaid or JSON; with
//! `--run`, a recorded run of it over the graph, each node in the colour of
//! its state.

use std::path::PathBuf;

use clap::ValueEnum;

use super::exit;
use super::store::StoreArgs;
use crate::engine::Engine;
use crate::graph::{self, Overlay};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// The script (`-` reads it from stdin).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
    /// Print every diagnostic, not only the first 20 of each code.
    #[arg(long)]
    all_diagnostics: bool,
    /// Colour each node by its state in a recorded run: the latest run of
    /// this script, or `--run RUN` (succeeded green, failed red, skipped
    /// grey, cached blue, not run white, still going yellow), and count the
    /// items each `map` made, in all its instances (`×12…` while the run
    /// still goes and may make more).
    #[arg(long, value_name = "RUN", num_args = 0..=1, default_missing_value = "latest")]
    run: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

impl GraphArgs {
    /// `flow graph --run x.flow` reads `x.flow` as the script (the run is
    /// optional): a value that is no run number, with no script given, is
    /// the script, and the latest run is drawn.
    fn settle(&mut self) -> Result<PathBuf, String> {
        if self.file.is_none() {
            if let Some(value) = self.run.take() {
                if value != "latest" && value.parse::<i64>().is_err() {
                    self.file = Some(PathBuf::from(value));
                    self.run = Some("latest".to_string());
                } else {
                    self.run = Some(value);
                }
            }
        }
        self.file
            .clone()
            .ok_or_else(|| "`flow graph` needs a script: `flow graph FILE`".to_string())
    }
}

pub fn graph(mut args: GraphArgs) -> u8 {
    let path = match args.settle() {
        Ok(path) => path,
        Err(message) => {
            errln!("error: {message}");
            return exit::USAGE;
        }
    };
    let engine = Engine::new();
    let script = match super::compile_file(&engine, &path, args.all_diagnostics, |_| {}) {
        Ok(s) => s,
        Err((code, _)) => return code,
    };
    let overlay = match &args.run {
        Some(run) => match run_overlay(&args.store, &path, run, &script) {
            Ok(overlay) => Some(overlay),
            Err(code) => return code,
        },
        None => None,
    };
    let g = &script.graph;
    match args.format {
        GraphFormat::Dot => out!("{}", graph::to_dot_with(g, overlay.as_ref())),
        GraphFormat::Mermaid => out!("{}", graph::to_mermaid_with(g, overlay.as_ref())),
        GraphFormat::Json => {
            // Written as it is made: a big graph's document is never whole in memory.
            use std::io::Write as _;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let _ = graph::write_json(g, overlay.as_ref(), &mut out)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
        }
    }
    // The process ends next: freeing a big graph node by node would only delay the exit.
    std::mem::forget(script);
    exit::OK
}

/// The run `--run` names (a number, or `latest`: the latest run of this
/// script), laid over the script's graph.
fn run_overlay(
    store_args: &StoreArgs,
    path: &std::path::Path,
    run: &str,
    script: &crate::engine::Script,
) -> Result<Overlay, u8> {
    let store = super::store::open(store_args)?;
    let id = if run == "latest" {
        match store.latest_run_of(&super::store::script_path(path), None) {
            Ok(Some(id)) => id,
            Ok(None) => {
                errln!(
                    "error: no run of `{}` was recorded in `{}`; `flow runs` lists the runs",
                    path.display(),
                    store.dir().display()
                );
                return Err(exit::FAILED);
            }
            Err(e) => return Err(super::store::store_error(&e)),
        }
    } else {
        match run.parse::<i64>() {
            Ok(id) => id,
            Err(_) => {
                errln!("error: `--run {run}` needs a run number (`flow runs` lists them)");
                return Err(exit::USAGE);
            }
        }
    };
    let row = super::store::run_of(&store, Some(id))?;
    if row.script_hash != crate::runtime::digest(script.source.text.as_bytes()) {
        errln!(
            "note: `{}` changed since run {} (of `{}`): nodes are matched to its tasks by name",
            path.display(),
            row.id,
            row.script
        );
    }
    let tasks = store
        .tasks(row.id)
        .map_err(|e| super::store::store_error(&e))?;
    Ok(Overlay::new(
        &script.graph,
        tasks.iter().map(|t| (t.task.as_str(), t.state.as_str())),
        &row.status,
    ))
}
