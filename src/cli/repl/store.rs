//! The session in the run store (`docs/store.md`, "The REPL"): one run of
//! kind `repl` per session, into which every entry's tasks are recorded, and
//! `:log` and `:why`, which read that run back.
//!
//! The run begins when the first entry runs, not when the REPL starts: a
//! session that only reads `:help` or has a syntax error leaves no empty run
//! in `flow runs`. The store itself is opened at start, so that one that
//! cannot be used is said at once.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::commands::Reply;
use super::session::Session;
use crate::cli::exit;
use crate::cli::store::{store_error, task_log};
use crate::runtime::{Journal, RunStatus};
use crate::store::{why, NewRun, RunJournal, Store, StoreApprover, TaskRow};
use crate::value;

/// The session's run once begun, shared with the SIGTERM watcher, which
/// finishes it when flow is terminated at the prompt.
pub type RunSlot = Arc<Mutex<Option<Arc<RunJournal>>>>;

/// Where a session records its tasks.
#[derive(Debug)]
pub(crate) struct Recorder {
    store: Store,
    /// The run to begin at the first entry that runs.
    run: NewRun,
    journal: RunSlot,
    /// Questions of `approve` calls, asked through the session's run.
    asks: Option<StoreApprover>,
}

impl Session {
    /// Records the session's tasks in `store`, as one run of kind `repl`
    /// (the `--param` values are the run's params). Returns the run's slot.
    pub fn record_in(&mut self, store: Store, params: &[(String, Value)]) -> RunSlot {
        let folder = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let run = NewRun {
            kind: "repl",
            script: "(repl)".into(),
            // Stable per folder: `flow why` compares a session with the
            // session before it in the same folder.
            script_path: format!("<repl> {folder}"),
            script_hash: crate::runtime::digest(b"(repl)"),
            params: Value::Object(params.iter().cloned().collect()),
            resume_from: None,
            record: false,
            replay_from: None,
        };
        let journal = RunSlot::default();
        self.recorder = Some(Recorder {
            store,
            run,
            journal: journal.clone(),
            asks: None,
        });
        journal
    }

    /// The journal for an entry's run: the session's run, begun now when
    /// this is the first entry that runs. A run that cannot begin is said
    /// once, and the session goes on without recording.
    pub(super) fn entry_journal(&mut self) -> Option<Arc<dyn Journal>> {
        let recorder = self.recorder.as_ref()?;
        let begun = {
            let mut slot = recorder.journal.lock().ok()?;
            if slot.is_none() {
                *slot = recorder
                    .store
                    .begin(recorder.run.clone())
                    .map(Arc::new)
                    .map_err(|e| {
                        store_error(&e);
                    })
                    .ok();
            }
            slot.clone()
        };
        if begun.is_none() {
            errln!("warning: this session goes on without recording its tasks (`:log` and `:why` have nothing to show)");
            self.recorder = None;
        }
        begun.map(|j| j as Arc<dyn Journal>)
    }

    /// The session's run, once an entry has begun it.
    fn begun_run(&self) -> Option<Arc<RunJournal>> {
        let recorder = self.recorder.as_ref()?;
        recorder.journal.lock().ok().and_then(|j| j.clone())
    }

    /// How an entry's Slurm jobs are submitted: named and tagged by the
    /// session's run once it has begun, as `flow run` tags its run's, so
    /// that a command after a killed session finds and cancels them.
    pub(super) fn slurm_options(&self) -> crate::exec::SlurmOptions {
        let begun = self.begun_run();
        let stored = begun.as_ref().map(|j| (j.store_dir(), j.id));
        crate::cli::run::slurm_options(self.options().slurm_work_dir.as_deref(), stored)
    }

