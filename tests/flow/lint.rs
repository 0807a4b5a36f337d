//! The linter's corpus and `flow explain`: `tests/cases/lint/*.flow` must
//! produce exactly the diagnostics their `# expect: code @ line:column` lines
//! name (rendered output snapshotted); every example is lint-clean; every code
//! has an explanation whose bad example triggers it and whose good one doesn't.

use std::collections::BTreeSet;

use flow::diag::{Code, Diagnostic};
use flow::lint::{self, Level, Levels};
use flow::source::SourceFile;

use crate::common::{self, actual, expected, load, render};

/// Everything `flow check` reports for a source with default levels: the
/// compile errors, or the checker's warnings and the lints.
fn check_source(src: &SourceFile, levels: &Levels) -> Vec<Diagnostic> {
    let engine = flow::Engine::new().capabilities(super::common::capabilities_in(&src.text));
    lint::check_source(&engine, src, &lint::Config::default(), levels).0
}

fn check_text(text: &str) -> Vec<Diagnostic> {
    check_source(&SourceFile::new("t.flow", text), &Levels::default())
}

/// The levels a case sets on `# check: -W code -A code …` lines.
fn case_levels(src: &SourceFile) -> Levels {
    let mut levels = Levels::default();
    for line in src.text.lines() {
        let Some(args) = line.strip_prefix("# check:") else {
            continue;
        };
        let words: Vec<&str> = args.split_whitespace().collect();
        for pair in words.chunks(2) {
            let level = match pair[0] {
                "-A" => Level::Allow,
                "-W" => Level::Warn,
                "-D" => Level::Deny,
                other => panic!("{}: unknown flag {other}", src.name),
            };
            levels.set(pair[1], level).expect("a valid code");
        }
    }
    levels
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.name()).collect()
}

#[test]
fn lint_cases_report_exactly_what_they_expect() {
    insta::glob!("../cases/lint", "*.flow", |path| {
        let src = load(path);
        let diags = check_source(&src, &case_levels(&src));
        let rendered = render(&src, &diags);
        assert_eq!(
            actual(&src, &diags),
            expected(&src),
            "{}:\n{rendered}",
            src.name
        );
        for d in &diags {
            assert!(
                !d.is_error() || d.code.phase() == "lint",
                "{}: {d}",
                src.name
            );
            let help = d.help.as_deref().unwrap_or_default();
            if d.code.phase() == "lint" {
                assert!(
                    help.contains(&format!("flow explain {}", d.code.name())),
                    "{}: the help of {d} does not name `flow explain`",
                    src.name
                );
            }
        }
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn the_lint_corpus_covers_every_lint() {
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(common::case("lint")).expect("lint cases exist") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "flow") {
            for (code, _, _) in expected(&load(&path)) {
                seen.insert(code);
            }
        }
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| c.phase() == "lint" && !seen.contains(c.name()))
        .map(|c| c.name())
        .collect();
    assert!(missing.is_empty(), "no lint case for {missing:?}");
}

fn example_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(common::root().join("examples"))
        .expect("examples exist")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "flow"))
        .collect();
    files.sort();
    files
}

