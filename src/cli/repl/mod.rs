//! `flow repl` (and `flow` alone): experiment with agents and workflows one
//! entry at a time.
//!
//! | file | what it does |
//! |---|---|
//! | `session.rs` | the session core: compile an entry against earlier bindings, run it, commit it |
//! | `commands.rs` | `:help`, `:vars`, `:graph`, `:save`…, and [`handle`] for any input |
//! | `render.rs` | values as coloured JSON, task graphs as text |
//! | `save.rs` | the session as one script, renaming replaced bindings still in use |
//! | `terminal.rs` | the rustyline front end: prompt, history, completion, hints, Ctrl-C |
//! | this file | arguments, printing replies, the loop for stdin that is not a terminal |

mod commands;
mod render;
mod save;
mod session;
mod terminal;

use std::io::{BufRead, IsTerminal, Write};

use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

pub use commands::{handle, is_command, Reply, COMMANDS};
pub use session::{Binding, EntryOutcome, Kind, Problem, RunControl, Session, SessionOptions};

use super::exit;
use super::progress::{Mode, Progress};
use crate::diag::RenderStyle;
use crate::syntax::needs_more_input;
use crate::value;

#[derive(clap::Args, Debug, Default)]
pub struct ReplArgs {
    #[command(flatten)]
    exec: super::run::ExecArgs,
}

/// Runs the REPL: interactive on a terminal, else reading entries from stdin.
pub fn run(args: ReplArgs) -> u8 {
    let engine = match args.exec.engine() {
        Ok(engine) => engine,
        Err(message) => {
            errln!("error: {message}");
            return exit::USAGE;
        }
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
    let options = SessionOptions {
        jobs: args.exec.jobs.map(|j| j as usize),
        keep_going: args.exec.keep_going,
        params: args.exec.params,
    };
    let session = Session::new(engine, options);
    let progress = if args.exec.quiet {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Bar
    } else {
        Mode::Lines
    };
    let printer = Printer::new(std::io::stdout().is_terminal());
    if std::io::stdin().is_terminal() {
        terminal::run(&runtime, session, printer, progress)
    } else {
        piped(&runtime, session, &printer, progress)
    }
}

/// Reads entries from stdin, which is not a terminal: no prompt, no colour.
/// Exits 1 if any entry failed, 130 if interrupted.
fn piped(runtime: &Runtime, mut session: Session, printer: &Printer, progress: Mode) -> u8 {
    let mut stdin = std::io::stdin().lock();
    let mut failed = false;
    let mut buffer = String::new();
    loop {
        let line = match read_line(&mut stdin) {
            Ok(line) => line,
            Err(e) => {
                errln!("error: cannot read stdin: {e}");
                return exit::FAILED;
            }
        };
        let input = match line {
            Some(line) if buffer.is_empty() && is_command(&line) => line,
            Some(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
                if needs_more_input(&buffer) {
                    continue;
                }
                std::mem::take(&mut buffer)
            }
            // The end of input inside an open bracket: evaluate it for the error.
            None if !buffer.trim().is_empty() => std::mem::take(&mut buffer),
            None => break,
        };
        let (reply, interrupted) = run_input(runtime, &mut session, &input, progress);
        printer.reply(&reply);
        failed |= reply.failed();
        if interrupted {
            return exit::INTERRUPTED;
        }
        if let Reply::Quit = reply {
            break;
        }
    }
    if failed {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// One line without its `\n` or `\r\n`; bytes that are not UTF-8 are replaced
/// (the parser then reports them). `None` at the end of input.
fn read_line(input: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if input.read_until(b'\n', &mut bytes)? == 0 {
        return Ok(None);
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Runs one input with the progress display; Ctrl-C cancels it. Returns the
/// reply and whether Ctrl-C was pressed.
fn run_input(runtime: &Runtime, session: &mut Session, input: &str, mode: Mode) -> (Reply, bool) {
    let runs_tasks = !is_command(input) || input.trim_start().starts_with(":l");
    let progress = Progress::new(if runs_tasks { mode } else { Mode::Quiet });
    let ctl = RunControl {
        cancel: CancellationToken::new(),
        observer: progress.observer(),
    };
    let reply = runtime.block_on(async {
        let work = handle(session, input, &ctl);
        tokio::pin!(work);
        let mut listening = true;
        loop {
            tokio::select! {
                reply = &mut work => break reply,
                signal = tokio::signal::ctrl_c(), if listening => match signal {
                    Ok(()) => ctl.cancel.cancel(),
                    Err(_) => listening = false,
                },
            }
        }
    });
    progress.finish();
    (reply, ctl.cancel.is_cancelled())
}

/// Prints replies: values and command output on stdout, problems on stderr.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    /// Colour on stdout.
    color: bool,
    diagnostics: RenderStyle,
}

impl Printer {
    pub fn new(stdout_is_terminal: bool) -> Printer {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            color: stdout_is_terminal && !no_color,
            diagnostics: super::stderr_style(),
        }
    }

    pub fn reply(&self, reply: &Reply) {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        // A closed stdout or stderr is not worth a panic.
        let _ = match reply {
            Reply::Entry(outcome) => self.entry(outcome, &mut out, &mut err),
            Reply::Text(text) => write!(out, "{text}"),
            Reply::Error(message) => writeln!(err, "error: {message}"),
            Reply::Problems(message, problems) => {
                let _ = writeln!(err, "error: {message}");
                self.problems(problems, &mut err)
            }
            Reply::Quit => Ok(()),
        };
        let _ = out.flush();
    }

    fn entry(
        &self,
        outcome: &EntryOutcome,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> std::io::Result<()> {
        match outcome {
            EntryOutcome::Nothing => Ok(()),
            EntryOutcome::Done {
                value,
                bound,
                warnings,
            } => {
                self.problems(warnings, err)?;
                let show_bindings = value.is_none();
                for b in bound.iter().filter(|_| show_bindings) {
                    let Some(v) = &b.value else { continue };
                    let line = format!("{} = {}", b.name, value::preview(v, 70));
                    if self.color {
                        writeln!(out, "\x1b[2m{line}\x1b[0m")?;
                    } else {
                        writeln!(out, "{line}")?;
                    }
                }
                if let Some(v) = value {
                    writeln!(out, "{}", render::json(v, self.color))?;
                }
                Ok(())
            }
            EntryOutcome::Failed(problems) => self.problems(problems, err),
            EntryOutcome::Cancelled { running } => {
                if running.is_empty() {
                    writeln!(err, "interrupted: the entry was cancelled")?;
                } else {
                    writeln!(
                        err,
                        "interrupted: cancelled {} running task(s): {}",
                        running.len(),
                        running.join(", ")
                    )?;
                }
                writeln!(err, "the session is as it was before the entry")
            }
        }
    }

    fn problems(&self, problems: &[Problem], err: &mut impl Write) -> std::io::Result<()> {
        for p in problems {
            write!(err, "{}", p.diagnostic.render(&p.source, self.diagnostics))?;
        }
        Ok(())
    }
}
