//! A run being written: the row of the run, a writer thread that commits the
//! tasks as they end, and the results of an earlier run to re-use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::inbox::Inbox;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::{connect, millis, sql_error, Store, StoreError};
use crate::runtime::{Journal, Request, Reused, TaskKey, TaskRecord, TaskStatus};
use crate::secret::Secrets;

/// Values (as JSON) and logs bigger than this go to files under the run's
/// folder instead of the database.
const INLINE_MAX: usize = 64 << 10;

/// The least time between two commits of a run's writer. Each commit costs
/// the same whatever it holds (pages written to the log, locks), so while
/// tasks end faster than this they are committed together: 10,000 `sh`
/// tasks make a few hundred commits, not 10,000 (the run took 26 % longer
/// with one commit per task; `bench/store.sh`). The price: a `kill -9`
/// loses the tasks that ended in the last interval, in a rush.
const COMMIT_INTERVAL: Duration = Duration::from_millis(20);

/// What a new run is.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// `run`, or `repl` for a REPL session.
    pub kind: &'static str,
    /// The script as the user named it.
    pub script: String,
    /// Its absolute path, which finds the earlier runs of the same script.
    pub script_path: String,
    /// A digest of its text.
    pub script_hash: String,
    /// The `--param` values given.
    pub params: Value,
    /// The run whose results may be re-used (`--resume`).
    pub resume_from: Option<i64>,
    /// Keep every remote call's request and reply (`--record`).
    pub record: bool,
    /// Answer remote calls from this run's recording (`--replay`).
    pub replay_from: Option<i64>,
}

/// A run being recorded. Hand it to the runtime as its journal, then call
/// [`RunJournal::finish`].
pub struct RunJournal {
    /// The run's id in the store.
    pub id: i64,
    inbox: Arc<Inbox<Message>>,
    writer: Mutex<Option<JoinHandle<Result<(), StoreError>>>>,
    reusable: HashMap<String, Recorded>,
    /// Under `--replay`: the recorded calls.
    replay: Option<Replay>,
    record_calls: bool,
    store_dir: PathBuf,
    seq: AtomicI64,
    counts: [AtomicU64; 4],
    /// The succeeded tasks without a key, which the run counts here itself
    /// ([`Journal::unkeyed_count`]); added to `counts[DONE]` at the end.
    unkeyed: Arc<AtomicU64>,
}

impl std::fmt::Debug for RunJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunJournal")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A result recorded by an earlier run, read when a task asks for it.
struct Recorded {
    run: i64,
    value: Option<String>,
    file: Option<String>,
}

/// The calls a recorded run made: replies by request key, and each request
/// (task, agent, inputs) to name the closest one when a call is missing.
struct Replay {
    run: i64,
    replies: HashMap<String, String>,
    requests: Vec<(String, String, Value)>,
}

/// One ended task for the writer: its sequence number, record, key inputs,
/// and the request to keep as a recorded call (`--record`).
type Ended = (i64, TaskRecord, Option<Arc<str>>, Option<Request>);

pub(super) enum Message {
    Task(Box<Ended>),
    /// Answered once everything sent before it is committed.
    Flush(mpsc::Sender<()>),
    /// Values to redact from the key inputs and requests of the tasks after it.
    Secrets(Arc<Secrets>),
    Finish(Box<Finish>),
}

pub(super) struct Finish {
    status: &'static str,
    exit_code: i32,
    result: Option<String>,
    counts: [u64; 4],
}

/// Indexes into [`RunJournal::counts`].
pub(super) const DONE: usize = 0;
pub(super) const CACHED: usize = 1;
pub(super) const FAILED: usize = 2;
pub(super) const SKIPPED: usize = 3;

/// A run's row, written, and what it takes from earlier runs.
pub(super) struct Begun {
    pub(super) id: i64,
    reusable: HashMap<String, Recorded>,
    replay: Option<Replay>,
    record_calls: bool,
}

impl Store {
    /// Starts recording a run: its row is written at once (so `flow runs`
    /// shows it while it runs), and a writer thread takes its tasks.
    pub fn begin(&self, run: NewRun) -> Result<RunJournal, StoreError> {
        let db = self.db();
        let begun = self.write_run_row(run)?;
        let conn = connect(&db, false)?;
        let inbox = Arc::new(Inbox::new());
        let receiver = inbox.clone();
        let dir = self.dir().to_path_buf();
        let id = begun.id;
        let writer = std::thread::Builder::new()
            .name("flow-store".into())
            .spawn(move || write(conn, &dir, id, receiver))
            .map_err(|e| StoreError::new(&db, format!("cannot start its writer: {e}")))?;
        Ok(RunJournal::new(begun, self.dir(), inbox, writer))
    }

