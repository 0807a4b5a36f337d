//! What `flow run` writes besides its result: `--events FILE` (the run as
//! NDJSON, as it happens; `events.rs`) and `--report FILE.html` (the run's
//! HTML report when it ends; `report/`). Kept here so `run.rs` only calls in.

use std::path::PathBuf;
use std::sync::Arc;

use crate::runtime::Observer;
use crate::store::Store;

use super::events::{self, EventStream, RunEnd};
use super::report::{self, Graph};

#[derive(clap::Args, Debug, Default)]
pub struct OutputArgs {
    /// Write an HTML report of the run to FILE when it ends, also when it
    /// fails or is cancelled: a summary, a timeline of every attempt, the
    /// task graph, each task's value and logs (one self-contained file, read
    /// from the run store; `flow report RUN` writes it later).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Write the run's events to FILE as they happen, one JSON object a line
    /// (schema: docs/events.md). `-` writes them to stdout, which then holds
    /// only events: the result is in the last one, `run_finished`.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
}

impl OutputArgs {
    /// Whether the events go to stdout (and the result with them).
    pub fn events_to_stdout(&self) -> bool {
        self.events.as_deref().is_some_and(events::to_stdout)
    }

    /// The flags that cannot go together, as a usage error.
    pub fn check(&self, json: bool, no_store: bool, dry_run: bool) -> Result<(), String> {
        if json && self.events_to_stdout() {
            return Err(
                "`--json` and `--events -` both write to stdout; write the events to a file".into(),
            );
        }
        if let Some(path) = &self.report {
            if path.as_os_str() == "-" {
                return Err("`--report` needs a file: stdout has the result".into());
            }
            if no_store {
                return Err("`--report` reads the run store; drop `--no-store`".into());
            }
            if dry_run {
                return Err(
                    "a dry run is not recorded, so it has no report; drop `--report`".into(),
                );
            }
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                return Err(format!(
                    "`--report {}`: there is no folder `{}`",
                    path.display(),
                    dir.display()
                ));
            }
        }
        Ok(())
    }

    /// Opens the event stream, when asked for.
    pub fn open_events(&self) -> Result<Option<EventStream>, String> {
        self.events.as_deref().map(EventStream::open).transpose()
    }
}

/// One observer that calls `first`, then `second`.
pub fn chain(first: Option<Observer>, second: Option<Observer>) -> Option<Observer> {
    match (first, second) {
        (Some(a), Some(b)) => Some(Arc::new(move |event| {
            a(event);
            b(event);
        })),
        (a, b) => a.or(b),
    }
}

/// Ends the event stream with `run_finished`; says why not on stderr.
/// Returns false when the stream failed.
pub fn finish_events(events: Option<EventStream>, end: RunEnd<'_>) -> bool {
    let Some(events) = events else {
        return true;
    };
    match events.finish(end) {
        Ok(()) => true,
        Err(message) => {
            errln!("error: {message}");
            false
        }
    }
}

/// Ends the event stream of a run that ran (`run`: its id in the store).
pub fn end_events(
    events: Option<EventStream>,
    run: Option<i64>,
    script: &crate::engine::Script,
    outcome: &crate::Outcome,
    exit_code: u8,
) -> bool {
    if events.is_none() {
        return true;
    }
    let errors = (outcome.errors.iter())
        .map(|d| d.to_json(&script.source))
        .collect();
    let end = RunEnd {
        run,
        status: outcome.status.as_str(),
        exit_code,
        usage: (outcome.spending).usage_json(outcome.usage.as_ref()),
        result: outcome.result.as_deref(),
        errors,
    };
    finish_events(events, end)
}

/// Writes `--report` for run `run` of the store; says where on stderr (not
/// with `quiet`), or why it could not. Returns false when it failed.
pub fn write_report(
    args: &OutputArgs,
    store: &Store,
    run: i64,
    script: &crate::engine::Script,
    quiet: bool,
) -> bool {
    let Some(path) = &args.report else {
        return true;
    };
    let row = match store.run(Some(run)) {
        Ok(Some(row)) => row,
        Ok(None) => {
            errln!("error: no report: run {run} is not in the run store");
            return false;
        }
        Err(e) => {
            errln!("error: no report: {e}");
            return false;
        }
    };
    match report::write(store, row, &Graph::Script(script), path) {
        Ok(_) => {
            if !quiet {
                errln!("report: {}", path.display());
            }
            true
        }
        Err(report::Failed::Store(e)) => {
            errln!("error: no report: {e}");
            false
        }
        Err(report::Failed::Write(message)) => {
            errln!("error: {message}");
            false
        }
    }
}
