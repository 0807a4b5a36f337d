//! Body instances: making one (its rank, its token), finding it by key,
//! stopping it, and finishing it (its value or failure going to its parent).

use super::*;

impl Scheduler {
    pub(super) fn inst(&self, key: Key) -> Option<&Instance> {
        self.instances
            .get(key.index as usize)
            .filter(|i| i.live && i.gen == key.gen)
    }

    pub(super) fn inst_mut(&mut self, key: Key) -> Option<&mut Instance> {
        self.instances
            .get_mut(key.index as usize)
            .filter(|i| i.live && i.gen == key.gen)
    }

    pub(super) fn instantiate(
        &mut self,
        body: BodyId,
        parent: Parent,
        name: Arc<str>,
        inputs: Vec<Val>,
        captures: Vec<Val>,
        handled: bool,
    ) -> Key {
        let rank = self.rank_of(&parent);
        let plan = &self.plans[body.0 as usize];
        let len = plan.waiting.len();
        // A count, not a list: the observer learns how many tasks became
        // known, which is what a progress display's total needs.
        if let (Some(observer), tasks @ 1..) = (&self.options.observer, plan.tasks) {
            observer(&Event::Planned { tasks });
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.instances.push(Instance {
                    gen: 0,
                    live: false,
                    body,
                    parent,
                    name: "".into(),
                    handled,
                    values: Vec::new(),
                    state: Vec::new(),
                    waiting: Vec::new(),
                    inputs: Vec::new(),
                    captures: Vec::new(),
                    unfinished: 0,
                    active: 0,
                    failure: None,
                    stopped: false,
                    token: None,
                    rank: 0,
                });
                self.instances.len() as u32 - 1
            }
        };
        let inst = &mut self.instances[index as usize];
        inst.gen = inst.gen.wrapping_add(1);
        inst.live = true;
        inst.body = body;
        inst.parent = parent;
        inst.name = name;
        inst.handled = handled;
        inst.values.clear();
        inst.values.resize(len, None);
        inst.state.clear();
        inst.state.resize(len, NodeState::Waiting);
        inst.waiting.clear();
        inst.waiting.extend_from_slice(&plan.waiting);
        inst.inputs = inputs;
        inst.captures = captures;
        inst.unfinished = len as u32;
        inst.active = 0;
        inst.failure = None;
        inst.stopped = false;
        inst.token = None;
        inst.rank = rank;
        let key = Key {
            index,
            gen: inst.gen,
        };
        if len == 0 {
            self.ready.push_back(Work::Finish(key));
        }
        for (k, &w) in plan.waiting.iter().enumerate() {
            if w == 0 {
                self.ready.push_back(Work::Node(key, k as u32));
            }
        }
        key
    }

    /// The instance's cancellation token, made on first use from its parent's
    /// (and theirs, up to the first instance that has one: a loop, as sub-flow
    /// calls nest thousands deep).
    pub(super) fn token(&mut self, key: Key) -> CancellationToken {
        let mut chain = Vec::new();
        let mut current = Some(key);
        let mut token = loop {
            let Some(at) = current else {
                break self.run_token.clone();
            };
            let Some(inst) = self.inst(at) else {
                break self.run_token.clone();
            };
            if let Some(token) = &inst.token {
                break token.clone();
            }
            chain.push(at);
            current = match inst.parent {
                Parent::Construct { id, .. } => self.constructs.owner(id),
                Parent::Tool { id } => self.tools.owner(id),
                Parent::Root => None,
            };
        };
        while let Some(at) = chain.pop() {
            token = token.child_token();
            if let Some(inst) = self.inst_mut(at) {
                inst.token = Some(token.clone());
            }
        }
        token
    }

    /// Whether no new node may start in this instance: it, an ancestor, or the run stopped.
    pub(super) fn is_stopped(&self, key: Key) -> bool {
        if self.halted {
            return true;
        }
        if self.stopped_live == 0 {
            // No instance is stopped: no need to walk up (thousands of
            // levels, for nested sub-flow calls).
            return self.inst(key).is_none();
        }
        let mut current = key;
        loop {
            let Some(inst) = self.inst(current) else {
                return true;
            };
            if inst.stopped {
                return true;
            }
            match inst.parent {
                Parent::Root => return false,
                Parent::Construct { id, .. } => match self.constructs.owner(id) {
                    Some(owner) => current = owner,
                    None => return true,
                },
                Parent::Tool { id } => match self.tools.owner(id) {
                    Some(owner) => current = owner,
                    None => return true,
                },
            }
        }
    }

    /// Stops an instance: nothing new starts in it, its running work is cancelled.
    pub(super) fn stop(&mut self, key: Key) {
        let Some(inst) = self.inst_mut(key) else {
            return;
        };
        if inst.stopped {
            return;
        }
        inst.stopped = true;
        self.stopped_live += 1;
        let token = self.token(key);
        token.cancel();
        self.cancel_queued();
        self.resume_parked_maps();
    }

    /// Stops everything: the first unhandled failure (without `--keep-going`) or an interrupt.
    pub(super) fn halt(&mut self) {
        if self.halted {
            return;
        }
        self.halted = true;
        self.run_token.cancel();
        self.cancel_queued();
        self.resume_parked_maps();
    }

    pub(super) fn interrupt(&mut self) {
        self.interrupted = true;
        self.halt();
    }

    /// Finishes the instance if nothing in it is left to do. An instance's end
    /// completes a node of its parent, which may end the parent too: past
    /// [`FINISH_NESTING`] such ends inside one another, the next waits at the
    /// front of the ready queue, so the stack does not grow with the depth of
    /// nested sub-flow calls.
    pub(super) fn maybe_finish(&mut self, key: Key) {
        let stopped = self.is_stopped(key);
        let Some(inst) = self.inst(key) else { return };
        if inst.active == 0 && (inst.unfinished == 0 || stopped) {
            if self.finishing >= FINISH_NESTING {
                self.ready.push_front(Work::Finish(key));
                return;
            }
            self.finishing += 1;
            self.finish(key);
            self.finishing -= 1;
        }
    }

    /// An instance is over: compute its value (or failure) and hand it up.
    pub(super) fn finish(&mut self, key: Key) {
        let graph = self.graph.clone();
        let partial = self.partial_result(key);
        let Some(inst) = self.inst(key) else { return };
        let body = graph.body(inst.body);
        let parent = inst.parent;
        let result = if let Some(failure) = inst.failure.as_deref().cloned() {
            Err(Failure { partial, ..failure })
        } else if inst.state.iter().any(|s| *s != NodeState::Done) {
            // Stopped before every node produced its value (a queued task was
            // dropped, or nodes never started): the body has no value.
            Err(cancelled_failure(&inst.name))
        } else {
            let frame = Frame {
                values: &inst.values,
                inputs: &inst.inputs,
                captures: &inst.captures,
                params: &self.params,
            };
            eval(&body.result, &frame).map_err(|e| failure_from(e.into_diagnostic(), &inst.name))
        };
        // Tasks that never started are recorded as skipped.
        if inst.unfinished > 0 {
            let name = inst.name.clone();
            let unstarted: Vec<u32> = (0..body.len)
                .filter(|&k| inst.state[k as usize] == NodeState::Waiting)
                .collect();
            let cause = inst.failure.as_ref().map_or_else(
                || "not started: the run was stopped".to_string(),
                |f| format!("not started: `{}` failed", f.task),
            );
            for k in unstarted {
                self.record_skipped(&graph, body.first + k, &name, &cause);
            }
        }
        let gate_extra = match parent {
            Parent::Construct {
                id,
                role: Role::Check(i),
            } => self.check_condition(id, i).and_then(|cond| {
                let inst = self.inst(key)?;
                inst.values.get(cond as usize)?.clone()
            }),
            _ => None,
        };
        if let Some(inst) = self.inst_mut(key) {
            inst.live = false;
            inst.values.clear();
            inst.inputs = Vec::new();
            inst.captures = Vec::new();
            inst.token = None;
            let stopped = inst.stopped;
            self.stopped_live -= u32::from(stopped);
            self.free.push(key.index);
        }
        match parent {
            Parent::Root => {
                if let Err(failure) = &result {
                    if self.errors.is_empty() && !failure.cancelled {
                        self.errors.push(failure.diag.clone());
                    }
                }
                self.result = Some(result);
            }
            Parent::Construct { id, role } => self.child_done(id, role, result, gate_extra),
            Parent::Tool { id } => self.tool_done(id, result),
        }
    }
}
