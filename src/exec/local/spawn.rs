//! Starting a command: as a plain program when the shell would only exec it,
//! else with `/bin/sh -c`; its standard streams piped; its environment built
//! from the call.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsString};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::net::unix::pipe;

#[cfg(not(all(target_os = "linux", feature = "fast-spawn")))]
use super::child::Process;
#[cfg(all(target_os = "linux", feature = "fast-spawn"))]
use super::process::Process;
use super::{CommandSpec, ExecError};

/// An environment for commands to inherit, captured once; see
/// [`LocalOptions::environment`](super::LocalOptions::environment). Cheap to clone;
/// its `Debug` output shows no values (they may be secrets).
#[derive(Clone)]
pub struct Environment(Arc<Captured>);

struct Captured {
    vars: Box<[CString]>,
    /// `PATH`, as captured.
    path: Option<OsString>,
    /// Where `path` finds each program asked for so far: the standard library
    /// would otherwise try `execve` on every entry for every command.
    found: Mutex<HashMap<String, Option<Arc<str>>>>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("variables", &self.0.vars.len())
            .finish_non_exhaustive()
    }
}

impl Environment {
    /// The process's environment now, read through `std::env` (under its
    /// lock, so a host changing it meanwhile is safe), without
    /// `FLOW_INSTRUCTIONS`, which belongs to an enclosing run.
    pub fn capture() -> Environment {
        let mut path = None;
        let vars = std::env::vars_os()
            .filter(|(key, _)| key != "FLOW_INSTRUCTIONS")
            .filter_map(|(key, value)| {
                if key == "PATH" {
                    path = Some(value.clone());
                }
                let (key, value) = (key.as_bytes(), value.as_bytes());
                let mut entry = Vec::with_capacity(key.len() + value.len() + 2);
                entry.extend_from_slice(key);
                entry.push(b'=');
                entry.extend_from_slice(value);
                CString::new(entry).ok()
            })
            .collect();
        Environment(Arc::new(Captured {
            vars,
            path,
            found: Mutex::default(),
        }))
    }

    /// This environment less the variables named (the same one when it has none of them).
    pub fn without(&self, names: &[String]) -> Environment {
        let hidden = |entry: &CString| {
            let name = var_name(entry.as_bytes());
            names.iter().any(|n| n.as_bytes() == name)
        };
        if !self.0.vars.iter().any(hidden) {
            return self.clone();
        }
        let path = match names.iter().any(|n| n == "PATH") {
            true => None,
            false => self.0.path.clone(),
        };
        Environment(Arc::new(Captured {
            vars: self.0.vars.iter().filter(|e| !hidden(e)).cloned().collect(),
            path,
            found: Mutex::default(),
        }))
    }

    /// This environment with `vars` set (replacing variables of the same name).
    pub fn with(&self, vars: &[(String, String)]) -> Environment {
        if vars.is_empty() {
            return self.clone();
        }
        let names: Vec<String> = vars.iter().map(|(n, _)| n.clone()).collect();
        let kept = self.without(&names);
        let added = vars
            .iter()
            .filter_map(|(n, v)| CString::new(format!("{n}={v}")).ok());
        let path = match vars.iter().find(|(n, _)| n == "PATH") {
            Some((_, v)) => Some(OsString::from(v)),
            None => kept.0.path.clone(),
        };
        Environment(Arc::new(Captured {
            vars: kept.0.vars.iter().cloned().chain(added).collect(),
            path,
            found: Mutex::default(),
        }))
    }

    /// Where the shell would find `program` on this environment's `PATH`, when
    /// it can be run directly: not when a relative entry (one that depends on
    /// the command's working folder) comes first. Looked up once per name.
    fn resolve(&self, program: &str) -> Option<Arc<str>> {
        use std::os::unix::fs::PermissionsExt;
        if program.contains('/') {
            return None; // a path: nothing to look up, let the shell handle it
        }
        let mut found = self
            .0
            .found
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(path) = found.get(program) {
            return path.clone();
        }
        let mut path = None;
        for dir in std::env::split_paths(self.0.path.as_deref().unwrap_or_default()) {
            if !dir.is_absolute() {
                break;
            }
            let candidate = dir.join(program);
            if candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            {
                path = candidate
                    .into_os_string()
                    .into_string()
                    .ok()
                    .map(Into::into);
                break;
            }
        }
        found.insert(program.to_string(), path.clone());
        path
    }
}

