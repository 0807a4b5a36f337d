//! Front-end throughput: parses and checks generated scripts of 100 KB to 1 MB
//! made of realistic statements and prints milliseconds and MB/s per size.
//!
//! Run with `cargo bench --bench front_end`. Plain `std::time::Instant`, no
//! harness: the numbers are for comparing changes on one machine.

use std::time::{Duration, Instant};

use flow::source::SourceFile;

/// One block of realistic Flow, numbered so names stay unique.
fn chunk(i: usize) -> String {
    format!(
        r#"# batch {i}
param sources_{i} = ["db1", "db2", "db3"]
agent Writer_{i} = llm(model: "gpt-4o-mini", system: "You are a concise writer.") limit 2
let raw_{i} = map s in sources_{i} limit 4 {{ Extractor(source: s, attempt: {i}) timeout 30s retry 2 }}
let clean_{i} = Transformer(rows: raw_{i}, options: {{ dedupe: true, "max rows": 1000, ratio: 0.75 }})
let notes_{i} = Researcher("Collect facts about ${{topic}} for batch {i}", depth: cfg.depth + 1)
let draft_{i} = fanout {{
  intro: Writer_{i}("Write the introduction", notes: notes_{i}),
  body: Writer_{i}("Write the body about ${{notes_{i}.title}}", notes: notes_{i}) after clean_{i},
}}
let checks_{i} = gate {{
  lint: Linter(path: "src/{i}"),
  test: Tester(path: "src/{i}") where test.failed == 0 && test.total > 10,
}}
let result_{i} = if checks_{i}.test.total > 5 * {i} {{
  Processor("Use advanced processing", data: [1, 2, 3][0])
}} else {{
  try {{ Processor("basic") }} retry 3 backoff 2s else {{ null }}
}}
flow review_{i}(doc, extra) {{
  let critique = Critic("""
    Find weaknesses in ${{doc}}.
    Be specific.
    """, doc: doc)
  Editor("Revise", doc: doc, critique: critique)
}}
"#
    )
}

/// The declarations every chunk uses, so the script also passes `check`.
const PRELUDE: &str = r#"param topic = "tides"
param cfg = { depth: 2 }
agent Extractor = sh("./extract.sh")
agent Transformer = echo()
agent Researcher = echo()
agent Linter = echo()
agent Tester = echo()
agent Processor = echo()
agent Critic = echo()
agent Editor = echo()
"#;

fn script(target: usize) -> String {
    let mut text = String::with_capacity(target + 4096);
    text.push_str(PRELUDE);
    let mut i = 0;
    while text.len() < target {
        text.push_str(&chunk(i));
        i += 1;
    }
    text
}

fn main() {
    // `FLOW_BENCH_QUICK=1`: one parse of 100 KB, for instruction counts under
    // `valgrind --tool=callgrind` on machines too busy for wall-clock timing.
    let quick = std::env::var_os("FLOW_BENCH_QUICK").is_some();
    let sizes: &[(&str, usize)] = if quick {
        &[("100 KB", 100_000)]
    } else {
        &[
            ("100 KB", 100_000),
            ("250 KB", 250_000),
            ("500 KB", 500_000),
            ("1 MB", 1_000_000),
        ]
    };
    for &(label, size) in sizes {
        let source = SourceFile::new("bench.flow", script(size));
        let runs = if quick { 1 } else { 5 };
        let mut best = Duration::MAX;
        let mut best_check = Duration::MAX;
        let mut total = Duration::ZERO;
        for _ in 0..runs {
            let start = Instant::now();
            let program = flow::syntax::parse(&source);
            let parsed = start.elapsed();
            let Ok(program) = program else {
                panic!("the generated script parses")
            };
            let diagnostics = flow::check::check(&program, &flow::check::Env::default());
            let elapsed = start.elapsed();
            assert!(
                !flow::diag::has_errors(&diagnostics),
                "the generated script checks: {diagnostics:?}"
            );
            best = best.min(elapsed);
            best_check = best_check.min(elapsed - parsed);
            total += elapsed;
        }
        let bytes = source.text.len() as f64;
        println!(
            "{label:>7} ({:>8} bytes): parse + check best {:>7.2} ms (check {:>5.2} ms), mean {:>7.2} ms, {:>6.1} MB/s",
            source.text.len(),
            best.as_secs_f64() * 1e3,
            best_check.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3 / runs as f64,
            bytes / best.as_secs_f64() / 1e6,
        );
    }
}
