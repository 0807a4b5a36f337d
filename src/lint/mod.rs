//! Stage 3½: lints. Reads a checked program and its task graph and warns about
//! orchestration anti-patterns (sequential when parallel is possible, too many
//! dependencies, god agents) and the mistakes users of workflow tools ask
//! about. Nothing runs; every lint is a warning with a stable code that
//! `flow explain` documents, and [`levels`] decides what becomes of it.
//!
//! | file | lints |
//! |---|---|
//! | `sequential.rs` | `redundant_after`, `unneeded_after`, `after_chain`, `map_limit_one` |
//! | `dependencies.rs` | `too_many_inputs`, `whole_value_passed` |
//! | `god.rs` | `god_agent`, `many_responsibilities`, `single_call_script` |
//! | `hygiene.rs` | `constant_condition`, `single_check_gate`, `retry_without_backoff`, `missing_timeout` |
//! | `shell.rs` | `unquoted_shell_var` |
//! | `command.rs` | `interpolated_command` |
//! | `result.rs` | `implicit_result` |
//! | `levels.rs` | `-A`/`-W`/`-D`, `# flow: allow(…)` comments, `unused_allow` |

mod command;
mod dependencies;
mod god;
mod hygiene;
pub mod levels;
mod result;
mod sequential;
mod shell;


use crate::agent::Signature;
use crate::ast::{self, Expr, ExprKind, StmtKind};
use crate::diag::{Code, Diagnostic};
use crate::graph::{AgentKind, BodyId, Callee, NodeKind, Ref, Task, TaskGraph};
use crate::source::{SourceFile, Span};

pub use levels::{apply, Level, Levels};

/// The thresholds of the lints that have one.
#[derive(Clone, Debug)]
pub struct Config {
    /// `too_many_inputs`: warn when a task waits for more values than this.
    pub max_inputs: usize,
    /// `many_responsibilities`: warn when instructions list more steps than this.
    pub max_steps: usize,
    /// `after_chain`: report a chain of this many unneeded `after`s as one.
    pub after_chain: usize,
    /// `god_agent`: the fewest calls of one agent that can make it a god agent.
    pub god_agent_calls: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_inputs: 8,
            max_steps: 3,
            after_chain: 3,
            god_agent_calls: 3,
        }
    }
}

/// The lints' maps: keyed by spans, refs and names of one script, hashed
/// without SipHash's cost (no untrusted keys to defend against here).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

/// Lints a program that `check` accepted and `graph::lower` lowered. Every
/// diagnostic is a warning; pass them through [`apply`] for levels and allow
/// comments.
pub fn lint(
    source: &SourceFile,
    program: &ast::Program,
    graph: &TaskGraph,
    config: &Config,
) -> Vec<Diagnostic> {
    let cx = Cx::new(source, program, graph, config);
    run(&cx, program.stmts.len() >= PARALLEL_MIN_STATEMENTS)
}

/// Everything `flow check` reports for `source`: the compile's errors, or
/// the checker's warnings and the lints, each at its level in `levels` (and
/// allow comments applied). The compiled script comes with them, unless the
/// compile failed.
pub fn check_source(
    engine: &crate::Engine,
    source: &SourceFile,
    config: &Config,
    levels: &Levels,
) -> (Vec<Diagnostic>, Option<crate::Script>) {
    let env = engine.check_env();
    match engine.compile_with(source.clone(), &env, &Default::default()) {
        Ok(script) => {
            let mut diags = script.warnings.clone();
            diags.extend(lint(&script.source, &script.program, &script.graph, config));
            (apply(source, Some(&script.program), diags, levels), Some(script))
        }
        Err(e) => {
            let program = crate::syntax::parse(source).ok();
            (apply(source, program.as_ref(), e.diagnostics, levels), None)
        }
    }
}

