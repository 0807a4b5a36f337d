//! The embedding API: compile a script once, run it many times, with agents
//! registered by the host program.
//!
//! - [`Engine`] holds the host agents: async closures or [`HostAgent`] types.
//! - [`Engine::compile`] parses, resolves, checks and lowers a script into a [`Script`],
//!   or returns every diagnostic as a [`CompileError`].
//! - [`Engine::run`] runs a script with [`RunOptions`] (params, limits, an
//!   observer, a cancellation token) and returns the [`Outcome`]: the status,
//!   the result, every [`TaskRecord`](crate::TaskRecord) and the errors.
//! - [`Engine::start`] runs it in the background and returns a [`RunHandle`]
//!   that streams [`RunEvent`]s, cancels, and waits for the outcome.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use flow::{Call, Engine, RunOptions};
//! use serde_json::json;
//!
//! let engine = Engine::new().agent("Classifier", |call: Call| async move {
//!     let text = call.get("text")?.as_str().unwrap_or_default().to_string();
//!     let label = if text.ends_with('?') { "question" } else { "statement" };
//!     Ok(json!({ "label": label, "text": text }))
//! });
//! let script = engine
//!     .compile(
//!         "demo.flow",
//!         r#"
//!         param texts = ["hello", "how are you?"]
//!         map t in texts { Classifier(text: t).label }
//!         "#,
//!     )
//!     .expect("the script compiles");
//!
//! // Run it twice, with different params.
//! let outcome = engine.run(&script, RunOptions::new()).await;
//! assert_eq!(*outcome.result.unwrap(), json!(["statement", "question"]));
//! let outcome = engine
//!     .run(&script, RunOptions::new().param("texts", json!(["why?"])))
//!     .await;
//! assert_eq!(*outcome.result.unwrap(), json!(["question"]));
//! assert_eq!(outcome.tasks.len(), 1);
//! # }
//! ```

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, Capabilities, Host, HostAgent, Registry, Role};
use crate::diag::{has_errors, Code, Diagnostic, RenderStyle};
use crate::graph::{Prelude, TaskGraph};
use crate::runtime::{Outcome, RunEvent, RunOptions, RunStatus};
use crate::source::SourceFile;
use crate::{check, graph, resolve, syntax};

/// Compiles and runs scripts: holds the registry of agents (the built-in
/// ones and those the host program registered) and the capabilities scripts
/// may use.
#[derive(Clone, Debug)]
pub struct Engine {
    registry: Arc<Registry>,
    capabilities: Capabilities,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            registry: Registry::builtin(),
            capabilities: Capabilities::all(),
        }
    }
}

/// A compiled script: parsed, checked and lowered, ready to run any number of times.
#[derive(Clone, Debug)]
pub struct Script {
    /// The text it was compiled from, to render diagnostics against.
    pub source: SourceFile,
    /// The syntax tree (for the `flow` command and the project's tests).
    #[doc(hidden)]
    pub program: crate::ast::Program,
    /// The task graph the runtime runs.
    #[doc(hidden)]
    pub graph: Arc<TaskGraph>,
    /// Warnings found while checking (errors prevent a `Script`).
    pub warnings: Vec<Diagnostic>,
}

