//! Starting tasks within the limits: `--jobs`, each agent's `limit`, the
//! budget. Queued tasks start in the order they became ready, except that
//! a `map` item's tasks all take the item's place (when it was made): its
//! later stages go before what became ready after it, depth first. A pipeline `map` under
//! a slot cap so finishes its first item after about as many task
//! durations as it has stages, instead of after every item's first stage.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::Map;

use super::budget::Reserved;
use super::*;
use crate::agent::{Agent, Inline, Resource};
use crate::runtime::journal::key_inputs;
use crate::runtime::task::{inline_executed, Placement};
use crate::graph::Task;

/// How many tasks may wait for a slot before `map`s stop instantiating more
/// items (they go on as tasks start). Without it, a `map` of a million `sh`
/// calls would hold a million waiting items (about 1.3 KB each); with it, the
/// backlog is bounded, and items whose first task needs no slot are delayed
/// only while this many tasks already wait.
pub(super) const MAP_BACKLOG: usize = 256;

/// A task that is ready but waits for a slot.
pub(super) struct Queued {
    pub(super) key: Key,
    pub(super) node: u32,
    pub(super) prepared: Prepared,
    /// Its place in line: its instance's rank (the oldest map item first),
    /// then the order it became ready.
    order: (u64, u64),
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// The first in line is the greatest (`BinaryHeap` pops the greatest).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        Reverse(self.order).cmp(&Reverse(other.order))
    }
}

/// One queue per agent, plus two for backends called directly (those that
/// take a `--jobs` slot by default, and the others), each in line order.
pub(super) struct Queues {
    queues: Vec<BinaryHeap<Queued>>,
    running: Vec<usize>,
    limits: Vec<usize>,
    /// The overall cap, and whether the user set it (then it covers every task).
    jobs: usize,
    explicit_jobs: bool,
    /// Slots taken (a task takes its `cpus`).
    running_jobs: usize,
    /// Memory here that tasks with a `mem` may take (read when the first
    /// one comes), and how much they do.
    memory: std::sync::OnceLock<u64>,
    memory_used: u64,
    /// Per executor that queues elsewhere: tasks in its queue, and the cap.
    pub(super) remote: Vec<(usize, usize)>,
    seq: u64,

    /// The run's budget: calls that spend tokens reserve against it.
    pub(super) budget: super::budget::Ledger,
}

impl Queues {
    pub(super) fn new(agents: usize, jobs: Option<usize>) -> Queues {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Queues {
            queues: (0..agents + 2).map(|_| BinaryHeap::new()).collect(),
            running: vec![0; agents + 2],
            limits: vec![usize::MAX; agents + 2],
            jobs: jobs.unwrap_or(cpus).max(1),
            explicit_jobs: jobs.is_some(),
            running_jobs: 0,
            memory: std::sync::OnceLock::new(),
            memory_used: 0,
            remote: Vec::new(),
            seq: 0,
            budget: super::budget::Ledger::new(crate::agent::Budget::default()),
        }
    }

    pub(super) fn set_limit(&mut self, agent: usize, limit: usize) {
        self.limits[agent] = limit.max(1);
    }

    fn takes_job(&self, agent: &dyn Agent) -> bool {
        self.explicit_jobs || agent.signature().resource == Resource::Cpu
    }

    /// The machine's memory, which tasks with a `mem` share.
    pub(super) fn memory(&self) -> u64 {
        *self.memory.get_or_init(machine_memory)
    }

    /// The `--jobs` slots: how many, and whether the user set them.
    pub(super) fn jobs(&self) -> (usize, bool) {
        (self.jobs, self.explicit_jobs)
    }

