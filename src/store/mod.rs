//! The run store: every run and its tasks, in SQLite under `.flow/` (see
//! `docs/store.md`).
//!
//! ```text
//! .flow/
//!   flow.db            runs, tasks, attempts, recorded calls, approvals (WAL mode)
//!   runs/<run>/        values and logs too big for the database
//! ```
//!
//! A run writes through a [`RunJournal`]: the scheduler hands each ended
//! task to it (the runtime's [`Journal`](crate::runtime::Journal) seam), and
//! a writer thread commits them in batches, so the run never waits for the
//! disk. What was committed survives a `kill -9` of `flow`. Readers
//! (`flow runs`, `flow log`, `flow why`) open the same database; two `flow`s
//! may share a store.
//!
//! | file | what it holds |
//! |---|---|
//! | `schema.rs` | the tables and their migrations |
//! | `journal.rs` | a run being written: the writer thread, re-used results |
//! | `worker.rs` | `flow run`'s store on its own thread: opened while the script compiles, then the writer |
//! | `inbox.rs` | the queue to the writer, which wakes it once per batch |
//! | `query.rs` | reading runs and tasks back, removing old runs |
//! | `timeline.rs` | a whole run read back for a report (`flow report`) |
//! | `why.rs` | why a task ran or was re-used, in words |
//! | `approvals.rs` | questions put to a person (`approve`), answered from another shell |

mod approvals;
mod inbox;
mod journal;
mod owner;
mod query;
mod schema;
mod timeline;
pub mod why;
mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use approvals::{ApprovalRow, Decided, StoreApprover};
pub use journal::{NewRun, RunJournal};
pub use owner::Owner;
pub use query::{took_ms, AttemptRow, RunRow, TaskRow};
pub use timeline::TaskLine;
pub use worker::StoreWorker;

/// The database file inside a store's folder.
pub const DB_FILE: &str = "flow.db";

/// A store: its folder and a connection to its database.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    conn: Connection,
}

/// Why a store cannot be used: the path, what went wrong, and the way out.
#[derive(Clone, Debug)]
pub struct StoreError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run store `{}`: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    fn new(path: &Path, message: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

/// How long a writer waits for another `flow` holding the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Opens the store in `dir`, creating the folder and the database when
    /// they do not exist, and migrating an older one.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::new(dir, io_reason(&e)))?;
        let db = dir.join(DB_FILE);
        for path in [dir, &db] {
            if let Some(mode) = read_only(path) {
                return Err(StoreError::new(
                    path,
                    format!("it is read-only (mode {mode:o}); flow will not write to it"),
                ));
            }
        }
        let conn = connect(&db, true)?;
        let mut store = Store {
            dir: dir.to_path_buf(),
            conn,
        };
        match schema::migrate(&mut store.conn) {
            Ok(Ok(())) => Ok(store),
            Ok(Err(found)) => Err(StoreError::new(
                &db,
                format!(
                    "it was written by a newer flow (schema version {found}; this flow knows up to {})",
                    schema::VERSION
                ),
            )),
            Err(e) => Err(sql_error(&db, e)),
        }
    }

    /// Opens an existing store to read it; `Ok(None)` when there is none.
    pub fn open_existing(dir: &Path) -> Result<Option<Store>, StoreError> {
        let db = dir.join(DB_FILE);
        if !db.exists() {
            return Ok(None);
        }
        let conn = connect(&db, false)?;
        let found = schema::version(&conn).map_err(|e| sql_error(&db, e))?;
        if found > schema::VERSION {
            return Err(StoreError::new(
                &db,
                format!("it was written by a newer flow (schema version {found})"),
            ));
        }
        if found < schema::VERSION {
            // Written by an older flow and not migrated yet: migrate it now.
            return Store::open(dir).map(Some);
        }
        Ok(Some(Store {
            dir: dir.to_path_buf(),
            conn,
        }))
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn db(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    /// The folder of a run's big values and logs.
    pub fn run_dir(&self, run: i64) -> PathBuf {
        self.dir.join("runs").join(run.to_string())
    }
}

/// The permission bits of `path` when none lets anyone write to it. Checked
/// by hand because the system lets `root` write anyway: a folder made
/// read-only is not written to, whoever runs `flow`.
fn read_only(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o222 == 0).then_some(mode)
}

