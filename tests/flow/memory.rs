//! Peak memory of big runs, read by `/usr/bin/time` (GNU time; the test says
//! so and passes when it is missing). The bounds sit far from both sides:
//! several times what the runs take now, a fraction of what they took before.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{flow_command, scratch};

/// Runs `flow ARGS` under `/usr/bin/time`; its stdout and peak resident memory in MiB.
fn peak_mib(args: &[&str], script: &Path) -> Option<(Vec<u8>, u64)> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        eprintln!("skipped: no /usr/bin/time (Debian: apt-get install time)");
        return None;
    }
    let report = script.with_extension("time");
    let flow = flow_command();
    let mut command = Command::new(time);
    command
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(flow.get_program())
        .args(args)
        .arg(script)
        .current_dir(script.parent().expect("a folder"));
    for (name, value) in flow.get_envs() {
        if let Some(value) = value {
            command.env(name, value);
        }
    }
    let out = command.output().expect("time runs flow");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kib: u64 = std::fs::read_to_string(&report)
        .expect("time's report")
        .trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("a number of KiB");
    Some((out.stdout, kib / 1024))
}

/// A map of `sleep(0s)` costs what a map of `noop()` does (each zero sleep
/// ends at once, on the scheduler), and `--json` keeps each task's record as
/// compact text until it streams the report: 100,000 items took about
/// 370 MiB for each before, about 60 MiB together now (debug build).
#[test]
fn a_big_map_of_zero_sleeps_reported_as_json_stays_small() {
    let dir = scratch("memory");
    let script = dir.join("sleeps.flow");
    std::fs::write(
        &script,
        "let results = map _ in range(100000) { sleep(0s) }\nlen(results)\n",
    )
    .expect("written");
    let Some((stdout, mib)) = peak_mib(&["run", "-q", "--no-store", "--json"], &script) else {
        return;
    };
    assert!(mib < 200, "peak {mib} MiB");
    let doc: Value = serde_json::from_slice(&stdout).expect("one JSON document");
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["result"], 100_000);
    let tasks = doc["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 100_000);
    assert_eq!(tasks[0]["agent"], "sleep");
    let _ = std::fs::remove_dir_all(&dir);
}
