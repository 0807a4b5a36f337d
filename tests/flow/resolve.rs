//! Name resolution: the edge cases where the checker, the lowering and the
//! REPL's `:save` once each resolved names their own way. Each case is
//! checked as a script, run, entered line by line in a REPL session, and the
//! session's `:save` is run again: all of them must agree.

use std::sync::Arc;

use flow::check::{check, Env};
use flow::cli::repl::{EntryOutcome, RunControl, Session, SessionOptions};
use flow::graph::Prelude;
use flow::{Engine, RunOptions, SourceFile, Value};
use serde_json::json;

fn parse(text: &str) -> flow::ast::Program {
    flow::syntax::parse(&SourceFile::new("t.flow", text)).expect("it parses")
}

/// Runs a script; its result.
async fn run(text: &str) -> Value {
    let outcome = Engine::new()
        .run_source("t.flow", text, RunOptions::new())
        .await
        .unwrap_or_else(|e| panic!("{text}\ndoes not compile:\n{}", e.render()));
    assert!(outcome.errors.is_empty(), "{text}: {:?}", outcome.errors);
    outcome.result.map(|v| (*v).clone()).unwrap_or(Value::Null)
}

/// Enters `entries` one by one; the value of the last, and the session.
async fn repl(entries: &[&str]) -> (Value, Session) {
    let mut session = Session::new(Engine::new(), SessionOptions::default());
    let ctl = RunControl::default();
    let mut last = Value::Null;
    for (i, entry) in entries.iter().enumerate() {
        match session.eval_entry(&format!("entry {i}"), entry, &ctl).await {
            EntryOutcome::Done { value, .. } => {
                last = value.map(|v| (*v).clone()).unwrap_or(Value::Null);
            }
            other => panic!("entry {entry:?} did not run: {other:?}"),
        }
    }
    (last, session)
}

/// The REPL and the script its `:save` writes give `expected`.
async fn repl_and_save_agree(entries: &[&str], expected: Value) {
    let (value, session) = repl(entries).await;
    assert_eq!(value, expected, "the REPL, for {entries:?}");
    let saved = session.script_text();
    assert_eq!(run(&saved).await, expected, "the saved script:\n{saved}");
}

/// The entries as one script check cleanly and run to `expected`, and so do
/// the REPL and its `:save`.
async fn all_agree(entries: &[&str], expected: Value) {
    let script = entries.join("\n");
    let diags = check(&parse(&script), &Env::default());
    assert!(!flow::diag::has_errors(&diags), "{script}: {diags:?}");
    assert_eq!(run(&script).await, expected, "the script:\n{script}");
    repl_and_save_agree(entries, expected).await;
}

/// The last entry is refused with `code`, by the checker as a script and by
/// the REPL after the earlier entries.
async fn all_refuse(entries: &[&str], code: &str) {
    let script = entries.join("\n");
    let diags = check(&parse(&script), &Env::default());
    let codes: Vec<&str> = diags.iter().map(|d| d.code.name()).collect();
    assert!(codes.contains(&code), "{script}: {codes:?}");
    let (last, earlier) = entries.split_last().expect("an entry");
    let (_, mut session) = repl(earlier).await;
    match session
        .eval_entry("last", last, &RunControl::default())
        .await
    {
        EntryOutcome::Failed(problems) => assert!(
            problems.iter().any(|p| p.diagnostic.code.name() == code),
            "{last}: {problems:?}"
        ),
        other => panic!("{last:?} ran in the REPL: {other:?}"),
    }
}

#[tokio::test]
async fn names_shadowed_inside_map_and_if_blocks() {
    all_agree(
        &[
            "let x = 1",
            "let ys = map x in [10, 20] { let y = x + 1; y }",
            "let z = if x > 0 { let x = 5; x * 2 } else { x }",
            "let w = map i in [1, 2] { if i > 1 { let i = i * 100; i } else { x + i } }",
            "{ x: x, ys: ys, z: z, w: w }",
        ],
        json!({ "x": 1, "ys": [11, 21], "z": 10, "w": [2, 200] }),
    )
    .await;
}

