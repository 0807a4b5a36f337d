//! The scheduler: body instances, dependency counting, constructs (map, if,
//! try, gate, sub-flow), limits, failure policy and cancellation.
//!
//! One async task owns all state; agent calls run as spawned tokio tasks and
//! report back through a `JoinSet`. Cheap nodes run inline. A node starts when
//! its count of unfinished inputs reaches zero; nothing waits for a "wave".

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::eval::{eval, Frame};
use super::task::{Executed, Prepared};
use super::{Event, Outcome, RunOptions, RunStatus, TaskRecord, TaskStatus, Val};
use crate::diag::{Code, Diagnostic};
use crate::graph::{BodyId, Callee, Expr, Node, NodeKind, TaskGraph};

mod budget;
mod constructs;
mod instances;
mod limits;
mod partial;
mod placement;
mod prefetch;
mod redact;
mod setup;
#[cfg(feature = "cli")]
pub(crate) use setup::param_values;
mod tools;

use limits::Queues;

/// An instance handle: slot index plus generation, so a stale handle never
/// reaches a reused slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    index: u32,
    gen: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeState {
    Waiting,
    Started,
    Done,
    Failed,
    Skipped,
}

/// The most instance ends the scheduler runs inside one another.
const FINISH_NESTING: u32 = 16;

/// Who created an instance and what its result is for.
#[derive(Clone, Copy, Debug)]
enum Parent {
    Root,
    Construct { id: u32, role: Role },
    /// One use of a tool by a task's call (see `tools`).
    Tool { id: u32 },
}

#[derive(Clone, Copy, Debug)]
enum Role {
    Item(usize),
    Branch,
    Attempt,
    Else,
    Check(usize),
    /// A `repeat`'s condition, one of its rounds, its `else`.
    Cond,
    Round,
    Finally,
    /// A `fold` step (level 0, item) or a `reduce` merge (the level and slot it fills).
    Step(u32, u32),
}

/// A failure on its way up: the diagnostic, and what `error` shows in a try's `else`.
#[derive(Clone, Debug)]
pub(super) struct Failure {
    diag: Diagnostic,
    task: String,
    message: String,
    /// The agent's notes on it (an `sh` command's stderr tail).
    notes: Vec<String>,
    /// Caused by cancellation rather than by the work itself.
    cancelled: bool,
    /// With `--keep-going`: the place's value all the same, with error values
    /// where it failed (a `map`'s list, a sub-flow's result; see `partial`).
    partial: Option<Val>,
}

impl Failure {
    fn error_value(&self) -> Value {
        let mut value = json!({ "task": self.task, "message": self.message });
        if !self.notes.is_empty() {
            value["notes"] = json!(self.notes);
        }
        value
    }
}

/// One instantiation of a body.
struct Instance {
    gen: u32,
    live: bool,
    body: BodyId,
    parent: Parent,
    name: Arc<str>,
    /// Inside a try attempt or a gate check: failures are caught above.
    handled: bool,
    values: Vec<Option<Val>>,
    state: Vec<NodeState>,
    waiting: Vec<u32>,
    inputs: Vec<Val>,
    captures: Vec<Val>,
    /// Nodes not yet done, failed or skipped.
    unfinished: u32,
    /// Running tasks and constructs in progress.
    active: u32,
    /// Boxed: a failure is rare, and an instance lives per map item.
    failure: Option<Box<Failure>>,
    stopped: bool,
    token: Option<CancellationToken>,
    /// Its place in the queues' line: a `map` item's is its own (older
    /// items first), any other instance has its parent's (see `limits.rs`).
    rank: u64,
}

/// What the static graph says about each body, computed once per run.
struct BodyPlan {
    waiting: Vec<u32>,
    dependents: Dependents,
    /// How many of its nodes are tasks (agent calls): what each instance
    /// adds to the tasks known ([`Event::Planned`]).
    tasks: u32,
}

/// How many nodes ahead a pass over a body's nodes in order asks for the
/// memory it will read.
const PREFETCH_AHEAD: usize = 8;

/// The nodes of a body that wait for each of its nodes, in one flat list:
/// node `k`'s are `list[starts[k]..starts[k + 1]]`, in node order. (A
/// vector per node made a body of 100,000 nodes 100,000 allocations, and
/// each completed task missed the cache on its own.)
struct Dependents {
    starts: Vec<u32>,
    list: Vec<u32>,
}

