//! How fast the `sh` backend starts and finishes tiny commands: 10,000
//! `sh("true")` calls, two at a time, on a current-thread runtime; side by
//! side with `true` spawned by tokio's `Command` (which uses `posix_spawn`),
//! its three standard streams piped in a process group of its own (what the
//! backend needs), and with them on `/dev/null`.
//!
//! The backend starts children with the spawner the features select: `clone`
//! with `fast-spawn` on Linux, else tokio's `Command`
//! (`--no-default-features`).
//!
//! `cargo bench --bench sh_spawn [-- COUNT]`
//!
//! `cargo bench` sets `LD_LIBRARY_PATH` to its build folders, which makes the
//! dynamic loader of every child look there first (about 15 % slower): the
//! benchmark removes it, as a shell running `flow` would not have it.

use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use flow::exec::local::{run, LocalOptions};
use flow::exec::CommandSpec;
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Runs `count` calls of `call`, two at a time; prints the time; returns the
/// number of calls that failed.
async fn measure<F, Fut>(name: &str, count: usize, call: F) -> usize
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool> + 'static,
{
    let slots = Arc::new(Semaphore::new(2));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let call = call();
        tasks.push(tokio::task::spawn_local(async move {
            let ok = call.await;
            drop(permit);
            ok
        }));
    }
    let mut failures = 0;
    for task in tasks {
        if !task.await.unwrap_or(false) {
            failures += 1;
        }
    }
    let took = start.elapsed();
    println!(
        "{name:<44} {count} calls, 2 at a time: {:.2} s ({:.0} µs each)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / count as f64
    );
    failures
}

fn main() {
    std::env::remove_var("LD_LIBRARY_PATH");
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(10_000);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start a runtime: {error}");
            std::process::exit(1);
        }
    };
    let local = tokio::task::LocalSet::new();
    let failures = local.block_on(&runtime, async {
        let command = Arc::new(CommandSpec {
            cmd: "true".into(),
            ..CommandSpec::default()
        });
        // as the interpreter does: the environment captured once per run
        let options = Arc::new(LocalOptions {
            environment: Some(flow::exec::local::Environment::capture()),
            ..LocalOptions::default()
        });
        let cancel = CancellationToken::new();
        let spawner = if cfg!(all(target_os = "linux", feature = "fast-spawn")) {
            "sh backend (clone): sh(\"true\")"
        } else {
            "sh backend (tokio Command): sh(\"true\")"
        };
        let backend = measure(spawner, count, || {
            let (command, options, cancel) = (command.clone(), options.clone(), cancel.clone());
            async move { run(&command, &options, &cancel).await.is_ok() }
        })
        .await;
        let piped = measure("tokio Command, piped, own group", count, || async {
            Command::new("/usr/bin/true")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .output()
                .await
                .is_ok_and(|out| out.status.success())
        })
        .await;
        let null = measure("tokio Command, /dev/null", count, || async {
            Command::new("/usr/bin/true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|status| status.success())
        })
        .await;
        backend + piped + null
    });
    if failures > 0 {
        eprintln!("{failures} calls failed");
        std::process::exit(1);
    }
}