#[tokio::test]
async fn a_repl_name_rebound_by_a_later_entry() {
    // A script binds a name once; a session may bind it again, reading the
    // old value: the REPL and its saved script agree.
    repl_and_save_agree(
        &[
            "let x = 2",
            "let x = x * 10",
            "let y = { let x = x + 1; x }",
            "{ x: x, y: y }",
        ],
        json!({ "x": 20, "y": 21 }),
    )
    .await;
}

#[tokio::test]
async fn a_flow_body_sees_params_but_not_top_level_lets() {
    all_agree(&["param p = 3", "flow f(v) { v * p }", "f(v: 2)"], json!(6)).await;
    all_refuse(&["let q = 4", "flow g(v) { v * q }"], "undefined_name").await;
}

/// The lowering once let a flow body read an earlier REPL entry's value (the
/// checker did not): now it cannot find it either.
#[test]
fn the_lowering_agrees_that_flow_bodies_cannot_see_repl_values() {
    let prelude = Prelude {
        values: vec![("q".to_string(), Arc::new(json!(4)))],
        ..Prelude::default()
    };
    let program = parse("flow g(v) { v * q }\ng(v: 1)");
    let env = prelude.env();
    let diags = check(&program, &env);
    assert!(flow::diag::has_errors(&diags), "{diags:?}");
    assert!(flow::graph::lower(&program, &prelude).is_err());
    // A REPL value read at the top level is fine for both.
    let program = parse("q * 2");
    assert!(check(&program, &env).is_empty());
    assert!(flow::graph::lower(&program, &prelude).is_ok());
}

#[tokio::test]
async fn a_param_default_reads_params_above_it_not_lets() {
    all_agree(&["param a = 2", "param b = a * 3", "b"], json!(6)).await;
    // The checker once accepted this and the lowering refused it; in the REPL
    // both accepted it and `:save` wrote a script that did not compile.
    all_refuse(&["let c = 1", "param d = c"], "undefined_name").await;
    let program = parse("let c = 1\nparam d = c\nd");
    assert!(flow::graph::lower(&program, &Prelude::default()).is_err());
}

#[tokio::test]
async fn a_gate_where_sees_its_own_check_only() {
    all_agree(
        &[
            "let g = gate { a: echo(v: 1) where a.v == 1, b: echo(v: 2) }",
            "g.a.v + g.b.v",
        ],
        json!(3),
    )
    .await;
    all_refuse(
        &["let h = gate { a: echo(v: 1) where b.v == 2, b: echo(v: 2) }"],
        "undefined_name",
    )
    .await;
}

#[tokio::test]
async fn error_inside_nested_trys() {
    all_agree(
        &[
            "let inner = try { try { fail(\"one\") } else { fail(\"two\") } } else { error.message }",
            "let outer = try { fail(\"three\") } else { try { error.message } else { \"no\" } }",
            "let kept = try { fail(\"four\") } else { let m = error.message; try { fail(m) } else { error.message } }",
            "{ inner: inner, outer: outer, kept: kept }",
        ],
        json!({ "inner": "two", "outer": "three", "kept": "four" }),
    )
    .await;
    all_refuse(
        &["try { fail(\"x\") } else { 1 }\nerror"],
        "error_outside_try",
    )
    .await;
}

/// An entry ending in an expression is lowered a second time without it, to
/// read its `let`s: that lowering once lacked the engine's host agents.
#[tokio::test]
async fn an_entry_calling_a_host_agent_then_ending_in_an_expression() {
    use flow::{AgentError, Call};
    let engine = Engine::new().agent("Upper", |_call: Call| async move {
        Ok::<_, AgentError>(json!("HI"))
    });
    let mut session = Session::new(engine, SessionOptions::default());
    let ctl = RunControl::default();
    match session
        .eval_entry("e", "let a = Upper(text: \"hi\")\na + \"!\"", &ctl)
        .await
    {
        EntryOutcome::Done { value, bound, .. } => {
            assert_eq!(value.as_deref(), Some(&json!("HI!")));
            assert_eq!(bound[0].value.as_deref(), Some(&json!("HI")));
        }
        other => panic!("the entry did not run: {other:?}"),
    }
}
