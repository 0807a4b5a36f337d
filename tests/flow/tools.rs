//! Tools: an agent's call uses other declared agents, each use a task of its
//! own. The runtime side is tested with a test-only agent that asks for tools
//! as a model would (the `llm` side is in tests/flow/llm.rs).

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

// ---- a model using tools, against the scripted server ---------------------------

const TWO_TOOLS: &str = r#"
param base = ""
agent Add = sh("sleep 0.3; echo $(( $a + $b ))", output: "json")
agent Upper = sh("printf '%s' \"$text\" | tr a-z A-Z")
agent Assistant = llm(model: "tools", base_url: base, tools: [Add, Upper])
let answer = Assistant("Add 2 and 3, and shout flow")
answer
"#;

#[tokio::test]
async fn a_model_calls_two_tools_and_gives_the_final_answer() {
    let server = crate::servers::chat().await;
    let outcome = crate::servers::run(TWO_TOOLS, &server.v1()).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(outcome.result.as_deref(), Some(&json!("final: 5, FLOW")));
    // Two requests: the question, then the question with the tools' answers.
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let tools = requests[0].body["tools"].as_array().unwrap();
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Add", "Upper"]);
    assert_eq!(
        tools[0]["function"]["parameters"]["required"],
        json!(["a", "b"])
    );
    let second = requests[1].body["messages"].as_array().unwrap();
    let roles: Vec<&str> = second.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool"]);
    assert_eq!(second[2]["content"], "5");
    assert_eq!(second[2]["tool_call_id"], second[1]["tool_calls"][0]["id"]);
    // Each tool call was a task of its own; both ran at once.
    let uses: Vec<&flow::TaskRecord> = outcome
        .tasks
        .iter()
        .filter(|t| t.instance.starts_with("answer."))
        .collect();
    let mut ids: Vec<&str> = uses.iter().map(|t| &*t.instance).collect();
    ids.sort();
    assert_eq!(ids, ["answer.Add[0]", "answer.Upper[0]"]);
    assert_eq!(max_overlap(&uses), 2);
}

#[tokio::test]
async fn a_model_that_never_stops_asking_for_tools_is_stopped_at_max_tool_rounds() {
    let server = crate::servers::chat().await;
    let text = r#"
param base = ""
agent Upper = sh("printf '%s' \"$text\" | tr a-z A-Z")
agent Looper = llm(model: "tool-loop", base_url: base, tools: [Upper], max_tool_rounds: 3)
Looper("go")
"#;
    let outcome = crate::servers::run(text, &server.v1()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let message = &outcome.errors[0].message;
    assert!(
        message.contains("after 3 rounds of tool calls"),
        "{message}"
    );
    assert_eq!(
        server.requests().len(),
        4,
        "1 request, then 3 answered rounds"
    );
}

// The `flow` process talks to the server while this test waits for it: the
// server needs a thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_store_logs_each_tool_use_and_the_graph_shows_them() {
    let server = crate::servers::chat().await;
    let dir = crate::common::scratch("tools-cli");
    std::fs::write(dir.join("main.flow"), TWO_TOOLS).unwrap();
    let out = crate::common::flow_command()
        .current_dir(&dir)
        .env_remove("FLOW_STORE")
        .args(["run", "-q", "main.flow", "--param"])
        .arg(format!("base={}", server.v1()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = crate::common::flow_command()
        .current_dir(&dir)
        .env_remove("FLOW_STORE")
        .args(["log", "1", "answer.Upper[0]"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("answer.Upper[0]") && log.contains("FLOW"),
        "{log}"
    );
    let graph = crate::common::flow_command()
        .current_dir(&dir)
        .args(["graph", "main.flow"])
        .output()
        .unwrap();
    let dot = String::from_utf8_lossy(&graph.stdout);
    assert!(
        dot.contains("tool Add of answer") && dot.contains("tool Upper of answer"),
        "{dot}"
    );
}
