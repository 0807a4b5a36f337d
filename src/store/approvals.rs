//! Questions put to a person (`approve`), kept in the store so that another
//! shell can answer them: a waiting run writes a `pending` row and polls it;
//! `flow approve` and `flow deny` write the decision; the run reads it and
//! goes on. A question withdrawn (its timeout, Ctrl-C, an answer at the
//! terminal) is marked so, and a run that died leaves its row `pending`
//! behind a dead process: [`ApprovalRow::run_alive`] tells them apart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::{connect, millis, sql_error, Store, StoreError};
use crate::agent::approval::{withdrawn, AskFuture};
use crate::agent::{AgentError, Approver, Decision, Question, Withdrawal};

/// How often a waiting run looks for an answer.
const POLL: Duration = Duration::from_millis(200);

/// A question asked through the store, as `flow approvals` lists it.
#[derive(Clone, Debug)]
pub struct ApprovalRow {
    pub id: i64,
    pub run: i64,
    pub task: String,
    pub question: String,
    /// A JSON object.
    pub details: Value,
    pub asked_at: i64,
    pub timeout_ms: Option<i64>,
    /// `pending`, `approved`, `denied`, `timed_out`, `cancelled`.
    pub state: String,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub via: Option<String>,
    pub reason: Option<String>,
    /// Whether the run that asked is still going (its `flow` is alive).
    pub run_alive: bool,
}

impl ApprovalRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<ApprovalRow> {
        let details: String = row.get("details")?;
        let status: String = row.get("run_status")?;
        let alive = status == "running" && super::query::owner_of(row)?.liveness().running();
        Ok(ApprovalRow {
            id: row.get("id")?,
            run: row.get("run")?,
            task: row.get("task")?,
            question: row.get("question")?,
            details: serde_json::from_str(&details).unwrap_or(Value::Null),
            asked_at: row.get("asked_at")?,
            timeout_ms: row.get("timeout_ms")?,
            state: row.get("state")?,
            decided_at: row.get("decided_at")?,
            decided_by: row.get("decided_by")?,
            via: row.get("via")?,
            reason: row.get("reason")?,
            run_alive: alive,
        })
    }

    /// The row as `flow approvals --json` prints it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "run": self.run,
            "task": self.task,
            "question": self.question,
            "details": self.details,
            "asked_at": self.asked_at,
            "timeout_ms": self.timeout_ms,
            "state": self.state,
            "decided_at": self.decided_at,
            "decided_by": self.decided_by,
            "via": self.via,
            "reason": self.reason,
            "run_alive": self.run_alive,
        })
    }
}

/// What [`Store::decide`] did.
#[derive(Clone, Debug)]
pub enum Decided {
    /// The decision is written; the waiting run reads it within [`POLL`].
    Now,
    /// The question was no longer pending: the row as it is.
    Before(ApprovalRow),
}

const SELECT: &str = "SELECT a.*, r.status AS run_status, r.pid AS pid, r.host AS host, \
     r.boot_id AS boot_id, r.pid_started AS pid_started FROM approvals a JOIN runs r ON r.id = a.run";

impl Store {
    /// The questions still waiting for an answer (of `run`, or of every
    /// run), oldest first. Those of runs whose `flow` died are included,
    /// with [`ApprovalRow::run_alive`] false.
    pub fn pending_approvals(&self, run: Option<i64>) -> Result<Vec<ApprovalRow>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE a.state = 'pending' AND (?1 IS NULL OR a.run = ?1) ORDER BY a.id"
        );
        self.query(&sql, params![run], ApprovalRow::from_row)
    }

    /// Every question `run` asked, answered or not, in the order asked.
    pub fn approvals(&self, run: i64) -> Result<Vec<ApprovalRow>, StoreError> {
        let sql = format!("{SELECT} WHERE a.run = ?1 ORDER BY a.id");
        self.query(&sql, params![run], ApprovalRow::from_row)
    }

    /// Answers the pending question `id`, unless it was answered or
    /// withdrawn meanwhile.
    pub fn decide(&self, id: i64, decision: &Decision) -> Result<Decided, StoreError> {
        let db = self.db();
        let state = if decision.approved {
            "approved"
        } else {
            "denied"
        };
        let changed = self
            .conn()
            .execute(
                "UPDATE approvals SET state = ?2, decided_at = ?3, decided_by = ?4, via = ?5, reason = ?6
                 WHERE id = ?1 AND state = 'pending'",
                params![
                    id,
                    state,
                    millis(SystemTime::now()),
                    decision.by,
                    decision.via,
                    decision.reason
                ],
            )
            .map_err(|e| sql_error(&db, e))?;
        if changed == 1 {
            return Ok(Decided::Now);
        }
        let sql = format!("{SELECT} WHERE a.id = ?1");
        let row = self
            .conn()
            .query_row(&sql, [id], ApprovalRow::from_row)
            .optional()
            .map_err(|e| sql_error(&db, e))?;
        match row {
            Some(row) => Ok(Decided::Before(row)),
            None => Err(StoreError::new(&db, format!("approval {id} is gone"))),
        }
    }

    /// An approver that asks through this store for `run`: each question a
    /// pending row, answered by `flow approve` or `flow deny`.
    pub fn approver(&self, run: i64) -> StoreApprover {
        StoreApprover::new(self.dir(), run)
    }
}

