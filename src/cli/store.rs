//! The commands that read the run store: `flow runs`, `flow log`, `flow why`,
//! `flow clean`; and where the store is (`--store`, `FLOW_STORE`, `--no-store`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::exit;
use crate::store::{why, RunRow, Store, StoreError, TaskRow};

/// The store's folder when neither `--store` nor `FLOW_STORE` says.
pub const DEFAULT_DIR: &str = ".flow";

/// Where the run store is.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct StoreArgs {
    /// The run store's folder [default: .flow in the current folder].
    #[arg(long, value_name = "DIR", env = "FLOW_STORE")]
    pub store: Option<PathBuf>,
}

impl StoreArgs {
    /// The folder `--store` or `FLOW_STORE` names, if not the default.
    pub fn named(&self) -> Option<&Path> {
        self.store
            .as_deref()
            .filter(|dir| !dir.as_os_str().is_empty())
    }

    pub fn dir(&self) -> PathBuf {
        match &self.store {
            Some(dir) if !dir.as_os_str().is_empty() => dir.clone(),
            _ => PathBuf::from(DEFAULT_DIR),
        }
    }
}

/// A store that cannot be used, with the way out.
pub fn store_error(e: &StoreError) -> u8 {
    errln!("error: {e}");
    errln!("  help: use `--store DIR` (or FLOW_STORE) to keep runs elsewhere, or `--no-store` to run without recording");
    exit::USAGE
}

/// Opens the store to read it; prints why not and returns the exit code.
pub(super) fn open(args: &StoreArgs) -> Result<Store, u8> {
    let dir = args.dir();
    match Store::open_existing(&dir) {
        Ok(Some(store)) => {
            super::slurm::cancel_strays(&store);
            Ok(store)
        }
        Ok(None) => {
            errln!(
                "error: no run store at `{}`: no run was recorded there yet",
                dir.display()
            );
            errln!("  help: `flow run` records every run in `.flow/` of the folder it runs in; `--store DIR` reads another");
            Err(exit::FAILED)
        }
        Err(e) => Err(store_error(&e)),
    }
}

/// The run a command is about: `id`, or the latest.
pub(super) fn run_of(store: &Store, id: Option<i64>) -> Result<RunRow, u8> {
    match store.run(id) {
        Ok(Some(run)) => Ok(run),
        // A run named that does not exist is a usage error, as a missing
        // file is (and `--resume 9`); an empty store is not.
        Ok(None) => match id {
            Some(id) => {
                errln!(
                    "error: there is no run {id} in `{}`; `flow runs` lists them",
                    store.dir().display()
                );
                Err(exit::USAGE)
            }
            None => {
                errln!(
                    "error: no run was recorded in `{}` yet",
                    store.dir().display()
                );
                Err(exit::FAILED)
            }
        },
        Err(e) => Err(store_error(&e)),
    }
}

/// The store, the run that `[RUN] [TASK…]` names, and the task ids.
fn open_run<'a>(
    args: &StoreArgs,
    words: &'a [String],
) -> Result<(Store, RunRow, &'a [String]), u8> {
    let store = open(args)?;
    let (id, names) = split_run(words);
    let run = run_of(&store, id)?;
    Ok((store, run, names))
}

/// `[RUN] [TASK…]`: a leading number is a run id (task ids never are numbers).
fn split_run(args: &[String]) -> (Option<i64>, &[String]) {
    match args.first().and_then(|a| a.parse::<i64>().ok()) {
        Some(run) => (Some(run), &args[1..]),
        None => (None, args),
    }
}

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    json: bool,
    /// How many runs, newest first.
    #[arg(long, short = 'n', default_value_t = 20, value_parser = super::count::<usize>)]
    limit: usize,
    #[command(flatten)]
    store: StoreArgs,
}

