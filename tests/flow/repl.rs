//! The REPL: piped sessions through `flow repl`, the session core driven
//! directly (cancellation), and one session through a pseudo-terminal.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flow::cli::repl::{EntryOutcome, RunControl, Session, SessionOptions};

use crate::common::{or_hang, processes_marked, unique_mark, wait_until, HANG_GUARD};
use flow::Engine;
use serde_json::{json, Value};

const FLOW: &str = env!("CARGO_BIN_EXE_flow");

/// The session in the run store: one run per session, `:log`, `:why`.
mod store;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("repl")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

/// Pipes `input` into `flow repl` in `dir`.
fn repl_in(dir: &Path, input: &str) -> Run {
    let mut child = Command::new(FLOW)
        .arg("repl")
        .arg("--quiet")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flow starts");
    let mut stdin = child.stdin.take().expect("a stdin pipe");
    stdin
        .write_all(input.as_bytes())
        .expect("the input is written");
    drop(stdin);
    let out = child.wait_with_output().expect("flow finishes");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn repl(name: &str, input: &str) -> Run {
    repl_in(&scratch(name), input)
}

/// The pretty-printed JSON documents of stdout, skipping `name = preview` lines
/// and command output.
fn values(stdout: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut rest = stdout;
    while !rest.is_empty() {
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..line_end];
        let starts_value = line
            .chars()
            .next()
            .is_some_and(|c| "{[\"-0123456789tfn".contains(c))
            && !line.contains(" = ");
        if starts_value {
            let mut it = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
            if let Some(Ok(v)) = it.next() {
                found.push(v);
                rest = &rest[it.byte_offset()..];
                rest = rest.strip_prefix('\n').unwrap_or(rest);
                continue;
            }
        }
        rest = &rest[line_end..];
    }
    found
}

