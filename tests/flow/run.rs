//! `flow run`: every construct's result, ordering, limits, failures,
//! cancellation, and the examples.

use std::time::Duration;

use flow::{RunOptions, RunStatus, TaskStatus};
use serde_json::json;

use crate::common::{
    self, flow_command, max_overlap, output_or_hang, processes_left, processes_marked, result, run,
    run_with, unique_mark, wait_until,
};

fn task<'a>(outcome: &'a flow::Outcome, id: &str) -> &'a flow::TaskRecord {
    outcome
        .tasks
        .iter()
        .find(|t| t.id() == id)
        .unwrap_or_else(|| {
            panic!(
                "no task `{id}` in {:?}",
                outcome.tasks.iter().map(|t| t.id()).collect::<Vec<_>>()
            )
        })
}

// ---- values of every construct ------------------------------------------------

#[test]
fn expressions_and_builtins() {
    let v = result(
        r#"
        let a = 7 / 2
        let b = 6 / 2
        let s = "x=${a + 1}"
        let l = [1, 2, 3][-1]
        { a: a, b: b, s: s, l: l, n: len(range(5)), o: { k: "v" }.k, up: upper("ab") }
        "#,
    );
    assert_eq!(
        v,
        json!({ "a": 3.5, "b": 3, "s": "x=4.5", "l": 3, "n": 5, "o": "v", "up": "AB" })
    );
}

#[test]
fn result_is_the_last_expression_else_the_top_level_lets() {
    assert_eq!(
        result("let a = 1\nlet b = a + 1\n"),
        json!({ "a": 1, "b": 2 })
    );
    assert_eq!(result("let a = 1\na * 10\n"), json!(10));
}

#[test]
fn map_keeps_input_order_whatever_the_finishing_order() {
    // Later items finish first.
    let v =
        result(r#"map (i, x) in [3, 2, 1, 0] { sh("sleep 0.0${x}; echo ${i}", output: "json") }"#);
    assert_eq!(v, json!([0, 1, 2, 3]));
}

#[test]
fn map_over_an_empty_list_and_a_non_list() {
    assert_eq!(result("map x in [] { sh(\"echo no\") }"), json!([]));
    let outcome = run("let n = 3\nmap x in n { echo(x: x) }");
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.errors[0].code, flow::Code::TypeError);
    assert!(
        outcome.errors[0].message.contains("needs a list"),
        "{:?}",
        outcome.errors
    );
}

/// `noop` reads nothing of its arguments, but one that fails to evaluate
/// still fails the call, at the argument; `echo`, which reads them, gets
/// them all.
#[test]
fn a_noops_arguments_are_evaluated_though_it_reads_none() {
    let outcome = run("let v = echo(a: \"text\")\nnoop(v, n: v.a - 1)\n");
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        outcome.errors[0].code,
        flow::Code::TypeError,
        "{:?}",
        outcome.errors
    );
    assert!(
        outcome.errors[0].message.contains("subtract"),
        "{:?}",
        outcome.errors
    );
    assert_eq!(
        result("let v = echo(a: 1)\nnoop(v, n: v.a - 1)\n"),
        json!(null)
    );
    assert_eq!(
        result("let v = echo(a: 1)\necho(v, n: v.a - 1)\n"),
        json!({ "n": 0, "instructions": "{\"a\":1}" })
    );
}

