//! Unit tests of the `llm` backend's request building and reply reading.

use std::sync::Arc;

use super::reply::usage;
use super::*;

fn call(config: Value, instructions: Option<&str>, context: Value) -> Call {
    Call {
        agent: "Writer".into(),
        task: "draft".into(),
        instructions: instructions.map(str::to_string),
        context: context.as_object().cloned().unwrap_or_default(),
        config: Arc::new(config.as_object().cloned().unwrap_or_default()),
        ..Call::new("Writer", "")
    }
}

#[test]
fn the_user_message_is_instructions_then_context() {
    let context = json!({"topic": "tides"});
    let message = user_message(Some("Write"), context.as_object().unwrap());
    assert_eq!(message, "Write\n\n{\n  \"topic\": \"tides\"\n}");
    assert_eq!(user_message(Some("Write"), &Map::new()), "Write");
}

#[test]
fn request_bodies_carry_the_config() {
    let c = call(
        json!({"model": "m", "system": "be brief", "temperature": 0, "max_tokens": 5, "json": true}),
        Some("Rate it"),
        json!({}),
    );
    let config = Config::read(&c.config).unwrap();
    let messages = Conversation::new(&config, &c).unwrap().request();
    let body = serde_json::to_value(request_body(&config, &messages, None)).unwrap();
    assert_eq!(body["model"], "m");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 5);
    assert_eq!(body["response_format"]["type"], "json_object");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(
        body["messages"][1]["content"],
        "Rate it\n\nReply with a JSON object."
    );
}

#[test]
fn estimates_bound_the_prompt_by_its_bytes() {
    let context = json!({"topic": "tides"});
    let estimate_of = |config: Value| {
        estimate(&Inline {
            instructions: Some("Write"),
            context: context.as_object().unwrap(),
            config: config.as_object().unwrap(),
        })
    };
    let config = json!({"system": "Be brief.", "max_tokens": 20, "price": {"input": 0.15, "output": 0.6}});
    let e = estimate_of(config).unwrap();
    let user = user_message(Some("Write"), context.as_object().unwrap());
    let bytes = ("Be brief.".len() + user.len()) as u64;
    assert_eq!(e.prompt_tokens, bytes + 2 * MESSAGE_TOKENS + REQUEST_TOKENS);
    assert_eq!(e.max_completion_tokens, Some(20));
    assert_eq!(e.price, Some(Price { input: 0.15, output: 0.6 }));
    // A schema is sent with the request: it counts too.
    let schema = json!({"schema": {"type": "object"}});
    assert!(estimate_of(schema).unwrap().prompt_tokens > user.len() as u64 + 40);
    for price in [json!(1), json!({"input": 1}), json!({"input": -1, "output": 1}), json!({"input": 1, "output": 1, "cached": 0})] {
        let error = estimate_of(json!({ "price": price })).unwrap_err();
        assert!(error.message.contains("`price` must be"), "{price}: {}", error.message);
    }
}

#[test]
fn a_budgets_cap_lowers_max_tokens() {
    for (own, cap, sent) in [(Some(50), Some(20), json!(20)), (None, Some(30), json!(30)), (Some(10), Some(30), json!(10)), (None, None, Value::Null)] {
        let mut c = call(json!({ "max_tokens": own }), Some("Hi"), json!({}));
        c.max_tokens = cap;
        let messages = Conversation::new(&Config::read(&c.config).unwrap(), &c).unwrap().request();
        let config = Config::read(&c.config).unwrap();
        let body = serde_json::to_value(request_body(&config, &messages, c.max_tokens)).unwrap();
        assert_eq!(body.get("max_tokens").cloned().unwrap_or(Value::Null), sent);
    }
}

#[test]
fn bad_config_values_are_errors() {
    for (config, expected) in [
        (
            json!({"temperature": "hot"}),
            "`temperature` must be a number",
        ),
        (json!({"temperature": -1}), "must not be negative"),
        (json!({"max_tokens": 0}), "`max_tokens` must be a positive"),
        (
            json!({"max_tokens": 2.5}),
            "`max_tokens` must be a positive",
        ),
        (json!({"json": "yes"}), "`json` must be true or false"),
        (json!({"repair": -1}), "`repair` must be a whole number, zero or more"),
        (json!({"repair": 1.5}), "`repair` must be a whole number"),
        (json!({"history": 1}), "`history` must be true or false"),
        (json!({"messages": [{"role": "user"}]}), "`messages[0]` has no `content`"),
        (json!({"model": 3}), "`model` must be a string"),
    ] {
        let error = Config::read(config.as_object().unwrap()).unwrap_err();
        assert!(error.message.contains(expected), "{}", error.message);
    }
}

#[test]
fn json_replies_may_be_fenced() {
    assert_eq!(
        parse_json_reply("```json\n{\"a\": 1}\n```").unwrap(),
        json!({"a": 1})
    );
    assert!(parse_json_reply("not json").is_err());
}

#[test]
fn usage_is_whole_numbers() {
    let reply = json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4, "x": "y"}});
    assert_eq!(
        usage(&reply),
        Some(json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}))
    );
    assert_eq!(usage(&json!({"usage": "lots"})), None);
}

#[test]
fn server_messages_prefer_the_json_error() {
    assert_eq!(
        server_message(br#"{"error": {"message": "bad model"}}"#),
        "bad model"
    );
    assert_eq!(server_message(b"oops"), "oops");
    assert_eq!(server_message(b""), "(empty body)");
}
