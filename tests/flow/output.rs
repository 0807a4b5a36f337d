//! Where the result goes: a full disk is an error, a closed pipe is not; a
//! signal while the script compiles ends the run in order.

use std::io::Read;
use std::time::Duration;

use crate::common::{flow_command, scratch};

#[test]
fn a_result_that_cannot_be_written_is_an_error() {
    let dir = scratch("devfull");
    std::fs::write(dir.join("x.flow"), "sh(\"echo hello\")\n").unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = flow_command()
        .current_dir(&dir)
        .args(["run", "-q", "x.flow"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write the result: No space left on device"),
        "{stderr}"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = scratch("pipe");
    std::fs::write(dir.join("x.flow"), "map x in range(200000) { x }\n").unwrap();
    let mut child = flow_command()
        .current_dir(&dir)
        .args(["run", "-q", "x.flow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 2];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && stderr.trim().is_empty(),
        "{stderr}"
    );
}

/// A Ctrl-C that comes while a big script is still being compiled: the
/// orderly end (exit 130), not death by the signal, and no task starts.
#[test]
fn ctrl_c_while_compiling_ends_in_order() {
    let dir = scratch("early-int");
    let mut text = String::from("let t0 = sh(\"echo ran >> side.txt\")\n");
    for i in 1..60_000 {
        text.push_str(&format!("let t{i} = t{} + 1\n", i - 1));
    }
    std::fs::write(dir.join("big.flow"), text).unwrap();
    let child = flow_command()
        .current_dir(&dir)
        .args(["run", "-q", "--no-store", "big.flow"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once `flow` holds the signal back (its first act) or handles it, not
    // before: a signal that comes while the process is still being started
    // kills it, as it would any program.
    let status = format!("/proc/{}/status", child.id());
    let has_sigint = |s: &str, field: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
    };
    crate::common::wait_until("flow holds SIGINT back", || {
        std::fs::read_to_string(&status)
            .is_ok_and(|s| has_sigint(&s, "SigBlk:") || has_sigint(&s, "SigCgt:"))
    });
    std::thread::sleep(Duration::from_millis(20));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(130),
        "not killed by the signal: {stderr}"
    );
    assert!(!dir.join("side.txt").exists(), "no task started");
}
