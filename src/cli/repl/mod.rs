//! `flow repl` (and `flow` alone): experiment with agents and workflows one
//! entry at a time.
//!
//! | file | what it does |
//! |---|---|
//! | `session.rs` | the session core: compile an entry against earlier bindings, run it, commit it |
//! | `commands.rs` | `:help`, `:vars`, `:graph`, `:save`…, and [`handle`] for any input |
//! | `render.rs` | values as coloured JSON, task graphs as text |
//! | `save.rs` | the session as one script, renaming replaced bindings still in use |
//! | `store.rs` | the session's run in the run store; `:log` and `:why` |
//! | `terminal.rs` | the rustyline front end: prompt, history, completion, hints, Ctrl-C |
//! | this file | arguments, printing replies, the loop for stdin that is not a terminal, SIGTERM |

mod commands;
mod render;
mod save;
mod session;
mod store;
mod terminal;

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

pub use commands::{handle, is_command, Reply, COMMANDS};
pub use session::{Binding, EntryOutcome, Kind, Problem, RunControl, Session, SessionOptions};
pub use store::RunSlot;

use super::exit;
use super::progress::{Mode, Progress};
use crate::diag::RenderStyle;
use crate::syntax::needs_more_input;
use crate::value;

#[derive(clap::Args, Debug, Default)]
pub struct ReplArgs {
    #[command(flatten)]
    pub(crate) exec: super::run::ExecArgs,
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
    // Entries start commands and may grow big: huge pages as `flow` was given.
    crate::cli::pages::release();
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
        params: match args.exec.given_params() {
            Ok(params) => params,
            Err(message) => {
                errln!("error: {message}");
                return exit::USAGE;
            }
        },
        secrets: args.exec.secrets.clone(),
        budget: args.exec.budget(),
        terminal: super::ask::at_terminal(),
        executor: args.exec.executor.clone(),
        slurm_work_dir: args.exec.work_dir.clone(),
    };
    let mut session = Session::new(engine, options);
    // A store that cannot be used is said, and the REPL starts anyway: an
    // experiment is worth more than its record.
    let mut run = RunSlot::default();
    if !args.exec.no_store {
        match crate::store::Store::open(&args.exec.store.dir()) {
            Ok(store) => {
                super::slurm::cancel_strays(&store);
                run = session.record_in(store, &session.options().params.clone())
            }
            Err(e) => {
                super::store::store_error(&e);
                errln!("warning: this session goes on without recording its tasks (`:log` and `:why` have nothing to show)");
            }
        }
    }
    let interactive = std::io::stdin().is_terminal();
    let terminate = Terminate::watch(run, interactive);
    let progress = if args.exec.quiet {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Bar
    } else {
        Mode::Lines
    };
    let printer =
        Printer::new(std::io::stdout().is_terminal()).all_diagnostics(args.exec.all_diagnostics);
    let code = if interactive {
        terminal::run(&runtime, &mut session, printer, progress, &terminate)
    } else {
        piped(&runtime, &mut session, &printer, progress, &terminate)
    };
    session.finish_run(code);
    code
}

/// SIGTERM or SIGHUP ends the session as cancelled (exit code 130): a running entry is
/// cancelled, its processes killed, and the session ends when it has; at the
/// prompt, the session's run is finished at once and flow exits. Ctrl-C
/// (SIGINT) cancels the running entry only.
#[derive(Clone, Default)]
struct Terminate(Arc<TerminateState>);

#[derive(Default)]
struct TerminateState {
    received: AtomicBool,
    /// The running entry's token; held while flow exits at the prompt, so
    /// that no entry starts meanwhile.
    entry: Mutex<Option<CancellationToken>>,
}