    /// What a task takes here when it starts: nothing local when its
    /// executor queues elsewhere, no slot when it is not a process (or
    /// `--jobs` was not given), else its `cpus` and `mem`.
    fn taken(&self, prepared: &Prepared) -> Placement {
        let placement = prepared.placement;
        if placement.remote {
            Placement { cpus: 0, memory: 0, ..placement }
        } else if self.takes_job(&*prepared.implementation) {
            placement
        } else {
            Placement { cpus: 0, ..placement }
        }
    }

    /// Whether a task taking `taken` fits now (its agent's limit aside).
    fn fits(&self, taken: &Placement) -> bool {
        if taken.remote {
            let (running, cap) = self.remote[taken.executor.unwrap_or(0) as usize];
            return running < cap;
        }
        self.running_jobs + taken.cpus as usize <= self.jobs
            && (taken.memory == 0
                || self.memory_used.saturating_add(taken.memory) <= self.memory())
    }

    fn take(&mut self, taken: &Placement) {
        if taken.remote {
            self.remote[taken.executor.unwrap_or(0) as usize].0 += 1;
        }
        self.running_jobs += taken.cpus as usize;
        self.memory_used += taken.memory;
    }

    fn give_back(&mut self, taken: &Placement) {
        if taken.remote {
            self.remote[taken.executor.unwrap_or(0) as usize].0 -= 1;
        }
        self.running_jobs -= taken.cpus as usize;
        self.memory_used -= taken.memory;
    }

    /// How many tasks wait for a slot.
    pub(super) fn waiting(&self) -> usize {
        self.queues.iter().map(BinaryHeap::len).sum()
    }

    /// The queue whose first task may start now and is first in line. A
    /// task that takes slots or memory here never jumps one before it that
    /// waits for them (a 4-CPU task is not starved by 1-CPU ones behind it).
    fn next_eligible(&self) -> Option<usize> {
        let mut best: Option<((u64, u64), usize)> = None;
        let mut oldest_waiting = (u64::MAX, u64::MAX);
        let mut best_local: Option<((u64, u64), usize)> = None;
        for (q, queue) in self.queues.iter().enumerate() {
            let Some(front) = queue.peek() else { continue };
            if self.running[q] >= self.limits[q] {
                continue;
            }
            let taken = self.taken(&front.prepared);
            let local = !taken.remote && (taken.cpus > 0 || taken.memory > 0);
            if !self.fits(&taken) {
                if local {
                    oldest_waiting = oldest_waiting.min(front.order);
                }
                continue;
            }
            // A call the budget can cover only once others settle waits.
            if front.prepared.estimate.as_ref().is_some_and(|e| {
                let attempts = front.prepared.retries.saturating_add(1);
                self.budget.must_wait(&front.prepared.agent, e, attempts)
            }) {
                continue;
            }
            let best = if local { &mut best_local } else { &mut best };
            if best.is_none_or(|(order, _)| front.order < order) {
                *best = Some((front.order, q));
            }
        }
        let best_local = best_local.filter(|(order, _)| *order < oldest_waiting);
        match (best, best_local) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a.1 } else { b.1 }),
            (a, b) => a.or(b).map(|(_, q)| q),
        }
    }
}

/// What preparing a task came to.
enum Start {
    /// An inline agent answered at once.
    Done(Executed),
    /// An inline agent answered at once with this value, a success that
    /// nothing records (see [`Scheduler::takes_plain_records`]).
    Value(serde_json::Value),
    /// Ready to wait for a slot in this queue.
    Queue(Prepared, usize),
}

