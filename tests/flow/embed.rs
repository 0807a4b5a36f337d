//! The embedding API: host agents (closures and types), params per run, events,
//! cancellation, and the `examples/embed.rs` program.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flow::{
    AgentError, AgentFuture, Call, Engine, HostAgent, RunEvent, RunOptions, RunStatus, TaskStatus,
};
use serde_json::{json, Value};

/// Doubles `n`, after a delay that makes later items finish first.
fn doubler() -> Engine {
    Engine::new().agent("Double", |call: Call| async move {
        let n = call.get("n")?.as_i64().ok_or("`n` must be a number")?;
        tokio::time::sleep(Duration::from_millis(10 * (5 - n.min(5)) as u64)).await;
        Ok(json!(n * 2))
    })
}

#[tokio::test]
async fn a_host_agent_in_a_map_gives_results_in_input_order() {
    let engine = doubler();
    let outcome = engine
        .run_source(
            "map.flow",
            "map n in [1, 2, 3, 4] { Double(n: n) }",
            RunOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(*outcome.result.clone().unwrap(), json!([2, 4, 6, 8]));
    let mut ids: Vec<String> = outcome.tasks.iter().map(|t| t.id()).collect();
    ids.sort();
    assert_eq!(ids.len(), 4);
    assert!(outcome.tasks.iter().all(|t| &*t.agent == "Double"));
    assert_eq!(outcome.task(&ids[0]).unwrap().status, TaskStatus::Succeeded);
}

/// A host agent with state, as a type.
struct Counter(AtomicUsize);

impl HostAgent for Counter {
    fn call(&self, call: Call) -> AgentFuture {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move { Ok(json!({"call": n, "instructions": call.instructions})) })
    }
}

#[tokio::test]
async fn a_host_agent_type_keeps_its_state_across_runs() {
    let engine = Engine::new().agent("Counter", Counter(AtomicUsize::new(0)));
    let script = engine
        .compile("count.flow", "Counter(\"count\").call")
        .unwrap();
    for expected in 1..=3 {
        let outcome = engine.run(&script, RunOptions::new()).await;
        assert_eq!(*outcome.result.unwrap(), json!(expected));
    }
}

#[tokio::test]
async fn a_failing_host_agent_fails_the_run_with_a_diagnostic() {
    let engine = Engine::new().agent("Refuse", |call: Call| async move {
        Err::<Value, _>(AgentError::new(format!("refused {}", call.task)).note("quota is 0"))
    });
    let script = engine
        .compile("fail.flow", "let answer = Refuse(\"Answer\")\nanswer")
        .unwrap();
    let outcome = engine.run(&script, RunOptions::new()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let diag = &outcome.errors[0];
    assert_eq!(diag.code.as_str(), "flow::runtime::task_failed");
    assert!(diag.message.contains("refused answer"), "{}", diag.message);
    assert_eq!(diag.notes, ["quota is 0"]);
    let rendered = script.render(&outcome.errors);
    assert!(rendered.contains("this call to `Refuse`"), "{rendered}");
    assert_eq!(outcome.task("answer").unwrap().status, TaskStatus::Failed);

    // The same through the command line's exit status is covered by `flow run`
    // (a failed workflow exits 1); here a missing argument is an error too.
    let outcome = doubler()
        .run_source("missing.flow", "Double(m: 1)", RunOptions::new())
        .await
        .unwrap();
    assert!(outcome.errors[0]
        .message
        .contains("`Double` needs the argument `n`"));
}

#[tokio::test]
async fn unknown_host_agents_are_compile_errors() {
    let error = doubler().compile("typo.flow", "Doubel(n: 1)").unwrap_err();
    let rendered = error.render();
    assert!(rendered.contains("Double"), "a suggestion: {rendered}");
}

/// On tokio's paused clock: the agent's hour would pass at once if the run
/// waited for it, and the run's end is measured on that clock, so no load
/// on the machine changes what the test sees.
#[tokio::test(start_paused = true)]
async fn a_run_is_cancelled_promptly_even_if_the_agent_ignores_it() {
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = started.clone();
    let engine = Engine::new().agent("Wait", move |_call: Call| {
        let notify = notify.clone();
        async move {
            notify.notify_one();
            // Ignores `call.cancel`: the runtime must drop it anyway.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(json!("never"))
        }
    });
    let script = engine
        .compile(
            "wait.flow",
            "let a = Wait()\nlet b = map i in range(3) { Wait(i: i) }\n[a, b]",
        )
        .unwrap();
    let run = engine.start(&script, RunOptions::new());
    started.notified().await;
    let clock = tokio::time::Instant::now();
    run.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(5), run.outcome())
        .await
        .expect("the run ends promptly");
    // Not even the grace a task gets to stop (5 s) is waited for.
    assert!(
        clock.elapsed() < Duration::from_secs(2),
        "{:?}",
        clock.elapsed()
    );
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert!(outcome.result.is_none());
    assert!(outcome
        .tasks
        .iter()
        .any(|t| t.status == TaskStatus::Cancelled));
}

