//! The REPL's session: what earlier entries bound, and how one entry is
//! compiled against it, run, and then committed whole or not at all.
//!
//! Values bound by `let` are kept as values and handed to later entries as
//! constants ([`check::Env::values`], [`Prelude::values`]). Declarations
//! (`param`, `agent`, `flow`) are kept as source text: each entry is compiled
//! as the text of the live declarations followed by the entry itself, so calls
//! and flow bodies lower exactly as in a file. Diagnostics are mapped back to
//! the entry (or the earlier entry) whose text they point into.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::ast::{self, StmtKind};
use crate::diag::{Code, Diagnostic};
use crate::engine::{Engine, Script};
use crate::graph::{self, Expr, Prelude, Ref};
use crate::runtime::{Observer, RunOptions, RunStatus, TaskStatus};
use crate::source::{SourceFile, Span};
use crate::{check, syntax};

/// How an entry's tasks run.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Overall cap on running tasks (`--jobs`).
    pub jobs: Option<usize>,
    /// Let independent branches finish after a failure (`--keep-going`).
    pub keep_going: bool,
    /// `--param` overrides, applied to the session's `param` declarations.
    pub params: Vec<(String, Value)>,
    /// `--secret` names: variables commands do not inherit, values not shown.
    pub secrets: Vec<String>,
    /// `--budget`: what each entry's model calls may spend.
    pub budget: crate::agent::Budget,
    /// Ask the questions of `approve` calls at the terminal (stdin and
    /// stderr are one): an interactive session.
    pub terminal: bool,
    /// `--executor`: where commands run when they name no `executor`.
    pub executor: Option<String>,
    /// `--work-dir`: where Slurm jobs keep their files (else the session
    /// run's folder in the store).
    pub slurm_work_dir: Option<std::path::PathBuf>,
}

/// What a front end hands to one entry's run: the token that cancels it
/// (Ctrl-C) and the progress display.
#[derive(Clone, Default)]
pub struct RunControl {
    pub cancel: CancellationToken,
    pub observer: Option<Observer>,
}

impl std::fmt::Debug for RunControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunControl")
            .field("cancelled", &self.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// A diagnostic with the source it points into, ready to render.
#[derive(Clone, Debug)]
pub struct Problem {
    pub source: SourceFile,
    pub diagnostic: Diagnostic,
}

/// What a top-level statement of an entry declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Param,
    Agent,
    Flow,
    Let,
    Expr,
}

impl Kind {
    fn of(stmt: &ast::Stmt) -> (Kind, Option<&str>) {
        match &stmt.kind {
            StmtKind::Param { name, .. } => (Kind::Param, Some(&name.name)),
            StmtKind::Agent(decl) => (Kind::Agent, Some(&decl.name.name)),
            StmtKind::Flow(decl) => (Kind::Flow, Some(&decl.name.name)),
            StmtKind::Let { name, .. } => (Kind::Let, Some(&name.name)),
            // A `budget` limits the entry it is in.
            StmtKind::Expr(_) | StmtKind::Output(_) | StmtKind::Budget(_) => (Kind::Expr, None),
        }
    }

    /// Values (`let`, `param`) and callables (`agent`, `flow`) are separate namespaces.
    fn is_value(self) -> bool {
        matches!(self, Kind::Param | Kind::Let)
    }

    /// Declarations are re-compiled with every entry.
    fn is_declaration(self) -> bool {
        matches!(self, Kind::Param | Kind::Agent | Kind::Flow)
    }
}

/// A name an entry bound, with its value for `let` and `param`.
#[derive(Clone, Debug)]
pub struct Binding {
    pub kind: Kind,
    pub name: String,
    pub value: Option<Arc<Value>>,
}

/// How one entry ended.
#[derive(Clone, Debug)]
pub enum EntryOutcome {
    /// Blank, or only comments.
    Nothing,
    /// It ran and its bindings are now part of the session.
    Done {
        /// The value of a final bare expression.
        value: Option<Arc<Value>>,
        /// What it bound, in source order.
        bound: Vec<Binding>,
        warnings: Vec<Problem>,
    },
    /// A syntax, check or runtime error; the session is as it was.
    Failed(Vec<Problem>),
    /// Cancelled (Ctrl-C) while these tasks ran; the session is as it was.
    Cancelled { running: Vec<String> },
}

/// A top-level statement of a committed entry.
#[derive(Clone, Debug)]
pub(crate) struct Saved {
    pub kind: Kind,
    pub name: Option<String>,
    /// Into its entry's source.
    pub span: Span,
    /// False once a later entry rebound its name.
    pub live: bool,
}

