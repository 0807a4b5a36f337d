//! The `flow` binary: everything happens in [`flow::cli`].

fn main() -> std::process::ExitCode {
    flow::cli::main()
}
