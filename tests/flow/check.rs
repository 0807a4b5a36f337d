//! The checker's corpus: `tests/cases/check/err/*.flow` must produce exactly the
//! diagnostics their `# expect: code @ line:column` lines name (rendered output
//! snapshotted), `tests/cases/check/ok/*.flow` no errors and only the warnings
//! they expect.

use std::collections::BTreeSet;

use flow::check::{check, Env};
use flow::diag::{Code, Diagnostic};
use flow::source::SourceFile;

use crate::common::{self, actual, expected, load, on_cpu, render};

fn parse(src: &SourceFile) -> flow::ast::Program {
    match flow::syntax::parse(src) {
        Ok(program) => program,
        Err(diags) => panic!("{} does not parse:\n{}", src.name, render(src, &diags)),
    }
}

#[test]
fn err_cases_report_exactly_what_they_expect() {
    insta::glob!("../cases/check/err", "*.flow", |path| {
        let src = load(path);
        let diags = check(&parse(&src), &common::env_for(&src));
        let rendered = render(&src, &diags);
        let want = expected(&src);
        assert!(!want.is_empty(), "{} has no `# expect:` line", src.name);
        assert_eq!(actual(&src, &diags), want, "{}:\n{rendered}", src.name);
        for d in &diags {
            assert_eq!(d.code.phase(), "check", "{}: {d}", src.name);
        }
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn ok_cases_have_no_errors() {
    insta::glob!("../cases/check/ok", "*.flow", |path| {
        let src = load(path);
        let diags = check(&parse(&src), &Env::default());
        let rendered = render(&src, &diags);
        assert!(!flow::diag::has_errors(&diags), "{}:\n{rendered}", src.name);
        assert_eq!(
            actual(&src, &diags),
            expected(&src),
            "{}:\n{rendered}",
            src.name
        );
    });
}

#[test]
fn the_err_corpus_covers_every_check_code() {
    let mut seen = BTreeSet::new();
    let dir = common::case("check/err");
    for entry in std::fs::read_dir(&dir).expect("err cases exist") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "flow") {
            for (code, _, _) in expected(&load(&path)) {
                seen.insert(code);
            }
        }
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| c.phase() == "check" && !seen.contains(c.name()))
        .map(|c| c.name())
        .collect();
    assert!(missing.is_empty(), "no err case for {missing:?}");
}

fn check_text(text: &str, env: &Env) -> Vec<Diagnostic> {
    let src = SourceFile::new("t.flow", text);
    check(&parse(&src), env)
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.name()).collect()
}

#[test]
fn host_agents_are_callable_without_declaration() {
    let env = Env {
        host_agents: vec!["Extractor".into()],
        ..Env::default()
    };
    let diags = check_text("let rows = Extractor(\"extract\", source: \"db1\")\n", &env);
    assert!(diags.is_empty(), "{diags:?}");
    let diags = check_text("let rows = Extractr(source: \"db1\")\n", &env);
    assert_eq!(codes(&diags), ["undefined_name"]);
    assert!(diags[0]
        .help
        .as_deref()
        .is_some_and(|h| h.contains("Extractor")));
}

#[test]
fn repl_env_names_are_visible_and_may_be_rebound() {
    let env = Env {
        values: vec!["draft".into()],
        agents: vec!["Writer".into()],
        flows: vec![("review".into(), vec!["doc".into()])],
        ..Env::default()
    };
    let diags = check_text(
        "let reviewed = review(doc: Writer(\"more\", draft: draft))\n",
        &env,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let diags = check_text("let draft = 2\nlet r = review()\n", &env);
    assert_eq!(codes(&diags), ["missing_argument"]);
    // Earlier REPL values are top-level values: not visible in a flow body.
    let diags = check_text("flow f(x) { x + draft }\n", &env);
    assert_eq!(codes(&diags), ["undefined_name"]);
}

#[test]
fn each_cycle_is_reported_once() {
    let diags = check_text(
        "flow a() { b() + b() }\nflow b() { a() + c() }\nflow c() { c() }\n",
        &Env::default(),
    );
    assert_eq!(codes(&diags), ["recursive_flow", "recursive_flow"]);
    assert!(diags[0].message.contains("`b` calls `a`"), "{}", diags[0]);
}

/// A script of about 1 MB: thousands of flows and statements. The check must
/// stay linear: in release it takes about 10 ms on a loaded 2-core machine
/// (`cargo test --release megabyte -- --nocapture` prints it). Bounded in
/// this thread's CPU time, which a busy machine does not stretch.
#[test]
fn a_megabyte_script_checks_quickly() {
    let mut text = String::from("param base = 1\nagent Worker = echo() limit 4\n");
    let mut i = 0;
    while text.len() < 1_000_000 {
        text.push_str(&format!(
            "flow step{i}(x) {{\n  let y = x + base\n  Worker(\"work\", y: y)\n}}\n\
             let v{i} = step{i}(x: {i})\n\
             let m{i} = map item in [1, 2, 3] limit 2 {{ Worker(item: item, prev: v{i}) }}\n"
        ));
        i += 1;
    }
    let src = SourceFile::new("big.flow", text);
    let program = parse(&src);
    let (diags, took) = on_cpu(|| check(&program, &Env::default()));
    eprintln!("checked {} bytes in {took:?}", src.text.len());
    assert!(diags.is_empty(), "{:?}", &diags[..diags.len().min(3)]);
    assert!(took.as_millis() < 2_000, "checking 1 MB took {took:?}");
}

/// Every `.flow` file of the test corpus and the examples checks without panicking.
#[test]
fn never_panics_on_any_corpus_file() {
    let mut stack = vec![
        common::root().join("tests/cases"),
        common::root().join("examples"),
    ];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "flow") {
                let src = load(&path);
                if let Ok(program) = flow::syntax::parse(&src) {
                    let _ = check(&program, &Env::default());
                }
            }
        }
    }
}