/// A committed entry: its source and its statements.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub source: SourceFile,
    pub stmts: Vec<Saved>,
}

/// A stretch of the text compiled for an entry, and where it came from.
#[derive(Clone, Copy, Debug)]
struct Segment {
    start: usize,
    len: usize,
    /// The committed entry it was copied from; `None` for the entry itself.
    entry: Option<usize>,
    /// Its offset in that source.
    origin: usize,
}

/// The session: committed entries and the values they bound.
#[derive(Debug, Default)]
pub struct Session {
    engine: Engine,
    options: SessionOptions,
    pub(crate) entries: Vec<Entry>,
    /// `let` values, in binding order.
    values: Vec<(String, Arc<Value>)>,
    /// The values of the live `param`s, as the last entry evaluated them.
    params: Vec<(String, Arc<Value>)>,
    /// Entries evaluated so far, to name their sources (`entry 3`).
    count: usize,
    /// A comment-only entry holding `# flow: allow(…)`: it belongs to the
    /// next entry, as the line before a statement does in a file.
    pending_comments: String,
    /// The run store the session records its tasks in (`store.rs`).
    pub(super) recorder: Option<super::store::Recorder>,
}

impl Session {
    pub fn new(engine: Engine, options: SessionOptions) -> Session {
        Session {
            engine,
            options,
            ..Session::default()
        }
    }

