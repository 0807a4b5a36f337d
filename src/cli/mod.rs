//! The `flow` command line: `run`, `check`, `explain`, `graph`, `repl`, the
//! run store's `runs`, `log`, `why`, `report` and `clean`, `approve`, `deny`
//! and `approvals`, which answer the questions of waiting runs, and
//! `completions` and `man`. `main` is tiny; exit codes are decided here, in
//! one place.

/// `print!`, `println!`, `eprint!` and `eprintln!` that never panic: a closed
/// pipe (`flow run … | head -1`) is no reason to crash, and the run it reports
/// on has already happened.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod approve;
mod ask;
mod check;
mod completions;
mod events;
mod follow;
mod graph;
mod json_report;
mod outputs;
#[cfg(target_os = "linux")]
mod pages;
mod progress;
#[cfg(target_os = "linux")]
mod reaper;
pub mod repl;
mod report;
mod run;
mod signals;
mod slurm;
mod store;
mod style;
mod summary;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{shown_per_code, Code, Diagnostic, RenderStyle};
use crate::engine::{CompileError, Engine};
use crate::source::{ReadError, SourceFile, MAX_SOURCE_BYTES};

/// Exit codes: 0 success, 1 the workflow failed, 2 usage, 3 syntax or
/// semantic errors, 130 interrupted.
/// Elsewhere than Linux: process groups only (see `reaper.rs`).
#[cfg(not(target_os = "linux"))]
mod reaper {
    pub fn start() {}
    pub fn start_guard() {}
    pub fn dismiss() {}
    pub fn sweep() -> usize {
        0
    }
    pub fn children() -> Vec<i32> {
        Vec::new()
    }
}

/// Elsewhere than Linux: no setting to hold (see `pages.rs`).
#[cfg(not(target_os = "linux"))]
mod pages {
    pub fn hold() {}
    pub fn release() {}
}

pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INVALID: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser, Debug)]
#[command(
    name = "flow",
    version,
    about = "Run workflows of agents: shell commands, LLMs, HTTP services"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Colour diagnostics and progress: `auto` on a terminal unless
    /// `NO_COLOR` is set (or anywhere with `CLICOLOR_FORCE`).
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t)]
    color: style::ColorChoice,
    /// Say less: no progress and no closing summary, only errors.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Say more: `-v` a line for every task that ends (also on a
    /// terminal); `-vv` also every task as it starts, with its command.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a script: the result goes to stdout as JSON, progress to stderr.
    Run(run::RunArgs),
    /// Parse, check and lint scripts without running anything.
    Check(check::CheckArgs),
    /// Explain a diagnostic code at length, with a bad and a good example.
    Explain {
        /// The code: `god-agent`, `god_agent` or `flow::lint::god_agent`; none lists every code.
        code: Option<String>,
    },
    /// Print a script's task graph; with `--run`, coloured by a recorded run.
    Graph(graph::GraphArgs),
    /// Try agents and workflows interactively (also: `flow` with no arguments).
    Repl(repl::ReplArgs),
    /// List the recorded runs, newest first.
    Runs(store::RunsArgs),
    /// Show what tasks printed (stdout and stderr) and their attempts: `flow log [RUN] [TASK…]`.
    Log(store::LogArgs),
    /// Say why tasks ran or were re-used: `flow why [RUN] [TASK…]`.
    Why(store::WhyArgs),
    /// Write a run's HTML report (timeline, graph, values, logs): `flow report [RUN] -o FILE.html`.
    Report(report::ReportArgs),
    /// Remove recorded runs and their files: `flow clean [--keep N] [--older-than AGE]`, or `flow clean RUN…`.
    Clean(store::CleanArgs),
    /// Approve a question an `approve` call waits on: `flow approve [RUN] TASK [--reason R]`.
    Approve(approve::DecideArgs),
    /// Deny a question an `approve` call waits on (the task fails): `flow deny [RUN] TASK [--reason R]`.
    Deny(approve::DecideArgs),
    /// List the questions of `approve` calls waiting for an answer: `flow approvals [RUN]`.
    Approvals(approve::ApprovalsArgs),
    /// Print a completion script for a shell: `flow completions bash > …` (see the README).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: completions::Shell,
    },
    /// Print the manual page (roff) of `flow`, or of one command: `flow man | man -l -`.
    Man {
        /// The command (`run`, `check`, …); none: `flow` itself.
        command: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

/// Turns transparent huge pages off until the work starts (`cli/pages.rs`).
/// The `flow` binary calls it before its `main`, from a constructor, so that
/// the standard library's first allocation is already made without them.
pub fn hold_huge_pages() {
    pages::hold();
}

/// Runs the command line and returns the process exit status.
pub fn run_command_line() -> u8 {
    #[cfg(target_os = "linux")]
    if let Some(tag) = reaper::guard_tag() {
        reaper::guard(&tag);
    }
    // `run` and `repl` hold the signals they answer from the first
    // instruction until their watchers listen (a Ctrl-C meanwhile waits);
    // the command is known for sure only once clap has parsed it.
    let command = first_word(std::env::args_os().skip(1));
    let starts_processes = command.as_ref().is_none_or(|c| c == "run" || c == "repl");
    if starts_processes {
        signals::hold();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    style::set(
        cli.color,
        style::Verbosity::from_flags(cli.quiet, cli.verbose),
    );
    // Before any thread starts: `run` and `repl` start processes.
    match &cli.command {
        // its guard once it knows the script starts processes (`run.rs`)
        Some(Command::Run(_)) => reaper::start(),
        // an entry may start processes at any time
        Some(Command::Repl(_)) | None => {
            reaper::start();
            reaper::start_guard();
        }
        _ if starts_processes => signals::release(),
        _ => {}
    }
    let code = match cli.command {
        Some(Command::Run(mut args)) => {
            args.exec.quiet = cli.quiet;
            run::run(args)
        }
        Some(Command::Check(args)) => check::check(&args),
        Some(Command::Explain { code }) => check::explain(code.as_deref()),
        Some(Command::Graph(args)) => graph::graph(args),
        Some(Command::Repl(mut args)) => {
            args.exec.quiet = cli.quiet;
            repl::run(args)
        }
        Some(Command::Runs(args)) => store::runs(&args),
        Some(Command::Log(args)) => store::log(&args),
        Some(Command::Why(args)) => store::why(&args),
        Some(Command::Report(args)) => report::report(&args),
        Some(Command::Clean(args)) => store::clean(&args),
        Some(Command::Approve(args)) => approve::decide(&args, true),
        Some(Command::Deny(args)) => approve::decide(&args, false),
        Some(Command::Approvals(args)) => approve::list(&args),
        Some(Command::Completions { shell }) => completions::completions(shell),
        Some(Command::Man { command }) => completions::man(command.as_deref()),
        None => {
            let mut args = repl::ReplArgs::default();
            args.exec.quiet = cli.quiet;
            repl::run(args)
        }
    };
    // Everything the run started is gone (its last sweep): the guard may go
    // without looking through every process of the machine.
    reaper::dismiss();
    code
}

/// The command word of a command line, before clap reads it: the first
/// argument that is neither a flag nor the value of a global flag
/// (`flow --color never run x.flow`).
fn first_word(args: impl Iterator<Item = std::ffi::OsString>) -> Option<std::ffi::OsString> {
    let mut value_next = false;
    for arg in args {
        let text = arg.to_string_lossy();
        if std::mem::take(&mut value_next) {
            continue;
        }
        if text == "--color" {
            value_next = true;
        } else if !text.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// How diagnostics are drawn on stderr: colour as `--color` says (on a
/// terminal unless `NO_COLOR`, by default).
pub(crate) fn stderr_style() -> RenderStyle {
    let color = style::color_stderr();
    let width = terminal_width().unwrap_or(100);
    RenderStyle { color, width }
}

fn terminal_width() -> Option<usize> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}

/// Prints diagnostics on stderr: the first [`crate::diag::SHOWN_PER_CODE`] of each code and
/// a count of the rest, or every one with `all` (`--all-diagnostics`). Only
/// those shown are rendered.
pub(crate) fn print_diagnostics(source: &SourceFile, diagnostics: &[Diagnostic], all: bool) {
    let style = stderr_style();
    let codes: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
    for (i, left_out) in shown(&codes, all) {
        err!("{}", diagnostics[i].render(source, style));
        err!("{}", left_out_line(left_out));
    }
}

/// The diagnostics to print, by index, each with how many like it are left
/// out after it: every one with `all`, else the first of each code.
pub(crate) fn shown(codes: &[Code], all: bool) -> Vec<(usize, usize)> {
    if all {
        (0..codes.len()).map(|i| (i, 0)).collect()
    } else {
        shown_per_code(codes)
    }
}

/// The line after the last diagnostic shown of a code with more (nothing
/// when none was left out).
pub(crate) fn left_out_line(left_out: usize) -> String {
    if left_out == 0 {
        return String::new();
    }
    format!("… and {left_out} more like this (`--all-diagnostics` shows them)\n")
}

/// Reads a script, with a diagnostic-style message when that fails.
/// `-` reads the script from standard input.
pub(crate) fn read_source(path: &std::path::Path) -> Result<SourceFile, String> {
    let from_stdin = path.as_os_str() == "-";
    let name = if from_stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let failed = |e: std::io::Error| format!("cannot read `{name}`: {}", io_reason(&e));
    let too_big = |len: usize| {
        format!(
            "`{name}` is {len} bytes; scripts are limited to {} MiB",
            MAX_SOURCE_BYTES >> 20
        )
    };
    let not_utf8 = |at: usize| format!("`{name}` is not UTF-8 text (invalid byte at offset {at})");
    if !from_stdin {
        // A file of known size is read straight into the buffer the script
        // keeps (`source::read_shared`).
        let mut file = std::fs::File::open(path).map_err(failed)?;
        let meta = file.metadata().map_err(failed)?;
        let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        if meta.is_file() && len > 0 {
            if len > MAX_SOURCE_BYTES {
                return Err(too_big(len));
            }
            // A big script is big work from the start, whichever command
            // reads it (see `pages.rs`): huge pages before its buffer is made.
            if len >= crate::syntax::PARALLEL_MIN_BYTES {
                pages::release();
            }
            match crate::source::read_shared(&mut file, len) {
                Ok(Some(text)) => return Ok(without_bom(name, text)),
                // It changed while it was read: once more, the plain way.
                Ok(None) => {}
                Err(ReadError::Io(e)) => return Err(failed(e)),
                Err(ReadError::NotUtf8 { valid_up_to }) => return Err(not_utf8(valid_up_to)),
            }
        }
    }
    let bytes = if from_stdin {
        use std::io::Read;
        let mut bytes = Vec::new();
        let limit = MAX_SOURCE_BYTES as u64 + 1;
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .map(|_| bytes)
    } else {
        std::fs::read(path)
    }
    .map_err(failed)?;
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(too_big(bytes.len()));
    }
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(e.utf8_error().valid_up_to()))?;
    if text.len() >= crate::syntax::PARALLEL_MIN_BYTES {
        pages::release();
    }
    Ok(without_bom(name, text.into()))
}

/// The script without a byte-order mark, as some editors save UTF-8 (not
/// part of the script; rare, so dropping it may copy the text).
fn without_bom(name: String, text: std::sync::Arc<str>) -> SourceFile {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => SourceFile::new(name, rest),
        None => SourceFile::new(name, text),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a folder, not a script".to_string(),
        _ => e.to_string(),
    }
}

