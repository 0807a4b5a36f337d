//! The embedding API: compile a script once, run it many times, with agents
//! registered by the host program.
//!
//! ```no_run
//! # async fn demo() {
//! use flow::{AgentError, Call, Engine, RunOptions};
//! use serde_json::json;
//!
//! let engine = Engine::new().agent("Classifier", |call: Call| async move {
//!     let text = call.context.get("text").cloned().unwrap_or_default();
//!     Ok::<_, AgentError>(json!({ "label": "greeting", "text": text }))
//! });
//! let script = engine
//!     .compile("demo.flow", "Classifier(text: \"hello\").label")
//!     .expect("the script compiles");
//! let outcome = engine.run(&script, RunOptions::default()).await;
//! assert_eq!(*outcome.result.unwrap(), json!("greeting"));
//! # }
//! ```

use std::sync::Arc;

use crate::diag::{has_errors, Diagnostic};
use crate::graph::{Prelude, TaskGraph};
use crate::runtime::{HostAgent, Outcome, RunOptions};
use crate::source::SourceFile;
use crate::{check, graph, syntax};

/// Compiles and runs scripts; holds the agents the host program registered.
#[derive(Clone, Default)]
pub struct Engine {
    agents: Vec<(String, Arc<dyn HostAgent>)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.agents.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Engine").field("agents", &names).finish()
    }
}

/// A compiled script: parsed, checked and lowered, ready to run any number of times.
#[derive(Clone, Debug)]
pub struct Script {
    pub source: SourceFile,
    pub program: crate::ast::Program,
    pub graph: Arc<TaskGraph>,
    /// Warnings found while checking (errors prevent a `Script`).
    pub warnings: Vec<Diagnostic>,
}

/// Why a script did not compile: every diagnostic, with the source to render them against.
#[derive(Clone, Debug)]
pub struct CompileError {
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

impl Engine {
    /// An engine with no host agents.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Registers a host agent under `name`, callable from scripts like any
    /// declared agent: `Name("instructions", key: value)`.
    pub fn agent(mut self, name: impl Into<String>, agent: impl HostAgent + 'static) -> Engine {
        let name = name.into();
        self.agents.retain(|(n, _)| *n != name);
        self.agents.push((name, Arc::new(agent)));
        self
    }

    /// The names of the registered host agents.
    pub fn agent_names(&self) -> impl Iterator<Item = &str> {
        self.agents.iter().map(|(n, _)| n.as_str())
    }

    /// The names a script may use without declaring them.
    pub fn check_env(&self) -> check::Env {
        check::Env {
            host_agents: self.agent_names().map(str::to_string).collect(),
            ..Default::default()
        }
    }

    /// Parses, checks and lowers a script. Diagnostics come back as values.
    pub fn compile(&self, name: &str, text: &str) -> Result<Script, CompileError> {
        self.compile_with(
            SourceFile::new(name, text),
            &self.check_env(),
            &Prelude::default(),
        )
    }

    /// [`Engine::compile`] with names bound beforehand (a REPL session).
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
        let program = syntax::parse(&source).map_err(fail)?;
        let mut env = env.clone();
        env.host_agents
            .extend(self.agent_names().map(str::to_string));
        let diagnostics = check::check(&program, &env);
        if has_errors(&diagnostics) {
            return Err(fail(diagnostics));
        }
        let mut prelude = prelude.clone();
        prelude
            .host_agents
            .extend(self.agent_names().map(str::to_string));
        prelude.host_agents.sort();
        prelude.host_agents.dedup();
        let graph = graph::lower(&program, &prelude).map_err(fail)?;
        Ok(Script {
            source,
            program,
            graph: Arc::new(graph),
            warnings: diagnostics,
        })
    }

    /// Runs a compiled script with the engine's host agents.
    pub async fn run(&self, script: &Script, mut options: RunOptions) -> Outcome {
        for (name, agent) in &self.agents {
            if !options.host_agents.iter().any(|(n, _)| n == name) {
                options.host_agents.push((name.clone(), agent.clone()));
            }
        }
        crate::runtime::run(script.graph.clone(), options).await
    }

    /// Compiles and runs a script in one step.
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
