//! Reading runs and tasks back, and removing old runs.

use rusqlite::{params, OptionalExtension, Row};
use serde_json::{json, Value};

use super::{sql_error, Owner, Store, StoreError};

/// One run, as `flow runs` lists it.
#[derive(Clone, Debug)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub script: String,
    pub script_path: String,
    pub script_hash: String,
    pub params: Value,
    pub pid: i64,
    /// The host its `flow` ran on (`None` for runs recorded before flow
    /// said): a run of another host that shares the store is never taken
    /// for killed from here.
    pub host: Option<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// `running`, `succeeded`, `failed`, `cancelled`; `killed` for a run
    /// whose `flow` died without saying how it ended.
    pub status: String,
    pub exit_code: Option<i64>,
    pub resumed_from: Option<i64>,
    /// Tasks done, re-used, failed, skipped.
    pub counts: [i64; 4],
}

impl RunRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RunRow> {
        let params: String = row.get("params")?;
        let mut run = RunRow {
            id: row.get("id")?,
            kind: row.get("kind")?,
            script: row.get("script")?,
            script_path: row.get("script_path")?,
            script_hash: row.get("script_hash")?,
            params: serde_json::from_str(&params).unwrap_or(Value::Null),
            pid: row.get("pid")?,
            host: row.get("host")?,
            started_at: row.get("started_at")?,
            ended_at: row.get("ended_at")?,
            status: row.get("status")?,
            exit_code: row.get("exit_code")?,
            resumed_from: row.get("resumed_from")?,
            counts: [
                row.get("done")?,
                row.get("cached")?,
                row.get("failed")?,
                row.get("skipped")?,
            ],
        };
        if run.status == "running" && !owner_of(row)?.liveness().running() {
            run.status = "killed".into();
        }
        Ok(run)
    }

    /// The host of a run of another host that shares the store: whether
    /// that run's `flow` still goes can only be seen there.
    pub fn elsewhere(&self) -> Option<&str> {
        let here = Owner::this_process().host.as_deref();
        self.host.as_deref().filter(|&host| Some(host) != here)
    }

    /// The run as `flow runs --json` prints it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind,
            "script": self.script,
            "status": self.status,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_ms": self.ended_at.map(|end| end - self.started_at),
            "params": self.params,
            "host": self.host,
            "resumed_from": self.resumed_from,
            "done": self.counts[0],
            "cached": self.counts[1],
            "failed": self.counts[2],
            "skipped": self.counts[3],
        })
    }
}

/// Who ran a run, from its row (which has `pid`, `host`, `boot_id` and `pid_started`).
pub(super) fn owner_of(row: &Row<'_>) -> rusqlite::Result<Owner> {
    Ok(Owner {
        pid: row.get("pid")?,
        host: row.get("host")?,
        boot: row.get("boot_id")?,
        started: row.get("pid_started")?,
    })
}

/// One task of a run.
#[derive(Clone, Debug)]
pub struct TaskRow {
    pub run: i64,
    pub seq: i64,
    pub task: String,
    pub agent: String,
    pub key: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub duration_ms: Option<f64>,
    pub value: Option<Value>,
    pub error: Option<String>,
    pub notes: Vec<String>,
    pub stdout: String,
    pub stderr: String,
    pub usage: Option<Value>,
    pub inputs: Option<Value>,
    pub reused_from: Option<i64>,
}

impl TaskRow {
    /// The task as `flow log --json` prints it, with its attempts.
    pub fn to_json(&self, attempts: &[AttemptRow]) -> Value {
        json!({
            "run": self.run,
            "id": self.task,
            "agent": self.agent,
            "status": self.state,
            "key": self.key,
            "attempts": attempts.iter().map(|a| json!({
                "attempt": a.attempt,
                "started_at": a.started_at,
                "ended_at": a.ended_at,
                "status": a.status,
                "exit_code": a.exit_code,
                "error": a.error,
            })).collect::<Vec<_>>(),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_ms": self.duration_ms,
            "value": self.value,
            "error": self.error,
            "notes": self.notes,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "usage": self.usage,
            "reused_from": self.reused_from,
            "tries": self.attempts,
        })
    }
}

/// One attempt of a task.
#[derive(Clone, Debug)]
pub struct AttemptRow {
    pub attempt: i64,
    pub started_at: i64,
    pub ended_at: i64,
    pub status: String,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
}