/// On tokio's paused clock: `sleep(1h)` would end at once if not cancelled.
#[tokio::test(start_paused = true)]
async fn cancelling_through_run_options() {
    let engine = Engine::new();
    let script = engine.compile("sleep.flow", "sleep(1h)").unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let options = RunOptions::new().cancel_with(cancel.clone());
    let trigger = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let outcome = tokio::time::timeout(Duration::from_secs(5), engine.run(&script, options))
        .await
        .expect("cancelled promptly");
    assert_eq!(outcome.status, RunStatus::Cancelled);
    trigger.await.unwrap();
}

#[tokio::test]
async fn params_differ_per_run_of_one_compiled_script() {
    let engine = doubler();
    let script = engine
        .compile(
            "params.flow",
            "param items = [1]\nparam label = \"x\"\n{ label: label, doubled: map n in items { Double(n: n) } }",
        )
        .unwrap();
    assert_eq!(script.params().collect::<Vec<_>>(), ["items", "label"]);
    let first = engine.run(&script, RunOptions::new()).await;
    assert_eq!(
        *first.result.unwrap(),
        json!({"label": "x", "doubled": [2]})
    );
    let second = engine
        .run(
            &script,
            RunOptions::new()
                .param("items", json!([3, 4]))
                .param("label", "y"),
        )
        .await;
    assert_eq!(
        *second.result.unwrap(),
        json!({"label": "y", "doubled": [6, 8]})
    );
    let unknown = engine
        .run(&script, RunOptions::new().param("itmes", json!([])))
        .await;
    assert_eq!(unknown.status, RunStatus::Failed);
    assert!(unknown.errors[0]
        .help
        .as_deref()
        .unwrap_or("")
        .contains("items"));
}

#[tokio::test]
async fn events_reach_an_observer_and_a_stream() {
    let engine = doubler();
    let script = engine
        .compile(
            "events.flow",
            "let xs = map n in [1, 2] { Double(n: n) }\nxs",
        )
        .unwrap();

    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = RunOptions::new().observe(move |event| {
        sink.lock().unwrap().push(RunEvent::from(event));
    });
    let outcome = engine.run(&script, options).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let observed = seen.lock().unwrap().clone();

    let mut run = engine.start(&script, RunOptions::new());
    let mut streamed = Vec::new();
    while let Some(event) = run.next_event().await {
        streamed.push(event);
    }
    let outcome = run.outcome().await;
    assert_eq!(*outcome.result.unwrap(), json!([2, 4]));

    for events in [observed, streamed] {
        let mut started: Vec<String> = events
            .iter()
            .filter(|e| matches!(e, RunEvent::Started { .. }))
            .map(RunEvent::id)
            .collect();
        started.sort();
        assert_eq!(started, ["xs[0]", "xs[1]"]);
        let finished: Vec<&RunEvent> = events
            .iter()
            .filter(|e| matches!(e, RunEvent::Finished(_)))
            .collect();
        assert_eq!(finished.len(), 2);
        // The two tasks became known as the `map` made its items, the
        // first before any task started.
        let planned: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                RunEvent::Planned { tasks } => Some(*tasks),
                _ => None,
            })
            .collect();
        assert_eq!(planned, [1, 1]);
        assert!(matches!(events[0], RunEvent::Planned { .. }), "{events:?}");
        // Each task starts before it finishes.
        for id in ["xs[0]", "xs[1]"] {
            let start = events
                .iter()
                .position(|e| matches!(e, RunEvent::Started { .. }) && e.id() == id);
            let end = events
                .iter()
                .position(|e| matches!(e, RunEvent::Finished(_)) && e.id() == id);
            assert!(start < end, "{id}");
        }
    }
}