/// What to start: everything the child needs, prepared by the parent. Both
/// spawners take it: `process.rs` (`clone`, the `fast-spawn` feature on
/// Linux) and `child.rs` (tokio's `Command`).
#[derive(Debug)]
pub(super) struct Launch<'a> {
    /// The program's path, absolute.
    pub program: &'a CStr,
    /// `argv`, its first word included.
    pub args: &'a [CString],
    /// The whole environment, as `KEY=VALUE`.
    pub env: &'a [&'a CStr],
    /// The working folder; the parent's when `None`.
    pub cwd: Option<&'a CStr>,
    /// The child's standard input, output and error (the parent's copies are
    /// closed once the child has started).
    pub stdio: [OwnedFd; 3],
}

/// A started command: its process, its group, and the parent's ends of its pipes.
pub(super) struct Started<'i> {
    pub process: Process,
    pub group: Group,
    /// Where the rest of the context is written, when it did not fit in the
    /// pipe beforehand.
    pub stdin: Option<pipe::Sender>,
    /// What is left to write to `stdin`.
    pub input: &'i [u8],
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
}

/// A started process group; killed with SIGKILL when dropped armed.
pub(super) struct Group {
    pgid: Option<Pid>,
}

impl Group {
    pub(super) fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH: the group is already gone, which is what we want
            let _ = killpg(pgid, signal);
        }
    }

    pub(super) fn kill(&self) {
        self.signal(Signal::SIGKILL);
    }

    /// Called once the shell is reaped: after that its id may be reused.
    pub(super) fn disarm(&mut self) {
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
pub(super) fn spawn<'i>(
    cmd: &CommandSpec,
    input: &'i [u8],
    inherited: Option<&Environment>,
) -> Result<Started<'i>, ExecError> {
    let captured;
    let inherited = match inherited {
        Some(environment) => environment,
        None => {
            captured = Environment::capture();
            &captured
        }
    };
    let own = own_variables(cmd)?;
    let env = environment(&inherited.0.vars, &own);
    // A `PATH` of the call's own would change where the program is found.
    let own_path = cmd.env.iter().any(|(k, _)| k == "PATH") || cmd.context.contains_key("PATH");
    let program = plain_program(&cmd.cmd)
        .filter(|_| !own_path)
        .and_then(|words| Some((inherited.resolve(words[0])?, words)));
    if let Some((path, words)) = program {
        match spawn_with(cmd, &path, &words, &env, input) {
            // Not found, not executable, or a script without `#!`: the shell
            // says so, or runs it, exactly as it would have.
            Err(ExecError::Spawn { source })
                if shell_would_retry(&source) && cmd.cwd.as_ref().is_none_or(|c| c.is_dir()) => {}
            other => return other,
        }
    }
    spawn_with(cmd, "/bin/sh", &["/bin/sh", "-c", &cmd.cmd], &env, input)
}

/// Whether a program that failed to start this way could still start, or
/// fail differently, through the shell.
fn shell_would_retry(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    ) || error.raw_os_error() == Some(libc::ENOEXEC)
}

/// The most context written into the stdin pipe before the child starts:
/// `PIPE_BUF`, which fits in any fresh pipe (even one cut down to two pages
/// because the user has too many), so the write never blocks.
const PREFILL_MAX: usize = 4096;

/// Sets `O_NONBLOCK` on a fresh pipe end (one `fcntl`, as it has no other
/// status flags to keep).
fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok(())
}

/// A pipe: the read end and the write end, each with close-on-exec set.
fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (reader, writer) = io::pipe()?;
    Ok((reader.into(), writer.into()))
}