/// How long a task took, in milliseconds, on the clock its attempts are
/// shown with: from its first attempt's start to its last attempt's end
/// (the wall clock's whole milliseconds); without attempts, its own measured
/// duration. The two clocks round apart (a 4.4 ms task whose one attempt
/// spans 1000–1006 ms), so a task shown beside its attempts takes theirs.
pub fn took_ms(duration_ms: Option<f64>, attempts: &[AttemptRow]) -> Option<i64> {
    match (attempts.first(), attempts.last()) {
        (Some(first), Some(last)) => Some(last.ended_at - first.started_at),
        _ => duration_ms.map(|ms| ms.round() as i64),
    }
}

const RUN_COLUMNS: &str = "id, kind, script, script_path, script_hash, params, pid, host, boot_id, \
     pid_started, started_at, ended_at, status, exit_code, resumed_from, done, cached, failed, skipped";

/// The runs recorded as going, found by the partial index `runs_running`
/// (the query's `WHERE` must match the index's for SQLite to use it).
pub(super) const RUNNING_RUNS: &str =
    "SELECT id, pid, host, boot_id, pid_started FROM runs WHERE status = 'running'";

impl Store {
    /// The runs recorded as going whose `flow` is gone (killed): what may
    /// have left jobs behind on a cluster.
    pub fn killed_runs(&self) -> Result<Vec<i64>, StoreError> {
        let running = self.query(RUNNING_RUNS, params![], |row| {
            Ok((row.get::<_, i64>("id")?, owner_of(row)?))
        })?;
        Ok((running.into_iter())
            .filter(|(_, owner)| !owner.liveness().running())
            .map(|(id, _)| id)
            .collect())
    }

