//! What `flow run` says on stderr while and after it runs: the live display
//! on a terminal (a pseudo-terminal here), failures, retries, collapsed
//! skips and a periodic status line when stderr is not a terminal, the
//! closing summary, `-q`/`-v`/`-vv`, `--color`; and `flow completions` and
//! `flow man`. Real `flow` processes; nothing here depends on how long
//! anything takes: slow tasks wait for a file the test writes once it has
//! seen what it waits for.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{flow_command, scratch};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A folder with `main.flow`.
fn project(name: &str, script: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("main.flow"), script).unwrap();
    dir
}

/// `flow ARGS` in `dir`, with its own store there, to the end.
fn flow_in(dir: &Path, args: &[&str]) -> Output {
    flow_command()
        .current_dir(dir)
        .env_remove("FLOW_STORE")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("flow runs")
}

/// `ok`, then `build` (after `ok`, so `ok` has surely succeeded) fails,
/// then 30 tasks that read `build` are skipped.
fn failing_build() -> String {
    let mut script = String::from(
        "let ok = sh(\"echo fine\")\nlet build = sh(\"echo ${ok} > /dev/null; exit 3\")\n",
    );
    for i in 0..30 {
        script.push_str(&format!("let t{i} = sh(\"echo ${{build}} {i}\")\n"));
    }
    let all: Vec<String> = (0..30).map(|i| format!("t{i}")).collect();
    script.push_str(&format!("[{}]\n", all.join(", ")));
    script
}