/// `fd`, moved above the standard streams if it is one of them (a parent
/// started with one of them closed): the child's `dup2` onto 0, 1 and 2 must
/// never overwrite another of its three.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // duplicates to the lowest free fd from 3 on, close-on-exec
    fd.try_clone()
}

/// The child's end of a pipe and the parent's, made non-blocking for Tokio.
fn output_pipe() -> io::Result<(OwnedFd, pipe::Receiver)> {
    let (ours, theirs) = pipe_pair()?;
    set_nonblocking(&ours)?;
    Ok((
        above_stdio(theirs)?,
        pipe::Receiver::from_owned_fd_unchecked(ours)?,
    ))
}

/// The child's stdin, and, when `input` is too big to write into the pipe
/// beforehand, the parent's end and what is left to write. Written
/// beforehand, there is no writer to watch, and nothing fails when the child
/// never reads it.
fn stdin_pipe(input: &[u8]) -> io::Result<(OwnedFd, Option<pipe::Sender>, &[u8])> {
    let (theirs, ours) = pipe_pair()?;
    let theirs = above_stdio(theirs)?;
    let mut ours = std::fs::File::from(ours);
    if input.len() <= PREFILL_MAX {
        ours.write_all(input)?;
        return Ok((theirs, None, &[]));
    }
    let ours = OwnedFd::from(ours);
    set_nonblocking(&ours)?;
    Ok((
        theirs,
        Some(pipe::Sender::from_owned_fd_unchecked(ours)?),
        input,
    ))
}

fn spawn_with<'i>(
    cmd: &CommandSpec,
    program: &str,
    words: &[&str],
    env: &[&CStr],
    input: &'i [u8],
) -> Result<Started<'i>, ExecError> {
    let invalid = |message: String| ExecError::Spawn {
        source: io::Error::new(io::ErrorKind::InvalidInput, message),
    };
    let c_string = |text: &[u8], what: &str| {
        CString::new(text).map_err(|_| invalid(format!("{what} holds a NUL byte")))
    };
    let program = c_string(program.as_bytes(), "the program's path")?;
    let args = words
        .iter()
        .map(|word| c_string(word.as_bytes(), "the command text"))
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = match &cmd.cwd {
        Some(cwd) => Some(c_string(cwd.as_os_str().as_bytes(), "the working folder")?),
        None => None,
    };
    let io_error = |source| ExecError::Spawn { source };
    let (stdin, sender, input) = stdin_pipe(input).map_err(io_error)?;
    let (stdout, stdout_reader) = output_pipe().map_err(io_error)?;
    let (stderr, stderr_reader) = output_pipe().map_err(io_error)?;
    let launch = Launch {
        program: &program,
        args: &args,
        env,
        cwd: cwd.as_deref(),
        stdio: [stdin, stdout, stderr],
    };
    // Spawning blocks this thread until the child has called exec (tens of
    // microseconds). Measured on 2 idle cores, doing it here beats handing it
    // to another thread: the hand-over costs two thread switches per task.
    let process = Process::spawn(launch).map_err(|source| match &cmd.cwd {
        Some(cwd) if source.kind() == io::ErrorKind::NotFound && !cwd.is_dir() => {
            ExecError::Spawn {
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the working folder `{}` does not exist", cwd.display()),
                ),
            }
        }
        _ => ExecError::Spawn { source },
    })?;
    let group = Group {
        pgid: Some(Pid::from_raw(process.id())),
    };
    Ok(Started {
        process,
        group,
        stdin: sender,
        input,
        stdout: stdout_reader,
        stderr: stderr_reader,
    })
}

