//! The `sh` backend, with real child processes.
//!
//! Processes of a test are found through a marker variable in their environment
//! (`/proc/PID/environ`), so a check for leftovers also sees any that left the group.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flow::exec::local::{run, LocalOptions};
use flow::exec::{CommandSpec, ExecError};
use flow::shell::{quote, quote_value};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::common::{or_hang, scratch, wait_until_async};

fn command(cmd: &str) -> CommandSpec {
    CommandSpec {
        cmd: cmd.to_string(),
        ..CommandSpec::default()
    }
}

fn context(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

async fn sh(cmd: &str) -> Result<Value, ExecError> {
    run(
        &command(cmd),
        &LocalOptions::default(),
        &CancellationToken::new(),
    )
    .await
}

/// A command carrying a marker unique to this test run, and the marker.
fn marked(cmd: &str) -> (CommandSpec, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mark = format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut command = command(cmd);
    command.env.push(("FLOW_TEST_MARK".into(), mark.clone()));
    (command, mark)
}

/// The live (not zombie) processes whose environment holds the marker.
fn live(mark: &str) -> Vec<u32> {
    states(mark)
        .into_iter()
        .filter(|(_, state)| state != "Z" && state != "X")
        .map(|(pid, _)| pid)
        .collect()
}

/// The processes whose environment holds the marker, with their state
/// (`R`, `S`, `T` for stopped, `Z` for a zombie…).
fn states(mark: &str) -> Vec<(u32, String)> {
    let needle = format!("FLOW_TEST_MARK={mark}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !environ
            .split(|&b| b == 0)
            .any(|var| var == needle.as_bytes())
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // the state follows the command name, which is in parentheses and may hold anything
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if let Some(state) = state {
            pids.push((pid, state.to_string()));
        }
    }
    pids
}

/// Waits until `count` live processes carry the marker.
async fn wait_for_live(mark: &str, count: usize) {
    wait_until_async(&format!("{count} processes marked {mark}"), || {
        live(mark).len() == count
    })
    .await;
}

/// Cancels `cancel` once `count` live processes carry `mark`, in the background.
fn cancel_when_live(
    cancel: &CancellationToken,
    mark: &str,
    count: usize,
) -> tokio::task::JoinHandle<()> {
    let (cancel, mark) = (cancel.clone(), mark.to_string());
    tokio::spawn(async move {
        wait_for_live(&mark, count).await;
        cancel.cancel();
    })
}

#[tokio::test]
async fn stdout_is_text_never_parsed() {
    assert_eq!(
        sh(r#"echo '{"a": [1, true]}'"#).await.unwrap(),
        json!(r#"{"a": [1, true]}"#)
    );
    assert_eq!(sh("echo 42").await.unwrap(), json!("42"));
    assert_eq!(sh("echo 1.10").await.unwrap(), json!("1.10"));
    assert_eq!(sh("echo '\"quoted\"'").await.unwrap(), json!("\"quoted\""));
}

/// The text a command printed, parsed as JSON.
fn parsed(out: &Value) -> Value {
    serde_json::from_str(out.as_str().expect("text")).expect("JSON text")
}

#[tokio::test]
async fn stdout_is_text_without_one_final_newline() {
    assert_eq!(sh("echo hello world").await.unwrap(), json!("hello world"));
    assert_eq!(sh("printf 'a\\n\\n'").await.unwrap(), json!("a\n"));
    assert_eq!(sh("printf a").await.unwrap(), json!("a"));
    assert_eq!(sh("printf '1 2\\n'").await.unwrap(), json!("1 2"));
}

#[tokio::test]
async fn empty_stdout_is_the_empty_string() {
    assert_eq!(sh("true").await.unwrap(), json!(""));
}

#[tokio::test]
async fn invalid_utf8_stdout_is_replaced_not_an_error() {
    assert_eq!(sh(r"printf '\377ok'").await.unwrap(), json!("\u{FFFD}ok"));
}

#[tokio::test]
async fn context_is_json_on_stdin() {
    let mut cmd = command("cat");
    cmd.context = context(json!({"name": "x", "n": 3, "list": [1, {"k": null}]}));
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        parsed(&out),
        json!({"name": "x", "n": 3, "list": [1, {"k": null}]})
    );

    assert_eq!(sh("cat").await.unwrap(), json!("{}"));
}

#[tokio::test]
async fn context_keys_are_env_vars() {
    let mut cmd = command(r#"printf '%s|%s|%s' "$name" "$n" "$obj""#);
    cmd.context = context(json!({"name": "it's me", "n": 3, "obj": {"a": [1]}}));
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(out, json!(r#"it's me|3|{"a":[1]}"#));
}

#[tokio::test]
async fn context_keys_that_are_not_names_only_go_to_stdin() {
    let mut cmd = command("env | grep -c -e '^bad-key=' -e '^2x=' -e '^has_nul=' || true");
    cmd.context = context(json!({"bad-key": 1, "2x": 2, "has_nul": "a\u{0}b", "ok": 1}));
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(out, json!("0"));
}

#[tokio::test]
async fn env_config_and_instructions() {
    let mut cmd = command(r#"printf '%s|%s|%s' "$GREETING" "$FLOW_INSTRUCTIONS" "$x""#);
    cmd.env = vec![
        ("GREETING".into(), "hi".into()),
        ("x".into(), "from config".into()),
    ];
    cmd.instructions = Some("be brief\nplease".into());
    cmd.context = context(json!({"x": "from context"}));
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(out, json!("hi|be brief\nplease|from config"));

    assert_eq!(
        sh(r#"printf '%s' "${FLOW_INSTRUCTIONS-unset}""#)
            .await
            .unwrap(),
        json!("unset")
    );
}

#[tokio::test]
async fn inherits_the_environment() {
    assert!(std::env::var_os("PATH").is_some());
    assert_eq!(
        sh(r#"[ -n "$PATH" ] && echo yes"#).await.unwrap(),
        json!("yes")
    );
}

#[tokio::test]
async fn a_captured_environment_is_what_commands_inherit() {
    use flow::exec::local::Environment;
    let captured = Environment::capture();
    // set after the capture (std's lock makes this safe beside other tests'
    // commands, which read the environment through std too)
    std::env::set_var("FLOW_TEST_SET_LATER", "now");
    let with = |environment| LocalOptions {
        environment,
        ..LocalOptions::default()
    };
    let cmd = command("printenv FLOW_TEST_SET_LATER");
    let cancel = CancellationToken::new();
    let fresh = run(&cmd, &with(None), &cancel).await;
    let old = run(&cmd, &with(Some(captured)), &cancel).await;
    std::env::remove_var("FLOW_TEST_SET_LATER");
    assert_eq!(fresh.unwrap(), json!("now"));
    assert_eq!(old.unwrap_err().exit_code(), Some(1));
}

#[tokio::test]
async fn cwd_is_the_working_folder() {
    let mut cmd = command("pwd");
    cmd.cwd = Some("/".into());
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(out, json!("/"));

    cmd.cwd = Some("/no/such/folder".into());
    let error = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(error, ExecError::Spawn { .. }), "{error:?}");
    assert!(error.to_string().contains("/no/such/folder"), "{error}");
}

#[tokio::test]
async fn bad_inputs_fail_to_start_cleanly() {
    let error = sh("echo a\u{0}b").await.unwrap_err();
    assert!(error.to_string().contains("NUL"), "{error}");

    let mut cmd = command("true");
    cmd.env = vec![("A=B".into(), "c".into())];
    let error = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("`A=B`"), "{error}");
}

#[tokio::test]
async fn non_zero_exit_fails_with_the_stderr_tail() {
    let error = sh("echo partial; echo 'first' >&2; echo 'oops: it broke' >&2; exit 3")
        .await
        .unwrap_err();
    assert_eq!(error.exit_code(), Some(3));
    assert_eq!(error.stderr_tail(), Some("first\noops: it broke"));
    assert_eq!(error.to_string(), "command exited with status 3");

    let error = sh("false").await.unwrap_err();
    assert_eq!(error.exit_code(), Some(1));
    assert_eq!(error.stderr_tail(), Some(""));
}

#[tokio::test]
async fn death_by_signal_names_the_signal() {
    let error = sh("echo dying >&2; kill -9 $$").await.unwrap_err();
    assert_eq!(error.signal(), Some("SIGKILL"), "{error:?}");
    assert_eq!(error.stderr_tail(), Some("dying"));
    assert_eq!(error.to_string(), "command killed by SIGKILL");

    let error = sh("kill -USR1 $$").await.unwrap_err();
    assert_eq!(error.signal(), Some("SIGUSR1"), "{error:?}");
}

#[tokio::test]
async fn huge_stdout_over_the_cap_fails_and_kills_the_writer() {
    let opts = LocalOptions {
        max_stdout: 100_000,
        ..LocalOptions::default()
    };
    let (cmd, mark) = marked("yes");
    // `yes` never ends: the call returns only because the cap stopped it.
    let error = or_hang(
        "a call past the cap",
        run(&cmd, &opts, &CancellationToken::new()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, ExecError::StdoutTooLarge { limit: 100_000 }),
        "{error:?}"
    );
    wait_for_live(&mark, 0).await;

    let (cmd, _) = marked("head -c 100000 /dev/zero | tr '\\0' x");
    let out = run(&cmd, &opts, &CancellationToken::new()).await.unwrap();
    assert_eq!(out.as_str().map(str::len), Some(100_000));
}

#[tokio::test]
async fn huge_stderr_keeps_only_the_tail() {
    let opts = LocalOptions {
        stderr_tail: 1000,
        ..LocalOptions::default()
    };
    let cmd = command("yes 'noise' | head -c 6000000 >&2; echo 'the end' >&2; exit 1");
    let error = run(&cmd, &opts, &CancellationToken::new())
        .await
        .unwrap_err();
    let tail = error.stderr_tail().unwrap_or_default();
    assert!(tail.len() <= 1000, "{}", tail.len());
    assert!(tail.len() > 900, "{}", tail.len());
    assert!(tail.ends_with("noise\nthe end"), "{tail}");
}

#[tokio::test]
async fn a_child_that_ignores_a_large_context() {
    let big = "x".repeat(10 << 20);
    for cmd in ["echo ok", "sleep 0.1; echo ok", "exec 0<&-; echo ok"] {
        let mut cmd = command(cmd);
        cmd.context = context(json!({"big": big.clone(), "n": 1}));
        let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(out, json!("ok"));
    }
}

#[tokio::test]
async fn variables_too_big_for_the_environment_are_only_on_stdin() {
    // one over the per-string limit, then enough 100 KiB ones to pass the total budget
    let mut map = Map::new();
    map.insert("huge".into(), json!("h".repeat(200 << 10)));
    for i in 0..20 {
        map.insert(format!("v{i}"), json!("v".repeat(100 << 10)));
    }
    map.insert("small".into(), json!("s"));
    let mut cmd = command(r#"printf '%s %s %s ' "${huge-unset}" "${#v0}" "${v19-unset}"; wc -c"#);
    cmd.context = map.clone();
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    let stdin_size = serde_json::to_string(&map).unwrap().len();
    assert_eq!(out, json!(format!("unset 102400 unset {stdin_size}")));
}

#[tokio::test]
async fn a_large_context_read_back_in_full() {
    let big = "y".repeat(4 << 20);
    let mut cmd = command("wc -c");
    cmd.context = context(json!({"big-one": big}));
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(out, json!(((4 << 20) + 14).to_string()));
}

const NASTY: &[&str] = &[
    "",
    "'",
    "''",
    "a'b",
    "'\\''",
    "\"",
    "\\",
    "\\'",
    "$(touch PWNED)",
    "`touch PWNED`",
    "${HOME}",
    "$HOME",
    "; touch PWNED",
    "&& touch PWNED",
    "| touch PWNED",
    "> PWNED",
    "a\nb\n",
    "\n",
    "\t tab",
    "*",
    "~",
    "!",
    "#comment",
    "-n",
    "--",
    "%s%d",
    "if",
    "A=1",
    "  spaced  out  ",
    "日本語 ✓ 🎉",
    "\u{1}\u{7f}",
];

#[tokio::test]
async fn quoted_text_is_never_shell_syntax() {
    let folder = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sh-quote");
    std::fs::create_dir_all(&folder).unwrap();
    for text in NASTY {
        let mut cmd = command(&format!("printf 'x%sx' {}", quote(text)));
        cmd.cwd = Some(folder.clone());
        let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(out, json!(format!("x{text}x")), "for {text:?}");

        // as the command word too
        let mut cmd = command(&format!("{} 2>/dev/null; true", quote(text)));
        cmd.cwd = Some(folder.clone());
        run(&cmd, &LocalOptions::default(), &CancellationToken::new())
            .await
            .unwrap();
    }
    assert!(!folder.join("PWNED").exists());
}

#[tokio::test]
async fn quoted_values_round_trip() {
    let values = [
        json!("a'b"),
        json!(3),
        json!(null),
        json!({"k": "it's $(x)", "l": [1.5, false]}),
    ];
    for value in values {
        let cmd = command(&format!("printf '%s' {}", quote_value(&value)));
        let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
            .await
            .unwrap();
        match &value {
            Value::String(text) => assert_eq!(out, json!(text)),
            other => assert_eq!(parsed(&out), *other),
        }
    }
}

#[tokio::test]
async fn cancellation_returns_promptly() {
    // sleep dies of SIGTERM at once: the call does not wait for the grace,
    // an hour here, so that waiting for it would trip the hang guard
    let opts = LocalOptions {
        kill_grace: Duration::from_secs(3600),
        ..LocalOptions::default()
    };
    let (cmd, mark) = marked("sleep 3600");
    let cancel = CancellationToken::new();
    let watcher = cancel_when_live(&cancel, &mark, 1);
    let error = or_hang("a cancelled call", run(&cmd, &opts, &cancel))
        .await
        .unwrap_err();
    assert!(matches!(error, ExecError::Cancelled { .. }), "{error:?}");
    watcher.await.unwrap();
    wait_for_live(&mark, 0).await;
}

#[tokio::test]
async fn an_already_cancelled_token_starts_nothing() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let (cmd, mark) = marked("sleep 3600");
    let error = run(&cmd, &LocalOptions::default(), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(error, ExecError::Cancelled { .. }));
    assert!(live(&mark).is_empty());
}

#[tokio::test]
async fn cancellation_kills_grandchildren() {
    let (cmd, mark) = marked("sleep 3600 & sleep 3600");
    let cancel = CancellationToken::new();
    // the shell and both sleeps
    let watcher = cancel_when_live(&cancel, &mark, 3);
    let error = or_hang(
        "a cancelled call",
        run(&cmd, &LocalOptions::default(), &cancel),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ExecError::Cancelled { .. }), "{error:?}");
    watcher.await.unwrap();
    wait_for_live(&mark, 0).await;
}

/// Runs `cmd` after `{late}` in it is replaced by a file path, and checks that
/// the call returned `done` before that file existed: the leftover that would
/// write it after `sleep 30` was not waited for, and is gone afterwards.
async fn leftover_is_not_waited_for(cmd: &str) {
    let late = scratch("sh-leftover").join("late");
    let (cmd, mark) = marked(&cmd.replace("{late}", &quote(&late.to_string_lossy())));
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(out, json!("done"));
    assert!(!late.exists(), "the call waited for the leftover");
    wait_for_live(&mark, 0).await;
    assert!(!late.exists(), "the leftover outlived the call");
}

#[tokio::test]
async fn leftover_background_process_holding_stdout_does_not_keep_the_task() {
    leftover_is_not_waited_for("(sleep 30; touch {late}) & echo done").await;
}

#[tokio::test]
async fn leftover_background_process_with_closed_pipes_is_killed() {
    leftover_is_not_waited_for("(sleep 30; touch {late}) </dev/null >/dev/null 2>&1 & echo done")
        .await;
}

#[tokio::test]
async fn a_command_that_closes_its_output_early_is_waited_for() {
    let exited = scratch("sh-early-close").join("exited");
    let error = sh(&format!(
        "echo out; exec >&- 2>&-; sleep 0.3; touch {}; exit 3",
        quote(&exited.to_string_lossy())
    ))
    .await
    .unwrap_err();
    assert_eq!(error.exit_code(), Some(3), "{error}");
    // the call returned after what the shell did once its output was closed
    assert!(exited.exists());
}

#[tokio::test]
async fn output_of_a_leftover_within_the_drain_is_kept() {
    let out = sh("(sleep 0.02; echo late) & echo early").await.unwrap();
    assert_eq!(out, json!("early\nlate"));
}

#[tokio::test]
async fn a_child_ignoring_sigterm_is_killed_after_the_grace() {
    let opts = LocalOptions {
        kill_grace: Duration::from_millis(300),
        ..LocalOptions::default()
    };
    let (cmd, mark) = marked("trap '' TERM; sleep 3600 & sleep 3600");
    let cancel = CancellationToken::new();
    let watcher = cancel_when_live(&cancel, &mark, 3);
    let error = or_hang("a call ignoring SIGTERM", run(&cmd, &opts, &cancel))
        .await
        .unwrap_err();
    assert!(matches!(error, ExecError::Cancelled { .. }), "{error:?}");
    watcher.await.unwrap();
    wait_for_live(&mark, 0).await;
}

/// A shell that does not exit on SIGTERM (it notes it and goes on) is not
/// killed during the grace: it is still there once it has seen the signal,
/// and the call returns only after it ended by itself, when told to.
#[tokio::test]
async fn the_grace_period_is_waited_for_a_child_ignoring_sigterm() {
    let opts = LocalOptions {
        kill_grace: Duration::from_secs(3600),
        ..LocalOptions::default()
    };
    let dir = scratch("sh-grace");
    let file = |name: &str| dir.join(name);
    let (cmd, mark) = marked(&format!(
        "trap 'touch {got}' TERM; touch {ready}; while [ ! -e {release} ]; do sleep 0.01; done; touch {ended}",
        got = quote(&file("got-term").to_string_lossy()),
        ready = quote(&file("ready").to_string_lossy()),
        release = quote(&file("release").to_string_lossy()),
        ended = quote(&file("ended").to_string_lossy()),
    ));
    let cancel = CancellationToken::new();
    let watcher = {
        let (cancel, mark, dir) = (cancel.clone(), mark.clone(), dir.clone());
        tokio::spawn(async move {
            // Cancelled only once the trap is set (before, SIGTERM would end
            // the shell as it should).
            wait_until_async("the shell's trap", || dir.join("ready").exists()).await;
            cancel.cancel();
            wait_until_async("SIGTERM", || dir.join("got-term").exists()).await;
            assert!(!live(&mark).is_empty(), "killed without a grace");
            std::fs::write(dir.join("release"), "").unwrap();
        })
    };
    let error = or_hang("a call in its grace", run(&cmd, &opts, &cancel))
        .await
        .unwrap_err();
    assert!(matches!(error, ExecError::Cancelled { .. }), "{error:?}");
    watcher.await.unwrap();
    assert!(
        file("ended").exists(),
        "the call did not wait for the shell"
    );
    wait_for_live(&mark, 0).await;
}

#[tokio::test]
async fn dropping_the_future_kills_the_group() {
    let (cmd, mark) = marked("sleep 3600 & sleep 3600");
    let opts = LocalOptions::default();
    let cancel = CancellationToken::new();
    let running = run(&cmd, &opts, &cancel);
    let watch = wait_for_live(&mark, 3);
    tokio::select! {
        result = running => panic!("finished: {result:?}"),
        () = watch => {}
    }
    // the select dropped the run future
    wait_for_live(&mark, 0).await;
}

#[tokio::test]
async fn cancelling_a_stopped_child_does_not_wait_for_the_grace() {
    // an hour: waiting for it would trip the hang guard
    let opts = LocalOptions {
        kill_grace: Duration::from_secs(3600),
        ..LocalOptions::default()
    };
    let (cmd, mark) = marked("kill -STOP $$; sleep 3600");
    let cancel = CancellationToken::new();
    let watcher = {
        let (cancel, mark) = (cancel.clone(), mark.clone());
        tokio::spawn(async move {
            wait_until_async("the shell to stop", || {
                states(&mark).iter().any(|(_, state)| state == "T")
            })
            .await;
            cancel.cancel();
        })
    };
    let error = or_hang("a stopped call", run(&cmd, &opts, &cancel))
        .await
        .unwrap_err();
    assert!(matches!(error, ExecError::Cancelled { .. }), "{error:?}");
    watcher.await.unwrap();
    wait_for_live(&mark, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_at_once() {
    let cancel = CancellationToken::new();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let mut cmd = command("cat; printf ' %s' \"$i\"");
            cmd.context = context(json!({ "i": i }));
            let cancel = cancel.clone();
            tokio::spawn(async move { run(&cmd, &LocalOptions::default(), &cancel).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(
            task.await.unwrap().unwrap(),
            json!(format!("{{\"i\":{i}}} {i}"))
        );
    }
}

#[tokio::test]
async fn dropping_the_future_while_spawning_kills_the_group() {
    let (cmd, mark) = marked("sleep 3600 & sleep 3600");
    let opts = LocalOptions::default();
    let cancel = CancellationToken::new();
    // polled once, so the child has just started, then dropped
    let polled_once = tokio::time::timeout(Duration::ZERO, run(&cmd, &opts, &cancel)).await;
    assert!(polled_once.is_err());
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_for_live(&mark, 0).await;
}

#[tokio::test]
async fn extreme_options_do_not_panic() {
    let opts = LocalOptions {
        max_stdout: usize::MAX,
        stderr_tail: usize::MAX,
        kill_grace: Duration::MAX,
        drain: Duration::MAX,
        environment: None,
    };
    let out = run(
        &command("echo out; echo err >&2"),
        &opts,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(out.unwrap(), json!("out"));

    let opts = LocalOptions {
        max_stdout: 0,
        stderr_tail: 0,
        kill_grace: Duration::ZERO,
        drain: Duration::ZERO,
        environment: None,
    };
    assert_eq!(
        run(&command("true"), &opts, &CancellationToken::new())
            .await
            .unwrap(),
        json!("")
    );
    let error = run(&command("echo x"), &opts, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ExecError::StdoutTooLarge { limit: 0 }),
        "{error:?}"
    );
    let error = run(
        &command("echo x >&2; exit 4"),
        &opts,
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.stderr_tail(), Some(""));
}

#[tokio::test]
async fn plain_programs_run_without_a_shell_and_behave_the_same() {
    // `printenv` is a plain program: exec'd directly, with the context in its environment.
    let cmd = CommandSpec {
        cmd: "printenv name".to_string(),
        context: context(json!({ "name": "direct" })),
        ..CommandSpec::default()
    };
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new()).await;
    assert_eq!(out.unwrap(), json!("direct"));
    // It runs in its working folder, and `PWD` says so, as in a shell.
    let cmd = CommandSpec {
        cmd: "printenv PWD".to_string(),
        cwd: Some("/tmp".into()),
        ..CommandSpec::default()
    };
    let out = run(&cmd, &LocalOptions::default(), &CancellationToken::new()).await;
    assert_eq!(out.unwrap(), json!("/tmp"));
    // Its first argument is the name as written, as the shell would pass it.
    assert_eq!(
        sh("cat /proc/self/cmdline").await.unwrap(),
        json!("cat\u{0}/proc/self/cmdline\u{0}")
    );
    // A program that does not exist is reported by the shell, as before.
    let err = sh("no-such-program-flow-test --flag").await.unwrap_err();
    assert_eq!(err.exit_code(), Some(127), "{err}");
    assert!(
        err.stderr_tail().unwrap_or("").contains("not found"),
        "{err:?}"
    );
    // Shell syntax still goes through the shell.
    assert_eq!(sh("x=3; echo $((x + 1))").await.unwrap(), json!("4"));
    assert_eq!(sh("exit 3").await.unwrap_err().exit_code(), Some(3));
}
