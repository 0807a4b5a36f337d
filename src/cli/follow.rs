//! `flow log -f`: what a run's tasks print, as they end, until the run ends.
//!
//! The store is the only channel: the run's writer commits each task as it
//! ends (at most 20 ms later in a rush), and this reads what was committed
//! since it last looked, four times a second, on a connection of its own.

use std::time::Duration;

use super::exit;
use crate::store::{RunRow, Store};

/// How often the store is read again.
const POLL: Duration = Duration::from_millis(250);

/// Prints every task of `run` that printed something, those that end later
/// as they do, then how the run ended.
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
            if task.stdout.is_empty() && task.stderr.is_empty() {
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