    /// Writes the run's row and reads what it re-uses or replays.
    pub(super) fn write_run_row(&self, run: NewRun) -> Result<Begun, StoreError> {
        let db = self.db();
        let owner = super::Owner::this_process();
        let id = self
            .conn()
            .query_row(
                "INSERT INTO runs (kind, script, script_path, script_hash, params, pid, started_at, status, resumed_from, record, replay_of, host, boot_id, pid_started)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
                params![
                    run.kind,
                    run.script,
                    run.script_path,
                    run.script_hash,
                    run.params.to_string(),
                    owner.pid,
                    millis(SystemTime::now()),
                    run.resume_from,
                    run.record,
                    run.replay_from,
                    owner.host,
                    owner.boot,
                    owner.started,
                ],
                |row| row.get(0),
            )
            .map_err(|e| sql_error(&db, e))?;
        let reusable = match run.resume_from {
            Some(from) => self.reusable(from).map_err(|e| sql_error(&db, e))?,
            None => HashMap::new(),
        };
        let replay = match run.replay_from {
            Some(from) => Some(self.recorded_calls(from).map_err(|e| sql_error(&db, e))?),
            None => None,
        };
        Ok(Begun {
            id,
            reusable,
            replay,
            record_calls: run.record,
        })
    }

    /// The results of `run` that a resumed run may re-use, by cache key.
    fn reusable(&self, run: i64) -> rusqlite::Result<HashMap<String, Recorded>> {
        let mut statement = self.conn().prepare(
            "SELECT key, coalesce(reused_from, run), value, value_file FROM tasks
             WHERE run = ?1 AND key IS NOT NULL AND state IN ('succeeded', 'cached')",
        )?;
        let rows = statement.query_map([run], |row| {
            Ok((
                row.get::<_, String>(0)?,
                Recorded {
                    run: row.get(1)?,
                    value: row.get(2)?,
                    file: row.get(3)?,
                },
            ))
        })?;
        rows.collect()
    }
}

impl Store {
    /// The calls `run` recorded.
    fn recorded_calls(&self, run: i64) -> rusqlite::Result<Replay> {
        let mut statement = self.conn().prepare(
            "SELECT request_key, reply, task, agent, request FROM calls WHERE run = ?1 ORDER BY seq",
        )?;
        let mut replay = Replay {
            run,
            replies: HashMap::new(),
            requests: Vec::new(),
        };
        let mut rows = statement.query([run])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            if let Some(reply) = row.get::<_, Option<String>>(1)? {
                replay.replies.insert(key, reply);
            }
            let request: String = row.get(4)?;
            let request = serde_json::from_str(&request).unwrap_or(Value::Null);
            replay.requests.push((row.get(2)?, row.get(3)?, request));
        }
        Ok(replay)
    }

    /// The latest run of a script that recorded its calls (`--record`).
    pub fn latest_recording_of(&self, script_path: &str) -> Result<Option<i64>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id FROM runs WHERE script_path = ?1 AND record = 1 ORDER BY id DESC LIMIT 1",
                [script_path],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&self.db(), e))
    }
}

impl RunJournal {
    /// The journal of a run whose row is written, its writer thread started.
    pub(super) fn new(
        begun: Begun,
        store_dir: &Path,
        inbox: Arc<Inbox<Message>>,
        writer: JoinHandle<Result<(), StoreError>>,
    ) -> RunJournal {
        RunJournal {
            id: begun.id,
            inbox,
            writer: Mutex::new(Some(writer)),
            reusable: begun.reusable,
            replay: begun.replay,
            record_calls: begun.record_calls,
            store_dir: store_dir.to_path_buf(),
            seq: AtomicI64::new(0),
            counts: Default::default(),
            unkeyed: Arc::default(),
        }
    }

    /// The store's folder.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }
}