impl Scheduler {
    /// Evaluates a task's arguments and starts it (inline when instant).
    /// `graph` is the run's graph (a copy of `self.graph` its caller holds,
    /// which an inline task's end reads without copying it again).
    pub(super) fn start_task(&mut self, graph: &TaskGraph, key: Key, k: u32, node: &Node, task: &Task) {
        let (prepared, queue) = match self.prepare(key, task) {
            Ok(Start::Queue(prepared, _)) if self.reuse(key, k, node, task, &prepared) => return,
            Ok(Start::Queue(mut prepared, queue)) => match self.estimate(key, k, node, &mut prepared) {
                Ok(()) => {
                    prepared.tools = self.toolbox(key, k, node, task);
                    (prepared, queue)
                }
                Err(()) => return,
            },
            Ok(Start::Done(done)) => return self.task_done_in(graph, key, k, done),
            Ok(Start::Value(value)) => {
                self.count_plain_success();
                return self.complete(key, k, crate::runtime::shared(value));
            }
            Err(diag) => {
                // A bad argument or modifier (`timeout t` with `t` a string):
                // point at the call, and keep a record of the task that never ran.
                let diag = diag.or_at(node.span, "in this call's arguments or modifiers");
                let id = self.node_id(key, node);
                if let Some(instance) = self.inst(key).map(|i| i.name.clone()) {
                    let mut record = TaskRecord::new(
                        instance,
                        node.label.clone(),
                        self.graph.agent_name(task).clone(),
                        TaskStatus::Failed,
                        node.span,
                    );
                    record.error = Some(diag.message.clone());
                    self.push_record(record, None);
                }
                return self.fail(key, k, failure_from(diag, &id));
            }
        };
        let mut rank = 0;
        if let Some(inst) = self.inst_mut(key) {
            inst.active += 1;
            rank = inst.rank;
        }
        let q = &mut self.queues;
        q.seq += 1;
        // Outside any map item, a task's place is when it became ready.
        let order = (if rank == 0 { q.seq } else { rank }, q.seq);
        q.queues[queue].push(Queued {
            key,
            node: k,
            prepared,
            order,
        });
        self.pump();
    }

    /// Evaluates a task's call; runs it at once when its agent answers it
    /// inline and it has no `timeout` or `retry`, else prepares it for its queue.
    fn prepare(&self, key: Key, task: &Task) -> Result<Start, Diagnostic> {
        let agents = self.agents.len();
        let mut definition = None;
        let (implementation, config, command, queue) = match &task.callee {
            Callee::Agent(i) => {
                let agent = &self.agents[*i as usize];
                let (config, command) = (Cow::Borrowed(&agent.config), agent.command.clone());
                definition = self.graph.agents[*i as usize].digest.as_deref();
                (&agent.implementation, config, command, *i as usize)
            }
            Callee::Backend(b, exprs) => {
                let b = self.graph.backend(*b);
                let frame = self.frame(key);
                let (config, command) = crate::runtime::eval::config(exprs, b.signature(), &frame)
                    .map_err(|e| e.into_diagnostic())?;
                let queue = if b.signature().resource == Resource::Cpu {
                    agents
                } else {
                    agents + 1
                };
                (&b.0, crate::runtime::call_config(config), command, queue)
            }
        };
        let reads_context = implementation.signature().reads_context;
        let instructions = match &task.instructions {
            Some(e) if reads_context => Some(self.text_in(key, e)?),
            // Evaluated for its errors only: no text made of the value.
            Some(e) => {
                self.check_in(key, e)?;
                None
            }
            None => None,
        };
        let mut context = Map::with_capacity(if reads_context { task.context.len() } else { 0 });
        for (name, expr) in &task.context {
            if reads_context {
                context.insert(String::from(&**name), self.eval_owned_in(key, expr)?);
            } else {
                // Evaluated for its errors only: no copy of the value, no map.
                self.check_in(key, expr)?;
            }
        }
        let mut config = config;
        let placement = self.place(&**implementation, &mut config, &mut context)?;
        let mut instructions = instructions;
        if let Some(spread) = task.spread() {
            for (name, value) in super::tools::spread_context(&*self.eval_in(key, spread)?) {
                if name == "instructions" && instructions.is_none() {
                    instructions = Some(crate::value::to_text(&value));
                } else {
                    context.insert(name, value);
                }
            }
        }
        let (timeout, retries, backoff) = self.call_modifiers(key, &task.modifiers)?;
        // Any agent may answer a call at once (`sleep(0s)`); inline ones always do.
        if timeout.is_none() && retries == 0 {
            let call = Inline {
                instructions: instructions.as_deref(),
                context: &context,
                config: &config,
            };
            let timed = self.takes_plain_records();
            match implementation.call_inline(&call) {
                None => {}
                // A success without usage that nothing records (`flow run`'s
                // `noop`s, `echo`s): only its value goes on, and the count.
                Some(Ok(reply)) if reply.usage.is_none() && !timed && task.tools().is_empty() => {
                    return Ok(Start::Value(reply.value))
                }
                Some(result) => {
                    return Ok(Start::Done(inline_executed(result, timed, &self.clock)))
                }
            }
        }
        // A dry run's tasks get no key: nothing re-used, nothing to re-use.
        let journal = self.options.journal.as_ref().filter(|_| !self.options.dry_run);
        let keyed = journal.map(|journal| {
            let signature = implementation.signature();
            let key = key_inputs(
                self.graph.agent_name(task),
                definition,
                &config,
                instructions.as_deref(),
                &context,
                command.as_deref(),
                signature,
            );
            match journal.uses_requests() {
                true => key.with_request(signature),
                false => key,
            }
        });
        let prepared = Prepared {
            keyed,
            implementation: implementation.clone(),
            command,
            agent: self.graph.agent_name(task).clone(),
            task: String::new(),
            instructions,
            context,
            config: config.into_owned(),
            timeout,
            retries,
            backoff,
            tools: None,
            estimate: None,
            max_tokens: None,
            placement,
        };
        Ok(Start::Queue(prepared, queue))
    }

