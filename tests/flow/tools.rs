//! Tools: an agent's call uses other declared agents, each use a task of its
//! own. The runtime side is tested with a test-only agent that asks for tools
//! as a model would (the `llm` side is in tests/flow/llm.rs).

use std::time::Instant;

use flow::agent::{Agent, Call, ConfigType, Reply, ReplyFuture, Signature};
use flow::{Engine, RunOptions, RunStatus};
use serde_json::{json, Map, Value};

use crate::common::max_overlap;

/// `planner(plan: [[tool, args], …])`: uses the tools of each step of the
/// plan at once (the steps in order), and returns every answer.
struct Planner(Signature);

impl Planner {
    fn new() -> Planner {
        Planner(
            Signature::backend("planner", "uses tools as told")
                .required("plan", ConfigType::List, "steps: lists of [tool, args]")
                .optional("tools", ConfigType::Agents, "the agents it may use"),
        )
    }
}

impl Agent for Planner {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, call: Call) -> ReplyFuture {
        Box::pin(async move {
            let tools = call.tools.clone().ok_or("no tools were given")?;
            let mut answers = Vec::new();
            for step in call.config["plan"].as_array().cloned().unwrap_or_default() {
                let uses = step
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| {
                        let tools = tools.clone();
                        async move {
                            let name = u[0].as_str().unwrap_or_default().to_string();
                            let args: Map<String, Value> =
                                u[1].as_object().cloned().unwrap_or_default();
                            match tools.call(&name, args).await {
                                Ok(v) => v,
                                Err(e) => json!({ "error": e.message }),
                            }
                        }
                    });
                answers.push(Value::Array(futures_join(uses).await));
            }
            let described: Vec<Value> = tools
                .specs
                .iter()
                .map(|s| json!({ "name": s.name, "parameters": s.parameters }))
                .collect();
            Ok(Reply::value(
                json!({ "answers": answers, "tools": described }),
            ))
        })
    }
}

/// Runs futures at once and collects their outputs in order.
async fn futures_join<F: std::future::Future<Output = Value> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<Value> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut set = tokio::task::JoinSet::new();
    for (i, f) in handles.into_iter().enumerate() {
        // The futures borrow nothing: box them to spawn on the local set.
        set.spawn(async move { (i, f.await) });
    }
    out.resize(set.len(), Value::Null);
    while let Some(Ok((i, v))) = set.join_next().await {
        out[i] = v;
    }
    out
}

async fn run(text: &str) -> flow::Outcome {
    Engine::new()
        .register(Planner::new())
        .run_source("t.flow", text, RunOptions::new().jobs(8))
        .await
        .unwrap_or_else(|e| panic!("{}", e.render()))
}

#[tokio::test]
async fn each_use_of_a_tool_is_a_task_and_uses_asked_together_run_together() {
    let text = r#"
agent Add = sh("sleep 0.3; echo $(( $a + $b ))", output: "json")
agent Upper = sh("printf '%s' \"$text\" | tr a-z A-Z")
agent Boss = planner(tools: [Add, Upper], plan: [
  [["Add", {a: 1, b: 2}], ["Add", {a: 10, b: 20}], ["Upper", {text: "hi"}]],
  [["Upper", {text: "again"}]],
])
Boss()
"#;
    let clock = Instant::now();
    let outcome = run(text).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    let value = outcome.result.as_deref().unwrap();
    assert_eq!(value["answers"], json!([[3, 30, "HI"], ["AGAIN"]]));
    // Each use is a task, named by the call and the tool.
    let mut ids: Vec<String> = outcome
        .tasks
        .iter()
        .map(|t| flow::graph::task_id(&t.instance, &t.label))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "Boss",
            "Boss.Add[0]",
            "Boss.Add[1]",
            "Boss.Upper[0]",
            "Boss.Upper[1]"
        ]
    );
    // The two uses of Add asked together ran at once.
    let adds: Vec<&flow::TaskRecord> = outcome
        .tasks
        .iter()
        .filter(|t| t.instance.starts_with("Boss.Add"))
        .collect();
    assert_eq!(max_overlap(&adds), 2);
    assert!(clock.elapsed().as_secs_f64() < 5.0);
    // The tools' parameters come from the agents: an `sh` tool takes the
    // variables its command reads.
    let described = &value["tools"];
    assert_eq!(described[0]["name"], "Add");
    assert_eq!(
        described[0]["parameters"]["required"],
        json!(["a", "b"]),
        "{described}"
    );
}

#[tokio::test]
async fn a_failed_use_goes_back_to_the_caller_and_the_run_goes_on() {
    let text = r#"
agent Broken = sh("echo nope >&2; exit 3")
agent Boss = planner(tools: [Broken], plan: [[["Broken", {}]], [["Missing", {}]]])
Boss()
"#;
    let outcome = run(text).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    let answers = &outcome.result.as_deref().unwrap()["answers"];
    let first = answers[0][0]["error"].as_str().unwrap();
    assert!(
        first.contains("status 3") && first.contains("nope"),
        "{first}"
    );
    let second = answers[1][0]["error"].as_str().unwrap();
    assert!(second.contains("no tool `Missing`"), "{second}");
    let broken = outcome
        .tasks
        .iter()
        .find(|t| &*t.instance == "Boss.Broken[0]")
        .expect("the use is recorded");
    assert_eq!(broken.status, flow::TaskStatus::Failed);
}

#[test]
fn tools_must_be_declared_agents() {
    let engine = Engine::new().register(Planner::new());
    for (text, expected) in [
        (
            "agent B = planner(tools: [Nope], plan: [])\nB()",
            "`Nope` is not a declared agent",
        ),
        (
            "agent B = planner(tools: \"x\", plan: [])\nB()",
            "a list of agent names",
        ),
        (
            "let x = 1\nagent B = planner(tools: [x], plan: [])\nB()",
            "`x` is not a declared agent",
        ),
    ] {
        let error = engine.compile("t.flow", text).unwrap_err();
        assert!(
            error.render().contains(expected),
            "{text}: {}",
            error.render()
        );
    }
}

#[test]
fn the_graph_draws_each_tool_under_its_caller() {
    let engine = Engine::new().register(Planner::new());
    let script = engine
        .compile(
            "t.flow",
            "agent S = sh(\"echo\")\nagent B = planner(tools: [S], plan: [])\nB()",
        )
        .unwrap();
    let dot = flow::graph::to_dot(&script.graph);
    assert!(dot.contains("tool S of B"), "{dot}");
}
