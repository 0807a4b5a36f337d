//! Per-task resources on this machine: `cpus` takes that many `--jobs`
//! slots, `mem` must fit in the machine's memory beside the tasks running,
//! and the placement keys are checked, passed on, and left out of the
//! cache key.

use crate::common::{max_overlap, run_with, text, Project};
use flow::{RunOptions, RunStatus, TaskRecord};

fn tasks_named<'a>(outcome: &'a flow::Outcome, prefix: &str) -> Vec<&'a TaskRecord> {
    outcome
        .tasks
        .iter()
        .filter(|t| t.id().starts_with(prefix))
        .collect()
}

#[test]
fn a_task_with_two_cpus_takes_two_slots() {
    let thin = run_with(
        "map _ in range(4) { sh(\"sleep 0.2\") }\n",
        RunOptions::new().jobs(2),
    );
    assert_eq!(max_overlap(&thin.tasks.iter().collect::<Vec<_>>()), 2);
    let outcome = run_with(
        r#"
let wide = map _ in range(3) { sh("sleep 0.3", cpus: 2) }
let thin = map _ in range(2) { sh("sleep 0.3") }
[wide, thin]
"#,
        RunOptions::new().jobs(2),
    );
    assert_eq!(
        outcome.status,
        RunStatus::Succeeded,
        "{:#?}",
        outcome.errors
    );
    // With 2 slots, two-CPU tasks never overlap anything.
    let all: Vec<&TaskRecord> = outcome.tasks.iter().filter(|t| &*t.agent == "sh").collect();
    assert_eq!(all.len(), 5);
    assert_eq!(max_overlap(&tasks_named(&outcome, "wide")), 1);
    for wide in tasks_named(&outcome, "wide") {
        for other in &all {
            if other.id() == wide.id() {
                continue;
            }
            let apart = other.ended_at <= wide.started_at || other.started_at >= wide.ended_at;
            assert!(apart, "`{}` overlaps `{}`", other.id(), wide.id());
        }
    }
    // Tasks start in the order they became ready: a one-CPU task does not
    // jump a two-CPU one that waits for both slots (no starvation).
    let mut by_start = all.clone();
    by_start.sort_by_key(|t| t.started_at);
    let order: Vec<String> = by_start.iter().map(|t| t.id()).collect();
    assert_eq!(
        order,
        ["wide[0]", "thin[0]", "wide[1]", "thin[1]", "wide[2]"]
    );
}

#[test]
fn tasks_whose_memory_does_not_fit_together_run_one_after_another() {
    let total = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap();
    // Each asks for 60% of the machine: two never fit at once.
    let mem = format!("{}K", total * 6 / 10);
    let script = format!(
        "let big = map _ in range(3) {{ sh(\"sleep 0.2\", mem: \"{mem}\") }}\nlet small = map _ in range(2) {{ sh(\"sleep 0.2\", mem: \"1M\") }}\n[big, small]\n"
    );
    let outcome = run_with(&script, RunOptions::new().jobs(4));
    assert_eq!(
        outcome.status,
        RunStatus::Succeeded,
        "{:#?}",
        outcome.errors
    );
    assert_eq!(max_overlap(&tasks_named(&outcome, "big")), 1);
}

#[test]
fn asking_for_more_than_this_machine_has_fails_saying_what_to_do() {
    let outcome = run_with("sh(\"true\", cpus: 3)\n", RunOptions::new().jobs(2));
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = format!("{:?}", outcome.errors);
    assert!(
        error.contains("asks for 3 CPUs (`cpus`), and this run has 2 `--jobs` slots"),
        "{error}"
    );
    assert!(error.contains("--jobs 3"), "{error}");

    let outcome = run_with("sh(\"true\", mem: \"64T\")\n", RunOptions::new());
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = format!("{:?}", outcome.errors);
    assert!(
        error.contains("of memory (`mem`), more than this machine has"),
        "{error}"
    );
}

#[test]
fn a_call_of_a_declared_agent_may_set_its_resources() {
    let outcome = run_with(
        "agent Build = sh(\"echo $cpus-unset\", cpus: 1)\nBuild(cpus: 3)\n",
        RunOptions::new().jobs(2),
    );
    // `cpus: 3` on the call is a resource, not a context variable.
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = format!("{:?}", outcome.errors);
    assert!(error.contains("asks for 3 CPUs"), "{error}");
}

