//! `approve(…)`: a run waits for a person. From a second shell through the
//! run store (`flow approve`, `flow deny`, `flow approvals`), at a terminal
//! (a pseudo-terminal here), with a timeout, without either, and across a
//! `kill -9` and `--resume`. Real `flow` processes and real stores.

use std::io::Read;
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::common::{output_or_hang, text, wait_until, Project};

/// Asks, then deploys only once approved (`after ok`): `side.txt` counts
/// the preparations and the deployments.
const DEPLOY: &str = r#"
let prep = sh("echo prep >> side.txt; echo v2")
let ok = approve("Deploy to production?", plan: prep)
let done = sh("echo deployed >> side.txt; echo deployed") after ok
{approved: ok.approved, via: ok.via, by: ok.by, done: done}
"#;

impl Project {
    /// `flow run ARGS main.flow` in the background, without a terminal.
    fn start(&self, args: &[&str]) -> Child {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.push("main.flow");
        self.command(&all)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flow starts")
    }

    /// The questions waiting, as `flow approvals --json` lists them.
    fn pending(&self) -> Vec<Value> {
        let out = self.flow(&["approvals", "--json"]);
        if !out.status.success() {
            // No store yet: the run has not begun.
            return Vec::new();
        }
        serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits until a question of a run that is alive waits for `task`.
    fn wait_for_question(&self, task: &str) -> Value {
        let mut found = None;
        wait_until(&format!("a question `{task}`"), || {
            found = self
                .pending()
                .into_iter()
                .find(|q| q["task"] == task && q["run_alive"] == true);
            found.is_some()
        });
        found.unwrap()
    }

    /// Every row of the approvals table, in the order asked.
    fn rows(&self) -> Vec<Row> {
        let conn = rusqlite::Connection::open(self.dir.join(".flow/flow.db")).unwrap();
        let mut statement = conn
            .prepare("SELECT state, decided_by, via, reason FROM approvals ORDER BY id")
            .unwrap();
        let rows = statement
            .query_map([], |r| {
                Ok(Row {
                    state: r.get(0)?,
                    by: r.get(1)?,
                    via: r.get(2)?,
                    reason: r.get(3)?,
                })
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }
}

/// A row of the approvals table.
struct Row {
    state: String,
    by: Option<String>,
    via: Option<String>,
    reason: Option<String>,
}

/// Waits for a background run (one that never ends trips the hang guard).
fn finish(child: Child) -> Output {
    output_or_hang(child, "the run")
}

#[test]
fn approval_from_a_second_shell_lets_the_waiting_run_continue() {
    let p = Project::new("approve_cli", DEPLOY);
    let run = p.start(&[]);
    let question = p.wait_for_question("ok");
    assert_eq!(question["question"], "Deploy to production?");
    assert_eq!(question["details"], serde_json::json!({"plan": "v2"}));
    // The run is waiting, nothing after the question ran.
    assert_eq!(p.side_effects(), ["prep"]);
    let runs: Value = serde_json::from_slice(&p.flow(&["runs", "--json"]).stdout).unwrap();
    assert_eq!(runs[0]["waiting_for_approval"], serde_json::json!(["ok"]));
    let listed = p.flow(&["approvals"]);
    assert!(
        text(&listed.stdout).contains("Deploy to production?"),
        "{}",
        text(&listed.stdout)
    );

    let answer = p.flow(&["approve", "ok"]);
    assert_eq!(answer.status.code(), Some(0), "{}", text(&answer.stderr));
    assert!(text(&answer.stderr).contains("approved `ok` of run 1"));

    let out = finish(run);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"approved": true, "via": "cli", "by": "tester", "done": "deployed"})
    );
    // While it waited it said so, and how to answer.
    assert!(
        stderr.contains(
            "waiting for approval: ok — \"Deploy to production?\" (run 1): flow approve 1 ok | flow deny 1 ok --reason"
        ),
        "{stderr}"
    );
    assert_eq!(p.side_effects(), ["prep", "deployed"]);
    let rows = p.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "approved");
    assert_eq!(rows[0].by.as_deref(), Some("tester"));
    // Answered: nothing waits any more.
    assert!(p.pending().is_empty());
    let again = p.flow(&["approve", "ok"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("nothing is waiting for approval"));
}

