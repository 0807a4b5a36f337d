//! The Slurm executor against a real single-node cluster on loopback
//! (`ci/slurm.sh` starts one; `.ci/run` does, and sets FLOW_REQUIRE_SLURM=1
//! so that a missing cluster fails instead of skipping).
//!
//! Tests run at once and share the cluster: each finds its own jobs by the
//! comment every job carries (`flow:<host>:<store>#<run>`), which names its
//! project's folder. The test that fails the node holds the cluster alone.

use std::process::{Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::common::{text, wait_until, Project};

/// The cluster, shared by tests that only submit (read) and held alone by
/// the one that takes its node down (write).
static CLUSTER: RwLock<()> = RwLock::new(());

/// Whether a cluster answers; without one the test is skipped (saying so),
/// unless FLOW_REQUIRE_SLURM=1.
fn cluster() -> Option<RwLockReadGuard<'static, ()>> {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            std::env::var_os("FLOW_REQUIRE_SLURM").is_none(),
            "FLOW_REQUIRE_SLURM is set and no Slurm cluster answers: start one with `ci/slurm.sh`"
        );
        eprintln!("skipped: no Slurm cluster answers (start one with `sudo ci/slurm.sh`)");
        return None;
    }
    Some(CLUSTER.read().unwrap_or_else(|e| e.into_inner()))
}

/// The ids of this project's jobs still queued or running.
fn live_jobs(project: &Project) -> Vec<String> {
    let out = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i|%T|%k"])
        .output()
        .expect("squeue runs");
    let folder = project.dir.display().to_string();
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(&folder))
        .filter(|l| !l.contains("|COMPLETED|") && !l.contains("|CANCELLED|"))
        .map(|l| l.split('|').next().unwrap_or_default().to_string())
        .collect()
}

/// `sbatch` on PATH that logs each call's arguments into the project, then
/// submits for real.
fn counting_sbatch(project: &Project) -> String {
    let bin = project.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v sbatch"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let log = project.dir.join("sbatch.log");
    let wrapper = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\nexec {} \"$@\"\n",
        log.display(),
        real.trim()
    );
    let path = bin.join("sbatch");
    std::fs::write(&path, wrapper).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `flow run --executor slurm` of the project's script, with `sbatch`
/// counted ([`counting_sbatch`]) and these variables set; its result.
fn run_counting_sbatch(project: &Project, env: &[(&str, &str)]) -> serde_json::Value {
    let path = counting_sbatch(project);
    let out = project
        .command(&["run", "-q", "--executor", "slurm", "main.flow"])
        .env("PATH", &path)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    stdout_json(&out)
}

fn sbatch_calls(project: &Project) -> Vec<String> {
    std::fs::read_to_string(project.dir.join("sbatch.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `flow run` of a map of `n` jobs that sleep a minute, once all are queued.
fn sleeping_jobs(name: &str, n: usize) -> (Project, std::process::Child) {
    let script = format!("let xs = map _ in range({n}) {{ sh(\"sleep 60\") }}\nxs\n");
    let project = Project::new(name, &script);
    // In a process group of its own, as a shell's foreground job.
    let child = std::os::unix::process::CommandExt::process_group(
        &mut project.command(&["run", "-q", "--executor", "slurm", "main.flow"]),
        0,
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_until("the jobs are queued", || live_jobs(&project).len() == n);
    (project, child)
}

fn stdout_json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

#[test]
fn a_map_of_twenty_runs_as_one_job_array_and_each_task_sees_its_job() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new(
        "slurm-map",
        r#"
let got = map x in range(20) { sh("echo ${x} $SLURM_JOB_ID $SLURM_ARRAY_TASK_ID") }
got
"#,
    );
    let result = run_counting_sbatch(&project, &[]);
    let got = result;
    let lines: Vec<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut jobs = std::collections::HashSet::new();
    for (i, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[0], i.to_string(), "the item's own value: {line}");
        assert!(fields[1].parse::<u64>().is_ok(), "a SLURM_JOB_ID: {line}");
        assert!(
            jobs.insert(fields[1].to_string()),
            "each task its own job: {line}"
        );
    }
    assert_eq!(lines.len(), 20);
    let calls = sbatch_calls(&project);
    assert_eq!(calls.len(), 1, "one sbatch for the map: {calls:?}");
    assert!(calls[0].contains("--array=0-19"), "{}", calls[0]);
    // Each task's stdout and stderr are in the run's folder of the store.
    let folder = project.dir.join(".flow/runs/1/slurm/b1");
    assert_eq!(
        std::fs::read_to_string(folder.join("3.out"))
            .unwrap()
            .split(' ')
            .next(),
        Some("3")
    );
    assert!(folder.join("3.err").exists() && folder.join("3.exit").exists());
}

#[test]
fn a_big_map_is_submitted_in_a_few_arrays() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new(
        "slurm-array",
        "let n = map x in range(300) { sh(\"echo ${x}\", output: \"json\") }\nsum(n)\n",
    );
    let result = run_counting_sbatch(&project, &[]);
    assert_eq!(result, serde_json::json!(300 * 299 / 2));
    let calls = sbatch_calls(&project);
    assert!(
        calls.len() < 10,
        "{} sbatch calls for 300 tasks",
        calls.len()
    );
    assert!(calls.iter().any(|c| c.contains("--array=0-")), "{calls:?}");
}

#[test]
fn arrays_are_cut_at_the_largest_size_allowed() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new(
        "slurm-chunks",
        "let n = map x in range(50) { sh(\"echo ${x}\", output: \"json\") }\nsum(n)\n",
    );
    let result = run_counting_sbatch(&project, &[("FLOW_SLURM_ARRAY_SIZE", "20")]);
    assert_eq!(result, serde_json::json!(50 * 49 / 2));
    let mut arrays: Vec<String> = sbatch_calls(&project)
        .iter()
        .filter_map(|c| {
            c.split(' ')
                .find(|a| a.starts_with("--array="))
                .map(str::to_string)
        })
        .collect();
    arrays.sort();
    assert_eq!(arrays, ["--array=0-19", "--array=0-19", "--array=0-9"]);
}

