//! Big scripts (issue 13, item 7): checking takes time in proportion to a
//! script's size, and diagnostics are capped like clang's error limit — the
//! first 20 of each code, then "… and N more like this" — unless
//! `--all-diagnostics` asks for every one. JSON lists every one.

use std::process::Output;
use std::time::Duration;

use flow::diag::Diagnostic;
use flow::lint::{self, Levels};
use flow::source::SourceFile;
use flow::Engine;

use crate::common::{at_once, on_cpu, scratch};

/// `let aI = nopeI`, `n` times: one `undefined_name` error each.
fn unknown_names(n: usize) -> String {
    (0..n).map(|i| format!("let a{i} = nope{i}\n")).collect()
}

/// A block binding `n` values it never reads: one `unused_binding` warning each.
fn unused_bindings(n: usize) -> String {
    let lets: String = (0..n).map(|i| format!("  let a{i} = {i}\n")).collect();
    format!("let t = {{\n{lets}  0\n}}\nt\n")
}

/// `n` `if true`: one `constant_condition` warning each.
fn constant_conditions(n: usize) -> String {
    (0..n)
        .map(|i| format!("let c{i} = if true {{ 1 }} else {{ 2 }}\n"))
        .collect()
}

/// A list literal of `n` calls: `echo`, a declared agent, or `sh`.
fn list_of_calls(n: usize, callee: &str) -> String {
    let call = |i: usize| match callee {
        "echo" => format!("echo(\"a{i}\")"),
        "agent" => format!("F(\"{i}\")"),
        _ => format!("sh(\"echo {i}\")"),
    };
    let items: Vec<String> = (0..n).map(call).collect();
    let agent = if callee == "agent" {
        "agent F = llm(model: \"m\")\n"
    } else {
        ""
    };
    format!("{agent}let xs = [{}]\nxs\n", items.join(", "))
}

fn flow(args: &[&str], stdin: &str) -> Output {
    crate::common::flow_with_input(args, stdin)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes a script into a fresh folder and returns its path.
fn script(name: &str, text: &str) -> String {
    let path = scratch(name).join(format!("{name}.flow"));
    std::fs::write(&path, text).expect("the script is written");
    path.to_str().expect("a UTF-8 path").to_string()
}

fn cap_line(left_out: usize) -> String {
    format!("… and {left_out} more like this (`--all-diagnostics` shows them)")
}

#[test]
fn a_hundred_thousand_errors_print_twenty_and_a_count() {
    let path = script("errors", &unknown_names(100_000));
    // Both commands at once.
    let outputs = at_once(["check", "run"], |command| flow(&[command, &path], ""));
    for (command, out) in ["check", "run"].into_iter().zip(outputs) {
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "flow {command}: {text}");
        assert_eq!(
            text.matches("flow::check::undefined_name").count(),
            20,
            "flow {command}"
        );
        assert!(text.contains(&cap_line(99_980)), "flow {command}: {text}");
        assert!(
            text.lines().count() < 400,
            "flow {command}: {} lines",
            text.lines().count()
        );
    }
}

#[test]
fn twenty_thousand_warnings_print_twenty_and_a_count() {
    let path = script("warnings", &unused_bindings(20_000));
    let out = flow(&["check", &path], "");
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text.matches("flow::check::unused_binding").count(), 20);
    assert!(text.contains(&cap_line(19_980)), "{text}");
}

#[test]
fn each_code_is_capped_on_its_own() {
    let text = format!("{}{}", constant_conditions(30), unused_bindings(25));
    let out = flow(&["check", &script("two-codes", &text)], "");
    let text = stderr(&out);
    assert_eq!(text.matches("flow::check::unused_binding").count(), 20);
    assert_eq!(text.matches("flow::lint::constant_condition").count(), 20);
    assert!(text.contains(&cap_line(5)), "{text}");
    assert!(text.contains(&cap_line(10)), "{text}");
}