/// A count on the command line (`--keep 5`), or what is wrong with it in
/// words: the standard library's parse error says "invalid digit found in
/// string".
pub(crate) fn count<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number (0 or more)"))
}

/// A run's number on the command line, or what is wrong with it in words.
pub(crate) fn run_number(text: &str) -> Result<i64, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a run number (`flow runs` lists them)"
        )),
    }
}

/// Compiles a file, printing its diagnostics; `Err` carries the exit code
/// and what went wrong (as JSON for `--json`, made only when asked for).
pub(crate) fn compile_file(
    engine: &Engine,
    path: &std::path::Path,
    all_diagnostics: bool,
    on_read: impl FnOnce(&SourceFile),
) -> Result<crate::engine::Script, (u8, NotCompiled)> {
    let source = read_source(path).map_err(|message| {
        errln!("error: {message}");
        (exit::USAGE, NotCompiled::Unreadable(message))
    })?;
    on_read(&source);
    match engine.compile_with(source, &engine.check_env(), &Default::default()) {
        Ok(script) => {
            // `# flow: allow(unused-binding)` holds here too.
            let warnings = crate::lint::levels::silence(
                &script.source,
                Some(&script.program),
                script.warnings.clone(),
            );
            print_diagnostics(&script.source, &warnings, all_diagnostics);
            Ok(script)
        }
        Err(error) => {
            print_diagnostics(&error.source, &error.diagnostics, all_diagnostics);
            Err((exit::INVALID, NotCompiled::Invalid(error)))
        }
    }
}

