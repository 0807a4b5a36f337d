//! Constructs that instantiate bodies: `map`, `if`, `try`, `gate` and sub-flow
//! calls. Each lives in a slab while its child instances run.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::AbortHandle;

use super::*;

mod gate;
mod loops;

/// A finished gate check: its value or failure, and its `where` condition's value.
type CheckOutcome = (Result<Val, Failure>, Option<Val>);

pub(super) struct Construct {
    owner: Key,
    node: u32,
    /// The construct node's id (`raw`), prefix of its instances' names.
    name: Arc<str>,
    kind: Kind,
}

enum Kind {
    Map {
        items: Vec<Value>,
        body: BodyId,
        captures: Vec<Val>,
        next: usize,
        /// A `Work::MapMore` for this map is in the ready queue.
        queued: bool,
        limit: usize,
        live: usize,
        remaining: usize,
        results: Vec<Option<Val>>,
        failure: Option<Failure>,
        /// A `filter`'s items, kept to return those whose condition holds.
        kept: Option<Vec<Option<Val>>>,
    },
    Branch,
    /// A try, or a sub-flow call (which may carry `timeout` and `retry`).
    Attempts {
        body: BodyId,
        inputs: Vec<Val>,
        captures: Vec<Val>,
        attempt: u32,
        retries: u32,
        backoff: Duration,
        timeout: Option<Duration>,
        otherwise: Option<BodyId>,
        handled: bool,
        current: Option<Key>,
        timer: Option<AbortHandle>,
        timed_out: bool,
        last: Option<Failure>,
    },
    Gate {
        results: Vec<Option<CheckOutcome>>,
        remaining: usize,
    },
    Repeat(Box<loops::RepeatState>),
    Fold(Box<loops::FoldState>),
    Tree(Box<loops::TreeState>),
}

#[derive(Default)]
pub(super) struct Constructs {
    slots: Vec<Option<Construct>>,
    free: Vec<u32>,
}

impl Constructs {
    fn insert(&mut self, c: Construct) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(c);
                id
            }
            None => {
                self.slots.push(Some(c));
                self.slots.len() as u32 - 1
            }
        }
    }

    fn get(&mut self, id: u32) -> Option<&mut Construct> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    fn remove(&mut self, id: u32) -> Option<Construct> {
        let c = self.slots.get_mut(id as usize)?.take();
        if c.is_some() {
            self.free.push(id);
        }
        c
    }

    pub(super) fn owner(&self, id: u32) -> Option<Key> {
        self.slots.get(id as usize)?.as_ref().map(|c| c.owner)
    }
}

impl Scheduler {
    /// For a gate check instance: the local index of its `where` node.
    pub(super) fn check_condition(&self, id: u32, check: usize) -> Option<u32> {
        let c = self.constructs.slots.get(id as usize)?.as_ref()?;
        let owner = self.inst(c.owner)?;
        match &self.graph.local(owner.body, c.node).kind {
            NodeKind::Gate(g) => g.checks.get(check)?.cond,
            _ => None,
        }
    }

    /// The values a child body captures, read from the owner instance.
    fn captures_for(&self, key: Key, body: BodyId) -> Vec<Val> {
        let graph = &self.graph;
        let Some(inst) = self.inst(key) else {
            return Vec::new();
        };
        let frame = Self::frame_of(inst, &self.params);
        graph
            .body(body)
            .captures
            .iter()
            .map(|c| eval(&Expr::Ref(c.from), &frame).unwrap_or_else(|_| Arc::new(Value::Null)))
            .collect()
    }