#[test]
fn denial_fails_the_run_with_its_reason_and_nothing_after_it_runs() {
    let p = Project::new("approve_deny", DEPLOY);
    let run = p.start(&["-q"]);
    let question = p.wait_for_question("ok");
    let id = question["run"].to_string();
    let answer = p.flow(&["deny", &id, "ok", "--reason", "not today"]);
    assert_eq!(answer.status.code(), Some(0), "{}", text(&answer.stderr));
    let out = finish(run);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("denied: not today"), "{stderr}");
    assert!(
        stderr.contains("denied by tester from another shell (`flow deny`)"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(p.side_effects(), ["prep"], "the deployment never ran");
    assert_eq!(p.rows()[0].state, "denied");
    assert_eq!(p.rows()[0].reason.as_deref(), Some("not today"));
}

#[test]
fn a_try_else_handles_a_denial() {
    let p = Project::new(
        "approve_try",
        "let ok = try { approve(\"Ship?\") } else { \"kept back: ${error.message}\" }\nok\n",
    );
    let run = p.start(&["-q"]);
    p.wait_for_question("ok");
    let answer = p.flow(&["deny", "ok", "-r", "frozen"]);
    assert_eq!(answer.status.code(), Some(0), "{}", text(&answer.stderr));
    let out = finish(run);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "\"kept back: denied: frozen\"");
}