#[test]
fn all_diagnostics_shows_every_one_and_json_lists_every_one() {
    // Thirty unknown names in one statement: one REPL entry.
    let names: Vec<String> = (0..30).map(|i| format!("nope{i}")).collect();
    let entry = format!("[{}]\n", names.join(", "));
    let path = script("thirty", &entry);
    let code = "flow::check::undefined_name";
    for args in [
        vec!["check"],
        vec!["run", "--no-store"],
        vec!["graph"],
        vec!["repl", "--quiet", "--no-store"],
    ] {
        let input = if args[0] == "repl" {
            entry.as_str()
        } else {
            ""
        };
        let file = if args[0] == "repl" {
            None
        } else {
            Some(&*path)
        };
        let capped = flow(&[&args[..], file.as_slice()].concat(), input);
        let text = stderr(&capped);
        assert_eq!(text.matches(code).count(), 20, "{args:?}: {text}");
        assert!(text.contains(&cap_line(10)), "{args:?}: {text}");
        let all = [&args[..], &["--all-diagnostics"], file.as_slice()].concat();
        let text = stderr(&flow(&all, input));
        assert_eq!(text.matches(code).count(), 30, "{all:?}: {text}");
        assert!(!text.contains("more like this"), "{all:?}: {text}");
    }
    let json = flow(&["check", "--format", "json", &path], "");
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&json.stdout).expect("a JSON array");
    assert_eq!(listed.len(), 30);
    let json = flow(&["run", "--json", "--no-store", &path], "");
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("a JSON document");
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(30));
}

/// Everything `flow check --all-diagnostics` does to a script, in process:
/// parse, resolve and check, lower, lint, and the diagnostics' positions.
fn check(text: &str) -> Vec<Diagnostic> {
    let source = SourceFile::new("big.flow", text);
    let engine = Engine::new();
    let (diagnostics, _) = lint::check_source(
        &engine,
        &source,
        &lint::Config::default(),
        &Levels::default(),
    );
    for d in &diagnostics {
        d.to_json(&source);
    }
    diagnostics
}

/// Makes a script of a given size.
type MakeScript = fn(usize) -> String;

/// What checking `text` reports, and the least CPU time of two checks, on
/// this thread's own clock (which, unlike the wall clock, does not run while
/// other work has the core).
fn fastest_check(text: &str) -> (Vec<Diagnostic>, Duration) {
    let (diagnostics, first) = on_cpu(|| check(text));
    let (_, second) = on_cpu(|| check(text));
    (diagnostics, first.min(second))
}

/// Four times the script takes about four times as long to check, not
/// sixteen (as it did: labels for `echo#N` were found by trying `#2`, `#3`…,
/// an unknown name was compared with every name and looked for in every
/// statement after it, each constant condition with every other). Measured
/// in CPU time, so a busy machine does not skew the ratio; the bound is
/// loose (linear is 4×, quadratic 16×); `bench/scale.py` measures the
/// release build.
#[test]
fn checking_grows_linearly_with_the_script() {
    let n = 2_000;
    let scripts: [(&str, MakeScript); 6] = [
        ("a list of echo calls", |n| list_of_calls(n, "echo")),
        ("a list of agent calls", |n| list_of_calls(n, "agent")),
        ("a list of sh calls", |n| list_of_calls(n, "sh")),
        ("unknown names", unknown_names),
        ("unused bindings", unused_bindings),
        ("constant conditions", constant_conditions),
    ];
    for (what, make) in scripts {
        let small = make(n);
        let big = make(4 * n);
        let ((_, t1), (reported, t4)) = (fastest_check(&small), fastest_check(&big));
        assert!(!reported.is_empty() || what.starts_with("a list"));
        let ratio = t4.as_secs_f64() / t1.as_secs_f64().max(1e-6);
        eprintln!("{what}: {n} in {t1:?}, {} in {t4:?} ({ratio:.1}×)", 4 * n);
        assert!(
            ratio < 10.0,
            "{what}: {n} take {t1:?}, {} take {t4:?} ({ratio:.1}×)",
            4 * n
        );
    }
}
