//! `flow run --dry-run` (`RunOptions::dry_run`): every agent call answered
//! by its agent's stub, nothing spawned, no request sent, nothing for
//! `--resume` to re-use.

use std::sync::{Arc, Mutex};

use flow::{Engine, Journal, Reused, RunOptions, RunStatus, TaskKey, TaskRecord};
use serde_json::{json, Value};

use crate::common::{flow_command, run_or_hang, scratch};
use crate::servers;

/// Every kind of agent call: `sh` in each output form (one that would
/// create a file), `llm` with and without a schema, with `json` and with
/// `history`, `http`, `sleep`, and the pure `echo`.
const SCRIPT: &str = r#"
param base = ""
param service = ""
param marker = ""
agent Writer = llm(model: "echo", base_url: base)
agent Critic = llm(model: "triage", base_url: base, schema: {
  type: "object",
  properties: {
    score: {type: "number", minimum: 1},
    level: {enum: ["low", "high"]},
    tags: {type: "array", items: {type: "string"}, minItems: 1},
    note: {type: "string"},
  },
  required: ["score", "level", "tags"],
})
agent Loose = llm(model: "triage", base_url: base, json: true)
agent Chat = llm(model: "echo", base_url: base, history: true)
agent Geo = http(url: "${service}/echo", method: "POST")
let touched = sh("touch ${marker} && echo made")
let listed = sh("ls /", output: "lines")
let parsed = sh("echo '{\"a\": 1}'", output: "json")
let full = sh("exit 3", output: "result")
let draft = Writer("Write about tides", facts: listed)
let review = Critic("Score it", text: draft)
let loose = Loose("Rate it")
let chat = Chat("Hi", messages: [{role: "system", content: "be brief"}])
let place = Geo(city: "Brest")
let waited = sleep(24h)
let echoed = echo(n: len(listed))
{touched: touched, listed: listed, parsed: parsed, full: full, draft: draft, review: review,
 loose: loose, chat: chat, place: place, waited: waited, echoed: echoed,
 level: if review.score > 0 { review.level } else { "none" }}
"#;

fn expected() -> Value {
    json!({
        "touched": "<dry run: sh>",
        "listed": [],
        "parsed": null,
        "full": {"stdout": "", "stderr": "", "code": 0},
        "draft": "<dry run: Writer>",
        "review": {"score": 1, "level": "low", "tags": ["…"]},
        "loose": {},
        "chat": {
            "reply": "<dry run: Chat>",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "<dry run: Chat>"},
            ],
        },
        "place": null,
        "waited": null,
        "echoed": {"n": 0},
        "level": "low",
    })
}

#[test]
fn flow_run_dry_run_spawns_nothing_and_sends_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (chat, service) =
        runtime.block_on(async { (servers::chat().await, servers::service().await) });
    let dir = scratch("dry-run");
    let script = dir.join("wf.flow");
    std::fs::write(&script, SCRIPT).unwrap();
    let marker = dir.join("made-by-sh");
    // `sleep(24h)` does not wait: a run that did would trip the hang guard.
    let output = run_or_hang(
        flow_command()
            .current_dir(&dir)
            .env("FLOW_STORE", dir.join("store"))
            .args(["run", "--dry-run", "wf.flow"])
            .args(["-p", &format!("base={}", chat.v1())])
            .args(["-p", &format!("service={}", service.url)])
            .args(["-p", &format!("marker={}", marker.display())]),
        "a dry run",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result, expected());
    assert!(!marker.exists(), "the `sh` command ran");
    assert!(
        chat.requests().is_empty(),
        "a request reached the model server"
    );
    assert!(
        service.requests().is_empty(),
        "a request reached the service"
    );
    assert!(
        stderr.contains("dry run: every agent call was answered by a stub"),
        "{stderr}"
    );
    assert!(!dir.join("store").exists(), "a dry run is not recorded");

    // `--quiet` and `--json` still say so; the records note the stubs.
    let output = flow_command()
        .current_dir(&dir)
        .args(["run", "--dry-run", "-q", "--json", "--no-store", "wf.flow"])
        .args(["-p", &format!("marker={}", marker.display())])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("dry run:"));
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    let stubbed = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["notes"][0]
                .as_str()
                .is_some_and(|n| n.starts_with("dry run:"))
        })
        .count();
    assert_eq!(stubbed, 10, "every task but the inline `echo`: {doc:#}");
    assert!(!marker.exists());
}