impl RunJournal {
    /// Ends the run: writes its status, exit code, counts and result, waits
    /// for every task to be committed, and reports a write that failed.
    pub fn finish(
        &self,
        status: crate::RunStatus,
        exit_code: i32,
        result: Option<&Value>,
    ) -> Result<(), StoreError> {
        let result = result
            .map(Value::to_string)
            .filter(|text| text.len() <= INLINE_MAX);
        let mut counts = self.counts.each_ref().map(|c| c.load(Ordering::Relaxed));
        counts[DONE] += self.unkeyed.load(Ordering::Relaxed);
        let finish = Finish {
            status: status.as_str(),
            exit_code,
            result,
            counts,
        };
        self.inbox.push(Message::Finish(Box::new(finish)), true);
        self.inbox.close();
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        match writer.map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::new(
                &self.store_dir,
                "its writer stopped unexpectedly",
            )),
            None => Ok(()),
        }
    }
}

impl RunJournal {
    /// Waits until every task recorded so far is committed, so that a reader
    /// of the store sees it (the REPL's `:log` right after an entry). Returns
    /// at once when the run has finished or its writer stopped.
    pub fn flush(&self) {
        let (ack, done) = mpsc::channel();
        if self.inbox.push(Message::Flush(ack), true) {
            let _ = done.recv();
        }
    }
}

impl Drop for RunJournal {
    fn drop(&mut self) {
        // Without `finish`, the writer still commits what it was given.
        self.inbox.close();
    }
}

impl Journal for RunJournal {
    fn uses_requests(&self) -> bool {
        self.record_calls || self.replay.is_some()
    }

    fn replay(&self, key: &TaskKey) -> Option<Result<Reused, String>> {
        let replay = self.replay.as_ref()?;
        let request = key.request.as_ref()?;
        let Some(reply) = replay.replies.get(&*request.key) else {
            return Some(Err(missing_call(replay, request)));
        };
        let value = serde_json::from_str(reply).unwrap_or(Value::Null);
        Some(Ok(Reused {
            value: Arc::new(value),
            run: replay.run,
        }))
    }

    fn reuse(&self, key: &str) -> Option<Reused> {
        let recorded = self.reusable.get(key)?;
        let text = match (&recorded.value, &recorded.file) {
            (Some(text), _) => std::borrow::Cow::Borrowed(text.as_str()),
            (None, Some(file)) => std::fs::read_to_string(self.store_dir.join(file))
                .ok()?
                .into(),
            (None, None) => return None,
        };
        let value = serde_json::from_str(&text).ok()?;
        Some(Reused {
            value: Arc::new(value),
            run: recorded.run,
        })
    }

    fn secrets(&self, secrets: &Arc<Secrets>) {
        self.inbox.push(Message::Secrets(secrets.clone()), false);
    }

    fn record(&self, record: &TaskRecord, key: Option<&TaskKey>) {
        if self.counted(record) {
            self.send(record.clone(), key);
        }
    }

    fn record_owned(&self, record: TaskRecord, key: Option<&TaskKey>) {
        if self.counted(&record) {
            self.send(record, key);
        }
    }

    fn unkeyed_count(&self) -> Option<Arc<AtomicU64>> {
        Some(self.unkeyed.clone())
    }
}

impl RunJournal {
    /// Counts an ended task; whether it is to be written down too.
    fn counted(&self, record: &TaskRecord) -> bool {
        let count = match record.status {
            TaskStatus::Succeeded => DONE,
            TaskStatus::Cached => CACHED,
            TaskStatus::Skipped => SKIPPED,
            _ => FAILED,
        };
        self.counts[count].fetch_add(1, Ordering::Relaxed);
        // An inline task that succeeded (no key: `echo`, `noop`) is pure and
        // instant; a million-item map of them would be a million rows for
        // nothing. It is counted, not written.
        !(record.status == TaskStatus::Succeeded && record.key.is_none())
    }

    /// Hands an ended task to the writer.
    fn send(&self, record: TaskRecord, key: Option<&TaskKey>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let call = key
            .and_then(|k| k.request.clone())
            .filter(|_| self.record_calls)
            .filter(|_| matches!(record.status, TaskStatus::Succeeded | TaskStatus::Cached));
        let inputs = key.map(|k| k.inputs.clone());
        let message = Message::Task(Box::new((seq, record, inputs, call)));
        self.inbox.push(message, false);
    }
}

