//! What a report shows, read from the run store: the run, its tasks with
//! their attempts, the tasks grouped by `map` (`raw[3]` in group `raw[i]`),
//! and the tokens and cost they reported.

use std::collections::HashMap;

use serde_json::Value;

use crate::store::{AttemptRow, RunRow, Store, StoreError, TaskLine};

/// A run read back for its report.
pub(super) struct Report {
    pub run: RunRow,
    /// The run's result, when the store kept it.
    pub result: Option<Value>,
    /// Every recorded task, in the order they started (those that never
    /// started last, in the order they ended).
    pub tasks: Vec<Task>,
    /// The tasks by group, in the order each group first started.
    pub groups: Vec<Group>,
    /// The span the timeline covers, in ms since the epoch.
    pub t0: i64,
    pub t1: i64,
    /// Attempts of every task: one timeline bar each.
    pub attempts: usize,
    pub usage: Usage,
}

/// One recorded task.
pub(super) struct Task {
    pub line: TaskLine,
    pub attempts: Vec<AttemptRow>,
}

impl Task {
    /// Whether it ended otherwise than well (failed, timed out, cancelled).
    pub fn failed(&self) -> bool {
        !matches!(
            self.line.state.as_str(),
            "succeeded" | "cached" | "skipped" | "running"
        )
    }

    /// Whether an attempt of it failed (it was retried, or it failed).
    pub fn troubled(&self) -> bool {
        self.failed() || self.attempts.len() > 1
    }
}

/// The tasks of one `map` (or one task that is in none).
pub(super) struct Group {
    /// The task ids with each item index made `[i]` and each round `@n`:
    /// `raw[i]`, `batches[i].raw`, `draft.intro`.
    pub key: String,
    /// Indexes into [`Report::tasks`], in the order they started.
    pub tasks: Vec<usize>,
    pub attempts: usize,
    /// Tasks that failed, timed out or were cancelled.
    pub failed: usize,
    /// Tasks that took more than one attempt.
    pub retried: usize,
    pub skipped: usize,
    pub cached: usize,
}

impl Group {
    /// The map a group belongs to: its key up to the first item index
    /// (`raw` for `raw[i]`), or the whole key.
    pub fn map(&self) -> &str {
        self.key.split(['[', '@']).next().unwrap_or(&self.key)
    }
}

/// Tokens and cost the tasks reported.
#[derive(Default)]
pub(super) struct Usage {
    pub reported: bool,
    pub prompt: u64,
    pub completion: u64,
    pub total: u64,
    pub cost_usd: Option<f64>,
}

impl Usage {
    fn add(&mut self, usage: &Value) {
        let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
        self.reported = true;
        self.prompt += count("prompt_tokens");
        self.completion += count("completion_tokens");
        self.total +=
            count("total_tokens").max(count("prompt_tokens") + count("completion_tokens"));
        if let Some(cost) = usage.get("cost_usd").and_then(Value::as_f64) {
            *self.cost_usd.get_or_insert(0.0) += cost;
        }
    }
}

/// The group of a task id: item indexes `[3]` become `[i]`, rounds `@2`
/// become `@n` (`raw[3]` → `raw[i]`, `b[1].c[2]` → `b[i].c[i]`).
pub(super) fn group_of(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut rest = id;
    while let Some(at) = rest.find(['[', '@']) {
        out.push_str(&rest[..at]);
        let mark = &rest[at..at + 1];
        let after = &rest[at + 1..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let closed = mark == "@" || after[digits..].starts_with(']');
        if digits > 0 && closed {
            out.push_str(if mark == "@" { "@n" } else { "[i]" });
            rest = &after[digits + usize::from(mark == "[")..];
        } else {
            out.push_str(mark);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

impl Report {
    /// Reads run `run` from the store.
    pub fn load(store: &Store, run: RunRow) -> Result<Report, StoreError> {
        let result = store.run_result(run.id)?;
        let mut tasks: Vec<Task> = store
            .task_lines(run.id)?
            .into_iter()
            .map(|(line, attempts)| Task { line, attempts })
            .collect();
        // By start; those that never started last; ties in the order they ended.
        tasks.sort_by_key(|t| {
            let start = t
                .attempts
                .first()
                .map(|a| a.started_at)
                .or(t.line.started_at);
            (start.is_none(), start, t.line.seq)
        });
        let mut usage = Usage::default();
        let mut attempts = 0;
        let (mut t0, mut t1) = (run.started_at, run.ended_at.unwrap_or(run.started_at));
        let mut groups: Vec<Group> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (i, task) in tasks.iter().enumerate() {
            if let Some(u) = &task.line.usage {
                usage.add(u);
            }
            attempts += task.attempts.len();
            for a in &task.attempts {
                t0 = t0.min(a.started_at);
                t1 = t1.max(a.ended_at);
            }
            let key = group_of(&task.line.task);
            let g = *by_key.entry(key.clone()).or_insert_with(|| {
                groups.push(Group {
                    key,
                    tasks: Vec::new(),
                    attempts: 0,
                    failed: 0,
                    retried: 0,
                    skipped: 0,
                    cached: 0,
                });
                groups.len() - 1
            });
            let group = &mut groups[g];
            group.tasks.push(i);
            group.attempts += task.attempts.len();
            group.failed += usize::from(task.failed());
            group.retried += usize::from(task.attempts.len() > 1);
            group.skipped += usize::from(task.line.state == "skipped");
            group.cached += usize::from(task.line.state == "cached");
        }
        if run.ended_at.is_none() {
            // Still going (or killed): the timeline reaches to now.
            t1 = t1.max(crate::store::millis(std::time::SystemTime::now()));
        }
        Ok(Report {
            run,
            result,
            tasks,
            groups,
            t0,
            t1: t1.max(t0 + 1),
            attempts,
            usage,
        })
    }

    /// How many tasks the run counted that the store did not record one by
    /// one (inline tasks that succeeded: `echo`, `noop`).
    pub fn unrecorded(&self) -> i64 {
        let counted: i64 = self.run.counts.iter().sum();
        (counted - self.tasks.len() as i64).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::{group_of, Usage};
    use serde_json::json;

    #[test]
    fn usage_adds_tokens_and_the_cost_of_priced_calls() {
        let mut usage = Usage::default();
        assert!(!usage.reported);
        usage.add(&json!({"prompt_tokens": 10, "completion_tokens": 5}));
        usage.add(&json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "cost_usd": 0.25}));
        assert!(usage.reported);
        assert_eq!((usage.prompt, usage.completion, usage.total), (11, 7, 18));
        assert_eq!(usage.cost_usd, Some(0.25));
    }

    #[test]
    fn item_indexes_and_rounds_make_groups() {
        assert_eq!(group_of("raw[3]"), "raw[i]");
        assert_eq!(group_of("batches[12].raw"), "batches[i].raw");
        assert_eq!(group_of("a[1].b[22]"), "a[i].b[i]");
        assert_eq!(group_of("loop@3.until"), "loop@n.until");
        assert_eq!(group_of("draft.intro"), "draft.intro");
        assert_eq!(group_of("odd[x]"), "odd[x]");
        assert_eq!(group_of("total.Loader#2"), "total.Loader#2");
        assert_eq!(group_of("end["), "end[");
        assert_eq!(group_of("@"), "@");
    }
}