    /// [`Scheduler::modifiers`] of a call.
    pub(super) fn call_modifiers(
        &self,
        key: Key,
        m: &crate::graph::Modifiers,
    ) -> Result<(Option<Duration>, u32, Duration), Diagnostic> {
        self.modifiers(
            key,
            m.timeout.as_ref(),
            m.retry.as_ref(),
            m.backoff.as_ref(),
        )
    }

    /// Evaluates `timeout`, `retry` and `backoff`: absent, they are no limit,
    /// no retry and no wait.
    pub(super) fn modifiers(
        &self,
        key: Key,
        timeout: Option<&Expr>,
        retry: Option<&Expr>,
        backoff: Option<&Expr>,
    ) -> Result<(Option<Duration>, u32, Duration), Diagnostic> {
        let timeout = timeout
            .map(|e| self.duration(key, e, "timeout"))
            .transpose()?;
        let retries = match retry {
            Some(e) => u32::try_from(self.count(key, e, "retry", 0)?).unwrap_or(u32::MAX),
            None => 0,
        };
        let backoff = backoff
            .map(|e| self.duration(key, e, "backoff"))
            .transpose()?;
        Ok((timeout, retries, backoff.unwrap_or(Duration::ZERO)))
    }

    pub(super) fn duration(
        &self,
        key: Key,
        expr: &Expr,
        what: &str,
    ) -> Result<Duration, Diagnostic> {
        let v = self.eval_in(key, expr)?;
        seconds(&v).map_err(|message| {
            Diagnostic::error(Code::BadValue, format!("bad `{what}`: {message}"))
        })
    }

    pub(super) fn count(
        &self,
        key: Key,
        expr: &Expr,
        what: &str,
        min: u64,
    ) -> Result<u64, Diagnostic> {
        let v = self.eval_in(key, expr)?;
        crate::value::count(&v, what, min).map_err(|e| e.to_diagnostic())
    }

