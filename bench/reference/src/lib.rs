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

/// What `spawn` and `spawn-loop` exec: `true` as found on `PATH` once (as
/// `flow` looks a program up), and this process's environment, each as C
/// strings.
pub fn true_and_environment() -> (std::ffi::CString, Vec<std::ffi::CString>) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let program = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("true"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| std::path::PathBuf::from("/bin/true"));
    let program = CString::new(program.as_os_str().as_bytes()).expect("a path without NUL");
    let environment = std::env::vars_os()
        .map(|(name, value)| {
            let mut entry = name.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            CString::new(entry).expect("no NUL in the environment")
        })
        .collect();
    (program, environment)
}
