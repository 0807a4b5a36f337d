//! A loopback OpenAI-compatible chat server for the LLM row: every
//! `POST /v1/chat/completions` whose body is JSON gets the same tiny reply,
//! with usage. `llm-server [PORT]` (default 0: any free port) prints its API
//! root, `http://127.0.0.1:PORT/v1`, on one line, and serves until its
//! standard input ends (so it stops with the script that started it).

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

async fn reply(body: Bytes) -> Response {
    // read as a real server would, and answer in its words
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not JSON").into_response();
    };
    Json(json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "hi"},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    }))
    .into_response()
}

fn main() {
    let port = match std::env::args().nth(1) {
        Some(port) => flow_reference::numbers("llm-server [PORT]", [port].into_iter(), 1)[0] as u16,
        None => 0,
    };
    flow_reference::runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("a loopback port");
        println!("http://{}/v1", listener.local_addr().expect("its address"));
        let app = Router::new().route("/v1/chat/completions", post(reply));
        let (mut stdin, mut rest) = (tokio::io::stdin(), Vec::new());
        tokio::select! {
            served = axum::serve(listener, app) => served.expect("serving"),
            _ = stdin.read_to_end(&mut rest) => {}
        }
    });
}
