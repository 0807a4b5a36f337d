//! The run store: what `flow run` records, `flow runs`, `flow log`, `flow why`,
//! `flow clean`, `--resume` (counted by side effects, not by Flow's report),
//! and a store that cannot be used.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::common::{
    flow_command, processes_marked, scratch, text, unique_mark, wait_until, Project,
};

impl Project {
    fn run(&self, extra: &[&str]) -> Output {
        let mut args = vec!["run", "-q"];
        args.extend_from_slice(extra);
        args.push("main.flow");
        self.flow(&args)
    }

    fn runs(&self) -> Vec<Value> {
        let out = self.flow(&["runs", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap()
    }
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Each item appends its name to side.txt: how many times it ran, from the outside.
const MAP: &str = r#"
param items = ["a", "b", "c", "d", "e"]
let counted = map x in items { sh("echo ${x} >> side.txt; echo ${x} | tr a-z A-Z") }
let joined = sh("echo ${counted} >> side.txt; echo done")
[counted, joined]
"#;

#[test]
fn a_refused_param_is_no_run_and_resume_still_finds_the_last_real_one() {
    let p = Project::new("param_refused", MAP);
    succeeded(&p.run(&[]));
    for (bad, says) in [
        (&["--param", "items=x"][..], "`x` is not a JSON list"),
        (&["--param", "itemz=[]"], "did you mean `items`?"),
        (&["--param", "items=x", "--json"], "`x` is not a JSON list"),
    ] {
        let out = p.run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(says),
            "{bad:?}: {}",
            text(&out.stderr)
        );
        if bad.contains(&"--json") {
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["status"], "invalid", "{doc:#}");
            assert!(
                doc["errors"][0]["message"].as_str().unwrap().contains(says),
                "{doc:#}"
            );
        }
    }
    assert_eq!(run_ids(&p), [1], "a refused command leaves no run");
    succeeded(&p.run(&["--resume"]));
    assert_eq!(
        p.side_effects().len(),
        6,
        "resumed from run 1: no task ran again"
    );
}

#[test]
fn resume_passes_over_a_run_still_going() {
    let p = Project::new("resume_going", MAP);
    succeeded(&p.run(&[]));
    succeeded(&p.run(&[]));
    assert_eq!(p.side_effects().len(), 12);
    // Run 2 as if still going, in a live process (this test's): it has not
    // recorded what it is doing, so it is no run to resume from.
    let me = flow::store::Owner::this_process();
    set_runs(
        &p,
        "status = 'running', ended_at = NULL, pid = ?1, host = ?2, boot_id = ?3, pid_started = ?4 WHERE id = 2",
        &[&me.pid, &me.host, &me.boot, &me.started],
    );
    let conn = rusqlite::Connection::open(p.dir.join(".flow/flow.db")).unwrap();
    conn.execute("DELETE FROM tasks WHERE run = 2", []).unwrap();
    let out = p.run(&["--resume"]);
    assert!(
        text(&out.stderr).contains("run 2 of `main.flow` is still going: not resumed from"),
        "{}",
        text(&out.stderr)
    );
    succeeded(&out);
    assert_eq!(
        p.side_effects().len(),
        12,
        "resumed from run 1: no task ran again"
    );
    assert_eq!(p.runs()[0]["resumed_from"], 1);
}

#[test]
fn resume_after_success_runs_no_task_again() {
    let p = Project::new("resume-all", MAP);
    let first = succeeded(&p.run(&[]));
    assert_eq!(p.side_effects().len(), 6);
    let second = succeeded(&p.run(&["--resume"]));
    assert_eq!(first, second, "the same result");
    assert_eq!(p.side_effects().len(), 6, "no task ran again");
    let runs = p.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["cached"], 6, "{:#}", runs[0]);
    assert_eq!(runs[0]["done"], 0);
    assert_eq!(runs[0]["resumed_from"], runs[1]["id"]);
    // The run named, in either form.
    succeeded(&p.flow(&["run", "-q", "--resume", "1", "main.flow"]));
    succeeded(&p.flow(&["run", "-q", "--resume=2", "main.flow"]));
    assert_eq!(p.side_effects().len(), 6);
    // Without --resume every task runs.
    succeeded(&p.run(&[]));
    assert_eq!(p.side_effects().len(), 12);
}

