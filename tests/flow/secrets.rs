//! Secrets stay secret: the variables that hold credentials are not given to
//! commands unless a script passes them, and their values show as `***` in
//! everything Flow prints or stores.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};

use crate::common::{flow_command, scratch};

const KEY: &str = "sk-secret-4242-abcdef";

/// A folder with `main.flow` and its own run store.
fn project(name: &str, script: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("main.flow"), script).unwrap();
    dir
}

/// `flow ARGS` in `dir`, with `OPENAI_API_KEY` and `MY_TOKEN` set.
fn flow(dir: &Path, args: &[&str]) -> Output {
    flow_command()
        .current_dir(dir)
        .env_remove("FLOW_STORE")
        .env("OPENAI_API_KEY", KEY)
        .env("MY_TOKEN", "tok-9876543210")
        .env("MY_LLM_KEY", "llm-key-13579")
        .args(args)
        .output()
        .expect("flow runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file of the run store, as text.
fn store_text(dir: &Path) -> String {
    let mut all = String::new();
    let mut stack = vec![dir.join(".flow")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                all.push_str(&String::from_utf8_lossy(
                    &std::fs::read(entry.path()).unwrap(),
                ));
            }
        }
    }
    all
}

fn assert_hidden(texts: &[&str], secret: &str) {
    for text in texts {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
}

#[test]
fn the_api_key_is_not_in_the_environment_of_commands() {
    let dir = project("env", "sh(\"env\")\n");
    let out = flow(&dir, &["run", "main.flow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("MY_TOKEN="),
        "the rest is inherited: {stdout}"
    );
    assert!(!stdout.contains("OPENAI_API_KEY="), "{stdout}");
    let json = flow(&dir, &["run", "--json", "main.flow"]);
    let log = flow(&dir, &["log", "--json"]);
    let texts = [&stdout, &text(&json.stdout), &text(&log.stdout)];
    assert_hidden(&texts.map(String::as_str), KEY);
    assert_hidden(&[&store_text(&dir)], KEY);
}

#[test]
fn a_key_passed_explicitly_reaches_the_command_and_is_redacted() {
    let script = r#"
        let passed = sh("test \"$OPENAI_API_KEY\" = sk-secret-4242-abcdef && echo passed",
                        env: {OPENAI_API_KEY: env("OPENAI_API_KEY")})
        let shown = sh("echo \"key: $K\"", env: {K: env("OPENAI_API_KEY")})
        { passed: passed, shown: shown }
    "#;
    let dir = project("explicit", script);
    let out = flow(&dir, &["run", "main.flow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result, json!({"passed": "passed", "shown": "key: ***"}));
    let json = flow(&dir, &["run", "--json", "main.flow"]);
    let log = flow(&dir, &["log", "--json"]);
    assert_hidden(&[&text(&json.stdout), &text(&log.stdout)], KEY);
    // The key inputs (the `env:` config) are stored redacted too.
    assert!(text(&log.stdout).contains("***"));
    assert_hidden(&[&store_text(&dir)], KEY);
}

#[test]
fn errors_and_logs_redact_the_key() {
    let script =
        "sh(\"echo out $K; echo err $K >&2; exit 3\", env: {K: env(\"OPENAI_API_KEY\")})\n";
    let dir = project("errors", script);
    for args in [&["run", "main.flow"][..], &["run", "--json", "main.flow"]] {
        let out = flow(&dir, args);
        assert_eq!(out.status.code(), Some(1));
        assert_hidden(&[&text(&out.stdout), &text(&out.stderr)], KEY);
    }
    let log = flow(&dir, &["log"]);
    assert!(
        text(&log.stdout).contains("err ***"),
        "{}",
        text(&log.stdout)
    );
    assert_hidden(&[&text(&log.stdout), &store_text(&dir)], KEY);
}

#[test]
fn secret_names_the_variables_to_hide() {
    let script = r#"
        agent Model = llm(api_key_env: "MY_LLM_KEY")
        let token = sh("printenv MY_TOKEN || echo hidden")
        let llm_key = sh("printenv MY_LLM_KEY || echo hidden")
        let shown = sh("echo \"$T\"", env: {T: env("MY_TOKEN")})
        { token: token, llm_key: llm_key, shown: shown }
    "#;
    let dir = project("names", script);
    let out = flow(&dir, &["run", "--secret", "MY_TOKEN", "main.flow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result,
        json!({"token": "hidden", "llm_key": "hidden", "shown": "***"})
    );
    // Without `--secret`, an ordinary variable is inherited and shown.
    let out = flow(&dir, &["run", "main.flow"]);
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["token"], "tok-9876543210");
}

#[test]
fn a_direct_call_names_its_secret_too_even_in_a_branch_not_taken() {
    // No declared agent: the `llm` call itself names the variable, inside a
    // branch the run never takes; commands still do not inherit it.
    let script = r#"
        let key = sh("printenv MY_LLM_KEY || echo hidden")
        let token = sh("printenv MY_TOKEN || echo hidden")
        let asked = if false { llm("hi", api_key_env: "MY_LLM_KEY") } else { "not asked" }
        { key: key, token: token, asked: asked }
    "#;
    let dir = project("direct", script);
    let out = flow(&dir, &["run", "main.flow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result,
        json!({"key": "hidden", "token": "tok-9876543210", "asked": "not asked"})
    );
}

#[test]
fn the_library_redacts_what_a_run_reports() {
    // The variable is set by the test process for its children only.
    let name = "FLOW_TEST_SECRET_FOR_THE_LIBRARY";
    std::env::set_var(name, "lib-secret-value-77");
    let options = flow::RunOptions::new().secret(name);
    let outcome = crate::common::run_with(
        &format!("sh(\"echo $V >&2; exit 2\", env: {{V: env(\"{name}\")}})"),
        options,
    );
    let shown = format!("{:?} {:?}", outcome.errors, outcome.tasks);
    assert!(!shown.contains("lib-secret-value-77"), "{shown}");
    assert_eq!(outcome.tasks[0].notes, ["stderr:\n***"]);
}
