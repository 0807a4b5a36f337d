//! The run's row: what `flow run` asks the store before its first task (the
//! run `--resume` or `--replay` names, what killed runs left on a cluster),
//! then the row itself, all on the store's thread.

use serde_json::Value;

use super::RunArgs;
use crate::cli::store::{run_of, script_path, store_error};
use crate::cli::{exit, slurm};
use crate::store::{NewRun, RunJournal, Store, StoreWorker};

/// Starts recording the run: cancels what killed runs left on a cluster,
/// finds the run `--resume` names (or the latest of this script) and writes
/// the run's row, all on the store's thread.
pub(super) fn begin_run(
    worker: StoreWorker,
    args: &RunArgs,
    script: &crate::engine::Script,
    hashed: Option<std::sync::mpsc::Receiver<String>>,
) -> Result<RunJournal, u8> {
    // Who runs the run (its row names the host, the boot and this process's
    // start: `store/owner.rs`), read here while the store's thread is most
    // likely still opening the store, rather than after, on its way.
    crate::store::Owner::this_process();
    let script_path = script_path(&args.script);
    let given = args.exec.given_params().map_err(|message| {
        errln!("error: {message}");
        exit::USAGE
    })?;
    let (resume, replay) = (args.resume.clone(), args.replay.clone());
    let (shown, path) = (args.script.display().to_string(), script_path.clone());
    let earlier = worker.call(move |store| {
        slurm::cancel_strays(store);
        let resume_from = match resume.as_deref() {
            None => None,
            Some("latest") => match store.latest_ended_run_of(&path) {
                Ok((ended, going)) => {
                    if !going.is_empty() {
                        let runs: Vec<String> = going.iter().map(i64::to_string).collect();
                        let (s, are) = if going.len() == 1 { ("", "is") } else { ("s", "are") };
                        errln!(
                            "note: run{s} {} of `{shown}` {are} still going: not resumed from",
                            runs.join(", ")
                        );
                    }
                    if ended.is_none() {
                        errln!("note: no earlier run of `{shown}` to resume; every task runs");
                    }
                    ended
                }
                Err(e) => return Err(store_error(&e)),
            },
            Some(text) => Some(named_run(store, "--resume", text)?),
        };
        let replay_from = match replay.as_deref() {
            None => None,
            Some("latest") => match store.latest_recording_of(&path) {
                Ok(Some(run)) => Some(run),
                Ok(None) => {
                    errln!(
                        "error: no run of `{shown}` was recorded; record one with `flow run --record`"
                    );
                    return Err(exit::USAGE);
                }
                Err(e) => return Err(store_error(&e)),
            },
            Some(text) => Some(named_run(store, "--replay", text)?),
        };
        Ok((resume_from, replay_from))
    });
    let (resume_from, replay_from) = earlier.map_err(|e| store_error(&e))??;
    let params: serde_json::Map<String, Value> = given.into_iter().collect();
    let run = NewRun {
        kind: "run",
        script: args.script.display().to_string(),
        script_path,
        // hashed while it compiled, or here
        script_hash: hashed
            .and_then(|hashed| hashed.recv().ok())
            .unwrap_or_else(|| crate::runtime::digest(script.source.text.as_bytes())),
        params: Value::Object(params),
        resume_from,
        record: args.record,
        replay_from,
    };
    worker.begin(run).map_err(|e| store_error(&e))
}

/// The run `--resume=RUN` or `--replay=RUN` names, which must exist.
fn named_run(store: &Store, flag: &str, text: &str) -> Result<i64, u8> {
    let Ok(id) = text.parse::<i64>() else {
        errln!("error: `{flag}={text}` needs a run number (`flow runs` lists them)");
        return Err(exit::USAGE);
    };
    run_of(store, Some(id)).map(|run| run.id)
}