    /// Starts queued tasks while slots are free.
    pub(super) fn pump(&mut self) {
        while let Some(q) = self.queues.next_eligible() {
            let Some(mut queued) = self.queues.queues[q].pop() else {
                break;
            };
            if self.is_stopped(queued.key) {
                self.drop_queued(queued);
                continue;
            }
            let hold = match self.reserve(&mut queued) {
                Reserved::Start(hold) => hold,
                Reserved::Refused(refusal) => {
                    self.refuse_queued(queued, refusal);
                    continue;
                }
                // Not reached: `next_eligible` passes over such calls.
                Reserved::Wait => {
                    self.queues.queues[q].push(queued);
                    break;
                }
            };
            let taken = self.queues.taken(&queued.prepared);
            self.queues.running[q] += 1;
            self.queues.take(&taken);
            let graph = self.graph.clone();
            if let Some(inst) = self.inst(queued.key) {
                let node = graph.local(inst.body, queued.node);
                queued.prepared.task = super::super::task_id(&inst.name, &node.label);
            }
            if let Some(observer) = &self.options.observer {
                let prepared = &queued.prepared;
                let command = prepared.command.as_ref().map(|c| c.text.as_str());
                let command = command.or_else(|| prepared.config.get("cmd")?.as_str());
                let command = command.map(|c| self.secrets.redact(c));
                observer(&Event::Started {
                    id: prepared.task.clone(),
                    agent: &prepared.agent,
                    command: command.as_deref(),
                });
            }
            let token = self.token(queued.key);
            let (key, node) = (queued.key, queued.node);
            // What the task reports when it ends: its place, slots and reservation.
            let ended = move |done| Completion::Task {
                key,
                node,
                queue: q,
                taken,
                done: Box::new(done),
                hold,
            };
            if self.options.dry_run {
                let done = queued.prepared.stub(token, &self.services);
                self.join.spawn(async move { ended(done) });
                continue;
            }
            // A call that only waits gets a bare timer, not the call's future.
            if let Some(wait) = queued.prepared.wait_only() {
                let keyed = queued.prepared.keyed.take();
                drop(queued);
                self.join.spawn(async move {
                    ended(crate::runtime::task::wait(wait, token, keyed).await)
                });
                continue;
            }
            let services = self.services.clone();
            self.join.spawn(async move { ended(queued.prepared.run(token, services).await) });
        }
        self.resume_parked_maps();
    }

    /// Lets parked `map`s go on once fewer than [`MAP_BACKLOG`] tasks wait.
    pub(super) fn resume_parked_maps(&mut self) {
        if !self.parked_maps.is_empty() && self.queues.waiting() < MAP_BACKLOG {
            for id in std::mem::take(&mut self.parked_maps) {
                self.queue_more(id);
            }
        }
    }

    /// A queued task whose instance stopped: it never runs.
    pub(super) fn drop_queued(&mut self, queued: Queued) {
        let graph = self.graph.clone();
        if let Some(inst) = self.inst_mut(queued.key) {
            inst.active -= 1;
            inst.state[queued.node as usize] = NodeState::Skipped;
            inst.unfinished -= 1;
            let (first, name) = (graph.body(inst.body).first, inst.name.clone());
            self.record_skipped(
                &graph,
                first + queued.node,
                &name,
                "not started: the run was stopped",
            );
            self.maybe_finish(queued.key);
        }
    }

    /// Removes the queued tasks of stopped instances.
    pub(super) fn cancel_queued(&mut self) {
        let mut dropped = Vec::new();
        for q in 0..self.queues.queues.len() {
            let queue = std::mem::take(&mut self.queues.queues[q]);
            for queued in queue {
                if self.is_stopped(queued.key) {
                    dropped.push(queued);
                } else {
                    self.queues.queues[q].push(queued);
                }
            }
        }
        for queued in dropped {
            self.drop_queued(queued);
        }
    }

