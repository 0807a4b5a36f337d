//! Flow embedded in a Rust program: a host agent (a type with state), an
//! agent with a signature that the script configures, a sandbox (no `sh`,
//! `http`, `llm` or `env()`), one script compiled once and run with a param,
//! its task events printed as they happen, then its result and task records.
//!
//! ```text
//! cargo run --example embed
//! cargo run --example embed -- "great product" "awful support" "it works"
//! ```

use std::collections::HashSet;

use flow::agent::{Agent, ConfigType, Reply, ReplyFuture, Signature};
use flow::{
    AgentError, AgentFuture, Call, Capabilities, Engine, HostAgent, RunEvent, RunOptions, RunStatus,
};
use serde_json::{json, Value};

/// The script: classify every review in parallel, then summarise the labels.
const SCRIPT: &str = r#"
param reviews = ["I love it", "terrible, it broke", "does the job"]

let labels = map (i, review) in reviews limit 2 {
  Sentiment("Label the review", text: review, index: i)
}
agent Summarize = tally(field: "label")
let summary = Summarize(labels: labels)
summary
"#;

/// `tally(field: …)`: counts the labels of a list of records. Scripts
/// configure it; its signature is checked before anything runs.
struct Tally(Signature);

impl Tally {
    fn new() -> Tally {
        Tally(
            Signature::backend(
                "tally",
                "counts each value of one field of a list of records",
            )
            .required("field", ConfigType::Text, "the field to count"),
        )
    }
}

impl Agent for Tally {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, call: Call) -> ReplyFuture {
        Box::pin(async move {
            let field = call.config["field"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let labels = call.get("labels")?.as_array().cloned().unwrap_or_default();
            let count = |label: &str| labels.iter().filter(|l| l[&field] == label).count();
            Ok(Reply::value(json!({
                "reviews": labels.len(),
                "positive": count("positive"),
                "negative": count("negative"),
                "neutral": count("neutral"),
            })))
        })
    }
}

/// A host agent with state: the words it counts as positive and negative.
struct Sentiment {
    positive: HashSet<&'static str>,
    negative: HashSet<&'static str>,
}

impl HostAgent for Sentiment {
    fn call(&self, call: Call) -> AgentFuture {
        let text = match call.get("text").map(Value::as_str) {
            Ok(Some(text)) => text.to_lowercase(),
            Ok(None) => return Box::pin(async { Err(AgentError::new("`text` must be a string")) }),
            Err(error) => return Box::pin(async { Err(error) }),
        };
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let score = words.iter().filter(|w| self.positive.contains(*w)).count() as i64
            - words.iter().filter(|w| self.negative.contains(*w)).count() as i64;
        let label = match score {
            s if s > 0 => "positive",
            s if s < 0 => "negative",
            _ => "neutral",
        };
        Box::pin(async move {
            // A real agent would call a model or a service here.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(json!({ "label": label, "score": score }))
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let sentiment = Sentiment {
        positive: ["love", "great", "good", "works", "job"].into(),
        negative: ["terrible", "broke", "awful", "bad"].into(),
    };
    let engine = Engine::new()
        .agent("Sentiment", sentiment)
        .register(Tally::new())
        // A sandbox: scripts may use no capability (no `sh`, `http`, `llm`, `env()`).
        .capabilities(Capabilities::only(Vec::<String>::new()));

    let script = match engine.compile("reviews.flow", SCRIPT) {
        Ok(script) => script,
        Err(error) => {
            eprintln!("{}", error.render());
            return std::process::ExitCode::from(3);
        }
    };

    // Reviews from the command line replace the param's default.
    let reviews: Vec<String> = std::env::args().skip(1).collect();
    let mut options = RunOptions::new();
    if !reviews.is_empty() {
        options = options.param("reviews", json!(reviews));
    }

    let mut run = engine.start(&script, options);
    while let Some(event) = run.next_event().await {
        match event {
            RunEvent::Started { id, agent, .. } => println!("started  {id} ({agent})"),
            RunEvent::Finished(record) => println!(
                "finished {} ({}): {}",
                record.id(),
                record.agent,
                record.status.as_str()
            ),
            RunEvent::Retrying(retry) => {
                println!("retrying {} (attempt {} failed)", retry.id, retry.attempt)
            }
            _ => {}
        }
    }
    let outcome = run.outcome().await;

    match outcome.status {
        RunStatus::Succeeded => {
            let result = outcome.result.as_deref().cloned().unwrap_or(Value::Null);
            println!("result: {result}");
            let label = |id: &str| {
                outcome
                    .task(id)
                    .and_then(|t| t.output.as_deref())
                    .map_or(Value::Null, |o| o["label"].clone())
            };
            println!("first review: {}", label("labels[0]"));
            std::process::ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{}", script.render(&outcome.errors));
            std::process::ExitCode::FAILURE
        }
    }
}
