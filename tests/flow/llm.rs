//! The `llm` backend against a fake OpenAI-compatible server on loopback, and
//! once against a real model (SmolLM2 served by llama.cpp, see `real_model`).

use std::time::Duration;

use flow::agents::llm::{self, LlmOptions};
use flow::{Call, Engine, Outcome, RunOptions, RunStatus, TaskStatus};
use serde_json::{json, Value};

use crate::servers::{self, run};

fn errors(outcome: &Outcome) -> String {
    outcome
        .errors
        .iter()
        .map(|d| format!("{} {} {:?}", d.code.as_str(), d.message, d.notes))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_reply_is_the_output_and_usage_is_recorded() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent Writer = llm(model: "echo", base_url: base, system: "Be brief.", temperature: 0, max_tokens: 50)
        let a = Writer("Write about ${"tides"}", facts: [1, 2])
        let b = Writer("Again")
        [a, b]
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let result = outcome.result.clone().unwrap();
    assert_eq!(
        result[0],
        json!("echo: Write about tides\n\n{\n  \"facts\": [\n    1,\n    2\n  ]\n}")
    );
    assert_eq!(result[1], json!("echo: Again"));
    let usage = outcome.task("a").unwrap().usage.clone().unwrap();
    assert_eq!(
        usage,
        json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
    );
    assert_eq!(
        outcome.usage().unwrap(),
        json!({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30})
    );
    assert_eq!(outcome.to_json()["usage"]["total_tokens"], 30);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let body = &requests
        .iter()
        .find(|r| r.body["messages"][1]["content"] == "Again")
        .unwrap()
        .body;
    assert_eq!(body["model"], "echo");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert!(body.get("response_format").is_none());
    assert!(
        requests[0].header("authorization").is_none() || std::env::var("OPENAI_API_KEY").is_ok(),
        "no key, no Authorization header"
    );
}

#[tokio::test]
async fn json_mode_parses_the_reply_and_picks_a_branch() {
    let server = servers::chat().await;
    let script = r#"
        param base = ""
        param ticket = "easy"
        agent Analyzer = llm(model: "triage", base_url: base, json: true)
        let analysis = Analyzer("Assess this ticket", ticket: ticket)
        if analysis.complexity > 5 { "engineer" } else { "self-help" }
    "#;
    let engine = Engine::new();
    let compiled = engine.compile("triage.flow", script).unwrap();
    let easy = engine
        .run(&compiled, RunOptions::new().param("base", server.v1()))
        .await;
    assert_eq!(*easy.result.unwrap(), json!("self-help"));
    let hard = engine
        .run(
            &compiled,
            RunOptions::new()
                .param("base", server.v1())
                .param("ticket", "a hard one"),
        )
        .await;
    assert_eq!(*hard.result.unwrap(), json!("engineer"));
    let body = &server.requests()[0].body;
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    // The message asks for JSON, as OpenAI requires in JSON mode.
    let user = body["messages"][0]["content"].as_str().unwrap();
    assert!(user.contains("JSON"), "{user}");
}

#[tokio::test]
async fn a_schema_constrains_the_reply() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent Analyzer = llm(model: "triage", base_url: base,
          schema: {type: "object", properties: {complexity: {type: "integer"}}, required: ["complexity"]})
        Analyzer("Assess").complexity
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    assert_eq!(*outcome.result.unwrap(), json!(2));
    let format = &server.requests()[0].body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(
        format["json_schema"]["schema"]["required"],
        json!(["complexity"])
    );
}