#[test]
fn agents_map_and_gate() {
    let run = repl(
        "agents",
        r#"agent E = echo()
E(x: 1)
let items = map i in range(3) { E(i: i * 10) }
items[2].i
let checks = gate {
  lint: E(ok: true) where lint.ok,
  test: sh("echo 7", output: "json") where test == 7,
}
checks.test
"#,
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(
        values(&run.stdout),
        vec![json!({"x": 1}), json!(20), json!(7)]
    );
    assert!(
        run.stdout
            .contains(r#"items = [{"i":0},{"i":10},{"i":20}]"#),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failed_gate_lists_each_check_and_binds_nothing() {
    let run = repl(
        "gate_fails",
        r#"agent E = echo()
let g = gate { a: E(n: 1) where a.n > 5, b: fail("broken") }
g
"#,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("flow::runtime::gate_failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cannot find `g`"), "{}", run.stderr);
}

#[test]
fn multi_line_entries_continue_while_open() {
    let run = repl(
        "multi",
        r#"let doubled = map n in [1, 2, 3] {
  let twice = n * 2
  twice
}
let cfg = {
  name: "x",
  sizes: [
    1,
    2,
  ],
}
let text = """
    first
    second
    """
{ d: doubled, c: cfg.sizes, lines: len(split(trim(text), "\n")) }
"#,
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(
        values(&run.stdout),
        vec![json!({"d": [2, 4, 6], "c": [1, 2], "lines": 2})]
    );
}

#[test]
fn errors_leave_the_session_intact() {
    let run = repl(
        "errors",
        r#"let a = 41
let b = 1 +* 2
let c = nothing_here + 1
let f = sh("exit 3")
a + 1
f
"#,
    );
    assert_eq!(run.code, 1);
    assert_eq!(values(&run.stdout), vec![json!(42)]);
    for code in [
        "flow::syntax::unexpected_token",
        "flow::check::undefined_name",
        "flow::runtime::task_failed",
    ] {
        assert!(run.stderr.contains(code), "no {code} in {}", run.stderr);
    }
    // Each error is shown against its own entry, not the session's text.
    assert!(run.stderr.contains("entry 4:1:9"), "{}", run.stderr);
    // `f` failed, so it is not bound.
    assert!(run.stderr.contains("cannot find `f`"), "{}", run.stderr);
}

#[test]
fn a_clean_session_exits_zero_and_a_bad_command_one() {
    assert_eq!(repl("clean", "1 + 1\n:help\n").code, 0);
    let run = repl("bad_command", ":grpah\n");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("did you mean `:graph`?"),
        "{}",
        run.stderr
    );
    let run = repl("open", "let x = [1, 2\n");
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("unclosed_delimiter"), "{}", run.stderr);
    // An entry is not a file.
    assert!(
        run.stderr.contains("the entry ends here") && !run.stderr.contains("file"),
        "{}",
        run.stderr
    );
}

#[test]
fn redefinition_replaces_and_declarations_persist() {
    let run = repl(
        "redefine",
        r#"param greeting = "hi"
agent E = echo()
flow twice(v) {
  let one = E(v: v)
  E(v: one.v * 2)
}
let x = 1
let x = x + 1
twice(v: x)
agent E = sh("echo 5", output: "json")
E()
"${greeting}!"
:vars
"#,
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(
        values(&run.stdout),
        vec![json!({"v": 4}), json!(5), json!("hi!")]
    );
    assert!(
        run.stdout.contains("param greeting = \"hi\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("x = 2"), "{}", run.stdout);
}

#[test]
fn commands_vars_agents_graph_reset() {
    let run = repl(
        "commands",
        r#"agent Fetch = echo() limit 2
let pages = map p in ["a", "b"] { Fetch(page: p) }
:vars
:agents
:graph
:graph pages
:graph nope
:reset
:vars
pages
"#,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains(r#"pages = [{"page":"a"},{"page":"b"}]"#),
        "{out}"
    );
    assert!(out.contains("Fetch  echo() limit 2"), "{out}");
    assert!(
        out.contains("script:\n  pages: map\n    each item:\n      (result): task Fetch"),
        "{out}"
    );
    assert!(out.contains("no values yet"), "{out}");
    assert!(
        run.stderr.contains("no binding named `nope`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cannot find `pages`"), "{}", run.stderr);
}

#[test]
fn save_then_run_gives_the_same_result() {
    let dir = scratch("save");
    let run = repl_in(
        &dir,
        r#"agent E = echo()
param n = 3
let squares = map i in range(n) { E(sq: i * i) }
let bad = sh("exit 2")
let total = sum(map s in squares { s.sq })
flow label(v) { E(text: "total ${v}") }
label(v: total)
:save saved.flow
"#,
    );
    assert_eq!(run.code, 1, "the failed entry counts: {}", run.stderr);
    let last = values(&run.stdout).pop().expect("a value");
    assert_eq!(last, json!({"text": "total 5"}));
    let saved = std::fs::read_to_string(dir.join("saved.flow")).expect("the saved script");
    assert!(
        !saved.contains("exit 2"),
        "failed entries are not saved:\n{saved}"
    );
    let out = Command::new(FLOW)
        .args(["run", "--quiet", "saved.flow"])
        .current_dir(&dir)
        .output()
        .expect("flow run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(result, last);
}

#[test]
fn load_runs_a_file_into_the_session() {
    let dir = scratch("load");
    std::fs::write(
        dir.join("lib.flow"),
        "agent E = echo()\nlet base = E(v: 10)\nflow add(x) { E(v: x + 1) }\n",
    )
    .expect("a file");
    std::fs::write(dir.join("broken.flow"), "let y = missing\n").expect("a file");
    let run = repl_in(
        &dir,
        ":load lib.flow\nadd(x: base.v)\n:load broken.flow\n:load nowhere.flow\nbase.v\n",
    );
    assert_eq!(run.code, 1);
    assert_eq!(values(&run.stdout), vec![json!({"v": 11}), json!(10)]);
    // Problems in a loaded file point into that file.
    assert!(run.stderr.contains("broken.flow:1:9"), "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot read `nowhere.flow`"),
        "{}",
        run.stderr
    );
}

/// A pid written by a shell task, once it is there.
fn wait_for_pid(path: &Path) -> i32 {
    let mut pid = None;
    wait_until(&format!("a pid in {}", path.display()), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap()
}

fn alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; look at its state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_string()))
        .is_some_and(|state| !state.starts_with('Z'))
}

#[tokio::test]
async fn cancelling_an_entry_kills_its_process_and_keeps_the_session() {
    let dir = scratch("cancel");
    let pidfile = dir.join("pid");
    let mut session = Session::new(Engine::new(), SessionOptions::default());
    let ctl = RunControl::default();
    let first = session.eval_entry("entry 1", "let kept = 5", &ctl).await;
    assert!(matches!(first, EntryOutcome::Done { .. }), "{first:?}");

    let ctl = RunControl::default();
    let cancel = ctl.cancel.clone();
    let watcher = {
        let pidfile = pidfile.clone();
        tokio::task::spawn_blocking(move || {
            let pid = wait_for_pid(&pidfile);
            cancel.cancel();
            pid
        })
    };
    let entry = format!(
        "let slow = sh(\"echo $$ > '{}'; exec sleep 3600\")",
        pidfile.display()
    );
    // Not cancelled, the entry would wait for its hour-long `sleep`.
    let outcome = or_hang(
        "a cancelled entry",
        session.eval_entry("entry 2", &entry, &ctl),
    )
    .await;
    match &outcome {
        EntryOutcome::Cancelled { running } => assert_eq!(running, &["slow".to_string()]),
        other => panic!("expected a cancelled entry, got {other:?}"),
    }
    let pid = watcher.await.expect("the watcher");
    wait_until(&format!("the end of the entry's sleep ({pid})"), || {
        !alive(pid)
    });

    // Back at the prompt: the session is as it was.
    assert!(session.value("slow").is_none());
    let ctl = RunControl::default();
    match session.eval_entry("entry 3", "kept * 2", &ctl).await {
        EntryOutcome::Done { value, .. } => assert_eq!(value.as_deref(), Some(&json!(10))),
        other => panic!("expected a value, got {other:?}"),
    }
}

/// Output of a process, collected by a thread.
struct Pty {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    output: Arc<Mutex<String>>,
}

impl Pty {
    /// `flow repl ARGS` in `dir` through a real pseudo-terminal (util-linux
    /// `script`), with its history in `dir/data`. `script` runs the command
    /// with `$SHELL -c`; `exec` makes flow the terminal's only foreground
    /// process (dash forks, and Ctrl-C would then kill the shell, whose exit
    /// status `script -e` reports).
    fn start(dir: &Path, args: &str) -> Pty {
        let mut child = Command::new("script")
            .args(["-qfec", &format!("exec {FLOW} repl {args}"), "/dev/null"])
            .current_dir(dir)
            .env("SHELL", "/bin/sh")
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("TERM", "xterm")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script starts");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let output = Arc::new(Mutex::new(String::new()));
        {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut out) = output.lock() {
                        out.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        Pty {
            child,
            stdin,
            output,
        }
    }

    /// Sends `:quit` and waits for a clean exit.
    fn quit(&mut self) {
        self.send(":quit\r");
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(status) = self.child.try_wait().expect("the status") {
                assert!(status.success(), "flow repl exited with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("hang guard: `:quit` did not end the REPL");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the output after `from` contains `text`; returns where it ends.
    fn expect(&self, text: &str, from: usize) -> usize {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            {
                let out = self.output.lock().expect("the output");
                if let Some(i) = out.get(from..).and_then(|rest| rest.find(text)) {
                    return from + i + text.len();
                }
                if Instant::now() > deadline {
                    panic!("hang guard: no {text:?} in the terminal output:\n{}", &*out);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, keys: &str) {
        self.stdin
            .write_all(keys.as_bytes())
            .expect("keys are sent");
        self.stdin.flush().expect("keys are sent");
    }
}

/// Through a real pseudo-terminal (util-linux `script`): a value, Tab
/// completion, a continuation dropped with Ctrl-C, Ctrl-C on a running
/// `sleep`, then `:quit`.
#[test]
fn a_terminal_session() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let dir = scratch("pty");
    let mut pty = Pty::start(&dir, "");
    let at = pty.expect("flow> ", 0);
    pty.send("[1, 2].length_is\r");
    let at = pty.expect("flow> ", at);
    pty.send("len([1, 2]) + 40\r");
    let at = pty.expect("42", at);
    pty.send("let started = ra\t");
    let at = pty.expect("range", at);
    pty.send("(2)\r");
    let at = pty.expect("started = [0,1]", at);
    // An open bracket continues the entry; Ctrl-C at the prompt drops it.
    pty.send("let abandoned = [1,\r");
    let at = pty.expect("  ... ", at);
    pty.send("\x03");
    let at = pty.expect("flow> ", at);
    pty.send("abandoned\r");
    let at = pty.expect("cannot find `abandoned`", at);
    let mark = unique_mark("pty-sleep");
    pty.send(&format!("let s = sh(\"sleep 30\", mark: \"{mark}\")\r"));
    // Ctrl-C once the entry runs (rustyline has given the terminal back).
    wait_until("the entry's `sleep`", || {
        !processes_marked(&mark).is_empty()
    });
    pty.send("\x03");
    let at = pty.expect("interrupted: cancelled 1 running task(s): s", at);
    let at = pty.expect("flow> ", at);
    pty.send("started\r");
    let at = pty.expect("1\r\n]", at);
    pty.expect("flow> ", at);
    pty.quit();
    let history = std::fs::read_to_string(dir.join("data/flow/history")).expect("the history");
    assert!(history.contains("len([1, 2]) + 40"), "{history}");
}

#[test]
fn a_failed_entry_binds_none_of_its_statements() {
    let run = repl(
        "all_or_nothing",
        "let a = 1; let b = sh(\"exit 1\")\na\nb\nlet a = 2; a * 10\na\n",
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot find `a`"), "{}", run.stderr);
    assert!(run.stderr.contains("cannot find `b`"), "{}", run.stderr);
    assert_eq!(values(&run.stdout), vec![json!(20), json!(2)]);
}

/// The README's REPL transcript: the `flow> ` lines typed, the rest printed.
#[test]
fn the_readme_session_prints_what_it_shows() {
    let readme = std::fs::read_to_string(crate::common::root().join("README.md")).expect("README");
    let section = readme.split("## The REPL").nth(1).expect("a REPL section");
    let transcript = section
        .split("```text\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a transcript");
    let mut input = String::new();
    let mut expected = String::new();
    for line in transcript.lines() {
        match line.strip_prefix("flow> ") {
            Some(entry) => {
                input.push_str(entry);
                input.push('\n');
            }
            None => {
                expected.push_str(line);
                expected.push('\n');
            }
        }
    }
    let run = repl("readme", &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, expected);
}

#[test]
fn an_error_inside_an_earlier_flow_points_into_its_entry() {
    let run = repl(
        "flow_error",
        "let unrelated = 1\nflow boom(code) {\n  sh(\"exit ${code}\")\n}\nboom(code: 4)\n",
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("task `boom` (sh) failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("entry 2:2:3"), "{}", run.stderr);
}

#[tokio::test]
async fn the_session_core_takes_host_agents_and_commands() {
    use flow::cli::repl::{handle, Reply};
    use flow::{AgentError, Call};

    let engine = Engine::new().agent("Upper", |call: Call| async move {
        let text = call
            .context
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("");
        Ok::<_, AgentError>(json!(text.to_uppercase()))
    });
    let mut session = Session::new(engine, SessionOptions::default());
    let ctl = RunControl::default();
    match handle(&mut session, "let loud = Upper(text: \"hi\")\n", &ctl).await {
        Reply::Entry(EntryOutcome::Done { bound, .. }) => {
            assert_eq!(bound[0].name, "loud");
            assert_eq!(bound[0].value.as_deref(), Some(&json!("HI")));
        }
        other => panic!("expected a binding, got {other:?}"),
    }
    match handle(&mut session, ":agents", &ctl).await {
        Reply::Text(text) => assert!(text.contains("Upper  host agent"), "{text}"),
        other => panic!("expected text, got {other:?}"),
    }
    assert!(matches!(
        handle(&mut session, ":q", &ctl).await,
        Reply::Quit
    ));
    assert!(session.names().contains(&"loud".to_string()));
    session.reset();
    assert!(session.value("loud").is_none());
}

#[test]
fn save_keeps_replaced_bindings_that_were_read_under_fresh_names() {
    let dir = scratch("save_rebind");
    let run = repl_in(
        &dir,
        r#"agent E = echo()
let x = 1
let unused = x * 100
let y = map i in range(x + 1) { E(v: i + x) }
let unused = 0
let x = 5
let z = len(y) + x
:save saved.flow
:graph
"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let saved = std::fs::read_to_string(dir.join("saved.flow")).expect("the saved script");
    assert!(saved.contains("let x_1 = 1\n"), "{saved}");
    assert!(
        saved.contains("range(x_1 + 1) { E(v: i + x_1) }"),
        "{saved}"
    );
    assert!(
        !saved.contains("x * 100"),
        "a replaced binding nothing reads is left out:\n{saved}"
    );
    assert!(run.stdout.contains("y: map  <- x_1"), "{}", run.stdout);
    let out = Command::new(FLOW)
        .args(["run", "--quiet", "saved.flow"])
        .current_dir(&dir)
        .output()
        .expect("flow run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(
        result,
        json!({"y": [{"v": 1}, {"v": 2}], "unused": 0, "x": 5, "z": 7})
    );
}

/// Lines typed faster than the REPL reads them (ahead of a `...` prompt, or
/// while an entry runs) were dropped: rustyline's read buffer did not outlive
/// one `readline`. Several lines are written to the pseudo-terminal at once.
#[test]
fn typed_ahead_lines_are_not_dropped() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let dir = scratch("pty_typeahead");
    let mut pty = Pty::start(&dir, "--quiet");
    let at = pty.expect("flow> ", 0);
    // A multi-line entry in one write: the continuation lines come at once.
    pty.send("let p = [\r1,\r2]\r");
    let at = pty.expect("p = [1,2]", at);
    // Complete entries in one write, and an open entry whose lines are complete
    // statements on their own.
    pty.send("let q0 = {\rlet q1 = 1\rlet q2 = 2\rq1 + q2 }\rlet r = 10\rlet s = 20\r");
    let at = pty.expect("q0 = 3", at);
    let at = pty.expect("r = 10", at);
    let at = pty.expect("s = 20", at);
    // Typed while an entry runs.
    let mark = unique_mark("pty-slow");
    pty.send(&format!(
        "let slow = sh(\"sleep 1; echo 5\", output: \"json\", mark: \"{mark}\")\r"
    ));
    wait_until("the entry's command", || {
        !processes_marked(&mark).is_empty()
    });
    pty.send("let t = slow + 1\rp[1] + t + r + s\r");
    let at = pty.expect("t = 6", at);
    let at = pty.expect("38", at);
    pty.expect("flow> ", at);
    pty.quit();
}

/// Runs `flow run --quiet FILE ARGS` in `dir`; its JSON result.
fn run_saved(dir: &Path, file: &str, args: &[&str]) -> Value {
    let out = Command::new(FLOW)
        .args(["run", "--quiet", file])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("flow run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// `:save` left out a replaced `agent` that an earlier statement had called,
/// so the saved script called the new one. Each statement is saved with the
/// agents, flows and params it ran against, renamed where they were replaced.
#[test]
fn save_reproduces_redefined_agents_flows_and_params() {
    let session = r#"param p = 2
let q = p * 10
agent E = echo()
flow f(v) { E(v: v, p: p) }
let r = E(v: q)
let a = f(v: 1)
agent E = sh("echo replaced")
let s = E()
let b = f(v: 2)
flow f(v) { { again: v } }
let c = f(v: 3)
param p = 3
let t = p + 1
{ q: q, r: r, a: a, s: s, b: b, c: c, t: t, p: p }
:save saved.flow
"#;
    // Without overrides.
    let dir = scratch("save_redefined");
    let run = repl_in(&dir, session);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value = values(&run.stdout).pop().expect("a value");
    assert_eq!(
        value,
        json!({"q": 20, "r": {"v": 20}, "a": {"v": 1, "p": 2}, "s": "replaced",
               "b": "replaced", "c": {"again": 3}, "t": 4, "p": 3})
    );
    let saved = std::fs::read_to_string(dir.join("saved.flow")).expect("the saved script");
    for line in [
        "param p_1 = 2\nlet q = p_1 * 10\n",
        "agent E_1 = echo()\n",
        "flow f_1(v) { E_1(v: v, p: p_1) }\n",
        "flow f_2(v) { E(v: v, p: p_1) }\n",
        "let r = E_1(v: q)\nlet a = f_1(v: 1)\n",
        "let b = f_2(v: 2)\n",
    ] {
        assert!(saved.contains(line), "no {line:?} in\n{saved}");
    }
    assert_eq!(run_saved(&dir, "saved.flow", &[]), value);

    // With `--param p=7`, which the session applied to both `param p`s.
    let dir = scratch("save_redefined_override");
    let mut child = Command::new(FLOW)
        .args(["repl", "--quiet", "--param", "p=7"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flow starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(session.as_bytes())
        .expect("the input is written");
    let out = child.wait_with_output().expect("flow finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = values(&stdout).pop().expect("a value");
    assert_eq!(value["r"], json!({"v": 70}));
    assert_eq!(value["t"], json!(8));
    assert!(
        stdout.contains("pass --param p_1=7 to `flow run` as well"),
        "{stdout}"
    );
    assert_eq!(
        run_saved(&dir, "saved.flow", &["--param", "p=7", "--param", "p_1=7"]),
        value
    );
}

/// `:save` said how many lines it wrote, not how many statements.
#[test]
fn save_counts_statements_not_lines() {
    let run = repl(
        "save_count",
        "let a = {\n  x: 1,\n  y: 2,\n}\nlet b = 1; let c = 2\n:save one.flow\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("saved 3 statement(s) to one.flow"),
        "{}",
        run.stdout
    );
}

/// The transcript at the top of docs/repl.md prints what it shows (in a
/// folder of three files, for its `ls | wc -l`), `saved 4 statement(s)` included.
#[test]
fn the_repl_docs_session_prints_what_it_shows() {
    let docs = std::fs::read_to_string(crate::common::root().join("docs/repl.md")).expect("docs");
    let transcript = docs
        .split("```text\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a transcript");
    let mut input = String::new();
    let mut expected = String::new();
    for line in transcript.lines().skip_while(|l| !l.starts_with("flow> ")) {
        match line
            .strip_prefix("flow> ")
            .or_else(|| line.strip_prefix("  ... "))
        {
            Some(entry) => {
                input.push_str(entry);
                input.push('\n');
            }
            None => {
                expected.push_str(line);
                expected.push('\n');
            }
        }
    }
    let dir = scratch("docs_session");
    for f in ["a", "b", "c"] {
        std::fs::write(dir.join(f), "").expect("a file");
    }
    let run = repl_in(&dir, &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, expected);
}

/// docs/repl.md said an open `"…"` continues the entry; like a script, it is
/// an error at once, and the next line is an entry of its own. `"""` and an
/// open `${` do continue.
#[test]
fn an_open_plain_string_is_an_error_and_triple_quotes_continue() {
    let run = repl(
        "open_string",
        "let s = \"abc\nlet t = 1\nlet u = \"\"\"\n  x\n  \"\"\"\nlet v = \"${\n1 + 1}\"\n{ t: t, u: u, v: v }\n",
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("flow::syntax::unterminated_string"),
        "{}",
        run.stderr
    );
    assert_eq!(
        values(&run.stdout),
        vec![json!({"t": 1, "u": "x", "v": "2"})]
    );
}

/// `# flow: allow(…)` holds in the REPL: on the line before a statement of
/// the same entry, or as an entry of its own just before.
#[test]
fn allow_comments_hold_in_the_repl() {
    let run = repl(
        "allow",
        "let a = map x in [1] { let unused = 1\n x }\n# flow: allow(unused-binding)\nlet b = map x in [1] { let unused = 1\n x }\nb\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("unused_binding").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("entry 1"), "{}", run.stderr);
}
