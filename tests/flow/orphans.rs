//! No orphans, however a run ends (docs/reliability.md). Every process a test starts
//! carries `mark=<unique>` in its environment (a `mark:` context value), so
//! what is left can be found in /proc.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::{flow_command, processes_marked, scratch, unique_mark};

/// A task that leaves two processes outside its process group: one in a
/// session of its own (`setsid`), one double-forked (its parent exits at once).
fn escaping(mark: &str, then: &str) -> String {
    format!("sh(\"setsid sleep 30 & (sleep 30 &); {then}\", mark: \"{mark}\")")
}

/// Starts `flow run` on `script` in a scratch folder of its own.
pub fn start(name: &str, script: &str, args: &[&str]) -> Child {
    let dir = scratch(name);
    std::fs::write(dir.join("s.flow"), script).unwrap();
    flow_command()
        .current_dir(&dir)
        .arg("run")
        .args(args)
        .arg("s.flow")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `n` processes carry `mark`.
pub fn until_running(mark: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_marked(mark).len() < n {
        assert!(
            Instant::now() < deadline,
            "fewer than {n} processes started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn escaped_children_are_gone_after(sig: Signal) {
    let mark = unique_mark("escape");
    let child = start(
        "escape-signal",
        &escaping(&mark, "sleep 30"),
        &["--no-store"],
    );
    until_running(&mark, 4);
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    // Not eventually: when `flow` has exited.
    assert_eq!(processes_marked(&mark), Vec::<u32>::new(), "{sig}");
}

#[test]
fn setsid_and_double_forked_children_are_gone_after_ctrl_c() {
    escaped_children_are_gone_after(Signal::SIGINT);
}

#[test]
fn setsid_and_double_forked_children_are_gone_after_sigterm() {
    escaped_children_are_gone_after(Signal::SIGTERM);
}

#[test]
fn setsid_and_double_forked_children_are_gone_after_sighup() {
    escaped_children_are_gone_after(Signal::SIGHUP);
}

#[test]
fn children_of_a_timed_out_task_are_gone_when_the_run_ends() {
    let mark = unique_mark("escape-timeout");
    let script = format!(
        "let t = try {{ {} timeout 1s }} else {{ \"timed out\" }}\nt\n",
        escaping(&mark, "sleep 30")
    );
    let out = start("escape-timeout", &script, &["--no-store"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "\"timed out\"");
    assert_eq!(processes_marked(&mark), Vec::<u32>::new());
}

#[test]
fn background_children_of_a_finished_task_are_gone_when_the_run_ends() {
    let mark = unique_mark("escape-done");
    let script = format!("{}\n", escaping(&mark, "echo started"));
    let out = start("escape-done", &script, &["--no-store"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(processes_marked(&mark), Vec::<u32>::new());
}

/// `kill -9` of `flow`: its shells die with it (the parent-death signal),
/// and its guard kills everything else it started — the shells' children,
/// `setsid` and double-forked ones — within a second.
#[test]
fn kill_9_of_flow_leaves_no_process_within_a_second() {
    let mark = unique_mark("kill9");
    let script = format!(
        "let xs = map _ in range(150) {{ sh(\"sleep 30; true\", mark: \"{mark}\") }}\n\
         let e = {}\n[xs, e]\n",
        escaping(&mark, "sleep 30")
    );
    let mut child = start("kill9-orphans", &script, &["--no-store", "-j", "200"]);
    // 150 shells, each with its `sleep`, and four of the escaping task.
    until_running(&mark, 304);
    signal(&child, Signal::SIGKILL);
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut left = processes_marked(&mark);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        left = processes_marked(&mark);
    }
    assert_eq!(left, Vec::<u32>::new(), "still running 1 s after kill -9");
}

/// A second Ctrl-C does not wait for shells that ignore SIGTERM.
#[test]
fn a_second_ctrl_c_ends_at_once() {
    let mark = unique_mark("twice");
    // The ignored SIGTERM is inherited by `sleep` too.
    let script = format!("sh(\"trap '' TERM; sleep 30; true\", mark: \"{mark}\")\n");
    let child = start("twice", &script, &["--no-store"]);
    until_running(&mark, 2);
    signal(&child, Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    // Before: the 2 s grace the shell gets after SIGTERM.
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(processes_marked(&mark), Vec::<u32>::new());
}
