//! The HTML report of a run: `flow report [RUN] -o FILE.html`, and
//! `flow run --report FILE.html` when the run ends. One self-contained page
//! read from the run store: a summary, a timeline of every attempt, the task
//! graph drawn as SVG, and each task's value and logs.
//!
//! | file | what it holds |
//! |---|---|
//! | `model.rs` | the run read back from the store, tasks grouped by `map` |
//! | `timeline.rs` | one bar per attempt; density bars for big maps |
//! | `graph.rs` | the task graph laid out and drawn as SVG |
//! | `html.rs` | the page: style, script, summary, task details, escaping |

mod graph;
mod html;
mod model;
mod timeline;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::exit;
use super::store::{store_error, StoreArgs};
use crate::engine::{Engine, Script};
use crate::store::{RunRow, Store, StoreError};
use model::Report;

/// The most tasks whose details (value, logs, attempts) a page holds.
pub const DETAILS: usize = 200;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The run (default: the latest).
    #[arg(value_name = "RUN", value_parser = super::run_number)]
    run: Option<i64>,
    /// Where to write the page (`-`: stdout) [default: flow-report-RUN.html].
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Where the task graph of a report comes from.
pub(crate) enum Graph<'a> {
    /// The script the run ran, compiled.
    Script(&'a Script),
    /// No graph, and why.
    Missing(String),
}

/// `flow report`: writes the page of a recorded run.
pub fn report(args: &ReportArgs) -> u8 {
    let store = match super::store::open(&args.store) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let run = match super::store::run_of(&store, args.run) {
        Ok(run) => run,
        Err(code) => return code,
    };
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("flow-report-{}.html", run.id)));
    let compiled = script_of(&run);
    let graph = match &compiled {
        Ok(script) => Graph::Script(script),
        Err(why) => Graph::Missing(why.clone()),
    };
    let id = run.id;
    match write(&store, run, &graph, &path) {
        Ok(bytes) => {
            if path.as_os_str() != "-" {
                errln!("report of run {id}: {} ({})", path.display(), size(bytes));
            }
            exit::OK
        }
        Err(Failed::Store(e)) => store_error(&e),
        Err(Failed::Write(message)) => {
            errln!("error: {message}");
            exit::FAILED
        }
    }
}

/// Why a report was not written.
pub(crate) enum Failed {
    Store(StoreError),
    Write(String),
}

/// Writes the report of `run` to `path` (`-`: stdout); returns its size.
pub(crate) fn write(
    store: &Store,
    run: RunRow,
    graph: &Graph<'_>,
    path: &Path,
) -> Result<usize, Failed> {
    let page = render(store, run, graph).map_err(Failed::Store)?;
    let written = if path.as_os_str() == "-" {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        out.write_all(page.as_bytes()).and_then(|()| out.flush())
    } else {
        std::fs::write(path, &page)
    };
    written
        .map(|()| page.len())
        .map_err(|e| Failed::Write(format!("cannot write the report `{}`: {e}", path.display())))
}

/// The page of `run`.
fn render(store: &Store, run: RunRow, graph: &Graph<'_>) -> Result<String, StoreError> {
    let report = Report::load(store, run)?;
    let shown = details(&report);
    let mut rows = Vec::with_capacity(shown.len());
    for &i in &shown {
        rows.push((i, store.task_at(report.run.id, report.tasks[i].line.seq)?));
    }
    let mut detailed = vec![false; report.tasks.len()];
    for &i in &shown {
        detailed[i] = true;
    }
    let nonce = nonce();
    let mut out = String::with_capacity(64 << 10);
    html::start(&report, &nonce, &mut out);
    timeline::section(&report, &mut out, &|i| detailed[i]);
    match graph {
        Graph::Script(script) => {
            let json = crate::graph::to_json_with(&script.graph, None);
            let drawing = graph::svg(&json, &outcomes(&report));
            let drawing = format!("<div class=\"graph-box\">{drawing}</div>");
            let mermaid = crate::graph::to_mermaid_with(&script.graph, None);
            html::graph(&drawing, Some(&mermaid), &mut out);
        }
        Graph::Missing(why) => {
            let note = format!("<p class=\"note\">No graph: {}.</p>", html::esc(why));
            html::graph(&note, None, &mut out);
        }
    }
    html::tasks(&report, &rows, &mut out);
    html::end(&nonce, &mut out);
    Ok(out)
}

/// The tasks whose details the page holds: all, up to [`DETAILS`]; else
/// those that failed or were retried first, then in the order they started.
fn details(report: &Report) -> Vec<usize> {
    let all = 0..report.tasks.len();
    if report.tasks.len() <= DETAILS {
        return all.collect();
    }
    let mut picked: Vec<usize> = all
        .clone()
        .filter(|&i| report.tasks[i].troubled())
        .take(DETAILS)
        .collect();
    let room = DETAILS - picked.len();
    picked.extend(all.filter(|&i| !report.tasks[i].troubled()).take(room));
    picked.sort_unstable();
    picked
}

/// How the tasks of each group did, for the graph's nodes.
fn outcomes(report: &Report) -> HashMap<String, graph::Outcome> {
    (report.groups.iter())
        .map(|g| {
            let class = if g.failed > 0 {
                "s-failed"
            } else if g.skipped == g.tasks.len() {
                "s-skipped"
            } else {
                "s-succeeded"
            };
            let outcome = graph::Outcome {
                tasks: g.tasks.len(),
                failed: g.failed,
                class,
            };
            (g.key.clone(), outcome)
        })
        .collect()
}

/// The script a recorded run ran, compiled again, when its text is still
/// what it was (its digest is recorded); else why not.
fn script_of(run: &RunRow) -> Result<Script, String> {
    if run.kind != "run" {
        return Err(format!("a `{}` session has no script", run.kind));
    }
    let path = Path::new(&run.script_path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the script `{}` cannot be read ({e})", run.script_path))?;
    if crate::runtime::digest(text.as_bytes()) != run.script_hash {
        return Err(format!(
            "the script `{}` changed since this run",
            run.script
        ));
    }
    Engine::new()
        .compile(&run.script, &text)
        .map_err(|_| format!("the script `{}` does not compile", run.script))
}

/// A random token for the page's Content-Security-Policy: only scripts that
/// carry it run.
fn nonce() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!("{}-{}", std::process::id(), now.as_nanos());
    blake3::hash(seed.as_bytes()).to_hex()[..24].to_string()
}

/// `312 KiB`, `2.4 MiB`.
fn size(bytes: usize) -> String {
    if bytes < 1 << 20 {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}
