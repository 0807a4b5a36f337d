//! What a `sh` call's stdout becomes: text unless its `output:` says
//! otherwise, never guessed (docs/language.md, "Shell output").

use flow::{Code, Engine, RunStatus, TaskStatus};
use serde_json::json;

use crate::common::{result, run, scratch};

/// The first error of a failed run, with its notes.
fn failure(text: &str) -> String {
    let outcome = run(text);
    assert_eq!(outcome.status, RunStatus::Failed, "{:?}", outcome.result);
    let d = &outcome.errors[0];
    format!("{} {}", d.message, d.notes.join(" "))
}

#[test]
fn text_is_kept_as_printed() {
    let dir = scratch("sh-text");
    std::fs::write(dir.join("42"), "").unwrap();
    let script = format!(
        r#"{{
          version: sh("echo 1.10"),
          padded: sh("echo 007"),
          exp: sh("echo 1e3"),
          file: sh("ls", cwd: "{}"),
          quoted: sh("echo '\"x\"'"),
          two: sh("printf 'a\n\n'"),
          crlf: sh("printf 'a\r\n'"),
          none: sh("true"),
        }}"#,
        dir.display()
    );
    assert_eq!(
        result(&script),
        json!({
            "version": "1.10", "padded": "007", "exp": "1e3", "file": "42",
            "quoted": "\"x\"", "two": "a\n", "crlf": "a", "none": "",
        })
    );
}

#[test]
fn json_is_parsed_and_bad_json_quoted_in_the_error() {
    assert_eq!(
        result(r#"sh("echo '{\"a\": [1, 1.5]}'", output: "json")"#),
        json!({"a": [1, 1.5]})
    );
    let error = failure(r#"sh("echo not json at all", output: "json")"#);
    assert!(error.contains("not JSON"), "{error}");
    assert!(error.contains("\"not json at all\""), "{error}");
}

#[test]
fn lines_are_a_list_of_lines() {
    assert_eq!(
        result(
            r#"{
              some: sh("printf 'a\nb\n\nc\n'", output: "lines"),
              unended: sh("printf 'a\nb'", output: "lines"),
              crlf: sh("printf 'a\r\nb\r\n'", output: "lines"),
              none: sh("true", output: "lines"),
              blank: sh("echo", output: "lines"),
            }"#
        ),
        json!({
            "some": ["a", "b", "", "c"], "unended": ["a", "b"], "crlf": ["a", "b"],
            "none": [], "blank": [""],
        })
    );
}

#[test]
fn result_gives_stdout_stderr_and_code_without_failing() {
    assert_eq!(
        result(
            r#"{
              failed: sh("echo out; echo err >&2; exit 3", output: "result"),
              fine: sh("echo 1.10", output: "result"),
            }"#
        ),
        json!({
            "failed": {"stdout": "out", "stderr": "err", "code": 3},
            "fine": {"stdout": "1.10", "stderr": "", "code": 0},
        })
    );
    // A timeout is no exit status: the task still fails.
    let outcome = run(r#"let t = sh("sleep 5", output: "result") timeout 100ms"#);
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.tasks[0].status, TaskStatus::TimedOut);
}

#[test]
fn ok_codes_accept_the_statuses_they_name() {
    let v = result(
        r#"{
          none: sh("printf 'a\nb\n' | grep -c x", ok_codes: [0, 1]),
          some: sh("printf 'a\nb\n' | grep -c a", ok_codes: [0, 1]),
        }"#,
    );
    assert_eq!(v, json!({"none": "0", "some": "1"}));
    let error = failure(r#"sh("exit 2", ok_codes: [0, 1])"#);
    assert!(
        error.contains("status 2") || error.contains("exit"),
        "{error}"
    );
    let error = failure(r#"sh("true", ok_codes: [0, 300])"#);
    assert!(error.contains("from 0 to 255"), "{error}");
}

#[test]
fn a_declared_form_holds_for_every_call_of_the_agent() {
    assert_eq!(
        result(
            r#"agent Count = sh("printf '%s' \"$n\"", output: "json")
               [Count(n: 2), Count(n: 3)]"#
        ),
        json!([2, 3])
    );
}

#[test]
fn a_form_outside_the_set_is_an_error_before_running() {
    let engine = Engine::new();
    let error = engine
        .compile("t.flow", r#"sh("touch should-not-exist", output: "jsno")"#)
        .unwrap_err();
    let d = &error.diagnostics[0];
    assert_eq!(d.code, Code::BadLiteral);
    assert!(d.message.contains("\"jsno\""), "{}", d.message);
    assert_eq!(d.help.as_deref(), Some("did you mean \"json\"?"));
    let error = engine
        .compile("t.flow", r#"sh("true", ok_codes: 1)"#)
        .unwrap_err();
    assert_eq!(error.diagnostics[0].code, Code::BadLiteral);
}
