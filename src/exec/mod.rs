//! Executors: where a command runs. An agent says *what* to do (the `sh`
//! agent builds a [`CommandSpec`]); an [`Executor`] runs it and reports its
//! output and timings, or why it failed. [`LocalExecutor`] runs commands as
//! child process groups of this process and is the default; a batch
//! scheduler or a container runtime is another implementation of the trait.

mod error;
pub mod local;
mod resources;
pub mod slurm;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

pub use error::ExecError;
pub use local::stdout_text;
use local::{Environment, LocalOptions};
pub use resources::{memory, slurm_memory, slurm_time, Resources, PLACEMENT_KEYS};
pub use slurm::{SlurmExecutor, SlurmOptions};

/// A command to run: what the `sh` agent asks an [`Executor`] for.
#[derive(Clone, Debug, Default)]
pub struct CommandSpec {
    /// The task it runs for (`align[3]`), for an executor's names and
    /// messages (a Slurm job's name); empty when unknown.
    pub task: String,
    /// The command line for `/bin/sh -c`. A value in it must be passed in a
    /// variable of `env` the command refers to (as Flow does for `${…}`), or
    /// go through [`crate::shell::quote`] or [`crate::shell::quote_value`].
    pub cmd: String,
    /// The working folder; the interpreter's own when `None`.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables from the agent's `env:` config. They override
    /// both the inherited environment and the context's variables.
    ///
    /// `FLOW_INSTRUCTIONS` is never inherited; it is `instructions` when present,
    /// else whatever `env` or the context set it to. A name given twice takes
    /// its last value: the `sh` agent puts the values of a command's `${…}`
    /// (`FLOW_VALUE_1`, …) last, so nothing else can change them.
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
    /// How long the task may run in all (its `timeout`). The runtime enforces
    /// it by cancelling; an executor that queues work elsewhere (a batch
    /// scheduler) passes it on as the job's time limit.
    pub timeout: Option<Duration>,
    /// What the command needs and where it runs (its placement keys): the
    /// local executor runs it as it is (the runtime has admitted it by its
    /// `cpus` and `mem`); a batch scheduler asks for them.
    pub resources: Resources,
    /// The exit statuses that count as success (`grep`'s 1, `diff`'s 1);
    /// empty means 0 alone. Any other status is an [`ExecError::Exit`].
    pub ok_codes: Vec<i32>,
}

/// What a command that exited with status 0 produced.
#[derive(Clone, Debug, Default)]
pub struct CommandOutput {
    /// Everything it wrote to stdout (up to the executor's cap).
    pub stdout: Vec<u8>,
    /// The end of what it wrote to stderr.
    pub stderr_tail: String,
    /// Its exit status: 0, or one of the spec's `ok_codes`.
    pub code: i32,
    /// How long it ran (on a cluster: from its submission).
    pub elapsed: Duration,
    /// What the executor has to say about how it ran (a job resubmitted
    /// after its node failed), shown with the task's result.
    pub notes: Vec<String>,
}

/// The future an [`Executor`] returns.
pub type ExecFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CommandOutput, ExecError>> + Send + 'a>>;

/// Runs commands somewhere. A command that exits with a status other than 0
/// (and not among its spec's `ok_codes`) is an [`ExecError::Exit`]; once `cancel` fires the executor stops the
/// command (and everything it started) and returns [`ExecError::Cancelled`].
pub trait Executor: Send + Sync {
    /// A short name for messages and records, and what `executor:` and
    /// `--executor` name it by (`local`, `slurm`).
    fn name(&self) -> &str;

    /// Runs `spec` to its end.
    fn run<'a>(&'a self, spec: &'a CommandSpec, cancel: &'a CancellationToken) -> ExecFuture<'a>;

    /// Where its commands take capacity: on this machine (the runtime admits
    /// them by `--jobs` slots and memory), or in a queue elsewhere (a batch
    /// scheduler), where at most this many of the run's commands wait or run
    /// at once.
    fn capacity(&self) -> Capacity {
        Capacity::Local
    }

    /// Told once, before a run's first command, which variables its commands
    /// must not inherit (the run's secrets) and which they all get
    /// (`FLOW_SCRIPT_DIR`, `FLOW_LAUNCH_DIR`). An executor that passes an
    /// environment on (a batch scheduler exporting the submitter's) honours
    /// them; the default ignores them.
    fn begin_run(&self, _environment: &RunEnvironment) {}
}

/// Where an executor's commands take capacity (see [`Executor::capacity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capacity {
    /// On this machine: `--jobs` slots (a command takes its `cpus`) and memory.
    Local,
    /// In a queue elsewhere: at most this many of the run's commands at once
    /// (an explicit `--jobs` lowers it).
    Queue(usize),
}

/// What every command of a run inherits, less its secrets (see
/// [`Executor::begin_run`]).
#[derive(Clone, Debug, Default)]
pub struct RunEnvironment {
    /// Variables no command inherits.
    pub hidden: Vec<String>,
    /// Variables every command gets.
    pub set: Vec<(String, String)>,
}

/// Runs commands as child process groups of this process (see [`local`]).
///
/// The environment commands inherit is captured at the first command and
/// kept: the runtime makes one executor per run, so a run's commands all see
/// the environment as it was when the run started them.
#[derive(Debug, Default)]
pub struct LocalExecutor {
    options: LocalOptions,
    /// Variables commands never inherit (secrets: see [`LocalExecutor::hiding`]).
    hidden: Vec<String>,
    /// Variables every command gets (see [`LocalExecutor::setting`]).
    set: Vec<(String, String)>,
    /// `options` with the environment captured, from the first command on.
    resolved: OnceLock<LocalOptions>,
}

impl LocalExecutor {
    /// An executor with the default [`LocalOptions`].
    pub fn new() -> LocalExecutor {
        LocalExecutor::default()
    }

    /// An executor with these options (their `environment`, when set, is used
    /// as it is).
    pub fn with_options(options: LocalOptions) -> LocalExecutor {
        LocalExecutor {
            options,
            hidden: Vec::new(),
            set: Vec::new(),
            resolved: OnceLock::new(),
        }
    }

    /// Commands do not inherit these variables (the run's secrets); a call
    /// may still set one with its `env:` or context.
    pub fn hiding(mut self, names: &[String]) -> LocalExecutor {
        self.hidden.extend(names.iter().cloned());
        self
    }

    /// Every command gets these variables (the run's `FLOW_SCRIPT_DIR` and
    /// `FLOW_LAUNCH_DIR`); a call's `env:` or context may still change them.
    pub fn setting(mut self, vars: Vec<(String, String)>) -> LocalExecutor {
        self.set.extend(vars);
        self
    }
}

impl Executor for LocalExecutor {
    fn name(&self) -> &str {
        "local"
    }

    fn run<'a>(&'a self, spec: &'a CommandSpec, cancel: &'a CancellationToken) -> ExecFuture<'a> {
        let options = self.resolved.get_or_init(|| LocalOptions {
            environment: Some(
                match &self.options.environment {
                    Some(environment) => environment.without(&self.hidden),
                    None => Environment::capture().without(&self.hidden),
                }
                .with(&self.set),
            ),
            ..self.options.clone()
        });
        Box::pin(local::run_command(spec, options, cancel))
    }
}

/// The executor a run uses when the host names none.
pub(crate) fn default_executor() -> Arc<dyn Executor> {
    Arc::new(LocalExecutor::new())
}