#[test]
fn piped_a_failure_is_one_line_and_its_skips_another() {
    let dir = project("progress_skips", &failing_build());
    let out = flow_in(&dir, &["run", "main.flow"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    // The failure, then every skip in one line; no line for the task that
    // succeeded, none per skipped task.
    let failed = lines
        .iter()
        .position(|l| l.trim_start().starts_with("failed build (sh)"))
        .unwrap_or_else(|| panic!("no failure line: {stderr}"));
    let skips: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("skipped because"))
        .collect();
    assert_eq!(skips.len(), 1, "{stderr}");
    assert_eq!(
        lines[skips[0]], "30 tasks skipped because `build` failed",
        "{stderr}"
    );
    assert!(failed < skips[0], "{stderr}");
    assert!(!stderr.contains("succeeded"), "{stderr}");
    assert!(!stderr.contains("skipped t"), "{stderr}");
    // The summary closes it, its first line counting every task.
    let first = lines
        .iter()
        .position(|l| l.starts_with("FAILED "))
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    assert!(
        lines[first].starts_with("FAILED 32 tasks in ")
            && lines[first].ends_with(": 1 done, 0 cached, 1 failed, 30 skipped"),
        "{stderr}"
    );
    assert!(first > skips[0], "the summary comes last: {stderr}");
    assert!(stderr.contains("  logs: flow log 1"), "{stderr}");

    // `-v`: a line for every task that ran, the skips still one line.
    let out = flow_in(&dir, &["run", "-v", "main.flow"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("succeeded ok (sh) in "), "{stderr}");
    assert_eq!(stderr.matches("skipped because").count(), 1, "{stderr}");
    // `-vv`: each task as it starts, with its command.
    let out = flow_in(&dir, &["-vv", "run", "main.flow"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("started build (sh): echo \"$FLOW_VALUE_1\" > /dev/null; exit 3"),
        "{stderr}"
    );
    // `-q`: the diagnostic only; no progress, no summary.
    let out = flow_in(&dir, &["run", "-q", "main.flow"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("task `build` (sh) failed"), "{stderr}");
    assert!(
        !stderr.contains("skipped") && !stderr.contains("FAILED"),
        "{stderr}"
    );
}

#[test]
fn the_summary_counts_what_ran_and_what_was_re_used() {
    let dir = project(
        "progress_summary",
        "let xs = map i in range(5) { sh(\"echo ${i}\") }\nlen(xs)\n",
    );
    let out = flow_in(&dir, &["run", "main.flow"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("ok 5 tasks in ")
            && lines[0].ends_with(": 5 done, 0 cached, 0 failed, 0 skipped"),
        "{stderr}"
    );
    assert!(lines[1].starts_with("  slowest: xs["), "{stderr}");
    assert_eq!(lines.last(), Some(&"  logs: flow log 1"), "{stderr}");
    // Nothing printed per task on the way (not a terminal).
    assert_eq!(lines.len(), 3, "{stderr}");

    let out = flow_in(&dir, &["run", "--resume", "main.flow"]);
    let stderr = text(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.ends_with(": 0 done, 5 cached, 0 failed, 0 skipped"),
        "{stderr}"
    );
    assert!(stderr.contains("  logs: flow log 2"), "{stderr}");

    // No store, no logs line; `-q`, nothing at all.
    let out = flow_in(&dir, &["run", "--no-store", "main.flow"]);
    assert!(
        !text(&out.stderr).contains("logs:"),
        "{}",
        text(&out.stderr)
    );
    let out = flow_in(&dir, &["run", "-q", "main.flow"]);
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout).trim(), "5");
}

/// A run in the background, its stderr read line by line as it comes.
struct Piped {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Piped {
    fn start(command: &mut Command) -> Piped {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flow starts");
        let stderr = child.stderr.take().unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                seen.lock().unwrap().push(line);
            }
        });
        Piped { child, lines }
    }

    fn wait_for_line(&self, what: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| what(l)) {
                return line.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the line never came: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let status = finish_status(&mut self.child);
        // The reader thread ends at the end of stderr.
        let start = Instant::now();
        while Arc::strong_count(&self.lines) > 1 && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let lines = self.lines.lock().unwrap().clone();
        (status, lines)
    }
}

fn finish_status(child: &mut Child) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the run did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits in the shell until the test creates `name` in the working folder.
fn until(name: &str) -> String {
    format!("while [ ! -e {name} ]; do sleep 0.02; done")
}

#[test]
fn piped_a_long_run_prints_a_status_line_now_and_then() {
    let script = format!(
        "let first = sh(\"{}; echo 1\")\nlet second = sh(\"echo ${{first}}\")\nsecond\n",
        until("go")
    );
    let dir = project("progress_status", &script);
    let mut command = flow_command();
    command
        .current_dir(&dir)
        .env("FLOW_PROGRESS_INTERVAL", "50ms")
        .args(["run", "--no-store", "main.flow"]);
    let run = Piped::start(&mut command);
    // The first task waits: the status line says so.
    let line = run.wait_for_line(|l| l.starts_with('['));
    assert!(line.ends_with("] 0/2 done, 1 running, 0 failed"), "{line}");
    std::fs::write(dir.join("go"), "").unwrap();
    let (status, lines) = run.finish();
    assert_eq!(status, Some(0), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("ok 2 tasks in ")),
        "{lines:?}"
    );
    // Only status lines and the summary: no line per task.
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with('[') || l.starts_with("ok ") || l.starts_with("  slowest:")),
        "{lines:?}"
    );
}