    /// Records these runs as `killed` (what `flow runs` shows for them
    /// anyway), once what they left behind was dealt with.
    pub fn mark_killed(&self, runs: &[i64]) -> Result<(), StoreError> {
        for run in runs {
            self.conn()
                .execute(
                    "UPDATE runs SET status = 'killed' WHERE id = ?1 AND status = 'running'",
                    params![run],
                )
                .map_err(|e| sql_error(&self.db(), e))?;
        }
        Ok(())
    }

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1");
        let mut runs = self.query(&sql, params![limit as i64], RunRow::from_row)?;
        for run in &mut runs {
            self.count_so_far(run)?;
        }
        Ok(runs)
    }

    /// A run that has not ended (going, or killed) writes its counts at its
    /// end: until then they are its recorded tasks' (inline steps that
    /// succeeded, `echo` and `noop`, are counted only at the end).
    fn count_so_far(&self, run: &mut RunRow) -> Result<(), StoreError> {
        if run.ended_at.is_some() {
            return Ok(());
        }
        let states = self.query(
            "SELECT state, count(*) FROM tasks WHERE run = ?1 GROUP BY state",
            params![run.id],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?;
        run.counts = [0; 4];
        for (state, n) in states {
            // As the run counts them when it ends (`RunJournal::counted`).
            use super::journal::{CACHED, DONE, FAILED, SKIPPED};
            let i = match state.as_str() {
                "succeeded" => DONE,
                "cached" => CACHED,
                "skipped" => SKIPPED,
                _ => FAILED,
            };
            run.counts[i] += n;
        }
        Ok(())
    }

    /// One run, by id; the latest with `None`.
    pub fn run(&self, id: Option<i64>) -> Result<Option<RunRow>, StoreError> {
        let sql = match id {
            Some(_) => format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            None => {
                format!("SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL ORDER BY id DESC LIMIT 1")
            }
        };
        let mut run = self
            .conn()
            .query_row(&sql, params![id], RunRow::from_row)
            .optional()
            .map_err(|e| sql_error(&self.db(), e))?;
        if let Some(run) = &mut run {
            self.count_so_far(run)?;
        }
        Ok(run)
    }

    /// The latest run of the script at this absolute path that is not still
    /// going (a run killed counts: its completed tasks are there), and the
    /// later runs passed over because they are: what `--resume` re-uses.
    /// A run going has not recorded what it is doing, so resuming from it
    /// would run again what it is about to finish.
    pub fn latest_ended_run_of(
        &self,
        script_path: &str,
    ) -> Result<(Option<i64>, Vec<i64>), StoreError> {
        // Newest first, read until the first run not going: the script's
        // other runs, however many, are not read.
        let read = || -> rusqlite::Result<(Option<i64>, Vec<i64>)> {
            let mut statement = self.conn().prepare(
                "SELECT id, status, pid, host, boot_id, pid_started FROM runs
                 WHERE script_path = ?1 ORDER BY id DESC",
            )?;
            let mut rows = statement.query(params![script_path])?;
            let mut going = Vec::new();
            while let Some(row) = rows.next()? {
                let id = row.get::<_, i64>("id")?;
                if row.get::<_, String>("status")? == "running"
                    && owner_of(row)?.liveness().running()
                {
                    going.push(id);
                } else {
                    return Ok((Some(id), going));
                }
            }
            Ok((None, going))
        };
        read().map_err(|e| sql_error(&self.db(), e))
    }

    /// The run of the script at this absolute path just before run `id`.
    pub fn run_before(&self, script_path: &str, id: i64) -> Result<Option<i64>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id FROM runs WHERE script_path = ?1 AND id < ?2 ORDER BY id DESC LIMIT 1",
                params![script_path, id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&self.db(), e))
    }

    /// The latest run of the script at this absolute path, other than `except`.
    pub fn latest_run_of(
        &self,
        script_path: &str,
        except: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        super::journal::latest_run_of(self.conn(), script_path, except)
            .map_err(|e| sql_error(&self.db(), e))
    }

    /// Every recorded task of a run, in the order they ended.
    pub fn tasks(&self, run: i64) -> Result<Vec<TaskRow>, StoreError> {
        self.tasks_after(run, -1)
    }

    /// The recorded tasks of a run that ended after the one numbered `seq`
    /// (`TaskRow::seq`), in the order they ended: what `flow log -f` has not
    /// shown yet.
    pub fn tasks_after(&self, run: i64, seq: i64) -> Result<Vec<TaskRow>, StoreError> {
        self.query(
            "SELECT * FROM tasks WHERE run = ?1 AND seq > ?2 ORDER BY seq",
            params![run, seq],
            |row| self.task_row(row),
        )
    }

    /// The ids of a run's recorded tasks, each once, in the order they first ended.
    pub fn task_ids(&self, run: i64) -> Result<Vec<String>, StoreError> {
        self.query(
            "SELECT task FROM tasks WHERE run = ?1 GROUP BY task ORDER BY min(seq)",
            params![run],
            |row| row.get(0),
        )
    }

    /// The attempts of one task. A task that succeeded at its first attempt
    /// has no rows of them (its own row says it all): its one attempt is
    /// made from the task.
    pub fn attempts(&self, task: &TaskRow) -> Result<Vec<AttemptRow>, StoreError> {
        let attempts = self.attempt_rows(task.run, task.seq)?;
        if attempts.is_empty() && task.attempts == 1 {
            if let (Some(started_at), Some(ended_at)) = (task.started_at, task.ended_at) {
                return Ok(vec![AttemptRow {
                    attempt: 1,
                    started_at,
                    ended_at,
                    status: task.state.clone(),
                    exit_code: None,
                    error: task.error.clone(),
                }]);
            }
        }
        Ok(attempts)
    }

    fn attempt_rows(&self, run: i64, seq: i64) -> Result<Vec<AttemptRow>, StoreError> {
        self.query(
            "SELECT attempt, started_at, ended_at, status, exit_code, error FROM attempts
             WHERE run = ?1 AND seq = ?2 ORDER BY attempt",
            params![run, seq],
            |row| {
                Ok(AttemptRow {
                    attempt: row.get(0)?,
                    started_at: row.get(1)?,
                    ended_at: row.get(2)?,
                    status: row.get(3)?,
                    exit_code: row.get(4)?,
                    error: row.get(5)?,
                })
            },
        )
    }

    pub(super) fn task_row(&self, row: &Row<'_>) -> rusqlite::Result<TaskRow> {
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        let file = |name: Option<String>| {
            name.and_then(|n| std::fs::read_to_string(self.dir().join(n)).ok())
        };
        let value = match row.get::<_, Option<String>>("value")? {
            Some(text) => json(Some(text)),
            None => json(file(row.get("value_file")?)),
        };
        let stdout: Option<String> = row.get("stdout")?;
        let stderr: Option<String> = row.get("stderr")?;
        Ok(TaskRow {
            run: row.get("run")?,
            seq: row.get("seq")?,
            task: row.get("task")?,
            agent: row.get("agent")?,
            key: row.get("key")?,
            state: row.get("state")?,
            attempts: row.get("attempts")?,
            started_at: row.get("started_at")?,
            ended_at: row.get("ended_at")?,
            duration_ms: row.get("duration_ms")?,
            value,
            error: row.get("error")?,
            notes: row
                .get::<_, Option<String>>("notes")?
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
            stdout: stdout
                .or_else(|| file(row.get("stdout_file").ok().flatten()))
                .unwrap_or_default(),
            stderr: stderr
                .or_else(|| file(row.get("stderr_file").ok().flatten()))
                .unwrap_or_default(),
            usage: json(row.get("usage")?),
            inputs: json(row.get("inputs")?),
            reused_from: row.get("reused_from")?,
        })
    }

    pub(super) fn query<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let run = || -> rusqlite::Result<Vec<T>> {
            let mut statement = self.conn().prepare(sql)?;
            let rows = statement.query_map(params, map)?;
            rows.collect()
        };
        run().map_err(|e| sql_error(&self.db(), e))
    }

    /// Removes runs (their rows and files): all but the newest `keep`, and
    /// those that started before `older_than` (ms since the epoch). Runs
    /// still going are kept. Returns the runs removed and the bytes freed.
    pub fn clean(
        &self,
        keep: Option<usize>,
        older_than: Option<i64>,
    ) -> Result<(Vec<i64>, u64), StoreError> {
        let runs = self.runs(usize::MAX >> 1)?;
        let doomed: Vec<i64> = runs
            .iter()
            .enumerate()
            .filter(|(i, run)| {
                let beyond = keep.is_some_and(|k| *i >= k);
                let old = older_than.is_some_and(|t| run.started_at < t);
                let selected = match (keep, older_than) {
                    (None, None) => true,
                    _ => beyond || old,
                };
                selected && run.status != "running"
            })
            .map(|(_, run)| run.id)
            .collect();
        let freed = self.remove(&doomed)?;
        Ok((doomed, freed))
    }

    /// Removes these runs, their rows and files, whatever their state (the
    /// caller chose them); the bytes freed.
    pub fn remove(&self, runs: &[i64]) -> Result<u64, StoreError> {
        let db = self.db();
        // The database is its file and its log: what they hold, before and after.
        let wal = db.with_extension("db-wal");
        let stored = || file_size(&db) + file_size(&wal);
        let before = stored();
        let mut freed = 0;
        for id in runs {
            let dir = self.run_dir(*id);
            freed += dir_size(&dir);
            self.conn()
                .execute("DELETE FROM runs WHERE id = ?1", [id])
                .map_err(|e| sql_error(&db, e))?;
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| StoreError::new(&dir, e))?;
            }
        }
        if !runs.is_empty() {
            // Give the space back: compact the file, then checkpoint the
            // log into it (which, in WAL mode, is when the file shrinks).
            let _ = self
                .conn()
                .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
            freed += before.saturating_sub(stored());
        }
        Ok(freed)
    }
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::{took_ms, AttemptRow};

    fn attempt(started_at: i64, ended_at: i64) -> AttemptRow {
        AttemptRow {
            attempt: 1,
            started_at,
            ended_at,
            status: "failed".into(),
            exit_code: Some(1),
            error: None,
        }
    }

    #[test]
    fn a_task_shown_with_its_attempts_takes_their_clock() {
        // Measured 4.4 ms, its one attempt recorded from 1000 to 1006 ms of
        // the wall clock: shown beside it, the task took 6 ms, as it did.
        assert_eq!(took_ms(Some(4.4), &[attempt(1000, 1006)]), Some(6));
        // Two attempts and the backoff between them: the whole span.
        let both = [attempt(1000, 1006), attempt(1106, 1110)];
        assert_eq!(took_ms(Some(9.7), &both), Some(110));
        // No attempt (a task re-used from an earlier run): its own duration.
        assert_eq!(took_ms(Some(4.4), &[]), Some(4));
        assert_eq!(took_ms(None, &[]), None);
    }
}
