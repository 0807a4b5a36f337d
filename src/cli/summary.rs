//! The closing summary `flow run` prints on stderr (not with `-q` or
//! `--json`): a first line that says how the run went, then what took
//! longest, what the model calls spent, and where the logs are:
//!
//! ```text
//! ✔ 200 tasks in 3.2s: 198 done, 2 cached, 0 failed, 0 skipped
//!   slowest: build 2.1s, test 930ms, lint 410ms
//!   tokens: 120 prompt + 30 completion = 150, $0.000041
//!   logs: flow log 12
//! ```
//!
//! The mark is `✔` or `✘` in colour; `ok`, `FAILED` or `INTERRUPTED` in
//! plain text (not a terminal, `NO_COLOR`, `--color never`).

use std::path::Path;
use std::time::Duration;

use super::style::Verbosity;
use crate::runtime::{RunStatus, TaskRecord, TaskStatus};

/// The slowest tasks kept (shown: 3, or all of them with `-v`).
const SLOWEST_KEPT: usize = 5;
const SLOWEST_SHOWN: usize = 3;

/// How many tasks ended how, and the slowest of them.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub succeeded: u64,
    pub cached: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub cancelled: u64,
    pub skipped: u64,
    /// The tasks that ran longest, longest first, with their ids.
    pub slowest: Vec<(Duration, String)>,
}

impl Tally {
    /// The tasks that ended, however.
    pub fn ended(&self) -> u64 {
        self.succeeded + self.cached + self.failed + self.timed_out + self.cancelled + self.skipped
    }

    /// Counts a task that ended; `id` is its id when the caller has it
    /// (else it is made only for a task among the slowest).
    pub fn count(&mut self, record: &TaskRecord, id: Option<&str>) {
        match record.status {
            TaskStatus::Succeeded => self.succeeded += 1,
            TaskStatus::Cached => self.cached += 1,
            TaskStatus::Failed => self.failed += 1,
            TaskStatus::TimedOut => self.timed_out += 1,
            TaskStatus::Cancelled => self.cancelled += 1,
            TaskStatus::Skipped => self.skipped += 1,
            // Not an end; never reported as one.
            TaskStatus::Pending | TaskStatus::Running => {}
        }
        let Some(took) = record.duration else { return };
        let full = self.slowest.len() >= SLOWEST_KEPT;
        if full && self.slowest.last().is_some_and(|(last, _)| took <= *last) {
            return;
        }
        let id = id.map_or_else(|| record.id(), str::to_string);
        let at = self.slowest.partition_point(|(d, _)| *d >= took);
        self.slowest.insert(at, (took, id));
        self.slowest.truncate(SLOWEST_KEPT);
    }
}

/// What the summary says besides the tally.
pub struct Closing<'a> {
    pub status: RunStatus,
    /// From the start of `flow run` to now.
    pub wall: Duration,
    /// The lines on tokens, cost and budget (`run::spending_summary`).
    pub spending: &'a [String],
    /// The run's number in the store, when it was recorded.
    pub run: Option<i64>,
    /// The store, when not the default one.
    pub store: Option<&'a Path>,
    pub verbosity: Verbosity,
    pub color: bool,
}

/// The summary's lines.
pub fn lines(tally: &Tally, closing: &Closing) -> Vec<String> {
    let (mark, paint) = match (closing.status, closing.color) {
        (RunStatus::Succeeded, true) => ("✔", "32"),
        (_, true) => ("✘", "31"),
        (RunStatus::Succeeded, false) => ("ok", ""),
        (RunStatus::Failed, false) => ("FAILED", ""),
        (RunStatus::Cancelled, false) => ("INTERRUPTED", ""),
    };
    let mark = if paint.is_empty() {
        mark.to_string()
    } else {
        format!("\x1b[{paint};1m{mark}\x1b[0m")
    };
    let ended = tally.ended();
    let tasks = if ended == 1 { "task" } else { "tasks" };
    let mut first = format!(
        "{mark} {ended} {tasks} in {}: {} done, {} cached, {} failed, {} skipped",
        short_duration(closing.wall),
        tally.succeeded,
        tally.cached,
        tally.failed + tally.timed_out,
        tally.skipped,
    );
    if tally.cancelled > 0 {
        first.push_str(&format!(", {} cancelled", tally.cancelled));
    }
    let mut lines = vec![first];
    let shown = if closing.verbosity >= Verbosity::Verbose {
        SLOWEST_KEPT
    } else {
        SLOWEST_SHOWN
    };
    // Instant tasks (`echo`, a re-used result) are not worth naming.
    let slowest: Vec<String> = (tally.slowest.iter().take(shown))
        .filter(|(took, _)| *took >= Duration::from_millis(1))
        .map(|(took, id)| format!("{id} {}", short_duration(*took)))
        .collect();
    if !slowest.is_empty() {
        lines.push(format!("  slowest: {}", slowest.join(", ")));
    }
    lines.extend(closing.spending.iter().map(|line| format!("  {line}")));
    if let Some(run) = closing.run {
        let store = closing.store.map_or_else(String::new, |dir| {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            format!(
                " --store {}",
                super::ask::shell_word(&dir.display().to_string())
            )
        });
        lines.push(format!("  logs: flow log {run}{store}"));
    }
    lines
}