#[test]
fn piped_a_retry_is_said_as_it_happens() {
    let dir = project(
        "progress_retry",
        "let flaky = sh(\"if [ -e seen ]; then echo ok; else touch seen; exit 4; fi\") retry 2\nflaky\n",
    );
    let out = flow_in(&dir, &["run", "--no-store", "main.flow"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "retrying flaky: attempt 1 of 3 failed (command exited with status 4); next in 0ms"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("ok 1 task in "), "{stderr}");
}

/// `flow ARGS` on a pseudo-terminal (stdin, stdout and stderr), with what
/// it drew so far.
struct Terminal {
    child: Child,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn start(dir: &Path, args: &[&str]) -> Terminal {
        let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
        let slave = pty.slave;
        let child = flow_command()
            .current_dir(dir)
            .env_remove("FLOW_STORE")
            .env("COLUMNS", "100")
            .args(args)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        let mut master = std::fs::File::from(pty.master);
        let screen: Arc<Mutex<Vec<u8>>> = Arc::default();
        let seen = screen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Ends with EIO once flow, the last holder of the slave, exits.
            while let Ok(n) = master.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Terminal { child, screen }
    }

    fn screen(&self) -> String {
        text(&self.screen.lock().unwrap())
    }

    fn wait_for(&self, what: &str) {
        let start = Instant::now();
        while !self.screen().contains(what) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "`{what}` never showed: {}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn on_a_terminal_the_display_shows_the_total_a_percentage_and_what_runs() {
    let script = format!(
        "let xs = map i in range(200) {{ sh(\"{}; echo ${{i}}\") }}\nlen(xs)\n",
        until("go")
    );
    let dir = project("progress_tty", &script);
    let mut tty = Terminal::start(&dir, &["run", "-j", "8", "main.flow"]);
    // Every task is known at once, none ended; eight wait for `go`, the
    // longest-running three named, the other five counted.
    tty.wait_for("0/200 0% · 8 running");
    tty.wait_for("+5 more");
    tty.wait_for("xs[0]");
    std::fs::write(dir.join("go"), "").unwrap();
    let status = finish_status(&mut tty.child);
    assert_eq!(status, Some(0), "{}", tty.screen());
    tty.wait_for("200 tasks in ");
    let screen = tty.screen();
    // The display is left at its end, above the summary.
    let bar = screen
        .rfind("200/200 100%")
        .expect("the last state of the display");
    assert!(bar < screen.rfind("200 tasks in ").unwrap(), "{screen}");
    // … and the result starts on a line of its own, not on the display's.
    let result = screen.rfind("\n200\r\n").map(|at| at + 1);
    assert!(result.is_some_and(|at| at > bar), "{screen:?}");
    assert!(
        screen.contains(": 200 done, 0 cached, 0 failed, 0 skipped"),
        "{screen}"
    );
    // No line per task on a terminal either (only the display did).
    assert!(!screen.contains("succeeded"), "{screen}");
}

/// A script that fails with a diagnostic.
const BROKEN: &str = "let x = sh(\"exit 2\")\nx\n";

fn has_escapes(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\x1b[")
}

#[test]
fn color_follows_the_flag_then_no_color_then_clicolor_force() {
    let dir = project("progress_color", BROKEN);
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = flow_command();
        command
            .current_dir(&dir)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (name, value) in env {
            command.env(name, value);
        }
        let out = command
            .args(args)
            .args(["run", "--no-store", "main.flow"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("task `x` (sh) failed"),
            "{}",
            text(&out.stderr)
        );
        has_escapes(&out.stderr)
    };
    // Not a terminal: no colour unless asked for.
    assert!(!run(&[], &[]));
    assert!(run(&["--color", "always"], &[]));
    assert!(run(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(run(&["--color=auto"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!run(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
    assert!(!run(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    // In colour, the summary's mark is a coloured ✘.
    let mut command = flow_command();
    let out = command
        .current_dir(&dir)
        .args(["run", "--color", "always", "--no-store", "main.flow"])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("✘\x1b[0m 1 task in "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn completions_are_scripts_for_each_shell() {
    let out = flow_command()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    assert!(
        script.contains("run") && script.contains("--keep-going"),
        "{script}"
    );
    let dir = scratch("completions");
    std::fs::write(dir.join("flow.bash"), &out.stdout).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(dir.join("flow.bash"))
        .output()
        .expect("bash runs");
    assert!(check.status.success(), "{}", text(&check.stderr));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = flow_command()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(text(&out.stdout).contains("approvals"), "{shell}");
    }
    let out = flow_command()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_manual_page_is_roff() {
    let out = flow_command().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.starts_with(".TH flow 1 "), "{page}");
    assert!(
        page.contains(".SH NAME") && page.contains("\\-\\-color"),
        "{page}"
    );
    let out = flow_command().args(["man", "run"]).output().unwrap();
    let page = text(&out.stdout);
    assert!(page.starts_with(".TH flow-run 1 "), "{page}");
    assert!(page.contains("\\-\\-keep\\-going"), "{page}");
    let out = flow_command().args(["man", "nothing"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no command `nothing`"));
}