#[test]
fn resume_reuses_the_finished_rounds_of_a_repeat() {
    // Round 3 (state 2) fails until the file `ok` exists; each round that
    // runs says so in side.txt.
    let p = Project::new(
        "resume-repeat",
        r#"
let final = repeat s = 0 until s >= 4 max 6 {
  sh("echo round ${s} >> side.txt; if [ ${s} -eq 2 ] && [ ! -f ok ]; then exit 1; fi; echo $(( ${s} + 1 ))", output: "json")
}
final
"#,
    );
    let failed = p.run(&[]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    assert_eq!(p.side_effects(), ["round 0", "round 1", "round 2"]);
    std::fs::write(p.dir.join("ok"), "").unwrap();
    let out = succeeded(&p.run(&["--resume"]));
    assert_eq!(out.trim(), "4");
    // Rounds 1 and 2 were re-used; the failed round 3 and round 4 ran.
    assert_eq!(
        p.side_effects(),
        ["round 0", "round 1", "round 2", "round 2", "round 3"]
    );
}

#[test]
fn one_changed_item_reruns_that_item_and_its_readers_only() {
    let p = Project::new("resume-one", MAP);
    succeeded(&p.run(&[]));
    let before = p.side_effects();
    let out = succeeded(&p.run(&["--resume", "-p", r#"items=["a","b","X","d","e"]"#]));
    let after = p.side_effects();
    let new: Vec<&String> = after[before.len()..].iter().collect();
    assert_eq!(
        new.len(),
        2,
        "the changed item and the task reading the list: {new:?}"
    );
    assert_eq!(new[0], "X");
    assert!(new[1].contains('X'), "{new:?}");
    assert!(out.contains("\"X\""), "{out}");
    let runs = p.runs();
    assert_eq!(
        (runs[0]["cached"].clone(), runs[0]["done"].clone()),
        (4.into(), 2.into())
    );
}

#[test]
fn why_names_the_input_that_changed() {
    let p = Project::new(
        "why",
        r#"
param doc = "a.txt"
agent Count = sh("wc -c")
let counted = Count(file: doc)
let fixed = sh("echo same")
[counted, fixed]
"#,
    );
    succeeded(&p.run(&[]));
    succeeded(&p.run(&["--resume", "-p", "doc=b.txt"]));
    let why = succeeded(&p.flow(&["why", "counted", "fixed"]));
    assert!(why.contains("counted: ran"), "{why}");
    assert!(
        why.contains(r#"input `file` changed: "a.txt" → "b.txt""#),
        "{why}"
    );
    assert!(why.contains("fixed: re-used from run 1"), "{why}");
    // The same, right after the run, with --explain.
    let out = p.run(&["--resume", "--explain", "-p", "doc=c.txt"]);
    let explained = text(&out.stderr);
    assert!(explained.contains(r#""b.txt" → "c.txt""#), "{explained}");
    // A changed declaration is said as such.
    std::fs::write(
        p.dir.join("main.flow"),
        "param doc = \"a.txt\"\nagent Count = sh(\"wc -l\")\nlet counted = Count(file: doc)\ncounted\n",
    )
    .unwrap();
    let out = p.run(&["--resume", "--explain"]);
    let explained = text(&out.stderr);
    assert!(
        explained.contains("the agent's declaration changed"),
        "{explained}"
    );
}

#[test]
fn cache_false_always_runs() {
    let p = Project::new(
        "nocache",
        r#"
let a = sh("echo a >> side.txt", cache: false)
let b = sh("echo b >> side.txt")
[a, b]
"#,
    );
    succeeded(&p.run(&[]));
    succeeded(&p.run(&["--resume"]));
    let mut effects = p.side_effects();
    effects.sort();
    assert_eq!(effects, ["a", "a", "b"], "`a` ran twice, `b` once");
    let why = succeeded(&p.flow(&["why", "a"]));
    assert!(why.contains("`cache: false`"), "{why}");
}

#[test]
fn log_shows_stdout_and_stderr_of_good_and_failed_tasks() {
    let p = Project::new(
        "log",
        r#"
let good = sh("echo good-out; echo good-err >&2")
let bad = sh("echo bad-out; echo bad-err >&2; exit 3") retry 1
let quiet = sh("true")
let mute = sh("exit 5")
[good, bad, quiet, mute]
"#,
    );
    let out = p.run(&["--keep-going"]);
    assert_eq!(out.status.code(), Some(1));
    let log = succeeded(&p.flow(&["log"]));
    for expected in [
        "==> good", "good-out", "good-err", "==> bad", "bad-out", "bad-err",
    ] {
        assert!(log.contains(expected), "{expected} in\n{log}");
    }
    // A task that failed without a word is shown, with why.
    assert!(log.contains("==> mute (sh) failed"), "{log}");
    assert!(log.contains("exit status 5"), "{log}");
    assert!(
        !log.contains("==> quiet"),
        "a task that printed nothing is left out:\n{log}"
    );
    assert!(log.contains("attempt 2: failed"), "{log}");
    assert!(log.contains("exit status 3"), "{log}");
    // The task's time and its attempts' are read on one clock: the task
    // spans both attempts (its header once said `0.00s` beside an attempt
    // of `0.01s`, each rounded from a clock of its own).
    let ms = |text: &str| -> u64 {
        match text.strip_suffix("ms") {
            Some(ms) => ms.parse().expect("whole milliseconds"),
            None => (text.trim_end_matches('s').parse::<f64>().expect("seconds") * 1e3) as u64,
        }
    };
    let bad = &log[log.find("==> bad ").expect("bad's header")..];
    let bad = bad[1..].find("==> ").map_or(bad, |end| &bad[..=end]);
    let after = |word: &str| -> Vec<u64> {
        let mut found = Vec::new();
        for line in bad.lines() {
            if line.starts_with("==> bad ") || line.starts_with("attempt ") {
                let (_, rest) = line.split_once(word).unwrap_or_default();
                if let Some(time) = rest.split([',', ':']).next().filter(|t| !t.is_empty()) {
                    found.push(ms(time));
                }
            }
        }
        found
    };
    let (took, attempts) = (after(" failed in "), after(" failed after "));
    assert_eq!((took.len(), attempts.len()), (1, 2), "{log}");
    assert!(took[0] >= attempts[0] + attempts[1], "{log}");
    assert_eq!(
        log.matches("bad-err").count(),
        1,
        "stderr once, in full:\n{log}"
    );
    // One task, by id, in a named run; as JSON.
    let one = succeeded(&p.flow(&["log", "1", "good"]));
    assert!(
        one.contains("good-err") && !one.contains("bad-out"),
        "{one}"
    );
    let json: Value = serde_json::from_slice(&p.flow(&["log", "--json", "bad"]).stdout).unwrap();
    assert_eq!(json[0]["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(json[0]["attempts"][1]["exit_code"], 3);
    // An unknown task is an error that suggests the closest one.
    let wrong = p.flow(&["log", "goood"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong.stderr).contains("did you mean `good`"),
        "{}",
        text(&wrong.stderr)
    );
}

#[test]
fn runs_lists_every_run_with_its_counts() {
    let p = Project::new(
        "runs",
        "let a = sh(\"exit 2\")\nlet b = sh(\"echo b\") after a\n[a, b]\n",
    );
    assert_eq!(p.run(&[]).status.code(), Some(1));
    std::fs::write(p.dir.join("main.flow"), "sh(\"echo fine\")\n").unwrap();
    succeeded(&p.run(&[]));
    let runs = p.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["status"], "failed");
    assert_eq!(runs[1]["exit_code"], 1);
    assert_eq!(
        (runs[1]["failed"].clone(), runs[1]["skipped"].clone()),
        (1.into(), 1.into())
    );
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["done"], 1);
    let table = succeeded(&p.flow(&["runs"]));
    assert!(
        table.contains("RUN") && table.contains("main.flow"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");
}

#[test]
fn runs_tells_apart_two_scripts_of_the_same_name() {
    let p = Project::new("same_name", "output 0\n");
    for folder in ["a", "b"] {
        std::fs::create_dir_all(p.dir.join(folder)).unwrap();
        std::fs::write(p.dir.join(folder).join("x.flow"), "output 1\n").unwrap();
        let script = format!("{folder}/x.flow");
        succeeded(&p.flow(&["run", "-q", &script]));
    }
    // Each by its path from where `flow runs` is asked.
    let table = succeeded(&p.flow(&["runs"]));
    assert!(
        table.contains("a/x.flow") && table.contains("b/x.flow"),
        "{table}"
    );
    let from_a = p
        .command(&["runs", "--store", "../.flow"])
        .current_dir(p.dir.join("a"))
        .output()
        .unwrap();
    let table = text(&from_a.stdout);
    assert!(
        table.contains(" x.flow ") && table.contains("/b/x.flow"),
        "{table}"
    );
}

/// `flow log -f` in the project's folder, its output piped.
fn follower(p: &Project) -> std::process::Child {
    p.command(&["log", "-f"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn log_follow_prints_tasks_as_they_end_until_the_run_ends() {
    let p = Project::new(
        "log_follow",
        "let a = sh(\"echo early-out\")\n\
         let b = sh(\"while [ ! -e go ]; do sleep 0.02; done; echo late-out; echo late-err >&2\") after a\n\
         output [a, b]\n",
    );
    let mut run = p
        .command(&["run", "-q", "main.flow"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the first task recorded", || {
        let out = p.flow(&["log", "--json"]);
        serde_json::from_slice::<Value>(&out.stdout)
            .is_ok_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    });
    let follow = follower(&p);
    // A task still running is not in the store yet, and `flow log` says why.
    let early = p.flow(&["log", "1", "b"]);
    assert_eq!(early.status.code(), Some(1));
    assert!(
        text(&early.stderr).contains("has no task `b` yet: it is still going"),
        "{}",
        text(&early.stderr)
    );
    // Still following while the run waits; then the run ends, and so does it.
    std::thread::sleep(Duration::from_millis(600));
    std::fs::write(p.dir.join("go"), "").unwrap();
    assert!(run.wait().unwrap().success());
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let (early, late) = (shown.find("early-out"), shown.find("late-out"));
    assert!(early.is_some() && late.is_some() && early < late, "{shown}");
    assert!(shown.contains("late-err"), "{shown}");
    assert!(
        text(&out.stderr).contains("run 1 succeeded"),
        "{}",
        text(&out.stderr)
    );
    // Tasks, or JSON, with `-f`: a usage error.
    assert_eq!(p.flow(&["log", "-f", "1", "a"]).status.code(), Some(2));
    assert_eq!(p.flow(&["log", "-f", "--json"]).status.code(), Some(2));
    // A run that has ended: its tasks, then its end, at once.
    let again = p.flow(&["log", "-f"]);
    assert!(text(&again.stdout).contains("late-out"));
}

#[test]
fn log_follow_asked_before_the_run_starts_follows_it() {
    // `flow run x & flow log -f`: the follower may ask before the run (or
    // its store) exists.
    let p = Project::new(
        "log_follow_early",
        "output sh(\"sleep 0.3; echo from-the-run\")\n",
    );
    let follow = follower(&p);
    std::thread::sleep(Duration::from_millis(300));
    succeeded(&p.run(&[]));
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("from-the-run"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("run 1 succeeded"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn inline_tasks_are_counted_not_written_and_still_reported() {
    // Five `noop`s and an `echo`: pure and instant, so the store counts them
    // and keeps no row; the one `sh` task gets its row.
    let p = Project::new(
        "inline",
        "let xs = map i in range(5) { noop(i) }\nlet e = echo(\"x\")\nlet s = sh(\"echo s\")\n[xs, e, s]\n",
    );
    succeeded(&p.run(&[]));
    let runs = p.runs();
    assert_eq!(runs[0]["done"], 7, "{runs:?}");
    let conn = rusqlite::Connection::open(p.dir.join(".flow/flow.db")).unwrap();
    let agents: Vec<String> = conn
        .prepare("SELECT agent FROM tasks ORDER BY seq")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(agents, ["sh"]);
    // Whoever asks for every task still gets each one: `--json` and `--events`.
    let events = p.dir.join("events.ndjson");
    let out = p.flow(&[
        "run",
        "-q",
        "--json",
        "--events",
        events.to_str().unwrap(),
        "main.flow",
    ]);
    let doc: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    let noops = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["agent"] == "noop")
        .count();
    assert_eq!(noops, 5, "{doc}");
    let finished = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"task_finished\"") && l.contains("\"noop\""))
        .count();
    assert_eq!(finished, 5);
    assert_eq!(p.runs()[0]["done"], 7);
    // Thousands of them, counted to the last.
    std::fs::write(
        p.dir.join("main.flow"),
        "let xs = map i in range(5003) { noop(i) }\nlen(xs)\n",
    )
    .unwrap();
    assert_eq!(succeeded(&p.run(&[])).trim(), "5003");
    assert_eq!(p.runs()[0]["done"], 5003);
}

#[test]
fn kill_9_then_resume_reruns_no_completed_task() {
    let p = Project::new(
        "kill9",
        r#"
let out = map x in range(24) { sh("sleep 0.1; echo ${x} >> side.txt; echo ${x}", output: "json") }
out
"#,
    );
    // Every process flow starts inherits the mark.
    let mark = unique_mark("kill9-resume");
    let mut child = flow_command()
        .current_dir(&p.dir)
        .env_remove("FLOW_STORE")
        .env("mark", &mark)
        .args(["run", "-q", "-j", "2", "main.flow"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let some tasks finish, then kill flow mid-run.
    wait_until("8 finished tasks", || p.side_effects().len() >= 8);
    child.kill().unwrap();
    child.wait().unwrap();
    // The shells died with flow: once every process it started is gone,
    // none has finished its task after the kill.
    let at_kill = p.side_effects().len();
    wait_until("the end of every process flow started", || {
        processes_marked(&mark).is_empty()
    });
    assert_eq!(
        p.side_effects().len(),
        at_kill,
        "a task finished after flow was killed"
    );
    // What the killed run committed is readable: its completed tasks.
    let log: Value =
        serde_json::from_slice(&p.flow(&["log", "--json", "1"]).stdout).expect("the store reads");
    let completed: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "succeeded")
        .map(|t| t["value"].to_string())
        .collect();
    assert!(completed.len() >= 6, "{completed:?}");
    let killed = &p.runs()[0];
    assert_eq!(killed["status"], "killed");
    // Its counts are those of its recorded tasks (it never wrote its end).
    assert_eq!(killed["done"], completed.len(), "{killed:#}");

    let out = succeeded(&p.run(&["--resume"]));
    let result: Vec<i64> = serde_json::from_str(&out).unwrap();
    assert_eq!(result, (0..24).collect::<Vec<_>>());
    // No task that completed before the kill ran again.
    let effects = p.side_effects();
    for item in &completed {
        let times = effects.iter().filter(|line| *line == item).count();
        assert_eq!(times, 1, "item {item} ran {times} times");
    }
    assert_eq!(p.runs()[0]["cached"], completed.len() as i64);
}

/// Sets columns of every run row, as another `flow` would have left them.
fn set_runs(p: &Project, assignments: &str, values: &[&dyn rusqlite::ToSql]) {
    let conn = rusqlite::Connection::open(p.dir.join(".flow/flow.db")).unwrap();
    conn.execute(&format!("UPDATE runs SET {assignments}"), values)
        .unwrap();
}

/// `flow runs --json` with a Slurm whose queue is empty (a `squeue` that
/// answers nothing): what killed runs left is dealt with, and they are
/// recorded as killed, on any machine.
fn runs_with_an_empty_queue(p: &Project) -> Vec<Value> {
    let bin = p.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let squeue = bin.join("squeue");
    std::fs::write(&squeue, "#!/bin/sh\nexit 0\n").unwrap();
    set_mode(&squeue, 0o755);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = p
        .command(&["runs", "--json"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One run, recorded as going on this host in a process that is gone: killed.
fn killed_here(p: &Project) {
    succeeded(&p.run(&[]));
    let here = flow::store::Owner::this_process().host.clone();
    set_runs(
        p,
        "status = 'running', ended_at = NULL, pid = 2147483647, host = ?1",
        &[&here],
    );
}

/// A PATH whose `squeue` never answers, and notes in `calls` each time it runs.
fn a_hanging_queue(p: &Project) -> (String, std::path::PathBuf) {
    let bin = p.dir.join("hanging-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = p.dir.join("squeue-calls");
    let squeue = bin.join("squeue");
    let script = format!(
        "#!/bin/sh\necho called >> '{}'\nexec sleep 60\n",
        calls.display()
    );
    std::fs::write(&squeue, script).unwrap();
    set_mode(&squeue, 0o755);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    (path, calls)
}

#[test]
fn a_killed_run_that_submitted_no_job_is_never_looked_for_in_slurms_queue() {
    // Slurm's commands installed, its controller down: `squeue` hangs. A
    // killed run that never used Slurm must not make every command wait.
    let p = Project::new("killed_no_jobs", "sh(\"echo hi\")\n");
    killed_here(&p);
    let (path, calls) = a_hanging_queue(&p);
    let started = std::time::Instant::now();
    let out = p.command(&["runs"]).env("PATH", &path).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !calls.exists(),
        "squeue was run for a run that submitted no job"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(stored_status_of(&p, 1), "killed");
}

#[test]
fn a_queue_that_does_not_answer_delays_a_command_three_seconds_and_is_asked_again() {
    let p = Project::new("killed_queue_down", "sh(\"echo hi\")\n");
    killed_here(&p);
    // The run submitted jobs (as the Slurm executor marks it before its first `sbatch`).
    std::fs::create_dir_all(p.dir.join(".flow/runs/1")).unwrap();
    std::fs::write(p.dir.join(".flow/runs/1/slurm-jobs"), "").unwrap();
    let (path, calls) = a_hanging_queue(&p);
    for asked in 1..=2 {
        let started = std::time::Instant::now();
        let out = p.command(&["runs"]).env("PATH", &path).output().unwrap();
        let waited = started.elapsed();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let said = text(&out.stderr);
        assert!(
            said.contains("warning: cannot read Slurm's queue (`squeue` did not answer in 3 s)")
                && said.contains("killed run 1 may still be queued or running"),
            "{said}"
        );
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_secs(20),
            "{waited:?}"
        );
        let times = std::fs::read_to_string(&calls).unwrap().lines().count();
        assert_eq!(times, asked, "each command asks the queue again");
        assert_eq!(
            stored_status_of(&p, 1),
            "running",
            "kept for the next command to look again"
        );
    }
}

#[test]
fn a_run_of_another_host_sharing_the_store_is_never_taken_for_killed() {
    // A store in a cluster's home folder, read from every login node: a
    // pid that exists on no host here says nothing about a run there.
    let p = Project::new("other_host", "sh(\"echo hi\")\n");
    succeeded(&p.run(&[]));
    set_runs(
        &p,
        "status = 'running', ended_at = NULL, pid = 2147483647, host = 'login-2'",
        &[],
    );
    let runs = runs_with_an_empty_queue(&p);
    assert_eq!(runs[0]["status"], "running", "{runs:?}");
    assert_eq!(runs[0]["host"], "login-2");
    assert_eq!(stored_status_of(&p, 1), "running");
    let listed = p.flow(&["runs"]);
    assert!(
        text(&listed.stderr).contains("run 1 runs on `login-2`"),
        "{}",
        text(&listed.stderr)
    );

    // `flow clean` keeps a run still going: another host's counts as one.
    let cleaned = p.flow(&["clean"]);
    assert!(cleaned.status.success(), "{}", text(&cleaned.stderr));
    let left: Vec<i64> = p.runs().iter().filter_map(|r| r["id"].as_i64()).collect();
    assert_eq!(left, [1], "only the other host's run is left");

    // The same row on this host: its `flow` is gone, the run was killed.
    let here = flow::store::Owner::this_process().host.clone();
    set_runs(&p, "host = ?1", &[&here]);
    assert_eq!(runs_with_an_empty_queue(&p)[0]["status"], "killed");
    assert_eq!(stored_status_of(&p, 1), "killed");
}

#[test]
fn a_pid_reused_by_another_process_does_not_keep_a_killed_run_running() {
    let p = Project::new("pid_reused", "sh(\"echo hi\")\n");
    succeeded(&p.run(&[]));
    // The pid of a live process (this test's) but another start time: the
    // process that wrote the row is gone, and a stranger has its pid.
    let me = flow::store::Owner::this_process();
    let started = me.started.expect("a start time on Linux");
    set_runs(
        &p,
        "status = 'running', ended_at = NULL, pid = ?1, pid_started = ?2",
        &[&me.pid, &(started + 1)],
    );
    assert_eq!(runs_with_an_empty_queue(&p)[0]["status"], "killed");
    assert_eq!(stored_status_of(&p, 1), "killed");
    // With its own start time, the same process still runs.
    set_runs(
        &p,
        "status = 'running', pid = ?1, pid_started = ?2",
        &[&me.pid, &started],
    );
    assert_eq!(runs_with_an_empty_queue(&p)[0]["status"], "running");
    assert_eq!(stored_status_of(&p, 1), "running");
}

/// The runs `flow runs` lists, by number.
fn run_ids(p: &Project) -> Vec<i64> {
    p.runs().iter().filter_map(|r| r["id"].as_i64()).collect()
}

#[test]
fn clean_removes_the_runs_named_and_only_those() {
    let p = Project::new("clean_named", "sh(\"echo hi\")\n");
    for _ in 0..3 {
        succeeded(&p.run(&[]));
    }
    let out = p.flow(&["clean", "3", "1", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("removed 2 runs from"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(run_ids(&p), [2]);
    assert!(!p.dir.join(".flow/runs/1").exists() && !p.dir.join(".flow/runs/3").exists());

    // One run that is not there: a usage error, and nothing removed.
    let out = p.flow(&["clean", "2", "9"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("there is no run 9"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(run_ids(&p), [2]);

    // Runs by number, or by policy: not both; and `--force` only with runs.
    for args in [&["clean", "2", "--keep", "1"][..], &["clean", "--force"]] {
        let out = p.flow(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(run_ids(&p), [2]);

    // The last one gone, `flow runs` says there is none (not a bare header).
    assert!(p.flow(&["clean", "2"]).status.success());
    let out = p.flow(&["runs"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("no runs in"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn clean_removes_another_hosts_going_run_only_when_forced_and_never_one_going_here() {
    let p = Project::new("clean_force", "sh(\"echo hi\")\n");
    succeeded(&p.run(&[]));
    succeeded(&p.run(&[]));
    // Run 1 is recorded as going on a host this one cannot look into; run 2
    // as going here, in a process that is alive (this test's).
    set_runs(
        &p,
        "status = 'running', ended_at = NULL, pid = 2147483647, host = 'login-2' WHERE id = 1",
        &[],
    );
    let me = flow::store::Owner::this_process();
    set_runs(
        &p,
        "status = 'running', ended_at = NULL, pid = ?1, host = ?2, boot_id = ?3, pid_started = ?4 WHERE id = 2",
        &[&me.pid, &me.host, &me.boot, &me.started],
    );

    // A run going shows how long it has been going.
    let table = succeeded(&p.flow(&["runs"]));
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap();
    assert!(line.contains("running") && line.contains("s…"), "{table}");

    let out = p.flow(&["clean", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(
        said.contains("run 1 is recorded as going on `login-2`"),
        "{said}"
    );
    assert!(said.contains("`flow clean --force 1`"), "{said}");
    assert_eq!(run_ids(&p), [2, 1], "nothing removed");

    // Forced, with a run going here among them: still nothing removed.
    let out = p.flow(&["clean", "--force", "1", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("run 2 is still going (pid"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(run_ids(&p), [2, 1], "nothing removed");

    let out = p.flow(&["clean", "--force", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(run_ids(&p), [2]);
}

/// The status the store itself holds for run `id` (not the one `flow runs` infers).
fn stored_status_of(p: &Project, id: i64) -> String {
    let conn = rusqlite::Connection::open(p.dir.join(".flow/flow.db")).unwrap();
    conn.query_row("SELECT status FROM runs WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_read_only_store_is_a_clear_error() {
    let p = Project::new("readonly", "sh(\"echo hi >> side.txt\")\n");
    let store = p.dir.join("locked");
    std::fs::create_dir_all(&store).unwrap();
    set_mode(&store, 0o555);
    let out = p.flow(&["run", "--store", "locked", "main.flow"]);
    set_mode(&store, 0o755);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("locked") && stderr.contains("read-only"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--no-store") && stderr.contains("--store"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(p.side_effects().is_empty(), "nothing ran");
    // --no-store runs it, and records nothing.
    succeeded(&p.flow(&["run", "--no-store", "main.flow"]));
    assert_eq!(p.side_effects().len(), 1);
    assert!(!p.dir.join(".flow").exists());
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_store_from_a_newer_flow_is_refused_untouched() {
    let p = Project::new("newer", "sh(\"echo hi\")\n");
    succeeded(&p.run(&[]));
    let db = p.dir.join(".flow/flow.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let out = p.run(&[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("newer flow") && stderr.contains("flow.db"),
        "{stderr}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let runs: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 1, "nothing was written");
}

#[test]
fn two_runs_share_a_store() {
    // Four `flow run`s start at once on a store none of them has created:
    // each waits for the others (creating it, switching it to WAL, writing).
    let p = Project::new("shared", "map x in range(30) { sh(\"echo ${x}\") }\n");
    let spawn = || {
        flow_command()
            .current_dir(&p.dir)
            .env_remove("FLOW_STORE")
            .args(["run", "-q", "main.flow"])
            .output()
    };
    let outputs: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4).map(|_| s.spawn(spawn)).collect();
        runs.into_iter()
            .map(|r| r.join().unwrap().unwrap())
            .collect()
    });
    for out in &outputs {
        succeeded(out);
    }
    let runs = p.runs();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["done"] == 30), "{runs:#?}");
}

#[test]
fn big_values_and_logs_go_to_files_and_read_back() {
    let p = Project::new(
        "big",
        "sh(\"head -c 300000 /dev/zero | tr '\\\\0' x; head -c 200000 /dev/zero | tr '\\\\0' y >&2\")\n",
    );
    let out = succeeded(&p.run(&[]));
    assert_eq!(out.trim().len(), 300_002);
    let files: Vec<_> = std::fs::read_dir(p.dir.join(".flow/runs/1"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f.ends_with(".json")), "{files:?}");
    let log = succeeded(&p.flow(&["log", "--json"]));
    let log: Value = serde_json::from_str(&log).unwrap();
    assert_eq!(log[0]["value"].as_str().map(str::len), Some(300_000));
    // Logs keep the last 64 KiB of each stream.
    assert_eq!(log[0]["stderr"].as_str().map(str::len), Some(64 << 10));
    assert_eq!(log[0]["stdout"].as_str().map(str::len), Some(64 << 10));
    // --resume reads the big value back from its file.
    assert_eq!(succeeded(&p.run(&["--resume"])), out);
}

#[test]
fn clean_removes_old_runs_and_says_what_it_freed() {
    let p = Project::new("clean", "sh(\"head -c 100000 /dev/zero | tr '\\\\0' x\")\n");
    for _ in 0..3 {
        succeeded(&p.run(&[]));
    }
    let db = |name: &str| std::fs::metadata(p.dir.join(".flow").join(name)).map_or(0, |m| m.len());
    let before = db("flow.db") + db("flow.db-wal");
    let out = p.flow(&["clean", "--keep", "1"]);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("removed 2 runs") && said.contains("freed"),
        "{said}"
    );
    // The database and its log shrink too (the log is checkpointed after
    // the file is compacted), and what is said counts them.
    assert!(db("flow.db") + db("flow.db-wal") < before, "{said}");
    // Runs with no file of their own: all that is freed is in the database.
    let small = Project::new("clean_rows", "map i in range(300) { sh(\"echo ${i}\") }\n");
    for _ in 0..2 {
        succeeded(&small.run(&[]));
    }
    let said = text(&small.flow(&["clean"]).stderr);
    assert!(said.contains("removed 2 runs"), "{said}");
    assert!(!said.contains("freed 0 bytes"), "{said}");
    let runs = p.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], 3);
    assert!(!p.dir.join(".flow/runs/1").exists());
    assert!(p.dir.join(".flow/runs/3").exists());
    let again = p.flow(&["clean", "--older-than", "1h"]);
    assert!(
        text(&again.stderr).contains("nothing to remove"),
        "{}",
        text(&again.stderr)
    );
}

/// A script that calls a model and an HTTP service.
const REMOTE: &str = r#"
param model = ""
param service = ""
param topics = ["tides", "winds"]
agent Writer = llm(model: "echo", base_url: model, max_tokens: 50)
agent Lookup = http(url: "${service}/echo", method: "POST")
let drafts = map t in topics { Writer("Write about ${t}") }
let looked = Lookup(drafts: drafts)
let local = sh("echo local >> side.txt; echo ok")
[drafts, looked, local]
"#;

#[test]
fn record_then_replay_without_the_network_gives_the_same_result() {
    let p = Project::new("replay", REMOTE);
    // The servers live on their own runtime, stopped after the recording.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (chat, service) = runtime.block_on(async {
        (
            crate::servers::chat().await,
            crate::servers::service().await,
        )
    });
    let model = format!("model={}", chat.v1());
    let service_url = format!("service={}", service.url);
    let params = ["-p", &model, "-p", &service_url];
    let recorded = succeeded(&p.run(&[&["--record"], &params[..]].concat()));
    let calls = chat.requests().len() + service.requests().len();
    assert_eq!(calls, 3, "two model calls and one HTTP call");
    drop(runtime);

    let replayed = succeeded(&p.run(&[&["--replay"], &params[..]].concat()));
    assert_eq!(replayed, recorded);
    // Where the model is does not matter to a recording (`base_url` is transport).
    let elsewhere = ["-p", "model=http://127.0.0.1:9/v1", "-p", &service_url];
    let moved = succeeded(&p.run(&[&["--replay"], &elsewhere[..]].concat()));
    assert_eq!(moved, recorded);
    assert_eq!(
        p.side_effects().len(),
        3,
        "`sh` tasks still run when replaying"
    );
    assert_eq!(chat.requests().len() + service.requests().len(), calls);

    // A call that was not recorded fails, naming the closest recorded one.
    let changed = ["-p", r#"topics=["tides","rain"]"#];
    let out = p.run(&[&["--replay"], &params[..], &changed[..]].concat());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no recorded reply to this `Writer` call"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the closest recorded call is `drafts[1]`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"Write about winds\" → \"Write about rain\""),
        "{stderr}"
    );
}

#[test]
fn replay_needs_a_recording() {
    let p = Project::new("no-recording", "sh(\"echo hi\")\n");
    succeeded(&p.run(&[]));
    let out = p.run(&["--replay"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("flow run --record"),
        "{}",
        text(&out.stderr)
    );
    let out = p.run(&["--no-store", "--replay"]);
    assert!(text(&out.stderr).contains("`--replay` needs the run store"));
}

/// The project's own LLM workflow test without a model: a run of
/// `examples/research_review.flow` recorded against a real model
/// (`tests/recordings/README.md`), replayed.
#[test]
fn a_recorded_model_workflow_replays_without_the_model() {
    let store = scratch("recording");
    let recorded = crate::common::root().join("tests/recordings/research_review/flow.db");
    std::fs::copy(&recorded, store.join("flow.db")).unwrap();
    let expected: String = rusqlite::Connection::open(&recorded)
        .unwrap()
        .query_row("SELECT result FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    let out = flow_command()
        .args(["run", "-q", "--replay=1", "--store"])
        .arg(&store)
        .args([
            "examples/research_review.flow",
            "-p",
            "max_tokens=24",
            "-p",
            "topic=tides",
        ])
        // Nothing answers here: every reply comes from the recording.
        .args(["-p", "base_url=http://127.0.0.1:9/v1"])
        .output()
        .unwrap();
    let result: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(result, serde_json::from_str::<Value>(&expected).unwrap());
    assert!(result["article"].as_str().is_some_and(|a| !a.is_empty()));
}

#[test]
fn log_keeps_what_timed_out_and_cancelled_tasks_printed() {
    let p = Project::new(
        "stopped",
        "let slow = sh(\"echo begun; echo warned >&2; sleep 5\") timeout 300ms\nslow\n",
    );
    assert_eq!(p.run(&[]).status.code(), Some(1));
    let log = succeeded(&p.flow(&["log", "slow"]));
    assert!(log.contains("timed_out"), "{log}");
    assert!(log.contains("begun") && log.contains("warned"), "{log}");

    let mark = unique_mark("stopped");
    std::fs::write(
        p.dir.join("main.flow"),
        format!("sh(\"echo waiting; sleep 5\", mark: \"{mark}\")\n"),
    )
    .unwrap();
    let child = flow_command()
        .current_dir(&p.dir)
        .env_remove("FLOW_STORE")
        .args(["run", "-q", "main.flow"])
        .spawn()
        .unwrap();
    // The shell has printed once its `sleep` runs; then a moment for flow to
    // read it (a signal cuts the reading short).
    wait_until("the task's sleep", || processes_marked(&mark).len() >= 2);
    std::thread::sleep(Duration::from_millis(200));
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(p.runs()[0]["status"], "cancelled");
    let log = succeeded(&p.flow(&["log"]));
    assert!(
        log.contains("cancelled") && log.contains("waiting"),
        "{log}"
    );
}