/// Why a script did not compile.
pub(crate) enum NotCompiled {
    /// It could not be read.
    Unreadable(String),
    /// It has errors.
    Invalid(CompileError),
}

impl NotCompiled {
    /// The errors as JSON: every diagnostic (`--json` is for programs).
    pub(crate) fn to_json(&self) -> Vec<serde_json::Value> {
        match self {
            NotCompiled::Unreadable(message) => {
                vec![serde_json::json!({ "severity": "error", "message": message })]
            }
            NotCompiled::Invalid(CompileError {
                source,
                diagnostics,
            }) => diagnostics.iter().map(|d| d.to_json(source)).collect(),
        }
    }
}

/// The capabilities `--deny` and `--allow` ask for, or a usage error naming
/// the ones that exist.
pub(crate) fn capabilities(
    registry: &crate::agent::Registry,
    deny: &[String],
    allow: &[String],
) -> Result<crate::agent::Capabilities, String> {
    let deny: Vec<&str> = deny.iter().map(|c| c.trim()).collect();
    let allow: Vec<&str> = allow.iter().map(|c| c.trim()).collect();
    if deny.is_empty() && allow.is_empty() {
        return Ok(crate::agent::Capabilities::all());
    }
    if let Some(unknown) = registry.unknown_capability(deny.iter().chain(&allow).copied()) {
        return Err(format!(
            "`{unknown}` is not a capability; the capabilities are {}",
            registry.capability_list()
        ));
    }
    if let Some(both) = deny.iter().find(|d| allow.contains(d)) {
        return Err(format!("`{both}` is both denied and allowed; say it once"));
    }
    let mut capabilities = if allow.is_empty() {
        crate::agent::Capabilities::all()
    } else {
        crate::agent::Capabilities::only(allow)
    };
    for name in deny {
        capabilities = capabilities.deny(name);
    }
    Ok(capabilities)
}

#[cfg(test)]
mod tests {
    use super::first_word;

    #[test]
    fn the_command_word_skips_flags_and_the_value_of_color() {
        let word = |args: &[&str]| {
            first_word(args.iter().map(std::ffi::OsString::from))
                .map(|w| w.to_string_lossy().into_owned())
        };
        assert_eq!(
            word(&["--color", "never", "run", "x.flow"]).as_deref(),
            Some("run")
        );
        assert_eq!(
            word(&["--color=never", "-q", "repl"]).as_deref(),
            Some("repl")
        );
        assert_eq!(word(&["-v"]), None);
    }
}
