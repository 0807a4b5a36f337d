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
//! dropped, by Tokio's orphan queue.

mod context;
mod error;
mod output;
mod quote;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::pin::pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use context::{contexts, reference, ShellContext};

/// The prefix of the environment variables that carry the values of a
/// command's `${…}`: `FLOW_VALUE_1`, `FLOW_VALUE_2`, …
pub const VALUE_VAR: &str = "FLOW_VALUE_";
pub use error::ShError;
pub use quote::{quote, quote_value};

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
}

impl Default for ShOptions {
    fn default() -> Self {
        ShOptions {
            max_stdout: 64 << 20,
            stderr_tail: 8 << 10,
            kill_grace: Duration::from_secs(2),
            drain: Duration::from_millis(100),
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
/// itself runs on the runtime's blocking pool. A child that never reads its
/// stdin is fine, as long as the interpreter ignores SIGPIPE (every Rust
/// program does).
pub async fn run(
    cmd: &ShCommand,
    opts: &ShOptions,
    cancel: &CancellationToken,
) -> Result<Value, ShError> {
    if cancel.is_cancelled() {
        return Err(ShError::Cancelled);
    }
    let input = serde_json::to_vec(&cmd.context).unwrap_or_else(|_| b"{}".to_vec());
    let (mut child, mut group, input) = spawn(cmd, &input).await?;
    let stdin = child.stdin.take();
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        group.kill();
        return Err(ShError::Io {
            source: io::Error::other("the child's pipes are missing"),
        });
    };

    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut status = None;
    let end = {
        let mut cancelled = pin!(cancel.cancelled());
        let mut feed = pin!(feed(stdin, input));
        let mut read_out = pin!(output::read_capped(&mut stdout, &mut out, opts.max_stdout));
        let mut read_err = pin!(output::read_tail(&mut stderr, &mut err, opts.stderr_tail));
        let mut wait = pin!(child.wait());
        let mut drain = pin!(tokio::time::sleep(opts.drain));
        let (mut fed, mut out_done, mut err_done) = (false, false, false);
        loop {
            if status.is_some() && out_done && err_done {
                break End::Exited;
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
                exit = &mut wait, if status.is_none() => match exit {
                    Ok(exit) => {
                        status = Some(exit);
                        drain.as_mut().reset(after(opts.drain));
                    }
                    Err(source) => break End::Io(source),
                },
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
                let _ = tokio::time::timeout(opts.kill_grace, child.wait()).await;
            }
            Err(ShError::Cancelled)
        }
    };
    // Leftovers die here. When the shell was reaped above and nothing else was
    // left in its group, the id is free and could in theory have been reused
    // for a new group in the meantime; the kernel never reuses it while any
    // process of the old group lives.
    group.kill();
    let _ = child.wait().await;
    group.disarm();
    match result {
        Ok(bytes) => Ok(output::stdout_value(bytes)),
        Err(error) => Err(error),
    }
}

/// How the reading loop of [`run`] ended.
enum End {
    /// The shell exited and stdout and stderr were drained.
    Exited,
    TooLarge,
    Cancelled,
    Io(io::Error),
}

/// A started process group; killed with SIGKILL when dropped armed.
struct Group {
    pgid: Option<Pid>,
}

impl Group {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH: the group is already gone, which is what we want
            let _ = killpg(pgid, signal);
        }
    }

    fn kill(&self) {
        self.signal(Signal::SIGKILL);
    }

