//! The agent seam: an agent added in one file, registered only here; the
//! checker and lowering reading its signature; capabilities refused before
//! anything runs; the executor seam; no forgeable shell command.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use flow::agent::{Agent, Call, ConfigType, Reply, ReplyFuture, Resource, Signature};
use flow::exec::{CommandSpec, ExecFuture, Executor, LocalExecutor};
use flow::{Capabilities, Engine, RunOptions, RunStatus};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common;

/// `echoes(text, times: N)`: the text repeated, with its calls counted. A
/// whole agent: its signature and its call, nothing else anywhere.
struct Repeat {
    signature: Signature,
    calls: Arc<AtomicUsize>,
}

impl Repeat {
    fn new(calls: Arc<AtomicUsize>) -> Repeat {
        Repeat {
            signature: Signature::backend("echoes", "the text repeated")
                .positional("text")
                .required("text", ConfigType::Text, "what to say again")
                .optional("times", ConfigType::Integer, "how often (default 2)")
                .resource(Resource::Cpu)
                .capability("echoes"),
            calls,
        }
    }
}

impl Agent for Repeat {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn call(&self, call: Call) -> ReplyFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let text = call.config["text"].as_str().unwrap_or_default().to_string();
        let times = call
            .config
            .get("times")
            .and_then(|t| t.as_u64())
            .unwrap_or(2);
        Box::pin(async move { Ok(Reply::value(json!(text.repeat(times as usize)))) })
    }
}

fn engine(calls: &Arc<AtomicUsize>) -> Engine {
    Engine::new().register(Repeat::new(calls.clone()))
}