impl Dependents {
    /// The dependents of the nodes of `body`, from their `deps`.
    fn of_body(graph: &TaskGraph, body: &crate::graph::Body) -> Dependents {
        let n = body.len as usize;
        let mut starts = vec![0u32; n + 1];
        // Each node's `deps` is an allocation of its own: its load is asked
        // for a few nodes ahead, as the nodes are read in order.
        let ahead = |id: crate::graph::NodeId| {
            if let Some(node) = graph.nodes.get(id.0 as usize + PREFETCH_AHEAD) {
                prefetch::slice(&node.deps);
            }
        };
        for id in body.node_ids() {
            ahead(id);
            for &d in &graph.node(id).deps {
                starts[d as usize + 1] += 1;
            }
        }
        for k in 0..n {
            starts[k + 1] += starts[k];
        }
        let mut next = starts.clone();
        let mut list = vec![0u32; starts[n] as usize];
        for (k, id) in body.node_ids().enumerate() {
            ahead(id);
            for &d in &graph.node(id).deps {
                let at = &mut next[d as usize];
                list[*at as usize] = k as u32;
                *at += 1;
            }
        }
        Dependents { starts, list }
    }

    /// The nodes that wait for node `k`.
    fn of(&self, k: u32) -> &[u32] {
        let k = k as usize;
        &self.list[self.starts[k] as usize..self.starts[k + 1] as usize]
    }
}

/// Work for the scheduler loop.
enum Work {
    Node(Key, u32),
    /// Instantiate the next items of a map.
    MapMore(u32),
    /// An instance with no nodes: its value is ready at once.
    Finish(Key),
}

/// What spawned work reports.
pub(super) enum Completion {
    Task {
        key: Key,
        node: u32,
        queue: usize,
        /// What it took: slots, memory, a place in an executor's queue.
        taken: crate::runtime::task::Placement,
        /// Boxed: a waiting task's future is sized for what it returns.
        done: Box<Executed>,
        /// Its reservation against the budget, when its agent spends tokens.
        hold: Option<Box<budget::Hold>>,
    },
    /// A try's backoff is over: start the next attempt.
    Backoff { construct: u32 },
    /// A sub-flow call's timeout fired.
    /// Names the attempt's instance: a generation-checked key, so a timer
    /// that fired just as its attempt ended can never stop another one.
    Deadline { construct: u32, attempt: Key },
    /// A timer cut short because its run or instance stopped: nothing to do.
    Stopped,
}

/// The per-agent runtime state: how to call it, its config and limit.
pub(super) struct AgentRuntime {
    implementation: Arc<dyn crate::agent::Agent>,
    config: Arc<Map<String, Value>>,
    command: Option<Arc<crate::shell::Command>>,
}

pub(crate) struct Scheduler {
    graph: Arc<TaskGraph>,
    /// The journal's count of the succeeded tasks without a key, which it
    /// only counts ([`Journal::unkeyed_count`](crate::runtime::Journal::unkeyed_count)).
    unkeyed: Option<Arc<AtomicU64>>,
    plans: Vec<BodyPlan>,
    options: RunOptions,
    params: Vec<Val>,
    agents: Vec<AgentRuntime>,
    instances: Vec<Instance>,
    free: Vec<u32>,
    constructs: constructs::Constructs,
    ready: VecDeque<Work>,
    queues: Queues,
    join: JoinSet<Completion>,
    records: Vec<TaskRecord>,
    errors: Vec<Diagnostic>,
    /// No new work starts anywhere (fail-fast or interrupt).
    halted: bool,
    interrupted: bool,
    run_token: CancellationToken,
    root: Option<Key>,
    result: Option<Result<Val, Failure>>,
    /// Token usage of every task so far.
    usage: Option<Value>,
    /// Where this run's commands run (a local executor captures the
    /// environment at the run's first command and keeps it), and who
    /// answers its `approve` calls.
    services: crate::runtime::task::Services,
    /// What the run's records, result and diagnostics must not show.
    secrets: Arc<crate::secret::Secrets>,
    /// The run's folders (its commands get them as `FLOW_SCRIPT_DIR` and
    /// `FLOW_LAUNCH_DIR`).
    dirs: Arc<crate::interrupt::Dirs>,
    /// Maps waiting to instantiate more items until fewer tasks wait for a
    /// slot (see `limits::MAP_BACKLOG`).
    parked_maps: Vec<u32>,
    /// How many `finish`es are running inside one another (see [`Scheduler::maybe_finish`]).
    finishing: u32,
    /// How many live instances are stopped (see [`Scheduler::is_stopped`]).
    stopped_live: u32,
    /// Tasks that may use tools, and the uses running.
    tools: tools::ToolState,
    /// When inline answers happen, read once for many in a burst.
    clock: crate::runtime::task::BurstClock,
}