    /// Called once the shell is reaped: after that its id may be reused.
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The longest `NAME=value` string Linux accepts in an environment
/// (`MAX_ARG_STRLEN`, counting the final NUL); a longer one fails the exec.
const MAX_ENV_STRING: usize = 128 * 1024;

/// How many bytes of environment the context's variables may take in all, so
/// that they never push the exec past `ARG_MAX` (usually 2 MiB with the
/// inherited environment and the command line).
const CONTEXT_ENV_BUDGET: usize = 1024 * 1024;

/// Words a command is made of when the shell would only run it as a program:
/// nothing but plain words (no quotes, expansions, redirections, operators or
/// globs) and a first word that is not a shell builtin or keyword. Like make,
/// `flow` execs such a command itself, which saves starting a shell.
fn plain_program(cmd: &str) -> Option<Vec<&str>> {
    const SHELL_WORDS: &[&str] = &[
        ".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done",
        "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fc", "fg", "fi", "for",
        "getopts", "hash", "if", "jobs", "kill", "local", "printf", "pwd", "read", "readonly",
        "return", "set", "shift", "test", "then", "times", "trap", "type", "ulimit", "umask",
        "unalias", "unset", "until", "wait", "while", "echo", "[",
    ];
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./,:+@%".contains(c);
    if !cmd.chars().all(|c| plain(c) || c == ' ' || c == '\t') {
        return None;
    }
    let words: Vec<&str> = cmd.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let first = *words.first()?;
    (!SHELL_WORDS.contains(&first)).then_some(words)
}

/// Starts the command as the leader of a new process group, all three
/// standard streams piped: a plain program directly, anything else with
/// `/bin/sh -c CMD`.
async fn spawn<'i>(cmd: &ShCommand, input: &'i [u8]) -> Result<(Child, Group, &'i [u8]), ShError> {
    // A `PATH` of the call's own would change where the program is found.
    let own_path = cmd.env.iter().any(|(k, _)| k == "PATH") || cmd.context.contains_key("PATH");
    let program = plain_program(&cmd.cmd)
        .filter(|_| !own_path)
        .and_then(|mut words| {
            words[0] = resolve(words[0])?;
            Some(words)
        });
    if let Some(words) = program {
        match spawn_with(cmd, Some(&words), input).await {
            // Not found: let the shell say so, exactly as it would have.
            Err(ShError::Spawn { source })
                if source.kind() == io::ErrorKind::NotFound
                    && cmd.cwd.as_ref().is_none_or(|c| c.is_dir()) => {}
            other => return other,
        }
    }
    spawn_with(cmd, None, input).await
}

/// The most context written into the stdin pipe before the child starts:
/// well under the smallest pipe buffer Linux gives (4 KiB pages × 16), so the
/// write never blocks.
const PREFILL_MAX: usize = 16 * 1024;

/// The child's stdin, and what is left to feed it once it runs. A small
/// `input` is written into the pipe beforehand: there is then no writer to
/// watch, and nothing fails when the child never reads it.
fn stdin_for(input: &[u8]) -> (Stdio, &[u8]) {
    if input.len() <= PREFILL_MAX {
        if let Ok((reader, mut writer)) = std::io::pipe() {
            use std::io::Write;
            if writer.write_all(input).is_ok() {
                return (Stdio::from(reader), &[]);
            }
        }
    }
    (Stdio::piped(), input)
}

/// Where `PATH` finds a program, looked up once per name: the standard
/// library would otherwise try `execve` on every `PATH` entry for every task.
fn resolve(program: &str) -> Option<&'static str> {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Mutex, OnceLock};
    static FOUND: OnceLock<Mutex<HashMap<String, Option<&'static str>>>> = OnceLock::new();
    if program.contains('/') {
        return None; // a path: nothing to look up, let the shell handle it
    }
    let found = FOUND.get_or_init(Default::default);
    let mut found = found
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *found.entry(program.to_string()).or_insert_with(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
            .and_then(|p| p.into_os_string().into_string().ok())
            .map(|p| &*Box::leak(p.into_boxed_str()))
    })
}