/// `examples/embed.rs`, built by `cargo build --examples` (`.ci/run` does),
/// runs and prints its events and result.
#[test]
fn the_embed_example_runs() {
    // `cargo test` builds the examples beside this test binary's folder
    // (`target/debug/deps/` → `target/debug/examples/`), wherever the target
    // folder is; `cargo test --test flow` does not, and then they are built
    // here, into the same folder. A test binary run from elsewhere looks in
    // `$CARGO_TARGET_DIR` or `target/`.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .filter(|folder| folder.ends_with("deps"))
        .and_then(|deps| deps.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| crate::common::root().join("target"))
                .join("debug")
        });
    let binary = profile.join("examples/embed");
    if !binary.exists() {
        let mut build = std::process::Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "--example", "embed", "--target-dir"])
            .arg(profile.parent().expect("the target folder"))
            .current_dir(crate::common::root());
        if profile.ends_with("release") {
            build.arg("--release");
        }
        // Build it: the example is part of what the tests check.
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "`cargo build --example embed` failed");
    }
    let output = std::process::Command::new(&binary)
        .args(["great product", "it broke, terrible"])
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("started  labels[0] (Sentiment)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("finished labels[1] (Sentiment): succeeded"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"result: {"reviews":2,"positive":1,"negative":1,"neutral":0}"#),
        "{stdout}"
    );
}

/// On tokio's paused clock: `sleep(1h)` would end at once if not cancelled.
#[tokio::test(start_paused = true)]
async fn dropping_a_run_handle_cancels_the_run_but_not_the_callers_token() {
    let engine = Engine::new();
    let script = engine.compile("sleep.flow", "sleep(1h)").unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    let mut run = engine.start(&script, RunOptions::new().cancel_with(token.clone()));
    let watch = run.cancel_token();
    assert!(matches!(
        run.next_event().await,
        Some(RunEvent::Planned { tasks: 1 })
    ));
    assert!(matches!(
        run.next_event().await,
        Some(RunEvent::Started { .. })
    ));
    drop(run);
    tokio::time::timeout(Duration::from_secs(5), watch.cancelled())
        .await
        .expect("dropping the handle cancels the run");
    assert!(!token.is_cancelled());

    // The caller's token still cancels a run it was given to.
    let run = engine.start(&script, RunOptions::new().cancel_with(token.clone()));
    token.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(5), run.outcome())
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Cancelled);
}

/// What a host program shares between threads and tasks can be.
#[test]
fn embedding_types_are_send_and_sync() {
    fn shareable<T: Send + Sync + 'static>() {}
    fn sendable<T: Send + 'static>() {}
    shareable::<Engine>();
    shareable::<flow::Script>();
    shareable::<flow::Outcome>();
    shareable::<flow::CompileError>();
    shareable::<RunOptions>();
    sendable::<flow::RunHandle>();
    sendable::<RunEvent>();
    sendable::<Call>();
}

// ---- the API documentation's examples ---------------------------------------------
//
// Most examples in the API documentation are `no_run` doctests: compiled (so
// they cannot go stale), but each runnable one is a program of its own to
// link, seconds each. What they assert is checked here instead, in the one
// test binary. Still run as doctests: the crate's example (host agents,
// `run_source`), `engine`'s (compile once, run with params), `Engine::agent`
// and `HostAgent` (host registration), and docs/agents.md's first.