/// The writer thread: commits ended tasks in batches (all that arrived while
/// the last batch was written), then the run's end.
pub(super) fn write(
    mut conn: Connection,
    store: &Path,
    run: i64,
    inbox: Arc<Inbox<Message>>,
) -> Result<(), StoreError> {
    let mut failed: Option<StoreError> = None;
    // The secrets of every run that used this journal so far (a REPL session's entries).
    let mut secrets = Secrets::default();
    // Long ago: the first task is committed as soon as it ends.
    let now = Instant::now();
    let mut last_commit = now.checked_sub(COMMIT_INTERVAL).unwrap_or(now);
    // Commits are at least COMMIT_INTERVAL apart: a task that ends after a
    // quiet spell is committed at once, tasks that end in a rush wait for the
    // rest of the interval and go together. The run's end and a flush are
    // committed at once.
    while let Some(batch) = inbox.take(last_commit + COMMIT_INTERVAL) {
        let last = batch.iter().any(|m| matches!(m, Message::Finish(_)));
        let acks: Vec<mpsc::Sender<()>> = batch
            .iter()
            .filter_map(|m| match m {
                Message::Flush(ack) => Some(ack.clone()),
                _ => None,
            })
            .collect();
        if failed.is_none() {
            if let Err(e) = commit(&mut conn, store, run, batch, &mut secrets) {
                failed = Some(e);
            }
            last_commit = Instant::now();
        }
        for ack in acks {
            let _ = ack.send(());
        }
        if last {
            break;
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn commit(
    conn: &mut Connection,
    store: &Path,
    run: i64,
    batch: Vec<Message>,
    secrets: &mut Secrets,
) -> Result<(), StoreError> {
    let db = store.join(super::DB_FILE);
    let sql = |e| sql_error(&db, e);
    let tx = conn.transaction().map_err(sql)?;
    let mut inserts = Inserts {
        tx: &tx,
        task: None,
        attempt: None,
    };
    for message in batch {
        match message {
            Message::Task(task) => {
                let (seq, record, inputs, call) = *task;
                // The record is redacted already (by the runtime); what its
                // key was computed from is redacted here, off the scheduler.
                let inputs = inputs.as_deref().map(|text| secrets.redact(text));
                insert_task(&mut inserts, store, run, seq, &record, inputs.as_deref())?;
                if let Some(request) = call {
                    let content = request.content.to_string();
                    let content = secrets.redact(&content);
                    insert_call(&tx, run, seq, &record, &request.key, &content).map_err(sql)?;
                }
            }
            Message::Flush(_) => {}
            Message::Secrets(more) => secrets.extend(&more),
            Message::Finish(finish) => {
                tx.execute(
                    "UPDATE runs SET ended_at = ?2, status = ?3, exit_code = ?4, result = ?5,
                     done = ?6, cached = ?7, failed = ?8, skipped = ?9 WHERE id = ?1",
                    params![
                        run,
                        millis(SystemTime::now()),
                        finish.status,
                        finish.exit_code,
                        finish.result,
                        finish.counts[DONE] as i64,
                        finish.counts[CACHED] as i64,
                        finish.counts[FAILED] as i64,
                        finish.counts[SKIPPED] as i64,
                    ],
                )
                .map_err(sql)?;
            }
        }
    }
    drop(inserts);
    tx.commit().map_err(sql)
}

/// A commit's inserts of tasks, each statement prepared at its first use
/// and kept for the batch: a cached statement is found, and given back, by
/// a hash of its text, which for one row cost about as much as writing it.
struct Inserts<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    task: Option<rusqlite::CachedStatement<'t>>,
    attempt: Option<rusqlite::CachedStatement<'t>>,
}

/// The statement in `slot`, prepared (from the connection's cache) if it is not yet.
fn prepared<'s, 't>(
    slot: &'s mut Option<rusqlite::CachedStatement<'t>>,
    tx: &'t rusqlite::Transaction<'t>,
    sql: &str,
) -> rusqlite::Result<&'s mut rusqlite::CachedStatement<'t>> {
    match slot {
        Some(statement) => Ok(statement),
        none => Ok(none.insert(tx.prepare_cached(sql)?)),
    }
}

fn insert_task(
    inserts: &mut Inserts<'_>,
    store: &Path,
    run: i64,
    seq: i64,
    record: &TaskRecord,
    inputs: Option<&str>,
) -> Result<(), StoreError> {
    let sql = |e| sql_error(&store.join(super::DB_FILE), e);
    let relative = |name: String| format!("runs/{run}/{name}");
    // Big values and logs go to files; the row names them.
    let spill = |name: String, text: &str| -> Result<String, StoreError> {
        let path = relative(name);
        let full = store.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::new(parent, e))?;
        }
        std::fs::write(&full, text).map_err(|e| StoreError::new(&full, e))?;
        Ok(path)
    };
    let (mut value, mut value_file) = (None, None);
    if let Some(output) = &record.output {
        // As `to_string` writes it, without going through `Display`.
        let text = serde_json::to_string(&**output).unwrap_or_default();
        if text.len() > INLINE_MAX {
            value_file = Some(spill(format!("{seq}.json"), &text)?);
        } else {
            value = Some(text);
        }
    }
    let mut logs: [(Option<&str>, Option<String>); 2] = [(None, None), (None, None)];
    if let Some(l) = &record.logs {
        for (i, (text, ext)) in [(&l.stdout, "stdout"), (&l.stderr, "stderr")]
            .into_iter()
            .enumerate()
        {
            if text.len() > INLINE_MAX / 4 {
                logs[i].1 = Some(spill(format!("{seq}.{ext}"), text)?);
            } else if !text.is_empty() {
                logs[i].0 = Some(text);
            }
        }
    }
    prepared(
        &mut inserts.task,
        inserts.tx,
        "INSERT INTO tasks (run, seq, task, agent, key, state, attempts, started_at, ended_at,
         duration_ms, value, value_file, error, notes, stdout, stderr, stdout_file, stderr_file,
         usage, inputs, reused_from)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    )
    .and_then(|insert| {
        insert.execute(params![
            run,
            seq,
            record.id(),
            &*record.agent,
            record.key.as_deref(),
            record.status.as_str(),
            record.attempts,
            record.started_at.map(millis),
            record.ended_at.map(millis),
            record.duration.map(|d| d.as_secs_f64() * 1e3),
            value,
            value_file,
            record.error,
            (!record.notes.is_empty()).then(|| Value::from(record.notes.clone()).to_string()),
            logs[0].0,
            logs[1].0,
            logs[0].1,
            logs[1].1,
            record.usage.as_ref().and_then(|u| serde_json::to_string(u).ok()),
            inputs,
            record.reused_from,
        ])
    })
    .map_err(sql)?;
    // One attempt that succeeded says nothing its task's row does not.
    let single = record.history.len() == 1 && record.status == TaskStatus::Succeeded;
    for (i, a) in record.history.iter().enumerate().filter(|_| !single) {
        let attempt = prepared(
            &mut inserts.attempt,
            inserts.tx,
            "INSERT INTO attempts (run, seq, attempt, started_at, ended_at, status, exit_code, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(sql)?;
        attempt
            .execute(params![
                run,
                seq,
                i as i64 + 1,
                millis(a.started_at),
                millis(a.ended_at),
                a.status.as_str(),
                a.exit_code,
                a.error,
            ])
            .map_err(sql)?;
    }
    Ok(())
}