async fn spawn_with<'i>(
    cmd: &ShCommand,
    program: Option<&[&str]>,
    input: &'i [u8],
) -> Result<(Child, Group, &'i [u8]), ShError> {
    let invalid = |message: String| ShError::Spawn {
        source: io::Error::new(io::ErrorKind::InvalidInput, message),
    };
    if cmd.cmd.contains('\0') {
        return Err(invalid("the command text holds a NUL byte".into()));
    }
    let mut command = match program {
        Some([program, args @ ..]) => {
            let mut command = Command::new(program);
            command.args(args);
            command
        }
        _ => {
            let mut command = Command::new("/bin/sh");
            command.arg("-c").arg(&cmd.cmd);
            command
        }
    };
    let (stdin, rest) = stdin_for(input);
    command
        .process_group(0)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &cmd.cwd {
        command.current_dir(cwd);
    }
    // not the instructions of an enclosing flow run; later settings win (and
    // an untouched environment is passed as it is, without being copied)
    if std::env::var_os("FLOW_INSTRUCTIONS").is_some() {
        command.env_remove("FLOW_INSTRUCTIONS");
    }
    let mut budget = CONTEXT_ENV_BUDGET;
    for (key, value) in &cmd.context {
        if !is_var_name(key) {
            continue;
        }
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let size = key.len() + text.len() + 2;
        if size <= MAX_ENV_STRING && size <= budget && !text.contains('\0') {
            budget -= size;
            command.env(key, text);
        }
    }
    for (key, value) in &cmd.env {
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(invalid(format!(
                "`{key}` is not a valid environment variable name"
            )));
        }
        if value.contains('\0') {
            return Err(invalid(format!("the value of `{key}` holds a NUL byte")));
        }
        command.env(key, value);
    }
    if let Some(instructions) = &cmd.instructions {
        if instructions.contains('\0') {
            return Err(invalid("the instructions hold a NUL byte".into()));
        }
        command.env("FLOW_INSTRUCTIONS", instructions);
    }
    // Spawning blocks this thread until the child has called exec (tens of
    // microseconds). Measured on 2 idle cores, doing it here beats handing it
    // to tokio's blocking pool (4.0 s against 4.8 s for 10,000 tasks at
    // `--jobs 2`): the hand-over costs two thread switches per task. The group
    // guard is made in the same step, so the group is killed even if this
    // future is dropped right after.
    let spawned = (move || {
        let mut child = command.spawn()?;
        match child.id().and_then(|id| i32::try_from(id).ok()) {
            Some(pid) => Ok((
                child,
                Group {
                    pgid: Some(Pid::from_raw(pid)),
                },
                rest,
            )),
            None => {
                let _ = child.start_kill();
                Err(io::Error::other("the child has no process id"))
            }
        }
    })();
    spawned.map_err(|source| match &cmd.cwd {
        Some(cwd) if source.kind() == io::ErrorKind::NotFound && !cwd.is_dir() => ShError::Spawn {
            source: io::Error::new(
                io::ErrorKind::NotFound,
                format!("the working folder `{}` does not exist", cwd.display()),
            ),
        },
        _ => ShError::Spawn { source },
    })
}

/// The instant `duration` from now, or a far one when that overflows.
fn after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(86400 * 365 * 30))
}

/// Whether `key` can be an environment variable the shell can read: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_var_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Writes the context to the child's stdin, then closes it. A child that
/// exits or closes stdin without reading it all is fine: the error is dropped.
async fn feed(stdin: Option<ChildStdin>, input: &[u8]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_programs_skip_the_shell() {
        assert_eq!(plain_program("true"), Some(vec!["true"]));
        assert_eq!(
            plain_program("  wc -l data.txt "),
            Some(vec!["wc", "-l", "data.txt"])
        );
        for shell in [
            "echo hi", "cd /tmp", "exit 3", "ls > out", "a | b", "ls *.txt", "x=1 env", "ls 'a b'",
            "ls $HOME", "ls ~", "a && b", "a; b", "ls \\n", "",
        ] {
            assert_eq!(plain_program(shell), None, "{shell:?} needs the shell");
        }
    }

    #[test]
    fn variable_names() {
        for good in ["a", "_", "NAME_2", "_x"] {
            assert!(is_var_name(good), "{good}");
        }
        for bad in ["", "2x", "a-b", "a b", "é", "a=b"] {
            assert!(!is_var_name(bad), "{bad}");
        }
    }
}
