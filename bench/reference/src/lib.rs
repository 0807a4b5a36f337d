//! What the reference programs share: reading their numeric arguments, the
//! runtime they run on (tokio's current-thread runtime, as `flow run` uses),
//! and the workload shapes of `bench/gen.py`.

pub mod shapes;

/// `args` read as numbers; exits with `usage` unless there are exactly
/// `count` of them, each a number.
pub fn numbers(usage: &str, args: impl Iterator<Item = String>, count: usize) -> Vec<u64> {
    let args: Vec<String> = args.collect();
    let values: Vec<u64> = args.iter().filter_map(|arg| arg.parse().ok()).collect();
    if values.len() != count || args.len() != count {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    }
    values
}

/// A current-thread tokio runtime, as `flow run` has.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