fn codes(error: &flow::CompileError) -> Vec<String> {
    error.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

#[tokio::test]
async fn an_agent_registered_by_a_test_runs_declared_and_called_directly() {
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = engine(&calls);
    let text = r#"
        agent Echo3 = echoes(times: 3, text: "ab")
        let direct = echoes("xy")
        let items = map n in [1, 2] { echoes("z", times: n) }
        [Echo3(), direct, items]
    "#;
    let outcome = engine
        .run_source("t.flow", text, RunOptions::new())
        .await
        .unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(
        *outcome.result.unwrap(),
        json!(["ababab", "xyxy", ["z", "zz"]])
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[test]
fn the_checker_reads_the_test_agents_signature() {
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = engine(&calls);
    let missing = engine.compile("t.flow", "echoes(times: 2)").unwrap_err();
    assert_eq!(codes(&missing), ["flow::check::missing_argument"]);
    assert!(missing.render().contains("`echoes` is missing its `text`"));
    let typo = engine
        .compile("t.flow", "agent R = echoes(\"a\", tims: 2)\nR()")
        .unwrap_err();
    assert_eq!(codes(&typo), ["flow::check::unknown_argument"]);
    assert!(
        typo.render().contains("did you mean `times`?"),
        "{}",
        typo.render()
    );
    let wrong = engine
        .compile("t.flow", "echoes(\"a\", times: \"x\")")
        .unwrap_err();
    assert_eq!(codes(&wrong), ["flow::check::bad_literal"]);
    assert!(wrong
        .render()
        .contains("`echoes` takes an integer for `times`"));
    // Without the registration the name means nothing.
    let unknown = Engine::new()
        .compile("t.flow", "echoes(\"a\")")
        .unwrap_err();
    assert_eq!(codes(&unknown), ["flow::check::undefined_name"]);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_computed_config_of_the_wrong_type_fails_the_task_not_the_process() {
    let calls = Arc::new(AtomicUsize::new(0));
    let outcome = engine(&calls)
        .run_source(
            "t.flow",
            "echoes(\"a\", times: json(\"[1]\"))",
            RunOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    let message = &outcome.errors[0].message;
    assert!(
        message.contains("takes an integer for `times`, but got a list"),
        "{message}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the agent never saw it");
}

#[tokio::test]
async fn a_denied_capability_is_refused_before_anything_runs() {
    let calls = Arc::new(AtomicUsize::new(0));
    let marker = std::env::temp_dir().join(common::unique_mark("deny"));
    let script = format!(
        "let touched = sh(\"touch {}\")\nlet r = echoes(\"a\")\n[touched, r]",
        marker.display()
    );
    let denied = engine(&calls).capabilities(Capabilities::all().deny("sh").deny("echoes"));
    let error = denied.compile("t.flow", &script).unwrap_err();
    assert_eq!(
        codes(&error),
        [
            "flow::check::capability_denied",
            "flow::check::capability_denied"
        ]
    );
    // A script compiled where `sh` was allowed is refused by an engine that
    // denies it, before anything starts.
    let script = engine(&calls).compile("t.flow", &script).unwrap();
    let outcome = denied.run(&script, RunOptions::new()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        outcome.errors[0].code.as_str(),
        "flow::check::capability_denied"
    );
    assert!(outcome.tasks.is_empty());
    assert!(!marker.exists(), "a command ran");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // An allow-list permits what it names only.
    let only = engine(&calls).capabilities(Capabilities::only(["echoes"]));
    assert!(only.compile("t.flow", "echoes(\"a\")").is_ok());
    assert!(only.compile("t.flow", "env(\"HOME\")").is_err());
}

#[test]
fn flow_run_deny_exits_3_and_spawns_nothing() {
    let dir = std::env::temp_dir().join(common::unique_mark("deny-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("ran");
    let script = dir.join("s.flow");
    std::fs::write(
        &script,
        format!(
            "agent Touch = sh(\"touch {}\")\nTouch()\n",
            marker.display()
        ),
    )
    .unwrap();
    for args in [
        &["run", "--deny", "sh"][..],
        &["run", "--allow", "llm,http"],
        &["check", "--deny", "sh"],
    ] {
        let out = common::flow_command()
            .args(args)
            .arg(&script)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("capability_denied"), "{stderr}");
        assert!(stderr.contains("needs `sh`"), "{stderr}");
    }
    assert!(!marker.exists(), "a command ran");
    let out = common::flow_command()
        .args(["run", "--deny", "shell"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("the capabilities are approve, env, files, http, llm, sh"));
    let out = common::flow_command()
        .arg("run")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(marker.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An executor that records every command it is asked for, then runs it
/// locally: the seam between what `sh` asks for and where it runs.
#[derive(Default)]
struct Recording {
    seen: Mutex<Vec<CommandSpec>>,
    local: LocalExecutor,
}

impl Executor for Recording {
    fn name(&self) -> &str {
        "recording"
    }

    fn run<'a>(&'a self, spec: &'a CommandSpec, cancel: &'a CancellationToken) -> ExecFuture<'a> {
        self.seen.lock().unwrap().push(spec.clone());
        self.local.run(spec, cancel)
    }
}

#[tokio::test]
async fn sh_builds_a_command_spec_and_the_runs_executor_runs_it() {
    let executor = Arc::new(Recording::default());
    let text = r#"
        agent Greet = sh("printf '%s' \"hello ${who}\"", env: {GREETING: "hi"}) 
        param who = "world"
        Greet(n: 1) timeout 5s
    "#;
    let outcome = Engine::new()
        .run_source("t.flow", text, RunOptions::new().executor(executor.clone()))
        .await
        .unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(*outcome.result.unwrap(), json!("hello world"));
    let seen = executor.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let spec = &seen[0];
    assert!(spec.cmd.contains("FLOW_VALUE_1"), "{}", spec.cmd);
    assert!(spec.env.contains(&("GREETING".into(), "hi".into())));
    assert!(spec.env.contains(&("FLOW_VALUE_1".into(), "world".into())));
    assert_eq!(spec.context["n"], json!(1));
    assert_eq!(spec.timeout, Some(std::time::Duration::from_secs(5)));
}

/// Data shaped like what a safely interpolated command once was is data: in
/// `${…}` it is quoted like any other value, and as a `cmd` it is refused.
#[tokio::test]
async fn a_forged_command_value_injects_nothing() {
    let marker = std::env::temp_dir().join(common::unique_mark("forged"));
    let forged = json!({"sh": format!("touch {}", marker.display()), "values": []});
    let run = |text: &'static str| {
        let options = RunOptions::new().param("forged", forged.clone());
        async move {
            Engine::new()
                .run_source("t.flow", text, options)
                .await
                .unwrap()
        }
    };
    let outcome = run("param forged = null\nsh(\"printf '%s' ${forged}\", output: \"json\")").await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.errors);
    assert_eq!(*outcome.result.unwrap(), forged, "printed back as data");
    assert!(!marker.exists());

    for text in [
        "param forged = null\nsh(forged)",
        "param forged = null\nagent X = sh(cmd: forged)\nX()",
    ] {
        let outcome = run(text).await;
        assert_eq!(outcome.status, RunStatus::Failed, "{text}");
        let message = &outcome.errors[0].message;
        assert!(
            message.contains("takes a string for `cmd`, but got an object"),
            "{message}"
        );
        assert!(!marker.exists(), "{text}: the forged command ran");
    }
    // From an agent's output, too.
    let text = format!(
        "let out = echo(sh: \"touch {}\", values: [])\nsh(cmd: out)",
        marker.display()
    );
    let outcome = Engine::new()
        .run_source("t.flow", &text, RunOptions::new())
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(!marker.exists(), "an agent's output ran as a command");
}

#[test]
fn flow_explain_prints_an_agents_signature() {
    let out = common::flow_command()
        .args(["explain", "sh"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("| `cmd` | a shell command | yes |"), "{text}");
    assert!(text.contains("`--deny sh` switches it off"), "{text}");
    let out = common::flow_command()
        .args(["explain", "http"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("| `method` | a string | no | `\"POST\"` |"),
        "{text}"
    );
    let out = common::flow_command().arg("explain").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("agents:") && text.contains("sleep "),
        "{text}"
    );
    let out = common::flow_command()
        .args(["explain", "shh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_repl_refuses_a_denied_capability_and_goes_on() {
    use std::io::Write;
    let marker = std::env::temp_dir().join(common::unique_mark("repl-deny"));
    let mut child = common::flow_command()
        .args(["repl", "--deny", "sh"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let entries = format!("sh(\"touch {}\")\necho(x: 41).x + 1\n", marker.display());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(entries.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("capability_denied"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    assert!(!marker.exists(), "the REPL ran a denied command");
}

/// `deaf()`: sleeps 30 s and never looks at `call.cancel`.
struct Deaf(Signature);

impl Agent for Deaf {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, _call: Call) -> ReplyFuture {
        Box::pin(async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Ok(Reply::default())
        })
    }
}

/// A timeout or a cancelled run stops a registered agent that ignores its
/// cancellation token: its future is dropped after a grace period.
#[tokio::test(start_paused = true)]
async fn an_agent_that_ignores_cancellation_is_dropped_after_a_grace_period() {
    let engine = Engine::new().register(Deaf(Signature::backend("deaf", "sleeps, deaf")));
    let start = tokio::time::Instant::now();
    let outcome = engine
        .run_source("t.flow", "deaf() timeout 1s", RunOptions::new())
        .await
        .unwrap();
    assert_eq!(outcome.tasks[0].status, flow::TaskStatus::TimedOut);
    let took = start.elapsed();
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");

    let script = engine.compile("t.flow", "deaf()").unwrap();
    let run = engine.start(&script, RunOptions::new());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    run.cancel();
    let start = tokio::time::Instant::now();
    let outcome = run.outcome().await;
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

/// `--allow llm` means models only: an `llm` that picks its own server needs
/// `http`, one that reads another variable for its key needs `env`.
#[test]
fn an_llms_base_url_and_key_variable_need_http_and_env() {
    let text = "agent Spy = llm(base_url: \"http://127.0.0.1:9/v1\", api_key_env: \"SECRET\")\nSpy(\"hi\")";
    let engine = Engine::new().capabilities(Capabilities::only(["llm"]));
    let error = engine.compile("t.flow", text).unwrap_err();
    let rendered = error.render();
    assert_eq!(
        codes(&error),
        ["flow::check::capability_denied"; 2],
        "{rendered}"
    );
    assert!(
        rendered.contains("`base_url` of `llm` needs it"),
        "{rendered}"
    );
    assert!(
        rendered.contains("`api_key_env` of `llm` needs it"),
        "{rendered}"
    );
    assert!(engine
        .compile("t.flow", "llm(\"hi\", model: \"m\")")
        .is_ok());
    // Compiled where allowed, refused by an engine that is not.
    let script = Engine::new().compile("t.flow", text).unwrap();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(engine.run(&script, RunOptions::new()));
    assert_eq!(
        outcome.errors[0].code.as_str(),
        "flow::check::capability_denied"
    );
}

#[test]
fn an_engine_that_denies_a_capability_nobody_has_refuses_to_compile() {
    let engine = Engine::new().capabilities(Capabilities::all().deny("shh"));
    let error = engine.compile("t.flow", "sh(\"true\")").unwrap_err();
    assert!(error
        .render()
        .contains("denies `shh`, which is not a capability"));
}

#[tokio::test]
async fn a_config_value_of_the_wrong_type_is_placed_at_its_call() {
    let outcome = Engine::new()
        .run_source(
            "t.flow",
            "param c = 5\nlet x = sh(\"pwd\", cwd: c)\nx",
            RunOptions::new(),
        )
        .await
        .unwrap();
    let error = &outcome.errors[0];
    assert_eq!(error.code.as_str(), "flow::runtime::type_error");
    let at = error.primary.as_ref().expect("placed").span;
    assert_eq!(at.start, 20, "{error:?}");
    // A required key given `null`, and a duration string that is none.
    let calls = Arc::new(AtomicUsize::new(0));
    let outcome = engine(&calls)
        .run_source("t.flow", "param t = null\nechoes(t)", RunOptions::new())
        .await
        .unwrap();
    assert!(outcome.errors[0]
        .message
        .contains("takes a string for `text`, but got null"));
    let outcome = Engine::new()
        .run_source(
            "t.flow",
            "param d = \"banana\"\nsleep(d)",
            RunOptions::new(),
        )
        .await
        .unwrap();
    assert!(outcome.errors[0]
        .message
        .contains("takes a duration for `duration`"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// Inside `$(( ))` bash evaluates a variable's text, `$(…)` in a subscript
/// included: a value there must be an integer, whatever `/bin/sh` is.
#[tokio::test]
async fn a_value_in_shell_arithmetic_must_be_an_integer() {
    let marker = std::env::temp_dir().join(common::unique_mark("arith"));
    let run = |value: serde_json::Value| {
        let options = RunOptions::new().param("x", value);
        async move {
            Engine::new()
                .run_source(
                    "t.flow",
                    "param x = 0\nsh(\"echo $(( ${x} + 1 ))\", output: \"json\")",
                    options,
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(*run(json!(41)).await.result.unwrap(), json!(42));
    assert_eq!(*run(json!("-8")).await.result.unwrap(), json!(-7));
    let hostile = format!("a[$(touch {})]", marker.display());
    let outcome = run(json!(hostile)).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let message = &outcome.errors[0].message;
    assert!(
        message.contains("inside `$(( ))` of a shell command must be an integer"),
        "{message}"
    );
    assert!(outcome.tasks.iter().all(|t| t.attempts == 0), "nothing ran");
    assert!(!marker.exists());
}

#[test]
fn a_host_agent_named_like_a_function_or_keyword_is_refused() {
    for name in ["len", "env", "map", "", "my agent"] {
        let engine = Engine::new().agent(name, |_call: Call| async { Ok(json!(1)) });
        let error = engine.compile("t.flow", "1").unwrap_err();
        let rendered = error.render();
        assert!(
            rendered.contains("the host registered an agent named"),
            "{name}: {rendered}"
        );
    }
    let engine = Engine::new().agent("Lister_2", |_call: Call| async { Ok(json!(1)) });
    assert!(engine.compile("t.flow", "Lister_2()").is_ok());
}

/// An agent that reads none of its arguments (`noop`, `Signature::ignores_context`)
/// gets neither instructions nor context, but each of its arguments is still
/// evaluated, and one that fails fails the call.
#[test]
fn an_agent_that_reads_no_arguments_still_fails_on_a_bad_one() {
    // Each fails at its index, which the error points at.
    for (arguments, at) in [("xs[5]", "5"), ("b: xs[5]", "5"), ("xs, b: xs[9]", "9")] {
        let script = format!("let xs = [1, 2]\nlet a = noop({arguments})\na\n");
        let outcome = common::run(&script);
        assert_eq!(outcome.status, RunStatus::Failed, "noop({arguments})");
        let error = outcome.errors.first().expect("an error");
        assert!(
            error.message.contains("out of range"),
            "noop({arguments}): {}",
            error.message
        );
        let span = error.span().expect("where");
        assert_eq!(
            &script[span.start as usize..span.end as usize],
            at,
            "noop({arguments})"
        );
    }
    assert_eq!(
        common::result("let xs = [1, 2]\nnoop(xs[1], b: xs)\n"),
        json!(null)
    );
}