    /// Forgets every binding and declaration (the session's run goes on).
    pub fn reset(&mut self) {
        self.entries.clear();
        self.values.clear();
        self.params.clear();
        self.pending_comments.clear();
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The `let` values, in binding order.
    pub fn values(&self) -> &[(String, Arc<Value>)] {
        &self.values
    }

    /// The `param` values.
    pub fn params(&self) -> &[(String, Arc<Value>)] {
        &self.params
    }

    /// The value bound to `name` by `let` or `param`.
    pub fn value(&self, name: &str) -> Option<&Arc<Value>> {
        self.values
            .iter()
            .chain(&self.params)
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The live declarations of one kind: name and source text.
    pub fn declarations(&self, kind: Kind) -> Vec<(String, String)> {
        self.live()
            .filter(|(_, s)| s.kind == kind)
            .filter_map(|(source, s)| {
                let name = s.name.clone()?;
                Some((name, source.slice(s.span).to_string()))
            })
            .collect()
    }

    /// Every live statement with its source, in entry order.
    pub(crate) fn live(&self) -> impl Iterator<Item = (&SourceFile, &Saved)> {
        self.entries
            .iter()
            .flat_map(|e| e.stmts.iter().map(move |s| (&e.source, s)))
            .filter(|(_, s)| s.live)
    }

    /// What the line editor completes besides keywords and functions: the
    /// session's names and every agent of the engine's registry.
    pub fn completion_names(&self) -> Vec<String> {
        let mut names = self.names();
        names.extend(
            self.engine
                .registry()
                .iter()
                .map(|a| a.signature().name.clone()),
        );
        names.sort();
        names.dedup();
        names
    }

    /// Every name the session binds: values, params, agents, flows and host agents.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .live()
            .filter_map(|(_, s)| s.name.clone())
            .chain(self.engine.agent_names().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The name for the next entry's source.
    pub fn next_name(&mut self) -> String {
        self.count += 1;
        format!("entry {}", self.count)
    }

    /// Parses, checks, lowers and runs one entry; commits what it binds only
    /// when it succeeds.
    pub async fn eval_entry(&mut self, name: &str, text: &str, ctl: &RunControl) -> EntryOutcome {
        let text = std::mem::take(&mut self.pending_comments) + text;
        let source = SourceFile::new(name, text.as_str());
        let own = match syntax::parse(&source) {
            Ok(program) => program,
            Err(diags) => {
                let diags = diags.into_iter().map(syntax::entry_end_label).collect();
                return EntryOutcome::Failed(problems(&source, diags));
            }
        };
        if own.stmts.is_empty() {
            if text.contains("flow:") {
                self.pending_comments = text;
                if !self.pending_comments.ends_with('\n') {
                    self.pending_comments.push('\n');
                }
            }
            return EntryOutcome::Nothing;
        }
        let compiled = match self.compile(&source, &own) {
            Ok(c) => c,
            Err(problems) => return EntryOutcome::Failed(problems),
        };
        // Overrides for the params this entry sees; the rest wait for their `param`.
        let declared: HashSet<&str> = compiled
            .script
            .program
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Param { name, .. } => Some(name.name.as_str()),
                _ => None,
            })
            .collect();
        let journal = self.entry_journal();
        let options = RunOptions {
            jobs: self.options.jobs,
            keep_going: self.options.keep_going,
            script_dir: None,
            param_texts: Vec::new(),
            params: (self.options.params.iter())
                .filter(|(n, _)| declared.contains(n.as_str()))
                .cloned()
                .collect(),
            host_agents: Vec::new(),
            executor: None,
            executors: Vec::new(),
            default_executor: self.options.executor.clone(),
            slurm: self.slurm_options(),
            observer: ctl.observer.clone(),
            cancel: ctl.cancel.clone(),
            // Only the cancelled and failed tasks are reported.
            record_all: false,
            journal,
            secrets: self.options.secrets.clone(),
            dry_run: false,
            budget: self.options.budget,
            approver: Some(self.entry_approver()),
        };
        let outcome = self.engine.run(&compiled.script, options).await;
        match outcome.status {
            RunStatus::Succeeded => {
                let result = outcome.result.as_deref().cloned().unwrap_or(Value::Null);
                self.commit(source, &own, &result, compiled.warnings)
            }
            RunStatus::Failed => {
                let mut problems: Vec<Problem> = outcome
                    .errors
                    .into_iter()
                    .map(|d| compiled.map.problem(d, &self.entries))
                    .collect();
                if problems.is_empty() {
                    problems.push(Problem {
                        source: source.clone(),
                        diagnostic: Diagnostic::error(Code::TaskFailed, "the entry failed"),
                    });
                }
                EntryOutcome::Failed(problems)
            }
            RunStatus::Cancelled => EntryOutcome::Cancelled {
                running: outcome
                    .tasks
                    .iter()
                    .filter(|t| t.status == TaskStatus::Cancelled)
                    .map(|t| t.id())
                    .collect(),
            },
        }
    }

    /// Compiles an entry as the live declarations followed by the entry, with
    /// a result that carries every binding's value back out.
    fn compile(&self, source: &SourceFile, own: &ast::Program) -> Result<Compiled, Vec<Problem>> {
        if let Some(output) = own
            .stmts
            .iter()
            .find(|s| matches!(s.kind, StmtKind::Output(_)))
        {
            return Err(problems(source, vec![output_in_repl(output.span)]));
        }
        // What the entry declares replaces what earlier entries declared.
        let mut shadowed_values = HashSet::new();
        let mut shadowed_callables = HashSet::new();
        let mut new_params = HashSet::new();
        for stmt in &own.stmts {
            match Kind::of(stmt) {
                (kind, Some(name)) if kind.is_value() => {
                    shadowed_values.insert(name.to_string());
                    if kind == Kind::Param {
                        new_params.insert(name.to_string());
                    }
                }
                (_, Some(name)) => {
                    shadowed_callables.insert(name.to_string());
                }
                _ => {}
            }
        }
        let mut text = String::new();
        let mut segments = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            for s in entry
                .stmts
                .iter()
                .filter(|s| s.live && s.kind.is_declaration())
            {
                let shadowed = if s.kind.is_value() {
                    &shadowed_values
                } else {
                    &shadowed_callables
                };
                if s.name.as_ref().is_some_and(|n| shadowed.contains(n)) {
                    continue;
                }
                segments.push(Segment {
                    start: text.len(),
                    len: s.span.len(),
                    entry: Some(index),
                    origin: s.span.start as usize,
                });
                text.push_str(entry.source.slice(s.span));
                text.push('\n');
            }
        }
        let offset = text.len();
        segments.push(Segment {
            start: offset,
            len: source.text.len(),
            entry: None,
            origin: 0,
        });
        text.push_str(&source.text);
        let map = SpanMap {
            segments,
            source: source.clone(),
        };

        // A `let` value the entry turns into a `param` is dropped, so the
        // graph holds one param of that name.
        let values: Vec<(String, Arc<Value>)> = self
            .values
            .iter()
            .filter(|(n, _)| !new_params.contains(n))
            .cloned()
            .collect();
        let env = check::Env {
            values: values.iter().map(|(n, _)| n.clone()).collect(),
            ..check::Env::default()
        };
        let prelude = Prelude {
            values,
            ..Prelude::default()
        };
        let combined = SourceFile::new(source.name.clone(), text);
        let mut script = match self.engine.compile_with(combined, &env, &prelude) {
            Ok(script) => script,
            Err(e) => {
                return Err(e
                    .diagnostics
                    .into_iter()
                    .map(|d| map.problem(d, &self.entries))
                    .collect())
            }
        };
        // In a REPL every top-level binding is there to be used later.
        let top_names: HashSet<Span> = script
            .program
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Let { name, .. } | StmtKind::Param { name, .. } => Some(name.span),
                StmtKind::Agent(d) => Some(d.name.span),
                StmtKind::Flow(d) => Some(d.name.span),
                StmtKind::Expr(_) | StmtKind::Output(_) | StmtKind::Budget(_) => None,
            })
            .collect();
        // `# flow: allow(…)` comments hold in the REPL as in a file.
        let warnings = crate::lint::levels::silence(
            &script.source,
            Some(&script.program),
            std::mem::take(&mut script.warnings),
        );
        let warnings = warnings
            .into_iter()
            .filter(|d| d.span().is_some_and(|s| s.start as usize >= offset))
            .filter(|d| {
                !(d.code == Code::UnusedBinding && d.span().is_some_and(|s| top_names.contains(&s)))
            })
            .map(|d| map.problem(d, &self.entries))
            .collect();
        // The second lowering sees the names the compile did: the engine's
        // agents too.
        let prelude = Prelude {
            registry: Arc::new(self.engine.registry().clone()),
            host_agents: self.engine.agent_names().map(str::to_string).collect(),
            ..prelude
        };
        export_bindings(&mut script, &prelude).map_err(|diags| {
            diags
                .into_iter()
                .map(|d| map.problem(d, &self.entries))
                .collect::<Vec<_>>()
        })?;
        Ok(Compiled {
            script,
            map,
            warnings,
        })
    }

    /// Makes an entry that succeeded part of the session.
    fn commit(
        &mut self,
        source: SourceFile,
        own: &ast::Program,
        result: &Value,
        warnings: Vec<Problem>,
    ) -> EntryOutcome {
        let bindings = result.get("bindings").and_then(Value::as_object);
        let get = |name: &str| bindings.and_then(|b| b.get(name)).cloned().map(Arc::new);
        let mut bound = Vec::new();
        let mut stmts = Vec::new();
        for stmt in &own.stmts {
            let (kind, name) = Kind::of(stmt);
            if let Some(name) = name {
                self.forget(kind, name);
                let value = if kind.is_value() { get(name) } else { None };
                if kind == Kind::Let {
                    let v = value.clone().unwrap_or_else(|| Arc::new(Value::Null));
                    self.values.push((name.to_string(), v));
                }
                bound.push(Binding {
                    kind,
                    name: name.to_string(),
                    value,
                });
            }
            stmts.push(Saved {
                kind,
                name: name.map(str::to_string),
                span: stmt.span,
                live: true,
            });
        }
        self.entries.push(Entry { source, stmts });
        // Every live param was evaluated again by this entry.
        self.params = self
            .live()
            .filter(|(_, s)| s.kind == Kind::Param)
            .filter_map(|(_, s)| {
                let name = s.name.clone()?;
                let value = get(&name)?;
                Some((name, value))
            })
            .collect();
        let value = match own.stmts.last().map(|s| &s.kind) {
            Some(StmtKind::Expr(_)) => Some(Arc::new(
                result.get("value").cloned().unwrap_or(Value::Null),
            )),
            _ => None,
        };
        EntryOutcome::Done {
            value,
            bound,
            warnings,
        }
    }

    /// Drops an earlier binding of `name` in `kind`'s namespace.
    fn forget(&mut self, kind: Kind, name: &str) {
        for entry in &mut self.entries {
            for s in &mut entry.stmts {
                if s.live && s.kind.is_value() == kind.is_value() && s.name.as_deref() == Some(name)
                {
                    s.live = false;
                }
            }
        }
        if kind.is_value() {
            self.values.retain(|(n, _)| n != name);
            self.params.retain(|(n, _)| n != name);
        }
    }

    /// The session as a script that `flow run` reproduces (see `save.rs`).
    pub fn script_text(&self) -> String {
        self.script().text
    }

    /// The session as a script, with what `:save` reports about it.
    pub(crate) fn script(&self) -> super::save::Script {
        super::save::script(&self.entries)
    }

    /// The options the session runs its entries with.
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }
}