impl Terminate {
    /// Starts the thread that waits for the signals (a thread: at the prompt,
    /// the REPL's own runtime is not running, and during an entry it may be
    /// busy with pure work); returns once it listens.
    fn watch(run: RunSlot, interactive: bool) -> Terminate {
        let terminate = Terminate::default();
        // rustyline holds the terminal in raw mode at the prompt: put it back
        let tty = interactive
            .then(|| nix::sys::termios::tcgetattr(std::io::stdin()).ok())
            .flatten();
        let (listening, ready) = std::sync::mpsc::channel();
        let state = terminate.0.clone();
        let spawned = std::thread::Builder::new()
            .name("flow-sigterm".into())
            .spawn(move || {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                // SIGHUP (the terminal closed) ends the session like SIGTERM.
                let signals = runtime.block_on(async {
                    (
                        signal(SignalKind::terminate()),
                        signal(SignalKind::hangup()),
                        signal(SignalKind::interrupt()),
                    )
                });
                let _ = listening.send(());
                let (Ok(mut term), Ok(mut hup), Ok(mut int)) = signals else {
                    return;
                };
                loop {
                    let ctrl_c = runtime.block_on(async {
                        tokio::select! {
                            _ = term.recv() => false,
                            _ = hup.recv() => false,
                            _ = int.recv() => true,
                        }
                    });
                    if !ctrl_c {
                        break;
                    }
                    // Ctrl-C cancels the running entry, from this thread:
                    // the entry's pure work sees it even while it keeps the
                    // REPL's thread busy. At an interactive prompt the line
                    // editor reads Ctrl-C as a key; a piped session waiting
                    // for input ends as SIGTERM would end it.
                    if let Ok(entry) = state.entry.lock() {
                        if let Some(token) = &*entry {
                            token.cancel();
                            continue;
                        }
                    }
                    if interactive {
                        continue;
                    }
                    break;
                }
                state.received.store(true, Ordering::SeqCst);
                let Ok(entry) = state.entry.lock() else {
                    return;
                };
                if let Some(token) = &*entry {
                    token.cancel();
                    return;
                }
                if let Some(journal) = run.lock().ok().and_then(|j| j.clone()) {
                    store::finish(&journal, exit::INTERRUPTED);
                }
                if let Some(tty) = &tty {
                    // ...and switch off its bracketed paste.
                    out!("\x1b[?2004l");
                    let _ = nix::sys::termios::tcsetattr(
                        std::io::stdin(),
                        nix::sys::termios::SetArg::TCSANOW,
                        tty,
                    );
                }
                errln!();
                errln!("terminated");
                std::process::exit(i32::from(exit::INTERRUPTED));
            });
        if spawned.is_ok() {
            let _ = ready.recv();
        }
        super::signals::release();
        terminate
    }

    fn received(&self) -> bool {
        self.0.received.load(Ordering::SeqCst)
    }

    /// Marks an entry running (`Some`) or over (`None`).
    fn entry(&self, token: Option<CancellationToken>) {
        if let Ok(mut entry) = self.0.entry.lock() {
            *entry = token;
        }
    }
}

/// Reads entries from stdin, which is not a terminal: no prompt, no colour.
/// Exits 1 if any entry failed, 130 if interrupted.
fn piped(
    runtime: &Runtime,
    session: &mut Session,
    printer: &Printer,
    progress: Mode,
    terminate: &Terminate,
) -> u8 {
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
        let (reply, interrupted) = run_input(runtime, session, &input, progress, terminate);
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

/// Runs one input with the progress display; Ctrl-C (or SIGTERM) cancels
/// it. Returns the reply and whether it was interrupted.
fn run_input(
    runtime: &Runtime,
    session: &mut Session,
    input: &str,
    mode: Mode,
    terminate: &Terminate,
) -> (Reply, bool) {
    let word = input.split_whitespace().next().unwrap_or("");
    let runs_tasks = !is_command(input) || commands::resolve(word) == Some(":load");
    let progress = Progress::new(if runs_tasks { mode } else { Mode::Quiet });
    let ctl = RunControl {
        cancel: CancellationToken::new(),
        observer: progress.observer(),
    };
    terminate.entry(Some(ctl.cancel.clone()));
    // Ctrl-C is the signal thread's (`Terminate::watch`): it cancels `ctl.cancel`.
    let reply = runtime.block_on(handle(session, input, &ctl));
    terminate.entry(None);
    // What the entry's tasks left running (a `setsid` or double-forked child) goes.
    super::reaper::sweep();
    progress.finish();
    (reply, ctl.cancel.is_cancelled() || terminate.received())
}

/// Prints replies: values and command output on stdout, problems on stderr.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    /// Colour on stdout.
    color: bool,
    diagnostics: RenderStyle,
    /// Every diagnostic of an entry, not only the first 20 of each code.
    all_diagnostics: bool,
}

impl Printer {
    pub fn new(stdout_is_terminal: bool) -> Printer {
        Printer {
            color: super::style::color_for(stdout_is_terminal),
            diagnostics: super::stderr_style(),
            all_diagnostics: false,
        }
    }

    /// Prints every diagnostic (`--all-diagnostics`), not only the first 20 of each code.
    pub fn all_diagnostics(self, all: bool) -> Printer {
        Printer {
            all_diagnostics: all,
            ..self
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
        let codes: Vec<_> = problems.iter().map(|p| p.diagnostic.code).collect();
        for (i, left_out) in super::shown(&codes, self.all_diagnostics) {
            let p = &problems[i];
            write!(err, "{}", p.diagnostic.render(&p.source, self.diagnostics))?;
            write!(err, "{}", super::left_out_line(left_out))?;
        }
        Ok(())
    }
}