/// The variables a call sets, as `KEY=VALUE`, one per name (the last wins):
/// `PWD` when the call has a working folder (as a shell would set it), the
/// context's variables (see [`CommandSpec::context`]), the agent's `env:`, and
/// `FLOW_INSTRUCTIONS`.
pub(in crate::exec) fn own_variables(cmd: &CommandSpec) -> Result<Vec<CString>, ExecError> {
    let invalid = |message: String| ExecError::Spawn {
        source: io::Error::new(io::ErrorKind::InvalidInput, message),
    };
    let entry = |key: &str, value: &str| CString::new(format!("{key}={value}")).ok();
    let mut set = Vec::new();
    if let Some(cwd) = &cmd.cwd {
        // as a shell would: the folder's full path (if the folder does not
        // exist, the command does not start anyway)
        if let Ok(pwd) = std::fs::canonicalize(cwd) {
            let mut entry = b"PWD=".to_vec();
            entry.extend_from_slice(pwd.as_os_str().as_bytes());
            set.extend(CString::new(entry).ok());
        }
    }
    let mut budget = CONTEXT_ENV_BUDGET;
    for (key, value) in &cmd.context {
        if !is_var_name(key) {
            continue;
        }
        let text = match value {
            Value::String(text) => std::borrow::Cow::Borrowed(text.as_str()),
            other => std::borrow::Cow::Owned(other.to_string()),
        };
        let size = key.len() + text.len() + 2;
        if size <= MAX_ENV_STRING && size <= budget {
            if let Some(entry) = entry(key, &text) {
                budget -= size;
                set.push(entry);
            }
        }
    }
    for (key, value) in &cmd.env {
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(invalid(format!(
                "`{key}` is not a valid environment variable name"
            )));
        }
        let Some(entry) = entry(key, value) else {
            return Err(invalid(format!("the value of `{key}` holds a NUL byte")));
        };
        set.push(entry);
    }
    if let Some(instructions) = &cmd.instructions {
        let Some(entry) = entry("FLOW_INSTRUCTIONS", instructions) else {
            return Err(invalid("the instructions hold a NUL byte".into()));
        };
        set.push(entry);
    }
    // the last of each name wins (a hash set only pays for itself with many)
    let mut keep = vec![true; set.len()];
    if set.len() > 16 {
        let mut seen = std::collections::HashSet::new();
        for (i, entry) in set.iter().enumerate().rev() {
            keep[i] = seen.insert(var_name(entry.as_bytes()));
        }
    } else {
        for (i, entry) in set.iter().enumerate() {
            let key = var_name(entry.as_bytes());
            keep[i] = !set[i + 1..].iter().any(|e| var_name(e.as_bytes()) == key);
        }
    }
    Ok(set
        .into_iter()
        .zip(keep)
        .filter_map(|(entry, keep)| keep.then_some(entry))
        .collect())
}

/// The command's whole environment: the inherited variables that `own` does
/// not replace, then `own`.
fn environment<'a>(inherited: &'a [CString], own: &'a [CString]) -> Vec<&'a CStr> {
    // A hash set only pays for itself with many names.
    let many: Option<std::collections::HashSet<&[u8]>> =
        (own.len() > 16).then(|| own.iter().map(|e| var_name(e.as_bytes())).collect());
    let replaced = |key: &[u8]| match &many {
        Some(names) => names.contains(key),
        None => own.iter().any(|e| var_name(e.as_bytes()) == key),
    };
    inherited
        .iter()
        .filter(|entry| !replaced(var_name(entry.as_bytes())))
        .chain(own)
        .map(CString::as_c_str)
        .collect()
}

/// The name in a `NAME=value` entry.
fn var_name(entry: &[u8]) -> &[u8] {
    let end = entry.iter().position(|&b| b == b'=').unwrap_or(entry.len());
    &entry[..end]
}

