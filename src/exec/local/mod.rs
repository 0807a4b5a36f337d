//! The local executor's engine: runs one command with `/bin/sh -c` (or the
//! program directly, when the shell would only exec it) as a child process group.
//!
//! A task is its process group. The shell starts as the leader of a new group,
//! and everything it starts stays in that group unless it leaves on purpose
//! (`setsid`, a daemon's double fork): those escapees are out of reach.
//! When the call ends, however it ends, the whole group is killed:
//!
//! - the shell exits: stdout and stderr are drained for at most
//!   [`LocalOptions::drain`] more (a background `sleep 30 &` may hold them open),
//!   then the group gets SIGKILL, so nothing it left behind keeps running;
//! - the cancellation token fires: SIGTERM (and SIGCONT) to the group, up to
//!   [`LocalOptions::kill_grace`] for the shell to exit, then SIGKILL to the group;
//! - stdout grows past [`LocalOptions::max_stdout`], or reading it fails: SIGKILL;
//! - the [`run`] future is dropped: SIGKILL, synchronously, in `Drop`.
//!
//! The shell itself is always reaped: by [`run`], or, when its future is
//! dropped, in the background (see the spawner).
//!
//! Two spawners start children, with the same behaviour for all of the
//! above: tokio's `Command` (`child.rs`, no `unsafe` code), and, with the
//! `fast-spawn` cargo feature on Linux, a hand-written `clone` and `exec`
//! (`process.rs`, which says what it gains and bench/README.md how that was
//! measured). `child.rs` lists the two differences between them.

#[cfg(any(test, not(all(target_os = "linux", feature = "fast-spawn"))))]
mod child;
pub(super) mod output;
#[cfg(all(target_os = "linux", feature = "fast-spawn"))]
mod process;
pub(super) mod spawn;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::pin::pin;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CommandOutput, CommandSpec, ExecError};
pub use output::stdout_text;
pub use spawn::Environment;

/// Limits for running commands; the defaults suit the interpreter.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// The most stdout bytes kept; more fails the call with
    /// [`ExecError::StdoutTooLarge`]. Default 64 MiB.
    pub max_stdout: usize,
    /// How many of the last stderr bytes are kept (for error messages and the
    /// run store's logs); a failed command's stdout keeps as many. Default 64 KiB.
    pub stderr_tail: usize,
    /// After SIGTERM on cancellation, how long the shell gets to exit before
    /// SIGKILL. Default 2 s.
    pub kill_grace: Duration,
    /// After the shell exits, how long its leftover processes may keep stdout
    /// or stderr open before the group is killed and the output taken as
    /// complete. Default 100 ms.
    pub drain: Duration,
    /// The environment commands inherit (before [`CommandSpec`]'s changes):
    /// when `None` (the default), the process's own, read at each call. The
    /// interpreter captures it once per run, so its commands see the
    /// environment as it was when the run started them, and a big one is not
    /// copied for every command.
    pub environment: Option<Environment>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            max_stdout: 64 << 20,
            stderr_tail: 64 << 10,
            kill_grace: Duration::from_secs(2),
            drain: Duration::from_millis(100),
            environment: None,
        }
    }
}

/// Runs `cmd` with `/bin/sh -c` in a new process group and returns its stdout
/// as a string value (see [`CommandSpec`] for the inputs; the output is
/// [`stdout_text`]: the text with one final newline removed, `""` when empty).
///
/// Fails with [`ExecError::Exit`] or [`ExecError::Signal`] (with the stderr tail)
/// when the shell does not exit with status 0, and with [`ExecError::Cancelled`]
/// as soon as `cancel` fires and the group is stopped. See the module
/// documentation for how the process group is always cleaned up.
///
/// Needs a Tokio runtime with IO and time enabled (`enable_all`); the spawn
/// itself blocks the calling thread until the child has called `exec`. A
/// child that never reads its stdin is fine, as long as the interpreter
/// ignores SIGPIPE (every Rust program does).
pub async fn run(
    cmd: &CommandSpec,
    opts: &LocalOptions,
    cancel: &CancellationToken,
) -> Result<Value, ExecError> {
    let output = run_command(cmd, opts, cancel).await?;
    Ok(Value::String(output::stdout_text(output.stdout)))
}

/// [`run`], reporting the command's raw stdout, its stderr tail and how long
/// it took instead of a value: what [`LocalExecutor`](super::LocalExecutor) reports.
pub async fn run_command(
    cmd: &CommandSpec,
    opts: &LocalOptions,
    cancel: &CancellationToken,
) -> Result<CommandOutput, ExecError> {
    let clock = std::time::Instant::now();
    if cancel.is_cancelled() {
        return Err(ExecError::cancelled());
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
            Some(status) => exit_result(status, out, &err, &cmd.ok_codes, opts),
            None => Err(ExecError::Io {
                source: io::Error::other("the shell's exit was lost"),
            }),
        },
        End::TooLarge => Err(ExecError::StdoutTooLarge {
            limit: opts.max_stdout,
        }),
        End::Io(source) => Err(ExecError::Io { source }),
        End::Cancelled => {
            if status.is_none() {
                group.signal(Signal::SIGTERM);
                // a stopped process acts on SIGTERM only once continued
                group.signal(Signal::SIGCONT);
                let _ = tokio::time::timeout(opts.kill_grace, process.wait()).await;
            }
            // What it wrote until then is kept (the run store's logs).
            Err(ExecError::Cancelled {
                stderr_tail: output::tail_text(&err, opts.stderr_tail),
                stdout_tail: output::tail_text(&out, opts.stderr_tail),
            })
        }
    };
    // Leftovers die here. When the shell was reaped above and nothing else was
    // left in its group, the id is free and could in theory have been reused
    // for a new group in the meantime; the kernel never reuses it while any
    // process of the old group lives.
    group.kill();
    let _ = process.wait().await;
    group.disarm();
    let (code, stdout) = result?;
    Ok(CommandOutput {
        stdout,
        code,
        stderr_tail: output::tail_text(&err, opts.stderr_tail),
        elapsed: clock.elapsed(),
        notes: Vec::new(),
    })
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

/// The exit status and stdout of a shell that exited with `status`, or why
/// it failed.
fn exit_result(
    status: ExitStatus,
    out: Vec<u8>,
    err: &[u8],
    ok_codes: &[i32],
    opts: &LocalOptions,
) -> Result<(i32, Vec<u8>), ExecError> {
    let tail = || output::tail_text(err, opts.stderr_tail);
    let stdout_tail = || output::tail_text(&out, opts.stderr_tail);
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok((0, out)),
        (Some(code), _) if ok_codes.contains(&code) => Ok((code, out)),
        (Some(code), _) => Err(ExecError::Exit {
            code,
            stderr_tail: tail(),
            stdout_tail: stdout_tail(),
        }),
        (None, Some(number)) => Err(ExecError::Signal {
            signal: match Signal::try_from(number) {
                Ok(signal) => signal.as_str().to_string(),
                Err(_) => format!("signal {number}"),
            },
            stderr_tail: tail(),
            stdout_tail: stdout_tail(),
        }),
        (None, None) => Err(ExecError::Signal {
            signal: "an unknown signal".into(),
            stderr_tail: tail(),
            stdout_tail: stdout_tail(),
        }),
    }
}

/// A signal mask from `/proc/PID/status` (`SigBlk:`, `SigIgn:`), for the
/// spawners' tests of the signal state a child starts with.
#[cfg(test)]
fn status_mask(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}
