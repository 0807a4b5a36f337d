//! The `sh` backend: runs one command with `/bin/sh -c` as a child process group.
//!
//! A task is its process group. The shell starts as the leader of a new group,
//! and everything it starts stays in that group unless it leaves on purpose
//! (`setsid`, a daemon's double fork): those escapees are out of reach.
//! When the call ends, however it ends, the whole group is killed:
//!
//! - the shell exits: stdout and stderr are drained for at most
//!   [`ShOptions::drain`] more (a background `sleep 30 &` may hold them open),
//!   then the group gets SIGKILL, so nothing it left behind keeps running;
//! - the cancellation token fires: SIGTERM (and SIGCONT) to the group, up to
//!   [`ShOptions::kill_grace`] for the shell to exit, then SIGKILL to the group;
//! - stdout grows past [`ShOptions::max_stdout`], or reading it fails: SIGKILL;
//! - the [`run`] future is dropped: SIGKILL, synchronously, in `Drop`.
//!
//! The shell itself is always reaped: by [`run`], or, when its future is
//! dropped, by a task of its own (when the runtime is gone, when the next
//! command starts). `process.rs` says why children are started with `clone`
//! rather than `posix_spawn`.

mod context;
mod error;
mod output;
mod process;
mod quote;
mod spawn;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use context::{contexts, reference, ShellContext, AFTER_BACKSLASH, QUOTED_HEREDOC};

/// The prefix of the environment variables that carry the values of a
/// command's `${…}`: `FLOW_VALUE_1`, `FLOW_VALUE_2`, …
pub const VALUE_VAR: &str = "FLOW_VALUE_";
pub use error::ShError;
pub use quote::{quote, quote_value};
pub use spawn::Environment;

/// One call of an `sh` agent.
#[derive(Clone, Debug, Default)]
pub struct ShCommand {
    /// The command line for `/bin/sh -c`. A value in it must be passed in a
    /// variable of `env` the command refers to (as Flow does for `${…}`), or
    /// go through [`quote`] or [`quote_value`].
    pub cmd: String,
    /// The working folder; the interpreter's own when `None`.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables from the agent's `env:` config. They override
    /// both the inherited environment and the context's variables.
    ///
    /// `FLOW_INSTRUCTIONS` is never inherited; it is `instructions` when present,
    /// else whatever `env` or the context set it to.
    pub env: Vec<(String, String)>,
    /// The call's instructions, passed as `FLOW_INSTRUCTIONS` when present.
    pub instructions: Option<String>,
    /// The call's named arguments: written to stdin as one JSON object (`{}`
    /// when empty), and each key that is a valid variable name
    /// (`[A-Za-z_][A-Za-z0-9_]*`) also set as an environment variable: a string
    /// as its text, any other value as its compact JSON. A key that is not a
    /// valid name, a value holding a NUL byte, a variable over 128 KiB, and the
    /// variables past the first 1 MiB in all (in context order) are only on
    /// stdin, so that a big context never stops the command from starting.
    pub context: Map<String, Value>,
}

/// Limits for running commands; the defaults suit the interpreter.
#[derive(Clone, Debug)]
pub struct ShOptions {
    /// The most stdout bytes kept; more fails the call with
    /// [`ShError::StdoutTooLarge`]. Default 64 MiB.
    pub max_stdout: usize,
    /// How many of the last stderr bytes are kept for error messages. Default 8 KiB.
    pub stderr_tail: usize,
    /// After SIGTERM on cancellation, how long the shell gets to exit before
    /// SIGKILL. Default 2 s.
    pub kill_grace: Duration,
    /// After the shell exits, how long its leftover processes may keep stdout
    /// or stderr open before the group is killed and the output taken as
    /// complete. Default 100 ms.
    pub drain: Duration,
    /// The environment commands inherit (before [`ShCommand`]'s changes):
    /// when `None` (the default), the process's own, read at each call. The
    /// interpreter captures it once per run, so its commands see the
    /// environment as it was when the run started them, and a big one is not
    /// copied for every command.
    pub environment: Option<Environment>,
}

impl Default for ShOptions {
    fn default() -> Self {
        ShOptions {
            max_stdout: 64 << 20,
            stderr_tail: 8 << 10,
            kill_grace: Duration::from_secs(2),
            drain: Duration::from_millis(100),
            environment: None,
        }
    }
}

