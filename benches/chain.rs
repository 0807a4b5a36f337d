//! The 100,000-task chain of `bench/run.sh`, phase by phase: reading, parsing,
//! resolving names, checking, lowering, running and dropping, in milliseconds (best of five).
//!
//! Run with `cargo bench --bench chain`, or `cargo bench --bench chain -- N`
//! for a chain of N tasks. Plain `std::time::Instant`, no harness: the
//! numbers are for comparing changes on one machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flow::graph::Prelude;
use flow::source::SourceFile;
use flow::RunOptions;

/// The script `bench/gen.py` writes as `chain_100k.flow`.
fn chain(n: usize) -> String {
    let mut text = String::from("let t0 = noop()\n");
    for i in 1..n {
        text.push_str(&format!("let t{i} = noop(t{})\n", i - 1));
    }
    text.push_str(&format!("len(keys({{ last: t{} }}))\n", n - 1));
    text
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let text = chain(n);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let phases = ["parse", "resolve", "check", "lower", "run", "drop"];
    let mut best = [Duration::MAX; 6];
    for _ in 0..5 {
        let mut times = [Duration::ZERO; 6];
        let mut lap = Instant::now();
        let mut split = |i: usize| {
            times[i] = lap.elapsed();
            lap = Instant::now();
        };
        let source = SourceFile::new("chain.flow", text.clone());
        let program = flow::syntax::parse(&source).expect("the chain parses");
        split(0);
        let env = flow::check::Env::default();
        let resolution = flow::resolve::resolve(&program, &env);
        split(1);
        let diagnostics = flow::check::check_resolved(&program, &resolution, &env);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        split(2);
        let graph = flow::graph::lower_resolved(&program, &resolution, &Prelude::default())
            .expect("it lowers");
        split(3);
        drop(resolution);
        let outcome = runtime.block_on(flow::runtime::run(Arc::new(graph), RunOptions::new()));
        assert_eq!(outcome.status, flow::RunStatus::Succeeded);
        split(4);
        drop((outcome, program, source));
        split(5);
        for (b, t) in best.iter_mut().zip(times) {
            *b = (*b).min(t);
        }
    }
    // The same front end as `Engine::compile` runs it: for a script this big,
    // one thread resolves then checks while the other lowers, following the
    // resolution batch by batch.
    let engine = flow::Engine::new();
    let mut compile = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let script = engine.compile("chain.flow", &text).expect("it compiles");
        compile = compile.min(start.elapsed());
        drop(script);
    }
    let total: Duration = best.iter().sum();
    println!("chain of {n} tasks ({} bytes), best of 5:", text.len());
    for (name, t) in phases.iter().zip(best) {
        println!("  {name:<7} {:8.1} ms", t.as_secs_f64() * 1e3);
    }
    println!("  total   {:8.1} ms", total.as_secs_f64() * 1e3);
    println!(
        "  Engine::compile (parse, then resolve and check ∥ lower) {:8.1} ms",
        compile.as_secs_f64() * 1e3
    );
}