/// The patterns document's eight patterns, and every other example, are lint-clean.
#[test]
fn every_example_passes_check_with_deny_warnings() {
    let files = example_files();
    assert!(files.len() >= 8, "{files:?}");
    for file in &files {
        let diags = check_source(&load(file), &Levels::default());
        assert!(diags.is_empty(), "{}: {diags:#?}", file.display());
    }
    let output = common::flow_command()
        .arg("check")
        .args(["--deny", "warnings"])
        .args(&files)
        .output()
        .expect("flow runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn check_of_a_folder_checks_every_script_in_it() {
    let dir = common::scratch("check-folder");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::create_dir_all(dir.join(".flow")).unwrap();
    std::fs::write(dir.join("a.flow"), "output 1\n").unwrap();
    std::fs::write(dir.join("sub/b.flow"), "output nope\n").unwrap();
    std::fs::write(dir.join(".flow/hidden.flow"), "output also_nope\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "output nope_either\n").unwrap();
    // A byte-order mark (as some editors save UTF-8) is not part of the script.
    std::fs::write(dir.join("bom.flow"), "\u{feff}output 2\n").unwrap();
    let check = |path: &std::path::Path| {
        let output = common::flow_command()
            .args(["check", "--format", "json"])
            .arg(path)
            .output()
            .expect("flow runs");
        let found: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        (
            output.status.code(),
            found,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, found, stderr) = check(&dir);
    assert_eq!(code, Some(3), "{stderr}");
    let text = found.to_string();
    assert!(
        text.contains("`nope`") && text.contains("b.flow"),
        "{found:#}"
    );
    assert!(
        !text.contains("also_nope") && !text.contains("nope_either"),
        "{found:#}"
    );
    assert!(!text.contains("bom.flow"), "{found:#}");
    // A folder with no script is a usage error.
    let empty = common::scratch("check-empty-folder");
    let (code, _, stderr) = check(&empty);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no `.flow` file in"), "{stderr}");
}

/// The patterns of the language design, as one script, are lint-clean too.
#[test]
fn the_language_patterns_are_lint_clean() {
    let path = common::case("check/ok/language_patterns.flow");
    if path.exists() {
        let diags = check_source(&load(&path), &Levels::default());
        let lints: Vec<&Diagnostic> = diags.iter().filter(|d| d.code.phase() == "lint").collect();
        assert!(lints.is_empty(), "{lints:#?}");
    }
}

// ---- levels and allow comments -------------------------------------------------

#[test]
fn levels_allow_warn_and_deny() {
    let text = "agent T = echo()\nlet a = T(n: 1)\nlet b = T(n: 2) after a\n{ a: a, b: b }\n";
    let src = SourceFile::new("t.flow", text);
    let mut deny_all = Levels::default();
    deny_all.set("warnings", Level::Deny).expect("valid");
    let diags = check_source(&src, &deny_all);
    assert_eq!(codes(&diags), ["unneeded_after"]);
    assert!(diags[0].is_error());

    let mut allow_one = deny_all.clone();
    allow_one
        .set("flow::lint::unneeded_after", Level::Allow)
        .expect("valid");
    assert!(check_source(&src, &allow_one).is_empty());

    let mut warn_one = deny_all;
    warn_one.set("unneeded-after", Level::Warn).expect("valid");
    let diags = check_source(&src, &warn_one);
    assert!(!diags[0].is_error());
}

#[test]
fn an_allow_comment_wins_over_deny() {
    let text = "agent T = echo()\nlet a = T(n: 1)\n# flow: allow(unneeded-after)\nlet b = T(n: 2) after a\n{ a: a, b: b }\n";
    let mut deny = Levels::default();
    deny.set("warnings", Level::Deny).expect("valid");
    let diags = check_source(&SourceFile::new("t.flow", text), &deny);
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn unused_binding_is_controlled_like_a_lint() {
    let text = "let y = { let z = 2\n 3 }\ny\n";
    assert_eq!(codes(&check_text(text)), ["unused_binding"]);
    let mut allow = Levels::default();
    allow.set("unused-binding", Level::Allow).expect("valid");
    assert!(check_source(&SourceFile::new("t.flow", text), &allow).is_empty());
}

/// A value a second shell parses (`bash -c '… ${v}'`) is a warning that levels
/// and allow comments control; a value no reference can stand for (after a
/// backslash) stays an error whatever they say.
#[test]
fn nested_shell_warnings_are_controlled_like_a_lint() {
    let nested = "param v = \"x\"\nsh(\"bash -c 'echo ${v}'\")\n";
    let diags = check_text(nested);
    assert_eq!(codes(&diags), ["unsafe_interpolation"]);
    assert!(!diags[0].is_error());
    let src = SourceFile::new("t.flow", nested);
    let mut allow = Levels::default();
    allow
        .set("unsafe-interpolation", Level::Allow)
        .expect("valid");
    assert!(check_source(&src, &allow).is_empty());
    let mut deny = Levels::default();
    deny.set("warnings", Level::Deny).expect("valid");
    assert!(check_source(&src, &deny)[0].is_error());
    let chosen = format!("# flow: allow(unsafe-interpolation)\n{}", &nested[14..]);
    let chosen = format!("param v = \"x\"\n{chosen}");
    assert!(check_source(&SourceFile::new("t.flow", &*chosen), &deny).is_empty());

    let escaped = "param v = \"x\"\nsh(\"echo \\\\${v}\")\n";
    let diags = check_source(&SourceFile::new("t.flow", escaped), &allow);
    assert_eq!(codes(&diags), ["unsafe_interpolation"]);
    assert!(diags[0].is_error());
}

#[test]
fn errors_keep_their_level() {
    let mut levels = Levels::default();
    assert!(levels.set("undefined_name", Level::Allow).is_err());
    levels.set("warnings", Level::Allow).expect("valid");
    let diags = check_source(&SourceFile::new("t.flow", "nope\n"), &levels);
    assert_eq!(codes(&diags), ["undefined_name"]);
}

#[test]
fn thresholds_are_configurable() {
    let text = "agent T = echo()\nlet a = T(n: 1)\nlet b = T(n: 2)\nlet c = T(n: 3)\nT(a: a, b: b, c: c)\n";
    let src = SourceFile::new("t.flow", text);
    let engine = flow::Engine::new();
    let script = engine.compile("t.flow", text).expect("compiles");
    let strict = lint::Config {
        max_inputs: 2,
        ..lint::Config::default()
    };
    let diags = lint::lint(&src, &script.program, &script.graph, &strict);
    assert_eq!(codes(&diags), ["too_many_inputs"]);
    assert!(check_text(text).is_empty());
}

// ---- the command line ----------------------------------------------------------

fn flow_check(args: &[&str]) -> (Option<i32>, String) {
    let output = common::flow_command()
        .arg("check")
        .args(args)
        .output()
        .expect("flow runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_deny_warnings_fails_on_a_lint() {
    let case = "tests/cases/lint/anti_sequential.flow";
    let (code, stderr) = flow_check(&[case]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("flow::lint::unneeded_after"), "{stderr}");
    let (code, stderr) = flow_check(&["--deny", "warnings", case]);
    assert_eq!(code, Some(3), "{stderr}");
    let (code, stderr) = flow_check(&["-D", "warnings", "-A", "unneeded-after", case]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let (code, _) = flow_check(&["-D", "unneeded_after", case]);
    assert_eq!(code, Some(3));
}

#[test]
fn check_rejects_unknown_codes_with_a_suggestion() {
    let (code, stderr) = flow_check(&["-A", "god-agnet", "examples/etl.flow"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("did you mean `god-agent`?"), "{stderr}");
}

#[test]
fn check_max_inputs_sets_the_threshold() {
    let case = "tests/cases/lint/anti_too_many_dependencies.flow";
    let (_, stderr) = flow_check(&["-A", "unneeded-after", case]);
    assert_eq!(
        stderr.matches("flow::lint::too_many_inputs").count(),
        1,
        "{stderr}"
    );
    let (_, stderr) = flow_check(&["-A", "unneeded-after", "--max-inputs", "20", case]);
    assert!(!stderr.contains("too_many_inputs"), "{stderr}");
}

fn flow_explain(args: &[&str]) -> (Option<i32>, String, String) {
    let output = common::flow_command()
        .arg("explain")
        .args(args)
        .output()
        .expect("flow runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn explain_prints_one_code_or_lists_them_all() {
    let (code, stdout, _) = flow_explain(&["god-agent"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("# flow::lint::god_agent"), "{stdout}");
    assert!(
        stdout.contains("## Bad") && stdout.contains("## Good"),
        "{stdout}"
    );
    let (code, stdout, _) = flow_explain(&["flow::check::undefined_name"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("undefined_name"), "{stdout}");
    let (code, stdout, _) = flow_explain(&[]);
    assert_eq!(code, Some(0));
    for c in Code::ALL {
        assert!(
            stdout.contains(c.name()),
            "{} missing from:\n{stdout}",
            c.name()
        );
        // A whole sentence, however its explanation wraps it.
        let summary = flow::explain::summary(*c).unwrap();
        assert!(summary.ends_with('.'), "{}: {summary}", c.name());
        assert!(stdout.contains(&summary), "{}: {summary}", c.name());
    }
    // A check that warns is listed as a warning.
    for name in ["unreachable_arm", "non_exhaustive_match", "unused_binding"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap();
        assert!(line.contains(" warning "), "{line}");
    }
    let (code, _, stderr) = flow_explain(&["unneded_after"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("did you mean `unneeded-after`?"),
        "{stderr}"
    );
}

// ---- the explanations ----------------------------------------------------------

#[test]
fn every_code_has_an_explanation_with_examples() {
    for code in Code::ALL {
        let text = flow::explain::text(*code)
            .unwrap_or_else(|| panic!("no explanation for {}", code.as_str()));
        assert!(
            text.starts_with(&format!("# {}\n", code.as_str())),
            "{}: the title must be the code",
            code.name()
        );
        assert!(!text.contains("TODO"), "{}: unfinished", code.name());
        let (bad, good) = flow::explain::examples(*code);
        // A script over 16 MiB, or one the parser gives up on, cannot be shown.
        let unshowable = matches!(code, Code::TooLarge | Code::TooComplex);
        assert!(
            text.contains("## Bad") && (unshowable || !bad.is_empty()),
            "{}: no bad example",
            code.name()
        );
        assert!(!good.is_empty(), "{}: no good example", code.name());
        assert!(
            flow::explain::summary(*code).is_some_and(|s| !s.is_empty()),
            "{}: no summary",
            code.name()
        );
    }
}

/// Every lint's bad example triggers it and its good example doesn't; every
/// syntax and check error's bad example reports it and its good example
/// compiles; runtime errors' examples compile (they fail only when run).
#[test]
fn the_examples_of_every_explanation_do_what_they_say() {
    for code in Code::ALL {
        let (bad, good) = flow::explain::examples(*code);
        let all = Levels::warn_all();
        for text in &bad {
            let diags = check_source(&SourceFile::new("t.flow", text.as_str()), &all);
            match code.phase() {
                "runtime" => assert!(
                    !flow::diag::has_errors(&diags),
                    "{}: bad example does not compile: {diags:#?}\n{text}",
                    code.name()
                ),
                _ => assert!(
                    diags.iter().any(|d| d.code == *code),
                    "{}: bad example does not trigger it: {:?}\n{text}",
                    code.name(),
                    codes(&diags)
                ),
            }
        }
        for text in &good {
            let diags = check_source(&SourceFile::new("t.flow", text.as_str()), &all);
            assert!(
                !flow::diag::has_errors(&diags),
                "{}: good example has errors: {diags:#?}\n{text}",
                code.name()
            );
            assert!(
                !diags.iter().any(|d| d.code == *code),
                "{}: good example triggers it\n{text}",
                code.name()
            );
        }
    }
}

#[test]
fn the_anti_patterns_are_flagged_where_they_are() {
    let cases = [
        ("anti_sequential.flow", "unneeded_after"),
        ("anti_too_many_dependencies.flow", "too_many_inputs"),
        ("anti_god_agent.flow", "god_agent"),
        ("anti_god_agent_one_call.flow", "single_call_script"),
    ];
    for (file, code) in cases {
        let src = load(&common::case(&format!("lint/{file}")));
        let diags = check_source(&src, &Levels::default());
        assert!(codes(&diags).contains(&code), "{file}: {:?}", codes(&diags));
    }
}

/// The bad examples of the runtime errors a run reports fail with that code
/// when run, and their good examples succeed.
#[test]
fn runtime_explanations_fail_as_they_say() {
    let shown = [
        Code::TaskFailed,
        Code::TaskTimedOut,
        Code::GateFailed,
        Code::MissingField,
        Code::IndexOutOfRange,
        Code::DivisionByZero,
        Code::TypeError,
        Code::BadValue,
    ];
    for code in shown {
        let (bad, good) = flow::explain::examples(code);
        for text in &bad {
            let outcome = common::run(text);
            assert!(
                outcome.errors.iter().any(|d| d.code == code),
                "{}: {:#?}\n{text}",
                code.name(),
                outcome.errors
            );
        }
        for text in &good {
            let outcome = common::run(text);
            assert_eq!(
                outcome.status,
                flow::RunStatus::Succeeded,
                "{}: {:#?}\n{text}",
                code.name(),
                outcome.errors
            );
        }
    }
}

/// Linting stays linear on a script of about 1 MB (the checker's stress script,
/// with `after`s and field reads added): bounded in this thread's CPU time,
/// which a busy machine does not stretch.
#[test]
fn a_megabyte_script_lints_quickly() {
    let mut text = String::from("param base = 1\nagent Worker = echo() limit 4\n");
    let mut i = 0;
    while text.len() < 1_000_000 {
        text.push_str(&format!(
            "flow step{i}(x) {{\n  let y = x + base\n  Worker(\"work\", y: y)\n}}\n\
             let v{i} = step{i}(x: {i})\n\
             let m{i} = map item in [1, 2, 3] limit 2 {{ Worker(item: item, prev: v{i}.out) }} # note\n\
             let w{i} = Worker(\"Do {i}\", n: {i}) after m{i}\n"
        ));
        i += 1;
    }
    let src = SourceFile::new("big.flow", text);
    let script = flow::Engine::new()
        .compile("big.flow", &src.text)
        .expect("compiles");
    let (diags, took) = crate::common::on_cpu(|| {
        let diags = lint::lint(
            &src,
            &script.program,
            &script.graph,
            &lint::Config::default(),
        );
        lint::apply(&src, Some(&script.program), diags, &Levels::default())
    });
    eprintln!("linted {} bytes in {took:?}", src.text.len());
    assert!(!diags.is_empty());
    assert!(took.as_secs() < 20, "linting 1 MB took {took:?}");
}

#[test]
fn allow_comments_are_not_reported_unused_when_the_script_has_errors() {
    let text = "# flow: allow(god-agent)\nlet x = nope\n";
    assert_eq!(codes(&check_text(text)), ["undefined_name"]);
}

#[test]
fn json_output_carries_lint_codes_and_denied_severity() {
    let output = common::flow_command()
        .args(["check", "--format", "json", "-D", "unneeded-after"])
        .arg("tests/cases/lint/anti_sequential.flow")
        .output()
        .expect("flow runs");
    assert_eq!(output.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json[0]["code"], "flow::lint::unneeded_after");
    assert_eq!(json[0]["severity"], "error");
    assert_eq!(json[0]["line"], 7);
}

/// Every `.flow` file of the test corpus and the examples lints without
/// panicking, whatever it holds.
#[test]
fn never_panics_on_any_corpus_file() {
    let mut stack = vec![
        common::root().join("tests/cases"),
        common::root().join("examples"),
    ];
    let mut linted = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "flow") {
                let _ = check_source(&load(&path), &Levels::default());
                linted += 1;
            }
        }
    }
    assert!(linted > 100, "{linted}");
}

#[test]
fn missing_timeout_is_allowed_by_default_and_deny_warnings_leaves_it() {
    let text = "agent W = llm(model: \"m\")\nlet a = W(\"Write\")\nlet b = W(\"Edit\", a: a) timeout 30s\nb\n";
    let src = SourceFile::new("t.flow", text);
    assert!(check_source(&src, &Levels::default()).is_empty());
    let mut deny = Levels::default();
    deny.set("warnings", Level::Deny).expect("valid");
    assert!(check_source(&src, &deny).is_empty());
    let mut warn = Levels::default();
    warn.set("missing-timeout", Level::Warn).expect("valid");
    assert_eq!(codes(&check_source(&src, &warn)), ["missing_timeout"]);
    let (code, stdout, _) = flow_explain(&[]);
    assert_eq!(code, Some(0));
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("missing_timeout") && l.contains("allow")),
        "{stdout}"
    );
}

/// `flow run` prints the checker's warnings, and honours allow comments for
/// them, without reporting the lint allows it did not check.
#[test]
fn run_honours_allow_comments() {
    let dir = std::env::temp_dir().join(common::unique_mark("lint-run"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("u.flow");
    std::fs::write(
        &path,
        "# flow: allow(god-agent)\nlet y = {\n  # flow: allow(unused-binding)\n  let z = 2\n  let w = 3\n  4 }\ny\n",
    )
    .expect("written");
    let output = common::flow_command()
        .arg("run")
        .arg(&path)
        .output()
        .expect("flow runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("unused_binding").count(), 1, "{stderr}");
    assert!(stderr.contains("`w`"), "{stderr}");
    assert!(!stderr.contains("unused_allow"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- lints that agree with each other -----------------------------------------

/// `unneeded_after` asks for a gate a task waits for when the order matters,
/// and `single_check_gate` accepts such a gate with one check: following one
/// lint's advice never brings the other (they used to send each other's
/// fixes back). Both of `unneeded_after`'s fixes leave the script clean.
#[test]
fn unneeded_after_and_single_check_gate_agree() {
    let src = load(&common::case("lint/gate_or_after.flow"));
    assert_eq!(codes(&check_text(&src.text)), ["unneeded_after"]);
    let plain = "let review = Reviewer(\"Review the draft\", draft: draft)";
    assert!(src.text.contains(plain));
    let as_gate = src.text.replace(
        plain,
        "let review = gate { review: Reviewer(\"Review the draft\", draft: draft) }",
    );
    assert_eq!(codes(&check_text(&as_gate)), Vec::<&str>::new());
    let removed = src.text.replace(" after review", "");
    assert_eq!(codes(&check_text(&removed)), Vec::<&str>::new());
    // A gate of one check that nothing waits for is still reported.
    let unwaited = src.text.replace(" after checked", "");
    assert_eq!(
        codes(&check_text(&unwaited)),
        ["unneeded_after", "single_check_gate"]
    );
}

/// An `after` that orders effects (on either side) or waits for a
/// checkpoint is never reported: removing it could change what the
/// workflow does.
#[test]
fn unneeded_after_leaves_effects_and_checkpoints_in_order() {
    let cases = [
        "let backup = sh(\"cp a b\")\nlet removed = sh(\"rm a\") after backup\nremoved",
        "agent Notify = http(url: \"http://127.0.0.1:9/n\", method: \"POST\", timeout: 5s)\nlet sent = Notify(text: \"stop\")\nlet stopped = fail(\"stopped\") after sent\nstopped",
        "agent W = echo()\nlet summary = W(\"Summarise\")\nlet deployed = sh(\"./deploy.sh\") after summary\ndeployed",
        "agent W = echo()\nlet ok = approve(\"Publish?\")\nlet post = W(\"Publish\") after ok\npost",
        "agent W = echo()\nlet pause = sleep(1s)\nlet again = W(\"Try again\") after pause\nagain",
        "agent W = echo()\nflow save(doc) { sh(\"cat > /tmp/x\", doc: doc) }\nlet saved = save(doc: \"d\")\nlet told = W(\"Tell\") after saved\ntold",
    ];
    for text in cases {
        let codes = codes(&check_text(text));
        assert!(!codes.contains(&"unneeded_after"), "{codes:?}\n{text}");
    }
}

/// Removes the name at `start..end` from its `after` list (the list too
/// when it was the only name), as `unneeded_after` suggests.
fn drop_after(text: &str, start: usize, end: usize) -> String {
    let before = text[..start].trim_end();
    if let Some(head) = before.strip_suffix(',') {
        return format!("{head}{}", &text[end..]);
    }
    let rest = &text[end..];
    if let Some(tail) = rest.strip_prefix(',') {
        return format!("{}{}", &text[..start], tail.trim_start());
    }
    let head = before
        .strip_suffix("after")
        .expect("the name follows `after`")
        .trim_end();
    format!("{head}{rest}")
}

/// Doing what `unneeded_after` and `after_chain` say (removing the `after`s
/// they report) changes when tasks run, never the result: on the lint
/// corpus's scripts that can run offline, with every reported edge removed.
#[test]
fn removing_unneeded_afters_keeps_the_result() {
    for file in [
        "gate_or_after.flow",
        "everything_depends_on_everything.flow",
        "anti_too_many_dependencies.flow",
    ] {
        let src = load(&common::case(&format!("lint/{file}")));
        let mut spans: Vec<(usize, usize)> = check_text(&src.text)
            .iter()
            .filter(|d| {
                matches!(
                    d.code,
                    Code::UnneededAfter | Code::AfterChain | Code::RedundantAfter
                )
            })
            .flat_map(|d| d.primary.iter().chain(&d.labels).map(|l| l.span))
            .filter(|s| {
                let name = &src.text[s.start as usize..s.end as usize];
                !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
            .map(|s| (s.start as usize, s.end as usize))
            .collect();
        spans.sort();
        spans.dedup();
        assert!(!spans.is_empty(), "{file}: nothing reported");
        let mut fixed = src.text.to_string();
        for &(start, end) in spans.iter().rev() {
            fixed = drop_after(&fixed, start, end);
        }
        let lints: Vec<&str> = codes(&check_text(&fixed))
            .into_iter()
            .filter(|c| c.contains("after"))
            .collect();
        assert!(lints.is_empty(), "{file}: {lints:?}\n{fixed}");
        let before = common::run(&src.text);
        let after = common::run(&fixed);
        assert_eq!(before.status, flow::RunStatus::Succeeded, "{file}");
        assert_eq!(before.result, after.result, "{file}:\n{fixed}");
    }
}

/// The too-many-dependencies lint says what the patterns document says:
/// the task has too many dependencies, and should have only actual ones.
#[test]
fn too_many_inputs_speaks_of_too_many_dependencies() {
    let src = load(&common::case("lint/anti_too_many_dependencies.flow"));
    let diags = check_text(&src.text);
    let d = diags
        .iter()
        .find(|d| d.code == Code::TooManyInputs)
        .expect("reported");
    assert!(
        d.message.contains("has too many dependencies"),
        "{}",
        d.message
    );
    let help = d.help.as_deref().unwrap_or_default();
    assert!(help.contains("only on actual dependencies"), "{help}");
}