/// The synchronous examples, in the order of the source files.
#[test]
fn the_documented_examples_hold() {
    use flow::agent::{ConfigType, Price, Resource, Signature};
    use flow::ast::BinaryOp;
    use flow::value::{binary, field, index, ErrorKind};
    use flow::{Budget, Capabilities};

    // agent/call.rs
    let call = Call::new("Classifier", "Label this").arg("text", json!("hello"));
    assert_eq!(call.context["text"], "hello");
    let call = Call::new("Classifier", "Label this");
    assert_eq!(
        call.get("text").unwrap_err().message,
        "`Classifier` needs the argument `text`"
    );
    let error = AgentError::new("quota exceeded").note("try again in an hour");
    assert_eq!(error.to_string(), "quota exceeded");
    assert_eq!(error.notes, ["try again in an hour"]);

    // agent/registry.rs
    let sandbox = Capabilities::all().deny("sh").deny("env");
    assert!(!sandbox.permits("sh"));
    assert!(sandbox.permits("llm"));
    let only = Capabilities::only(["llm"]);
    assert!(only.permits("llm") && !only.permits("http"));

    // agent/signature.rs
    let signature = Signature::backend("render", "renders a template")
        .positional("template")
        .required("template", ConfigType::Text, "the template text")
        .optional("width", ConfigType::Integer, "the line width")
        .resource(Resource::Cpu);
    assert_eq!(signature.key("width").unwrap().ty, ConfigType::Integer);

    // agent/spend.rs
    let price = Price {
        input: 0.15,
        output: 0.60,
    };
    assert!((price.cost(1_000_000, 500_000) - 0.45).abs() < 1e-9);
    let budget = Budget::parse("tokens=20000,usd=0.5").unwrap();
    assert_eq!(
        budget,
        Budget {
            tokens: Some(20_000),
            usd: Some(0.5)
        }
    );
    assert_eq!(budget.tighten(Budget::tokens(100)).tokens, Some(100));
    assert!(Budget::parse("tokens=lots").is_err());

    // builtins/functions.rs
    use flow::builtins::call_function;
    assert_eq!(call_function("range", &[json!(3)]), Ok(json!([0, 1, 2])));
    assert_eq!(
        call_function("join", &[json!(["a", 1]), json!("-")]),
        Ok(json!("a-1"))
    );
    assert!(call_function("range", &[json!(1e12)]).is_err());

    // engine.rs
    let script = Engine::new()
        .compile("p.flow", "param topic = \"tides\"\nparam n = 3\ntopic")
        .unwrap();
    assert_eq!(script.params().collect::<Vec<_>>(), ["topic", "n"]);
    let error = Engine::new()
        .compile("bad.flow", "Nobody(x: 1)")
        .unwrap_err();
    assert!(error.diagnostics.iter().any(|d| d.is_error()));
    assert!(error.render().contains("Nobody"));
    let engine = Engine::new().capabilities(Capabilities::all().deny("sh"));
    let error = engine
        .compile("s.flow", "sh(\"rm -rf /tmp/x\")")
        .unwrap_err();
    assert_eq!(
        error.diagnostics[0].code.as_str(),
        "flow::check::capability_denied"
    );
    assert!(engine.compile("e.flow", "echo(x: 1)").is_ok());

    // runtime/mod.rs
    let options = RunOptions::new()
        .param("topic", json!("tides"))
        .jobs(4)
        .keep_going(true)
        .observe(|event| eprintln!("{event:?}"));
    assert_eq!(options.params, vec![("topic".to_string(), json!("tides"))]);
    let options = RunOptions::new().secret("GITHUB_TOKEN");
    assert_eq!(options.secrets, ["GITHUB_TOKEN"]);
    let options = RunOptions::new().budget(Budget::tokens(20_000));
    assert_eq!(options.budget.tokens, Some(20_000));

    // secret.rs
    let mut secrets = flow::secret::Secrets::default();
    secrets.add("Bearer sk-12345678");
    assert_eq!(secrets.redact("sent sk-12345678"), "sent ***");

    // shell/quote.rs
    use flow::shell::{quote, quote_value};
    assert_eq!(quote("it's"), r"'it'\''s'");
    assert_eq!(quote(""), "''");
    assert_eq!(quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
    assert_eq!(quote_value(&json!("a b")), "'a b'");
    assert_eq!(quote_value(&json!(3)), "'3'");
    assert_eq!(quote_value(&json!({"k": "it's"})), r#"'{"k":"it'\''s"}'"#);

    // value.rs
    assert_eq!(binary(BinaryOp::Div, &json!(7), &json!(2)), Ok(json!(3.5)));
    assert_eq!(binary(BinaryOp::Div, &json!(6), &json!(2)), Ok(json!(3)));
    assert_eq!(
        binary(BinaryOp::Eq, &json!(1), &json!(1.0)),
        Ok(json!(true))
    );
    let err = binary(BinaryOp::Add, &json!(1), &json!("a")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TypeError);
    assert_eq!(err.message, "cannot add a string to a number");
    let analysis = json!({"complexity": 7, "rows": []});
    assert_eq!(field(&analysis, "complexity"), Ok(&json!(7)));
    let err = field(&analysis, "complexty").unwrap_err();
    assert_eq!(
        err.message,
        "no field `complexty` in this object; it has `complexity`, `rows`"
    );
    assert_eq!(err.help.as_deref(), Some("did you mean `complexity`?"));
    let rows = json!([10, 20, 30]);
    assert_eq!(*index(&rows, &json!(-1)).unwrap(), json!(30));
    let err = index(&rows, &json!(5)).unwrap_err();
    assert_eq!(err.message, "index 5 is out of range for a list of 3 items");
}

/// `shout(text: …)` of `flow::agent`'s documentation, and of docs/agents.md
/// (positional, with a resource).
struct Shout(flow::agent::Signature);

impl flow::agent::Agent for Shout {
    fn signature(&self) -> &flow::agent::Signature {
        &self.0
    }
    fn call(&self, call: Call) -> flow::agent::ReplyFuture {
        let text = match call.config.get("text") {
            Some(text) => Ok(text.as_str().unwrap_or_default().to_uppercase()),
            None => call
                .get("text")
                .map(|t| t.as_str().unwrap_or_default().to_uppercase()),
        };
        let marks = call
            .config
            .get("marks")
            .and_then(|m| m.as_u64())
            .unwrap_or(1) as usize;
        Box::pin(async move { Ok(flow::agent::Reply::value(json!(text? + &"!".repeat(marks)))) })
    }
}

/// docs/agents.md's approver: approves fewer than 10 hosts.
struct Policy;

impl flow::agent::Approver for Policy {
    fn ask<'a>(
        &'a self,
        question: &'a flow::agent::Question,
        _: &'a flow::agent::Withdrawal,
    ) -> flow::agent::approval::AskFuture<'a> {
        let hosts = question
            .details
            .get("hosts")
            .and_then(|h| h.as_u64())
            .unwrap_or(0);
        Box::pin(async move {
            Ok(flow::agent::Decision {
                approved: hosts < 10,
                by: "policy".into(),
                via: "policy".into(),
                reason: (hosts >= 10).then(|| format!("{hosts} hosts is too many")),
            })
        })
    }
}

