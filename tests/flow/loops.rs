//! `repeat`, `match`, `reduce`, `fold` and `filter`, run end to end: values,
//! task ids, the order and overlap of the tasks they start, and their failures.

use serde_json::json;

use crate::common::{flow_command, max_overlap, result, run, scratch};

fn records<'a>(outcome: &'a flow::Outcome, prefix: &str) -> Vec<&'a flow::TaskRecord> {
    outcome
        .tasks
        .iter()
        .filter(|t| t.instance.starts_with(prefix))
        .collect()
}

fn ids(tasks: &[&flow::TaskRecord]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| flow::graph::task_id(&t.instance, &t.label))
        .collect()
}

// ---- repeat ----------------------------------------------------------------------

/// A critique loop: each round revises the draft and scores it; it stops
/// when the score is high enough, here after 3 rounds.
const CRITIQUE: &str = r#"
let final = repeat s = {draft: "v", score: 0} until s.score >= 8 max 5 {
  sh("printf '{\"draft\": \"%s+\", \"score\": %d}' ${s.draft} $(( ${s.score} + 3 ))", output: "json")
}
final
"#;

#[test]
fn a_critique_loop_converges_in_three_rounds() {
    let outcome = run(CRITIQUE);
    assert_eq!(
        outcome.status,
        flow::RunStatus::Succeeded,
        "{:#?}",
        outcome.errors
    );
    let value = outcome.result.as_deref().cloned().unwrap();
    assert_eq!(value, json!({"draft": "v+++", "score": 9}));
    // One task per round, named by its round; they ran one after another.
    let rounds = records(&outcome, "final@");
    assert_eq!(ids(&rounds), ["final@1", "final@2", "final@3"]);
    assert_eq!(max_overlap(&rounds), 1);
}

#[test]
fn a_condition_true_at_the_start_runs_no_round() {
    let outcome = run("repeat s = 10 until s > 5 max 3 { sh(\"echo ${s}\") }");
    assert_eq!(outcome.result.as_deref(), Some(&json!(10)));
    assert!(outcome.tasks.is_empty(), "{:#?}", outcome.tasks);
}

#[test]
fn hitting_max_fails_unless_an_else_keeps_the_last_value() {
    let script = "let n = repeat s = 0 until s >= 10 max 3 { s + 1 }\nn\n";
    let outcome = run(script);
    assert_eq!(outcome.status, flow::RunStatus::Failed);
    let error = &outcome.errors[0];
    assert_eq!(error.code, flow::diag::Code::DidNotConverge);
    assert!(
        error.message.contains("did not converge after 3 rounds"),
        "{}",
        error.message
    );
    assert!(
        error.notes.iter().any(|n| n.contains("the last value: 3")),
        "{:?}",
        error.notes
    );

    let kept = "repeat s = 0 until s >= 10 max 3 { s + 1 } else { {last: s} }";
    assert_eq!(result(kept), json!({"last": 3}));
    // A `try` catches it like any failure.
    let caught = "try { repeat s = 0 until s >= 10 max 2 { s + 1 } } else { error.message }";
    assert_eq!(
        result(caught),
        json!("`try` did not converge after 2 rounds")
    );
}

#[test]
fn the_condition_may_call_agents_and_names_its_round() {
    let script = r#"
agent Judge = echo()
let polled = repeat n = 0 until Judge(done: n >= 2).done max 5 { n + 1 }
polled
"#;
    let outcome = run(script);
    assert_eq!(outcome.result.as_deref(), Some(&json!(2)));
    let judged: Vec<String> = ids(&records(&outcome, "polled@"))
        .into_iter()
        .filter(|id| id.contains("until"))
        .collect();
    assert_eq!(
        judged,
        [
            "polled@0.until.Judge",
            "polled@1.until.Judge",
            "polled@2.until.Judge"
        ]
    );
}

#[test]
fn a_condition_that_is_not_a_boolean_is_an_error_at_the_condition() {
    let outcome = run("repeat s = 0 until s + 1 max 3 { s + 1 }");
    assert_eq!(outcome.status, flow::RunStatus::Failed);
    let error = &outcome.errors[0];
    assert_eq!(error.code, flow::diag::Code::TypeError, "{error:?}");
}

#[test]
fn a_failing_round_fails_the_loop() {
    let outcome = run(
        "repeat s = 0 until s > 5 max 4 { if s == 2 { fail(\"round 3 broke\") } else { s + 1 } }",
    );
    assert_eq!(outcome.status, flow::RunStatus::Failed);
    assert!(
        outcome.errors[0].message.contains("round 3 broke"),
        "{:?}",
        outcome.errors
    );
}

