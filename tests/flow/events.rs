//! `flow run --events FILE`: NDJSON written as the run goes (docs/events.md),
//! read here line by line from a running `flow`; and the runtime's
//! `Event::Retrying` under it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::common::{flow_command, scratch};

fn project(name: &str, script: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("main.flow"), script).unwrap();
    dir
}

fn flow(dir: &PathBuf, args: &[&str]) -> Output {
    flow_command()
        .current_dir(dir)
        .env_remove("FLOW_STORE")
        .args(args)
        .output()
        .expect("flow runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every line as JSON, each with the schema version and an event name.
fn parse(lines: &str) -> Vec<Value> {
    lines
        .lines()
        .map(|line| {
            let event: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert_eq!(event["v"], 1, "{line}");
            assert!(event["event"].is_string(), "{line}");
            assert!(event["time"].is_string(), "{line}");
            event
        })
        .collect()
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

#[test]
fn events_come_line_by_line_while_the_run_goes() {
    let dir = project(
        "events-live",
        "let quick = map i in range(3) { sh(\"echo ${i}\") }\nlet slow = sh(\"sleep 2; echo slow\")\n[quick, slow]\n",
    );
    let mut child = flow_command()
        .current_dir(&dir)
        .env_remove("FLOW_STORE")
        .args(["run", "-q", "--events", "-", "main.flow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = String::new();
    // A finished task is told while `slow` still runs: before `flow` exits.
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended early:\n{lines}"
        );
        lines.push_str(&line);
        let event: Value = serde_json::from_str(&line).expect("a whole line of JSON");
        if event["event"] == "task_finished" {
            assert!(
                child.try_wait().unwrap().is_none(),
                "`flow` had exited before its first `task_finished` was read"
            );
            break;
        }
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    lines.push_str(&rest);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // stdout holds only events; the result is in the last one.
    let events = parse(&lines);
    assert_eq!(events[0]["event"], "run_started");
    assert_eq!(events[0]["script"], "main.flow");
    assert!(events[0]["run"].is_i64());
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["result"], serde_json::json!([["0", "1", "2"], "slow"]));
    assert_eq!(last["counts"]["succeeded"], 4);
    assert_eq!(last["tasks"], 4);
    assert_eq!(named(&events, "task_started").len(), 4);
    let finished = named(&events, "task_finished");
    assert_eq!(finished.len(), 4);
    assert_eq!(finished.last().unwrap()["id"], "slow");
    assert_eq!(finished[0]["value"].as_str().map(|v| v.len()), Some(1));
}

#[test]
fn retries_failures_and_skips_are_events() {
    let dir = project(
        "events-retry",
        r#"
let flaky = sh("n=$(cat counter 2>/dev/null || echo 0); n=$((n+1)); echo $n > counter; [ $n -ge 3 ] || exit 7") retry 2
let bad = sh("exit 4")
let after_bad = sh("echo ${bad}")
let big = sh("head -c 5000 /dev/zero | tr '\\0' x")
[flaky, after_bad, big]
"#,
    );
    let out = flow(
        &dir,
        &["run", "-q", "-k", "--events", "ev.ndjson", "main.flow"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // The result still goes to stdout when the events go to a file.
    let result: Value = serde_json::from_slice(&out.stdout).expect("the result on stdout");
    assert_eq!(result[0], "");
    let events = parse(&std::fs::read_to_string(dir.join("ev.ndjson")).unwrap());
    let retried = named(&events, "task_retried");
    assert_eq!(retried.len(), 2);
    for (i, r) in retried.iter().enumerate() {
        assert_eq!(r["id"], "flaky");
        assert_eq!(r["agent"], "sh");
        assert_eq!(r["attempt"], i + 1);
        assert_eq!(r["status"], "failed");
        assert_eq!(r["exit_code"], 7);
        assert!(r["error"].as_str().unwrap().contains("status 7"), "{r}");
    }
    let place = |name: &str, id: &str| {
        (events.iter())
            .position(|e| e["event"] == name && e["id"] == id)
            .unwrap_or_else(|| panic!("no {name} of {id}"))
    };
    let finished = &events[place("task_finished", "flaky")];
    assert_eq!(finished["attempts"], 3);
    assert!(place("task_started", "flaky") < place("task_retried", "flaky"));
    assert!(place("task_retried", "flaky") < place("task_finished", "flaky"));
    let failed = &events[place("task_failed", "bad")];
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("status 4"));
    let skipped = &events[place("task_skipped", "after_bad")];
    assert_eq!(skipped["attempts"], 0);
    assert!(skipped["error"].as_str().unwrap().contains("`bad` failed"));
    // A big value is measured, not copied.
    let big = &events[place("task_finished", "big")];
    assert!(big.get("value").is_none());
    assert_eq!(big["value_bytes"], 5002);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["exit_code"], 1);
    assert_eq!(last["retries"], 2);
    assert_eq!(last["counts"]["failed"], 1);
    assert_eq!(last["counts"]["skipped"], 1);
    assert_eq!(last["counts"]["succeeded"], 2);
    assert!(last["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("bad"));
}

#[test]
fn a_script_that_does_not_compile_ends_the_stream_at_once() {
    let dir = project("events-invalid", "let a = nope(1)\na\n");
    let out = flow(&dir, &["run", "--events", "-", "main.flow"]);
    assert_eq!(out.status.code(), Some(3));
    let events = parse(&text(&out.stdout));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "run_finished");
    assert_eq!(events[0]["status"], "invalid");
    assert_eq!(events[0]["exit_code"], 3);
    assert!(!events[0]["errors"].as_array().unwrap().is_empty());
    // Two documents on one stdout is a usage error.
    let both = flow(&dir, &["run", "--json", "--events", "-", "main.flow"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(text(&both.stderr).contains("both write to stdout"));
    let nowhere = flow(&dir, &["run", "--events", "no/such/ev.ndjson", "main.flow"]);
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(text(&nowhere.stderr).contains("cannot write the event stream"));
}

/// The library's observer hears of each failed attempt that is retried, from
/// the task as it happens, with the run's secrets hidden; no journal needed.
#[test]
fn the_observer_hears_of_retries_with_secrets_hidden() {
    let heard: Arc<Mutex<Vec<flow::Retry>>> = Arc::default();
    let sink = heard.clone();
    let options = flow::RunOptions::new()
        .secret("FLOW_TEST_RETRY_SECRET")
        .observe(move |event| {
            if let flow::Event::Retrying(retry) = event {
                sink.lock().unwrap().push(flow::Retry::clone(retry));
            }
        });
    // Only this test reads this variable.
    std::env::set_var("FLOW_TEST_RETRY_SECRET", "hunter2-retry");
    let outcome = crate::common::run_with(
        "let s = env(\"FLOW_TEST_RETRY_SECRET\")\nfail(\"denied: ${s}\") retry 2 backoff 1ms\n",
        options,
    );
    assert_eq!(outcome.status, flow::RunStatus::Failed);
    let heard = heard.lock().unwrap();
    assert_eq!(
        heard.len(),
        2,
        "the third attempt is the task's end, not a retry"
    );
    assert_eq!(heard[0].attempt, 1);
    assert_eq!(heard[1].attempt, 2);
    assert_eq!(heard[1].backoff, std::time::Duration::from_millis(2));
    for retry in heard.iter() {
        assert_eq!(&*retry.agent, "fail");
        assert_eq!(retry.ended.status, flow::TaskStatus::Failed);
        assert_eq!(
            retry.ended.error.as_deref(),
            Some("denied: ***"),
            "{retry:?}"
        );
    }
}
