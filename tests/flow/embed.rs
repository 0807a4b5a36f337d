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
    // here, into the same folder.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps");
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
