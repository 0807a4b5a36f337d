//! `flow log -f`: what a run's tasks print, as they end, until the run ends.
//!
//! The store is the only channel: the run's writer commits each task as it
//! ends (at most 20 ms later in a rush), and this reads what was committed
//! since it last looked, four times a second, on a connection of its own.

use std::time::{Duration, Instant};

use super::exit;
use super::store::StoreArgs;
use crate::store::{RunRow, Store};

/// How often the store is read again.
const POLL: Duration = Duration::from_millis(250);

/// How long `flow log -f` waits for a run to start when none is going:
/// `flow run x & flow log -f` may ask before the run has written its row
/// (or made its store).
const GRACE: Duration = Duration::from_secs(2);

/// Follows the run going, or the one that starts within [`GRACE`]; else
/// shows the latest run, which has ended.
pub(super) fn follow_latest(args: &StoreArgs) -> u8 {
    let since = Instant::now();
    loop {
        let waited = since.elapsed() >= GRACE;
        if let Ok(Some(store)) = Store::open_existing(&args.dir()) {
            match store.run(None) {
                Ok(Some(run)) if run.status == "running" || waited => return follow(&store, run),
                Ok(_) => {}
                Err(e) => return super::store::store_error(&e),
            }
        }
        if waited {
            // No store, or no run in it: said as `flow log` says it.
            return match super::store::open(args) {
                Ok(store) => super::store::run_of(&store, None)
                    .err()
                    .unwrap_or(exit::FAILED),
                Err(code) => code,
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prints every task of `run` that printed something or failed, those that
/// end later as they do, then how the run ended.
pub(super) fn follow(store: &Store, run: RunRow) -> u8 {
    let mut seen = -1;
    let mut shown = 0usize;
    let mut status = run.status;
    loop {
        let tasks = match store.tasks_after(run.id, seen) {
            Ok(tasks) => tasks,
            Err(e) => return super::store::store_error(&e),
        };
        for task in &tasks {
            seen = seen.max(task.seq);
            if !super::store::shown_in_log(task) {
                continue;
            }
            if shown > 0 {
                outln!();
            }
            shown += 1;
            super::store::print_task_log(store, task);
        }
        // Asked after the tasks: a task that ended before the run's end is
        // read before the end is seen.
        if status != "running" {
            break;
        }
        std::thread::sleep(POLL);
        status = match store.run(Some(run.id)) {
            Ok(Some(row)) => row.status,
            Ok(None) => "removed".to_string(),
            Err(e) => return super::store::store_error(&e),
        };
    }
    errln!("run {} {status}", run.id);
    exit::OK
}
