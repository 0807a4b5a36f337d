//! `map`s with more items than can run: past a backlog of tasks waiting for a
//! slot, a map instantiates further items only as tasks start. These maps
//! wait on that backlog (700 items for 2 slots) and must still give every
//! result, stop on a failure, and finish every item with `--keep-going`.

use flow::{RunOptions, RunStatus, TaskStatus};
use serde_json::{json, Value};

use crate::common::run_with;

fn two_jobs() -> RunOptions {
    RunOptions::default().jobs(2)
}

#[test]
fn every_item_runs_and_results_keep_their_order() {
    let outcome = run_with(
        r#"map i in range(700) { sh("echo ${i}", output: "json") }"#,
        two_jobs(),
    );
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    let expected: Vec<Value> = (0..700).map(|i| json!(i)).collect();
    assert_eq!(outcome.result.as_deref(), Some(&Value::Array(expected)));
}

#[test]
fn nested_maps_waiting_on_the_backlog_all_finish() {
    let outcome = run_with(
        r#"
        let rows = map a in range(30) { map b in range(30) { sh("echo ${a * 100 + b}", output: "json") } }
        rows[29][29] + rows[0][1] + len(rows)
        "#,
        two_jobs(),
    );
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(outcome.result.as_deref(), Some(&json!(2929 + 1 + 30)));
}

#[test]
fn a_failure_stops_a_map_that_waits_on_its_backlog() {
    let outcome = run_with(
        r#"map i in range(700) { sh("test ${i} != 5") }"#,
        two_jobs(),
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    let ran = outcome
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Succeeded)
        .count();
    assert!(ran < 690, "{ran} items ran after the failure");
}

#[test]
fn keep_going_finishes_every_item_of_a_map_waiting_on_its_backlog() {
    let outcome = run_with(
        r#"map i in range(700) { sh("test $((${i} % 100)) != 5") }"#,
        two_jobs().keep_going(true).record_all(true),
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    let count = |status| outcome.tasks.iter().filter(|t| t.status == status).count();
    assert_eq!(count(TaskStatus::Failed), 7);
    assert_eq!(count(TaskStatus::Succeeded), 693);
}

#[test]
fn items_that_need_no_slot_still_finish_while_many_tasks_wait() {
    let outcome = run_with(
        r#"
        let slow = map i in range(600) { sh("true") }
        let quick = map i in range(5) { sleep(1ms) }
        { slow: len(slow), quick: len(quick) }
        "#,
        RunOptions::default(),
    );
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(
        outcome.result.as_deref(),
        Some(&json!({ "slow": 600, "quick": 5 }))
    );
}
