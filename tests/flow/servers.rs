//! Servers on loopback for the `llm` and `http` backend tests: a fake
//! OpenAI-compatible chat server whose behaviour is chosen by the request's
//! `model`, and a small HTTP service. Each test starts its own, on port 0.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs a script with `param base` set to a test server's root URL.
pub async fn run(script: &str, base: &str) -> flow::Outcome {
    let engine = flow::Engine::new();
    let script = engine
        .compile("test.flow", script)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    engine
        .run(&script, flow::RunOptions::new().param("base", base))
        .await
}

/// What a server received: one entry per request.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// When the server received it.
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct Log {
    requests: Mutex<Vec<Received>>,
    counter: AtomicU32,
}

/// A server running on 127.0.0.1 for as long as the test's runtime.
#[derive(Clone)]
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    log: Arc<Log>,
}

impl Server {
    /// Every request received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.log.requests.lock().unwrap().clone()
    }

    /// The OpenAI-style API root: `http://127.0.0.1:PORT/v1`.
    pub fn v1(&self) -> String {
        format!("{}/v1", self.url)
    }
}

async fn serve(router: Router<Arc<Log>>) -> Server {
    let log = Arc::new(Log::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router.with_state(log.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { url, log }
}

fn record(log: &Log, path: &str, headers: &HeaderMap, body: &[u8]) -> u32 {
    let received = Received {
        path: path.to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect(),
        body: serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into())),
        at: std::time::Instant::now(),
    };
    log.requests.lock().unwrap().push(received);
    log.counter.fetch_add(1, Ordering::SeqCst) + 1
}

// ---- the chat-completions server ---------------------------------------------

/// Starts the fake model server. The request's `model` picks the behaviour:
///
/// | model | reply |
/// |---|---|
/// | `echo` (or none) | `echo: <user message>`, usage 10 + 5 |
/// | `triage` | JSON `{"complexity": 9 or 2, "area": "crash"}` (9 when the message says "hard"; it follows `examples/triage.flow`'s schema) |
/// | `fenced` | JSON in a Markdown fence |
/// | `prose` | `this is not JSON` |
/// | `rate-limited` | 429 with `Retry-After: 1` once, then as `echo` |
/// | `flaky` | 500 once (no `Retry-After`), then as `echo` |
/// | `down` | always 503 with a JSON error and `Retry-After: 0` |
/// | `unknown` | 400 `{"error": {"message": "model `unknown` does not exist"}}` |
/// | `slow` | waits 10 s, then as `echo` |
/// | `malformed` | 200 with a body that is not JSON |
/// | `empty` | 200 with `{"choices": []}` |
/// | `tattle` | 401 whose message repeats the Authorization header |
/// | `huge` | 200 with a 17 MiB body |
/// | `repairable` | JSON `{"score": "high"}`; `{"score": 7}` when the last message names `/score` (a repair request) |
/// | `stubborn` | always JSON `{"score": "high"}` |
/// | `prose-then-json` | `this is not JSON`; `{"ok": true}` when the last message says the reply "is not JSON" |
/// | `turns` | `turn N`, N the number of user messages in the request; `done` from the third |
/// | `tools` | asks for every tool of the request at once (arguments: `a` 2, `b` 3, any other property "flow"); once the request holds tool answers, `final: <answers joined by ", ">` |
/// | `tool-loop` | always asks for the request's first tool |
/// | `metered` | `metered`; usage from the request (see [`metered_usage`]): prompt = the bytes of every message's text, completion = `max_tokens` (1000 without) |
/// | `metered:N` | as `metered`, completion = N, or `max_tokens` when smaller |
/// | `silent` | as `echo`, with no `usage` |
pub async fn chat() -> Server {
    serve(Router::new().route("/v1/chat/completions", post(chat_reply))).await
}