impl Scheduler {
    pub(crate) fn new(
        graph: Arc<TaskGraph>,
        options: RunOptions,
        dirs: Arc<crate::interrupt::Dirs>,
    ) -> Scheduler {
        let plans = graph
            .bodies
            .iter()
            .map(|body| {
                let mut waiting = Vec::with_capacity(body.len as usize);
                let mut tasks = 0;
                for id in body.node_ids() {
                    let node = graph.node(id);
                    tasks += u32::from(matches!(node.kind, NodeKind::Task(_)));
                    waiting.push(node.deps.len() as u32);
                }
                BodyPlan {
                    waiting,
                    dependents: Dependents::of_body(&graph, body),
                    tasks,
                }
            })
            .collect();
        let run_token = options.cancel.child_token();
        let queues = Queues::new(graph.agents.len(), options.jobs);
        let unkeyed = options.journal.as_ref().and_then(|j| j.unkeyed_count());
        Scheduler {
            graph,
            unkeyed,
            plans,
            params: Vec::new(),
            agents: Vec::new(),
            instances: Vec::new(),
            free: Vec::new(),
            constructs: Default::default(),
            ready: VecDeque::new(),
            queues,
            join: JoinSet::new(),
            records: Vec::new(),
            errors: Vec::new(),
            halted: false,
            interrupted: false,
            run_token,
            root: None,
            result: None,
            usage: None,
            services: crate::runtime::task::Services {
                executor: options
                    .executor
                    .clone()
                    .unwrap_or_else(crate::exec::default_executor),
                executors: Arc::new([]),
                approver: options.approver.clone(),
                retries: None,
            },
            secrets: Arc::default(),
            dirs,
            parked_maps: Vec::new(),
            finishing: 0,
            stopped_live: 0,
            tools: Default::default(),
            clock: Default::default(),
            options,
        }
    }

