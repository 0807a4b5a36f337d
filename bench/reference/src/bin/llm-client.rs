//! The limit for the LLM row: `llm-client URL N C` makes N chat-completion
//! calls to `URL/chat/completions` (URL as `llm-server` prints it), C in
//! flight, with one reqwest client (a pool of kept-alive connections), and
//! reads each reply's text and usage as JSON. Prints the calls that answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

const USAGE: &str = "llm-client URL N C";

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: {USAGE}");
        std::process::exit(2);
    };
    let [n, c] = flow_reference::numbers(USAGE, args, 2)[..] else {
        unreachable!("two numbers")
    };
    let url = format!("{url}/chat/completions");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let next = Arc::new(AtomicU64::new(0));
    let answered = flow_reference::runtime().block_on(async {
        let workers: Vec<_> = (0..c)
            .map(|_| {
                let (client, url, next) = (client.clone(), url.clone(), next.clone());
                tokio::spawn(async move {
                    let mut answered = 0u64;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return answered;
                        }
                        let body = json!({
                            "model": "bench",
                            "messages": [{"role": "user", "content": format!("Say hi {i}")}],
                        });
                        let reply: Value = client
                            .post(&url)
                            .json(&body)
                            .send()
                            .await
                            .and_then(|r| r.error_for_status())
                            .expect("the server answers")
                            .json()
                            .await
                            .expect("a JSON reply");
                        let text = reply["choices"][0]["message"]["content"].as_str();
                        if text.is_some() && reply["usage"]["total_tokens"].is_u64() {
                            answered += 1;
                        }
                    }
                })
            })
            .collect();
        let mut answered = 0;
        for worker in workers {
            answered += worker.await.expect("a worker");
        }
        answered
    });
    println!("{answered}");
    if answered != n {
        std::process::exit(1);
    }
}
