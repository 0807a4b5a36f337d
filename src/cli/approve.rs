//! `flow approve`, `flow deny` and `flow approvals`: answering, from another
//! shell, the questions of `approve` calls waiting in the run store.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::ask::{shell_word, user_name};
use super::exit;
use super::store::{ago, open, store_error, StoreArgs};
use crate::agent::Decision;
use crate::store::{ApprovalRow, Decided, Store};

/// How long `flow approve` waits for a running run to ask the question it
/// answers (started just before, it may not have reached its `approve` yet).
const GRACE: Duration = Duration::from_secs(10);

/// How long it waits for a run (or the store) to appear when none is going:
/// `flow run … & flow approve TASK` in a script may answer before the run began.
const GRACE_IDLE: Duration = Duration::from_secs(3);

#[derive(clap::Args, Debug)]
pub struct DecideArgs {
    /// `[RUN] TASK`: the task id as the waiting line shows it (`deploy`,
    /// `'items[2].ok'`), and the run (default: the latest run waiting for it).
    #[arg(value_name = "RUN|TASK", required = true, num_args = 1..=2)]
    args: Vec<String>,
    /// Why: kept in the run store, and for a denial the task's error
    /// (`denied: REASON`).
    #[arg(long, short = 'r', value_name = "REASON")]
    reason: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `flow approve` (`approved`) or `flow deny`.
pub fn decide(args: &DecideArgs, approved: bool) -> u8 {
    let verb = if approved { "approve" } else { "deny" };
    let (run, task) = match args.args.as_slice() {
        [task] => (None, task.as_str()),
        [run, task] => match run.parse::<i64>() {
            Ok(run) => (Some(run), task.as_str()),
            Err(_) => {
                errln!("error: `flow {verb} {run} {task}`: the first of two words is a run number (`flow approvals` lists what waits)");
                return exit::USAGE;
            }
        },
        _ => {
            errln!("error: `flow {verb}` takes `[RUN] TASK`");
            return exit::USAGE;
        }
    };
    // A run just started may not have created its store yet.
    let start = Instant::now();
    while start.elapsed() < GRACE_IDLE
        && matches!(Store::open_existing(&args.store.dir()), Ok(None))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let store = match open(&args.store) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let row = match waiting(&store, run, task) {
        Ok(row) => row,
        Err(code) => return code,
    };
    let decision = Decision {
        approved,
        by: user_name("cli"),
        via: "cli".to_string(),
        reason: args
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string),
    };
    match store.decide(row.id, &decision) {
        Ok(Decided::Now) => {
            let done = if approved { "approved" } else { "denied" };
            errln!("{done} `{}` of run {}", row.task, row.run);
            exit::OK
        }
        Ok(Decided::Before(now)) => {
            let by = now
                .decided_by
                .as_deref()
                .map_or_else(String::new, |by| format!(" by {by}"));
            let via = now
                .via
                .as_deref()
                .map_or_else(String::new, |via| format!(" ({via})"));
            let state = now.state.replace('_', " ");
            errln!(
                "error: `{}` of run {} was {state}{by}{via} before this answer",
                now.task,
                now.run
            );
            exit::FAILED
        }
        Err(e) => store_error(&e),
    }
}