/// `flow runs`: the latest runs as a table.
pub fn runs(args: &RunsArgs) -> u8 {
    let store = match open(&args.store) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let runs = match store.runs(args.limit) {
        Ok(runs) => runs,
        Err(e) => return store_error(&e),
    };
    // Runs going whose `approve` waits for an answer, with the tasks asking.
    let mut waiting: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for question in store.pending_approvals(None).unwrap_or_default() {
        if question.run_alive {
            waiting.entry(question.run).or_default().push(question.task);
        }
    }
    if args.json {
        let doc: Vec<Value> = (runs.iter())
            .map(|run| {
                let mut doc = run.to_json();
                if let Some(tasks) = waiting.get(&run.id) {
                    doc["waiting_for_approval"] = Value::from(tasks.clone());
                }
                doc
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return exit::OK;
    }
    if runs.is_empty() {
        errln!(
            "no runs in `{}` (`flow clean` removed them, or none was recorded yet)",
            store.dir().display()
        );
        return exit::OK;
    }
    let now = crate::store::millis(SystemTime::now());
    let here = std::env::current_dir().ok();
    outln!(
        "{:>5}  {:<9}  {:<24}  {:<9}  {:>8}  {:>6} {:>6} {:>6} {:>7}",
        "RUN",
        "STARTED",
        "SCRIPT",
        "STATUS",
        "TIME",
        "DONE",
        "CACHED",
        "FAILED",
        "SKIPPED"
    );
    for run in &runs {
        // A run still going: how long so far; a killed one: unknown.
        let took = match run.ended_at {
            Some(end) => seconds(end - run.started_at),
            None if run.status == "running" => format!("{}…", seconds(now - run.started_at)),
            None => "-".to_string(),
        };
        let script = if run.kind == "repl" {
            "(repl)".to_string()
        } else {
            script_shown(&run.script_path, here.as_deref())
        };
        outln!(
            "{:>5}  {:<9}  {:<24}  {:<9}  {:>8}  {:>6} {:>6} {:>6} {:>7}",
            run.id,
            ago(now - run.started_at),
            script,
            if waiting.contains_key(&run.id) {
                "waiting"
            } else {
                &run.status
            },
            took,
            run.counts[0],
            run.counts[1],
            run.counts[2],
            run.counts[3]
        );
    }
    if !waiting.is_empty() {
        errln!("`waiting`: for an answer to `approve`; `flow approvals` lists the questions");
    }
    // A store shared by several hosts: this one cannot see those runs' processes.
    for run in runs.iter().filter(|r| r.status == "running") {
        if let Some(host) = run.elsewhere() {
            errln!(
                "note: run {} runs on `{host}`: whether its flow is still going can only be seen there \
                 (if that host is gone for good, `flow clean --force {}` removes the run)",
                run.id, run.id
            );
        }
    }
    exit::OK
}

/// A run's script in `flow runs`' column: its path from the current folder
/// (else from the root), the file name kept when it is too long, so that two
/// scripts of the same name in different folders tell apart.
fn script_shown(path: &str, here: Option<&Path>) -> String {
    let full = Path::new(path);
    let shown = here
        .and_then(|here| full.strip_prefix(here).ok())
        .unwrap_or(full)
        .display()
        .to_string();
    let count = shown.chars().count();
    if count <= 24 {
        return shown;
    }
    let tail: String = shown.chars().skip(count - 23).collect();
    format!("…{tail}")
}

/// Milliseconds as `850ms`, `2.41s`, `3m 20s`.
pub(super) fn seconds(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let text = format!("{:.2}", ms as f64 / 1e3);
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    } else {
        humantime::format_duration(Duration::from_secs(ms as u64 / 1000)).to_string()
    }
}

pub(super) fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// `[RUN] [TASK…]`: the run (default: the latest) and the task ids
    /// (default: every task that printed something).
    #[arg(value_name = "RUN|TASK")]
    args: Vec<String>,
    /// Print the tasks as JSON (values, logs, attempts) instead of text.
    #[arg(long, conflicts_with = "follow")]
    json: bool,
    /// Follow a run still going: print what each task printed when it ends
    /// (a task's output is recorded at its end, not line by line), until
    /// the run ends.
    #[arg(long, short = 'f')]
    follow: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// `flow log`: what tasks printed, and their attempts.
pub fn log(args: &LogArgs) -> u8 {
    if args.follow {
        return match split_run(&args.args) {
            (_, [_, ..]) => {
                errln!("error: `flow log -f` follows a whole run: give it a run, not tasks");
                exit::USAGE
            }
            (None, []) => super::follow::follow_latest(&args.store),
            (Some(_), []) => match open_run(&args.store, &args.args) {
                Ok((store, run, _)) => super::follow::follow(&store, run),
                Err(code) => code,
            },
        };
    }
    let (store, run, names) = match open_run(&args.store, &args.args) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let tasks = match store.tasks(run.id) {
        Ok(tasks) => tasks,
        Err(e) => return store_error(&e),
    };
    let chosen: Vec<&TaskRow> = if names.is_empty() && args.json {
        tasks.iter().collect()
    } else if names.is_empty() {
        let printed: Vec<&TaskRow> = tasks.iter().filter(|t| shown_in_log(t)).collect();
        if printed.is_empty() {
            errln!("run {}: no task printed anything or failed", run.id);
            return exit::OK;
        }
        printed
    } else {
        match find_tasks(&run, &tasks, names) {
            Ok(chosen) => chosen,
            Err(code) => return code,
        }
    };
    if args.json {
        let doc: Vec<Value> = chosen
            .iter()
            .map(|t| t.to_json(&store.attempts(t).unwrap_or_default()))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return exit::OK;
    }
    for (i, task) in chosen.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        print_task_log(&store, task);
    }
    exit::OK
}