impl Script {
    /// The names of the script's `param`s, in declaration order.
    ///
    /// ```no_run
    /// let script = flow::Engine::new()
    ///     .compile("p.flow", "param topic = \"tides\"\nparam n = 3\ntopic")
    ///     .unwrap();
    /// assert_eq!(script.params().collect::<Vec<_>>(), ["topic", "n"]);
    /// ```
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.graph.params.iter().map(|p| &*p.name)
    }

    /// Renders diagnostics (a run's `outcome.errors`, the `warnings`) against
    /// the script's source, without colour, as `flow run` prints them.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use flow::{Engine, RunOptions, RunStatus};
    ///
    /// let engine = Engine::new();
    /// let script = engine.compile("f.flow", "fail(\"no luck\")").unwrap();
    /// let outcome = engine.run(&script, RunOptions::new()).await;
    /// assert_eq!(outcome.status, RunStatus::Failed);
    /// assert!(script.render(&outcome.errors).contains("no luck"));
    /// # }
    /// ```
    pub fn render(&self, diagnostics: &[Diagnostic]) -> String {
        diagnostics
            .iter()
            .map(|d| d.render(&self.source, RenderStyle::PLAIN))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Sets each declared agent's digest: its declaration's text, a part of its
/// tasks' cache keys (a changed declaration re-runs them under `--resume`).
fn digest_definitions(graph: &mut TaskGraph, source: &SourceFile) {
    for agent in &mut graph.agents {
        let span = agent.definition;
        if let Some(text) = source.text.get(span.start as usize..span.end as usize) {
            if !text.is_empty() {
                agent.digest = Some(crate::runtime::digest(text.as_bytes()).into());
            }
        }
    }
}

/// Why a script did not compile: every diagnostic, with the source to render them against.
///
/// ```no_run
/// let error = flow::Engine::new().compile("bad.flow", "Nobody(x: 1)").unwrap_err();
/// assert!(error.diagnostics.iter().any(|d| d.is_error()));
/// assert!(error.render().contains("Nobody"));
/// ```
#[derive(Clone, Debug)]
pub struct CompileError {
    /// The text that did not compile.
    pub source: SourceFile,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        write!(f, "{}: {errors} error(s)", self.source.name)?;
        for d in self.diagnostics.iter().filter(|d| d.is_error()) {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileError {}

impl CompileError {
    /// Every diagnostic rendered against the source, without colour.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.source, RenderStyle::PLAIN))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A run going on in the background, from [`Engine::start`]: its events as
/// they happen, a way to cancel it, and its outcome. Dropping the handle
/// before [`RunHandle::outcome`] cancels the run.
#[derive(Debug)]
pub struct RunHandle {
    events: mpsc::UnboundedReceiver<RunEvent>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<Outcome>>,
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.cancel.cancel();
        }
    }
}

impl RunHandle {
    /// The next task event, or `None` once the run has ended and every event
    /// was received.
    pub async fn next_event(&mut self) -> Option<RunEvent> {
        self.events.recv().await
    }

    /// The event stream itself, for `select!` loops.
    pub fn events(&mut self) -> &mut mpsc::UnboundedReceiver<RunEvent> {
        &mut self.events
    }

    /// Cancels the run: running tasks are cancelled (child processes killed,
    /// host futures dropped), nothing new starts, and the outcome's status is
    /// [`RunStatus::Cancelled`]. A token given with
    /// [`RunOptions::cancel_with`] is left alone (it still cancels the run).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The run's cancellation token, to cancel it from elsewhere (or to wait
    /// for its cancellation).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits for the run to end and returns its outcome (the events not yet
    /// received are dropped).
    pub async fn outcome(mut self) -> Outcome {
        let joined = match self.task.take() {
            Some(task) => task.await.ok(),
            None => None,
        };
        joined.unwrap_or_else(|| Outcome {
            status: RunStatus::Failed,
            result: None,
            tasks: Vec::new(),
            errors: vec![Diagnostic::error(
                Code::Cancelled,
                "internal error: the run stopped unexpectedly; please report this script",
            )],
            usage: None,
            spending: Default::default(),
        })
    }
}

impl Engine {
    /// An engine with no host agents; the built-in agents and backends (`sh`,
    /// `llm`, `http`, `echo`, …) are always there.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Registers a host agent under `name`, callable from scripts like any
    /// declared agent: `Name("instructions", key: value)`. The checker knows
    /// the name, so a misspelt call is a compile error. Registering a name
    /// again replaces the agent.
    ///
    /// ```
    /// use flow::{AgentError, Call, Engine};
    /// use serde_json::json;
    ///
    /// let engine = Engine::new()
    ///     .agent("Upper", |call: Call| async move {
    ///         let text = call.get("text")?.as_str().unwrap_or_default().to_uppercase();
    ///         Ok(json!(text))
    ///     })
    ///     .agent("Refuse", |_call: Call| async { Err(AgentError::new("not today")) });
    /// assert!(engine.compile("ok.flow", "Upper(text: \"hi\")").is_ok());
    /// assert!(engine.compile("typo.flow", "Uper(text: \"hi\")").is_err());
    /// ```
    pub fn agent(self, name: impl Into<String>, agent: impl HostAgent + 'static) -> Engine {
        let name = name.into();
        self.register_arc(Arc::new(Host::new(&name, Arc::new(agent))))
    }

    /// Registers an [`Agent`]: a backend with its own [`Signature`](crate::agent::Signature),
    /// which scripts declare agents from (`agent X = name(config…)`) or call
    /// directly. An agent of the same name, built-in ones included, is
    /// replaced. See [`crate::agent`] for a worked example.
    pub fn register(self, agent: impl Agent + 'static) -> Engine {
        self.register_arc(Arc::new(agent))
    }

    /// [`Engine::register`] for an agent already shared.
    pub fn register_arc(mut self, agent: Arc<dyn Agent>) -> Engine {
        Arc::make_mut(&mut self.registry).register(agent);
        self
    }

    /// Sets what scripts may use: a script that uses anything else is refused
    /// when it is compiled, and a compiled script that does is refused by
    /// [`Engine::run`] before anything starts.
    ///
    /// ```no_run
    /// use flow::{Capabilities, Engine};
    ///
    /// let engine = Engine::new().capabilities(Capabilities::all().deny("sh"));
    /// let error = engine.compile("s.flow", "sh(\"rm -rf /tmp/x\")").unwrap_err();
    /// assert_eq!(error.diagnostics[0].code.as_str(), "flow::check::capability_denied");
    /// assert!(engine.compile("e.flow", "echo(x: 1)").is_ok());
    /// ```
    pub fn capabilities(mut self, capabilities: Capabilities) -> Engine {
        self.capabilities = capabilities;
        self
    }

    /// The registry: every agent scripts can name.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The names of the registered host agents, in registration order.
    pub fn agent_names(&self) -> impl Iterator<Item = &str> {
        self.registry
            .iter()
            .map(|a| a.signature())
            .filter(|s| s.role == Role::Agent)
            .map(|s| s.name.as_str())
    }

    /// The names a script may use without declaring them.
    #[doc(hidden)]
    pub fn check_env(&self) -> check::Env {
        check::Env {
            registry: self.registry.clone(),
            capabilities: self.capabilities.clone(),
            host_agents: self.agent_names().map(str::to_string).collect(),
            ..Default::default()
        }
    }

    /// Parses, checks and lowers a script. Diagnostics come back as values:
    /// every error in a [`CompileError`], warnings in [`Script::warnings`].
    pub fn compile(&self, name: &str, text: &str) -> Result<Script, CompileError> {
        self.compile_with(
            SourceFile::new(name, text),
            &self.check_env(),
            &Prelude::default(),
        )
    }

    /// [`Engine::compile`] with names bound beforehand (a REPL session).
    #[doc(hidden)]
    pub fn compile_with(
        &self,
        source: SourceFile,
        env: &check::Env,
        prelude: &Prelude,
    ) -> Result<Script, CompileError> {
        let fail = |diagnostics| CompileError {
            source: source.clone(),
            diagnostics,
        };
        if let Some(unknown) = self.unknown_capability() {
            return Err(fail(vec![unknown]));
        }
        if let Some(clash) = self.clashing_agent_name() {
            return Err(fail(vec![clash]));
        }
        let program = syntax::parse(&source).map_err(fail)?;
        let mut env = env.clone();
        env.registry = self.registry.clone();
        env.capabilities = self.capabilities.clone();
        env.host_agents
            .extend(self.agent_names().map(str::to_string));
        let mut prelude = prelude.clone();
        prelude.registry = self.registry.clone();
        prelude
            .host_agents
            .extend(self.agent_names().map(str::to_string));
        prelude.host_agents.sort();
        prelude.host_agents.dedup();
        // Names are resolved once, for both the checker and the lowering.
        // Lowering copes with any parsed program (it reports what it cannot
        // lower), so a big script is resolved then checked on one core while
        // the other lowers it, following the resolution batch by batch.
        let (diagnostics, graph) = if source.text.len() >= syntax::PARALLEL_MIN_BYTES {
            let index = Arc::new(resolve::Index::new(&program, &env));
            std::thread::scope(|scope| {
                let checked = scope.spawn(|| {
                    let resolution = resolve::resolve_into(&program, &env, index.clone());
                    check::check_resolved(&program, &resolution, &env)
                });
                let graph = graph::lower_indexed(&program, &index, &prelude);
                let diagnostics = checked
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (diagnostics, graph)
            })
        } else {
            let resolution = resolve::resolve(&program, &env);
            let diagnostics: Vec<Diagnostic> = check::check_resolved(&program, &resolution, &env);
            if has_errors(&diagnostics) {
                return Err(fail(diagnostics));
            }
            let graph = graph::lower_resolved(&program, &resolution, &prelude);
            (diagnostics, graph)
        };
        if has_errors(&diagnostics) {
            return Err(fail(diagnostics));
        }
        let mut graph = graph.map_err(fail)?;
        digest_definitions(&mut graph, &source);
        Ok(Script {
            source,
            program,
            graph: Arc::new(graph),
            warnings: diagnostics,
        })
    }

    /// Runs a compiled script with the engine's host agents and returns what
    /// happened. Never panics on any script or agent behaviour; a failure is
    /// an [`Outcome`] with [`RunStatus::Failed`] and its diagnostics.
    pub async fn run(&self, script: &Script, mut options: RunOptions) -> Outcome {
        if let Some(refused) = self.refuse(script) {
            return refused;
        }
        // A script read from a file: its folder is the run's script folder.
        if options.script_dir.is_none() {
            let path = std::path::Path::new(&*script.source.name);
            if path.is_file() {
                let dir = path.parent().map(std::path::Path::to_path_buf);
                options.script_dir = dir
                    .map(|d| if d.as_os_str().is_empty() { ".".into() } else { d })
                    .and_then(|d| std::fs::canonicalize(d).ok());
            }
        }
        // The variables registered agents read secrets from by default
        // (`OPENAI_API_KEY`) are secrets of every run, whatever it calls.
        for agent in self.registry.iter() {
            let defaults = agent.signature().secret_defaults().map(str::to_string);
            options.secrets.extend(defaults);
        }
        crate::runtime::run(script.graph.clone(), options).await
    }

    /// A host agent registered under a name scripts cannot call it by: a
    /// keyword, a built-in function (which it would shadow, its capability
    /// with it), or no name at all.
    fn clashing_agent_name(&self) -> Option<Diagnostic> {
        let name = self.agent_names().find(|n| {
            crate::builtins::function_named(n).is_some()
                || syntax::is_keyword(n)
                || !n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })?;
        Some(
            Diagnostic::error(
                Code::DuplicateBinding,
                format!("the host registered an agent named `{name}`, which scripts cannot call by that name"),
            )
            .help("register it under a name of letters, digits and `_` that is neither a keyword nor a built-in function"),
        )
    }

    /// A denied capability that no agent or function declares: most likely a
    /// typo, which would leave the real one permitted.
    fn unknown_capability(&self) -> Option<Diagnostic> {
        let unknown = self.registry.unknown_capability(self.capabilities.denied())?;
        Some(
            Diagnostic::error(
                Code::CapabilityDenied,
                format!("the engine denies `{unknown}`, which is not a capability"),
            )
            .help(format!(
                "the capabilities are {}; a misspelt one would leave the real one permitted",
                self.registry.capability_list()
            )),
        )
    }

    /// The outcome of a script that uses a capability this engine denies
    /// (compiled by another engine): refused before anything starts.
    fn refuse(&self, script: &Script) -> Option<Outcome> {
        let denied: Vec<&str> = script
            .graph
            .capabilities
            .iter()
            .filter(|c| !self.capabilities.permits(c))
            .map(String::as_str)
            .collect();
        if denied.is_empty() {
            return None;
        }
        Some(Outcome {
            status: RunStatus::Failed,
            result: None,
            tasks: Vec::new(),
            errors: vec![Diagnostic::error(
                Code::CapabilityDenied,
                format!(
                    "the script uses {}, which this engine does not permit",
                    denied
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .help("compile and run scripts with the same engine")],
            usage: None,
            spending: Default::default(),
        })
    }

    /// Starts a run in the background on the current tokio runtime and
    /// returns its [`RunHandle`] at once. Events are streamed to the handle
    /// (an observer in `options` is called as well) and buffered until read.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use flow::{Engine, RunEvent, RunOptions, RunStatus};
    ///
    /// let engine = Engine::new();
    /// let script = engine.compile("s.flow", "let a = sleep(30s)\na").unwrap();
    /// let mut run = engine.start(&script, RunOptions::new());
    /// // The first event: the script's one task is known; then it starts.
    /// let Some(RunEvent::Planned { tasks: 1 }) = run.next_event().await else { panic!() };
    /// let Some(RunEvent::Started { id, .. }) = run.next_event().await else { panic!() };
    /// assert_eq!(id, "a");
    /// run.cancel();
    /// let outcome = run.outcome().await;
    /// assert_eq!(outcome.status, RunStatus::Cancelled);
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn start(&self, script: &Script, options: RunOptions) -> RunHandle {
        let (sender, events) = mpsc::unbounded_channel();
        let previous = options.observer.clone();
        // A child token: the handle cancels this run only, not the caller's token.
        let cancel = options.cancel.child_token();
        let options = options.cancel_with(cancel.clone()).observe(move |event| {
            if let Some(observer) = &previous {
                observer(event);
            }
            let _ = sender.send(RunEvent::from(event));
        });
        let graph = script.graph.clone();
        let refused = self.refuse(script);
        let task = tokio::spawn(async move {
            match refused {
                Some(outcome) => outcome,
                None => crate::runtime::run(graph, options).await,
            }
        });
        RunHandle {
            events,
            cancel,
            task: Some(task),
        }
    }

    /// Compiles and runs a script in one step.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use flow::{Engine, RunOptions};
    /// use serde_json::json;
    ///
    /// let outcome = Engine::new()
    ///     .run_source("sum.flow", "sum(map x in [1, 2, 3] { x * 2 })", RunOptions::new())
    ///     .await
    ///     .expect("it compiles");
    /// assert_eq!(*outcome.result.unwrap(), json!(12));
    /// # }
    /// ```
    pub async fn run_source(
        &self,
        name: &str,
        text: &str,
        options: RunOptions,
    ) -> Result<Outcome, CompileError> {
        let script = self.compile(name, text)?;
        Ok(self.run(&script, options).await)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::ast::{ExprKind, StmtKind};
    use crate::resolve;
    use crate::source::SourceFile;

    /// The checker and the lowering walk a script in the resolution's order, so
    /// they find every name from their cursors, batch after batch: a script of
    /// plain statements has no table made (`Index::table`), which only a reader
    /// asking out of order pays for.
    #[test]
    fn readers_in_walk_order_need_no_table() {
        let mut text = String::from("param n = 2\nlet t0 = noop()\n");
        for i in 1..400 {
            text += &format!("let t{i} = noop(t{}, b: [t{}, n])\n", i - 1, i / 2);
        }
        text += "t399\n";
        let program = crate::syntax::parse(&SourceFile::new("t.flow", text.clone())).expect("it parses");
        let env = resolve::Env::default();
        let index = Arc::new(resolve::Index::with_batches_of(&program, &env, 256));
        let res = resolve::resolve_into(&program, &env, index.clone());
        assert!(res.diagnostics().is_empty(), "{:?}", res.diagnostics());
        let diagnostics = crate::check::check_resolved(&program, &res, &env);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let graph = crate::graph::lower_indexed(&program, &index, &Default::default());
        assert_eq!(graph.expect("it lowers").nodes.len(), 400);
        assert_eq!(index.tables_made(), 0, "of {} batches", text.len() / 256);
        // A reader out of order has the tables made, and finds the same.
        let StmtKind::Let { name: first, .. } = &program.stmts[1].kind else {
            panic!("a let")
        };
        let StmtKind::Expr(last) = &program.stmts[401].kind else {
            panic!("an expression")
        };
        let ExprKind::Name(last) = &last.kind else {
            panic!("a name")
        };
        let (last, first) = (res.target(last), res.binding_at(first.span));
        assert!(index.tables_made() >= 2);
        assert!(matches!(last, resolve::Target::Binding(id) if res.binding(id).name == "t399"));
        assert!(first.is_some_and(|id| res.binding(id).name == "t0"));
    }
}