// ---- match -------------------------------------------------------------------------

/// A supervisor routes to the next agent by the value another agent gave.
const ROUTER: &str = r#"
param topic = "tides"
agent Supervisor = echo()
let route = Supervisor(next: if len(topic) > 3 { "research" } else { "write" })
let step = match route.next {
  "research" => sh("echo researching ${topic}"),
  "write" | "edit" => sh("echo writing"),
  _ => "nothing to do",
}
step
"#;

#[test]
fn a_router_runs_only_the_chosen_arm() {
    let outcome = run(ROUTER);
    assert_eq!(outcome.result.as_deref(), Some(&json!("researching tides")));
    let ran: Vec<&str> = outcome.tasks.iter().map(|t| &*t.agent).collect();
    assert_eq!(ran, ["Supervisor", "sh"], "only one arm runs");
    // The arm's task takes the match's name.
    assert!(outcome.tasks.iter().any(|t| &*t.instance == "step"));
}

#[test]
fn patterns_compare_with_equality_and_an_unmatched_value_fails() {
    assert_eq!(
        result("match 2 { 1 => \"one\", 2 | 3 => \"few\", _ => \"many\" }"),
        json!("few")
    );
    assert_eq!(
        result("match 2.0 { 2 => \"two\", _ => \"other\" }"),
        json!("two")
    );
    assert_eq!(result("match null { null => 0, _ => 1 }"), json!(0));
    assert_eq!(
        result("match \"1\" { 1 => \"number\", _ => \"text\" }"),
        json!("text")
    );
    assert_eq!(
        result("match -1 { -1 => \"minus one\", _ => \"other\" }"),
        json!("minus one")
    );
    let outcome = run("param x = \"zzz\"\nmatch x { \"a\" => 1, \"b\" => 2 }\n");
    assert_eq!(outcome.status, flow::RunStatus::Failed);
    let error = &outcome.errors[0];
    assert_eq!(error.code, flow::diag::Code::NoMatch);
    assert!(error.message.contains("\"zzz\""), "{}", error.message);
}

// ---- reduce and fold -------------------------------------------------------------

