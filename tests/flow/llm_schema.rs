//! The `llm` backend's validated outputs (`schema:` checked on the client,
//! replies repaired `repair: N` times) and conversations (`messages:`,
//! `history: true`), against the scripted chat server on loopback.

use flow::{Engine, Outcome, RunStatus};
use serde_json::{json, Value};

use crate::servers::{self, run};

fn errors(outcome: &Outcome) -> String {
    outcome
        .errors
        .iter()
        .map(|d| format!("{} {} {:?}", d.code.as_str(), d.message, d.notes))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The messages of a request, as (role, content) pairs.
fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const SCORE: &str = r#"{type: "object", properties: {score: {type: "number"}, name: {type: "string"}}, required: ["score"]}"#;

#[tokio::test]
async fn a_reply_that_breaks_the_schema_once_is_repaired() {
    let server = servers::chat().await;
    let outcome = run(
        &format!(
            r#"
            param base = ""
            agent Critic = llm(model: "repairable", base_url: base, schema: {SCORE})
            let review = Critic("Score this haiku")
            review
            "#
        ),
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    assert_eq!(*outcome.result.clone().unwrap(), json!({"score": 7}));

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "the first reply and one repair");
    let second = messages(&requests[1].body);
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(second[0].0, "user");
    assert!(second[0].1.starts_with("Score this haiku"), "{second:?}");
    assert_eq!(
        second[1],
        ("assistant".into(), r#"{"score": "high"}"#.into())
    );
    assert_eq!(second[2].0, "user");
    assert!(
        second[2]
            .1
            .contains(r#"/score: "high" is not of type "number""#),
        "the violation by its JSON path: {}",
        second[2].1
    );
    assert!(second[2].1.contains("corrected JSON"), "{}", second[2].1);
    // The schema still travels with the repair request.
    assert_eq!(requests[1].body["response_format"]["type"], "json_schema");

    let task = outcome.task("review").unwrap();
    assert_eq!(
        task.usage.clone().unwrap(),
        json!({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}),
        "both requests' usage"
    );
    assert!(
        task.notes
            .iter()
            .any(|n| n.starts_with("repaired after 1 retry")),
        "{:?}",
        task.notes
    );
    assert_eq!(outcome.to_json()["tasks"][0]["notes"][0], task.notes[0]);
}

#[tokio::test]
async fn a_reply_that_always_breaks_it_fails_listing_each_violation() {
    let server = servers::chat().await;
    let schema = r#"{type: "object", properties: {score: {type: "number"}, name: {type: "string"}}, required: ["score", "name"]}"#;
    let outcome = run(
        &format!(
            r#"
            param base = ""
            agent Critic = llm(model: "stubborn", base_url: base, schema: {schema})
            Critic("Score this haiku")
            "#
        ),
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        server.requests().len(),
        3,
        "1 + `repair` (2 by default) requests"
    );
    let diag = &outcome.errors[0];
    assert_eq!(diag.code.as_str(), "flow::runtime::task_failed");
    assert!(
        diag.message
            .contains("does not follow the schema: 2 violations"),
        "{}",
        diag.message
    );
    for violation in [
        r#"/score: "high" is not of type "number""#,
        r#"/: "name" is a required property"#,
    ] {
        assert!(
            diag.notes.iter().any(|n| n == violation),
            "{violation}: {:?}",
            diag.notes
        );
    }
    assert!(
        diag.notes
            .iter()
            .any(|n| n.contains("asked for a corrected reply 2 times")),
        "{:?}",
        diag.notes
    );
    // The repair requests list both violations, and each repeats the turns before it.
    let last = messages(&server.requests()[2].body);
    assert_eq!(
        last.len(),
        5,
        "user, assistant, repair, assistant, repair: {last:?}"
    );
    assert!(
        last[4].1.contains(r#"/: "name" is a required property"#),
        "{}",
        last[4].1
    );
    // The tokens of all three requests count in the run's usage.
    assert_eq!(outcome.usage().unwrap()["total_tokens"], 45);
}

#[tokio::test]
async fn repair_0_fails_at_once_and_repair_1_asks_once() {
    let server = servers::chat().await;
    let script = |repair: u32| {
        format!(
            "param base = \"\"\nagent Critic = llm(model: \"stubborn\", base_url: base, repair: {repair}, schema: {SCORE})\nCritic(\"Score it\")"
        )
    };
    let outcome = run(&script(0), &server.v1()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(server.requests().len(), 1, "no repair asked for");
    let diag = &outcome.errors[0];
    assert!(diag.message.contains("1 violation"), "{}", diag.message);
    assert!(
        diag.notes.iter().any(|n| n.contains("`repair: 0`")),
        "{:?}",
        diag.notes
    );
    let outcome = run(&script(1), &server.v1()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(server.requests().len(), 1 + 2);
}

#[tokio::test]
async fn a_reply_that_is_not_json_is_repaired_too() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent A = llm(model: "prose-then-json", base_url: base, json: true)
        A("Reply").ok
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    assert_eq!(*outcome.result.unwrap(), json!(true));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let second = messages(&requests[1].body);
    assert_eq!(second[1], ("assistant".into(), "this is not JSON".into()));
    assert!(
        second[2].1.contains("the reply is not JSON"),
        "{}",
        second[2].1
    );

    // Always prose: three requests, then the reply in the diagnostic.
    let outcome = run(
        "param base = \"\"\nagent A = llm(model: \"prose\", base_url: base, json: true)\nA(\"Reply\")",
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(server.requests().len(), 2 + 3);
    let diag = &outcome.errors[0];
    assert!(diag.message.contains("not valid JSON"), "{}", diag.message);
    assert!(
        diag.notes.iter().any(|n| n.contains("this is not JSON")),
        "{:?}",
        diag.notes
    );
}

#[tokio::test]
async fn an_invalid_schema_fails_before_any_request() {
    let server = servers::chat().await;
    for (schema, expected) in [
        (r#"{type: "nubmer"}"#, "`schema` is not a valid JSON Schema"),
        (
            r#"{"$ref": "https://example.com/s.json"}"#,
            "`schema` is not a valid JSON Schema",
        ),
    ] {
        let outcome = run(
            &format!("param base = \"\"\nagent A = llm(model: \"echo\", base_url: base, schema: {schema})\nA(\"Hi\")"),
            &server.v1(),
        )
        .await;
        assert_eq!(outcome.status, RunStatus::Failed, "{schema}");
        let message = &outcome.errors[0].message;
        assert!(message.contains(expected), "{schema}: {message}");
    }
    for (config, expected) in [
        (
            "repair: -1",
            "`repair` must be a whole number, zero or more",
        ),
        ("history: int(\"1\")", "`llm` takes a boolean for `history`"),
    ] {
        let outcome = run(
            &format!("param base = \"\"\nagent A = llm(model: \"echo\", base_url: base, {config})\nA(\"Hi\")"),
            &server.v1(),
        )
        .await;
        assert_eq!(outcome.status, RunStatus::Failed, "{config}");
        let message = &outcome.errors[0].message;
        assert!(message.contains(expected), "{config}: {message}");
    }
    assert!(server.requests().is_empty(), "no request was sent");
}

#[tokio::test]
async fn a_conversation_sends_system_history_then_the_user_message() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent Chat = llm(model: "echo", base_url: base, system: "Be brief.")
        let history = [{role: "user", content: "Hi"}, {role: "assistant", content: "Hello"}]
        Chat("And tides?", messages: history, topic: "the sea")
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let sent = messages(&server.requests()[0].body);
    assert_eq!(
        sent,
        [
            ("system".into(), "Be brief.".into()),
            ("user".into(), "Hi".into()),
            ("assistant".into(), "Hello".into()),
            (
                "user".into(),
                "And tides?\n\n{\n  \"topic\": \"the sea\"\n}".into()
            ),
        ] as [(String, String); 4],
        "`messages` is not sent as context"
    );
    assert_eq!(
        *outcome.result.unwrap(),
        json!("echo: And tides?\n\n{\n  \"topic\": \"the sea\"\n}")
    );

    // The agent's `messages:` when the call gives none; no user message when
    // the call has neither instructions nor context.
    let outcome = run(
        r#"
        param base = ""
        agent Few = llm(model: "echo", base_url: base,
          messages: [{role: "user", content: "2+2?"}, {role: "assistant", content: "4"}, {role: "user", content: "3+3?"}])
        Few()
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    assert_eq!(*outcome.result.unwrap(), json!("echo: 3+3?"));
    assert_eq!(messages(&server.requests()[1].body).len(), 3);
}

#[tokio::test]
async fn bad_messages_are_a_clear_error_naming_the_index() {
    let server = servers::chat().await;
    for (history, expected) in [
        (
            r#"[{role: "user", content: "Hi"}, {role: "bot", content: "Hello"}]"#,
            "`messages[1]` has the role \"bot\", which is not one of \"system\", \"user\", \"assistant\", \"tool\"",
        ),
        (r#"[{role: "user"}]"#, "`messages[0]` has no `content`"),
        (r#"["Hi"]"#, "`messages[0]` must be an object {role, content}, not a string"),
        (r#""Hi""#, "`messages` must be a list of {role, content} objects"),
    ] {
        let outcome = run(
            &format!("param base = \"\"\nagent Chat = llm(model: \"echo\", base_url: base)\nChat(\"Go\", messages: {history})"),
            &server.v1(),
        )
        .await;
        assert_eq!(outcome.status, RunStatus::Failed, "{history}");
        let message = &outcome.errors[0].message;
        assert!(message.contains(expected), "{history}: {message}");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn history_true_continues_a_conversation_in_a_repeat_loop() {
    let server = servers::chat().await;
    let outcome = run(
        r#"
        param base = ""
        agent Chat = llm(model: "turns", base_url: base, history: true)
        let convo = repeat c = {reply: null, messages: [{role: "system", content: "be brief"}]} until c.reply == "done" max 3 {
          Chat("next", messages: c.messages)
        }
        convo
        "#,
        &server.v1(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{}", errors(&outcome));
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "three rounds");
    let third = messages(&requests[2].body);
    let pair = |role: &str, content: &str| (role.to_string(), content.to_string());
    assert_eq!(
        third,
        [
            pair("system", "be brief"),
            pair("user", "next"),
            pair("assistant", "turn 1"),
            pair("user", "next"),
            pair("assistant", "turn 2"),
            pair("user", "next"),
        ],
        "the third request holds the earlier turns"
    );
    let convo = outcome.result.unwrap();
    assert_eq!(convo["reply"], "done");
    let history = convo["messages"].as_array().unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!(history[6], json!({"role": "assistant", "content": "done"}));
}

#[test]
fn messages_as_an_argument_checks_and_a_misspelt_setting_does_not() {
    let engine = Engine::new();
    let good = r#"
        agent Chat = llm(model: "m", history: true, repair: 1, messages: [])
        Chat("x", messages: [{role: "user", content: "hi"}])
    "#;
    if let Err(e) = engine.compile("good.flow", good) {
        panic!("{}", e.render());
    }
    let bad = "agent Chat = llm(model: \"m\", histroy: true)\nChat(\"x\")";
    let error = engine.compile("bad.flow", bad).unwrap_err().render();
    assert!(
        error.contains("backend `llm` has no setting `histroy`"),
        "{error}"
    );
    assert!(error.contains("did you mean `history`?"), "{error}");
    let typed = "agent Chat = llm(model: \"m\", repair: \"twice\", messages: \"hi\")\nChat(\"x\")";
    let error = engine.compile("typed.flow", typed).unwrap_err().render();
    assert!(
        error.contains("`llm` takes an integer for `repair`"),
        "{error}"
    );
    assert!(
        error.contains("`llm` takes a list for `messages`"),
        "{error}"
    );
}