/// The examples that run scripts (on tokio's paused clock: `sleep(30s)`
/// would end at once if the cancellation did not).
#[tokio::test(start_paused = true)]
async fn the_documented_runs_hold() {
    use flow::agent::{ConfigType, Resource, Signature};
    use flow::Capabilities;

    // agent/mod.rs
    let engine = Engine::new().register(Shout(
        Signature::backend("shout", "the text in capitals")
            .optional("marks", ConfigType::Integer, "how many `!` to add")
            .inline(),
    ));
    let outcome = engine
        .run_source("s.flow", "shout(text: \"hi\", marks: 3)", RunOptions::new())
        .await
        .unwrap();
    assert_eq!(*outcome.result.unwrap(), json!("HI!!!"));
    assert!(engine
        .compile("s.flow", "shout(text: \"hi\", marks: \"many\")")
        .is_err());

    // docs/agents.md: a positional key, a resource, capabilities
    let shout = Signature::backend("shout", "the text in capitals")
        .positional("text")
        .required("text", ConfigType::Text, "what to shout")
        .optional("marks", ConfigType::Integer, "how many `!`")
        .resource(Resource::None);
    let engine = Engine::new()
        .register(Shout(shout))
        .capabilities(Capabilities::all().deny("sh"));
    let outcome = engine
        .run_source(
            "s.flow",
            "agent Loud = shout(marks: 2, text: \"hey\")\nLoud()",
            RunOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(*outcome.result.unwrap(), json!("HEY!!"));
    assert!(engine
        .compile("s.flow", "shout(marks: \"lots\", text: \"hey\")")
        .is_err());
    assert!(engine.compile("s.flow", "sh(\"ls\")").is_err());

    // docs/agents.md: an approver
    let engine = Engine::new();
    let options = || RunOptions::new().approver(Arc::new(Policy));
    let small = engine
        .run_source("d.flow", "approve(\"Deploy?\", hosts: 3).by", options())
        .await
        .unwrap();
    assert_eq!(*small.result.unwrap(), json!("policy"));
    let big = engine
        .run_source("d.flow", "approve(\"Deploy?\", hosts: 40)", options())
        .await
        .unwrap();
    assert!(big.tasks[0].error.as_deref() == Some("denied: 40 hosts is too many"));

    // engine.rs: `Script::render`, `Engine::start`, `Engine::run_source`
    let script = engine.compile("f.flow", "fail(\"no luck\")").unwrap();
    let outcome = engine.run(&script, RunOptions::new()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(script.render(&outcome.errors).contains("no luck"));
    let script = engine.compile("s.flow", "let a = sleep(30s)\na").unwrap();
    let mut run = engine.start(&script, RunOptions::new());
    // The first event about a task (`Planned` only counts them).
    let mut event = run.next_event().await;
    while let Some(RunEvent::Planned { .. }) = event {
        event = run.next_event().await;
    }
    let Some(RunEvent::Started { id, .. }) = event else {
        panic!("the first event about a task is not `a` started: {event:?}")
    };
    assert_eq!(id, "a");
    run.cancel();
    assert_eq!(run.outcome().await.status, RunStatus::Cancelled);
    let outcome = engine
        .run_source(
            "sum.flow",
            "sum(map x in [1, 2, 3] { x * 2 })",
            RunOptions::new(),
        )
        .await
        .expect("it compiles");
    assert_eq!(*outcome.result.unwrap(), json!(12));

    // runtime/mod.rs: `param_text`, `dry_run`
    let script = engine
        .compile(
            "p.flow",
            "param version = \"1.0\"\nparam n = 1\n[version, n]",
        )
        .unwrap();
    let options = RunOptions::new()
        .param_text("version", "1.10")
        .param_text("n", "2");
    let outcome = engine.run(&script, options).await;
    assert_eq!(*outcome.result.unwrap(), json!(["1.10", 2]));
    let script = engine
        .compile(
            "d.flow",
            "let files = sh(\"ls\", output: \"lines\")\n{n: len(files), say: sh(\"date\")}",
        )
        .unwrap();
    let outcome = engine.run(&script, RunOptions::new().dry_run(true)).await;
    assert_eq!(
        *outcome.result.unwrap(),
        json!({"n": 0, "say": "<dry run: sh>"})
    );
}

/// A journal that only counts the inline successes, in the counter it lends
/// the run, and keeps the records of the rest.
#[derive(Default)]
struct Counting {
    unkeyed: Arc<std::sync::atomic::AtomicU64>,
    records: Mutex<Vec<String>>,
}

impl flow::Journal for Counting {
    fn reuse(&self, _key: &str) -> Option<flow::Reused> {
        None
    }

    fn record(&self, record: &flow::TaskRecord, _key: Option<&flow::TaskKey>) {
        self.records.lock().unwrap().push(record.id());
    }

    fn unkeyed_count(&self) -> Option<Arc<std::sync::atomic::AtomicU64>> {
        Some(self.unkeyed.clone())
    }
}

/// The count of inline successes a journal lends the run is exact at any
/// moment, not only at the run's end: a host agent that reads it after
/// 20,000 `noop`s sees 20,000 (the run used to hand the journal its count
/// every 16,384 tasks, so a `flow` ended by a second Ctrl-C could record
/// fewer than had run).
#[tokio::test]
async fn a_journal_s_count_of_inline_tasks_is_exact_while_the_run_goes_on() {
    let journal = Arc::new(Counting::default());
    let seen = journal.unkeyed.clone();
    let engine = Engine::new().agent("Peek", move |_call: Call| {
        let seen = seen.load(Ordering::SeqCst);
        async move { Ok(json!(seen)) }
    });
    let outcome = engine
        .run_source(
            "count.flow",
            "let done = map i in range(20000) { noop(i) }\nPeek(n: len(done))",
            // The outcome keeps no list of every task: only the journal counts them.
            RunOptions::new().record_all(false).journal(journal.clone()),
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(*outcome.result.unwrap(), json!(20000));
    assert_eq!(journal.unkeyed.load(Ordering::SeqCst), 20000);
    // Only the host agent's task was handed over as a record.
    assert_eq!(journal.records.lock().unwrap().len(), 1);
}