    /// Who answers an entry's `approve` calls: the person at the terminal
    /// (an interactive session), and other shells through the session's run
    /// (`flow approve RUN TASK`), whichever answers first.
    pub(super) fn entry_approver(&mut self) -> Arc<dyn crate::agent::Approver> {
        let store = self.recorder.as_mut().and_then(|r| {
            if r.asks.is_none() {
                let run = r.journal.lock().ok()?.as_ref()?.id;
                r.asks = Some(r.store.approver(run));
            }
            r.asks.clone()
        });
        let dir = (self.recorder.as_ref())
            .map(|r| r.store.dir())
            .filter(|dir| *dir != std::path::Path::new(crate::cli::store::DEFAULT_DIR));
        crate::cli::ask::approver(
            self.options().terminal,
            store,
            dir,
            "the session is not recorded (`--no-store`), so no other shell can answer",
        )
    }

    /// Ends the session's run, if one began, with the session's exit code:
    /// succeeded (0), cancelled (130: Ctrl-C or SIGTERM) or failed.
    pub fn finish_run(&self, code: u8) {
        if let Some(journal) = self.begun_run() {
            finish(&journal, code);
        }
    }

    /// The ids of the tasks recorded so far, for Tab after `:log` and `:why`.
    pub fn task_ids(&self) -> Vec<String> {
        let Some(recorder) = &self.recorder else {
            return Vec::new();
        };
        let run = recorder
            .journal
            .lock()
            .ok()
            .and_then(|j| j.as_ref().map(|j| j.id));
        run.and_then(|run| recorder.store.task_ids(run).ok())
            .unwrap_or_default()
    }
}

/// Writes the end of the session's run.
pub(super) fn finish(journal: &RunJournal, code: u8) {
    let status = match code {
        exit::OK => RunStatus::Succeeded,
        exit::INTERRUPTED => RunStatus::Cancelled,
        _ => RunStatus::Failed,
    };
    if let Err(e) = journal.finish(status, i32::from(code), None) {
        errln!("warning: this session was not fully recorded: {e}");
    }
}

/// The session's run: its store and its tasks so far, every one committed.
fn recorded(session: &Session) -> Result<(&Store, Vec<TaskRow>), Reply> {
    let Some(recorder) = &session.recorder else {
        return Err(Reply::Error(
            "this session is not recorded (`--no-store`, or the run store could not be used)"
                .to_string(),
        ));
    };
    let journal = recorder.journal.lock().ok().and_then(|j| j.clone());
    let Some(journal) = journal else {
        return Err(Reply::Text(
            "no entry has run in this session yet\n".to_string(),
        ));
    };
    journal.flush();
    match recorder.store.tasks(journal.id) {
        Ok(tasks) => Ok((&recorder.store, tasks)),
        Err(e) => Err(Reply::Error(e.to_string())),
    }
}

