//! The run store's side of the Slurm executor: the comment that marks each
//! job of a run (`flow:<store>#<run>`), and the jobs a killed `flow` left
//! queued or running, found by that comment and cancelled by the next
//! `flow` command on the same store.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::store::Store;

/// The comment every Slurm job of run `run` of the store in `dir` carries:
/// the host too, since a process id only says whether a run is alive on
/// the machine it ran on (a store on a shared file system is seen from
/// several login nodes).
pub fn tag(dir: &Path, run: i64) -> String {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let host = nix::unistd::gethostname()
        .map_or_else(|_| "?".into(), |h| h.to_string_lossy().into_owned());
    format!("flow:{host}:{}#{run}", dir.display())
}

/// Cancels the Slurm jobs of runs whose `flow` was killed (`kill -9`, a
/// crash, a lost node), and records those runs as `killed`. Quiet and
/// cheap when there are none: one query of the store; `squeue` only runs
/// when a killed run exists and Slurm's commands are on `PATH`.
pub fn cancel_strays(store: &Store) {
    let Ok(killed) = store.killed_runs() else {
        return;
    };
    if killed.is_empty() {
        return;
    }
    let answer = Command::new("squeue")
        .args([
            "-h",
            "-r",
            "-t",
            "pending,running,suspended,configuring,completing",
        ])
        .args(["-u", &nix::unistd::getuid().to_string(), "-o", "%i|%k"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let answer = match answer {
        // No Slurm here: no job can be left behind.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = store.mark_killed(&killed);
            return;
        }
        // The queue cannot be read now: try again at the next command.
        Err(_) => return,
        Ok(answer) if !answer.status.success() => return,
        Ok(answer) => answer,
    };
    let tags: Vec<(i64, String)> = killed
        .iter()
        .map(|&run| (run, tag(store.dir(), run)))
        .collect();
    let mut strays: Vec<(i64, String)> = Vec::new();
    for line in String::from_utf8_lossy(&answer.stdout).lines() {
        let Some((id, comment)) = line.trim().split_once('|') else {
            continue;
        };
        if let Some((run, _)) = tags.iter().find(|(_, tag)| tag == comment.trim()) {
            strays.push((*run, id.trim().to_string()));
        }
    }
    if !strays.is_empty() {
        let ids: Vec<&str> = strays.iter().map(|(_, id)| id.as_str()).collect();
        let cancelled = Command::new("scancel")
            .args(&ids)
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !cancelled {
            errln!(
                "warning: cannot cancel the Slurm jobs a killed flow left ({}); run `scancel {}`",
                ids.len(),
                ids.join(" ")
            );
            return;
        }
        let mut runs: Vec<i64> = strays.iter().map(|(run, _)| *run).collect();
        runs.dedup();
        let runs: Vec<String> = runs.iter().map(i64::to_string).collect();
        errln!(
            "note: cancelled {} Slurm job{} left queued or running by run {} (its flow was killed)",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" },
            runs.join(", ")
        );
    }
    let _ = store.mark_killed(&killed);
}