    pub(super) fn start_construct(&mut self, key: Key, k: u32, node: &Node) {
        let id = self.node_id(key, node);
        let name: Arc<str> = id.as_str().into();
        let handled = self.inst(key).is_some_and(|i| i.handled);
        let result = match &node.kind {
            NodeKind::Map(m) => self.start_map(key, k, name.clone(), m),
            NodeKind::If(i) => self.eval_in(key, &i.cond).and_then(|cond| {
                let taken = crate::value::truthy_bool(&cond)
                    .map_err(|e| e.to_diagnostic().at(i.cond_span, "this condition"))?;
                let branch = if taken { Some(i.then) } else { i.otherwise };
                let Some(body) = branch else {
                    return Ok(Some(Arc::new(Value::Null)));
                };
                let captures = self.captures_for(key, body);
                let cid = self.add(key, k, name.clone(), Kind::Branch);
                let parent = Parent::Construct {
                    id: cid,
                    role: Role::Branch,
                };
                self.instantiate(body, parent, name.clone(), Vec::new(), captures, handled);
                Ok(None)
            }),
            NodeKind::Try(t) => (|| {
                let (_, retries, backoff) =
                    self.modifiers(key, None, t.retry.as_ref(), t.backoff.as_ref())?;
                let kind = self.attempts(
                    key,
                    t.body,
                    Vec::new(),
                    retries,
                    backoff,
                    None,
                    t.otherwise,
                    true,
                );
                let cid = self.add(key, k, name.clone(), kind);
                self.next_attempt(cid);
                Ok(None)
            })(),
            NodeKind::Gate(g) => {
                let kind = Kind::Gate {
                    results: vec![None; g.checks.len()],
                    remaining: g.checks.len(),
                };
                let cid = self.add(key, k, name.clone(), kind);
                for (i, check) in g.checks.iter().enumerate() {
                    let captures = self.captures_for(key, check.body);
                    let parent = Parent::Construct {
                        id: cid,
                        role: Role::Check(i),
                    };
                    let check_name = format!("{}.{}", name, check.name);
                    self.instantiate(
                        check.body,
                        parent,
                        check_name.into(),
                        Vec::new(),
                        captures,
                        true,
                    );
                }
                if g.checks.is_empty() {
                    self.gate_done(cid);
                }
                Ok(None)
            }
            NodeKind::Call(call) => (|| {
                let mut inputs = Vec::with_capacity(call.args.len());
                for arg in &call.args {
                    inputs.push(self.eval_in(key, arg)?);
                }
                let (timeout, retries, backoff) = self.call_modifiers(key, &call.modifiers)?;
                let body = self.graph.flows[call.flow as usize].body;
                let handled = handled || retries > 0;
                let kind =
                    self.attempts(key, body, inputs, retries, backoff, timeout, None, handled);
                let cid = self.add(key, k, name.clone(), kind);
                self.next_attempt(cid);
                Ok(None)
            })(),
            NodeKind::Repeat(r) => self.start_repeat(key, k, name.clone(), r),
            NodeKind::Match(m) => self.start_match(key, k, name.clone(), m),
            NodeKind::Reduce(r) => self.start_reduce(key, k, name.clone(), r),
            NodeKind::Value(_) | NodeKind::Task(_) => Ok(None),
        };
        match result {
            Ok(Some(value)) => self.complete(key, k, value),
            Ok(None) => {}
            // A bad `limit`, `retry`, `backoff` or `timeout` value: point at the construct.
            Err(diag) => {
                let diag = diag.or_at(node.span, "with this value");
                self.fail(key, k, failure_from(diag, &id))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attempts(
        &self,
        key: Key,
        body: BodyId,
        inputs: Vec<Val>,
        retries: u32,
        backoff: Duration,
        timeout: Option<Duration>,
        otherwise: Option<BodyId>,
        handled: bool,
    ) -> Kind {
        Kind::Attempts {
            captures: self.captures_for(key, body),
            body,
            inputs,
            attempt: 0,
            retries,
            backoff,
            timeout,
            otherwise,
            handled,
            current: None,
            timer: None,
            timed_out: false,
            last: None,
        }
    }

    /// Registers a construct in progress; its owner counts it as active work.
    fn add(&mut self, owner: Key, node: u32, name: Arc<str>, kind: Kind) -> u32 {
        if let Some(inst) = self.inst_mut(owner) {
            inst.active += 1;
        }
        self.constructs.insert(Construct {
            owner,
            node,
            name,
            kind,
        })
    }

    /// A construct is over: its node completes or fails in the owner.
    fn construct_done(&mut self, id: u32, result: Result<Val, Failure>) {
        let Some(c) = self.constructs.remove(id) else {
            return;
        };
        if let Kind::Attempts {
            timer: Some(timer), ..
        } = &c.kind
        {
            timer.abort();
        }
        if let Some(inst) = self.inst_mut(c.owner) {
            inst.active -= 1;
        }
        match result {
            Ok(v) => self.complete(c.owner, c.node, v),
            Err(f) => self.fail(c.owner, c.node, f),
        }
    }

    fn start_map(
        &mut self,
        key: Key,
        k: u32,
        name: Arc<str>,
        m: &crate::graph::MapNode,
    ) -> Result<Option<Val>, Diagnostic> {
        let list = self.eval_in(key, &m.list)?;
        let list = Arc::try_unwrap(list).unwrap_or_else(|shared| (*shared).clone());
        let items = match list {
            Value::Array(items) => items,
            other => {
                let node = self
                    .graph
                    .local(self.inst(key).map_or(BodyId(0), |i| i.body), k);
                return Err(Diagnostic::error(
                    Code::TypeError,
                    format!("`map` needs a list, got {}", crate::value::describe(&other)),
                )
                .at(node.span, "this map"));
            }
        };
        let limit = match &m.limit {
            Some(e) => usize::try_from(self.count(key, e, "limit", 1)?).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        if items.is_empty() {
            return Ok(Some(Arc::new(Value::Array(Vec::new()))));
        }
        let captures = self.captures_for(key, m.body);
        let len = items.len();
        let kind = Kind::Map {
            items,
            body: m.body,
            captures,
            next: 0,
            queued: false,
            limit,
            live: 0,
            remaining: len,
            results: vec![None; len],
            failure: None,
            kept: m.filter.then(|| vec![None; len]),
        };
        let cid = self.add(key, k, name, kind);
        self.queue_more(cid);
        Ok(None)
    }

    /// Instantiates the next item of a map if its limit allows, one per call so
    /// that instant items finish before the next begins.
    pub(super) fn map_more(&mut self, id: u32) {
        let keep_going = self.options.keep_going;
        let Some(owner) = self.constructs.owner(id) else {
            return;
        };
        let stopped = self.is_stopped(owner);
        let handled = self.inst(owner).is_some_and(|i| i.handled);
        let backlog = self.queues.waiting() >= super::limits::MAP_BACKLOG;
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let Kind::Map {
            items,
            body,
            captures,
            next,
            queued,
            limit,
            live,
            failure,
            kept,
            ..
        } = &mut c.kind
        else {
            return;
        };
        *queued = false;
        let blocked = stopped || (failure.is_some() && !keep_going);
        if blocked {
            if *live == 0 {
                let failure = failure
                    .clone()
                    .unwrap_or_else(|| cancelled_failure(&c.name));
                self.construct_done(id, Err(failure));
            }
            return;
        }
        if *next >= items.len() || *live >= *limit {
            return;
        }
        if backlog {
            if !self.parked_maps.contains(&id) {
                self.parked_maps.push(id);
            }
            return;
        }
        let index = *next;
        *next += 1;
        *live += 1;
        let item = Arc::new(std::mem::take(&mut items[index]));
        if let Some(kept) = kept {
            kept[index] = Some(item.clone());
        }
        let (body, captures) = (*body, captures.clone());
        let more = *next < items.len() && *live < *limit;
        let name: Arc<str> = format!("{}[{index}]", c.name).into();
        let parent = Parent::Construct {
            id,
            role: Role::Item(index),
        };
        let inputs = vec![item, Arc::new(Value::from(index))];
        let key = self.instantiate(body, parent, name, inputs, captures, handled);
        if more {
            self.queue_more(id);
        }
        self.maybe_finish(key);
    }

    /// Puts one `MapMore` for this map in the ready queue, unless one is there.
    pub(super) fn queue_more(&mut self, id: u32) {
        if let Some(Construct {
            kind: Kind::Map { queued, .. },
            ..
        }) = self.constructs.get(id)
        {
            if !*queued {
                *queued = true;
                self.ready.push_back(Work::MapMore(id));
            }
        }
    }

    /// Starts the next attempt of a try or sub-flow call (after its backoff).
    pub(super) fn next_attempt(&mut self, id: u32) {
        let Some(owner) = self.constructs.owner(id) else {
            return;
        };
        if self.is_stopped(owner) {
            let last = match self.constructs.get(id).map(|c| &c.kind) {
                Some(Kind::Attempts { last: Some(f), .. }) => f.clone(),
                _ => cancelled_failure(""),
            };
            return self.construct_done(id, Err(last));
        }
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let Kind::Attempts {
            body,
            inputs,
            captures,
            attempt,
            timeout,
            handled,
            ..
        } = &mut c.kind
        else {
            return;
        };
        *attempt += 1;
        let (body, inputs, captures, n, timeout, handled) = (
            *body,
            inputs.clone(),
            captures.clone(),
            *attempt,
            *timeout,
            *handled,
        );
        // Retries are told apart in task ids: `fetch`, then `fetch@2`, `fetch@3`
        // (`#2` is the second unnamed call of an agent in a body).
        let name: Arc<str> = if n == 1 {
            c.name.clone()
        } else {
            format!("{}@{n}", c.name).into()
        };
        let parent = Parent::Construct {
            id,
            role: Role::Attempt,
        };
        let key = self.instantiate(body, parent, name, inputs, captures, handled);
        let stop = self.token(owner);
        let timer = timeout.map(|t| {
            self.join.spawn(async move {
                // A stopped run must not wait for the clock (see `attempt_failed`).
                tokio::select! {
                    () = tokio::time::sleep(t) => Completion::Deadline {
                        construct: id,
                        attempt: key,
                    },
                    () = stop.cancelled() => Completion::Stopped,
                }
            })
        });
        if let Some(Kind::Attempts {
            current,
            timer: slot,
            timed_out,
            ..
        }) = self.constructs.get(id).map(|c| &mut c.kind)
        {
            *current = Some(key);
            *timed_out = false;
            if let Some(old) = std::mem::replace(slot, timer) {
                old.abort();
            }
        }
        self.maybe_finish(key);
    }

    /// A sub-flow call ran out of time: stop its current attempt.
    pub(super) fn deadline(&mut self, id: u32, attempt: Key) {
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let Kind::Attempts {
            current, timed_out, ..
        } = &mut c.kind
        else {
            return;
        };
        if *current != Some(attempt) {
            return;
        }
        *timed_out = true;
        if let Some(key) = *current {
            self.stop(key);
            self.maybe_finish(key);
        }
    }

    /// A child instance of a construct finished.
    pub(super) fn child_done(
        &mut self,
        id: u32,
        role: Role,
        result: Result<Val, Failure>,
        cond: Option<Val>,
    ) {
        match role {
            Role::Cond | Role::Round | Role::Finally => return self.repeat_child(id, role, result),
            Role::Step(..) => return self.step_done(id, role, result),
            _ => {}
        }
        let keep_going = self.options.keep_going;
        let Some(owner) = self.constructs.owner(id) else {
            return;
        };
        let owner_handled = self.inst(owner).is_some_and(|i| i.handled);
        let owner_body = self.inst(owner).map(|i| i.body);
        let graph = self.graph.clone();
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        match (&mut c.kind, role) {
            (
                Kind::Map {
                    live,
                    remaining,
                    results,
                    failure,
                    kept,
                    ..
                },
                Role::Item(i),
            ) => {
                *live -= 1;
                *remaining -= 1;
                // `--keep-going`: the list keeps every item, failed ones as error values.
                let keep_values = keep_going && !owner_handled;
                let mut stop_owner = false;
                match result {
                    Ok(v) => results[i] = Some(v),
                    Err(mut f) => {
                        if keep_values {
                            results[i] = Some(f.take_place_value());
                        }
                        if failure
                            .as_ref()
                            .is_none_or(|old| old.cancelled && !f.cancelled)
                        {
                            *failure = Some(f);
                        }
                        stop_owner = !keep_values;
                    }
                }
                if *remaining == 0 {
                    if let (Some(kept), None) = (kept.as_mut(), failure.as_ref()) {
                        let name = c.name.clone();
                        let span = owner_body.map(|b| graph.local(b, c.node).span);
                        let kept = std::mem::take(kept);
                        let conditions = std::mem::take(results);
                        let list = filtered(&name, kept, conditions, span);
                        return self.construct_done(id, list);
                    }
                    let mut list = || {
                        let list = std::mem::take(results)
                            .into_iter()
                            .map(|v| {
                                v.map(|v| Arc::try_unwrap(v).unwrap_or_else(|v| (*v).clone()))
                                    .unwrap_or(Value::Null)
                            })
                            .collect();
                        Arc::new(Value::Array(list))
                    };
                    let result = match failure.take() {
                        Some(f) if keep_values => Err(Failure {
                            partial: Some(list()),
                            ..f
                        }),
                        Some(f) => Err(f),
                        None => Ok(list()),
                    };
                    return self.construct_done(id, result);
                }
                if stop_owner {
                    self.stop(owner);
                }
                self.queue_more(id);
            }
            (Kind::Branch, _) => self.construct_done(id, result),
            (Kind::Attempts { .. }, Role::Else) => self.construct_done(id, result),
            (
                Kind::Attempts {
                    current,
                    timed_out,
                    timeout,
                    timer,
                    retries,
                    ..
                },
                Role::Attempt,
            ) => {
                *current = None;
                if let Some(t) = timer.take() {
                    t.abort();
                }
                let mut failure = match result {
                    Ok(v) => return self.construct_done(id, Ok(v)),
                    Err(f) => f,
                };
                if *timed_out {
                    let limit = timeout
                        .map(crate::runtime::task::duration_text)
                        .unwrap_or_default();
                    let message = format!("`{}` timed out after {limit}", c.name);
                    let mut diag = Diagnostic::error(Code::TaskTimedOut, message.clone())
                        .help(crate::runtime::task::timeout_help(*retries > 0));
                    if let Some(body) = owner_body {
                        diag = diag.at(graph.local(body, c.node).span, "this call");
                    }
                    failure = Failure {
                        diag,
                        task: c.name.to_string(),
                        message,
                        notes: Vec::new(),
                        cancelled: false,
                        partial: None,
                    };
                }
                self.attempt_failed(id, owner, owner_handled, failure);
            }
            (Kind::Gate { results, remaining }, Role::Check(i)) => {
                results[i] = Some((result, cond));
                *remaining -= 1;
                if *remaining == 0 {
                    self.gate_done(id);
                }
            }
            _ => {}
        }
    }

    /// An attempt failed: retry after the backoff, else run the `else`, else fail.
    fn attempt_failed(&mut self, id: u32, owner: Key, owner_handled: bool, mut failure: Failure) {
        // Pure work stopped by the run's cancellation: nothing to retry or recover.
        if failure.diag.code == Code::Cancelled && self.cancelled_now() {
            failure.cancelled = true;
        }
        let owner_stopped = self.is_stopped(owner);
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let Kind::Attempts {
            attempt,
            retries,
            backoff,
            otherwise,
            last,
            ..
        } = &mut c.kind
        else {
            return;
        };
        if failure.cancelled || owner_stopped {
            return self.construct_done(id, Err(failure));
        }
        if *attempt <= *retries {
            let wait = crate::runtime::task::backoff_delay(*backoff, *attempt);
            *last = Some(failure);
            if wait.is_zero() {
                self.next_attempt(id);
            } else {
                // Cut short when the run or the owner stops (Ctrl-C, a failure
                // elsewhere): `next_attempt` then gives up with the last failure.
                let stop = self.token(owner);
                self.join.spawn(async move {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => {}
                    }
                    Completion::Backoff { construct: id }
                });
            }
            return;
        }
        if *attempt > 1 {
            failure.diag = failure
                .diag
                .note(format!("gave up after {attempt} attempts"));
        }
        let (otherwise, name) = (*otherwise, c.name.clone());
        match otherwise {
            Some(body) => {
                let name: Arc<str> = format!("{name}.else").into();
                let error = Arc::new(failure.error_value());
                let captures = self.captures_for(owner, body);
                let parent = Parent::Construct {
                    id,
                    role: Role::Else,
                };
                let key =
                    self.instantiate(body, parent, name, vec![error], captures, owner_handled);
                self.maybe_finish(key);
            }
            None => self.construct_done(id, Err(failure)),
        }
    }
}

/// A `filter`'s list: the items whose condition is true, in order.
fn filtered(
    name: &str,
    items: Vec<Option<Val>>,
    conditions: Vec<Option<Val>>,
    span: Option<crate::source::Span>,
) -> Result<Val, Failure> {
    let mut list = Vec::new();
    for (i, (item, cond)) in items.into_iter().zip(conditions).enumerate() {
        let cond = cond.unwrap_or_else(|| Arc::new(Value::Null));
        match crate::value::truthy_bool(&cond) {
            Ok(true) => {
                let item = item.unwrap_or_else(|| Arc::new(Value::Null));
                list.push(Arc::try_unwrap(item).unwrap_or_else(|v| (*v).clone()));
            }
            Ok(false) => {}
            Err(e) => {
                let mut diag = e.to_diagnostic();
                if let Some(span) = span {
                    diag = diag.at(span, "this filter");
                }
                let diag = diag
                    .note(format!("the condition of item {i} of `{name}` gave {}", crate::value::preview(&cond, 60)))
                    .help("a `filter` body must give true or false for each item");
                return Err(failure_from(diag, &format!("{name}[{i}]")));
            }
        }
    }
    Ok(Arc::new(Value::Array(list)))
}