#[tokio::test]
async fn fenced_json_is_accepted_and_prose_is_not() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "fenced", base_url: base, json: true)
        A("Reply").ok
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(*outcome.result.unwrap(), json!(true));

    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "prose", base_url: base, json: true)
        A("Reply")
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let diag = &outcome.errors[0];
    assert_eq!(diag.code.as_str(), "flow::runtime::task_failed");
    assert!(diag.message.contains("not valid JSON"), "{}", diag.message);
    assert!(
        diag.notes.iter().any(|n| n.contains("this is not JSON")),
        "{:?}",
        diag.notes
    );
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "rate-limited", base_url: base)
        A("Hello")
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    assert_eq!(*outcome.result.unwrap(), json!("echo: Hello"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // `Retry-After: 1`: the server saw the second request a second after the
    // first (its own clock; a lower bound, which a busy machine only helps).
    let waited = requests[1].at - requests[0].at;
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
}

#[tokio::test]
async fn a_500_is_retried_with_backoff() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "flaky", base_url: base)
        A("Hello")
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "down", base_url: base)
        A("Hello")
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(server.requests().len(), 4);
    let diag = &outcome.errors[0];
    assert!(diag.message.contains("503"), "{}", diag.message);
    assert!(
        diag.message.contains("the model is loading"),
        "{}",
        diag.message
    );
    assert!(
        diag.notes.iter().any(|n| n.contains("4 requests")),
        "{:?}",
        diag.notes
    );
}

#[tokio::test]
async fn other_errors_fail_at_once_with_the_servers_message() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "unknown", base_url: base)
        A("Hello")
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(server.requests().len(), 1);
    let message = &outcome.errors[0].message;
    assert!(message.contains("400 Bad Request"), "{message}");
    assert!(
        message.contains("model `unknown` does not exist"),
        "{message}"
    );
    assert_eq!(outcome.tasks[0].status, TaskStatus::Failed);
}

#[tokio::test]
async fn bad_replies_fail_with_a_note() {
    let server = servers::chat().await;
    for (model, expected) in [
        ("malformed", "is not JSON"),
        ("empty", "no `choices[0].message.content`"),
        ("huge", "larger than 16 MiB"),
    ] {
        let outcome = run(
            &format!(
                "param base = \"\"\nagent A = llm(model: \"{model}\", base_url: base)\nA(\"Hello\")"
            ),
            &server.v1(),
        )
        .await;
        assert_eq!(outcome.status, RunStatus::Failed, "{model}");
        let message = &outcome.errors[0].message;
        assert!(message.contains(expected), "{model}: {message}");
    }
}

#[tokio::test]
async fn a_call_timeout_stops_a_slow_reply() {
    // `slow` answers after 10 s: a call that waited for it would succeed.
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "slow", base_url: base)
        A("Hello") timeout 300ms
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.tasks[0].status, TaskStatus::TimedOut);
    assert_eq!(outcome.errors[0].code.as_str(), "flow::runtime::timed_out");
}

#[tokio::test]
async fn the_request_timeout_fails_the_call() {
    let server = servers::chat().await;
    let mut call = Call::new("A", "Hello");
    call.config = std::sync::Arc::new(
        json!({"model": "slow", "base_url": server.v1()})
            .as_object()
            .unwrap()
            .clone(),
    );
    let options = LlmOptions {
        timeout: Duration::from_millis(300),
        ..LlmOptions::default()
    };
    let error = llm::complete(&call, &options).await.unwrap_err();
    assert!(error.message.ends_with("timed out"), "{}", error.message);
}

#[tokio::test]
async fn unreachable_servers_and_bad_config_are_diagnostics() {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "echo", base_url: base)
        A("Hello")
        "#,
        &format!("http://127.0.0.1:{port}/v1"),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome.errors[0].message.contains("cannot connect"),
        "{}",
        outcome.errors[0].message
    );

    for (config, expected) in [
        ("base_url: \"not a url\"", "`base_url` is not a URL"),
        // Computed values of the wrong type are refused when the task
        // starts (literals already when the script is checked).
        (
            "base_url: base, temperature: str(\"hot\")",
            "`llm` takes a number for `temperature`, but got a string",
        ),
        (
            "base_url: base, max_tokens: -5",
            "`max_tokens` must be a positive",
        ),
        (
            "base_url: base, json: int(\"1\")",
            "`llm` takes a boolean for `json`, but got a number",
        ),
        (
            "base_url: base, schema: str(\"x\")",
            "`llm` takes an object for `schema`, but got a string",
        ),
    ] {
        let outcome = run(
            &format!("param base = \"\"\nagent A = llm({config})\nA(\"Hello\")"),
            "http://127.0.0.1:9/v1",
        )
        .await;
        assert_eq!(outcome.status, RunStatus::Failed, "{config}");
        let message = &outcome.errors[0].message;
        assert!(message.contains(expected), "{config}: {message}");
    }
}

