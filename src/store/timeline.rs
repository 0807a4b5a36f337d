//! Reading a whole run back for a report (`flow report`): every task without
//! its value and logs, each with its attempts, in two queries; a task's value
//! and logs only when asked for by its `seq`.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::query::AttemptRow;
use super::{sql_error, Store, StoreError, TaskRow};

/// A task as a report's timeline shows it: no value, no logs.
#[derive(Clone, Debug)]
pub struct TaskLine {
    pub seq: i64,
    pub task: String,
    pub agent: String,
    pub state: String,
    pub attempts: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub duration_ms: Option<f64>,
    pub error: Option<String>,
    pub usage: Option<Value>,
    pub reused_from: Option<i64>,
}

impl Store {
    /// Every recorded task of a run, in the order they ended, each with its
    /// attempts as [`Store::attempts`] gives them (one made from the task's
    /// own row when it succeeded at its first attempt), so the attempts
    /// counted here are those `flow log --json` lists.
    pub fn task_lines(&self, run: i64) -> Result<Vec<(TaskLine, Vec<AttemptRow>)>, StoreError> {
        let mut attempts: HashMap<i64, Vec<AttemptRow>> = HashMap::new();
        let rows = self.query(
            "SELECT seq, attempt, started_at, ended_at, status, exit_code, error FROM attempts
             WHERE run = ?1 ORDER BY seq, attempt",
            params![run],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    AttemptRow {
                        attempt: row.get(1)?,
                        started_at: row.get(2)?,
                        ended_at: row.get(3)?,
                        status: row.get(4)?,
                        exit_code: row.get(5)?,
                        error: row.get(6)?,
                    },
                ))
            },
        )?;
        for (seq, attempt) in rows {
            attempts.entry(seq).or_default().push(attempt);
        }
        let lines = self.query(
            "SELECT seq, task, agent, state, attempts, started_at, ended_at, duration_ms, error,
             usage, reused_from FROM tasks WHERE run = ?1 ORDER BY seq",
            params![run],
            |row| {
                let usage: Option<String> = row.get(9)?;
                Ok(TaskLine {
                    seq: row.get(0)?,
                    task: row.get(1)?,
                    agent: row.get(2)?,
                    state: row.get(3)?,
                    attempts: row.get(4)?,
                    started_at: row.get(5)?,
                    ended_at: row.get(6)?,
                    duration_ms: row.get(7)?,
                    error: row.get(8)?,
                    usage: usage.and_then(|text| serde_json::from_str(&text).ok()),
                    reused_from: row.get(10)?,
                })
            },
        )?;
        Ok(lines
            .into_iter()
            .map(|line| {
                let mut rows = attempts.remove(&line.seq).unwrap_or_default();
                if rows.is_empty() && line.attempts == 1 {
                    if let (Some(started_at), Some(ended_at)) = (line.started_at, line.ended_at) {
                        rows.push(AttemptRow {
                            attempt: 1,
                            started_at,
                            ended_at,
                            status: line.state.clone(),
                            exit_code: None,
                            error: line.error.clone(),
                        });
                    }
                }
                (line, rows)
            })
            .collect())
    }

    /// One task of a run by its `seq`, with its value and logs.
    pub fn task_at(&self, run: i64, seq: i64) -> Result<Option<TaskRow>, StoreError> {
        self.conn()
            .query_row(
                "SELECT * FROM tasks WHERE run = ?1 AND seq = ?2",
                params![run, seq],
                |row| self.task_row(row),
            )
            .optional()
            .map_err(|e| sql_error(&self.db(), e))
    }

    /// A run's result, when it was small enough to be kept (under 64 KiB).
    pub fn run_result(&self, run: i64) -> Result<Option<Value>, StoreError> {
        let text: Option<Option<String>> = self
            .conn()
            .query_row("SELECT result FROM runs WHERE id = ?1", [run], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| sql_error(&self.db(), e))?;
        Ok(text
            .flatten()
            .and_then(|text| serde_json::from_str(&text).ok()))
    }
}