/// Every lint over `cx`, on two cores when `parallel`: each lint walks the
/// whole program, so a big one is linted half of the lints on each core (the
/// diagnostics come out in the same order either way).
fn run(cx: &Cx<'_>, parallel: bool) -> Vec<Diagnostic> {
    // The halves take about as long on a big program (a profile of the
    // 3.7 MB diamond); together, in this order, they give the order of the
    // diagnostics of one core.
    let first = |diags: &mut Vec<Diagnostic>| {
        sequential::check(cx, diags);
        dependencies::check(cx, diags);
    };
    let second = |diags: &mut Vec<Diagnostic>| {
        god::check(cx, diags);
        hygiene::check(cx, diags);
        shell::check(cx, diags);
        command::check(cx, diags);
        result::check(cx, diags);
    };
    let mut diags = Vec::new();
    if parallel {
        let mut more = Vec::new();
        std::thread::scope(|scope| {
            let other = scope.spawn(|| second(&mut more));
            first(&mut diags);
            if let Err(panic) = other.join() {
                std::panic::resume_unwind(panic);
            }
        });
        diags.append(&mut more);
    } else {
        first(&mut diags);
        second(&mut diags);
    }
    diags.sort_by_key(|d| d.span().map_or(0, |s| s.start));
    diags
}

/// Programs with this many top-level statements are linted on two cores.
const PARALLEL_MIN_STATEMENTS: usize = 5_000;

fn has_timeout_arg(args: &[ast::Arg]) -> bool {
    args.iter()
        .any(|a| a.name.as_ref().is_some_and(|n| n.name == "timeout"))
}

/// What every lint reads: the source, the AST, the graph, and indexes between them.
pub(crate) struct Cx<'a> {
    pub source: &'a SourceFile,
    pub program: &'a ast::Program,
    pub graph: &'a TaskGraph,
    pub config: &'a Config,
    /// What the lints look up in the program.
    of_program: ProgramLookups<'a>,
    /// What the lints look up in the graph.
    of_graph: GraphLookups<'a>,
}

/// [`Cx`]'s lookups of the program, made in one walk.
struct ProgramLookups<'a> {
    /// AST calls by the span of their call expression (the span of their graph node).
    calls: HashMap<Span, &'a ast::Call>,
    /// Declared agents whose config sets a `timeout:` for each request.
    timeout_agents: Vec<&'a str>,
    /// Every expression but plain names, in the order of [`for_each_expr`]:
    /// the program is walked once, and each lint reads this list (a walk of
    /// a big program per lint cost more than the lints' own work).
    exprs: Vec<&'a Expr>,
}

/// [`Cx`]'s lookups of the graph.
struct GraphLookups<'a> {
    /// Declared agents' backends by agent name.
    agent_backends: HashMap<&'a str, &'a Signature>,
    /// The backends the script calls directly, by name.
    direct_backends: HashMap<&'a str, &'a Signature>,
    /// The spans of the nodes some task or flow call waits for with `after`.
    waited: HashSet<Span>,
}