/// A connection with the store's settings: WAL (readers never block the
/// writer), `synchronous = NORMAL` (a commit survives the process being
/// killed; only a power loss can undo the last ones), foreign keys on.
fn connect(db: &Path, create: bool) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(db, flags).map_err(|e| sql_error(db, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sql_error(db, e))?;
    let mode = wal_mode(&conn).map_err(|e| sql_error(db, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::new(
            db,
            format!("cannot switch the database to WAL mode (it stays in `{mode}` mode)"),
        ));
    }
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 256;
         PRAGMA journal_size_limit = 4194304;",
    )
    .map_err(|e| sql_error(db, e))?;
    // `journal_size_limit`: SQLite reuses the log file after a checkpoint
    // instead of shrinking it, so one big commit (a run of many tasks with
    // big values) left a log of its size beside the database for good. The
    // log is now cut back to 4 MiB, four times what a checkpoint leaves it
    // to grow to, when it starts over after a checkpoint.
    // Closing the last connection would checkpoint the log into the database
    // (four fsyncs: 15 ms on every `flow run`); SQLite's automatic checkpoint
    // does it often enough, and the log is as durable. Every 256 pages (1 MiB),
    // not SQLite's 1,000: each `flow` is the store's first connection, which
    // reads the whole log to index it, so a long log cost every run about a
    // millisecond; a checkpoint costs two fsyncs every 50 or so small runs.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(|e| sql_error(db, e))?;
    Ok(conn)
}

/// Switches the database to WAL mode and says which mode it is in. The
/// switch needs the database to itself and SQLite does not call the busy
/// handler for it, so while another `flow` creates the same store it is
/// tried again, for as long as any other wait on the store.
fn wal_mode(conn: &Connection) -> rusqlite::Result<String> {
    let start = std::time::Instant::now();
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && start.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

/// An SQLite error in words a user can act on.
fn sql_error(db: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let message = match e.sqlite_error_code() {
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::PermissionDenied) => {
            "it cannot be written (a read-only folder or file)".to_string()
        }
        Some(ErrorCode::CannotOpen) => {
            "it cannot be opened (check the folder's permissions)".into()
        }
        Some(ErrorCode::DiskFull) => "the disk is full".to_string(),
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            "it is not a flow store (or it is damaged)".to_string()
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => format!(
            "another flow held it for more than {} s",
            BUSY_TIMEOUT.as_secs()
        ),
        _ => e.to_string(),
    };
    StoreError::new(db, message)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::ReadOnlyFilesystem => "a read-only file system".to_string(),
        std::io::ErrorKind::StorageFull => "the disk is full".to_string(),
        _ => e.to_string(),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn millis(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log's size on disk, in bytes.
    fn log_size(db: &Path) -> u64 {
        let wal = db.with_file_name(format!("{DB_FILE}-wal"));
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    #[test]
    fn a_big_commit_does_not_leave_a_big_log_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(DB_FILE);
        let conn = connect(&db, true).unwrap();
        conn.execute_batch("CREATE TABLE big (x BLOB)").unwrap();
        // One commit of 16 MiB: the log grows to hold all of it.
        conn.execute_batch("BEGIN").unwrap();
        for _ in 0..16 {
            conn.execute("INSERT INTO big VALUES (zeroblob(1048576))", [])
                .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        assert!(log_size(&db) > 16 << 20, "the log held the commit");
        // The commit's automatic checkpoint copied it into the database; the
        // next write starts the log over, and cuts it back.
        conn.execute("INSERT INTO big VALUES (1)", []).unwrap();
        let size = log_size(&db);
        assert!(size <= 4 << 20, "the log stayed at {size} bytes");
    }
}
