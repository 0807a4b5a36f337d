//! Check-time contracts: an agent's declared output schema and input schemas,
//! read through its signature, checked by `flow check` with no model and no
//! network; and what is left alone (unknown shapes, literals alone).

use flow::agent::{Agent, Call, ConfigType, Reply, ReplyFuture, Signature};
use flow::check::{check, Env};
use flow::diag::Diagnostic;
use flow::source::SourceFile;
use flow::{Engine, RunStatus};
use serde_json::json;

use crate::common;
use crate::servers;

const CRITIC: &str = r#"agent Critic = llm(model: "m", schema: {
  type: "object",
  properties: {score: {type: "number"}, notes: {type: "string"}, tags: {type: "array", items: {type: "string"}}},
  required: ["score", "notes"],
})
"#;

fn check_text(text: &str) -> Vec<Diagnostic> {
    let src = SourceFile::new("t.flow", text);
    let program = flow::syntax::parse(&src).unwrap_or_else(|e| panic!("{e:?}"));
    check(&program, &Env::default())
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.name()).collect()
}

/// `flow check` and `flow run` refuse a misspelt field of a schema'd
/// result before anything runs (no model, no network), with a suggestion.
#[test]
fn flow_check_refuses_a_misspelt_field_of_a_schemad_result() {
    let dir = common::scratch("contracts");
    let bad = dir.join("bad.flow");
    let good = dir.join("good.flow");
    let body = |field: &str| {
        format!(
            "{CRITIC}let review = Critic(\"Review\", draft: \"d\")\nlet s = review.{field}\ns\n"
        )
    };
    std::fs::write(&bad, body("socre")).unwrap();
    std::fs::write(&good, body("score")).unwrap();
    for command in ["check", "run"] {
        let output = common::flow_command()
            .arg(command)
            .arg(&bad)
            // Were it to run, it would find no server here.
            .env("FLOW_LLM_BASE_URL", "http://127.0.0.1:9/v1")
            .output()
            .expect("flow runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "flow {command}: {stderr}");
        assert!(
            stderr.contains("flow::check::unknown_field"),
            "flow {command}: {stderr}"
        );
        assert!(
            stderr.contains("`Critic`'s schema has no field `socre`"),
            "{stderr}"
        );
        assert!(stderr.contains("did you mean `score`?"), "{stderr}");
    }
    let output = common::flow_command()
        .arg("check")
        .arg(&good)
        .output()
        .expect("flow runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("flow::check"), "{stderr}");
}

#[test]
fn operators_fields_and_arguments_against_the_schema() {
    let diags = check_text(&format!(
        "{CRITIC}let review = Critic(\"Review\")\nlet t = review.score + \"x\"\nlet u = review.tags[0].len\n"
    ));
    assert_eq!(codes(&diags), ["type_mismatch", "type_mismatch"]);
    assert_eq!(diags[0].message, "cannot add a string to a number");
    assert_eq!(
        diags[1].message,
        "a string has no fields: `.len` always fails"
    );

    let diags = check_text(&format!(
        "{CRITIC}agent Editor = llm(model: \"m\", inputs: {{notes: {{type: \"string\"}}, review: {{type: \"object\", properties: {{verdict: {{type: \"string\"}}}}, required: [\"verdict\"]}}}})\n\
         let review = Critic(\"Review\")\nlet e = Editor(\"Edit\", notes: review.score, review: review)\n\
         let f = Editor(\"Edit\", notes: review.notes, review: {{verdict: \"ok\"}})\n"
    ));
    assert_eq!(codes(&diags), ["type_mismatch", "type_mismatch"]);
    assert!(
        diags[0]
            .message
            .contains("a number where a string is expected"),
        "{}",
        diags[0]
    );
    assert!(
        diags[1]
            .message
            .contains("no field `verdict`, which is required"),
        "{}",
        diags[1]
    );
}

/// Contracts hold inside flow bodies, for agents declared after their use,
/// through `map` items, and for a direct call's own schema.
#[test]
fn contracts_follow_values_through_flows_maps_and_direct_calls() {
    let diags = check_text(&format!(
        "flow judge(d) {{\n  let r = Critic(\"Judge\", draft: d)\n  r.notez\n}}\n{CRITIC}\
         let all = map r in [Critic(\"a\"), Critic(\"b\")] {{ r.score - \"1\" }}\n\
         let k = llm(\"x\", model: \"m\", schema: {{type: \"object\", properties: {{k: {{type: \"string\"}}}}}}).kk\n\
         let j = judge(d: \"x\")\n"
    ));
    assert_eq!(
        codes(&diags),
        ["unknown_field", "type_mismatch", "unknown_field"]
    );
    assert_eq!(
        diags[0]
            .help
            .as_deref()
            .map(|h| h.starts_with("did you mean `notes`?")),
        Some(true)
    );
    assert_eq!(
        diags[2].message,
        "this `llm` call's schema has no field `kk`"
    );
}

/// No error where the shape is not certain, and none on literals alone:
/// those stay runtime errors.
#[test]
fn uncertain_shapes_and_literals_alone_are_left_to_the_run() {
    for text in [
        // additionalProperties: true; no properties listed; a computed schema.
        "agent A = llm(model: \"m\", schema: {type: \"object\", properties: {a: {type: \"string\"}}, additionalProperties: true})\nlet x = A(\"x\").b\n",
        "agent A = llm(model: \"m\", schema: {type: \"object\"})\nlet x = A(\"x\").b + 1\n",
        "param s = {type: \"string\"}\nagent A = llm(model: \"m\", schema: s)\nlet x = A(\"x\").b\n",
        // An optional field; one of several shapes.
        &format!("{CRITIC}let x = Critic(\"x\").tags[0] + \"!\"\n"),
        "agent A = llm(model: \"m\", schema: {anyOf: [{type: \"string\"}, {type: \"number\"}]})\nlet x = A(\"x\") + 1\n",
        // Literals alone.
        "let x = 1 + \"a\"\nlet y = {a: 1}.b\n",
    ] {
        let diags = check_text(text);
        assert!(diags.is_empty(), "{text}\n{diags:?}");
    }
    let outcome = common::run("let x = 1\nx + \"a\"");
    assert_eq!(outcome.errors[0].code, flow::Code::TypeError);
}

/// `extract(text, shape: …)`: a registered backend whose `shape` key is its
/// output schema and whose `expects` key declares its inputs, through its
/// signature alone.
struct Extract(Signature);

impl Extract {
    fn new() -> Extract {
        Extract(
            Signature::backend("extract", "fields from a text")
                .optional("shape", ConfigType::Object, "the result's JSON Schema")
                .output_schema()
                .optional("expects", ConfigType::Object, "the arguments' JSON Schemas")
                .input_schemas(),
        )
    }
}

impl Agent for Extract {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, _call: Call) -> ReplyFuture {
        Box::pin(async { Ok(Reply::value(json!({"name": "Ada", "age": 36}))) })
    }
}

#[tokio::test]
async fn a_registered_agent_declares_its_contracts_through_its_signature() {
    let engine = Engine::new().register(Extract::new());
    let head = "agent People = extract(shape: {type: \"object\", properties: {name: {type: \"string\"}, age: {type: \"integer\"}}, required: [\"name\", \"age\"]}, expects: {text: {type: \"string\"}})\n";
    let error = engine
        .compile(
            "t.flow",
            &format!("{head}let p = People(text: \"…\")\np.nmae\n"),
        )
        .unwrap_err();
    let rendered = error.render();
    assert!(
        rendered.contains("flow::check::unknown_field"),
        "{rendered}"
    );
    assert!(rendered.contains("did you mean `name`?"), "{rendered}");
    let error = engine
        .compile("t.flow", &format!("{head}People(text: 42)\n"))
        .unwrap_err();
    assert!(
        error.render().contains("flow::check::type_mismatch"),
        "{}",
        error.render()
    );
    let script = engine
        .compile(
            "t.flow",
            &format!("{head}let p = People(text: \"…\")\np.age + 1\n"),
        )
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let outcome = engine.run(&script, flow::RunOptions::new()).await;
    assert_eq!(*outcome.result.unwrap(), json!(37));
}

/// `inputs` is checked before running and never sent to the model.
#[tokio::test]
async fn llm_inputs_are_not_sent() {
    let server = servers::chat().await;
    let outcome = servers::run(
        r#"
        param base = ""
        agent Analyzer = llm(model: "triage", base_url: base,
          schema: {type: "object", properties: {complexity: {type: "integer"}, area: {type: "string"}}, required: ["complexity"]},
          inputs: {ticket: {type: "string"}})
        let a = Analyzer("Assess", ticket: "hard")
        a.complexity + 1
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(*outcome.result.unwrap(), json!(10));
    let body = server.requests()[0].body.to_string();
    assert!(!body.contains("inputs"), "{body}");
}