#[test]
fn a_timeout_fails_the_task_and_the_question_is_marked_timed_out() {
    let p = Project::new(
        "approve_timeout",
        "let ok = approve(\"Deploy?\") timeout 1s\nok\n",
    );
    let out = p.flow(&["run", "-q", "main.flow"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed out after 1s"), "{stderr}");
    assert_eq!(p.rows()[0].state, "timed_out");
    assert!(p.pending().is_empty());
}

#[test]
fn without_a_terminal_or_a_store_it_fails_at_once_saying_how_to_answer() {
    let p = Project::new("approve_nobody", DEPLOY);
    // With no one to ask, waiting would trip the hang guard.
    let out = output_or_hang(
        p.start(&["--no-store"]),
        "a run whose `approve` has no one to ask",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`approve` has no one to ask"), "{stderr}");
    assert!(
        stderr.contains("--no-store") && stderr.contains("flow approve RUN TASK"),
        "{stderr}"
    );
    assert!(!p.side_effects().contains(&"deployed".to_string()));
    assert!(!p.dir.join(".flow").exists());
}

#[test]
fn after_kill_9_while_waiting_resume_asks_again_and_reruns_nothing_before() {
    let p = Project::new("approve_kill", DEPLOY);
    let mut run = p.start(&["-q"]);
    p.wait_for_question("ok");
    run.kill().unwrap();
    run.wait().unwrap();
    // The dead run's question is not answerable, and says how to go on.
    let listed = p.flow(&["approvals"]);
    assert!(
        text(&listed.stderr).contains("no longer running"),
        "{}",
        text(&listed.stderr)
    );
    let late = p.flow(&["approve", "1", "ok"]);
    assert_eq!(late.status.code(), Some(1));
    assert!(
        text(&late.stderr).contains("--resume"),
        "{}",
        text(&late.stderr)
    );

    let resumed = p.start(&["-q", "--resume"]);
    let question = p.wait_for_question("ok");
    assert_eq!(question["run"], 2);
    assert_eq!(p.side_effects(), ["prep"], "the preparation was re-used");
    let answer = p.flow(&["approve", "ok"]);
    assert_eq!(answer.status.code(), Some(0), "{}", text(&answer.stderr));
    let out = finish(resumed);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(p.side_effects(), ["prep", "deployed"]);
    // An approval that completed is a completed task: resuming re-uses it.
    let again = p.flow(&["run", "-q", "--resume", "main.flow"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(p.side_effects(), ["prep", "deployed"]);
    assert_eq!(p.rows().len(), 2, "no third question");
}

#[test]
fn an_unknown_task_is_an_error_that_lists_what_waits() {
    let p = Project::new("approve_unknown", DEPLOY);
    let run = p.start(&["-q"]);
    p.wait_for_question("ok");
    let wrong = p.flow(&["approve", "okk"]);
    let stderr = text(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no approval `okk` is waiting"), "{stderr}");
    assert!(stderr.contains("did you mean `ok`?"), "{stderr}");
    assert!(stderr.contains("waiting: ok (run 1)"), "{stderr}");
    let usage = p.flow(&["approve", "x", "ok"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(p.flow(&["deny", "ok"]).status.success());
    assert_eq!(finish(run).status.code(), Some(1));
}

#[test]
fn a_piped_repl_session_waits_for_an_answer_from_another_shell() {
    let p = Project::new("approve_repl", "");
    let mut repl = p
        .command(&["repl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = repl.stdin.take().unwrap();
        stdin
            .write_all(b"let a = approve(\"Ship it?\", size: 3)\na.approved\n")
            .unwrap();
    }
    p.wait_for_question("a");
    assert!(p.flow(&["approve", "a"]).status.success());
    let out = finish(repl);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).trim_end().ends_with("true"),
        "{}",
        text(&out.stdout)
    );
}

/// `flow run main.flow` on a pseudo-terminal: what it wrote so far, and the
/// terminal's other end to type into.
struct Terminal {
    child: Child,
    typed: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn start(p: &Project) -> Terminal {
        let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
        let slave = pty.slave;
        let child = p
            .command(&["run", "main.flow"])
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        let master = std::fs::File::from(pty.master);
        let typed = master.try_clone().unwrap();
        let screen: Arc<Mutex<Vec<u8>>> = Arc::default();
        let seen = screen.clone();
        std::thread::spawn(move || {
            let mut master = master;
            let mut buffer = [0u8; 4096];
            // Ends with EIO once flow, the last holder of the slave, exits.
            while let Ok(n) = master.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Terminal {
            child,
            typed,
            screen,
        }
    }

    fn screen(&self) -> String {
        text(&self.screen.lock().unwrap())
    }

    fn wait_for(&self, what: &str) {
        wait_until(&format!("`{what}` on the screen"), || {
            self.screen().contains(what)
        });
    }

    fn type_line(&mut self, line: &str) {
        use std::io::Write;
        self.typed
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }
}

#[test]
fn at_a_terminal_the_person_is_asked_and_answers() {
    let p = Project::new("approve_tty", DEPLOY);
    let mut tty = Terminal::start(&p);
    tty.wait_for("approve? [y/n]");
    let screen = tty.screen();
    assert!(
        screen.contains("approval needed: Deploy to production?"),
        "{screen}"
    );
    assert!(screen.contains("plan: v2"), "{screen}");
    assert!(
        screen.contains("flow approve 1 ok | flow deny 1 ok"),
        "{screen}"
    );
    tty.type_line("perhaps");
    tty.wait_for("please answer y (approve) or n (deny)");
    tty.type_line("y");
    let status = finish_status(&mut tty.child);
    assert_eq!(status, Some(0), "{}", tty.screen());
    tty.wait_for("\"via\": \"terminal\"");
    assert_eq!(p.side_effects(), ["prep", "deployed"]);
    // The store knows who answered, and where.
    assert_eq!(p.rows()[0].state, "approved");
    assert_eq!(p.rows()[0].via.as_deref(), Some("terminal"));

    // A denial at the terminal, with its reason.
    let mut tty = Terminal::start(&p);
    tty.wait_for("approve? [y/n]");
    tty.type_line("n");
    tty.wait_for("reason (Enter for none):");
    tty.type_line("change freeze");
    let status = finish_status(&mut tty.child);
    assert_eq!(status, Some(1), "{}", tty.screen());
    tty.wait_for("denied: change freeze");
    assert_eq!(
        p.side_effects(),
        ["prep", "deployed", "prep"],
        "nothing more deployed"
    );
}

#[test]
fn at_a_terminal_another_shell_may_answer_first() {
    let p = Project::new("approve_tty_cli", DEPLOY);
    let mut tty = Terminal::start(&p);
    tty.wait_for("approve? [y/n]");
    let answer = p.flow(&["deny", "ok", "--reason", "from afar"]);
    assert!(answer.status.success(), "{}", text(&answer.stderr));
    let status = finish_status(&mut tty.child);
    assert_eq!(status, Some(1), "{}", tty.screen());
    tty.wait_for("`ok` was denied by tester from another shell (`flow deny`): from afar");
    assert_eq!(p.side_effects(), ["prep"]);
}

fn finish_status(child: &mut Child) -> Option<i32> {
    let mut status = None;
    wait_until("flow's exit", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap().code()
}

#[test]
fn a_store_of_schema_1_is_migrated_and_keeps_its_runs() {
    let p = Project::new("approve_migrate", "sh(\"echo hi\")\n");
    assert!(p.flow(&["run", "-q", "main.flow"]).status.success());
    // As a flow of schema version 1 left it: no approvals table, and runs
    // that name their process by pid alone.
    {
        let conn = rusqlite::Connection::open(p.dir.join(".flow/flow.db")).unwrap();
        conn.execute_batch(
            "DROP TABLE approvals; ALTER TABLE runs DROP COLUMN host; \
             ALTER TABLE runs DROP COLUMN boot_id; ALTER TABLE runs DROP COLUMN pid_started; \
             DROP INDEX runs_running; PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let listed = p.flow(&["approvals"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    std::fs::write(p.dir.join("main.flow"), DEPLOY).unwrap();
    let run = p.start(&["-q"]);
    assert_eq!(p.wait_for_question("ok")["run"], 2);
    assert!(p.flow(&["approve", "ok"]).status.success());
    assert_eq!(finish(run).status.code(), Some(0));
    let conn = rusqlite::Connection::open(p.dir.join(".flow/flow.db")).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let runs: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 2, "the run of schema 1 is kept");
}

#[test]
fn secrets_are_not_shown_and_another_store_is_named_in_the_commands() {
    let p = Project::new(
        "approve_secret",
        "let ok = approve(\"Deploy with ${env(\"TOKEN\")}?\", token: env(\"TOKEN\"))\nok.approved\n",
    );
    let run = p
        .command(&[
            "run",
            "-q",
            "--store",
            "elsewhere",
            "--secret",
            "TOKEN",
            "main.flow",
        ])
        .env("TOKEN", "s3cr3t-value")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut question = Value::Null;
    wait_until("a question", || {
        let out = p.flow(&["approvals", "--json", "--store", "elsewhere"]);
        let listed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        question = listed.get(0).cloned().unwrap_or(Value::Null);
        !question.is_null()
    });
    assert_eq!(question["question"], "Deploy with ***?");
    assert_eq!(question["details"], serde_json::json!({"token": "***"}));
    let answer = p.flow(&["approve", "--store", "elsewhere", "ok"]);
    assert!(answer.status.success(), "{}", text(&answer.stderr));
    let out = finish(run);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    let store = p.dir.join("elsewhere").display().to_string();
    assert!(
        stderr.contains(&format!(
            "flow approve --store {store} 1 ok | flow deny --store {store} 1 ok"
        )),
        "{stderr}"
    );
}

#[test]
fn waiting_for_an_approval_with_after_is_no_unneeded_after() {
    let p = Project::new("approve_lint", DEPLOY);
    let out = p.flow(&["check", "main.flow"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("unneeded_after"), "{stderr}");
    // An effect-free task waited for without data still is one (an `sh`
    // on either side may order a side effect, so it is left alone).
    std::fs::write(
        p.dir.join("main.flow"),
        "agent A = echo()\nagent B = echo()\nlet a = A(x: 1)\nlet b = B(y: 2) after a\n[a, b]\n",
    )
    .unwrap();
    let out = p.flow(&["check", "main.flow"]);
    assert!(
        text(&out.stderr).contains("unneeded_after"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_answer_given_as_the_run_starts_waits_for_its_question() {
    // `flow run … & flow approve ok` in a script: the answer may come before
    // the run has a store, a row, or its question.
    let p = Project::new("approve_early", DEPLOY);
    let run = p.start(&["-q"]);
    let answer = p.flow(&["approve", "ok"]);
    assert_eq!(answer.status.code(), Some(0), "{}", text(&answer.stderr));
    let out = finish(run);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(p.side_effects(), ["prep", "deployed"]);
}

#[test]
fn at_a_terminal_questions_waiting_together_are_asked_one_at_a_time() {
    let p = Project::new(
        "approve_tty_two",
        "let a = approve(\"First?\")\nlet b = approve(\"Second?\")\n[a.approved, b.approved]\n",
    );
    let mut tty = Terminal::start(&p);
    tty.wait_for("approve? [y/n]");
    // Both wait in the store, but the terminal asks one.
    wait_until("two questions in the store", || p.pending().len() >= 2);
    assert_eq!(
        tty.screen().matches("approval needed").count(),
        1,
        "{}",
        tty.screen()
    );
    tty.type_line("y");
    wait_until("the second question on the screen", || {
        tty.screen().matches("approve? [y/n]").count() >= 2
    });
    let screen = tty.screen();
    assert!(
        screen.contains("First?") && screen.contains("Second?"),
        "{screen}"
    );
    tty.type_line("y");
    assert_eq!(finish_status(&mut tty.child), Some(0), "{}", tty.screen());
    tty.wait_for("true");
}