/// The tasks of a run with these ids, or an error naming the closest ids.
fn find_tasks<'a>(
    run: &RunRow,
    tasks: &'a [TaskRow],
    names: &[String],
) -> Result<Vec<&'a TaskRow>, u8> {
    let mut chosen = Vec::new();
    for name in names {
        match tasks.iter().find(|t| &t.task == name) {
            Some(task) => chosen.push(task),
            None => {
                let ids: Vec<&str> = tasks.iter().map(|t| t.task.as_str()).collect();
                let close = ids
                    .iter()
                    .filter(|id| strsim::levenshtein(id, name) <= 2.max(name.len() / 3))
                    .take(3)
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>();
                if run.status == "running" {
                    // Tasks are recorded when they end: this one may be running.
                    errln!(
                        "error: run {} has no task `{name}` yet: it is still going, and a task is recorded when it ends",
                        run.id
                    );
                    errln!(
                        "  help: `flow log -f {}` shows each task as it ends",
                        run.id
                    );
                    return Err(exit::FAILED);
                }
                errln!("error: run {} has no task `{name}`", run.id);
                if !close.is_empty() {
                    errln!("  help: did you mean {}?", close.join(" or "));
                } else if !ids.is_empty() {
                    let some: Vec<String> =
                        ids.iter().take(8).map(|id| format!("`{id}`")).collect();
                    errln!("  note: its tasks include {}", some.join(", "));
                } else {
                    errln!("  note: it recorded no task (pure steps are not recorded)");
                }
                return Err(exit::FAILED);
            }
        }
    }
    Ok(chosen)
}

/// Whether `flow log` of a whole run shows the task: it printed something,
/// or it failed or timed out (with nothing printed, its attempts and error
/// say why). Tasks cancelled or skipped because of another are left out.
pub(super) fn shown_in_log(task: &TaskRow) -> bool {
    !task.stdout.is_empty()
        || !task.stderr.is_empty()
        || matches!(task.state.as_str(), "failed" | "timed_out")
}

pub(super) fn print_task_log(store: &Store, task: &TaskRow) {
    out!("{}", task_log(store, task));
}