#[test]
fn a_failing_job_reports_its_exit_status_and_stderr() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new(
        "slurm-fail",
        "let a = sh(\"echo partial; echo the disk is full >&2; exit 3\")\na\n",
    );
    let out = project.flow(&["run", "--executor", "slurm", "main.flow"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("command exited with status 3"), "{stderr}");
    assert!(stderr.contains("the disk is full"), "{stderr}");
    let log = project.flow(&["log", "1", "a"]);
    assert!(
        text(&log.stdout).contains("partial"),
        "{}",
        text(&log.stdout)
    );
}

#[test]
fn resources_reach_the_job() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new(
        "slurm-resources",
        r#"
agent Big = sh("sleep 30", cpus: 2, mem: "100M", time: 5m, partition: "short",
               cluster_options: ["--nice=7"], executor: "slurm")
Big()
"#,
    );
    let mut child = project
        .command(&["run", "-q", "main.flow"])
        .spawn()
        .unwrap();
    wait_until("the job is queued", || !live_jobs(&project).is_empty());
    let job = live_jobs(&project).remove(0);
    let shown = text(
        &Command::new("scontrol")
            .args(["show", "job", &job])
            .output()
            .unwrap()
            .stdout,
    );
    let _ = child.kill();
    let _ = child.wait();
    for expected in [
        "NumCPUs=2",
        "MinMemoryNode=100M",
        "TimeLimit=00:05:00",
        "Partition=short",
        "Nice=7",
        "JobName=flow-1.Big",
    ] {
        assert!(shown.contains(expected), "`{expected}` in:\n{shown}");
    }
    assert!(
        shown.contains(&format!("{}/.flow#1", project.dir.display())),
        "{shown}"
    );
    let _ = project.flow(&["runs"]);
    wait_until("the stray is cancelled", || live_jobs(&project).is_empty());
}

#[test]
fn ctrl_c_leaves_no_job_of_the_run_queued_or_running() {
    let Some(_cluster) = cluster() else { return };
    let (project, mut child) = sleeping_jobs("slurm-interrupt", 8);
    // To the whole group, as Ctrl-C at a terminal: `flow` and any `sbatch`
    // or `squeue` it runs at that moment.
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let sent = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    wait_until("no job is left", || live_jobs(&project).is_empty());
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
}