/// The question `[RUN] TASK` names, waiting in a run that is alive; or the
/// error, printed, that says what waits instead. Waits up to [`GRACE`] for a
/// running run that asks nothing yet.
fn waiting(store: &Store, run: Option<i64>, task: &str) -> Result<ApprovalRow, u8> {
    let start = Instant::now();
    loop {
        let pending = store.pending_approvals(run).map_err(|e| store_error(&e))?;
        let (live, dead): (Vec<ApprovalRow>, Vec<ApprovalRow>) =
            pending.into_iter().partition(|a| a.run_alive);
        let mut named: Vec<&ApprovalRow> = live.iter().filter(|a| a.task == task).collect();
        // The latest run waiting for it; a second question of the same id
        // in one run (a repeated entry of the REPL) is answered oldest first.
        named.sort_by_key(|a| (std::cmp::Reverse(a.run), a.id));
        if let Some(first) = named.first() {
            let others: Vec<String> = (named.iter())
                .filter(|a| a.run != first.run)
                .map(|a| a.run.to_string())
                .collect();
            if !others.is_empty() {
                errln!(
                    "note: runs {} wait for `{task}` too; `flow approve RUN {}` answers one of them",
                    others.join(", "),
                    shell_word(task)
                );
            }
            return Ok((*first).clone());
        }
        // The run named: it must exist and be going.
        if let Some(id) = run {
            match store.run(Some(id)) {
                Ok(Some(row)) if row.status != "running" => {
                    errln!("error: run {id} is not running (it is {}); nothing of it waits for an answer", row.status);
                    if dead.iter().any(|a| a.task == task) || row.status == "killed" {
                        errln!("  help: `flow run --resume` runs it again from where it stopped, and asks again");
                    }
                    return Err(exit::FAILED);
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    errln!(
                        "error: there is no run {id} in `{}`; `flow approvals` lists what waits",
                        store.dir().display()
                    );
                    return Err(exit::FAILED);
                }
                Err(e) => return Err(store_error(&e)),
            }
        }
        // Other questions wait: `task` is not one of them.
        if !live.is_empty() {
            errln!("error: no approval `{task}` is waiting{}", in_run(run));
            let close: Vec<String> = (live.iter())
                .filter(|a| strsim::levenshtein(&a.task, task) <= 2.max(task.len() / 3))
                .map(|a| format!("`{}`", a.task))
                .collect();
            if !close.is_empty() {
                errln!("  help: did you mean {}?", close.join(" or "));
            }
            errln!("  note: waiting: {}", listing(&live));
            return Err(exit::FAILED);
        }
        // A run that is going may not have asked yet; one may be starting.
        let going: Vec<i64> = match run {
            Some(id) => vec![id],
            None => (store.runs(64).map_err(|e| store_error(&e))?.iter())
                .filter(|r| r.status == "running")
                .map(|r| r.id)
                .collect(),
        };
        let grace = if going.is_empty() { GRACE_IDLE } else { GRACE };
        if start.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        errln!("error: nothing is waiting for approval{}", in_run(run));
        if !going.is_empty() {
            let runs: Vec<String> = going.iter().map(i64::to_string).collect();
            errln!(
                "  note: run {} is going but has not asked yet; `flow approvals` shows what waits",
                runs.join(", ")
            );
        }
        if !dead.is_empty() {
            errln!(
                "  note: {} asked by runs that are no longer running: {} (`flow run --resume` asks again)",
                plural(dead.len()),
                listing(&dead)
            );
        }
        return Err(exit::FAILED);
    }
}

fn in_run(run: Option<i64>) -> String {
    run.map_or_else(String::new, |r| format!(" in run {r}"))
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 question was".to_string()
    } else {
        format!("{n} questions were")
    }
}

/// `deploy (run 12), 'items[2].ok' (run 13)`.
fn listing(rows: &[ApprovalRow]) -> String {
    rows.iter()
        .map(|a| format!("{} (run {})", shell_word(&a.task), a.run))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(clap::Args, Debug)]
pub struct ApprovalsArgs {
    /// Only the questions of this run.
    #[arg(value_name = "RUN", value_parser = super::run_number)]
    run: Option<i64>,
    /// Print JSON (one array, every pending question with its details and
    /// whether its run is still going) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// `flow approvals`: the questions waiting for an answer.
pub fn list(args: &ApprovalsArgs) -> u8 {
    let store = match open(&args.store) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let pending = match store.pending_approvals(args.run) {
        Ok(rows) => rows,
        Err(e) => return store_error(&e),
    };
    if args.json {
        let doc: Vec<Value> = pending.iter().map(ApprovalRow::to_json).collect();
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return exit::OK;
    }
    let (live, dead): (Vec<ApprovalRow>, Vec<ApprovalRow>) =
        pending.into_iter().partition(|a| a.run_alive);
    if live.is_empty() {
        errln!("nothing is waiting for approval");
    } else {
        let now = crate::store::millis(SystemTime::now());
        outln!("{:>5}  {:<20}  {:<8}  QUESTION", "RUN", "TASK", "ASKED");
        for a in &live {
            outln!(
                "{:>5}  {:<20}  {:<8}  {}",
                a.run,
                shell_word(&a.task),
                ago(now - a.asked_at),
                a.question
            );
            if let Value::Object(details) = &a.details {
                for (name, value) in details {
                    outln!("{:>39}{name}: {}", "", crate::value::preview(value, 60));
                }
            }
        }
        errln!("answer with `flow approve RUN TASK` or `flow deny RUN TASK --reason …`");
    }
    if !dead.is_empty() {
        errln!(
            "note: {} asked by runs that are no longer running, not listed (`flow run --resume` asks again)",
            plural(dead.len())
        );
    }
    exit::OK
}