#[test]
fn placement_keys_are_checked_before_anything_runs() {
    let project = Project::new(
        "resources-check",
        "sh(\"true\", mem: \"lots\")\nsh(\"true\", cpus: \"two\")\nagent A = sh(\"true\", partiton: \"x\")\nA()\n",
    );
    let out = project.flow(&["check", "main.flow"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`sh` takes a memory size for `mem`, not \"lots\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("`sh` takes an integer for `cpus`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `partition`"), "{stderr}");
    let out = project.flow(&["explain", "sh"]);
    let explained = text(&out.stdout);
    for key in [
        "cpus",
        "mem",
        "time",
        "partition",
        "account",
        "qos",
        "cluster_options",
        "executor",
    ] {
        assert!(
            explained.contains(&format!("`{key}`")),
            "{key} in:\n{explained}"
        );
    }
}

#[test]
fn an_unknown_executor_is_an_error_with_the_known_ones() {
    let outcome = run_with("sh(\"true\", executor: \"slrum\")\n", RunOptions::new());
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = format!("{:?}", outcome.errors);
    assert!(
        error.contains("no executor is called `slrum`; did you mean `slurm`?"),
        "{error}"
    );

    let project = Project::new("resources-executor", "sh(\"true\")\n");
    // On the command line, a usage error before anything runs (or is recorded).
    let out = project.flow(&["run", "--executor", "lokal", "main.flow"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("invalid value 'lokal' for '--executor <NAME>'")
            && stderr.contains("a similar value exists: 'local'")
            && stderr.contains("[possible values: local, slurm]"),
        "{stderr}"
    );
    assert!(!project.dir.join(".flow").exists(), "no run was recorded");
}

#[test]
fn resources_are_not_part_of_the_cache_key() {
    let project = Project::new(
        "resources-resume",
        "let a = sh(\"echo run >> side.txt; echo a\", cwd: script_dir(), mem: \"10M\")\na\n",
    );
    assert!(project.flow(&["run", "-q", "main.flow"]).status.success());
    let script = std::fs::read_to_string(project.dir.join("main.flow")).unwrap();
    std::fs::write(
        project.dir.join("main.flow"),
        script.replace("mem: \"10M\"", "mem: \"20M\", cpus: 1"),
    )
    .unwrap();
    let again = project.flow(&["run", "-q", "--resume", "main.flow"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(project.side_effects(), ["run"]);
}

/// A host's executor, reached by `executor: "NAME"`: it records the
/// commands it is given and answers each with a fixed output.
struct Recorder(std::sync::Mutex<Vec<String>>);

impl flow::exec::Executor for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn run<'a>(
        &'a self,
        spec: &'a flow::exec::CommandSpec,
        _cancel: &'a flow::CancellationToken,
    ) -> flow::exec::ExecFuture<'a> {
        Box::pin(async move {
            self.0.lock().unwrap().push(spec.cmd.clone());
            Ok(flow::exec::CommandOutput {
                stdout: b"recorded".to_vec(),
                ..Default::default()
            })
        })
    }

    fn capacity(&self) -> flow::exec::Capacity {
        flow::exec::Capacity::Queue(4)
    }
}

#[test]
fn a_host_executor_runs_the_tasks_that_name_it() {
    let recorder = std::sync::Arc::new(Recorder(Default::default()));
    let mut options = RunOptions::new().jobs(1);
    options.executors.push(recorder.clone());
    let outcome = run_with(
        "agent Remote = sh(\"echo far\", executor: \"recorder\", cpus: 64)\n[Remote(), sh(\"echo here\")]\n",
        options,
    );
    assert_eq!(
        outcome.status,
        RunStatus::Succeeded,
        "{:#?}",
        outcome.errors
    );
    // 64 CPUs are not asked of this machine: the recorder's queue holds it.
    assert_eq!(
        outcome.result.as_deref(),
        Some(&serde_json::json!(["recorded", "here"]))
    );
    assert_eq!(*recorder.0.lock().unwrap(), ["echo far"]);
}