    pub(crate) async fn run(mut self) -> Outcome {
        if let Err(mut errors) = self.setup() {
            redact::diagnostics(&self.secrets, &mut errors);
            return Outcome {
                status: RunStatus::Failed,
                result: None,
                tasks: Vec::new(),
                errors,
                usage: None,
                spending: Default::default(),
            };
        }
        // Cancelled before it began (a signal while the script compiled):
        // nothing starts.
        if self.options.cancel.is_cancelled() {
            self.interrupt();
        }
        let root_body = self.graph.root;
        let root = self.instantiate(
            root_body,
            Parent::Root,
            "".into(),
            Vec::new(),
            Vec::new(),
            false,
        );
        self.root = Some(root);
        self.maybe_finish(root);
        loop {
            self.drain();
            if self.result.is_some() {
                break;
            }
            if self.join.is_empty() {
                // Nothing runs and nothing is ready: only a scheduler bug gets here.
                self.errors.push(Diagnostic::error(
                    Code::Cancelled,
                    "internal error: the run stalled with work left; please report this script",
                ));
                break;
            }
            let cancel = self.options.cancel.clone();
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if !self.interrupted => self.interrupt(),
                Some(request) = self.tools.receiver.recv() => self.on_tool_request(request),
                joined = self.join.join_next() => match joined {
                    Some(Ok(completion)) => self.on_completion(completion),
                    Some(Err(error)) if error.is_panic() => {
                        self.errors.push(Diagnostic::error(Code::TaskFailed, "an agent panicked; the run cannot continue safely"));
                        self.interrupted = true;
                        self.halt();
                        break;
                    }
                    _ => {}
                },
            }
        }
        self.join.abort_all();
        self.finish_run()
    }

    fn finish_run(mut self) -> Outcome {
        let result = self.result.take();
        let status = if self.interrupted {
            RunStatus::Cancelled
        } else if self.errors.is_empty() && matches!(result, Some(Ok(_))) {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        if let Some(Err(failure)) = &result {
            if self.errors.is_empty() && status == RunStatus::Failed {
                self.errors.push(failure.diag.clone());
            }
        }
        let mut result = match result {
            Some(Ok(value)) => Some(value),
            // `--keep-going`: what could be computed.
            Some(Err(failure)) => failure.partial,
            None => None,
        };
        redact::value(&self.secrets, &mut result);
        redact::diagnostics(&self.secrets, &mut self.errors);
        Outcome {
            status,
            result,
            tasks: self.records,
            errors: self.errors,
            usage: self.usage,
            spending: self.queues.budget.report(),
        }
    }

    fn drain(&mut self) {
        // One counted copy of the graph for the whole burst, not one per node.
        let graph = self.graph.clone();
        let mut done = 0usize;
        self.clock.begin();
        while let Some(work) = self.ready.pop_front() {
            self.prefetch_ahead(&graph);
            // A long burst of pure work looks at the token now and then
            // (once interrupted, what is left to drain starts nothing).
            done += 1;
            if done.is_multiple_of(crate::interrupt::EVERY) {
                self.cancelled_now();
            }
            match work {
                Work::Node(key, node) => self.start(&graph, key, node),
                Work::MapMore(id) => self.map_more(id),
                Work::Finish(key) => self.maybe_finish(key),
            }
        }
        self.clock.end();
    }

    /// Has the CPU start loading what the next nodes in line will read, while
    /// this one runs: a wide graph (the diamond of `bench/`) makes nodes ready
    /// in no order of their place in memory, and each one's start missed the
    /// cache on its node, then on its call's context (the run phase was bound
    /// by those waits, not by its instructions). Two steps: the node after
    /// next, then the next one's context, whose address its node (loaded by
    /// the step before) holds.
    fn prefetch_ahead(&self, graph: &TaskGraph) {
        let node_of = |work: Option<&Work>| match work {
            Some(&Work::Node(key, k)) => {
                let inst = self.instances.get(key.index as usize)?;
                graph.nodes.get((graph.body(inst.body).first + k) as usize)
            }
            _ => None,
        };
        if let Some(node) = node_of(self.ready.get(1)) {
            prefetch::value(node);
        }
        if let Some(node) = node_of(self.ready.front()) {
            if let NodeKind::Task(task) = &node.kind {
                prefetch::slice(&task.context);
            }
            prefetch::slice(&node.deps);
        }
    }

    // ---- nodes -----------------------------------------------------------------

    fn frame_of<'a>(inst: &'a Instance, params: &'a [Val]) -> Frame<'a> {
        Frame {
            values: &inst.values,
            inputs: &inst.inputs,
            captures: &inst.captures,
            params,
        }
    }

    /// What an expression of live instance `key` reads.
    fn frame(&self, key: Key) -> Frame<'_> {
        let inst = self.inst(key).expect("evaluating in a live instance");
        Self::frame_of(inst, &self.params)
    }

    fn eval_in(&self, key: Key, expr: &Expr) -> Result<Val, Diagnostic> {
        eval(expr, &self.frame(key)).map_err(|e| e.into_diagnostic())
    }

    /// A call's instructions: its positional argument as text, read borrowed.
    fn text_in(&self, key: Key, expr: &Expr) -> Result<String, Diagnostic> {
        let frame = self.frame(key);
        let value = crate::runtime::eval::eval_borrowed(expr, &frame);
        Ok(crate::value::to_text(&*value.map_err(|e| e.into_diagnostic())?))
    }

    /// Evaluates an expression for its errors only, reading values in place.
    fn check_in(&self, key: Key, expr: &Expr) -> Result<(), Diagnostic> {
        let frame = self.frame(key);
        crate::runtime::eval::eval_borrowed(expr, &frame).map_err(|e| e.into_diagnostic())?;
        Ok(())
    }

    /// [`Scheduler::eval_in`], owned: what a call's context holds.
    fn eval_owned_in(&self, key: Key, expr: &Expr) -> Result<Value, Diagnostic> {
        crate::runtime::eval::eval_value(expr, &self.frame(key)).map_err(|e| e.into_diagnostic())
    }

    fn node_id(&self, key: Key, node: &Node) -> String {
        super::task_id(self.inst(key).map_or("", |i| &i.name), &node.label)
    }

    fn start(&mut self, graph: &TaskGraph, key: Key, k: u32) {
        if self.is_stopped(key) {
            self.maybe_finish(key);
            return;
        }
        let Some(inst) = self.inst_mut(key) else {
            return;
        };
        if inst.state[k as usize] != NodeState::Waiting {
            return;
        }
        inst.state[k as usize] = NodeState::Started;
        let node = graph.local(inst.body, k);
        match &node.kind {
            NodeKind::Value(expr) => match self.eval_in(key, expr) {
                Ok(v) => self.complete(key, k, v),
                Err(d) => {
                    let id = self.node_id(key, node);
                    self.fail(key, k, failure_from(d, &id));
                }
            },
            NodeKind::Task(task) => self.start_task(graph, key, k, node, task),
            _ => self.start_construct(key, k, node),
        }
    }

    /// A node produced its value.
    fn complete(&mut self, key: Key, k: u32, value: Val) {
        let Some(inst) = self.inst_mut(key) else {
            return;
        };
        inst.values[k as usize] = Some(value);
        inst.state[k as usize] = NodeState::Done;
        inst.unfinished -= 1;
        let body = inst.body;
        for &d in self.plans[body.0 as usize].dependents.of(k) {
            let inst = &mut self.instances[key.index as usize];
            inst.waiting[d as usize] -= 1;
            if inst.waiting[d as usize] == 0 && inst.state[d as usize] == NodeState::Waiting {
                self.ready.push_back(Work::Node(key, d));
            }
        }
        self.maybe_finish(key);
    }

    /// Whether the run was cancelled; if so, it is interrupted now.
    fn cancelled_now(&mut self) -> bool {
        if !self.interrupted && self.options.cancel.is_cancelled() {
            self.interrupt();
        }
        self.interrupted
    }

    /// A node failed: skip what depends on it, then apply the failure policy.
    fn fail(&mut self, key: Key, k: u32, mut failure: Failure) {
        // Pure work stopped by the run's cancellation: the run is
        // interrupted, before a `try` could take it for a failure.
        if failure.diag.code == Code::Cancelled {
            self.cancelled_now();
        }
        let graph = self.graph.clone();
        let keep_going = self.options.keep_going;
        let is_root = self.root == Some(key);
        let Some(inst) = self.inst_mut(key) else {
            return;
        };
        inst.state[k as usize] = NodeState::Failed;
        inst.unfinished -= 1;
        let body_id = inst.body;
        let body = graph.body(body_id);
        let name = inst.name.clone();
        let handled = inst.handled;
        let plan = &self.plans[body_id.0 as usize];
        let inst = &mut self.instances[key.index as usize];
        // Everything downstream of the failed node can never run.
        let mut stack = vec![k];
        let mut skipped = Vec::new();
        while let Some(n) = stack.pop() {
            for &d in plan.dependents.of(n) {
                if inst.state[d as usize] == NodeState::Waiting {
                    inst.state[d as usize] = NodeState::Skipped;
                    inst.unfinished -= 1;
                    skipped.push(d);
                    stack.push(d);
                }
            }
        }
        let cause = if failure.cancelled {
            format!("`{}` was cancelled", failure.task)
        } else {
            format!("`{}` failed", failure.task)
        };
        if keep_going && !handled {
            self.keep_failed_places(key, k, &mut failure, &skipped, &cause);
        }
        if is_root && !failure.cancelled {
            self.errors.push(failure.diag.clone());
        }
        let inst = &mut self.instances[key.index as usize];
        if inst
            .failure
            .as_ref()
            .is_none_or(|f| f.cancelled && !failure.cancelled)
        {
            inst.failure = Some(Box::new(failure));
        }
        for d in skipped {
            self.record_skipped(&graph, body.first + d, &name, &cause);
        }
        if handled || !keep_going {
            self.stop(key);
        }
        if !handled && !keep_going {
            self.halt();
        }
        self.maybe_finish(key);
    }

    fn record_skipped(&mut self, graph: &TaskGraph, node: u32, instance: &Arc<str>, cause: &str) {
        let node = &graph.nodes[node as usize];
        if let NodeKind::Task(task) = &node.kind {
            let mut record = TaskRecord::new(
                instance.clone(),
                node.label.clone(),
                graph.agent_name(task).clone(),
                TaskStatus::Skipped,
                node.span,
            );
            record.error = Some(cause.to_string());
            self.push_record(record, None);
        }
    }

    /// Whether anything takes the record of a task that ended with `status`
    /// (with a key, with usage): any failure, any keyed or costed task, and
    /// a plain success when [`Scheduler::takes_plain_records`]. When nothing
    /// does, no record is made: a `noop` of a 100,000-task chain then costs
    /// no copies of its names.
    fn wants_record(&self, status: TaskStatus, keyed: bool, usage: bool) -> bool {
        status != TaskStatus::Succeeded || keyed || usage || self.takes_plain_records()
    }

    /// Whether anything takes the record of a plain success (no key, no
    /// usage: an inline task's): the observer, the run's own list
    /// (`record_all`), or a journal that does not only count such tasks
    /// ([`Journal::unkeyed_count`](crate::runtime::Journal::unkeyed_count)).
    /// Only then is an inline call's time read, or its record made.
    fn takes_plain_records(&self) -> bool {
        let journal_takes = self.options.journal.is_some() && self.unkeyed.is_none();
        journal_takes || self.options.record_all || self.options.observer.is_some()
    }

    /// A task ended: tell the observer and the journal, keep its record.
    fn push_record(&mut self, mut record: TaskRecord, key: Option<&crate::runtime::TaskKey>) {
        redact::record(&self.secrets, &mut record);
        if let Some(observer) = &self.options.observer {
            observer(&Event::Finished(&record));
        }
        if let Some(usage) = &record.usage {
            super::add_usage(&mut self.usage, usage);
        }
        let keep = self.options.record_all || record.status != TaskStatus::Succeeded;
        match &self.options.journal {
            // The journal takes the record when the run keeps none.
            Some(journal) if !keep => journal.record_owned(record, key),
            Some(journal) => {
                journal.record(&record, key);
                self.records.push(record);
            }
            None if keep => self.records.push(record),
            None => {}
        }
    }
}