/// The latest task with this id (a session may run `x` more than once),
/// its place, and how many there are.
fn latest<'a>(tasks: &'a [TaskRow], name: &str) -> Result<(usize, &'a TaskRow, usize), Reply> {
    let count = tasks.iter().filter(|t| t.task == name).count();
    if let Some(i) = tasks.iter().rposition(|t| t.task == name) {
        return Ok((i, &tasks[i], count));
    }
    let ids = distinct_ids(tasks);
    // A `map`, a flow call or a `try` is made of tasks under its name,
    // listed in their order (`m[2]` before `m[10]`), not the order they ended.
    let mut under: Vec<&String> = (ids.iter())
        .filter(|id| {
            id.strip_prefix(name)
                .is_some_and(|r| r.starts_with(['[', '.', '@']))
        })
        .collect();
    under.sort_by_key(|id| (id.len(), *id));
    let under: Vec<String> = under.iter().take(8).map(|id| format!("`{id}`")).collect();
    let hint = match value::suggest(name, ids.iter().map(String::as_str)) {
        _ if !under.is_empty() => format!("; `{name}` is made of tasks: {}", under.join(", ")),
        Some(s) => format!("; did you mean `{s}`?"),
        None if ids.is_empty() => "; it recorded none yet".to_string(),
        None => format!(
            "; its tasks include {}",
            ids.iter()
                .take(8)
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(Reply::Error(format!(
        "no task `{name}` in this session (pure steps such as `echo` are not recorded){hint}"
    )))
}

fn distinct_ids(tasks: &[TaskRow]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for t in tasks {
        if !ids.contains(&t.task) {
            ids.push(t.task.clone());
        }
    }
    ids
}

/// `:log [TASK…]`: what the latest task of each id printed; with no id,
/// every task of the session that printed something (as `flow log`).
pub(super) fn log(session: &Session, arg: &str) -> Reply {
    let (store, tasks) = match recorded(session) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let mut chosen = Vec::new();
    if arg.is_empty() {
        chosen.extend(
            (tasks.iter())
                .filter(|t| !t.stdout.is_empty() || !t.stderr.is_empty())
                .map(|t| (t, 1)),
        );
        if chosen.is_empty() {
            return Reply::Text("no task of this session printed anything\n".to_string());
        }
    }
    for name in arg.split_whitespace() {
        match latest(&tasks, name) {
            Ok((_, task, count)) => chosen.push((task, count)),
            Err(reply) => return reply,
        }
    }
    let mut out = String::new();
    for (i, (task, count)) in chosen.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let text = task_log(store, task);
        let (header, rest) = text.split_once('\n').unwrap_or((&text, ""));
        out.push_str(header);
        out.push('\n');
        if count > 1 {
            out.push_str(&format!(
                "the latest of {count} tasks `{}` in this session\n",
                task.task
            ));
        }
        out.push_str(rest);
    }
    Reply::Text(out)
}

/// `:why [TASK…]`: why the latest task of each id ran, compared with the
/// task of the same id before it in the session; with no id, every id.
pub(super) fn why(session: &Session, arg: &str) -> Reply {
    let (_, tasks) = match recorded(session) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let names: Vec<String> = if arg.is_empty() {
        distinct_ids(&tasks)
    } else {
        arg.split_whitespace().map(str::to_string).collect()
    };
    if names.is_empty() {
        return Reply::Text(
            "no task of this session was recorded (pure steps such as `echo` are not)\n"
                .to_string(),
        );
    }
    let mut out = String::new();
    for name in &names {
        let (i, task, _) = match latest(&tasks, name) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let earlier = tasks[..i].iter().rev().find(|t| &t.task == name);
        out.push_str(&format!("{name}: {}\n", explain(task, earlier).join("\n")));
    }
    Reply::Text(out)
}

/// Why a task of the session ran, given the task of the same id before it.
/// A session re-uses no result: each entry runs its tasks, so the question
/// is what changed since the earlier one.
fn explain(task: &TaskRow, earlier: Option<&TaskRow>) -> Vec<String> {
    if matches!(task.state.as_str(), "cached" | "skipped") {
        return why::explain(task, false, None);
    }
    let ran = why::ran(&task.state);
    let id = &task.task;
    let Some(before) = earlier else {
        return vec![format!(
            "{ran}: it is the first `{id}` of this session; there is no earlier one to compare it with"
        )];
    };
    let mut reasons = Vec::new();
    match before.state.as_str() {
        "succeeded" | "cached" => {}
        "skipped" => reasons.push("the earlier one did not run (skipped)".to_string()),
        "cancelled" => reasons.push("the earlier one was cancelled".to_string()),
        state => reasons.push(format!(
            "the earlier one failed: {}",
            why::shorten(before.error.as_deref().unwrap_or(state), 80)
        )),
    }
    if before.key.is_some() && before.key == task.key {
        reasons.push(
            "its inputs are the same as the earlier one's; a REPL entry runs its tasks again (it re-uses no result)"
                .to_string(),
        );
    } else if let (Some(old), Some(new)) = (&before.inputs, &task.inputs) {
        reasons.extend(why::differences(old, new));
    }
    if reasons.is_empty() {
        reasons.push("its inputs differ from the earlier one's".to_string());
    }
    let mut lines = vec![format!(
        "{ran} (compared with the earlier `{id}` of this session):"
    )];
    lines.extend(reasons.into_iter().map(|r| format!("  - {r}")));
    lines
}
