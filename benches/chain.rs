//! The 100,000-task chain of `bench/run.sh`, phase by phase: reading, parsing,
//! resolving names, checking, lowering, running and dropping, in milliseconds (best of five).
//!
//! Run with `cargo bench --bench chain`, or `cargo bench --bench chain -- N`
//! for a chain of N tasks; `-- diamond` for the diamond instead: 100 levels
//! of 1,000 tasks, each reading two tasks of the level above drawn at random
//! (seeded), 3.7 MB. Plain `std::time::Instant`, no harness: the numbers are
//! for comparing changes on one machine. The allocator is the `flow`
//! binary's (mimalloc), so the phases add up to what `flow run` spends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flow::graph::Prelude;
use flow::source::SourceFile;
use flow::RunOptions;

#[cfg(feature = "cli")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The script `bench/gen.py` writes as `chain_100k.flow`.
fn chain(n: usize) -> String {
    let mut text = String::from("let t0 = noop()\n");
    for i in 1..n {
        text.push_str(&format!("let t{i} = noop(t{})\n", i - 1));
    }
    text.push_str(&format!("len(keys({{ last: t{} }}))\n", n - 1));
    text
}

/// `levels` levels of `width` tasks; past the first level each task reads
/// two distinct tasks of the level above (splitmix64 from `seed`), and the
/// script ends with a fan-in of the last level.
fn diamond(levels: usize, width: usize, seed: u64) -> String {
    let mut state = seed;
    let mut draw = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as usize
    };
    let mut text = String::new();
    for i in 0..width {
        text.push_str(&format!("let n{i} = noop()\n"));
    }
    for task in width..levels * width {
        let above = (task / width - 1) * width;
        let a = draw() % width;
        let b = (a + 1 + draw() % (width - 1)) % width;
        text.push_str(&format!(
            "let n{task} = noop(n{}, b: n{})\n",
            above + a,
            above + b
        ));
    }
    let last: Vec<String> = ((levels - 1) * width..levels * width)
        .map(|t| format!("n{t}"))
        .collect();
    text.push_str(&format!("len([{}])\n", last.join(", ")));
    text
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (shape, text) = if args.iter().any(|a| a == "diamond") {
        ("diamond of 100 × 1,000".to_string(), diamond(100, 1000, 18))
    } else {
        let n = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
        (format!("chain of {n}"), chain(n))
    };
    // `FLOW_BENCH_WRITE=PATH`: the script is also written there, for `flow run`.
    if let Some(path) = std::env::var_os("FLOW_BENCH_WRITE") {
        std::fs::write(path, &text).expect("the script is written");
    }
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
        // As `flow run` runs it: a record only of what fails (`flow run`'s
        // store counts the successes of inline tasks instead).
        let options = RunOptions::new().record_all(false);
        let outcome = runtime.block_on(flow::runtime::run(Arc::new(graph), options));
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
    println!("{shape} tasks ({} bytes), best of 5:", text.len());
    for (name, t) in phases.iter().zip(best) {
        println!("  {name:<7} {:8.1} ms", t.as_secs_f64() * 1e3);
    }
    println!("  total   {:8.1} ms", total.as_secs_f64() * 1e3);
    println!(
        "  Engine::compile (parse, then resolve and check ∥ lower) {:8.1} ms",
        compile.as_secs_f64() * 1e3
    );
}
