//! `flow run`: compile, run with live progress, print the result.

use std::io::IsTerminal;
use std::path::PathBuf;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::progress::{Mode, Progress};
use super::{compile_file, exit, print_diagnostics};
use crate::engine::Engine;
use crate::runtime::{RunOptions, RunStatus, TaskStatus};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The script to run (`-`: read it from standard input).
    file: PathBuf,
    #[command(flatten)]
    exec: ExecArgs,
    /// Print one JSON document (status, result, tasks) instead of the result.
    #[arg(long)]
    json: bool,
}

/// The options `flow run` and `flow repl` share.
#[derive(clap::Args, Debug, Default)]
pub struct ExecArgs {
    /// Set a `param` the script declares: NAME=VALUE, the value read as JSON,
    /// else as a string.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, Value)>,
    /// Most tasks running at once [default: the number of CPUs, for `sh` tasks].
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// After a failure, let independent branches finish.
    #[arg(long, short = 'k')]
    pub keep_going: bool,
    /// No progress on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Switch capabilities off: the script is refused before anything runs
    /// if it uses one (`sh`, `http`, `llm`, `env`; comma-separated).
    #[arg(long, value_name = "CAPABILITIES", value_delimiter = ',')]
    pub deny: Vec<String>,
    /// Permit only these capabilities (an allow-list; comma-separated).
    #[arg(long, value_name = "CAPABILITIES", value_delimiter = ',')]
    pub allow: Vec<String>,
}

impl ExecArgs {
    /// The engine these options ask for, or a usage error.
    pub fn engine(&self) -> Result<Engine, String> {
        let engine = Engine::new();
        let capabilities = super::capabilities(engine.registry(), &self.deny, &self.allow)?;
        Ok(engine.capabilities(capabilities))
    }
}

/// Splits `name=value`; the value is JSON when it parses, else a string.
pub fn parse_param(text: &str) -> Result<(String, Value), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("`--param {text}` needs the form NAME=VALUE"));
    };
    let name = name.trim();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` is not a param name (letters, digits and `_`)"
        ));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((name.to_string(), value))
}

pub fn run(args: RunArgs) -> u8 {
    let engine = match args.exec.engine() {
        Ok(engine) => engine,
        Err(message) => {
            errln!("error: {message}");
            return exit::USAGE;
        }
    };
    let script = match compile_file(&engine, &args.file) {
        Ok(s) => s,
        Err((code, diagnostics)) => {
            if args.json {
                // One document also when the script does not compile.
                let doc = serde_json::json!({
                    "status": "invalid",
                    "result": null,
                    "tasks": [],
                    "errors": diagnostics,
                });
                outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            return code;
        }
    };
    let mode = if args.exec.quiet || args.json {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Bar
    } else {
        Mode::Lines
    };
    let progress = Progress::new(mode);
    let cancel = CancellationToken::new();
    let options = RunOptions {
        jobs: args.exec.jobs.map(|j| j as usize),
        keep_going: args.exec.keep_going,
        params: args.exec.params.clone(),
        host_agents: Vec::new(),
        executor: None,
        observer: progress.observer(),
        cancel: cancel.clone(),
        // Only `--json` lists every task; failures are always kept.
        record_all: args.json,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the runtime: {e}");
            return exit::FAILED;
        }
    };
    let outcome = runtime.block_on(async {
        tokio::spawn(cancel_on_signals(cancel));
        engine.run(&script, options).await
    });
    progress.finish();
    if !args.exec.quiet && !args.json {
        if let Some(usage) = outcome.usage() {
            errln!("{}", usage_summary(&usage));
        }
    }
    if args.json {
        let mut doc = outcome.to_json();
        doc["errors"] = outcome
            .errors
            .iter()
            .map(|d| d.to_json(&script.source))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    let code = report(&args, &script, &outcome);
    // The process ends now: freeing a big graph and its values one by one
    // would only delay the exit (the chain benchmark's 100,000 tasks: 15 ms).
    std::mem::forget((script, outcome));
    code
}

/// Prints the outcome of a run; returns the exit code.
fn report(args: &RunArgs, script: &crate::engine::Script, outcome: &crate::Outcome) -> u8 {
    match outcome.status {
        RunStatus::Succeeded => {
            if !args.json {
                let result = outcome.result.as_deref().cloned().unwrap_or(Value::Null);
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&result).unwrap_or_default()
                );
            }
            exit::OK
        }
        RunStatus::Failed => {
            print_diagnostics(&script.source, &outcome.errors);
            // A `--param` the script does not declare is a usage error.
            let bad_params = !outcome.errors.is_empty()
                && outcome
                    .errors
                    .iter()
                    .all(|d| d.code == crate::diag::Code::UnknownParam);
            if bad_params {
                exit::USAGE
            } else {
                exit::FAILED
            }
        }
        RunStatus::Cancelled => {
            let running: Vec<String> = outcome
                .tasks
                .iter()
                .filter(|t| t.status == TaskStatus::Cancelled)
                .map(|t| t.id())
                .collect();
            if running.is_empty() {
                errln!("interrupted: no task was running");
            } else {
                let tasks = if running.len() == 1 { "task" } else { "tasks" };
                errln!(
                    "interrupted: cancelled {} running {tasks}: {}",
                    running.len(),
                    running.join(", ")
                );
            }
            exit::INTERRUPTED
        }
    }
}

/// Ctrl-C and SIGTERM cancel the run.
async fn cancel_on_signals(cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    cancel.cancel();
}

/// One line for the run's token usage: `tokens: 120 prompt + 30 completion = 150`.
fn usage_summary(usage: &Value) -> String {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    format!(
        "tokens: {} prompt + {} completion = {}",
        count("prompt_tokens"),
        count("completion_tokens"),
        count("total_tokens").max(count("prompt_tokens") + count("completion_tokens"))
    )
}