impl<'a> Cx<'a> {
    fn new(
        source: &'a SourceFile,
        program: &'a ast::Program,
        graph: &'a TaskGraph,
        config: &'a Config,
    ) -> Cx<'a> {
        let parallel = program.stmts.len() >= PARALLEL_MIN_STATEMENTS;
        Cx::made(source, program, graph, config, parallel)
    }

    /// [`Cx::new`], on two cores when `parallel`: the program's half and the
    /// graph's half are independent.
    fn made(
        source: &'a SourceFile,
        program: &'a ast::Program,
        graph: &'a TaskGraph,
        config: &'a Config,
        parallel: bool,
    ) -> Cx<'a> {
        let (of_program, of_graph) =
            if parallel {
                std::thread::scope(|scope| {
                    let of_program = scope.spawn(|| Cx::of_program(program));
                    let of_graph = Cx::of_graph(graph);
                    let of_program = of_program
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    (of_program, of_graph)
                })
            } else {
                (Cx::of_program(program), Cx::of_graph(graph))
            };
        Cx {
            source,
            program,
            graph,
            config,
            of_program,
            of_graph,
        }
    }

    /// What the lints look up in the program: its calls by span, the agents
    /// declared with a `timeout:`, every expression but plain names.
    fn of_program(program: &'a ast::Program) -> ProgramLookups<'a> {
        let mut timeout_agents = Vec::new();
        for stmt in &program.stmts {
            if let StmtKind::Agent(decl) = &stmt.kind {
                if has_timeout_arg(&decl.args) {
                    timeout_agents.push(decl.name.name.as_str());
                }
            }
        }
        // Room for a call and a few expressions a statement, made once.
        let statements = program.stmts.len();
        let mut calls = HashMap::with_capacity_and_hasher(statements, Default::default());
        let mut exprs = Vec::with_capacity(2 * statements);
        for_each_expr(program, &mut |e| {
            match &e.kind {
                ExprKind::Name(_) => return,
                ExprKind::Call(call) => {
                    calls.insert(e.span, &**call);
                }
                _ => {}
            }
            exprs.push(e);
        });
        ProgramLookups {
            calls,
            timeout_agents,
            exprs,
        }
    }

    /// What the lints look up in the graph: the backends of declared agents
    /// and of direct calls, by name, and the spans of the nodes waited for.
    fn of_graph(graph: &'a TaskGraph) -> GraphLookups<'a> {
        let mut agent_backends = HashMap::default();
        let mut direct_backends = HashMap::default();
        for agent in &graph.agents {
            if let AgentKind::Backend(b) = &agent.kind {
                agent_backends.insert(&*agent.name, b.signature());
            }
        }
        for backend in &graph.backends {
            direct_backends.insert(backend.agent.name(), backend.agent.signature());
        }
        let mut waited = HashSet::default();
        for body in &graph.bodies {
            for id in body.node_ids() {
                for (_, k) in afters(&graph.node(id).kind) {
                    if let Some(target) = graph.nodes.get((body.first + k) as usize) {
                        waited.insert(target.span);
                    }
                }
            }
        }
        GraphLookups {
            agent_backends,
            direct_backends,
            waited,
        }
    }

    /// Every expression of the program but plain names, outermost first
    /// (as [`for_each_expr`] visits them).
    pub fn for_each_expr(&self, mut f: impl FnMut(&'a Expr)) {
        for &e in &self.of_program.exprs {
            f(e);
        }
    }

    /// [`for_each_stmt`] without walking the program again.
    pub fn for_each_stmt(&self, f: &mut impl FnMut(&'a ast::Stmt)) {
        stmts_at_every_depth(self.program, |g| self.for_each_expr(g), f);
    }

    /// Whether a task or flow call waits with `after` for the node made from
    /// the expression at `span` (a `gate`, a call).
    pub fn is_waited_for(&self, span: Span) -> bool {
        self.of_graph.waited.contains(&span)
    }

    /// Whether a call's requests are bounded by a `timeout:` in its config:
    /// the call's own (a backend called directly) or its agent's declaration.
    pub fn configured_timeout(&self, call: &ast::Call) -> bool {
        let name = call.callee.name.as_str();
        if self.direct_backend(name).is_some() {
            has_timeout_arg(&call.args)
        } else {
            self.of_program.timeout_agents.contains(&name)
        }
    }

    /// The AST call a graph node came from.
    pub fn call_at(&self, span: Span) -> Option<&'a ast::Call> {
        self.of_program.calls.get(&span).copied()
    }

    /// The backend a call by this name reaches: a declared agent's or a direct one.
    pub fn backend_of_callee(&self, name: &str) -> Option<&'a Signature> {
        if let Some(b) = self.of_graph.agent_backends.get(name) {
            return Some(b);
        }
        self.direct_backend(name)
    }

    /// The backend of this name, when the script calls it directly.
    pub fn direct_backend(&self, name: &str) -> Option<&'a Signature> {
        if self.of_graph.agent_backends.contains_key(name) {
            return None;
        }
        self.of_graph.direct_backends.get(name).copied()
    }

    /// Whether the script declares an agent of this name.
    pub fn is_declared_agent(&self, name: &str) -> bool {
        self.of_graph.agent_backends.contains_key(name)
    }

    /// The backend a task runs on, when it is a known one.
    pub fn task_backend(&self, task: &'a Task) -> Option<&'a Signature> {
        let graph = self.graph;
        match &task.callee {
            Callee::Backend(b, _) => Some(graph.backend(*b).signature()),
            Callee::Agent(i) => graph
                .agents
                .get(*i as usize)
                .and_then(|a| a.kind.signature()),
        }
    }

    /// Whether running the node may change the world outside the values it
    /// returns: a task whose agent has effects (`sh`, `http`, a host agent),
    /// or a construct or flow containing one.
    pub fn effectful(&self, kind: &NodeKind) -> bool {
        // Host agents are taken to act on the world.
        self.contains_task(kind, &|task| {
            self.task_backend(task).is_none_or(|s| s.effects)
        })
    }

    /// Whether the node is, or contains, a checkpoint (`approve`, `sleep`):
    /// a call that tasks wait for with `after` because waiting is its point.
    pub fn checkpoint(&self, kind: &NodeKind) -> bool {
        self.contains_task(kind, &|task| {
            self.task_backend(task).is_some_and(|s| s.checkpoint)
        })
    }

    /// Whether the node is a task for which `is` holds, or a construct or a
    /// flow call whose bodies hold one.
    fn contains_task(&self, kind: &NodeKind, is: &dyn Fn(&Task) -> bool) -> bool {
        match kind {
            NodeKind::Value(_) => false,
            // A task's tools run as its bodies: what they do, it does.
            NodeKind::Task(task) => {
                is(task)
                    || task
                        .tools()
                        .iter()
                        .any(|t| self.body_contains(t.body, is, 0))
            }
            NodeKind::Call(call) => self
                .graph
                .flows
                .get(call.flow as usize)
                .is_some_and(|f| self.body_contains(f.body, is, 0)),
            other => TaskGraph::kind_bodies(other)
                .into_iter()
                .any(|b| self.body_contains(b, is, 0)),
        }
    }

    fn body_contains(&self, body: BodyId, is: &dyn Fn(&Task) -> bool, depth: usize) -> bool {
        // Flows cannot recurse, but stay safe on any graph: past this depth,
        // assume the worst (it holds).
        if depth > 64 {
            return true;
        }
        let Some(b) = self.graph.bodies.get(body.0 as usize) else {
            return false;
        };
        b.node_ids().any(|id| match &self.graph.node(id).kind {
            NodeKind::Value(_) => false,
            NodeKind::Task(task) => {
                is(task) || (task.tools().iter()).any(|t| self.body_contains(t.body, is, depth + 1))
            }
            NodeKind::Call(call) => self
                .graph
                .flows
                .get(call.flow as usize)
                .is_some_and(|f| self.body_contains(f.body, is, depth + 1)),
            other => TaskGraph::kind_bodies(other)
                .into_iter()
                .any(|c| self.body_contains(c, is, depth + 1)),
        })
    }

    /// Whether the script says what it returns: an `output`, or a final bare
    /// expression. Without either, its result is the object of its `let`s,
    /// which reads every binding.
    pub fn has_explicit_result(&self) -> bool {
        self.program
            .stmts
            .iter()
            .any(|s| matches!(s.kind, StmtKind::Output(_)))
            || matches!(
                self.program.stmts.last().map(|s| &s.kind),
                Some(StmtKind::Expr(_))
            )
    }
}

/// The help suffix every lint carries.
pub(crate) fn see(code: Code) -> String {
    format!("(`flow explain {}`)", code.name())
}

/// Calls `f` on every expression of the program, outermost first.
pub(crate) fn for_each_expr<'a>(program: &'a ast::Program, f: &mut impl FnMut(&'a Expr)) {
    fn walk<'a>(e: &'a Expr, f: &mut impl FnMut(&'a Expr), depth: usize) {
        f(e);
        // The parser caps nesting; this guard only keeps a hand-built AST from
        // overflowing the stack.
        if depth < 512 {
            e.for_each_child(&mut |c| walk(c, f, depth + 1));
        }
    }
    for stmt in &program.stmts {
        stmt.for_each_expr(&mut |e| walk(e, f, 0));
    }
}

/// The statements of a program, at every depth (blocks, bodies, flows), outermost first.
pub(crate) fn for_each_stmt<'a>(program: &'a ast::Program, f: &mut impl FnMut(&'a ast::Stmt)) {
    stmts_at_every_depth(program, |g| for_each_expr(program, &mut |e| g(e)), f);
}

/// [`for_each_stmt`], with the expressions (where blocks are) from `exprs`.
fn stmts_at_every_depth<'a>(
    program: &'a ast::Program,
    exprs: impl FnOnce(&mut dyn FnMut(&'a Expr)),
    f: &mut impl FnMut(&'a ast::Stmt),
) {
    fn block<'a>(stmts: &'a [ast::Stmt], f: &mut impl FnMut(&'a ast::Stmt)) {
        for stmt in stmts {
            f(stmt);
            if let StmtKind::Flow(flow) = &stmt.kind {
                block(&flow.body.stmts, f);
            }
        }
    }
    block(&program.stmts, f);
    exprs(&mut |e| {
        let mut blocks: Vec<&'a ast::Block> = Vec::new();
        match &e.kind {
            ExprKind::Map(m) => blocks.push(&m.body),
            ExprKind::If(i) => {
                blocks.extend(i.arms.iter().map(|(_, b)| b));
                blocks.extend(i.otherwise.iter());
            }
            ExprKind::Try(t) => {
                blocks.push(&t.body);
                blocks.extend(t.otherwise.iter());
            }
            ExprKind::Block(b) => blocks.push(b),
            _ => {}
        }
        for b in blocks {
            for stmt in &b.stmts {
                f(stmt);
            }
        }
    });
}

/// The references a task or flow call reads as data (not its `after`s).
pub(crate) fn data_refs(kind: &NodeKind) -> Vec<Ref> {
    let mut out: Vec<Ref> = Vec::new();
    let mut add = |r: Ref| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    kind.for_each_ref(&mut add);
    out
}

/// The `after` list of a task or flow call.
pub(crate) fn afters(kind: &NodeKind) -> &[(std::sync::Arc<str>, u32)] {
    match kind {
        NodeKind::Task(t) => &t.modifiers.after,
        NodeKind::Call(c) => &c.modifiers.after,
        _ => &[],
    }
}

/// The literal text of a string expression, interpolations shown as `…`.
pub(crate) fn literal_text(e: &Expr) -> Option<String> {
    let ExprKind::Str(parts) = &e.kind else {
        return None;
    };
    let mut out = String::new();
    for part in parts {
        match part {
            ast::StrPart::Text(t) => out.push_str(t),
            ast::StrPart::Interp(_) => out.push('…'),
        }
    }
    Some(out)
}

/// `name` as users write it on the command line and in allow comments: `god-agent`.
pub fn dashed(code: Code) -> String {
    code.name().replace('_', "-")
}

#[cfg(test)]
mod parallel_tests {
    use super::*;

    /// Every lint case of the test corpus, linted on two cores (its lookups
    /// made on two as well), gets the diagnostics, in order, of one.
    #[test]
    fn two_cores_give_the_diagnostics_of_one() {
        let files = crate::testing::project_files("tests/cases/lint");
        let engine = crate::Engine::new();
        let config = Config::default();
        let mut compared = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let Ok(script) = engine.compile("case.flow", &text) else {
                continue;
            };
            let (source, program, graph) = (&script.source, &script.program, &script.graph);
            let one = Cx::made(source, program, graph, &config, false);
            let two = Cx::made(source, program, graph, &config, true);
            assert_eq!(run(&two, true), run(&one, false), "{}", file.display());
            compared += usize::from(!run(&one, false).is_empty());
        }
        assert!(compared >= 5, "only {compared} cases with warnings");
    }
}