#[test]
fn a_timeout_and_a_failure_elsewhere_cancel_their_jobs() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new(
        "slurm-cancel",
        r#"
let slow = sh("sleep 60") timeout 3s
let others = map _ in range(3) { sh("sleep 60") }
[slow, others]
"#,
    );
    let started = Instant::now();
    let out = project.flow(&["run", "--executor", "slurm", "main.flow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    wait_until("no job is left", || live_jobs(&project).is_empty());
}

#[test]
fn the_jobs_of_a_killed_flow_are_cancelled_by_the_next_command() {
    let Some(_cluster) = cluster() else { return };
    let (project, mut child) = sleeping_jobs("slurm-strays", 3);
    child.kill().unwrap();
    child.wait().unwrap();
    // The cluster's jobs outlive `flow`…
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(live_jobs(&project).len(), 3);
    // …until the next `flow` command on the store finds them.
    let out = project.flow(&["runs"]);
    assert!(
        text(&out.stderr).contains("cancelled 3 Slurm jobs left queued or running by run 1"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("killed"),
        "{}",
        text(&out.stdout)
    );
    wait_until("no job is left", || live_jobs(&project).is_empty());
    // Once only.
    assert!(!text(&project.flow(&["runs"]).stderr).contains("cancelled"));
}

#[test]
fn the_jobs_of_a_killed_repl_are_cancelled_by_the_next_command() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new("slurm-repl-strays", "");
    // An entry whose jobs are still queued or running when `flow` dies.
    let mut child = std::os::unix::process::CommandExt::process_group(
        &mut project.command(&["repl", "--executor", "slurm"]),
        0,
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut input = child.stdin.take().unwrap();
    {
        use std::io::Write;
        input
            .write_all(b"let xs = map _ in range(2) { sh(\"sleep 60\") }\n")
            .unwrap();
        input.flush().unwrap();
    }
    // Tagged with the session's run in this store, as `flow run` tags its jobs.
    wait_until("the session's jobs are queued", || {
        live_jobs(&project).len() == 2
    });
    child.kill().unwrap();
    child.wait().unwrap();
    drop(input);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(live_jobs(&project).len(), 2);
    let out = project.flow(&["runs"]);
    assert!(
        text(&out.stderr).contains("cancelled 2 Slurm jobs left queued or running by run 1"),
        "{}",
        text(&out.stderr)
    );
    wait_until("no job is left", || live_jobs(&project).is_empty());
}

#[test]
fn resume_reuses_the_jobs_that_finished() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new(
        "slurm-resume",
        r#"
let xs = map x in range(4) {
  sh("echo ${x} >> side.txt; if [ ${x} = 3 ] && [ -e broken ]; then exit 1; fi; echo ${x}", cwd: script_dir())
}
xs
"#,
    );
    std::fs::write(project.dir.join("broken"), "").unwrap();
    let first = project.flow(&["run", "-q", "--executor", "slurm", "-k", "main.flow"]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first.stderr));
    assert_eq!(project.side_effects().len(), 4);
    std::fs::remove_file(project.dir.join("broken")).unwrap();
    let again = project.flow(&["run", "-q", "--executor", "slurm", "--resume", "main.flow"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(stdout_json(&again), serde_json::json!(["0", "1", "2", "3"]));
    // Only the item that failed ran again.
    let mut ran = project.side_effects();
    ran.sort();
    assert_eq!(ran, ["0", "1", "2", "3", "3"].map(String::from));
}

#[test]
fn a_job_whose_node_fails_is_submitted_again() {
    if cluster().is_none() {
        return;
    }
    // Alone on the cluster: its node goes down for a moment.
    let _alone = CLUSTER.write().unwrap_or_else(|e| e.into_inner());
    let node = text(
        &Command::new("sinfo")
            .args(["-h", "-N", "-o", "%N"])
            .output()
            .unwrap()
            .stdout,
    );
    let node = node.lines().next().unwrap().trim().to_string();
    let project = Project::new(
        "slurm-node-fail",
        // `&&`: a `sleep` killed with its node must not be followed by the
        // `echo`, which would end the job with a status of 0 before the
        // signal reached the shells around it.
        "let a = sh(\"sleep 2 && echo done\")\na\n",
    );
    let child = project
        .command(&["run", "--executor", "slurm", "main.flow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the job runs", || {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%T|%k"])
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .any(|l| l.starts_with("RUNNING|") && l.contains(&*project.dir.to_string_lossy()))
    });
    let scontrol = |state: &str| {
        Command::new("scontrol")
            .args([
                "update",
                &format!("nodename={node}"),
                &format!("state={state}"),
            ])
            .args(if state == "down" {
                vec!["reason=flow-test"]
            } else {
                vec![]
            })
            .stderr(Stdio::null())
            .status()
            .unwrap()
    };
    assert!(scontrol("down").success());
    wait_until("the job ends NODE_FAIL", || {
        let out = Command::new("squeue")
            .args(["-h", "-t", "all", "-o", "%T|%k"])
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .any(|l| l.starts_with("NODE_FAIL|") && l.contains(&*project.dir.to_string_lossy()))
    });
    // Back (ReturnToService may have brought it back already).
    scontrol("resume");
    let out = crate::common::output_or_hang(child, "flow after a node failure");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stdout_json(&out), serde_json::json!("done"));
    let log = text(&project.flow(&["log", "1", "a"]).stdout);
    assert!(
        log.contains("submitted again") && log.contains("NODE_FAIL"),
        "{log}"
    );
}

#[test]
fn without_sbatch_the_error_says_so() {
    let project = Project::new("slurm-missing", "sh(\"true\")\n");
    let out = project
        .command(&["run", "--executor", "slurm", "main.flow"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("`sbatch` is not on PATH"), "{stderr}");
}

#[test]
fn each_repl_entry_gets_its_own_jobs() {
    let Some(_cluster) = cluster() else { return };
    let project = Project::new("slurm-repl", "");
    let mut child = project
        .command(&["repl", "--executor", "slurm"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input
            .write_all(b"let a = sh(\"echo one\")\nlet b = sh(\"echo two\")\n[a, b]\n")
            .unwrap();
    }
    let out = crate::common::output_or_hang(child, "the REPL on Slurm");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("a = \"one\"") && stdout.contains("b = \"two\""),
        "{stdout}"
    );
}
