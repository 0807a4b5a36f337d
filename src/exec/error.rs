//! How one `sh` call can fail.

use std::fmt;
use std::io;

/// Why an `sh` call produced no output.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExecError {
    /// The command could not start: `cwd` is not a folder, an `env` name is empty
    /// or holds `=`, a text holds a NUL byte, `/bin/sh` is missing, or the system
    /// is out of processes.
    Spawn {
        /// What the operating system, or the check before it, said.
        source: io::Error,
    },
    /// The shell exited with a non-zero status (`exit 3`, a failing last command).
    Exit {
        /// The exit status, 1 to 255.
        code: i32,
        /// The end of what the command wrote to stderr; see [`ExecError::stderr_tail`].
        stderr_tail: String,
        /// The end of what it wrote to stdout, as much as of stderr.
        stdout_tail: String,
    },
    /// The shell was killed by a signal (`kill -9 $$`, the OOM killer).
    Signal {
        /// The signal's name, such as `SIGKILL`, or `signal 34` for one without a name.
        signal: String,
        /// The end of what the command wrote to stderr.
        stderr_tail: String,
        /// The end of what it wrote to stdout.
        stdout_tail: String,
    },
    /// The command wrote more than [`LocalOptions::max_stdout`](super::LocalOptions::max_stdout)
    /// bytes to stdout; its process group was killed.
    StdoutTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The cancellation token fired (a timeout, Ctrl-C, another task failing)
    /// before the command finished; its process group was stopped.
    Cancelled {
        /// The end of what it wrote to stderr before it was stopped.
        stderr_tail: String,
        /// The end of what it wrote to stdout.
        stdout_tail: String,
    },
    /// A batch scheduler would not take the command, or ended its job
    /// before the command could report a status: its time limit
    /// (`TIMEOUT`), its memory (`OUT_OF_MEMORY`), a node that failed more
    /// often than resubmissions allow, a cancellation from outside.
    Cluster {
        /// One line, in words (`the job ran past its time limit (TIMEOUT)`).
        message: String,
        /// What the scheduler and the command wrote about it (the job's log, stderr).
        stderr_tail: String,
        /// What the command wrote to stdout before it ended.
        stdout_tail: String,
    },
    /// Reading the command's output or waiting for it failed (very rare).
    Io {
        /// The underlying error.
        source: io::Error,
    },
}

impl ExecError {
    /// [`ExecError::Cancelled`] before the command wrote anything.
    pub fn cancelled() -> ExecError {
        ExecError::Cancelled {
            stderr_tail: String::new(),
            stdout_tail: String::new(),
        }
    }

    /// The end of what the command wrote to stdout, for [`ExecError::Exit`]
    /// and [`ExecError::Signal`].
    pub fn stdout_tail(&self) -> Option<&str> {
        match self {
            ExecError::Exit { stdout_tail, .. }
            | ExecError::Signal { stdout_tail, .. }
            | ExecError::Cluster { stdout_tail, .. }
            | ExecError::Cancelled { stdout_tail, .. } => Some(stdout_tail),
            _ => None,
        }
    }

    /// The exit status, for [`ExecError::Exit`].
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ExecError::Exit { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The name of the signal that killed the shell, for [`ExecError::Signal`].
    pub fn signal(&self) -> Option<&str> {
        match self {
            ExecError::Signal { signal, .. } => Some(signal),
            _ => None,
        }
    }

    /// The last bytes the command wrote to stderr (at most
    /// [`LocalOptions::stderr_tail`](super::LocalOptions::stderr_tail) bytes, invalid UTF-8
    /// replaced, trailing whitespace removed), for [`ExecError::Exit`] and
    /// [`ExecError::Signal`]. Empty when the command wrote nothing there.
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            ExecError::Exit { stderr_tail, .. }
            | ExecError::Signal { stderr_tail, .. }
            | ExecError::Cluster { stderr_tail, .. }
            | ExecError::Cancelled { stderr_tail, .. } => Some(stderr_tail),
            _ => None,
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Spawn { source } => write!(f, "cannot start the command: {source}"),
            ExecError::Exit { code, .. } => write!(f, "command exited with status {code}"),
            ExecError::Signal { signal, .. } => write!(f, "command killed by {signal}"),
            ExecError::StdoutTooLarge { limit } => {
                write!(
                    f,
                    "command wrote more than {} to stdout",
                    crate::value::size(*limit as u64)
                )
            }
            ExecError::Cancelled { .. } => write!(f, "command cancelled"),
            ExecError::Cluster { message, .. } => f.write_str(message),
            ExecError::Io { source } => write!(f, "lost track of the command: {source}"),
        }
    }
}

impl std::error::Error for ExecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExecError::Spawn { source } | ExecError::Io { source } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_lowercase_line() {
        let cases = [
            (
                ExecError::Exit {
                    code: 3,
                    stderr_tail: "boom\nbang".into(),
                    stdout_tail: String::new(),
                },
                "command exited with status 3",
            ),
            (
                ExecError::Signal {
                    signal: "SIGKILL".into(),
                    stderr_tail: String::new(),
                    stdout_tail: String::new(),
                },
                "command killed by SIGKILL",
            ),
            (
                ExecError::StdoutTooLarge { limit: 64 << 20 },
                "command wrote more than 64 MiB to stdout",
            ),
            (
                ExecError::StdoutTooLarge { limit: 1000 },
                "command wrote more than 1000 bytes to stdout",
            ),
            (ExecError::cancelled(), "command cancelled"),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn accessors_expose_status_and_tail() {
        let error = ExecError::Exit {
            code: 2,
            stderr_tail: "no such file".into(),
            stdout_tail: "partial".into(),
        };
        assert_eq!(error.exit_code(), Some(2));
        assert_eq!(error.stderr_tail(), Some("no such file"));
        assert_eq!(error.stdout_tail(), Some("partial"));
        assert_eq!(error.signal(), None);
        assert_eq!(ExecError::cancelled().stderr_tail(), Some(""));
        assert_eq!(ExecError::StdoutTooLarge { limit: 1 }.stderr_tail(), None);
    }
}
