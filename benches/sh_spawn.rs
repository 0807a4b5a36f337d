//! How fast the `sh` backend starts and finishes tiny commands: 10,000
//! `sh("true")` calls, two at a time, on a current-thread runtime.
//!
//! `cargo bench --bench sh_spawn [-- COUNT]`

use std::sync::Arc;
use std::time::Instant;

use flow::agents::sh::{run, ShCommand, ShOptions};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

fn main() {
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
    let failures = runtime.block_on(async {
        let command = Arc::new(ShCommand {
            cmd: "true".into(),
            ..ShCommand::default()
        });
        let options = Arc::new(ShOptions::default());
        let cancel = CancellationToken::new();
        let slots = Arc::new(Semaphore::new(2));
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let (command, options, cancel) = (command.clone(), options.clone(), cancel.clone());
            tasks.push(tokio::spawn(async move {
                let result = run(&command, &options, &cancel).await;
                drop(permit);
                result.is_err()
            }));
        }
        let mut failures = 0;
        for task in tasks {
            if task.await.unwrap_or(true) {
                failures += 1;
            }
        }
        let took = start.elapsed();
        println!(
            "sh_spawn: {count} x sh(\"true\"), 2 at a time: {:.2} s ({:.0} µs each)",
            took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / count as f64
        );
        failures
    });
    if failures > 0 {
        eprintln!("{failures} calls failed");
        std::process::exit(1);
    }
}
