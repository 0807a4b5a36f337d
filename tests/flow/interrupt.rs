//! Signals answered while a run is busy with pure work: built-in functions
//! look at the run's cancellation inside their loops, and `flow run`'s
//! signal watcher ends a runtime that does not answer (docs/reliability.md).

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::common::{flow_command, processes_marked, scratch, unique_mark};
use crate::orphans::{signal, start, text, until_running};

/// Pure work that keeps the CPU for seconds: a 10,000,000-item list turned
/// to text and back, twice (the size comes from a command, so that the
/// command has run before the work starts).
fn busy_script(mark: &str) -> String {
    format!(
        "let a = sh(\"sleep 30\", mark: \"{mark}\")\n\
         let size = int(sh(\"echo 10000000\"))\n\
         let s = str(range(size))\n\
         let n = len(str(split(s, \",\")))\n\
         [a, n, len(str(split(str(range(size)), \",\")))]\n"
    )
}

/// Ctrl-C during [`busy_script`] is not delayed: `flow` ends within the bound
/// (about 0.1 s; a second here, for a loaded machine), exit 130.
fn busy_run(store: &[&str], sig: Signal) -> (Output, Duration) {
    let mark = unique_mark("busy");
    let child = start("busy", &busy_script(&mark), store);
    until_running(&mark, 1);
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    assert_eq!(processes_marked(&mark), Vec::<u32>::new());
    (out, took)
}

#[test]
fn ctrl_c_during_busy_pure_work_ends_at_once() {
    let (out, took) = busy_run(&["--no-store"], Signal::SIGINT);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(text(&out.stderr).contains("interrupted"));
}

#[test]
fn sighup_during_busy_pure_work_ends_at_once_and_is_recorded_as_cancelled() {
    let dir = scratch("busy-store");
    let store = dir.to_str().unwrap();
    let (out, took) = busy_run(&["--store", store], Signal::SIGHUP);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let runs = flow_command()
        .args(["runs", "--json", "--store", store])
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["status"], "cancelled", "{runs}");
}

/// In the REPL, Ctrl-C during an entry's pure work cancels the entry at once
/// (a piped session then ends, exit 130).
#[test]
fn ctrl_c_during_a_busy_repl_entry_cancels_it_at_once() {
    use std::io::Write;
    let mut child = flow_command()
        .args(["repl", "--no-store"])
        .current_dir(scratch("busy-repl"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let entry = busy_script(&unique_mark("busy-repl"));
    stdin.write_all(entry.as_bytes()).unwrap();
    // At the end of its input, a piped session ends after its entries.
    drop(stdin);
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    signal(&child, Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted"),
        "{}",
        text(&out.stderr)
    );
}

/// A host program cancelling a run while its pure work runs: the run ends
/// cancelled, soon, and the `try` around the work does not take the
/// interruption for a failure.
#[test]
fn a_cancelled_run_stops_its_pure_work_and_no_try_catches_it() {
    let script = "let size = int(sh(\"echo 10000000\"))\n\
                  try { len(str(split(str(range(size)), \",\"))) } else { \"caught\" }\n";
    let engine = flow::Engine::new();
    let script = engine.compile("busy.flow", script).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let options = flow::RunOptions::new().cancel_with(cancel.clone());
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        cancel.cancel();
        Instant::now()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(engine.run(&script, options));
    let ended = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(
        outcome.status,
        flow::RunStatus::Cancelled,
        "{:?}",
        outcome.result
    );
    assert!(outcome.result.is_none(), "{:?}", outcome.result);
    let took = ended.saturating_duration_since(cancelled_at);
    assert!(took < Duration::from_millis(500), "took {took:?}");
}
