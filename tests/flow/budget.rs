//! Token and cost budgets (`--budget`, `budget tokens = N`) against the
//! scripted model server: the tokens that reach the server are counted there,
//! from the usage its `metered` models report for each request.

use flow::{Budget, Engine, Outcome, RunOptions, RunStatus, TaskStatus};
use serde_json::{json, Value};

use crate::common::{flow_command, scratch};
use crate::servers::{self, metered_usage, Server};

fn errors(outcome: &Outcome) -> String {
    outcome
        .errors
        .iter()
        .map(|d| {
            format!(
                "{} {} {:?} {:?}",
                d.code.as_str(),
                d.message,
                d.help,
                d.notes
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prompt and completion tokens the server reported, over every request it received.
fn counted_at(server: &Server) -> u64 {
    server
        .requests()
        .iter()
        .map(|r| {
            let (prompt, completion) = metered_usage(&r.body);
            prompt + completion
        })
        .sum()
}

async fn run_with(script: &str, base: &str, options: RunOptions) -> Outcome {
    let engine = Engine::new();
    let script = engine
        .compile("test.flow", script)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    engine.run(&script, options.param("base", base)).await
}

/// Runs `flow run ARGS script` with the server as the model's address.
async fn flow_run(server: &Server, script: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = scratch("budget");
    let path = dir.join("script.flow");
    std::fs::write(&path, script).unwrap();
    let mut command = tokio::process::Command::from(flow_command());
    command
        .arg("run")
        .args(args)
        .arg(&path)
        .arg("--no-store")
        .env("FLOW_LLM_BASE_URL", server.v1());
    let output = command.output().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const MAP_OF_TEN: &str = r#"
agent Writer = llm(model: "metered", max_tokens: 20, timeout: 30s)
let m = map i in range(10) { Writer("item ${i}") }
m
"#;

/// The ten calls all start at once unless the budget holds them back: each
/// reserves its worst case (a prompt of 6 bytes: up to 6 + 8 + 32 tokens,
/// and 20 of reply), uses 26, and the last ones are refused once what is
/// left cannot cover one more.
#[tokio::test]
async fn a_token_budget_stops_a_map_of_ten_calls() {
    let server = servers::chat().await;
    let (code, stdout, stderr) = flow_run(&server, MAP_OF_TEN, &["--budget", "tokens=200"]).await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let reached = server.requests().len();
    let counted = counted_at(&server);
    assert!(
        counted <= 200,
        "{counted} tokens reached the server:\n{stderr}"
    );
    assert!(reached >= 5, "only {reached} calls ran:\n{stderr}");
    assert!(reached < 10, "every call ran:\n{stderr}");
    // The run says why it stopped: the refused call, the budget, what was spent.
    assert!(stderr.contains("budget_exhausted"), "{stderr}");
    assert!(stderr.contains("was refused by the budget"), "{stderr}");
    assert!(stderr.contains("task `m["), "{stderr}");
    assert!(stderr.contains("200 tokens budgeted"), "{stderr}");
    assert!(stderr.contains(&format!("{counted} used")), "{stderr}");
    assert!(stderr.contains("--budget tokens=N"), "the help: {stderr}");
    assert!(
        stderr.contains(&format!(
            "budget: {counted} of 200 tokens used; 1 call refused"
        )),
        "the closing summary: {stderr}"
    );
}

#[tokio::test]
async fn with_keep_going_every_call_the_budget_cannot_cover_is_refused() {
    let server = servers::chat().await;
    let (code, stdout, stderr) = flow_run(
        &server,
        MAP_OF_TEN,
        &["--budget", "tokens=200", "--keep-going", "--json"],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let counted = counted_at(&server);
    assert!(counted <= 200);
    let reached = server.requests().len() as u64;
    let refused = doc["budget"]["refused"].as_u64().unwrap();
    assert_eq!(reached + refused, 10, "{doc:#}");
    assert_eq!(doc["budget"]["tokens"], 200);
    assert_eq!(doc["budget"]["spent_tokens"], counted);
    let writer = &doc["usage"]["agents"]["Writer"];
    assert_eq!(writer["calls"], reached);
    assert_eq!(writer["total_tokens"], counted);
    assert_eq!(doc["usage"]["total_tokens"], counted);
    let failed: Vec<&Value> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "failed")
        .collect();
    assert_eq!(failed.len() as u64, refused);
    assert!(failed.iter().all(|t| t["error"]
        .as_str()
        .unwrap()
        .starts_with("refused by the budget")));
    // Every refused place holds an error value; the others their reply.
    let result = doc["result"].as_array().unwrap();
    let replies = result.iter().filter(|v| *v == "metered").count() as u64;
    assert_eq!(replies, reached, "{doc:#}");
}

/// The last call that fits starts with a `max_tokens` lowered to what is left.
#[tokio::test]
async fn max_tokens_is_lowered_to_fit_what_is_left() {
    let server = servers::chat().await;
    let script = r#"
        param base = ""
        agent Writer = llm(model: "metered", base_url: base, max_tokens: 50)
        let a = Writer("a")
        let b = Writer("b") after a
        [a, b]
    "#;
    let outcome = run_with(
        script,
        &server.v1(),
        RunOptions::new().budget(Budget::tokens(120)),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body["max_tokens"], 50);
    // `a` used 1 + 50; 69 are left, and `b`'s prompt may take up to 1 + 8 + 32.
    assert_eq!(requests[1].body["max_tokens"], 28);
    assert_eq!(counted_at(&server), 80);
    let report = outcome.spending.budget.clone().unwrap();
    assert_eq!(report.spent_tokens, 80);
    assert_eq!(report.refused, 0);
}

/// Without `max_tokens`, a call may have whatever the budget has left; it
/// is asked for no more.
#[tokio::test]
async fn a_call_without_max_tokens_is_capped_by_the_budget() {
    let server = servers::chat().await;
    let script = r#"
        param base = ""
        agent Writer = llm(model: "metered:30", base_url: base)
        map i in range(3) { Writer("x") }
    "#;
    let outcome = run_with(
        script,
        &server.v1(),
        RunOptions::new().budget(Budget::tokens(150)),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    // One at a time: the first may have 150 - 41, the next what it left.
    let caps: Vec<u64> = requests
        .iter()
        .map(|r| r.body["max_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(caps, [109, 78, 47]);
    assert_eq!(counted_at(&server), 93);
}

/// A reply that reports no usage counts as its whole reservation.
#[tokio::test]
async fn a_reply_without_usage_counts_its_whole_reservation() {
    let server = servers::chat().await;
    let script = r#"
        param base = ""
        agent Writer = llm(model: "silent", base_url: base, max_tokens: 20)
        Writer("hello")
    "#;
    let outcome = run_with(
        script,
        &server.v1(),
        RunOptions::new().budget(Budget::tokens(1000)),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    // A prompt of 5 bytes: 5 + 8 + 32 tokens at most, and 20 of reply.
    assert_eq!(outcome.spending.budget.unwrap().spent_tokens, 65);
    assert_eq!(outcome.spending.agents[0].calls, 1);
    assert_eq!(outcome.spending.agents[0].total_tokens(), 0);
}

const PRICED: &str = r#"
agent Writer = llm(model: "metered", max_tokens: 20, timeout: 30s, price: {input: 1000, output: 2000})
let m = map i in range(5) { Writer("item ${i}") }
m
"#;

/// $1000 and $2000 a million tokens: a call of 6 + 20 tokens costs $0.046,
/// and reserves up to 46 × $0.001 + 20 × $0.002 = $0.086.
#[tokio::test]
async fn a_dollar_budget_counts_each_agents_price() {
    let server = servers::chat().await;
    let (code, stdout, stderr) = flow_run(
        &server,
        PRICED,
        &["--budget", "usd=0.2", "--json", "--keep-going"],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(server.requests().len(), 3, "{doc:#}");
    let cost = |v: &Value| v.as_f64().unwrap();
    assert!(
        (cost(&doc["budget"]["spent_usd"]) - 0.138).abs() < 1e-9,
        "{doc:#}"
    );
    assert_eq!(doc["budget"]["usd"], 0.2);
    assert_eq!(doc["budget"]["refused"], 2);
    let writer = &doc["usage"]["agents"]["Writer"];
    assert!((cost(&writer["cost_usd"]) - 0.138).abs() < 1e-9, "{doc:#}");
    assert!((cost(&doc["usage"]["cost_usd"]) - 0.138).abs() < 1e-9);
    // Each task's usage has its cost.
    let ran = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "succeeded")
        .unwrap();
    assert!(
        (cost(&ran["usage"]["cost_usd"]) - 0.046).abs() < 1e-9,
        "{ran:#}"
    );
    let refused = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "failed")
        .unwrap();
    assert_eq!(
        refused["error"],
        "refused by the budget: $0.20 budgeted, $0.138 used, $0.062 left; the call needs at \
         least $0.078 (a prompt of up to 46 tokens and 16 of reply)"
    );
    assert!(stderr.contains("budget_exhausted"), "{stderr}");
}

#[tokio::test]
async fn under_a_dollar_budget_an_agent_without_a_price_is_refused() {
    let server = servers::chat().await;
    let declared = r#"
agent Writer = llm(model: "metered", max_tokens: 20, timeout: 30s)
Writer("hello")
"#;
    let (code, _, stderr) = flow_run(&server, declared, &["--budget", "usd=1"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .contains("agent `Writer` has no `price`, so a budget of $1.00 cannot cost its calls"),
        "{stderr}"
    );
    assert!(stderr.contains("budget_exhausted"), "{stderr}");
    // A backend called directly is refused when its call would start.
    let direct = r#"
        param base = ""
        llm("hello", model: "metered", base_url: base, max_tokens: 20)
    "#;
    let outcome = run_with(
        direct,
        &server.v1(),
        RunOptions::new().budget(Budget::usd(1.0)),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        outcome.errors[0].code,
        flow::Code::BudgetExhausted,
        "{}",
        errors(&outcome)
    );
    assert!(
        outcome.errors[0].message.contains("has no `price`"),
        "{}",
        errors(&outcome)
    );
    assert!(server.requests().is_empty(), "nothing reached the server");
    // With a token budget, no price is needed.
    let outcome = run_with(
        direct,
        &server.v1(),
        RunOptions::new().budget(Budget::tokens(100)),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
}

#[tokio::test]
async fn a_bad_price_fails_the_call_before_it_is_sent() {
    let server = servers::chat().await;
    let script = r#"
        param base = ""
        agent Writer = llm(model: "metered", base_url: base, price: {input: "cheap", output: 1})
        Writer("hello")
    "#;
    let outcome = run_with(script, &server.v1(), RunOptions::new()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        errors(&outcome).contains("`price` must be `{input: N, output: N}`"),
        "{}",
        errors(&outcome)
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_scripts_budget_declaration_limits_its_run() {
    let server = servers::chat().await;
    let script = r#"
        budget tokens = 150
        param base = ""
        agent Writer = llm(model: "metered", base_url: base, max_tokens: 20)
        let budget = "a name still"
        map i in range(4) { Writer(budget) }
    "#;
    // The command line's looser budget does not loosen the script's.
    let options = RunOptions::new().budget(Budget::tokens(10_000));
    let outcome = run_with(script, &server.v1(), options).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        outcome.errors[0].code,
        flow::Code::BudgetExhausted,
        "{}",
        errors(&outcome)
    );
    assert!(
        outcome.errors[0]
            .message
            .contains("150 tokens budgeted, 96 used"),
        "{}",
        errors(&outcome)
    );
    assert_eq!(server.requests().len(), 3);
    assert_eq!(counted_at(&server), 96);
    assert_eq!(outcome.spending.budget.unwrap().budget, Budget::tokens(150));
    // A tighter command line wins over the script.
    let server = servers::chat().await;
    let options = RunOptions::new().budget(Budget::tokens(100));
    let outcome = run_with(script, &server.v1(), options).await;
    assert!(
        errors(&outcome).contains("100 tokens budgeted, 60 used"),
        "{}",
        errors(&outcome)
    );
    assert_eq!(counted_at(&server), 60);
}

#[test]
fn budget_declarations_are_checked() {
    let engine = Engine::new();
    let ok = engine.compile(
        "t.flow",
        "budget usd = 0.50\nbudget tokens = 20_000\nlet budget = 1\nbudget + 1",
    );
    let script = ok.unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(
        script.graph.budget,
        Budget {
            tokens: Some(20_000),
            usd: Some(0.5)
        }
    );
    for (text, code, message) in [
        (
            "budget tokens = 0",
            "bad_number",
            "a token budget is a whole number",
        ),
        (
            "budget tokens = 2.5",
            "bad_number",
            "a token budget is a whole number",
        ),
        (
            "budget usd = 5s",
            "bad_number",
            "a dollar budget is a number above 0",
        ),
        (
            "budget tokens = 10\nbudget tokens = 20",
            "duplicate_binding",
            "`budget tokens` is declared twice",
        ),
        (
            "flow f() {\n  budget tokens = 10\n  1\n}\nf()",
            "misplaced_declaration",
            "`budget` declarations",
        ),
        ("budget coins = 3", "unexpected_token", ""),
    ] {
        let error = engine
            .compile("t.flow", text)
            .err()
            .unwrap_or_else(|| panic!("{text} compiled"));
        let rendered = error.render();
        assert!(rendered.contains(code), "{text}: {rendered}");
        assert!(rendered.contains(message), "{text}: {rendered}");
    }
}

#[tokio::test]
async fn try_catches_a_budget_failure() {
    let server = servers::chat().await;
    let script = r#"
        param base = ""
        agent Writer = llm(model: "metered", base_url: base, max_tokens: 500)
        try { Writer("hello") } else { error.message }
    "#;
    // A prompt of up to 45 tokens and at least 16 of reply do not fit in 50.
    let outcome = run_with(
        script,
        &server.v1(),
        RunOptions::new().budget(Budget::tokens(50)),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let message = outcome.result.unwrap();
    let message = message.as_str().unwrap();
    assert!(message.starts_with("refused by the budget: 50 tokens budgeted, 0 used, 50 left; the call needs at least 61"), "{message}");
    assert!(server.requests().is_empty());
    let task = &outcome.tasks[0];
    assert_eq!(task.status, TaskStatus::Failed);
}

/// The closing summary and `--json` give tokens and cost per agent.
#[tokio::test]
async fn usage_and_cost_are_reported_per_agent() {
    let server = servers::chat().await;
    let script = r#"
agent Writer = llm(model: "metered:5", max_tokens: 20, timeout: 30s, price: {input: 0.15, output: 0.60})
agent Critic = llm(model: "metered:3", timeout: 30s)
let draft = Writer("draft")
let notes = Critic("judge", draft: draft)
[draft, notes]
"#;
    let (code, stdout, stderr) = flow_run(&server, script, &["--json"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert!(doc.get("budget").is_none(), "no budget, none reported");
    let usage = &doc["usage"];
    assert_eq!(usage["agents"]["Writer"]["calls"], 1);
    assert_eq!(usage["agents"]["Writer"]["prompt_tokens"], 5);
    assert_eq!(usage["agents"]["Writer"]["completion_tokens"], 5);
    let cost = usage["agents"]["Writer"]["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - (5.0 * 0.15 + 5.0 * 0.60) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    assert_eq!(usage["agents"]["Critic"]["completion_tokens"], 3);
    assert_eq!(usage["agents"]["Critic"]["cost_usd"], json!(null));
    assert_eq!(usage["completion_tokens"], 8);

    let (code, _, stderr) = flow_run(&server, script, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("  Writer: 1 call, 5 prompt + 5 completion = 10 tokens, $0.00000375"),
        "{stderr}"
    );
    assert!(stderr.contains("  Critic: 1 call,"), "{stderr}");
    assert!(stderr.contains("(no price)"), "{stderr}");
}

#[tokio::test]
async fn bad_budget_flags_are_usage_errors() {
    let server = servers::chat().await;
    for flag in ["tokens=lots", "coins=3", "usd=0"] {
        let (code, _, stderr) = flow_run(&server, "1", &["--budget", flag]).await;
        assert_eq!(code, Some(2), "{flag}: {stderr}");
        assert!(stderr.contains("--budget"), "{flag}: {stderr}");
    }
}

/// Against a real model (SmolLM2 served by llama.cpp, see `llm::real_model`):
/// the bound on each prompt holds for its tokenizer and chat template, and
/// what the server reports never exceeds the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_against_a_real_model() {
    let Some(model) = crate::llm::real_model() else {
        return;
    };
    let topics = [
        "the sea", "the wind", "a river", "the moon", "a forest", "the rain",
    ];
    let script = r#"
        param base = ""
        param topics = []
        agent Writer = llm(base_url: base, temperature: 0, max_tokens: 8, system: "Answer in one word.")
        map topic in topics {
          try { Writer("Name one colour of ${topic}.") } else { null }
        }
    "#;
    let options = RunOptions::new()
        .budget(Budget::tokens(200))
        .param("topics", json!(topics));
    let outcome = run_with(script, &model.url, options).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let mut reported = 0;
    let mut ran = 0;
    for (i, topic) in topics.iter().enumerate() {
        let task = outcome.task(&format!("map[{i}]")).unwrap();
        let Some(usage) = task.usage.as_ref() else {
            continue;
        };
        ran += 1;
        let config = json!({"max_tokens": 8, "system": "Answer in one word."});
        let instructions = format!("Name one colour of {topic}.");
        let bound = flow::agents::llm::estimate(&flow::agent::Inline {
            instructions: Some(&instructions),
            context: &serde_json::Map::new(),
            config: config.as_object().unwrap(),
        })
        .unwrap();
        let prompt = usage["prompt_tokens"].as_u64().unwrap();
        assert!(
            prompt <= bound.prompt_tokens,
            "{topic}: the server counted {prompt} prompt tokens, the bound is {}",
            bound.prompt_tokens
        );
        assert!(usage["completion_tokens"].as_u64().unwrap() <= 8);
        reported += usage["total_tokens"].as_u64().unwrap();
    }
    let report = outcome.spending.budget.clone().unwrap();
    assert!(reported <= 200, "{reported} tokens reported");
    assert_eq!(report.spent_tokens, reported);
    assert!(ran >= 1, "no call ran: {:?}", outcome.tasks);
    assert!(report.refused >= 1, "every call ran: {report:?}");
    assert_eq!(ran + report.refused, topics.len() as u64);
}