/// Runs `cmd` with `/bin/sh -c` in a new process group and returns its stdout
/// as a value (see [`ShCommand`] for the inputs; the output is the stdout
/// parsed as JSON when it parses, else its text with one final newline
/// removed, `""` when empty).
///
/// Fails with [`ShError::Exit`] or [`ShError::Signal`] (with the stderr tail)
/// when the shell does not exit with status 0, and with [`ShError::Cancelled`]
/// as soon as `cancel` fires and the group is stopped. See the module
/// documentation for how the process group is always cleaned up.
///
/// Needs a Tokio runtime with IO and time enabled (`enable_all`); the spawn
/// itself blocks the calling thread until the child has called `exec`. A
/// child that never reads its stdin is fine, as long as the interpreter
/// ignores SIGPIPE (every Rust program does).
pub async fn run(
    cmd: &ShCommand,
    opts: &ShOptions,
    cancel: &CancellationToken,
) -> Result<Value, ShError> {
    if cancel.is_cancelled() {
        return Err(ShError::Cancelled);
    }
    let input = serde_json::to_vec(&cmd.context).unwrap_or_else(|_| b"{}".to_vec());
    let spawn::Started {
        mut process,
        mut group,
        stdin,
        input,
        mut stdout,
        mut stderr,
    } = spawn::spawn(cmd, &input, opts.environment.as_ref())?;

    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut status = None;
    let end = {
        let mut cancelled = pin!(cancel.cancelled());
        let mut feed = pin!(feed(stdin, input));
        let mut read_out = pin!(output::read_capped(&mut stdout, &mut out, opts.max_stdout));
        let mut read_err = pin!(output::read_tail(&mut stderr, &mut err, opts.stderr_tail));
        let mut wait = pin!(process.wait());
        // Most commands close their output as they exit: their exit is then
        // only checked for once both pipes are at their end. One that has not
        // by this delay may have exited with a leftover holding a pipe, so
        // its exit is awaited from then on.
        let mut watch_exit = pin!(tokio::time::sleep(EXIT_WATCH_DELAY));
        let mut drain = pin!(tokio::time::sleep(opts.drain));
        let (mut fed, mut out_done, mut err_done, mut watching) = (false, false, false, false);
        loop {
            if out_done && err_done {
                if status.is_some() {
                    break End::Exited;
                }
                watching = true;
            }
            tokio::select! {
                biased;
                () = &mut cancelled => break End::Cancelled,
                read = &mut read_out, if !out_done => match read {
                    Ok(false) => out_done = true,
                    Ok(true) => break End::TooLarge,
                    Err(source) => break End::Io(source),
                },
                read = &mut read_err, if !err_done => match read {
                    Ok(()) => err_done = true,
                    Err(source) => break End::Io(source),
                },
                () = &mut feed, if !fed => fed = true,
                exit = &mut wait, if watching && status.is_none() => match exit {
                    Ok(exit) => {
                        status = Some(exit);
                        if !(out_done && err_done) {
                            drain.as_mut().reset(after(opts.drain));
                        }
                    }
                    Err(source) => break End::Io(source),
                },
                () = &mut watch_exit, if !watching => watching = true,
                () = &mut drain, if status.is_some() => break End::Exited,
            }
        }
    };

    let result = match end {
        End::Exited => match status {
            Some(status) => exit_result(status, out, &err, opts),
            None => Err(ShError::Io {
                source: io::Error::other("the shell's exit was lost"),
            }),
        },
        End::TooLarge => Err(ShError::StdoutTooLarge {
            limit: opts.max_stdout,
        }),
        End::Io(source) => Err(ShError::Io { source }),
        End::Cancelled => {
            if status.is_none() {
                group.signal(Signal::SIGTERM);
                // a stopped process acts on SIGTERM only once continued
                group.signal(Signal::SIGCONT);
                let _ = tokio::time::timeout(opts.kill_grace, process.wait()).await;
            }
            Err(ShError::Cancelled)
        }
    };
    // Leftovers die here. When the shell was reaped above and nothing else was
    // left in its group, the id is free and could in theory have been reused
    // for a new group in the meantime; the kernel never reuses it while any
    // process of the old group lives.
    group.kill();
    let _ = process.wait().await;
    group.disarm();
    match result {
        Ok(bytes) => Ok(output::stdout_value(bytes)),
        Err(error) => Err(error),
    }
}

/// How long a command may run before its exit is awaited even though its
/// output is still open (see [`run`]).
const EXIT_WATCH_DELAY: Duration = Duration::from_millis(10);

/// How the reading loop of [`run`] ended.
enum End {
    /// The shell exited and stdout and stderr were drained.
    Exited,
    TooLarge,
    Cancelled,
    Io(io::Error),
}

/// The instant `duration` from now, or a far one when that overflows.
fn after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(86400 * 365 * 30))
}

/// Writes the context to the child's stdin, then closes it. A child that
/// exits or closes stdin without reading it all is fine: the error is dropped.
async fn feed(stdin: Option<pipe::Sender>, input: &[u8]) {
    if let Some(mut stdin) = stdin {
        let _ = stdin.write_all(input).await;
    }
}

/// The stdout of a shell that exited with `status`, or why it failed.
fn exit_result(
    status: ExitStatus,
    out: Vec<u8>,
    err: &[u8],
    opts: &ShOptions,
) -> Result<Vec<u8>, ShError> {
    let tail = || output::tail_text(err, opts.stderr_tail);
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(out),
        (Some(code), _) => Err(ShError::Exit {
            code,
            stderr_tail: tail(),
        }),
        (None, Some(number)) => Err(ShError::Signal {
            signal: match Signal::try_from(number) {
                Ok(signal) => signal.as_str().to_string(),
                Err(_) => format!("signal {number}"),
            },
            stderr_tail: tail(),
        }),
        (None, None) => Err(ShError::Signal {
            signal: "an unknown signal".into(),
            stderr_tail: tail(),
        }),
    }
}