/// An entry ready to run.
struct Compiled {
    script: Script,
    map: SpanMap,
    warnings: Vec<Problem>,
}

/// Maps spans of the text compiled for an entry back to the entries they came from.
struct SpanMap {
    segments: Vec<Segment>,
    /// The entry being evaluated.
    source: SourceFile,
}

impl SpanMap {
    fn segment(&self, span: Span) -> Option<&Segment> {
        let (start, end) = (span.start as usize, span.end as usize);
        self.segments
            .iter()
            .find(|s| s.start <= start && end <= s.start + s.len)
    }

    /// The diagnostic against the source its primary span points into; labels
    /// pointing elsewhere are dropped.
    fn problem(&self, mut d: Diagnostic, entries: &[Entry]) -> Problem {
        let anchor = d
            .span()
            .or_else(|| d.labels.first().map(|l| l.span))
            .and_then(|span| self.segment(span))
            .copied();
        let Some(seg) = anchor else {
            // No span, or one that points nowhere useful: show the message alone.
            d.primary = None;
            d.labels.clear();
            return Problem {
                source: self.source.clone(),
                diagnostic: d,
            };
        };
        let source = match seg.entry {
            Some(i) => entries
                .get(i)
                .map_or_else(|| self.source.clone(), |e| e.source.clone()),
            None => self.source.clone(),
        };
        let shift = |span: Span| {
            let start = span.start as usize - seg.start + seg.origin;
            Span::new(start, start + span.len())
        };
        let inside = |span: Span| {
            let (start, end) = (span.start as usize, span.end as usize);
            seg.start <= start && end <= seg.start + seg.len
        };
        d.primary = d.primary.take().filter(|l| inside(l.span)).map(|mut l| {
            l.span = shift(l.span);
            l
        });
        d.labels.retain(|l| inside(l.span));
        for l in &mut d.labels {
            l.span = shift(l.span);
        }
        Problem {
            source,
            diagnostic: d,
        }
    }
}