/// The API key must not appear anywhere a failing run writes: stdout, stderr,
/// `--json`, diagnostics, even when the server repeats it in its error.
#[tokio::test]
async fn the_api_key_never_appears_in_a_runs_output() {
    let server = servers::chat().await;
    let key = "sk-test-4f9a8b7c6d5e4f3a2b1c";
    let dir = std::env::temp_dir().join(format!("flow-llm-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("leak.flow");
    std::fs::write(
        &script,
        r#"
        agent Good = llm(model: "echo", api_key_env: "FLOW_TEST_SECRET_KEY")
        agent Bad = llm(model: "tattle", api_key_env: "FLOW_TEST_SECRET_KEY")
        let ok = Good("Hello")
        let bad = Bad("Hello", first: ok)
        bad
        "#,
    )
    .unwrap();
    for json_flag in [false, true] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flow"));
        command
            .arg("run")
            .arg(&script)
            .env("FLOW_TEST_SECRET_KEY", key)
            .env("FLOW_LLM_BASE_URL", server.v1());
        if json_flag {
            command.arg("--json");
        }
        let output = command.output().await.unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        for text in [&stdout, &stderr] {
            assert!(!text.contains(key), "the key leaked:\n{text}");
            assert!(
                !text.contains("4f9a8b7c"),
                "part of the key leaked:\n{text}"
            );
        }
        assert!(
            stderr.contains("Incorrect API key provided"),
            "the server's message is kept: {stderr}"
        );
        assert!(stderr.contains("***"), "{stderr}");
        if json_flag {
            let doc: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(doc["status"], "failed");
            assert_eq!(doc["usage"]["total_tokens"], 15);
        }
    }
    // The key was sent, as a bearer token, from the env var the config named.
    let requests = server.requests();
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {key}"))));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- a real model ---------------------------------------------------------------

/// Where a real OpenAI-compatible server answers: `FLOW_LLM_BASE_URL`, the
/// variable `flow` itself reads, set by the README's test command (`.ci/test`
/// starts SmolLM2 under llama.cpp, see `.ci/llm-server.sh`). `cargo test`
/// alone needs nothing but cargo: then the real-model tests say they were
/// skipped — unless `FLOW_REQUIRE_LLM=1` (which `.ci/test` sets), where a
/// missing server fails them.
pub(crate) struct RealModel {
    pub(crate) url: String,
}

pub(crate) fn real_model() -> Option<RealModel> {
    match std::env::var("FLOW_LLM_BASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(RealModel { url }),
        _ if std::env::var("FLOW_REQUIRE_LLM").is_ok_and(|v| v == "1") => panic!(
            "FLOW_REQUIRE_LLM=1 but FLOW_LLM_BASE_URL is not set: start a model server \
             (`.ci/llm-server.sh start`) and export the URL it prints"
        ),
        _ => {
            eprintln!(
                "skipped: no real model (FLOW_LLM_BASE_URL is not set; `.ci/test` starts one)"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_answers_in_text_and_json() {
    let Some(model) = real_model() else {
        return;
    };
    let outcome = run(
        r#"
        param base = ""
        agent Writer = llm(base_url: base, temperature: 0, max_tokens: 16,
          system: "You are a concise writer.")
        agent Analyzer = llm(base_url: base, temperature: 0, max_tokens: 40,
          schema: {type: "object", properties: {complexity: {type: "integer"}}, required: ["complexity"]})
        let line = Writer("Write one sentence about the sea.")
        let rating = Analyzer("Rate how complex this sentence is, from 1 to 10.", sentence: line)
        { line: line, rating: rating }
        "#,
        &model.url,
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let result = outcome.result.clone().unwrap();
    let line = result["line"].as_str().expect("the reply is text");
    assert!(!line.trim().is_empty(), "an empty reply");
    assert!(
        result["rating"]["complexity"].is_i64(),
        "JSON mode parsed: {}",
        result["rating"]
    );
    for task in &outcome.tasks {
        let usage = task.usage.as_ref().expect("usage recorded");
        assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
    }
    let total = outcome.usage().unwrap();
    assert!(total["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn research_review_runs_against_a_real_model() {
    let Some(model) = real_model() else {
        return;
    };
    let text = std::fs::read_to_string(crate::common::root().join("examples/research_review.flow"))
        .unwrap();
    let engine = Engine::new();
    let script = engine.compile("research_review.flow", &text).unwrap();
    let outcome = engine
        .run(
            &script,
            RunOptions::new()
                .param("base_url", model.url.as_str())
                .param("max_tokens", 12)
                .param("topic", "tides"),
        )
        .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let result = outcome.result.clone().unwrap();
    assert!(!result["article"].as_str().unwrap().trim().is_empty());
    for part in ["intro", "body", "conclusion"] {
        assert!(result["sections"][part].is_string(), "{part}: {result}");
    }
    assert_eq!(outcome.tasks.len(), 5, "research, three writers, editor");
    assert!(outcome.tasks.iter().all(|t| t.usage.is_some()));
}

#[tokio::test]
async fn the_examples_run_against_the_fake_server() {
    let server = servers::chat().await;
    let engine = Engine::new();
    let read = |name: &str| {
        let text =
            std::fs::read_to_string(crate::common::root().join("examples").join(name)).unwrap();
        engine
            .compile(name, &text)
            .unwrap_or_else(|e| panic!("{}", e.render()))
    };

    let script = read("research_review.flow");
    let outcome = engine
        .run(
            &script,
            RunOptions::new()
                .param("base_url", server.v1())
                .param("model", "echo"),
        )
        .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let result = outcome.result.clone().unwrap();
    let article = result["article"].as_str().unwrap();
    assert!(article.starts_with("echo: Merge and polish"), "{article}");
    assert!(
        article.contains("\"intro\": \"echo: Write a two-sentence introduction"),
        "{article}"
    );
    assert_eq!(outcome.tasks.len(), 5);
    assert_eq!(outcome.usage().unwrap()["total_tokens"], 75);

    let script = read("triage.flow");
    for (ticket, route) in [("a hard crash", "engineering"), ("a typo", "self-service")] {
        let outcome = engine
            .run(
                &script,
                RunOptions::new()
                    .param("base_url", server.v1())
                    .param("model", "triage")
                    .param("ticket", ticket),
            )
            .await;
        assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
        assert_eq!(outcome.result.unwrap()["route"], route, "{ticket}");
        assert_eq!(outcome.tasks.len(), 2, "only the branch taken runs");
    }
}

#[tokio::test]
async fn a_link_local_model_server_is_refused_unless_allowed() {
    let script = "param base = \"\"\nagent M = llm(base_url: \"http://169.254.169.254/v1\", timeout: 1s)\nM(\"hi\")";
    let outcome = run(script, "").await;
    let message = &outcome.errors[0].message;
    assert!(message.contains("allow_link_local: true"), "{message}");
    let allowed = script.replace("timeout: 1s", "timeout: 1s, allow_link_local: true");
    let outcome = run(&allowed, "").await;
    if let Some(error) = outcome.errors.first() {
        assert!(!error.message.contains("link-local"), "{}", error.message);
    }
}

/// A bad base URL from the environment names the variable it came from.
#[test]
fn a_bad_base_url_names_where_it_came_from() {
    let dir = crate::common::scratch("llm-base-url-env");
    std::fs::write(
        dir.join("m.flow"),
        "agent A = llm(model: \"m\")\nA(\"Hello\")\n",
    )
    .unwrap();
    for variable in ["FLOW_LLM_BASE_URL", "OPENAI_BASE_URL"] {
        let out = crate::common::flow_command()
            .current_dir(&dir)
            .env_remove("FLOW_LLM_BASE_URL")
            .env_remove("OPENAI_BASE_URL")
            .env(variable, "notaurl")
            .args(["run", "--no-store", "-q", "m.flow"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("{variable} is not a URL: `notaurl`")),
            "{stderr}"
        );
    }
}
