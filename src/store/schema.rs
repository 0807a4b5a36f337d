//! The store's schema and its migrations. `PRAGMA user_version` holds the
//! version; each migration takes the database one version up, in one
//! transaction, so a store is never left half-migrated.

use rusqlite::Connection;

/// The version this build writes. A store of a newer version is refused,
/// never written to.
pub const VERSION: i64 = 4;

/// Migration `i` takes a store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: runs, tasks, attempts, recorded calls.
    "
    CREATE TABLE runs (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT NOT NULL,            -- run | repl
        script       TEXT NOT NULL,            -- the path as given
        script_path  TEXT NOT NULL,            -- absolute, to find earlier runs of it
        script_hash  TEXT NOT NULL,
        params       TEXT NOT NULL,            -- JSON object of --param values
        pid          INTEGER NOT NULL,
        started_at   INTEGER NOT NULL,         -- ms since the Unix epoch
        ended_at     INTEGER,
        status       TEXT NOT NULL,            -- running | succeeded | failed | cancelled
        exit_code    INTEGER,
        resumed_from INTEGER,
        record       INTEGER NOT NULL DEFAULT 0,
        replay_of    INTEGER,
        done         INTEGER NOT NULL DEFAULT 0,
        cached       INTEGER NOT NULL DEFAULT 0,
        failed       INTEGER NOT NULL DEFAULT 0,
        skipped      INTEGER NOT NULL DEFAULT 0,
        result       TEXT                      -- JSON, when it fits (else NULL)
    );
    CREATE INDEX runs_by_script ON runs(script_path, id);

    CREATE TABLE tasks (
        run          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq          INTEGER NOT NULL,         -- the order tasks ended in
        task         TEXT NOT NULL,            -- the id as the language names it
        agent        TEXT NOT NULL,
        key          TEXT,                     -- the cache key
        state        TEXT NOT NULL,
        attempts     INTEGER NOT NULL,
        started_at   INTEGER,
        ended_at     INTEGER,
        duration_ms  REAL,
        value        TEXT,                     -- JSON, or NULL when in value_file
        value_file   TEXT,                     -- relative to the store
        error        TEXT,
        notes        TEXT,                     -- JSON list
        stdout       TEXT,
        stderr       TEXT,
        stdout_file  TEXT,
        stderr_file  TEXT,
        usage        TEXT,                     -- JSON
        inputs       TEXT,                     -- JSON: what the key was computed from
        reused_from  INTEGER,
        PRIMARY KEY (run, seq)
    ) WITHOUT ROWID;

    CREATE TABLE attempts (
        run          INTEGER NOT NULL,
        seq          INTEGER NOT NULL,
        attempt      INTEGER NOT NULL,
        started_at   INTEGER NOT NULL,
        ended_at     INTEGER NOT NULL,
        status       TEXT NOT NULL,
        exit_code    INTEGER,
        error        TEXT,
        PRIMARY KEY (run, seq, attempt),
        FOREIGN KEY (run) REFERENCES runs(id) ON DELETE CASCADE
    ) WITHOUT ROWID;

    CREATE TABLE calls (
        run          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq          INTEGER NOT NULL,
        task         TEXT NOT NULL,
        agent        TEXT NOT NULL,
        request_key  TEXT NOT NULL,            -- digest of the request
        request      TEXT NOT NULL,            -- JSON
        reply        TEXT,                     -- JSON, NULL when the call failed
        error        TEXT,
        PRIMARY KEY (run, seq)
    ) WITHOUT ROWID;
    CREATE INDEX calls_by_request ON calls(request_key);
    ",
    // 1 → 2: questions put to a person (`approve`), answered by `flow approve`
    // and `flow deny` from another shell. Only adds a table.
    "
    CREATE TABLE approvals (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        run          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        task         TEXT NOT NULL,            -- the asking task's id
        question     TEXT NOT NULL,
        details      TEXT NOT NULL,            -- JSON object: the call's named arguments
        asked_at     INTEGER NOT NULL,         -- ms since the Unix epoch
        timeout_ms   INTEGER,                  -- the call's timeout, if any
        state        TEXT NOT NULL,            -- pending | approved | denied | timed_out | cancelled
        decided_at   INTEGER,
        decided_by   TEXT,                     -- a user name, else where it was answered
        via          TEXT,                     -- cli | terminal
        reason       TEXT
    );
    CREATE INDEX approvals_by_state ON approvals(state, run);
    ",
    // 2 → 3: who runs a run, beyond its pid (`owner.rs`): a store shared by
    // several hosts, and pids reused. Older runs keep NULLs: judged by pid.
    "
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN boot_id TEXT;
    ALTER TABLE runs ADD COLUMN pid_started INTEGER;
    ",
    // 3 → 4: the runs still going, which every `flow run` looks for before
    // it starts (`killed_runs`), found without reading the whole table:
    // it grew by a row a run, and its scan by ~0.25 µs a run (0.5 ms at
    // 2,000 runs) on every start.
    "
    CREATE INDEX runs_running ON runs(status) WHERE status = 'running';
    ",
];

/// The store's version, or why it cannot be used.
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the store up to [`VERSION`]. `Err(found)` when it is newer.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), i64>> {
    // Up to date (the common case): no write transaction at all.
    let found = version(conn)?;
    if found == VERSION {
        return Ok(Ok(()));
    }
    // One writer migrates; another `flow` waits for it, then finds it done.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found > VERSION {
        return Ok(Err(found));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
    }
    tx.commit()?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::super::{query::RUNNING_RUNS, Store};

    /// How SQLite would run `sql` on a store just made.
    fn plan(sql: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut statement = store
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let details = statement
            .query_map([], |row| row.get::<_, String>("detail"))
            .unwrap();
        details.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn the_runs_still_going_are_found_by_index_not_by_reading_every_run() {
        let plan = plan(RUNNING_RUNS);
        assert!(plan.contains("USING INDEX runs_running"), "{plan}");
    }

    #[test]
    fn a_new_store_is_at_the_latest_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(super::version(store.conn()).unwrap(), super::VERSION);
    }
}