async fn chat_reply(State(log): State<Arc<Log>>, headers: HeaderMap, body: Bytes) -> Response {
    let n = record(&log, "/v1/chat/completions", &headers, &body);
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let model = request["model"].as_str().unwrap_or("echo").to_string();
    let user = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    let echo = || completion(&format!("echo: {user}"));
    match model.as_str() {
        "triage" => {
            let complexity = if user.contains("hard") { 9 } else { 2 };
            completion(&json!({ "complexity": complexity, "area": "crash" }).to_string())
        }
        "fenced" => completion("```json\n{\"ok\": true}\n```"),
        "prose" => completion("this is not JSON"),
        "rate-limited" if n == 1 => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "slow down");
            response
                .headers_mut()
                .insert("retry-after", "1".parse().unwrap());
            response
        }
        "flaky" if n == 1 => error(StatusCode::INTERNAL_SERVER_ERROR, "try again"),
        "down" => {
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, "the model is loading");
            response
                .headers_mut()
                .insert("retry-after", "0".parse().unwrap());
            response
        }
        "unknown" => error(StatusCode::BAD_REQUEST, "model `unknown` does not exist"),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            echo()
        }
        "malformed" => (StatusCode::OK, "{\"choices\": [").into_response(),
        "empty" => axum::Json(json!({"choices": []})).into_response(),
        "tattle" => {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            error(
                StatusCode::UNAUTHORIZED,
                &format!("Incorrect API key provided: {auth}"),
            )
        }
        "huge" => (StatusCode::OK, vec![b' '; 17 << 20]).into_response(),
        "repairable" if user.contains("/score") => completion(r#"{"score": 7}"#),
        "repairable" | "stubborn" => completion(r#"{"score": "high"}"#),
        "prose-then-json" if user.contains("is not JSON") => completion(r#"{"ok": true}"#),
        "prose-then-json" => completion("this is not JSON"),
        "tools" | "tool-loop" => {
            let messages = request["messages"].as_array().cloned().unwrap_or_default();
            let answers: Vec<String> = messages
                .iter()
                .filter(|m| m["role"] == "tool")
                .map(|m| m["content"].as_str().unwrap_or("").to_string())
                .collect();
            if model == "tools" && !answers.is_empty() {
                return completion(&format!("final: {}", answers.join(", ")));
            }
            let tools = request["tools"].as_array().cloned().unwrap_or_default();
            let take = if model == "tools" { tools.len() } else { 1 };
            let calls: Vec<Value> = tools
                .iter()
                .take(take)
                .enumerate()
                .map(|(i, tool)| {
                    let mut args = Map::new();
                    if let Some(props) = tool.pointer("/function/parameters/properties").and_then(Value::as_object) {
                        for name in props.keys() {
                            let value = match name.as_str() {
                                "a" => json!(2),
                                "b" => json!(3),
                                _ => json!("flow"),
                            };
                            args.insert(name.clone(), value);
                        }
                    }
                    json!({
                        "id": format!("call_{n}_{i}"),
                        "type": "function",
                        "function": {"name": tool["function"]["name"], "arguments": Value::Object(args).to_string()},
                    })
                })
                .collect();
            tool_calls(calls)
        }
        "turns" => {
            let users = request["messages"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["role"] == "user").count());
            if users >= 3 {
                completion("done")
            } else {
                completion(&format!("turn {users}"))
            }
        }
        "silent" => {
            let mut reply = completion_value(&format!("echo: {user}"));
            reply.as_object_mut().unwrap().remove("usage");
            axum::Json(reply).into_response()
        }
        metered if metered.starts_with("metered") => {
            let (prompt, completion) = metered_usage(&request);
            let mut reply = completion_value("metered");
            reply["usage"] = json!({
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            });
            axum::Json(reply).into_response()
        }
        _ => echo(),
    }
}

/// The usage the `metered` models report for a request: the prompt is one
/// token for each byte of the messages' text (what a tokenizer counts at
/// its worst), the completion is `max_tokens` (1000 without), or N for
/// `metered:N` when smaller. Tests count what reached the server with it.
pub fn metered_usage(request: &Value) -> (u64, u64) {
    let prompt = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["content"].as_str().unwrap_or("").len() as u64)
        .sum();
    let wanted = request["model"]
        .as_str()
        .and_then(|m| m.strip_prefix("metered:"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    let allowed = request["max_tokens"].as_u64().unwrap_or(1000);
    (prompt, wanted.min(allowed))
}

fn completion(content: &str) -> Response {
    axum::Json(completion_value(content)).into_response()
}

fn completion_value(content: &str) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })
}

/// A reply that asks for tools instead of answering.
fn tool_calls(calls: Vec<Value>) -> Response {
    axum::Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": null, "tool_calls": calls},
            "finish_reason": "tool_calls",
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }))
    .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": "test_error"}})),
    )
        .into_response()
}

// ---- the HTTP service ----------------------------------------------------------

/// Starts the fake service:
///
/// | path | reply |
/// |---|---|
/// | `/echo` (any method) | JSON `{method, query, body, headers}` of the request |
/// | `/text` | `hello` as text/plain |
/// | `/status/N` | status N with a long text body |
/// | `/big` | 200 with a 17 MiB body and its Content-Length |
/// | `/loop` | a redirect to itself, forever |
/// | `/hop/N` | redirects N times, then JSON `{"hops": "done"}` |
/// | `/to?url=URL` | a redirect to URL |
/// | `/slow` | waits 10 s |
pub async fn service() -> Server {
    let router = Router::new()
        .route("/echo", any(echo))
        .route("/text", get(|| async { "hello" }))
        .route("/status/{code}", any(status))
        .route("/big", get(|| async { vec![b'x'; 17 << 20] }))
        .route("/loop", any(|| async { redirect("/loop") }))
        .route("/hop/{n}", any(hop))
        .route(
            "/to",
            any(|Query(query): Query<Vec<(String, String)>>| async move {
                let to = query
                    .iter()
                    .find(|(k, _)| k == "url")
                    .map(|(_, v)| v.as_str());
                redirect(to.unwrap_or("/"))
            }),
        )
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        );
    serve(router).await
}

async fn echo(
    State(log): State<Arc<Log>>,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&log, "/echo", &headers, &body);
    let query: Map<String, Value> = query
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let seen: Map<String, Value> = headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-") || *n == "authorization")
        .map(|(n, v)| (n.to_string(), json!(v.to_str().unwrap_or(""))))
        .collect();
    axum::Json(json!({
        "method": method.as_str(),
        "query": query,
        "body": body,
        "headers": seen,
    }))
    .into_response()
}

async fn status(Path(code): Path<u16>, headers: HeaderMap) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = format!("no luck (you sent {auth}) {}", "blah ".repeat(2000));
    (status, body).into_response()
}

async fn hop(Path(n): Path<u32>) -> Response {
    if n == 0 {
        axum::Json(json!({"hops": "done"})).into_response()
    } else {
        redirect(&format!("/hop/{}", n - 1))
    }
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [("location", to.to_string())]).into_response()
}

/// A raw server that answers every connection with a chunked body that never
/// ends (1 MiB chunks, for as long as the client reads), for the body cap.
pub async fn endless() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'y'; 1 << 20];
                let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                frame.extend_from_slice(&chunk);
                frame.extend_from_slice(b"\r\n");
                // At most 1 GiB, so a broken client cannot keep it busy forever.
                for _ in 0..1024 {
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}
