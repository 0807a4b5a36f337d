//! A REPL session in the run store: one run of kind `repl` per session,
//! `:log` and `:why` reading it, `--no-store`, a store that cannot be used,
//! and SIGTERM ending the session's run.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{scratch, FLOW};
use crate::common::{flow_command, wait_until, HANG_GUARD};

struct Run {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// Pipes `input` into `flow repl --quiet ARGS` in `dir`.
fn repl(dir: &Path, args: &[&str], input: &str) -> Run {
    let mut child = start(dir, args);
    let mut stdin = child.stdin.take().expect("a stdin pipe");
    stdin.write_all(input.as_bytes()).expect("the input");
    drop(stdin);
    let out = child.wait_with_output().expect("flow finishes");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

fn start(dir: &Path, args: &[&str]) -> Child {
    Command::new(FLOW)
        .arg("repl")
        .arg("--quiet")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("FLOW_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flow starts")
}

/// `flow runs --json` of a store.
fn runs(store: &Path) -> Vec<Value> {
    let out = flow_command()
        .args(["runs", "--json", "--store"])
        .arg(store)
        .output()
        .expect("flow runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc.as_array().cloned().expect("an array")
}

fn store_arg(store: &Path) -> String {
    store.display().to_string()
}

#[test]
fn a_session_is_one_run_and_log_shows_what_a_task_printed() {
    let dir = scratch("store_log");
    let store = dir.join("runs");
    let run = repl(
        &dir,
        &["--store", &store_arg(&store)],
        "let x = sh(\"echo out; echo err >&2\")\n:log x\nlet y = sh(\"echo why\")\n:log\n",
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // `:log x`: both streams of the task, under its header.
    assert!(
        run.stdout.contains("==> x (sh) succeeded in ")
            && run.stdout.contains("--- stdout\nout\n--- stderr\nerr\n"),
        "{}",
        run.stdout
    );
    // `:log`: every task that printed, the second one too.
    assert_eq!(
        run.stdout.matches("==> x (sh)").count(),
        2,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("==> y (sh) succeeded"),
        "{}",
        run.stdout
    );

    // One run of kind `repl`, finished, its two tasks counted.
    let runs = runs(&store);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let r = &runs[0];
    assert_eq!(r["kind"], "repl");
    assert_eq!(r["script"], "(repl)");
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["done"], 2, "{r:#}");
    assert!(r["ended_at"].is_i64(), "{r:#}");

    // `flow log` reads the same run.
    let out = flow_command()
        .args(["log", "--json", "--store", &store_arg(&store), "x"])
        .output()
        .expect("flow log");
    let tasks: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let stream = |name: &str| {
        tasks[0][name]
            .as_str()
            .map(str::trim_end)
            .map(str::to_string)
    };
    assert_eq!(stream("stdout").as_deref(), Some("out"));
    assert_eq!(stream("stderr").as_deref(), Some("err"));

    // A second session is a second run.
    let run = repl(&dir, &["--store", &store_arg(&store)], "sh(\"echo 2\")\n");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(self::runs(&store).len(), 2);
}

#[test]
fn log_and_why_take_the_latest_task_of_an_id() {
    let dir = scratch("store_why");
    let store = dir.join("runs");
    let input = "\
let x = sh(\"echo one\")
let x = sh(\"echo two\")
:log x
:why x
let same = sh(\"echo same\")
let same = sh(\"echo same\")
:why same
let once = sh(\"echo once\")
:why once
let m = map i in range(2) { sh(\"echo ${i}\") }
:why m
:log nope
";
    let run = repl(&dir, &["--store", &store_arg(&store)], input);
    let out = &run.stdout;
    // `:log x` shows the second `x` and says so.
    let log = &out[out.find("==> x").expect("`:log x`")..out.find("x: ran").expect("`:why x`")];
    assert!(log.contains("--- stdout\ntwo\n"), "{log}");
    assert!(!log.contains("one"), "{log}");
    assert!(log.contains("the latest of 2 tasks `x`"), "{log}");
    // `:why` compares it with the earlier `x` of the session.
    assert!(
        out.contains("x: ran (compared with the earlier `x` of this session):\n  - config `cmd` changed: \"echo one\" → \"echo two\"\n"),
        "{out}"
    );
    assert!(
        out.contains("same: ran (compared with the earlier `same` of this session):\n  - its inputs are the same as the earlier one's"),
        "{out}"
    );
    assert!(
        out.contains("once: ran: it is the first `once` of this session; there is no earlier one"),
        "{out}"
    );
    // An unknown id is an error naming the tasks there are; the session goes
    // on, and exits 1 like any failed command: the run is `failed`.
    assert!(
        run.stderr.contains("no task `nope` in this session"),
        "{}",
        run.stderr
    );
    // A map is made of tasks under its name: those are named, not a neighbour.
    assert!(
        run.stderr.contains("`m` is made of tasks: `m[0]`, `m[1]`"),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, Some(1));
    let runs = runs(&store);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[0]["exit_code"], 1);
    assert_eq!(runs[0]["done"], 7);
}

#[test]
fn flow_why_of_a_session_compares_it_with_no_earlier_session() {
    let dir = scratch("store_why_sessions");
    let store = dir.join("runs");
    for command in ["echo one", "echo two"] {
        let run = repl(
            &dir,
            &["--store", &store_arg(&store)],
            &format!("let x = sh(\"{command}\")\n"),
        );
        assert_eq!(run.code, Some(0), "{}", run.stderr);
    }
    let out = flow_command()
        .args(["why", "2", "--store"])
        .arg(&store)
        .output()
        .expect("flow why");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("run 2 is a REPL session: it re-uses nothing of earlier runs"),
        "{said}"
    );
    assert!(
        !said.contains("compared with run 1") && !said.contains("changed"),
        "{said}"
    );
}

#[test]
fn no_store_records_nothing() {
    let dir = scratch("store_none");
    let store = dir.join("runs");
    let run = repl(
        &dir,
        &["--no-store", "--store", &store_arg(&store)],
        "sh(\"echo hi\")\n:log\n",
    );
    assert!(run.stdout.contains("\"hi\""), "{}", run.stdout);
    assert!(
        run.stderr.contains("this session is not recorded"),
        "{}",
        run.stderr
    );
    assert!(!store.exists(), "--no-store created the store");
    assert!(!dir.join(".flow").exists(), "--no-store created .flow");
}

#[test]
fn a_session_without_an_entry_leaves_no_run() {
    let dir = scratch("store_empty");
    let run = repl(&dir, &[], ":help\n:log\n");
    assert!(
        run.stdout.contains("no entry has run in this session yet"),
        "{}",
        run.stdout
    );
    // The default store, `.flow` of the folder, opened but with no run.
    assert!(dir.join(".flow").join("flow.db").exists());
    assert!(runs(&dir.join(".flow")).is_empty());
}

#[test]
fn a_store_that_cannot_be_used_is_said_and_the_session_goes_on() {
    let dir = scratch("store_locked");
    let store = dir.join("locked");
    std::fs::create_dir_all(&store).unwrap();
    set_mode(&store, 0o555);
    let run = repl(&dir, &["--store", "locked"], "sh(\"echo hi\")\n");
    set_mode(&store, 0o755);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("\"hi\""), "{}", run.stdout);
    let stderr = &run.stderr;
    assert!(
        stderr.contains("error: run store `locked`: it is read-only"),
        "{stderr}"
    );
    assert!(stderr.contains("--no-store"), "{stderr}");
    assert!(
        stderr.contains("warning: this session goes on without recording"),
        "{stderr}"
    );
    assert!(!store.join("flow.db").exists());
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A session fed line by line, its stdout collected by a thread.
struct Live {
    child: Child,
    stdout: Arc<Mutex<String>>,
}

impl Live {
    fn start(dir: &Path, store: &Path) -> Live {
        let mut child = start(dir, &["--store", &store_arg(store)]);
        let mut out = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(String::new()));
        let collected = stdout.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                collected.lock().expect("stdout").push_str(&text);
            }
        });
        Live { child, stdout }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(line.as_bytes()).expect("a line");
        stdin.flush().expect("flushed");
    }

    fn wait_for(&self, what: &str, until: impl Fn() -> bool) {
        wait_until(what, until);
    }

    fn printed(&self, text: &str) -> bool {
        self.stdout.lock().expect("stdout").contains(text)
    }

    /// SIGTERM, then the exit code (stdin stays open: the session does not
    /// end by itself).
    fn terminate(self) -> Option<i32> {
        self.stop_with(nix::sys::signal::Signal::SIGTERM)
    }

    /// A signal, then the exit code.
    fn stop_with(mut self, signal: nix::sys::signal::Signal) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("a signal");
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(status) = self.child.try_wait().expect("a status") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("hang guard: {signal} did not end the REPL");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn sigterm_at_the_prompt_finishes_the_run_as_cancelled() {
    let dir = scratch("store_term_prompt");
    let store = dir.join("runs");
    let mut live = Live::start(&dir, &store);
    live.send("let x = sh(\"echo hi\")\n");
    live.wait_for("value", || live.printed("x = \"hi\""));
    assert_eq!(live.terminate(), Some(130));
    let runs = runs(&store);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "cancelled", "{:#}", runs[0]);
    assert_eq!(runs[0]["exit_code"], 130);
    assert_eq!(runs[0]["done"], 1);
}

#[test]
fn sigterm_during_an_entry_cancels_it_and_finishes_the_run() {
    let dir = scratch("store_term_entry");
    let store = dir.join("runs");
    let pidfile: PathBuf = dir.join("pid");
    let mut live = Live::start(&dir, &store);
    live.send("let x = sh(\"echo hi\")\n");
    // An hour: a REPL that waited for it would trip the hang guard.
    live.send(&format!(
        "let slow = sh(\"echo $$ > '{}'; exec sleep 3600\")\n",
        pidfile.display()
    ));
    live.wait_for("pid file", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|t| t.ends_with('\n'))
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(live.terminate(), Some(130));
    // The sleep was killed with its entry.
    wait_until("the end of the entry's sleep", || !super::alive(pid));
    let runs = runs(&store);
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r["status"], "cancelled", "{r:#}");
    assert_eq!(r["exit_code"], 130);
    assert_eq!(
        (r["done"].as_i64(), r["failed"].as_i64()),
        (Some(1), Some(1))
    );
}

/// A closed terminal (SIGHUP) ends the session like SIGTERM.
#[test]
fn sighup_at_the_prompt_finishes_the_run_as_cancelled() {
    let dir = scratch("store_hup_prompt");
    let store = dir.join("runs");
    let mut live = Live::start(&dir, &store);
    live.send("let x = sh(\"echo hi\")\n");
    live.wait_for("value", || live.printed("x = \"hi\""));
    assert_eq!(live.stop_with(nix::sys::signal::Signal::SIGHUP), Some(130));
    assert_eq!(runs(&store)[0]["status"], "cancelled");
}