/// Prints the summary on stderr.
pub fn print(tally: &Tally, closing: &Closing) {
    for line in lines(tally, closing) {
        errln!("{line}");
    }
}

/// A duration for people, short: `850ms`, `3.2s`, `12s`, `2m05s`, `1h02m`.
pub fn short_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=9_999 => format!("{:.1}s", d.as_secs_f64()),
        10_000..=59_999 => format!("{}s", d.as_secs()),
        60_000..=3_599_999 => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
        _ => format!("{}h{:02}m", d.as_secs() / 3600, d.as_secs() % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn record(label: &str, status: TaskStatus, ms: Option<u64>) -> TaskRecord {
        let mut record = TaskRecord::new(
            "".into(),
            Arc::from(label),
            "sh".into(),
            status,
            Default::default(),
        );
        record.duration = ms.map(Duration::from_millis);
        record
    }

    #[test]
    fn durations_are_short() {
        let ms = Duration::from_millis;
        assert_eq!(short_duration(ms(7)), "7ms");
        assert_eq!(short_duration(ms(3_240)), "3.2s");
        assert_eq!(short_duration(ms(12_900)), "12s");
        assert_eq!(short_duration(ms(125_000)), "2m05s");
        assert_eq!(short_duration(ms(3_720_000)), "1h02m");
    }

    #[test]
    fn the_slowest_are_kept_longest_first() {
        let mut tally = Tally::default();
        for (i, ms) in [5, 50, 1, 40, 30, 20, 10, 60].iter().enumerate() {
            tally.count(
                &record(&format!("t{i}"), TaskStatus::Succeeded, Some(*ms)),
                None,
            );
        }
        tally.count(&record("s", TaskStatus::Skipped, None), None);
        let ids: Vec<&str> = tally.slowest.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, ["t7", "t1", "t3", "t4", "t5"]);
        assert_eq!((tally.succeeded, tally.skipped, tally.ended()), (8, 1, 9));
    }

    #[test]
    fn the_first_line_counts_and_says_how_the_run_went() {
        let mut tally = Tally::default();
        tally.count(&record("build", TaskStatus::Failed, Some(2_100)), None);
        tally.count(&record("a", TaskStatus::Skipped, None), None);
        tally.count(&record("b", TaskStatus::Cached, None), None);
        let closing = Closing {
            status: RunStatus::Failed,
            wall: Duration::from_millis(3_200),
            spending: &["tokens: 1 prompt + 2 completion = 3".to_string()],
            run: Some(12),
            store: None,
            verbosity: Verbosity::Normal,
            color: false,
        };
        let lines = lines(&tally, &closing);
        assert_eq!(
            lines,
            [
                "FAILED 3 tasks in 3.2s: 0 done, 1 cached, 1 failed, 1 skipped",
                "  slowest: build 2.1s",
                "  tokens: 1 prompt + 2 completion = 3",
                "  logs: flow log 12",
            ]
        );
        let colored = super::lines(
            &tally,
            &Closing {
                color: true,
                ..closing
            },
        );
        assert!(
            colored[0].starts_with("\x1b[31;1m✘\x1b[0m 3 tasks"),
            "{colored:?}"
        );
    }
}
