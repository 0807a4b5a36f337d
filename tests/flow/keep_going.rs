//! `--keep-going` results: the result holds every value that could be
//! computed, a failed or skipped place an error value naming the task and the
//! cause, and the run still fails (exit status 1).

use flow::{RunOptions, RunStatus, TaskStatus};
use serde_json::{json, Value};

use crate::common::{flow_command, run, run_with, unique_mark};

/// Writes `text` to a fresh script file and runs `flow run ARGS… FILE`:
/// the exit code, stdout and stderr.
fn flow_run(args: &[&str], text: &str) -> (Option<i32>, String, String) {
    let dir = std::env::temp_dir().join(unique_mark("keep-going"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.flow");
    std::fs::write(&file, text).unwrap();
    let out = flow_command()
        .arg("run")
        .args(args)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn keep_going() -> RunOptions {
    RunOptions::new().keep_going(true)
}

fn failed(task: &str, message: &str) -> Value {
    json!({ "error": { "task": task, "message": message, "skipped": false } })
}

fn skipped(task: &str, failed: &str) -> Value {
    let message = format!("not run: `{failed}` failed");
    json!({ "error": { "task": task, "message": message, "skipped": true } })
}

const MAP: &str = r#"map x in range(5) { sh("if [ ${x} = 3 ]; then exit 1; fi; echo $((${x} * 10))", output: "json") }"#;

#[test]
fn a_map_with_one_failing_item_keeps_the_other_values_and_exits_1() {
    let (code, stdout, stderr) = flow_run(&["--keep-going", "--quiet"], MAP);
    assert_eq!(code, Some(1), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("the partial result on stdout");
    assert_eq!(
        result,
        json!([
            0,
            10,
            20,
            failed("map[3]", "command exited with status 1"),
            40
        ])
    );
    // The diagnostic is still printed.
    assert!(
        stderr.contains("task `map[3]` (sh) failed: command exited with status 1"),
        "{stderr}"
    );
}

#[test]
fn without_keep_going_nothing_changes() {
    let (code, stdout, stderr) = flow_run(&["--quiet"], MAP);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "", "no result without --keep-going");
    let outcome = run(MAP);
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(outcome.result.is_none());
}

#[test]
fn a_chain_with_a_failing_middle_names_the_failed_task_where_it_skipped() {
    let script = r#"
        let a = sh("echo 1", output: "json")
        let b = sh("echo broken >&2; exit 3")
        let c = sh("echo ${b}")
        let other = sh("sleep 0.2; echo done")
    "#;
    let (code, stdout, stderr) = flow_run(&["--keep-going", "--quiet"], script);
    assert_eq!(code, Some(1), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["a"], json!(1));
    assert_eq!(result["other"], json!("done"), "an independent branch ran");
    assert_eq!(result["c"], skipped("c", "b"));
    // A failed task's error value carries its notes (the stderr tail).
    let b = &result["b"]["error"];
    assert_eq!(b["task"], json!("b"));
    assert_eq!(b["message"], json!("command exited with status 3"));
    assert_eq!(b["skipped"], json!(false));
    assert!(b["notes"][0].as_str().unwrap().contains("broken"), "{b}");
    assert!(stderr.contains("task `b` (sh) failed"), "{stderr}");
}

#[test]
fn json_output_holds_the_partial_result() {
    let (code, stdout, _) = flow_run(&["--keep-going", "--json"], MAP);
    assert_eq!(code, Some(1));
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["status"], json!("failed"));
    assert_eq!(doc["result"][2], json!(20));
    assert_eq!(doc["result"][3]["error"]["task"], json!("map[3]"));
    assert!(!doc["errors"].as_array().unwrap().is_empty());
}

#[test]
fn the_engine_outcome_holds_the_partial_result() {
    let outcome = run_with(
        r#"
        let pages = map x in range(4) { sh("test ${x} -ne 1 && echo ${x} || exit 2", output: "json") }
        let total = sh("echo ${pages}")
        let first = pages[0] + 100
        let bad = pages[1].rows
        { pages: pages, total: total, first: first, bad: bad }
        "#,
        keep_going(),
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.errors.len(), 1, "{:?}", outcome.errors);
    // The task reading the failed list did not run, as without --keep-going.
    let total = outcome.task("total").unwrap();
    assert_eq!(total.status, TaskStatus::Skipped);
    assert_eq!(total.error.as_deref(), Some("`pages[1]` failed"));
    let pages_1 = failed("pages[1]", "command exited with status 2");
    assert_eq!(
        *outcome.result.expect("a partial result"),
        json!({
            "pages": [0, pages_1, 2, 3],
            "total": skipped("total", "pages[1]"),
            // A pure expression computes what it can; over an error value it
            // is that error value.
            "first": 100,
            "bad": pages_1,
        })
    );
}

#[test]
fn pure_expressions_over_a_failed_value_become_its_error_value() {
    let outcome = run_with(
        r#"
        let a = fail("no luck")
        let b = echo(n: 2)
        let c = a.field
        { plus: a + 1, field: c, text: "got ${a}", list: [b.n, a, len([a, b])], fine: b.n * 2 }
        "#,
        keep_going(),
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    let a = failed("a", "no luck");
    assert_eq!(
        *outcome.result.unwrap(),
        json!({ "plus": a, "field": a, "text": a, "list": [2, a, 2], "fine": 4 })
    );
}

#[test]
fn sub_flows_and_branches_keep_their_good_values() {
    let outcome = run_with(
        r#"
        flow Pair(n) {
            let ok = sh("echo ${n}", output: "json")
            let bad = sh("exit ${n}")
            { ok: ok, bad: bad }
        }
        let p = Pair(5)
        let branch = if true { let k = fail("nope"); [k, 1] } else { 0 }
        let nested = map xs in [[1, 2], [3]] { map y in xs { sh("test ${y} -ne 2 && echo ${y} || exit 1", output: "json") } }
        { p: p, branch: branch, nested: nested }
        "#,
        keep_going(),
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        *outcome.result.unwrap(),
        json!({
            "p": { "ok": 5, "bad": failed("p.bad", "command exited with status 5") },
            "branch": [failed("branch.k", "nope"), 1],
            "nested": [[1, failed("nested[0][1]", "command exited with status 1")], [3]],
        })
    );
}

#[test]
fn handled_failures_are_caught_as_without_keep_going() {
    let script = r#"
        let caught = try { map x in range(3) { sh("test ${x} -ne 1 || exit 1; echo ${x}", output: "json") } } else { "fallback: ${error.task}" }
        let check = try { fail("x") } else { error.message }
        { caught: caught, check: check }
    "#;
    for options in [RunOptions::new(), keep_going()] {
        let outcome = run_with(script, options);
        assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
        assert_eq!(
            *outcome.result.unwrap(),
            json!({ "caught": "fallback: caught[1]", "check": "x" })
        );
    }
    // A try without `else` fails as a whole, at its first failure: its place
    // is one error value, not a partial list.
    let outcome = run_with(
        r#"{ t: try { map x in range(2) { fail("x${x}") } }, ok: 1 }"#,
        keep_going(),
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        *outcome.result.unwrap(),
        json!({ "t": failed("try[0]", "x0"), "ok": 1 })
    );
}

#[test]
fn the_keep_going_example_prints_the_sources_that_answered() {
    let out = flow_command()
        .args(["run", "--quiet", "--keep-going", "examples/keep_going.flow"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["pages"][0], json!({ "source": "orders", "rows": 6 }));
    assert_eq!(
        result["pages"][3],
        json!({ "source": "products", "rows": 8 })
    );
    assert_eq!(result["pages"][2]["error"]["task"], json!("pages[2]"));
    assert_eq!(result["summary"], skipped("summary", "pages[2]"));
}