/// One task as `flow log` shows it: a header, its attempts, its output.
pub(crate) fn task_log(store: &Store, task: &TaskRow) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let attempts = store.attempts(task).unwrap_or_default();
    let took = crate::store::took_ms(task.duration_ms, &attempts)
        .map_or_else(String::new, |ms| format!(" in {}", seconds(ms)));
    let _ = writeln!(
        text,
        "==> {} ({}) {}{took}",
        task.task, task.agent, task.state
    );
    if let Some(run) = task.reused_from {
        let _ = writeln!(text, "re-used from run {run}");
    }
    if attempts.len() > 1 || attempts.iter().any(|a| a.status != "succeeded") {
        for a in &attempts {
            let exit = a
                .exit_code
                .map_or_else(String::new, |c| format!(", exit status {c}"));
            let error = a
                .error
                .as_deref()
                .map_or_else(String::new, |e| format!(": {e}"));
            let _ = writeln!(
                text,
                "attempt {}: {} after {}{exit}{error}",
                a.attempt,
                a.status,
                seconds(a.ended_at - a.started_at)
            );
        }
    } else if let (Some(error), true) = (&task.error, attempts.is_empty()) {
        let _ = writeln!(text, "{error}");
    }
    // A failed command's note quotes the end of its stderr, which follows
    // here in full.
    let quoted = |note: &&String| note.starts_with("stderr:\n") && !task.stderr.is_empty();
    for note in task.notes.iter().filter(|n| !quoted(n)) {
        let _ = writeln!(text, "note: {note}");
    }
    for (name, output) in [("stdout", &task.stdout), ("stderr", &task.stderr)] {
        if !output.is_empty() {
            let _ = writeln!(text, "--- {name}");
            text.push_str(output);
            if !output.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    text
}

#[derive(clap::Args, Debug)]
pub struct WhyArgs {
    /// `[RUN] TASK…`: the run (default: the latest) and the task ids
    /// (default: every task of the run).
    #[arg(value_name = "RUN|TASK")]
    args: Vec<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `flow why`: why each task ran or was re-used.
pub fn why(args: &WhyArgs) -> u8 {
    let (store, run, names) = match open_run(&args.store, &args.args) {
        Ok(found) => found,
        Err(code) => return code,
    };
    match explain_run(&store, &run, names) {
        Ok(text) => {
            out!("{text}");
            exit::OK
        }
        Err(code) => code,
    }
}

/// Why the tasks of `run` (those named, or all) ran or were re-used, as text.
pub fn explain_run(store: &Store, run: &RunRow, names: &[String]) -> Result<String, u8> {
    use std::fmt::Write as _;
    let tasks = store.tasks(run.id).map_err(|e| store_error(&e))?;
    let chosen = if names.is_empty() {
        tasks.iter().collect()
    } else {
        find_tasks(run, &tasks, names)?
    };
    // The run compared with: the one it resumed from, else the one before it
    // (of the same script: a REPL session is no script, and is compared
    // with none).
    let session = run.kind == "repl";
    let base = run
        .resumed_from
        .or_else(|| (!session).then(|| earlier_run(store, run)).flatten());
    let base_tasks = base.map(|b| store.tasks(b).unwrap_or_default());
    let mut text = String::new();
    let _ = match base {
        Some(b) if run.resumed_from.is_some() => {
            writeln!(text, "run {} resumed from run {b}", run.id)
        }
        Some(b) => writeln!(text, "run {} did not resume; compared with run {b}", run.id),
        None if session => writeln!(
            text,
            "run {} is a REPL session: it re-uses nothing of earlier runs (`:why` in a session compares its entries)",
            run.id
        ),
        None => writeln!(
            text,
            "run {}: no earlier run of `{}` to compare with",
            run.id, run.script
        ),
    };
    let changed = base
        .and_then(|b| store.run(Some(b)).ok().flatten())
        .is_some_and(|b| b.script_hash != run.script_hash);
    if changed {
        let _ = writeln!(text, "the script changed between the two runs");
    }
    if chosen.is_empty() {
        let _ = writeln!(
            text,
            "it recorded no task (pure steps such as `echo` are not recorded)"
        );
    }
    for task in chosen {
        let before = base_tasks
            .as_ref()
            .map(|tasks| tasks.iter().rev().find(|t| t.task == task.task));
        let lines = why::explain(task, run.resumed_from.is_some(), base.zip(before));
        let _ = writeln!(text, "{}: {}", task.task, lines.join("\n"));
    }
    Ok(text)
}

/// The run of the same script just before `run`.
fn earlier_run(store: &Store, run: &RunRow) -> Option<i64> {
    store.run_before(&run.script_path, run.id).ok().flatten()
}

#[derive(clap::Args, Debug)]
pub struct CleanArgs {
    /// Remove these runs (their numbers in `flow runs`), and only these.
    #[arg(value_name = "RUN", conflicts_with_all = ["keep", "older_than"], value_parser = super::run_number)]
    runs: Vec<i64>,
    /// With RUN: remove a run recorded as going on another host too (only
    /// that host can tell whether it still is; use it when the host is gone).
    #[arg(long, requires = "runs")]
    force: bool,
    /// Keep the newest N runs. With neither this, `--older-than` nor RUN,
    /// `flow clean` removes every run (runs still going are always kept).
    #[arg(long, value_name = "N", value_parser = super::count::<usize>)]
    keep: Option<usize>,
    /// Remove runs that started longer ago than this (`7d`, `12h`, `30m`).
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    older_than: Option<Duration>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `flow clean`: removes old runs and reports what was freed.
pub fn clean(args: &CleanArgs) -> u8 {
    let store = match open(&args.store) {
        Ok(store) => store,
        Err(code) => return code,
    };
    if !args.runs.is_empty() {
        return clean_runs(&store, &args.runs, args.force);
    }
    let older_than = args.older_than.map(|age| {
        crate::store::millis(SystemTime::now()) - age.as_millis().min(i64::MAX as u128) as i64
    });
    match store.clean(args.keep, older_than) {
        Ok((removed, _)) if removed.is_empty() => {
            errln!("nothing to remove in `{}`", store.dir().display());
            exit::OK
        }
        Ok((removed, freed)) => said_removed(&store, removed.len(), freed),
        Err(e) => store_error(&e),
    }
}

/// `flow clean RUN…`: removes the runs named, or none of them when one
/// cannot be: it does not exist, or it is still going (here, or, without
/// `--force`, on another host as far as the store says).
fn clean_runs(store: &Store, ids: &[i64], force: bool) -> u8 {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut refused = false;
    for &id in &ids {
        let run = match run_of(store, Some(id)) {
            Ok(run) => run,
            Err(code) => return code,
        };
        if run.status != "running" {
            continue;
        }
        match run.elsewhere() {
            Some(_) if force => {}
            Some(host) => {
                errln!(
                    "error: run {id} is recorded as going on `{host}`, and only that host can tell whether it still is"
                );
                errln!(
                    "  help: if `{host}` is gone for good, `flow clean --force {id}` removes it"
                );
                refused = true;
            }
            None => {
                errln!(
                    "error: run {id} is still going (pid {}); stop it before removing it",
                    run.pid
                );
                refused = true;
            }
        }
    }
    if refused {
        errln!("nothing was removed");
        return exit::FAILED;
    }
    match store.remove(&ids) {
        Ok(freed) => said_removed(store, ids.len(), freed),
        Err(e) => store_error(&e),
    }
}

fn said_removed(store: &Store, count: usize, freed: u64) -> u8 {
    let runs = if count == 1 { "run" } else { "runs" };
    errln!(
        "removed {count} {runs} from `{}`, freed {}",
        store.dir().display(),
        crate::value::size(freed)
    );
    exit::OK
}

/// The absolute path of a script, which finds its earlier runs.
pub fn script_path(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "<stdin>".to_string();
    }
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
