//! Deep input (issue 13, item 6): a chain of 24,000 `else if` (flat in the
//! text, an `if` inside the `else` before it in the task graph) and sub-flow
//! calls nested 3,500 deep inside `if`, `try` and `map` check, run and draw —
//! in `flow`, in its REPL and through the library on a small stack. A stack
//! overflow would end `flow` by SIGABRT (no exit code), the test binary too.

use std::process::Output;

use crate::common::{at_once, scratch};

/// `if x == 0 { 0 } else if x == 1 { 1 } … else { -1 }` with `arms` arms,
/// `x` set to pick the last, each arm on its own line (`lines`) or all on one.
fn else_if_chain(arms: usize, lines: bool) -> String {
    let sep = if lines { "\n" } else { " " };
    let mut text = format!("param x = {}\nlet r = if x == 0 {{ 0 }}", arms - 1);
    for i in 1..arms {
        text.push_str(&format!("{sep}else if x == {i} {{ {i} }}"));
    }
    text.push_str(&format!("{sep}else {{ -1 }}\nr\n"));
    text
}

/// Flows `f0` … `f{depth-1}`, each calling the one before inside `wrap`
/// (`if`, `try`, `map`, or nothing), and the script calling the last.
fn nested_calls(depth: usize, wrap: &str) -> String {
    let mut text = String::from("flow f0(x) { x }\n");
    for i in 1..depth {
        let call = format!("f{}(x)", i - 1);
        let body = match wrap {
            "if" => format!("if x > 0 {{ {call} }} else {{ 0 }}"),
            "try" => format!("try {{ {call} }} else {{ 0 }}"),
            "map" => format!("map y in [x] {{ f{}(y) }}", i - 1),
            _ => call,
        };
        text.push_str(&format!("flow f{i}(x) {{ {body} }}\n"));
    }
    text.push_str(&format!("f{}(1)\n", depth - 1));
    text
}

fn flow(args: &[&str], stdin: &str) -> Output {
    crate::common::flow_with_input(args, stdin)
}

/// Asserts `flow` ended by itself with exit code 0 (not killed by SIGABRT).
fn succeeded(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_chain_of_24000_else_ifs_checks_runs_and_draws() {
    let dir = scratch("else-if");
    let path = dir.join("chain.flow");
    std::fs::write(&path, else_if_chain(24_000, true)).expect("the script is written");
    let path = path.to_str().expect("a UTF-8 path");
    // Five commands, at once.
    let commands: [&[&str]; 5] = [
        &["check"],
        &["run", "--no-store"],
        &["graph", "--format", "dot"],
        &["graph", "--format", "mermaid"],
        &["graph", "--format", "json"],
    ];
    let mut outputs = at_once(commands, |args| flow(&[args, &[path]].concat(), "")).into_iter();
    succeeded(&outputs.next().unwrap(), "flow check");
    let run = outputs.next().unwrap();
    succeeded(&run, "flow run");
    assert_eq!(stdout(&run).trim(), "23999");
    for (format, graph) in ["dot", "mermaid", "json"].into_iter().zip(outputs) {
        succeeded(&graph, &format!("flow graph --format {format}"));
        // Nested clusters are indented only so far: the drawing grows with
        // the chain, not with its square.
        assert!(
            graph.stdout.len() < 40 << 20,
            "flow graph --format {format}: {} bytes",
            graph.stdout.len()
        );
    }
}

#[test]
fn the_repl_loads_runs_and_draws_a_chain_of_24000_else_ifs() {
    let dir = scratch("else-if-repl");
    let path = dir.join("chain.flow");
    std::fs::write(&path, else_if_chain(24_000, true)).expect("the script is written");
    let input = format!(":load {}\nr\n:graph\n", path.display());
    // And the same chain on one line, typed as one entry; both at once.
    let [loaded, typed]: [Output; 2] = at_once([input, else_if_chain(24_000, false)], |input| {
        flow(&["repl", "--quiet", "--no-store"], &input)
    })
    .try_into()
    .unwrap();
    let out = loaded;
    succeeded(&out, "flow repl with :load");
    assert!(stdout(&out).contains("23999"), "{}", stdout(&out));
    let out = typed;
    succeeded(&out, "flow repl reading the chain from stdin");
    assert!(stdout(&out).contains("23999"), "{}", stdout(&out));
}

#[test]
fn sub_flow_calls_nest_3500_deep_inside_if_try_and_map() {
    let dir = scratch("nested-calls");
    // The four scripts at once.
    at_once(["plain", "if", "try", "map"], |wrap| {
        let path = dir.join(format!("{wrap}.flow"));
        std::fs::write(&path, nested_calls(3_500, wrap)).expect("the script is written");
        let path = path.to_str().expect("a UTF-8 path");
        succeeded(&flow(&["check", path], ""), &format!("flow check ({wrap})"));
        succeeded(&flow(&["graph", path], ""), &format!("flow graph ({wrap})"));
        let run = flow(&["run", "--no-store", path], "");
        succeeded(&run, &format!("flow run ({wrap})"));
        let text = stdout(&run);
        if wrap == "map" {
            // A list in a list … 3,499 deep: deeper than serde_json reads.
            let compact: String = text.split_whitespace().collect();
            let lists = 3_499;
            assert_eq!(
                compact,
                format!("{}1{}", "[".repeat(lists), "]".repeat(lists))
            );
        } else {
            assert_eq!(text.trim(), "1", "{wrap}");
        }
    });
}

/// A host program runs scripts wherever it likes, a thread with a small
/// stack included: the lowering and the scheduler keep their depth on the
/// heap, not on the stack.
#[test]
fn the_library_compiles_and_runs_deep_scripts_on_a_small_stack() {
    let deep = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let engine = flow::Engine::new();
            let mut results = Vec::new();
            for text in [
                else_if_chain(24_000, true),
                nested_calls(3_500, "if"),
                nested_calls(3_500, "try"),
            ] {
                let script = engine.compile("deep.flow", &text).expect("it compiles");
                let outcome = runtime.block_on(engine.run(&script, flow::RunOptions::default()));
                assert_eq!(outcome.status, flow::RunStatus::Succeeded);
                results.push(outcome.result.as_deref().cloned());
            }
            results
        })
        .expect("a thread starts");
    let results = deep.join().expect("no stack overflow, no panic");
    assert_eq!(
        results,
        [Some(23_999.into()), Some(1.into()), Some(1.into())]
    );
}
