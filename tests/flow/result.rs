//! What a script returns: `output EXPR` (docs/language.md, "The script's
//! result"), the same in `flow run`, `--json`, the run store and the
//! library; an error when declared twice or inside a block, and in the REPL;
//! the `implicit_result` lint for a script that ends with `let`s.

use flow::ast::StmtKind;
use flow::source::SourceFile;
use serde_json::{json, Value};

use crate::common::{flow_command, flow_with_input, scratch};

const SCRIPT: &str = r#"agent Writer = echo()
agent Critic = echo()
let draft = Writer("Write a paragraph about tides")
let review = Critic("Review it", draft: draft, score: 8)
output { summary: draft.instructions, score: review.score }
let filed = sh("echo filed > \"$dir/filed.txt\"", dir: env("RESULT_DIR"))
"#;

fn expected() -> Value {
    json!({ "summary": "Write a paragraph about tides", "score": 8 })
}

fn is_output(text: &str) -> bool {
    let program = flow::syntax::parse(&SourceFile::new("t.flow", text))
        .unwrap_or_else(|e| panic!("{text:?} does not parse: {e:?}"));
    matches!(
        program.stmts.first().map(|s| &s.kind),
        Some(StmtKind::Output(_))
    )
}

/// `output` declares only where it could not go on as a name: the scripts
/// that used `output` as a name mean what they did.
#[test]
fn output_is_a_declaration_only_before_an_expression() {
    for text in [
        "output x",
        "output { a: 1 }",
        "output [1, 2]",
        "output \"done\"",
        "output !ok",
        "output (1 + 2) * 3",
        "output map x in [1] { x }",
        "output   # the end\n  x",
    ] {
        if text.contains('#') {
            // A comment then a newline: `output` alone, a name.
            assert!(!is_output(text), "{text:?}");
        } else {
            assert!(is_output(text), "{text:?}");
        }
    }
    for text in [
        "output",
        "output - 1",
        "output-1",
        "output.x",
        "output[0]",
        "output(x)",
        "output == 1",
        "output where x",
        "let output = 1",
        "{ output: 1 }",
        "outputs 1 + 1",
    ] {
        let parsed = flow::syntax::parse(&SourceFile::new("t.flow", text));
        if let Ok(program) = parsed {
            assert!(
                !program
                    .stmts
                    .iter()
                    .any(|s| matches!(s.kind, StmtKind::Output(_))),
                "{text:?} became an output"
            );
        }
    }
    // A script that names a value `output` still runs as before.
    let result = crate::common::result(
        "let output = 3\nlet y = output - 1\n{ o: output, y: y, z: output * 2 }\n",
    );
    assert_eq!(result, json!({ "o": 3, "y": 2, "z": 6 }));
}