fn cancelled_failure(name: &str) -> Failure {
    let task = if name.is_empty() { "script" } else { name };
    Failure {
        diag: Diagnostic::error(Code::Cancelled, format!("`{task}` was cancelled")),
        task: task.to_string(),
        message: "cancelled".to_string(),
        notes: Vec::new(),
        cancelled: true,
        partial: None,
    }
}

pub(super) fn failure_from(diag: Diagnostic, task: &str) -> Failure {
    Failure {
        message: diag.message.clone(),
        notes: Vec::new(),
        diag,
        task: task.to_string(),
        cancelled: false,
        partial: None,
    }
}

/// Seconds as a `Duration`, for timeouts and backoffs.
pub(super) fn seconds(value: &Value) -> Result<Duration, String> {
    crate::value::duration(value).map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeId;

    /// Each node's dependents, from the flat list, are the nodes that list
    /// it among their `deps`, in node order: checked on every body of every
    /// example and of a diamond with a node many read.
    #[test]
    fn dependents_are_the_readers_of_each_node_in_order() {
        let engine = crate::Engine::new();
        let diamond = "let a = noop()\nlet b = noop(a)\nlet c = noop(a, x: b)\nlet d = noop(c, x: a) after b\n[a, b, c, d]\n";
        let mut scripts = vec![diamond.to_string()];
        for path in crate::testing::project_files("examples") {
            scripts.push(std::fs::read_to_string(path).unwrap());
        }
        let mut bodies = 0;
        for text in scripts {
            let Ok(script) = engine.compile("example.flow", &text) else {
                continue;
            };
            let graph = &script.graph;
            for body in &graph.bodies {
                let dependents = Dependents::of_body(graph, body);
                for k in 0..body.len {
                    let readers: Vec<u32> = (0..body.len)
                        .filter(|&r| graph.node(NodeId(body.first + r)).deps.contains(&k))
                        .collect();
                    assert_eq!(dependents.of(k), readers, "node {k}");
                }
                bodies += 1;
            }
        }
        assert!(bodies >= 20, "{bodies} bodies");
    }
}