#[test]
fn fanout_is_an_object_of_its_branches() {
    let v = result(r#"fanout { a: sh("echo 1", output: "json"), b: echo(x: 2), c: 3 }"#);
    assert_eq!(v, json!({ "a": 1, "b": { "x": 2 }, "c": 3 }));
}

#[test]
fn gate_passes_with_the_object_of_its_checks() {
    let v =
        result(r#"gate { one: sh("echo 1", output: "json"), two: echo(v: 2) where two.v == 2 }"#);
    assert_eq!(v, json!({ "one": 1, "two": { "v": 2 } }));
    // `where b`, the check's own value as its condition: the task keeps the check's name.
    let outcome =
        run("let checks = gate { a: sh(\"echo 1\"), b: sh(\"echo true\", output: \"json\") where b }\nchecks\n");
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(task(&outcome, "checks.b").status, TaskStatus::Succeeded);
    let outcome =
        run("let checks = gate { a: sh(\"echo 1\"), b: sh(\"echo false\", output: \"json\") where b }\nchecks\n");
    assert_eq!(outcome.status, RunStatus::Failed);
}

#[test]
fn gate_runs_every_check_and_lists_each_failure() {
    let outcome = run(r#"
        let checks = gate {
          lint: sh("echo lint broke >&2; exit 2"),
          test: echo(failed: 3) where test.failed == 0,
          slow: sh("sleep 0.2; echo ok"),
        }
        "#);
    assert_eq!(outcome.status, RunStatus::Failed);
    let d = &outcome.errors[0];
    assert_eq!(d.code, flow::Code::GateFailed);
    assert!(d.message.contains("2 of 3"), "{}", d.message);
    let text = format!("{:?}", d);
    assert!(
        text.contains("`lint`") && text.contains("exited with status 2"),
        "{text}"
    );
    assert!(text.contains("`test`") && text.contains("where"), "{text}");
    // The slow check was not cut short by the others failing.
    assert_eq!(task(&outcome, "checks.slow").status, TaskStatus::Succeeded);
}

#[test]
fn if_creates_only_the_taken_branch() {
    let outcome = run(r#"
        let n = sh("echo 7", output: "json")
        let r = if n > 5 { sh("echo big") } else if n > 2 { sh("echo medium") } else { sh("echo small") }
        "#);
    assert_eq!(
        outcome.result.as_deref(),
        Some(&json!({ "n": 7, "r": "big" }))
    );
    assert_eq!(outcome.tasks.len(), 2, "only `n` and the taken branch ran");
    let v =
        result("let n = 3\nif n > 5 { \"big\" } else if n > 2 { \"medium\" } else { \"small\" }");
    assert_eq!(v, json!("medium"));
    assert_eq!(result("if false { 1 }"), json!(null));
}

#[test]
fn try_retries_then_runs_else_with_the_error() {
    let outcome = run(r#"
        let p = try {
          sh("echo nope >&2; exit 4")
        } retry 2 else {
          { fallback: true, why: error.message, task: error.task, notes: error.notes }
        }
        "#);
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    let p = &outcome.result.as_deref().unwrap()["p"];
    assert_eq!(p["fallback"], json!(true));
    assert!(p["why"].as_str().unwrap().contains("status 4"), "{p}");
    // the command's stderr tail reaches the fallback, and each task's record
    assert_eq!(p["notes"], json!(["stderr:\nnope"]), "{p}");
    assert!(outcome
        .tasks
        .iter()
        .all(|t| t.notes == ["stderr:\nnope"] && t.to_json()["notes"] == json!(t.notes)));
    assert_eq!(p["task"], json!("p@3"), "the last attempt's task");
    // Three attempts of the body, each its own task, told apart by their ids.
    let mut failed: Vec<String> = outcome
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Failed)
        .map(|t| t.id())
        .collect();
    failed.sort();
    assert_eq!(failed, ["p", "p@2", "p@3"]);
}

#[test]
fn try_without_else_fails_after_its_retries() {
    let outcome = run("try { fail(\"no\") } retry 1");
    assert_eq!(outcome.status, RunStatus::Failed);
    let text = format!("{:?}", outcome.errors[0]);
    assert!(text.contains("gave up after 2 attempts"), "{text}");
}

#[test]
fn call_modifiers_retry_and_timeout() {
    let outcome = run("let x = sh(\"sleep 5\") timeout 100ms");
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.errors[0].code, flow::Code::TaskTimedOut);
    assert_eq!(task(&outcome, "x").status, TaskStatus::TimedOut);

    let outcome = run("let x = fail(\"flaky\") retry 2");
    assert_eq!(task(&outcome, "x").attempts, 3);
}

#[test]
fn after_orders_without_data() {
    let outcome = run(r#"
        let first = sh("sleep 0.2; echo first")
        let second = sh("echo second") after first
        "#);
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let (a, b) = (task(&outcome, "first"), task(&outcome, "second"));
    assert!(b.started_at >= a.ended_at, "`after` must wait");
}

#[test]
fn sub_flows_take_arguments_and_name_their_tasks() {
    let outcome = run(r#"
        flow review(doc, tone) {
          let critique = echo(doc: doc, tone: tone)
          sh("echo reviewed ${critique.doc}")
        }
        let r = review(doc: "draft", tone: "kind")
        let s = review("second", "harsh")
        "#);
    assert_eq!(
        outcome.result.as_deref(),
        Some(&json!({ "r": "reviewed draft", "s": "reviewed second" }))
    );
    assert_eq!(
        task(&outcome, "r.critique").output.as_deref(),
        Some(&json!({ "doc": "draft", "tone": "kind" }))
    );
}

#[test]
fn blocks_scope_their_names() {
    let v = result("let x = { let a = 2; let b = a * 3; b + 1 }\nx");
    assert_eq!(v, json!(7));
}

#[test]
fn params_take_command_line_values() {
    let script = "param n = 2\nparam name = \"x\"\n{ n: n * 10, name: name }";
    assert_eq!(result(script), json!({ "n": 20, "name": "x" }));
    let options = RunOptions {
        params: vec![("n".into(), json!(5))],
        ..Default::default()
    };
    assert_eq!(
        run_with(script, options).result.as_deref(),
        Some(&json!({ "n": 50, "name": "x" }))
    );
    let options = RunOptions {
        params: vec![("nn".into(), json!(5))],
        ..Default::default()
    };
    let outcome = run_with(script, options);
    assert_eq!(outcome.errors[0].code, flow::Code::UnknownParam);
    assert_eq!(
        outcome.errors[0].help.as_deref(),
        Some("did you mean `n`? its params are: n, name")
    );
}

#[test]
fn sh_interpolation_is_quoted() {
    let v = result(
        r#"let evil = "x'; echo pwned; '"
sh("printf '%s' ${evil}")"#,
    );
    assert_eq!(v, json!("x'; echo pwned; '"));
}

/// A `${…}` inside the command's own quotes is written for that place: the
/// shell reads back the value, expands and runs none of it.
#[test]
fn sh_interpolation_inside_quotes_is_never_run() {
    let v = result(
        r#"let t = "a b $HOME `echo RAN` $(echo RAN) \\ \"q\" 'sq'"
let t2 = "; echo INJECTED >&2; echo INJECTED"
{
  double: sh("printf '%s' \"x=${t}\""),
  single: sh("""printf '%s' 'x=${t2}'"""),
  braced: sh("printf '%s' \"\${EMPTY:-${t}}\""),
  mixed: sh("""printf '%s|' ${t2} '${t}' "${t2}" """),
}"#,
    );
    let t = r#"a b $HOME `echo RAN` $(echo RAN) \ "q" 'sq'"#;
    let t2 = "; echo INJECTED >&2; echo INJECTED";
    assert_eq!(v["double"], json!(format!("x={t}")));
    assert_eq!(v["single"], json!(format!("x={t2}")));
    assert_eq!(v["braced"], json!(t));
    assert_eq!(v["mixed"], json!(format!("{t2}|{t}|{t2}|")));
}

// ---- scheduling -----------------------------------------------------------------

#[test]
fn diamond_fast_branch_does_not_wait_for_the_slow_one() {
    let outcome = run(r#"
        let top  = sh("echo 1")
        let slow = sh("sleep 0.4; echo ${top}")
        let fast = sh("echo ${top}")
        let next = sh("echo ${fast}")
        let join = sh("echo ${slow} ${next}")
        "#);
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert!(task(&outcome, "next").ended_at < task(&outcome, "slow").ended_at);
    assert!(task(&outcome, "join").started_at >= task(&outcome, "slow").ended_at);
}

#[test]
fn each_map_item_streams_on_its_own() {
    let outcome = run(r#"
        let batches = map i in [0, 1, 2] {
          let raw = sh("sleep 0.${i * 3}; echo ${i}")
          sh("echo ${raw}", output: "json")
        }
        "#);
    assert_eq!(
        outcome.result.as_deref(),
        Some(&json!({ "batches": [0, 1, 2] }))
    );
    // Item 0's second step ran before item 2's first step ended.
    assert!(task(&outcome, "batches[0]").ended_at < task(&outcome, "batches[2].raw").ended_at);
}

fn sleepers(n: usize, prefix: &str) -> String {
    format!("map i in range({n}) {prefix} {{ Sleeper(i: i) }}")
}

#[test]
fn jobs_limit_is_honoured_exactly() {
    let script = format!("agent Sleeper = sh(\"sleep 0.15\")\n{}", sleepers(6, ""));
    for jobs in [1, 2, 3] {
        let outcome = run_with(
            &script,
            RunOptions {
                jobs: Some(jobs),
                ..Default::default()
            },
        );
        let tasks: Vec<_> = outcome.tasks.iter().collect();
        assert_eq!(max_overlap(&tasks), jobs, "--jobs {jobs}");
    }
}

#[test]
fn agent_and_map_limits_are_honoured_exactly() {
    let outcome = run_with(
        &format!(
            "agent Sleeper = sh(\"sleep 0.15\") limit 2\n{}",
            sleepers(6, "")
        ),
        RunOptions {
            jobs: Some(8),
            ..Default::default()
        },
    );
    assert_eq!(max_overlap(&outcome.tasks.iter().collect::<Vec<_>>()), 2);
    let outcome = run_with(
        &format!(
            "agent Sleeper = sh(\"sleep 0.15\")\n{}",
            sleepers(6, "limit 3")
        ),
        RunOptions {
            jobs: Some(8),
            ..Default::default()
        },
    );
    assert_eq!(max_overlap(&outcome.tasks.iter().collect::<Vec<_>>()), 3);
}

#[test]
fn sleep_tasks_run_in_parallel_beyond_the_default_jobs() {
    // Without --jobs, only `sh` tasks are capped at the number of CPUs.
    let outcome = run("map i in range(8) { sleep(200ms) }");
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(max_overlap(&outcome.tasks.iter().collect::<Vec<_>>()), 8);
}

// ---- failures -------------------------------------------------------------------

#[test]
fn a_failure_skips_its_dependents_and_stops_the_run() {
    let finished = common::scratch("fail-fast").join("finished");
    let outcome = run(&format!(
        r#"
        let bad = sh("echo broken >&2; exit 3")
        let after_bad = sh("echo ${{bad}}")
        let long = sh("sleep 10; touch {}")
        "#,
        finished.display()
    ));
    // Fail-fast cancelled `long`: it never got to the end of its sleep.
    assert!(!finished.exists(), "the run waited for `long`");
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(task(&outcome, "bad").status, TaskStatus::Failed);
    assert_eq!(task(&outcome, "after_bad").status, TaskStatus::Skipped);
    assert!(task(&outcome, "after_bad")
        .error
        .as_deref()
        .unwrap()
        .contains("`bad`"));
    assert_eq!(task(&outcome, "long").status, TaskStatus::Cancelled);
    let d = &outcome.errors[0];
    assert_eq!(d.code, flow::Code::TaskFailed);
    assert!(d.message.contains("exited with status 3"), "{}", d.message);
    assert!(
        d.notes.iter().any(|n| n.contains("broken")),
        "stderr tail: {:?}",
        d.notes
    );
}

#[test]
fn keep_going_lets_independent_branches_finish() {
    let outcome = run_with(
        r#"
        let bad = fail("broken")
        let after_bad = sh("echo ${bad}")
        let other = sh("sleep 0.2; echo done")
        "#,
        RunOptions {
            keep_going: true,
            ..Default::default()
        },
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(task(&outcome, "other").status, TaskStatus::Succeeded);
    assert_eq!(task(&outcome, "after_bad").status, TaskStatus::Skipped);
}

#[test]
fn runtime_errors_point_at_the_operator_or_field() {
    let outcome = run("let a = echo(rows: 1, cols: 2)\nlet b = a.colz");
    let d = &outcome.errors[0];
    assert_eq!(d.code, flow::Code::MissingField);
    assert!(
        d.message.contains("`rows`") && d.message.contains("`cols`"),
        "{}",
        d.message
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `cols`?"));

    let src = "let z = sh(\"echo 0\", output: \"json\")\nlet q = 1 / z";
    let outcome = run(src);
    let d = &outcome.errors[0];
    assert_eq!(d.code, flow::Code::DivisionByZero);
    let span = d.span().unwrap();
    assert_eq!(&src[span.range()], "/");

    let src = "let s = sh(\"echo text\")\nlet q = s + 1";
    let d = &run(src).errors[0];
    assert_eq!(d.code, flow::Code::TypeError);
    assert_eq!(&src[d.span().unwrap().range()], "+");
}

#[test]
fn a_timed_out_task_leaves_no_process_behind() {
    let mark = unique_mark("timeout");
    let outcome = run(&format!(
        "let x = sh(\"sleep 3600 & sleep 3600\", mark: \"{mark}\") timeout 200ms"
    ));
    assert_eq!(task(&outcome, "x").status, TaskStatus::TimedOut);
    assert_eq!(processes_left(&mark), Vec::<u32>::new());
}

// ---- time, on tokio's paused clock ----------------------------------------------

async fn run_paused(text: &str) -> flow::Outcome {
    let engine = flow::Engine::new();
    let script = engine.compile("t.flow", text).expect("compiles");
    engine.run(&script, RunOptions::default()).await
}

#[tokio::test(start_paused = true)]
async fn retry_backoff_doubles_on_the_paused_clock() {
    let start = tokio::time::Instant::now();
    let outcome = run_paused("let x = fail(\"no\") retry 3 backoff 1s").await;
    assert_eq!(task(&outcome, "x").attempts, 4);
    // 1 s + 2 s + 4 s of backoff.
    assert_eq!(start.elapsed().as_secs(), 7);
}

#[tokio::test(start_paused = true)]
async fn try_backoff_doubles_on_the_paused_clock() {
    let start = tokio::time::Instant::now();
    let outcome =
        run_paused("try { fail(\"no\") } retry 2 backoff 10s else { \"fallback\" }").await;
    assert_eq!(outcome.result.as_deref(), Some(&json!("fallback")));
    assert_eq!(start.elapsed().as_secs(), 30);
}

#[tokio::test(start_paused = true)]
async fn timeouts_fire_on_the_paused_clock() {
    let start = tokio::time::Instant::now();
    let outcome = run_paused("let x = sleep(1h) timeout 90s").await;
    assert_eq!(task(&outcome, "x").status, TaskStatus::TimedOut);
    assert_eq!(start.elapsed().as_secs(), 90);
}

/// The same on the real clock: between the task's first start and its last
/// end, by its own record, lie at least the two waits (100 ms, then 200 ms;
/// a lower bound, which a busy machine cannot break).
#[test]
fn retry_backoff_in_real_time() {
    let outcome = run("let x = fail(\"no\") retry 2 backoff 100ms");
    let x = task(&outcome, "x");
    assert_eq!(x.attempts, 3);
    let (started, ended) = (x.started_at.unwrap(), x.ended_at.unwrap());
    let took = ended
        .duration_since(started)
        .expect("the end after the start");
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

// ---- the command line -----------------------------------------------------------

#[test]
fn every_example_runs_and_gives_its_result() {
    let cases = [
        ("etl.flow", "/loaded/written", json!(102)),
        (
            "fan_out_fan_in.flow",
            "",
            json!({ "chunks": 4, "words": 16, "letters": 60 }),
        ),
        // Examples that declare their result with `output`.
        ("quality_gate.flow", "", json!("deployed build/app")),
        (
            "research_create_review.flow",
            "",
            json!(
                "Introduction: tides are caused by the moon; they rise twice a day.\n\
                 Body: tides are caused by the moon; they rise twice a day.\n\
                 Conclusion: tides are caused by the moon; they rise twice a day."
            ),
        ),
        (
            "retry_fallback.flow",
            "",
            json!({ "method": "basic", "status": "ok" }),
        ),
        (
            "streaming_pipeline.flow",
            "",
            json!({ "batches": 6, "records": 150 }),
        ),
        ("map_reduce.flow", "", json!(20)),
        ("critique_loop.flow", "/score", json!(9)),
        (
            "router.flow",
            "",
            json!("sources for: look up the tide tables"),
        ),
        ("tree_reduce.flow", "/total_characters", json!(70)),
        (
            "conditional.flow",
            "",
            json!("Use advanced processing (complexity 7)"),
        ),
    ];
    for (file, pointer, expected) in cases {
        let out = flow_command()
            .args(["run", "--quiet", &format!("examples/{file}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(value.pointer(pointer), Some(&expected), "{file}: {value}");
    }
}

#[test]
fn a_failing_gate_exits_1_and_says_why() {
    let out = flow_command()
        .args(["run", "examples/quality_gate.flow", "--param", "failing=2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gate `checks` failed"), "{stderr}");
    assert!(stderr.contains("`test`"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn json_output_lists_every_task_also_on_failure() {
    let dir = std::env::temp_dir().join(unique_mark("json"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.flow");
    std::fs::write(
        &file,
        "let raw = map i in [1, 2] { sh(\"echo ${i}\") }\nlet bad = fail(\"nope\")\n",
    )
    .unwrap();
    let out = flow_command()
        .args(["run", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "failed");
    let ids: Vec<&str> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"bad"), "{ids:?}");
    let bad = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "bad")
        .unwrap();
    assert_eq!(bad["status"], "failed");
    assert_eq!(bad["error"], "nope");
    for key in ["agent", "attempts", "started_at", "ended_at", "duration_ms"] {
        assert!(bad.get(key).is_some(), "{key} missing in {bad}");
    }
    assert_eq!(doc["errors"][0]["code"], "flow::runtime::task_failed");
}

#[test]
fn ctrl_c_cancels_kills_children_and_exits_130() {
    stopped_by(nix::sys::signal::Signal::SIGINT);
}

/// A closed terminal or a dropped SSH session acts like SIGTERM.
#[test]
fn sighup_cancels_kills_children_and_exits_130() {
    stopped_by(nix::sys::signal::Signal::SIGHUP);
}

#[test]
fn sigterm_cancels_kills_children_and_exits_130() {
    stopped_by(nix::sys::signal::Signal::SIGTERM);
}

fn stopped_by(signal: nix::sys::signal::Signal) {
    let mark = unique_mark("signal");
    let dir = std::env::temp_dir().join(&mark);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.flow");
    std::fs::write(
        &file,
        format!("let a = sh(\"sleep 3600 & sleep 3600\", mark: \"{mark}\")\n"),
    )
    .unwrap();
    let child = flow_command()
        .args(["run"])
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the task's processes", || {
        processes_marked(&mark).len() >= 2
    });
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{signal}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted") && stderr.contains("a"),
        "{stderr}"
    );
    assert_eq!(processes_left(&mark), Vec::<u32>::new());
}

/// The bodies of an `else if` are drawn under the name of the `if` they belong to.
#[test]
fn graph_names_else_if_bodies_after_their_if() {
    let engine = flow::Engine::new();
    let script = engine
        .compile(
            "g.flow",
            "let x = 5\nlet res = if x > 10 { noop() } else if x > 3 { noop() } else { fail(\"none\") }\nres\n",
        )
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let dot = flow::graph::to_dot(&script.graph);
    assert!(!dot.contains("if :") && !dot.contains("result:"), "{dot}");
    assert_eq!(dot.matches("label=\"if res: then\"").count(), 2, "{dot}");
    assert!(dot.contains("res: fail"), "{dot}");
    // In JSON every node has a name, also those that give a body its value.
    let json = flow::graph::to_json(&script.graph);
    let names: Vec<&str> = json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["name"].as_str().unwrap_or(""))
        .collect();
    assert!(names.iter().all(|n| !n.is_empty()), "{names:?}");
}

/// A call the script does not bind is named after its agent, and a construct
/// after its kind: never the placeholder `result`.
#[test]
fn unbound_calls_are_named_after_their_agent() {
    let outcome = run("sh(\"exit 3\")\n");
    assert!(
        outcome.errors[0].message.contains("task `sh` (sh)"),
        "{:?}",
        outcome.errors
    );
    let outcome = run("map x in [1, 2] { fail(\"two\") }\n");
    assert!(
        outcome.errors[0].message.contains("`map[0]`"),
        "{:?}",
        outcome.errors
    );
}

/// A retried sub-flow call's attempts (`one@2`) and a second call of the same
/// flow (`one#2`) never share a task id.
#[test]
fn attempts_and_repeated_calls_have_distinct_ids() {
    let dir = std::env::temp_dir().join(crate::common::unique_mark("ids"));
    std::fs::create_dir_all(&dir).unwrap();
    let counter = dir.join("count");
    let outcome = run(&format!(
        r#"
        flow one(t, need) {{
          let up = sh("echo x >> {c}-${{t}}; test $(wc -l < {c}-${{t}}) -ge ${{need}} && echo ${{t}}")
          up
        }}
        flow two(t) {{ [one(t, 2) retry 2, one(t + "!", 1)] }}
        let b = two("yo")
        "#,
        c = counter.display()
    ));
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    let mut ids: Vec<String> = outcome.tasks.iter().map(|t| t.id()).collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "{ids:?}");
    assert!(ids.iter().any(|id| id.contains('@')), "{ids:?}");
}

/// A bad modifier value computed at run time points at its call or construct,
/// and the task that never ran is still in the records.
#[test]
fn bad_modifier_values_point_at_the_call() {
    let text = "let t = sh(\"echo abc\")\nlet x = sh(\"echo hi\") timeout t\n";
    let outcome = run(text);
    assert_eq!(outcome.status, RunStatus::Failed);
    let span = outcome.errors[0].span().expect("a span");
    assert_eq!(
        &text[span.start as usize..span.end as usize],
        "sh(\"echo hi\") timeout t"
    );
    let x = outcome
        .tasks
        .iter()
        .find(|t| t.id() == "x")
        .expect("a record of x");
    assert_eq!((x.status, x.attempts), (TaskStatus::Failed, 0));
    let text = "let n = sh(\"echo 0\")\nmap i in [1, 2] limit n { i }\n";
    let outcome = run(text);
    let span = outcome.errors[0].span().expect("a span");
    assert!(text[span.start as usize..].starts_with("map i in"));
}

/// `flow run … | head -1`: a reader that goes away early is no crash.
#[test]
fn a_closed_stdout_is_not_a_crash() {
    use std::io::Read;
    let mut child = flow_command()
        .args(["run", "-q", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"range(200000)\n").unwrap();
    }
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's read end is closed here, with most of the result unread.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(first[0], b'[');
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// Commands an attacker's value must never break out of (found by an
/// adversarial review: nested quotes, `case` in `$( )`, arithmetic,
/// here-documents with continuations, tabs, quotes and `<<` in comments,
/// `#` that is no comment, a `$` before the value; `g*`: a value handed to
/// a second shell as `unsafe_interpolation` suggests).
#[test]
fn no_value_breaks_out_of_an_sh_command() {
    let dir = crate::common::root().join("tests/cases/sh_injection");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the injection cases")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    // In two halves at once, each with a mark of its own.
    common::at_once(files.chunks(files.len().div_ceil(2)), |files| {
        let mark = std::env::temp_dir().join(unique_mark("pwned"));
        let m = mark.display();
        let payloads = [
            format!("x; touch {m}"),
            format!("$(touch {m})"),
            format!("x'\"; touch {m}; echo \"'"),
            format!("`touch {m}`"),
            format!("a\nEOF\ntouch {m}\n"),
            format!("x}}\"; touch {m}; echo \"{{"),
            "'".to_string(),
        ];
        for file in files {
            let script = std::fs::read_to_string(file).expect("a case");
            for payload in &payloads {
                let mut command = flow_command();
                command.args(["run", "-q"]).arg(file);
                command.arg("--param").arg(format!("v={payload}"));
                if script.contains("param w") {
                    command.arg("--param").arg(format!("w={payload}"));
                }
                let out = command.output().expect("flow runs");
                assert_ne!(
                    out.status.code(),
                    Some(2),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    !mark.exists(),
                    "{} ran the value {payload:?}",
                    file.display()
                );
                // The ways `unsafe_interpolation` suggests to hand a value to a
                // second shell pass it intact.
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("g") {
                    let printed: serde_json::Value =
                        serde_json::from_slice(&out.stdout).expect("a JSON result");
                    let want = payload.strip_suffix('\n').unwrap_or(payload);
                    assert_eq!(printed, json!({ "r": want }), "{name}");
                }
            }
        }
    });
}

/// Durations too long for a clock (`1e20` seconds, also read from a task's
/// output) mean "never", not a crash.
#[test]
fn huge_durations_are_never_not_a_crash() {
    let v = result(
        "let big = sh(\"echo 1e20\", output: \"json\")\n{ a: sh(\"echo hi\") timeout 1e20, b: sh(\"echo ho\") timeout big, c: sleep(0) timeout 1e20s }",
    );
    assert_eq!(v, json!({ "a": "hi", "b": "ho", "c": null }));
}

/// Ctrl-C while nothing runs but a clock: a `try`'s backoff, or a sub-flow's
/// timeout around a task that the interrupt cancels. Neither keeps the run.
#[test]
fn ctrl_c_does_not_wait_for_backoffs_or_timeouts() {
    for script in [
        "try { fail(\"x\") } retry 1 backoff 1h else { 1 }\n",
        "flow f() { sleep(1h) }\nlet a = f() timeout 2h\na\n",
    ] {
        let mark = unique_mark("sigint-clock");
        let dir = std::env::temp_dir().join(&mark);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.flow");
        std::fs::write(&file, script).unwrap();
        let child = flow_command()
            .args(["run", "-q"])
            .arg(&file)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        // The clocks run for an hour: a run that waited would trip the guard.
        let out = output_or_hang(child, &format!("the interrupted run of {script:?}"));
        assert_eq!(out.status.code(), Some(130), "{script}");
    }
}

#[test]
fn a_number_that_is_not_one_is_said_in_words() {
    for (args, says) in [
        (
            &["run", "-j", "abc", "examples/etl.flow"][..],
            "`abc` is not a number of tasks at once (1 or more)",
        ),
        (
            &["run", "-j", "0", "examples/etl.flow"],
            "`0` is not a number of tasks at once",
        ),
        (&["clean", "--keep", "abc"], "`abc` is not a whole number"),
        (&["runs", "-n", "x"], "`x` is not a whole number"),
        (
            &["report", "abc"],
            "`abc` is not a run number (`flow runs` lists them)",
        ),
        (&["clean", "0"], "`0` is not a run number"),
    ] {
        let out = flow_command()
            .args(args)
            .env("FLOW_STORE", "/nonexistent/store")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("invalid digit"), "{args:?}: {stderr}");
    }
}

#[test]
fn unknown_params_and_bad_files_are_usage_errors() {
    let out = flow_command()
        .args(["run", "examples/etl.flow", "--param", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = flow_command()
        .args(["run", "does/not/exist.flow"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
    let out = flow_command()
        .args(["run", "examples/etl.flow", "--param", "sourcez=[]"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an undeclared param is a usage error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `sources`?"));
}

#[test]
fn graph_prints_only_the_graph() {
    for format in ["dot", "mermaid", "json"] {
        let out = flow_command()
            .args([
                "graph",
                "--format",
                format,
                "examples/streaming_pipeline.flow",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        match format {
            "dot" => assert!(
                text.starts_with("digraph")
                    && text.contains("subgraph cluster_")
                    && text.contains("Ingestor")
            ),
            "mermaid" => assert!(text.starts_with("flowchart") && text.contains("subgraph")),
            _ => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert!(v["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n["agent"] == "Processor"));
            }
        }
    }
    let _ = common::root();
}

// ---- constructs inside constructs ----------------------------------------------

#[test]
fn nested_maps_capture_outer_values() {
    let v = result(
        r#"
        let base = sh("echo 100", output: "json")
        map i in range(3) { map j in range(2) { base + i * 10 + j } }
        "#,
    );
    assert_eq!(v, json!([[100, 101], [110, 111], [120, 121]]));
}

#[test]
fn try_inside_map_handles_each_item() {
    let v = result(
        r#"
        map x in [1, 2, 3] {
          try { sh("test ${x} -ne 2 && echo ${x} || exit 1", output: "json") } else { "fallback ${x}" }
        }
        "#,
    );
    assert_eq!(v, json!([1, "fallback 2", 3]));
}

#[test]
fn if_inside_map_picks_per_item() {
    let v = result(r#"map x in [1, 7] { if x > 5 { echo(big: x) } else { echo(small: x) } }"#);
    assert_eq!(v, json!([{ "small": 1 }, { "big": 7 }]));
}

#[test]
fn a_gate_inside_try_falls_back() {
    let v = result(
        r#"
        try {
          gate { a: echo(ok: false) where a.ok }
        } else {
          error.message
        }
        "#,
    );
    assert!(v.as_str().unwrap().contains("gate"), "{v}");
}

#[test]
fn sub_flow_calls_take_timeout_and_retry() {
    let outcome = run("flow slow() { sleep(5s) }\nlet s = slow() timeout 100ms");
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.errors[0].code, flow::Code::TaskTimedOut);
    assert!(
        outcome.errors[0].message.contains("timed out"),
        "{:?}",
        outcome.errors
    );

    let outcome =
        run("flow bad() { fail(\"no\") }\nlet s = try { bad() retry 2 } else { \"fell back\" }");
    assert_eq!(
        outcome.result.as_deref(),
        Some(&json!({ "s": "fell back" }))
    );
    assert_eq!(
        outcome
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Failed)
            .count(),
        3
    );
}

#[test]
fn keep_going_finishes_every_map_item() {
    let outcome = run_with(
        r#"let r = map x in range(6) limit 2 { sh("test ${x} -ne 1 && echo ${x} || exit 1") }"#,
        RunOptions {
            keep_going: true,
            ..Default::default()
        },
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    let succeeded = outcome
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Succeeded)
        .count();
    assert_eq!(succeeded, 5, "every other item still ran");
}

#[test]
fn fail_fast_stops_starting_map_items() {
    let outcome = run(
        r#"let r = map x in range(20) limit 1 { sh("test ${x} -ne 1 && echo ${x} || exit 1") }"#,
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    let ran = outcome
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Succeeded)
        .count();
    assert_eq!(ran, 1, "only item 0 ran before item 1 failed");
}

#[test]
fn keywords_are_fine_as_argument_names_and_keys() {
    let v =
        result("let r = echo(timeout: 5, limit: 2)\n{ a: r.timeout, b: { in: 1 }.in, c: r.limit }");
    assert_eq!(v, json!({ "a": 5, "b": 1, "c": 2 }));
}

// ---- regressions found by review -----------------------------------------------

#[test]
fn a_task_dropped_from_the_queue_does_not_let_its_readers_run_on_null() {
    let options = || RunOptions {
        jobs: Some(1),
        ..Default::default()
    };
    let outcome = run_with(
        "let bad = sh(\"exit 1\")\nlet v = map _ in [1] { let r = sh(\"echo '{\\\"n\\\": 1}'\"); r.n }",
        options(),
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        outcome.errors.len(),
        1,
        "only the real failure: {:#?}",
        outcome.errors
    );
    assert_eq!(outcome.errors[0].code, flow::Code::TaskFailed);
    let outcome = run_with(
        "flow f(x) { let r = sh(\"echo '{\\\"n\\\": 1}'\"); r.n }\nlet bad = sh(\"exit 1\")\nlet v = f(1)",
        options(),
    );
    assert_eq!(outcome.errors.len(), 1, "{:#?}", outcome.errors);
}

#[test]
fn a_where_condition_must_be_true_or_false() {
    let outcome = run("let a = gate { x: echo(n: 1) where x.n }");
    let d = &outcome.errors[0];
    assert_eq!(d.code, flow::Code::GateFailed);
    assert!(format!("{d:?}").contains("not true or false"), "{d:?}");
}

#[test]
fn a_failed_gate_check_shows_the_stderr_of_its_task() {
    let outcome = run("let g = gate { lint: sh(\"echo 3 lint errors >&2; exit 1\") }");
    let d = &outcome.errors[0];
    assert!(
        d.notes.iter().any(|n| n.contains("3 lint errors")),
        "{:?}",
        d.notes
    );
}

#[test]
fn a_sub_flow_timeout_points_at_the_call() {
    let src = "flow slow() { sleep(5s) }\nlet s = slow() timeout 100ms";
    let outcome = run(src);
    let d = &outcome.errors[0];
    assert_eq!(d.code, flow::Code::TaskTimedOut);
    assert_eq!(
        &src[d.span().expect("a span").range()],
        "slow() timeout 100ms"
    );
}

#[test]
fn a_task_skipped_after_a_cancellation_says_cancelled() {
    let outcome = run(
        "let slow = sh(\"sleep 5\")\nlet bad = sh(\"sleep 0.2; exit 1\")\nlet after_slow = sh(\"echo ${slow}\")",
    );
    let skipped = task(&outcome, "after_slow");
    assert_eq!(skipped.status, TaskStatus::Skipped);
    assert_eq!(skipped.error.as_deref(), Some("`slow` was cancelled"));
}

#[test]
fn a_condition_that_is_not_a_boolean_points_at_the_condition() {
    let src = "let n = 1\nlet r = if n { 1 } else { 2 }";
    let d = &run(src).errors[0];
    assert_eq!(d.code, flow::Code::TypeError);
    assert_eq!(&src[d.span().unwrap().range()], "n");
}

#[test]
fn json_output_is_printed_also_when_the_script_does_not_compile() {
    let dir = std::env::temp_dir().join(unique_mark("json-invalid"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.flow");
    std::fs::write(&file, "let x = sleep(5sec)\n").unwrap();
    let out = flow_command()
        .args(["run", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "invalid");
    assert_eq!(doc["errors"][0]["code"], "flow::syntax::bad_duration");
}

#[test]
fn an_agent_config_reads_a_param_declared_below_it() {
    let v = result("agent A = sh(\"echo ${greeting}\")\nparam greeting = \"hello\"\nA()");
    assert_eq!(v, json!("hello"));
}

#[test]
fn the_readme_failure_transcript_is_what_flow_prints() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let command = "$ flow run -q examples/quality_gate.flow --param failing=2\n";
    let start = readme
        .find(command)
        .expect("the transcript is in the README")
        + command.len();
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let out = flow_command()
        .args([
            "run",
            "-q",
            "examples/quality_gate.flow",
            "--param",
            "failing=2",
        ])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let printed: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| l.trim_end().to_string() + "\n")
        .collect();
    assert_eq!(printed, shown);
}

#[test]
fn a_script_can_come_from_standard_input() {
    use std::io::Write;
    let mut child = flow_command()
        .args(["run", "-q", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sh(\"echo from-stdin\")\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        json!("from-stdin")
    );
}

/// The data built-ins in a script: ordering, lookups, paths, numbers.
#[test]
fn data_built_ins_work_in_a_script() {
    let v = result(
        r#"let rows = [{name: "b.txt", size: 3}, {name: "a.tar.gz", size: 1}, {name: "c", size: 3}]
        {
          by_size: map r in sort(rows, "size") { r.name },
          names: reverse(sort(map r in rows { r.name })),
          sizes: unique(map r in rows { r.size }),
          ext: map r in rows { extension(r.name) },
          dir: dirname("/data/in/x.csv"),
          got: get(rows[0], "owner", "nobody"),
          last: get(rows, -1).name,
          text: replace("a-b", "-", "+"),
          starts: starts_with("report.md", "rep"),
          lines: lines("a\r\nb\n"),
          rounded: [round(2.5), floor(-1.5), ceil(1.1), round(2.675, 2), fixed(1 / 3, 3)],
        }"#,
    );
    assert_eq!(
        v,
        json!({
            "by_size": ["a.tar.gz", "b.txt", "c"],
            "names": ["c", "b.txt", "a.tar.gz"],
            "sizes": [3, 1],
            "ext": ["txt", "gz", ""],
            "dir": "/data/in",
            "got": "nobody",
            "last": "c",
            "text": "a+b",
            "starts": true,
            "lines": ["a", "b"],
            "rounded": [3, -2, 2, 2.68, "0.333"],
        })
    );
    let error = flow::Engine::new()
        .compile("t.flow", "sort([1], \"k\", 3)")
        .unwrap_err();
    assert!(
        error.diagnostics[0].message.contains("`sort` takes"),
        "{:?}",
        error.diagnostics[0]
    );
}

/// `flow` turns transparent huge pages off while it starts (src/cli/pages.rs)
/// and on again before the work: the commands it starts get them as `flow`
/// was given them, on or off.
#[cfg(target_os = "linux")]
#[test]
fn commands_get_huge_pages_as_flow_was_given_them() {
    use std::os::unix::process::CommandExt;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !status.contains("THP_enabled") {
        eprintln!("skipped: this kernel does not say whether huge pages are on");
        return;
    }
    let script = common::scratch("huge-pages").join("main.flow");
    std::fs::write(&script, "sh(\"grep THP_enabled /proc/self/status\")\n").unwrap();
    for off in [false, true] {
        let mut cmd = flow_command();
        cmd.args(["run", "-q", "--no-store"]).arg(&script);
        if off {
            // SAFETY: prctl with integer options, between fork and exec.
            #[allow(unsafe_code)]
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
                    Ok(())
                });
            }
        }
        let out = output_or_hang(
            cmd.stdout(std::process::Stdio::piped()).spawn().unwrap(),
            "flow",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let expected = if off {
            "THP_enabled:\\t0"
        } else {
            "THP_enabled:\\t1"
        };
        assert!(stdout.contains(expected), "off: {off}, printed {stdout}");
    }
}