/// Asks through the store: see the module documentation.
#[derive(Clone)]
pub struct StoreApprover {
    db: PathBuf,
    run: i64,
    /// Connected when the first question is put (most runs put none).
    conn: Arc<Mutex<Option<Connection>>>,
    on_wait: Option<OnWait>,
}

/// What a run does once its question waits in the store (with the run id).
type OnWait = Arc<dyn Fn(i64, &Question) + Send + Sync>;

impl std::fmt::Debug for StoreApprover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreApprover")
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

impl StoreApprover {
    /// An approver that asks through the store in `dir` for `run`: each
    /// question a pending row, answered by `flow approve` or `flow deny`.
    pub fn new(dir: &Path, run: i64) -> StoreApprover {
        StoreApprover {
            db: dir.join(super::DB_FILE),
            run,
            conn: Arc::default(),
            on_wait: None,
        }
    }

    /// Calls `f` (with the run id) once a question waits in the store: to
    /// say how to answer it.
    pub fn on_wait(mut self, f: impl Fn(i64, &Question) + Send + Sync + 'static) -> StoreApprover {
        self.on_wait = Some(Arc::new(f));
        self
    }

    /// The run whose questions it asks.
    pub fn run(&self) -> i64 {
        self.run
    }

    /// Runs `f` on the connection, off the run's thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, AgentError> {
        let conn = self.conn.clone();
        let db = self.db.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let conn = match &mut *conn {
                Some(conn) => conn,
                none => none.insert(connect(&db, false)?),
            };
            f(conn).map_err(|e| sql_error(&db, e))
        })
        .await;
        match done {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(AgentError::new(format!("cannot ask through the {e}"))),
            Err(_) => Err(AgentError::new(
                "the run store's question stopped unexpectedly",
            )),
        }
    }
}

impl Approver for StoreApprover {
    fn ask<'a>(&'a self, question: &'a Question, withdrawal: &'a Withdrawal) -> AskFuture<'a> {
        Box::pin(async move {
            let started = Instant::now();
            let (run, task, text) = (self.run, question.task.clone(), question.text.clone());
            let details = Value::Object(question.details.clone()).to_string();
            let timeout = question
                .timeout
                .map(|t| t.as_millis().min(i64::MAX as u128) as i64);
            let id: i64 = self
                .with(move |conn| {
                    conn.query_row(
                        "INSERT INTO approvals (run, task, question, details, asked_at, timeout_ms, state)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending') RETURNING id",
                        params![run, task, text, details, millis(SystemTime::now()), timeout],
                        |row| row.get(0),
                    )
                })
                .await?;
            if let Some(on_wait) = &self.on_wait {
                on_wait(self.run, question);
            }
            loop {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = withdrawal.withdrawn() => break,
                }
                let answer = self
                    .with(move |conn| {
                        conn.query_row(
                            "SELECT state, decided_by, via, reason FROM approvals WHERE id = ?1",
                            [id],
                            |row| {
                                Ok((
                                    row.get::<_, String>(0)?,
                                    row.get::<_, Option<String>>(1)?,
                                    row.get::<_, Option<String>>(2)?,
                                    row.get::<_, Option<String>>(3)?,
                                ))
                            },
                        )
                        .optional()
                    })
                    .await?;
                let Some((state, by, via, reason)) = answer else {
                    return Err(AgentError::new(
                        "the question was removed from the run store (`flow clean`?)",
                    ));
                };
                if state == "approved" || state == "denied" {
                    return Ok(Decision {
                        approved: state == "approved",
                        by: by.unwrap_or_else(|| "cli".into()),
                        via: via.unwrap_or_else(|| "cli".into()),
                        reason,
                    });
                }
            }
            // Withdrawn: say why in the row (an answer given meanwhile stays).
            let (state, decision) = match withdrawal.answered() {
                Some(d) => (
                    if d.approved { "approved" } else { "denied" },
                    Some(d.clone()),
                ),
                None => {
                    let timed_out = question.timeout.is_some_and(|limit| {
                        started.elapsed() + Duration::from_millis(50) >= limit
                    });
                    (if timed_out { "timed_out" } else { "cancelled" }, None)
                }
            };
            let _ = self
                .with(move |conn| {
                    conn.execute(
                        "UPDATE approvals SET state = ?2, decided_at = ?3, decided_by = ?4, via = ?5, reason = ?6
                         WHERE id = ?1 AND state = 'pending'",
                        params![
                            id,
                            state,
                            millis(SystemTime::now()),
                            decision.as_ref().map(|d| d.by.clone()),
                            decision.as_ref().map(|d| d.via.clone()),
                            decision.and_then(|d| d.reason),
                        ],
                    )
                })
                .await;
            Err(withdrawn())
        })
    }
}