/// `flow run` prints the declared result, `--json` gives it as `result`, the
/// run store keeps it, and the statements after `output` still run.
#[test]
fn run_json_and_the_store_give_the_declared_result() {
    let dir = scratch("output-run");
    std::fs::write(dir.join("main.flow"), SCRIPT).expect("written");
    let store = dir.join(".flow");
    let run = |args: &[&str]| {
        flow_command()
            .current_dir(&dir)
            .env("FLOW_STORE", &store)
            .env("RESULT_DIR", &dir)
            .args(args)
            .output()
            .expect("flow runs")
    };
    let out = run(&["run", "--quiet", "main.flow"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(printed, expected());
    assert!(
        dir.join("filed.txt").exists(),
        "the statement after `output` ran"
    );

    let out = run(&["run", "--json", "main.flow"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["result"], expected());
    assert_eq!(doc["status"], "succeeded");

    let db = store.join("flow.db");
    let kept: String = rusqlite::Connection::open(&db)
        .expect("the store")
        .query_row(
            "SELECT result FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("a run");
    assert_eq!(
        serde_json::from_str::<Value>(&kept).expect("json"),
        expected()
    );

    // The library gives the same.
    std::env::set_var("RESULT_DIR", &dir);
    let outcome = crate::common::run(SCRIPT);
    assert_eq!(outcome.result.as_deref(), Some(&expected()));
}

/// `output` anywhere at the top level, also before the final expression,
/// which then runs as a statement.
#[test]
fn output_wins_over_a_final_expression() {
    let result = crate::common::result("let a = 1\noutput a + 1\nlet b = 5\nb * 10\n");
    assert_eq!(result, json!(2));
}

fn check_codes(text: &str) -> Vec<&'static str> {
    let dir = scratch("output-check");
    let path = dir.join("t.flow");
    std::fs::write(&path, text).expect("written");
    let out = flow_command()
        .args(["check", "--format", "json"])
        .arg(&path)
        .output()
        .expect("flow runs");
    let diags: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    diags
        .iter()
        .filter_map(|d| d["code"].as_str())
        .map(|c| {
            flow::diag::Code::ALL
                .iter()
                .find(|k| k.as_str() == c)
                .map_or("?", |k| k.name())
        })
        .collect()
}

#[test]
fn output_twice_or_inside_a_block_is_an_error() {
    let twice = "let a = 1\noutput a\nlet b = 2\noutput b\n";
    assert_eq!(check_codes(twice), ["duplicate_binding"]);
    let dir = scratch("output-twice");
    std::fs::write(dir.join("t.flow"), twice).expect("written");
    let out = flow_command()
        .current_dir(&dir)
        .args(["run", "--no-store", "t.flow"])
        .output()
        .expect("flow runs");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`output` is declared twice"), "{stderr}");
    assert!(stderr.contains("first declared here"), "{stderr}");

    for text in [
        "flow f(x) {\n  output x\n}\nf(x: 1)\n",
        "let y = {\n  output 1\n}\ny\n",
        "map x in [1] {\n  output x\n}\n",
    ] {
        assert_eq!(check_codes(text), ["misplaced_declaration"], "{text}");
    }
}

/// In the REPL, `output` is an error that says why; `:load` reads a
/// script's `output` as its final expression.
#[test]
fn the_repl_says_output_belongs_in_a_script() {
    let out = flow_with_input(
        &["repl", "--quiet", "--no-store"],
        "let x = 2\noutput x\nx + 1\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("misplaced_declaration"), "{stderr}");
    assert!(
        stderr.contains("the REPL runs entries, not a script"),
        "{stderr}"
    );
    assert!(stdout.contains('3'), "the session goes on: {stdout}");

    let dir = scratch("output-load");
    std::fs::write(dir.join("s.flow"), "let a = 20\noutput a + 1\n").expect("written");
    let out = flow_command()
        .current_dir(&dir)
        .args(["repl", "--quiet", "--no-store"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b":load s.flow\na\n")?;
            child.wait_with_output()
        })
        .expect("flow runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("21"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("20"), "the `let`s are bound: {stdout}");
}

/// A script that ends with `let`s and declares nothing returns every `let`:
/// the lint says so; an `output` (anywhere), a final expression, or no
/// `let` at all is quiet.
#[test]
fn implicit_result_points_at_a_script_that_ends_with_lets() {
    assert_eq!(
        check_codes("agent W = echo()\nlet a = W(\"a\")\nlet b = W(\"b\", a: a)\n"),
        ["implicit_result"]
    );
    for quiet in [
        "agent W = echo()\nlet a = W(\"a\")\noutput a\nlet b = W(\"b\", a: a)\n",
        "agent W = echo()\nlet a = W(\"a\")\nlet b = W(\"b\", a: a)\nb\n",
        "agent W = echo()\nflow f(x) {\n  let a = W(x: x)\n  W(a: a)\n}\n",
    ] {
        assert_eq!(check_codes(quiet), Vec::<&str>::new(), "{quiet}");
    }
}
