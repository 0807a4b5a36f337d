//! The `http` backend against a small service on loopback.

use std::time::Duration;

use flow::agents::http::{self, HttpOptions};
use flow::{Call, Outcome, RunStatus, TaskStatus};
use serde_json::json;

use crate::servers::{self, run};

fn message(outcome: &Outcome) -> String {
    assert_eq!(outcome.status, RunStatus::Failed, "{:?}", outcome.result);
    outcome.errors[0].message.clone()
}

#[tokio::test]
async fn post_sends_the_context_as_json_and_reads_json() {
    let server = servers::service().await;
    let outcome = run(
        r#"
        param base = ""
        agent Api = http(url: "${base}/echo", headers: {"X-Team": "tides", "X-Count": 3})
        Api(city: "Brest", days: [1, 2])
        "#,
        &server.url,
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    let result = outcome.result.unwrap();
    assert_eq!(result["method"], "POST");
    assert_eq!(result["body"], json!({"city": "Brest", "days": [1, 2]}));
    assert_eq!(result["headers"]["x-team"], "tides");
    assert_eq!(result["headers"]["x-count"], "3");
    let request = &server.requests()[0];
    assert!(request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
}

#[tokio::test]
async fn get_sends_the_context_as_the_query() {
    let server = servers::service().await;
    let outcome = run(
        r#"
        param base = ""
        agent Geo = http(url: "${base}/echo", method: "get")
        let one = Geo("where", city: "Brest", n: 2, tags: ["a", "b"])
        let direct = http("${base}/text", method: "GET")
        { one: one, direct: direct }
        "#,
        &server.url,
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    let result = outcome.result.unwrap();
    assert_eq!(result["one"]["method"], "GET");
    assert_eq!(
        result["one"]["query"],
        json!({"city": "Brest", "n": "2", "tags": "[\"a\",\"b\"]", "instructions": "where"})
    );
    assert_eq!(result["direct"], "hello");
}

#[tokio::test]
async fn headers_from_env_reach_the_server_and_never_the_diagnostics() {
    let server = servers::service().await;
    // `PATH` stands in for a secret: it is always set, and long.
    let path = std::env::var("PATH").unwrap();
    let outcome = run(
        r#"
        param base = ""
        agent Ok = http(url: "${base}/echo", headers: {Authorization: "Bearer ${env("PATH")}"})
        agent Denied = http(url: "${base}/status/403", headers: {Authorization: "Bearer ${env("PATH")}"})
        let seen = Ok()
        Denied(seen: seen.method)
        "#,
        &server.url,
    )
    .await;
    let message = message(&outcome);
    assert!(message.contains("403 Forbidden"), "{message}");
    let ok = outcome.task("seen").unwrap();
    let echoed = ok.output.as_deref().unwrap();
    assert_eq!(echoed["headers"]["authorization"], format!("Bearer {path}"));
    // The 403 body repeats the header; the diagnostic shows it redacted.
    let diag = &outcome.errors[0];
    let shown = format!("{} {:?}", diag.message, diag.notes);
    assert!(!shown.contains(&path), "{shown}");
    assert!(shown.contains("you sent ***"), "{shown}");
}

#[tokio::test]
async fn non_2xx_fails_with_the_status_and_a_bounded_snippet() {
    let server = servers::service().await;
    let outcome = run(
        r#"
        param base = ""
        http("${base}/status/404?token=abc", method: "GET")
        "#,
        &server.url,
    )
    .await;
    let message = message(&outcome);
    assert!(message.contains("GET http://127.0.0.1:"), "{message}");
    assert!(
        message.contains("/status/404 answered 404 Not Found"),
        "{message}"
    );
    assert!(
        !message.contains("token=abc"),
        "the query is left out: {message}"
    );
    let note = &outcome.errors[0].notes[0];
    assert!(note.starts_with("response body:\nno luck"), "{note}");
    assert!(note.len() < 1200, "bounded: {} bytes", note.len());
    assert!(note.ends_with("bytes in all)"), "{note}");
    assert_eq!(outcome.tasks[0].status, TaskStatus::Failed);
}

#[tokio::test]
async fn bodies_over_the_cap_fail() {
    let server = servers::service().await;
    let outcome = run(
        "param base = \"\"\nhttp(\"${base}/big\", method: \"GET\")",
        &server.url,
    )
    .await;
    assert!(
        message(&outcome).contains("larger than 16 MiB"),
        "{}",
        message(&outcome)
    );

    // A chunked body without a length is cut off as it streams in.
    let endless = servers::endless().await;
    let mut call = Call::new("Api", "x");
    call.config = std::sync::Arc::new(
        json!({"url": format!("{endless}/"), "method": "GET"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let options = HttpOptions {
        max_body: 3 << 20,
        ..HttpOptions::default()
    };
    let error = http::request(&call, &options).await.unwrap_err();
    assert!(
        error.message.contains("larger than 3 MiB"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn redirects_are_followed_up_to_a_bound() {
    let server = servers::service().await;
    let outcome = run(
        "param base = \"\"\nhttp(\"${base}/hop/10\", method: \"GET\").hops",
        &server.url,
    )
    .await;
    assert_eq!(*outcome.result.unwrap(), json!("done"));

    let outcome = run(
        "param base = \"\"\nhttp(\"${base}/hop/11\", method: \"GET\")",
        &server.url,
    )
    .await;
    let too_many = message(&outcome);
    assert!(too_many.contains("redirects: more than 10"), "{too_many}");

    let outcome = run(
        "param base = \"\"\nhttp(\"${base}/loop\", method: \"GET\")",
        &server.url,
    )
    .await;
    let message = message(&outcome);
    assert!(message.contains("redirect"), "{message}");
}

#[tokio::test]
async fn slow_services_time_out() {
    // `/slow` answers after 10 s: a call that waited for it would succeed.
    let server = servers::service().await;
    let outcome = run(
        "param base = \"\"\nhttp(\"${base}/slow\") timeout 300ms",
        &server.url,
    )
    .await;
    assert_eq!(outcome.tasks[0].status, TaskStatus::TimedOut);

    let mut call = Call::new("Api", "x");
    call.config = std::sync::Arc::new(
        json!({"url": format!("{}/slow", server.url)})
            .as_object()
            .unwrap()
            .clone(),
    );
    let options = HttpOptions {
        timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    };
    let error = http::request(&call, &options).await.unwrap_err();
    assert!(error.message.ends_with("timed out"), "{}", error.message);

    // The request timeout as config: the call fails (not times out) after it.
    let outcome = run(
        "param base = \"\"\nagent Api = http(\"${base}/slow\", timeout: 300ms)\nApi()",
        &server.url,
    )
    .await;
    assert_eq!(outcome.tasks[0].status, TaskStatus::Failed);
    assert!(
        outcome.tasks[0]
            .error
            .as_deref()
            .unwrap_or("")
            .ends_with("timed out"),
        "{:?}",
        outcome.tasks[0].error
    );
}

#[tokio::test]
async fn bad_config_is_a_diagnostic_not_a_panic() {
    for (config, expected) in [
        ("\"not a url\"", "`url` is not a URL"),
        ("\"ftp://example.com/\"", "must be http or https"),
        (
            "\"http://127.0.0.1:9/\", method: \"NOT A METHOD\"",
            "is not an HTTP method",
        ),
        // Computed values of the wrong type are refused when the task
        // starts (literals already when the script is checked).
        (
            "\"http://127.0.0.1:9/\", headers: json(\"[1]\")",
            "`http` takes an object for `headers`, but got a list",
        ),
        (
            "\"http://127.0.0.1:9/\", headers: {\"a b\": \"x\"}",
            "not a valid header name",
        ),
        (
            "\"http://127.0.0.1:9/\", headers: {X: null}",
            "must be a string",
        ),
        (
            "url: int(\"3\")",
            "`http` takes a string for `url`, but got a number",
        ),
    ] {
        let outcome = run(&format!("param base = \"\"\nhttp({config})"), "").await;
        let message = message(&outcome);
        assert!(message.contains(expected), "{config}: {message}");
    }
}

/// The process's one HTTP client serves runtimes that come and go (a pooled
/// connection is driven by a task of the runtime that opened it; the pool must
/// not hand out one whose runtime has ended).
#[test]
fn calls_work_from_runtimes_that_come_and_go() {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let server = servers::service().await;
            sender.send(server.url.clone()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let url = receiver.recv().unwrap();
    for round in 0..3 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(run(
            "param base = \"\"\nhttp(\"${base}/echo\", method: \"GET\").method",
            &url,
        ));
        assert_eq!(
            outcome.status,
            RunStatus::Succeeded,
            "round {round}: {:?}",
            outcome.errors
        );
        drop(runtime);
    }
}

/// TLS is rustls on ring: no OpenSSL, no aws-lc, no native-tls in the build.
#[test]
fn no_c_crypto_library_is_linked() {
    let lock = std::fs::read_to_string(crate::common::root().join("Cargo.lock")).unwrap();
    for name in [
        "openssl-sys",
        "openssl",
        "aws-lc-sys",
        "aws-lc-rs",
        "native-tls",
    ] {
        assert!(
            !lock.contains(&format!("name = \"{name}\"\n")),
            "{name} is in Cargo.lock"
        );
    }
    assert!(lock.contains("name = \"ring\"\n"));
}

#[tokio::test]
async fn a_redirect_that_leaves_the_origin_drops_the_agents_headers() {
    let server = servers::service().await;
    let other = servers::service().await;
    // Same host, another port; the same server under another host name.
    let port = server.url.rsplit(':').next().unwrap();
    let script = r#"
        param base = ""
        param other = ""
        param renamed = ""
        agent Api = http(url: "${base}/to", method: "GET",
                         headers: {"X-Api-Token": "tok-0123456789", Authorization: "Bearer abcdef123"})
        {
          same: Api(url: "/echo").headers,
          port: Api(url: "${other}/echo").headers,
          host: Api(url: "${renamed}/echo").headers,
        }
    "#;
    let engine = flow::Engine::new();
    let script = engine.compile("t.flow", script).unwrap();
    let options = flow::RunOptions::new()
        .param("base", server.url.as_str())
        .param("other", other.url.as_str())
        .param("renamed", format!("http://localhost:{port}"));
    let outcome = engine.run(&script, options).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    let result = outcome.result.unwrap();
    assert_eq!(result["same"]["x-api-token"], "tok-0123456789");
    assert_eq!(result["same"]["authorization"], "Bearer abcdef123");
    for away in ["port", "host"] {
        assert_eq!(result[away], json!({}), "{away}: {result}");
    }
    let received = other.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("x-api-token"), None);
}

#[tokio::test]
async fn link_local_addresses_are_refused_unless_allowed() {
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]:8080/x",
    ] {
        let script = format!("param base = \"\"\nhttp(\"{url}\", method: \"GET\")");
        let outcome = run(&script, "").await;
        let message = message(&outcome);
        assert!(message.contains("link-local"), "{message}");
        assert!(message.contains("allow_link_local: true"), "{message}");
    }
    // Allowed, the request is attempted: whatever answers (nothing, in a
    // test), it is not the refusal.
    let outcome = run(
        "param base = \"\"\nhttp(\"http://169.254.169.254/latest/meta-data\", method: \"GET\", allow_link_local: true, timeout: 1s)",
        "",
    )
    .await;
    if outcome.status == RunStatus::Failed {
        let message = message(&outcome);
        assert!(!message.contains("link-local"), "{message}");
    }
}

#[tokio::test]
async fn a_redirect_to_a_link_local_address_is_refused() {
    let server = servers::service().await;
    let outcome = run(
        "param base = \"\"\nagent Away = http(url: \"${base}/to\", method: \"GET\")\nAway(url: \"http://169.254.169.254/\")",
        &server.url,
    )
    .await;
    let message = message(&outcome);
    assert!(message.contains("allow_link_local"), "{message}");
}