    pub(super) fn on_completion(&mut self, completion: Completion) {
        match completion {
            Completion::Task {
                key,
                node,
                queue,
                taken,
                mut done,
                hold,
            } => {
                self.settle(key, node, hold.as_deref(), &mut done);
                self.queues.running[queue] -= 1;
                self.queues.give_back(&taken);
                if let Some(inst) = self.inst_mut(key) {
                    inst.active -= 1;
                }
                self.task_done(key, node, *done);
                // What the task's end made ready is queued before the freed
                // slot is given: the item's next stage is first in line.
                self.drain();
                self.pump();
            }
            Completion::Backoff { construct } => self.next_attempt(construct),
            Completion::Deadline { construct, attempt } => self.deadline(construct, attempt),
            Completion::Stopped => {}
        }
    }

    /// Records a finished task and hands its value or failure to its instance.
    fn task_done(&mut self, key: Key, k: u32, done: Executed) {
        let graph = self.graph.clone();
        self.task_done_in(&graph, key, k, done);
    }

    /// A success no record is made of: the journal only counts it. Only
    /// this thread writes the count: a load and a store, no locked instruction.
    fn count_plain_success(&self) {
        if let Some(count) = &self.unkeyed {
            count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }

    /// [`Scheduler::task_done`], reading `graph`, the run's graph.
    fn task_done_in(&mut self, graph: &TaskGraph, key: Key, k: u32, done: Executed) {
        let Some(body) = self.inst(key).map(|i| i.body) else {
            return;
        };
        if let NodeKind::Task(task) = &graph.local(body, k).kind {
            if !task.tools().is_empty() {
                self.forget_tools(key, k);
            }
        }
        let costed = match &done.result {
            Ok(reply) => reply.usage.is_some(),
            Err(e) => e.usage.is_some(),
        };
        let wanted = self.wants_record(done.status, done.keyed.is_some(), costed);
        let Some(inst) = self.inst(key) else { return };
        let node = graph.local(inst.body, k);
        let NodeKind::Task(task) = &node.kind else {
            return;
        };
        let (output, mut failure, usage, logs, notes) = match done.result {
            Ok(reply) => (
                Some(crate::runtime::shared(reply.value)),
                None,
                reply.usage,
                reply.logs,
                reply.notes,
            ),
            Err(mut e) => {
                let (logs, usage) = (e.logs.take(), e.usage.take());
                (None, Some(e), usage, logs, Vec::new())
            }
        };
        let id = failure
            .is_some()
            .then(|| super::super::task_id(&inst.name, &node.label));
        if wanted {
            let mut record = TaskRecord::new(
                inst.name.clone(),
                node.label.clone(),
                graph.agent_name(task).clone(),
                done.status,
                node.span,
            );
            record.attempts = done.attempts;
            record.started_at = Some(done.started);
            record.ended_at = Some(done.ended);
            record.duration = Some(done.elapsed);
            record.output = output.clone();
            record.usage = usage;
            record.history = done.history;
            record.notes = notes;
            if let Some(failure) = failure.as_mut() {
                record.error = Some(failure.message.clone());
                record.notes = failure.notes.clone();
            }
            if let Some(keyed) = &done.keyed {
                record.key = Some(keyed.key.clone());
                record.logs = logs.map(|logs| Arc::new(*logs));
            }
            self.push_record(record, done.keyed.as_ref());
        } else {
            self.count_plain_success();
        }
        match (done.status, output) {
            (TaskStatus::Succeeded, Some(value)) => self.complete(key, k, value),
            (status, _) => {
                let error = failure.unwrap_or_default();
                let id = id.unwrap_or_default();
                let failure =
                    task_failure(&id, node, graph.agent_name(task), status, done.attempts, error);
                self.fail(key, k, failure);
            }
        }
    }
}

impl Scheduler {
    /// The rank of an instance made under `parent` (its tasks' place in
    /// line): for a `map` or `filter` item, the moment it was made (on the
    /// clock that numbers queued tasks); for anything else (a branch, an
    /// attempt, a sub-flow) its parent's. 0, outside any item: each task's
    /// place is then when it became ready. So the tasks of an item's later
    /// stages go where the item began: before what became ready after it.
    pub(super) fn rank_of(&mut self, parent: &Parent) -> u64 {
        let owner = match parent {
            Parent::Construct {
                role: Role::Item(_),
                ..
            } => {
                self.queues.seq += 1;
                return self.queues.seq;
            }
            Parent::Construct { id, .. } => self.constructs.owner(*id),
            Parent::Tool { id } => self.tools.owner(*id),
            Parent::Root => None,
        };
        owner.and_then(|k| self.inst(k)).map_or(0, |i| i.rank)
    }