/// `output` in an entry: a session has no script to return from.
fn output_in_repl(stmt: Span) -> Diagnostic {
    let keyword = Span::new(
        stmt.start as usize,
        (stmt.start as usize + 6).min(stmt.end as usize),
    );
    Diagnostic::error(
        Code::MisplacedDeclaration,
        "`output` declares what a script returns; the REPL runs entries, not a script",
    )
    .at(keyword, "not in the REPL")
    .help("type the expression alone: the REPL prints the value of an entry's final expression (`output` belongs in a file: `:save FILE`, then add it)")
}

/// Problems against one source.
fn problems(source: &SourceFile, diags: Vec<Diagnostic>) -> Vec<Problem> {
    diags
        .into_iter()
        .map(|diagnostic| Problem {
            source: source.clone(),
            diagnostic,
        })
        .collect()
}

/// Replaces the script's result with `{ value, bindings }`: the value of its
/// final bare expression (or null), and the value of every top-level `let` and
/// `param`, so the session can keep them.
///
/// The `let`s are found by lowering the program without its final bare
/// expression, whose result is then the object of its `let`s: the nodes of the
/// statements before it have the same slots in both graphs, since a body's
/// nodes are in source order.
fn export_bindings(script: &mut Script, prelude: &Prelude) -> Result<(), Vec<Diagnostic>> {
    let mut graph = (*script.graph).clone();
    let root = graph.root.0 as usize;
    let Some(body) = graph.bodies.get(root) else {
        return Ok(());
    };
    let ends_in_expr = matches!(
        script.program.stmts.last().map(|s| &s.kind),
        Some(StmtKind::Expr(_))
    );
    let (value, lets) = if ends_in_expr {
        let mut without = script.program.clone();
        without.stmts.pop();
        let lowered = graph::lower(&without, prelude)?;
        let lets = lowered
            .bodies
            .get(lowered.root.0 as usize)
            .map(|b| b.result.clone());
        (body.result.clone(), lets)
    } else {
        (
            Expr::Const(Arc::new(Value::Null)),
            Some(body.result.clone()),
        )
    };
    let mut bindings = match lets {
        Some(Expr::Object(entries)) => entries,
        _ => Vec::new(),
    };
    for (index, param) in graph.params.iter().enumerate().skip(prelude.values.len()) {
        bindings.push((param.name.clone(), Expr::Ref(Ref::Param(index as u32))));
    }
    // The final expression's node would take the script instance's name, which
    // is empty; name it so progress and errors can say which task it was.
    let (first, len) = (body.first as usize, body.len as usize);
    for node in graph.nodes.iter_mut().skip(first).take(len) {
        if node.label.is_empty() {
            node.label = "result".into();
        }
    }
    graph.bodies[root].result = Expr::Object(vec![
        ("value".into(), value),
        ("bindings".into(), Expr::Object(bindings)),
    ]);
    script.graph = Arc::new(graph);
    Ok(())
}