/// Keeps a remote call's request and reply (its value).
fn insert_call(
    tx: &rusqlite::Transaction<'_>,
    run: i64,
    seq: i64,
    record: &TaskRecord,
    key: &str,
    request: &str,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO calls (run, seq, task, agent, request_key, request, reply)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        run,
        seq,
        record.id(),
        &*record.agent,
        key,
        request,
        record.output.as_ref().map(|v| v.to_string()),
    ])
}

/// Why a call has no recorded reply, naming the closest recorded call.
fn missing_call(replay: &Replay, request: &Request) -> String {
    let agent = request
        .content
        .get("agent")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut message = format!(
        "no recorded reply to this `{agent}` call in run {} (`--replay` answers only what `--record` kept)",
        replay.run
    );
    let closest = replay
        .requests
        .iter()
        .filter(|(_, a, _)| a == agent)
        .map(|(task, _, recorded)| {
            let differences = super::why::differences(recorded, &request.content);
            // Fewest differences first; then the most alike in text.
            let alike =
                strsim::normalized_levenshtein(&recorded.to_string(), &request.content.to_string());
            (task, differences, alike)
        })
        .min_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.2.total_cmp(&a.2)));
    match closest {
        Some((task, differences, _)) => {
            message.push_str(&format!("; the closest recorded call is `{task}`, where "));
            message.push_str(&differences.join("; "));
        }
        None => message.push_str(&format!("; it recorded no call of `{agent}`")),
    }
    message
}

/// The latest run of a script (by its absolute path), other than `except`.
pub(crate) fn latest_run_of(
    conn: &Connection,
    script_path: &str,
    except: Option<i64>,
) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM runs WHERE script_path = ?1 AND id != ?2 ORDER BY id DESC LIMIT 1",
        params![script_path, except.unwrap_or(-1)],
        |row| row.get(0),
    )
    .optional()
}