    /// Under `--resume`: completes the task with the value an earlier run
    /// recorded for its key, if there is one (and its agent allows it).
    /// Under `--replay`: answers a remote agent's call from the recording,
    /// or fails it saying why there is none.
    fn reuse(&mut self, key: Key, k: u32, node: &Node, task: &Task, prepared: &Prepared) -> bool {
        let (Some(journal), Some(keyed)) = (&self.options.journal, &prepared.keyed) else {
            return false;
        };
        let replayed = keyed.request.as_ref().and_then(|_| journal.replay(keyed));
        let (status, found) = match replayed {
            Some(replayed) => (TaskStatus::Succeeded, replayed),
            None if keyed.reusable => match journal.reuse(&keyed.key) {
                Some(reused) => (TaskStatus::Cached, Ok(reused)),
                None => return false,
            },
            None => return false,
        };
        let Some(instance) = self.inst(key).map(|i| i.name.clone()) else {
            return false;
        };
        let mut record = TaskRecord::new(
            instance,
            node.label.clone(),
            self.graph.agent_name(task).clone(),
            status,
            node.span,
        );
        record.key = Some(keyed.key.clone());
        let keyed = keyed.clone();
        match found {
            Ok(reused) => {
                record.output = Some(reused.value.clone());
                record.reused_from = Some(reused.run);
                self.push_record(record, Some(&keyed));
                self.complete(key, k, reused.value);
            }
            Err(why) => {
                record.status = TaskStatus::Failed;
                record.error = Some(why.clone());
                self.push_record(record, Some(&keyed));
                let id = self.node_id(key, node);
                let error = crate::runtime::AgentError::new(why);
                let failure =
                    task_failure(&id, node, self.graph.agent_name(task), TaskStatus::Failed, 1, error);
                self.fail(key, k, failure);
            }
        }
        true
    }
}

/// The diagnostic of a failed task: the call, the agent, what went wrong, the attempts.
pub(super) fn task_failure(
    id: &str,
    node: &Node,
    agent: &str,
    status: TaskStatus,
    attempts: u32,
    error: crate::runtime::AgentError,
) -> Failure {
    let (code, message, help) = match status {
        TaskStatus::TimedOut => (
            Code::TaskTimedOut,
            format!("task `{id}` ({agent}) {}", error.message),
            Some(crate::runtime::task::timeout_help(attempts > 1)),
        ),
        TaskStatus::Cancelled => (
            Code::Cancelled,
            format!("task `{id}` ({agent}) was cancelled"),
            None,
        ),
        _ => (
            Code::TaskFailed,
            format!("task `{id}` ({agent}) failed: {}", error.message),
            None,
        ),
    };
    let mut diag =
        Diagnostic::error(code, message).at(node.span, format!("this call to `{agent}`"));
    if let Some(help) = help {
        diag = diag.help(help);
    }
    for note in &error.notes {
        diag = diag.note(note.clone());
    }
    if attempts > 1 {
        diag = diag.note(format!("gave up after {attempts} attempts"));
    }
    Failure {
        diag,
        task: id.to_string(),
        message: error.message,
        notes: error.notes,
        cancelled: status == TaskStatus::Cancelled,
        partial: None,
    }
}

/// The machine's memory (`MemTotal`), which tasks with a `mem` share; no
/// bound when it cannot be read.
fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(u64::MAX)
}