#[test]
fn scopes_shadow_hoist_and_order() {
    let env = Env::default();
    // A use inside a block of a top-level `let` bound further down.
    let diags = check_text("let r = { x + 1 }\nlet x = 2\n", &env);
    assert_eq!(codes(&diags), ["used_before_bound"]);
    // `else if` arms each have their own scope.
    let diags = check_text(
        "let n = 3\nlet s = if n > 5 { let a = 1\n a } else if n > 2 { let a = 2\n a } else { 0 }\n",
        &env,
    );
    assert!(diags.is_empty(), "{diags:?}");
    // A binding made in an inner block is gone after it.
    let diags = check_text("let r = { let inner = 1\n inner }\nlet s = inner\n", &env);
    assert_eq!(codes(&diags), ["undefined_name"]);
    // Agents used in flows declared before them, and flows calling later flows.
    let diags = check_text(
        "flow a(x) { b(x: W(x: x)) }\nflow b(x) { x }\nagent W = echo()\nlet r = a(x: 1)\n",
        &env,
    );
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn backends_called_directly() {
    let env = Env::default();
    let diags = check_text(
        "let a = echo(\"instructions\", x: 1)\nlet b = sh(\"ls\", cwd: \"/\", extra: 2)\nlet c = noop()\n",
        &env,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let diags = check_text("let f = fail()\nlet h = http(method: \"GET\")\n", &env);
    assert_eq!(codes(&diags), ["missing_argument", "missing_argument"]);
    let diags = check_text("let s = sh(\"ls\", \"-l\")\n", &env);
    assert_eq!(codes(&diags), ["wrong_arity"]);
}

#[test]
fn agent_config_sees_only_params_and_functions() {
    let env = Env::default();
    let diags = check_text(
        "agent A = echo()\nagent B = sh(A(\"x\"))\nagent C = sh(\"ls\", cwd: dir)\nparam dir = \"/\"\n",
        &env,
    );
    assert_eq!(codes(&diags), ["undefined_name"]);
    assert!(diags[0].message.contains("config"), "{}", diags[0]);
}

#[test]
fn misspelt_flow_argument_is_not_also_missing() {
    let diags = check_text(
        "flow review(doc) { doc }\nlet r = review(dco: 1)\n",
        &Env::default(),
    );
    assert_eq!(codes(&diags), ["unknown_argument"]);
    let diags = check_text(
        "flow review(doc) { doc }\nlet r = review(doc: 1, 2)\n",
        &Env::default(),
    );
    assert_eq!(codes(&diags), ["duplicate_key"]);
}

/// A big script is checked and lowered at once (on two threads): its errors
/// are still exactly the checker's, and a clean one still compiles.
#[test]
fn a_big_script_reports_the_checkers_errors_only() {
    let mut text = String::from("let t0 = noop()\n");
    for i in 1..20_000 {
        text.push_str(&format!("let t{i} = noop(t{})\n", i - 1));
    }
    assert!(text.len() > 256 * 1024);
    let engine = flow::Engine::new();
    let script = engine
        .compile("big.flow", &text)
        .expect("a clean script compiles");
    assert!(script.graph.nodes.len() >= 20_000);
    text.push_str("let last = noop(t99999)\nlast\n");
    let Err(error) = engine.compile("big.flow", &text) else {
        panic!("an undefined name fails");
    };
    let src = SourceFile::new("big.flow", text.clone());
    let expected = check(&parse(&src), &Env::default());
    assert_eq!(codes(&error.diagnostics), codes(&expected));
    assert_eq!(codes(&error.diagnostics), vec!["undefined_name"]);
}

/// A big script is lowered while its names are still being resolved: flows,
/// agents and params declared at its end and used from its start lower to
/// the same graph as when resolution comes first.
#[test]
fn a_big_script_lowers_as_when_resolved_first() {
    let mut text = String::from("flow early(x) { [Late(x), p] }\nlet a = early(1)\n");
    for i in 0..6_000 {
        text.push_str(&format!(
            "let f{i} = map it in [a, {i}] {{ late_flow(it) }}\n"
        ));
    }
    text.push_str("param p = 2\nagent Late = echo()\nflow late_flow(y) { noop(y) }\n");
    text.push_str("[a, f5999]\n");
    assert!(text.len() > 256 * 1024);
    let script = flow::Engine::new()
        .compile("big.flow", &text)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let program = parse(&SourceFile::new("big.flow", text.clone()));
    let serial = flow::graph::lower(&program, &flow::graph::Prelude::default()).expect("it lowers");
    assert_eq!(
        flow::graph::to_json(&script.graph),
        flow::graph::to_json(&serial)
    );
}

/// The rendered `file:line:column` and `--format json` agree, also after
/// non-ASCII text and CRLF line ends: both count characters.
#[test]
fn rendered_and_json_columns_agree() {
    let text = "let a = \"héllo\"\r\nlet b = \"wörld ✓\" + nope\r\n";
    let src = SourceFile::new("cols.flow", text);
    let diags = check(&parse(&src), &Env::default());
    assert_eq!(codes(&diags), vec!["undefined_name"]);
    let json = diags[0].to_json(&src);
    assert_eq!(
        (json["line"].as_u64(), json["column"].as_u64()),
        (Some(2), Some(21))
    );
    let rendered = diags[0].render(&src, flow::diag::RenderStyle::PLAIN);
    assert!(rendered.contains("[cols.flow:2:21]"), "{rendered}");
}