#[test]
fn dry_run_does_not_mix_with_the_store_flags() {
    for flag in ["--resume", "--record", "--replay", "--explain"] {
        let output = flow_command()
            .args(["run", "--dry-run", flag, "examples/etl.flow"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot be used with"), "{flag}: {stderr}");
    }
}

/// A journal that offers a result for every key and remembers what it was told.
#[derive(Default)]
struct Offering {
    asked: Mutex<Vec<String>>,
    keys: Mutex<Vec<Option<String>>>,
}

impl Journal for Offering {
    fn reuse(&self, key: &str) -> Option<Reused> {
        self.asked.lock().unwrap().push(key.to_string());
        Some(Reused {
            value: Arc::new(json!("from an earlier run")),
            run: 1,
        })
    }

    fn record(&self, record: &TaskRecord, key: Option<&TaskKey>) {
        let _ = record;
        self.keys
            .lock()
            .unwrap()
            .push(key.map(|k| k.key.to_string()));
    }
}

#[tokio::test]
async fn a_dry_run_neither_reuses_nor_leaves_results_to_reuse() {
    let engine = Engine::new();
    let script = engine
        .compile(
            "d.flow",
            "let a = sh(\"echo hi\")\nlet b = sh(\"wc -c\", output: \"json\", text: a)\n[a, b]",
        )
        .unwrap();
    let journal = Arc::new(Offering::default());
    let outcome = engine
        .run(
            &script,
            RunOptions::new().dry_run(true).journal(journal.clone()),
        )
        .await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(*outcome.result.unwrap(), json!(["<dry run: sh>", null]));
    assert!(
        journal.asked.lock().unwrap().is_empty(),
        "no result was asked for"
    );
    assert_eq!(
        *journal.keys.lock().unwrap(),
        [None, None],
        "no key was recorded"
    );
    assert!(outcome.tasks.iter().all(|t| t.key.is_none()));

    // The same run for real asks the journal, and takes what it offers.
    let outcome = engine
        .run(&script, RunOptions::new().journal(journal.clone()))
        .await;
    assert_eq!(journal.asked.lock().unwrap().len(), 2);
    assert_eq!(
        *outcome.result.unwrap(),
        json!(["from an earlier run", "from an earlier run"])
    );
}

#[tokio::test]
async fn a_stub_refuses_what_the_call_would() {
    let engine = Engine::new();
    for (script, expected) in [
        (
            "agent A = llm(model: \"m\", schema: {type: \"nubmer\"})\nA(\"x\")",
            "`schema` is not a valid JSON Schema",
        ),
        (
            "agent A = llm(model: \"m\")\nA(\"x\", messages: [{role: \"bot\", content: \"hi\"}])",
            "`messages[0]` has the role \"bot\"",
        ),
        ("fail(\"stop here\")", "stop here"),
    ] {
        let compiled = engine.compile("s.flow", script).unwrap();
        let outcome = engine.run(&compiled, RunOptions::new().dry_run(true)).await;
        assert_eq!(outcome.status, RunStatus::Failed, "{script}");
        let message = &outcome.errors[0].message;
        assert!(message.contains(expected), "{script}: {message}");
    }
}

/// A host agent gets the default placeholder.
#[tokio::test]
async fn host_agents_get_the_placeholder() {
    let engine = Engine::new().agent("Classifier", |_call: flow::Call| async move {
        Err::<Value, _>(flow::AgentError::new("a dry run called the host agent"))
    });
    let outcome = engine
        .run_source(
            "h.flow",
            "Classifier(\"Label\", text: \"hi\")",
            RunOptions::new().dry_run(true),
        )
        .await
        .unwrap();
    assert_eq!(*outcome.result.unwrap(), json!("<dry run: Classifier>"));
}