#[test]
fn a_tree_reduction_of_64_items_merges_in_parallel_and_in_order() {
    // Each merge waits for a task (`sleep`, which takes no process slot);
    // the result keeps the items' order.
    let script = r#"
let items = map i in range(64) { "<${i}>" }
let summary = reduce (a, b) in items { let _w = sleep(100ms)
  a + b }
summary
"#;
    let outcome = run(script);
    assert_eq!(
        outcome.status,
        flow::RunStatus::Succeeded,
        "{:#?}",
        outcome.errors
    );
    let expected: String = (0..64).map(|i| format!("<{i}>")).collect();
    assert_eq!(outcome.result.as_deref(), Some(&json!(expected)));
    let merges = records(&outcome, "summary[");
    assert_eq!(merges.len(), 63, "n - 1 merges");
    // Named by the items they cover.
    let names: Vec<String> = merges.iter().map(|t| t.instance.to_string()).collect();
    for name in [
        "summary[0-1]",
        "summary[62-63]",
        "summary[0-3]",
        "summary[32-63]",
        "summary[0-63]",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    // The 32 first-level merges ran at once.
    assert!(
        max_overlap(&merges) >= 32,
        "overlap {}",
        max_overlap(&merges)
    );
}

#[test]
fn a_merge_starts_as_soon_as_its_two_inputs_exist() {
    // Merging items 0 and 1 is slow, the others fast: the merge of 4-7 (the
    // next level) starts while 0-1 still runs, so levels overlap.
    let script = r#"
reduce (a, b) in range(8) { let _w = sleep(if a == 0 { 500ms } else { 50ms })
  a + b }
"#;
    let outcome = run(script);
    assert_eq!(outcome.result.as_deref(), Some(&json!(28)));
    let merge = |name: &str| {
        outcome
            .tasks
            .iter()
            .find(|t| &*t.instance == name)
            .unwrap_or_else(|| panic!("{name} ran"))
    };
    let (slow, next_level) = (merge("reduce[0-1]"), merge("reduce[4-7]"));
    assert!(
        next_level.started_at.unwrap() < slow.ended_at.unwrap(),
        "4-7 waited for 0-1"
    );
    // 0-3 needs 0-1: it starts only after it.
    assert!(merge("reduce[0-3]").started_at.unwrap() >= slow.ended_at.unwrap());
}

#[test]
fn reduce_limit_bounds_the_merges_running_at_once() {
    let script = "reduce (a, b) in range(16) limit 3 { sh(\"sleep 0.05; echo $(( ${a} + ${b} ))\", output: \"json\") }";
    let outcome = run(script);
    assert_eq!(outcome.result.as_deref(), Some(&json!(120)));
    let merges: Vec<&flow::TaskRecord> = outcome.tasks.iter().collect();
    assert_eq!(merges.len(), 15);
    assert!(
        max_overlap(&merges) <= 3,
        "overlap {}",
        max_overlap(&merges)
    );
}

#[test]
fn reduce_of_one_item_is_the_item_and_of_none_an_error() {
    assert_eq!(result("reduce (a, b) in [7] { a + b }"), json!(7));
    let outcome = run("reduce (a, b) in [] { a + b }");
    assert_eq!(outcome.errors[0].code, flow::diag::Code::EmptyReduce);
}

#[test]
fn a_fold_runs_its_steps_in_order_from_its_start() {
    let script = r#"
let log = fold (acc, x) in ["a", "b", "c", "d"] from "" { sh("sleep 0.02; printf '%s' ${acc + x}") }
log
"#;
    let outcome = run(script);
    assert_eq!(outcome.result.as_deref(), Some(&json!("abcd")));
    let steps = records(&outcome, "log[");
    assert_eq!(ids(&steps), ["log[0]", "log[1]", "log[2]", "log[3]"]);
    assert_eq!(max_overlap(&steps), 1, "one step at a time");
    assert_eq!(
        result("fold (acc, x) in [] from {n: 0} { acc }"),
        json!({"n": 0})
    );
    assert_eq!(
        result("fold (sum, x) in range(101) from 0 { sum + x }"),
        json!(5050)
    );
}

// ---- filter ------------------------------------------------------------------------

#[test]
fn filter_keeps_the_items_whose_condition_holds() {
    assert_eq!(
        result("filter x in [3, 8, 1, 9] { x > 2 }"),
        json!([3, 8, 9])
    );
    assert_eq!(
        result("filter (i, w) in [\"a\", \"b\", \"c\"] { i != 1 }"),
        json!(["a", "c"])
    );
    // The condition may be an agent's answer, asked for every item in parallel.
    let script = r#"
let files = ["notes.txt", "data.csv", "more.csv"]
filter f in files limit 2 { sh("case ${f} in *.csv) echo true;; *) echo false;; esac", output: "json") }
"#;
    assert_eq!(result(script), json!(["data.csv", "more.csv"]));
    let outcome = run("filter x in [1, 2] { x }");
    assert_eq!(outcome.status, flow::RunStatus::Failed);
    assert!(
        outcome.errors[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("true or false"),
        "{:?}",
        outcome.errors[0]
    );
}

// ---- the command line --------------------------------------------------------------

#[test]
fn graph_draws_the_new_constructs_and_their_bodies() {
    let dir = scratch("loops-graph");
    let script = dir.join("main.flow");
    std::fs::write(
        &script,
        "let final = repeat s = 0 until s > 2 max 5 { sh(\"echo ${s + 1}\", output: \"json\") }\n\
         let route = match final { 3 => sh(\"echo three\"), _ => \"other\" }\n\
         let total = reduce (a, b) in [1, 2, 3] { a + b }\n\
         let firsts = fold (acc, x) in [1] from 0 { acc + x }\n\
         let small = filter x in [1, 5] { x < 3 }\n",
    )
    .unwrap();
    let out = flow_command().arg("graph").arg(&script).output().unwrap();
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "final: repeat",
        "repeat final: each round",
        "route: match",
        "match route: 3",
        "total: reduce",
        "firsts: fold",
        "small: filter",
    ] {
        assert!(dot.contains(expected), "{expected} in\n{dot}");
    }
}

#[test]
fn the_loops_run_from_the_command_line_and_the_repl() {
    let dir = scratch("loops-cli");
    let script = dir.join("main.flow");
    std::fs::write(&script, CRITIQUE).unwrap();
    let out = flow_command()
        .args(["run", "-q"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["score"], 9);
    // An entry that spans lines is read whole.
    let out = crate::common::flow_with_input(
        &["repl", "--quiet"],
        "let n = repeat s = 1 until s > 100 max 10 {\n  s * 3\n}\nn\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("243"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
