//! The run store's side of the Slurm executor: the comment that marks each
//! job of a run (`flow:<store>#<run>`), and the jobs a killed `flow` left
//! queued or running, found by that comment and cancelled by the next
//! `flow` command on the same store.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// The file that says run `run` of the store in `dir` submitted Slurm
/// jobs (made before its first `sbatch`): only such a run, once killed,
/// may have left jobs in the queue.
pub fn marker(dir: &Path, run: i64) -> PathBuf {
    dir.join("runs").join(run.to_string()).join("slurm-jobs")
}

/// How long `squeue` may take to answer before the next command tries
/// again (a controller that is down keeps it waiting for its own timeout).
const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// Cancels the Slurm jobs of runs whose `flow` was killed (`kill -9`, a
/// crash, a lost node), and records those runs as `killed`. Quiet and
/// cheap when there are none: one query of the store; `squeue` only runs
/// for a killed run that submitted jobs, and is given [`QUEUE_WAIT`].
pub fn cancel_strays(store: &Store) {
    let Ok(killed) = store.killed_runs() else {
        return;
    };
    // A run that submitted no job left none: it is killed, and that is all.
    let (submitted, none): (Vec<i64>, Vec<i64>) =
        (killed.iter()).partition(|&&run| marker(store.dir(), run).exists());
    if !none.is_empty() {
        let _ = store.mark_killed(&none);
    }
    if submitted.is_empty() {
        return;
    }
    let killed = submitted;
    let answer = match queue() {
        Ok(answer) => answer,
        // No Slurm here (any more): no job can be left behind.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = store.mark_killed(&killed);
            return;
        }
        // The queue cannot be read now: try again at the next command.
        Err(e) => {
            let runs: Vec<String> = killed.iter().map(i64::to_string).collect();
            errln!(
                "warning: cannot read Slurm's queue ({e}): the jobs of killed run {} may still be \
                 queued or running; the next flow command on this store looks again",
                runs.join(", ")
            );
            return;
        }
    };
    let tags: Vec<(i64, String)> = killed
        .iter()
        .map(|&run| (run, tag(store.dir(), run)))
        .collect();
    let mut strays: Vec<(i64, String)> = Vec::new();
    for line in String::from_utf8_lossy(&answer).lines() {
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

/// This user's jobs in Slurm's queue (`id|comment` lines), or why they
/// cannot be read within [`QUEUE_WAIT`].
fn queue() -> std::io::Result<Vec<u8>> {
    let mut child = Command::new("squeue")
        .args([
            "-h",
            "-r",
            "-t",
            "pending,running,suspended,configuring,completing",
        ])
        .args(["-u", &nix::unistd::getuid().to_string(), "-o", "%i|%k"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // Read on a thread of its own: a long queue fills the pipe before
    // `squeue` exits.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= QUEUE_WAIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("`squeue` did not answer in {} s", QUEUE_WAIT.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = reader
        .join()
        .map_err(|_| std::io::Error::other("reading `squeue`'s answer failed"))??;
    if !status.success() {
        return Err(std::io::Error::other(format!("`squeue` failed ({status})")));
    }
    Ok(out)
}