/// Whether `key` can be an environment variable the shell can read: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_var_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
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
    fn the_environment_is_inherited_with_the_calls_changes() {
        let mut cmd = CommandSpec {
            cwd: Some("/tmp".into()),
            instructions: Some("do it".into()),
            ..CommandSpec::default()
        };
        cmd.context.insert("FLOW_T_A".into(), Value::from(1));
        cmd.context.insert("PATH".into(), Value::from("/ctx"));
        cmd.env.push(("FLOW_T_A".into(), "3".into()));
        let inherited = Environment::capture();
        let own = own_variables(&cmd).unwrap();
        let entries: Vec<String> = environment(&inherited.0.vars, &own)
            .iter()
            .map(|entry| entry.to_string_lossy().into_owned())
            .collect();
        let named = |name: &str| -> Vec<&str> {
            entries
                .iter()
                .filter_map(|e| e.strip_prefix(name)?.strip_prefix('='))
                .collect()
        };
        assert_eq!(named("FLOW_T_A"), ["3"], "{entries:?}");
        assert_eq!(named("PATH"), ["/ctx"], "{entries:?}");
        assert_eq!(named("PWD"), ["/tmp"], "{entries:?}");
        assert_eq!(named("FLOW_INSTRUCTIONS"), ["do it"], "{entries:?}");
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(named("HOME"), [home.to_string_lossy()], "{entries:?}");
        }
    }

    #[tokio::test]
    async fn a_program_the_kernel_cannot_start_goes_to_the_shell() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("flow-noshebang-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("script");
        std::fs::write(&script, "echo from-script\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = script.to_str().unwrap();
        let cmd = CommandSpec::default();
        let Err(ExecError::Spawn { source }) = spawn_with(&cmd, path, &["script"], &[], b"") else {
            panic!("a script without #! started");
        };
        assert_eq!(source.raw_os_error(), Some(libc::ENOEXEC), "{source}");
        assert!(shell_would_retry(&source));
        assert!(shell_would_retry(&io::Error::from(io::ErrorKind::NotFound)));
        assert!(shell_would_retry(&io::Error::from(
            io::ErrorKind::PermissionDenied
        )));
        assert!(!shell_would_retry(&io::Error::from(
            io::ErrorKind::InvalidInput
        )));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn with_path(path: &str, vars: &[&str]) -> Environment {
        Environment(Arc::new(Captured {
            vars: vars.iter().map(|v| CString::new(*v).unwrap()).collect(),
            path: Some(path.into()),
            found: Mutex::default(),
        }))
    }

    #[test]
    fn programs_are_found_as_the_shell_would_find_them() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("flow-resolve-{}", std::process::id()));
        for dir in ["p1", "p2"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            let tool = root.join(dir).join("flow-test-tool");
            std::fs::write(&tool, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let (p1, p2) = (root.join("p1"), root.join("p2"));
        let (p1, p2) = (p1.to_str().unwrap(), p2.to_str().unwrap());
        let found = |path: &str| with_path(path, &[]).resolve("flow-test-tool");
        let tool = |dir: &str| Some(format!("{dir}/flow-test-tool").into());
        assert_eq!(found(p2), tool(p2));
        // each environment looks up afresh, so a program installed since is seen
        assert_eq!(found(&format!("{p1}:{p2}")), tool(p1));
        assert_eq!(found("/nowhere"), None);
        // a relative entry first depends on the working folder: the shell decides
        assert_eq!(found(&format!("bin:{p2}")), None);
        assert_eq!(found(&format!(":{p2}")), None);
        assert_eq!(found(&format!("{p2}:bin")), tool(p2));
        assert_eq!(with_path(p2, &[]).resolve("./flow-test-tool"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn hidden_variables_are_left_out() {
        let environment = with_path("/bin", &["KEEP=1", "SECRET=hunter2", "SECRETS=x"]);
        let hidden = environment.without(&["SECRET".to_string()]);
        let names: Vec<&[u8]> = hidden
            .0
            .vars
            .iter()
            .map(|e| var_name(e.as_bytes()))
            .collect();
        assert_eq!(names, [&b"KEEP"[..], b"SECRETS"]);
        let same = environment.without(&["ABSENT".to_string()]);
        assert!(Arc::ptr_eq(&same.0, &environment.0));
    }

    #[test]
    fn an_environment_shows_no_values() {
        let environment = with_path("/bin", &["SECRET=hunter2"]);
        let shown = format!("{environment:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains('1'), "{shown}");
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
