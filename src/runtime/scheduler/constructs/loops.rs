//! `repeat`, `match`, `reduce` and `fold`: constructs whose next child body
//! depends on what the last one gave.
//!
//! - `repeat` alternates its `until` body and a round, each given the state,
//!   until the condition holds or `max` rounds ran. Rounds are named
//!   `final@1`, `final@2`, … and conditions `final@0.until`, `final@1.until`.
//! - `match` runs the first arm whose pattern equals the value.
//! - `fold` runs one step per item, in order, named `total[0]`, `total[1]`, ….
//! - `reduce` merges in a balanced tree of fixed shape: items 0 and 1, 2 and
//!   3, …, then those results pairwise, and an odd one out moves up unmerged.
//!   A merge starts as soon as its two inputs exist, so merges of different
//!   levels overlap; the result does not depend on timing. A merge is named
//!   by the items it covers: `summary[0-1]`, `summary[0-3]`.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;

use super::*;

pub(in crate::runtime::scheduler) struct RepeatState {
    state: Val,
    rounds: u32,
    max: u32,
    until: BodyId,
    body: BodyId,
    otherwise: Option<BodyId>,
    until_span: crate::source::Span,
    handled: bool,
}

pub(in crate::runtime::scheduler) struct FoldState {
    acc: Val,
    items: Vec<Value>,
    next: usize,
    body: BodyId,
    captures: Vec<Val>,
    handled: bool,
}

pub(in crate::runtime::scheduler) struct TreeState {
    /// Slot `j` of level `l` covers items `j·2^l ..= min((j+1)·2^l, len) - 1`;
    /// a slot holds a value waiting for its sibling.
    levels: Vec<Vec<Option<Val>>>,
    len: usize,
    body: BodyId,
    captures: Vec<Val>,
    handled: bool,
    /// Merges waiting for the limit: the slot they fill, and their inputs.
    pending: VecDeque<(u32, u32, Val, Val)>,
    limit: usize,
    live: usize,
    failure: Option<Failure>,
}

impl Scheduler {
    pub(super) fn start_repeat(
        &mut self,
        key: Key,
        k: u32,
        name: Arc<str>,
        r: &crate::graph::RepeatNode,
    ) -> Result<Option<Val>, Diagnostic> {
        let state = self.eval_in(key, &r.init)?;
        let max = self.count(key, &r.max, "max", 1)?;
        let handled = self.inst(key).is_some_and(|i| i.handled);
        let kind = Kind::Repeat(Box::new(RepeatState {
            state,
            rounds: 0,
            max: u32::try_from(max).unwrap_or(u32::MAX),
            until: r.until,
            body: r.body,
            otherwise: r.otherwise,
            until_span: r.until_span,
            handled,
        }));
        let id = self.add(key, k, name, kind);
        self.repeat_next(id, Role::Cond);
        Ok(None)
    }

    /// Instantiates a `repeat`'s next child: its condition, a round or its `else`.
    fn repeat_next(&mut self, id: u32, role: Role) {
        let Some(owner) = self.go_on(id) else {
            return;
        };
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let Kind::Repeat(r) = &mut c.kind else {
            return;
        };
        let (body, name) = match role {
            Role::Cond => (r.until, format!("{}@{}.until", c.name, r.rounds)),
            Role::Round => {
                r.rounds += 1;
                (r.body, format!("{}@{}", c.name, r.rounds))
            }
            _ => match r.otherwise {
                Some(body) => (body, format!("{}.else", c.name)),
                None => return,
            },
        };
        let (state, handled) = (r.state.clone(), r.handled);
        let captures = self.captures_for(owner, body);
        let parent = Parent::Construct { id, role };
        let key = self.instantiate(body, parent, name.into(), vec![state], captures, handled);
        self.maybe_finish(key);
    }

    /// A `repeat`'s condition, round or `else` finished.
    pub(super) fn repeat_child(&mut self, id: u32, role: Role, result: Result<Val, Failure>) {
        let value = match result {
            Ok(v) => v,
            Err(f) => return self.construct_done(id, Err(f)),
        };
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let Kind::Repeat(r) = &mut c.kind else {
            return;
        };
        match role {
            Role::Round => {
                r.state = value;
                self.repeat_next(id, Role::Cond);
            }
            Role::Cond => match crate::value::truthy_bool(&value) {
                Ok(true) => {
                    let state = r.state.clone();
                    self.construct_done(id, Ok(state))
                }
                Ok(false) if r.rounds < r.max => self.repeat_next(id, Role::Round),
                Ok(false) if r.otherwise.is_some() => self.repeat_next(id, Role::Finally),
                Ok(false) => {
                    let (rounds, name) = (r.rounds, c.name.clone());
                    let last = crate::value::preview(&r.state, 80);
                    let span = self.construct_span(id);
                    let message = format!(
                        "`{name}` did not converge after {rounds} round{}",
                        if rounds == 1 { "" } else { "s" }
                    );
                    let diag = Diagnostic::error(Code::DidNotConverge, message)
                        .at(span, "this repeat")
                        .note(format!("the last value: {last}"))
                        .help("raise `max`, or add `else { … }` to use the last value");
                    self.construct_done(id, Err(failure_from(diag, &name)))
                }
                Err(e) => {
                    let name = c.name.clone();
                    let diag = e.to_diagnostic().at(r.until_span, "this condition");
                    self.construct_done(id, Err(failure_from(diag, &name)))
                }
            },
            _ => self.construct_done(id, Ok(value)),
        }
    }

    /// Before a loop starts its next child: its owner, or `None` when the
    /// loop is over (gone, or cancelled now because its owner stopped).
    fn go_on(&mut self, id: u32) -> Option<Key> {
        let owner = self.constructs.owner(id)?;
        if self.is_stopped(owner) {
            let name = self.constructs.get(id).map(|c| c.name.clone());
            let failure = cancelled_failure(name.as_deref().unwrap_or(""));
            self.construct_done(id, Err(failure));
            return None;
        }
        Some(owner)
    }

    /// Where a construct's node is written.
    fn construct_span(&self, id: u32) -> crate::source::Span {
        let Some(c) = self.constructs.slots.get(id as usize).and_then(Option::as_ref) else {
            return Default::default();
        };
        match self.inst(c.owner) {
            Some(inst) => self.graph.local(inst.body, c.node).span,
            None => Default::default(),
        }
    }

    /// A `match`: the first arm with a pattern equal to the value, else `_`.
    pub(super) fn start_match(
        &mut self,
        key: Key,
        k: u32,
        name: Arc<str>,
        m: &crate::graph::MatchNode,
    ) -> Result<Option<Val>, Diagnostic> {
        let value = self.eval_in(key, &m.value)?;
        let arm = m
            .arms
            .iter()
            .find(|arm| arm.patterns.iter().any(|p| crate::value::equal(p, &value)))
            .map(|arm| arm.body)
            .or(m.otherwise);
        let Some(body) = arm else {
            let mut patterns: Vec<String> = Vec::new();
            for p in m.arms.iter().flat_map(|a| a.patterns.iter().map(Value::to_string)) {
                if !patterns.contains(&p) {
                    patterns.push(p);
                }
            }
            return Err(Diagnostic::error(
                Code::NoMatch,
                format!(
                    "no arm of this `match` takes {}",
                    crate::value::preview(&value, 60)
                ),
            )
            .at(m.value_span, "this value")
            .note(format!("the patterns: {}", patterns.join(", ")))
            .help("add a last arm `_ => …` for every other value"));
        };
        let handled = self.inst(key).is_some_and(|i| i.handled);
        let captures = self.captures_for(key, body);
        let cid = self.add(key, k, name.clone(), Kind::Branch);
        let parent = Parent::Construct {
            id: cid,
            role: Role::Branch,
        };
        let child = self.instantiate(body, parent, name, Vec::new(), captures, handled);
        self.maybe_finish(child);
        Ok(None)
    }

    /// `reduce` or `fold` over a list.
    pub(super) fn start_reduce(
        &mut self,
        key: Key,
        k: u32,
        name: Arc<str>,
        r: &crate::graph::ReduceNode,
    ) -> Result<Option<Val>, Diagnostic> {
        let word = if r.init.is_some() { "fold" } else { "reduce" };
        let list = self.eval_in(key, &r.list)?;
        let items = match Arc::try_unwrap(list).unwrap_or_else(|shared| (*shared).clone()) {
            Value::Array(items) => items,
            other => {
                return Err(Diagnostic::error(
                    Code::TypeError,
                    format!("`{word}` needs a list, got {}", crate::value::describe(&other)),
                ))
            }
        };
        let handled = self.inst(key).is_some_and(|i| i.handled);
        let captures = self.captures_for(key, r.body);
        if let Some(init) = &r.init {
            let acc = self.eval_in(key, init)?;
            if items.is_empty() {
                return Ok(Some(acc));
            }
            let kind = Kind::Fold(Box::new(FoldState {
                acc,
                items,
                next: 0,
                body: r.body,
                captures,
                handled,
            }));
            let id = self.add(key, k, name, kind);
            self.fold_next(id);
            return Ok(None);
        }
        let limit = match &r.limit {
            Some(e) => usize::try_from(self.count(key, e, "limit", 1)?).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let len = items.len();
        let mut items = items.into_iter();
        match len {
            0 => {
                return Err(Diagnostic::error(
                    Code::EmptyReduce,
                    "`reduce` got an empty list: there is nothing to merge",
                )
                .help("check the list first, or use `fold (acc, x) in list from INIT { … }`"))
            }
            1 => return Ok(items.next().map(Arc::new)),
            _ => {}
        }
        let mut levels = Vec::new();
        let mut width = len;
        while width > 1 {
            levels.push(vec![None; width]);
            width = width.div_ceil(2);
        }
        let kind = Kind::Tree(Box::new(TreeState {
            levels,
            len,
            body: r.body,
            captures,
            handled,
            pending: VecDeque::new(),
            limit,
            live: 0,
            failure: None,
        }));
        let id = self.add(key, k, name, kind);
        for (j, item) in items.enumerate() {
            self.tree_put(id, 0, j as u32, Arc::new(item));
        }
        self.tree_pump(id);
        Ok(None)
    }

    /// Starts a `fold`'s next step.
    fn fold_next(&mut self, id: u32) {
        if self.go_on(id).is_none() {
            return;
        }
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let Kind::Fold(f) = &mut c.kind else {
            return;
        };
        let index = f.next;
        f.next += 1;
        let item = Arc::new(std::mem::take(&mut f.items[index]));
        let inputs = vec![f.acc.clone(), item];
        let (body, captures, handled) = (f.body, f.captures.clone(), f.handled);
        let name: Arc<str> = format!("{}[{index}]", c.name).into();
        let parent = Parent::Construct {
            id,
            role: Role::Step(0, index as u32),
        };
        let key = self.instantiate(body, parent, name, inputs, captures, handled);
        self.maybe_finish(key);
    }

    /// A step of a `fold` or a merge of a `reduce` finished.
    pub(super) fn step_done(&mut self, id: u32, role: Role, result: Result<Val, Failure>) {
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        match &mut c.kind {
            Kind::Fold(f) => match result {
                Ok(acc) if f.next < f.items.len() => {
                    f.acc = acc;
                    self.fold_next(id);
                }
                other => self.construct_done(id, other),
            },
            Kind::Tree(t) => {
                t.live -= 1;
                let Role::Step(level, j) = role else {
                    return;
                };
                match result {
                    Ok(v) if t.failure.is_none() => self.tree_put(id, level, j, v),
                    Ok(_) => {}
                    Err(f) => {
                        if t.failure.as_ref().is_none_or(|old| old.cancelled && !f.cancelled) {
                            t.failure = Some(f);
                        }
                        t.pending.clear();
                        if let Some(owner) = self.constructs.owner(id) {
                            self.stop(owner);
                        }
                    }
                }
                self.tree_pump(id);
            }
            _ => {}
        }
    }

    /// Puts a value in its slot: it moves up while it has no sibling, and a
    /// merge is queued once both siblings are there. The top slot ends the reduce.
    fn tree_put(&mut self, id: u32, mut level: u32, mut j: u32, value: Val) {
        let Some(c) = self.constructs.get(id) else {
            return;
        };
        let Kind::Tree(t) = &mut c.kind else {
            return;
        };
        loop {
            let Some(slots) = t.levels.get_mut(level as usize) else {
                return self.construct_done(id, Ok(value));
            };
            let sibling = (j ^ 1) as usize;
            if sibling >= slots.len() {
                // The odd one out: it moves up unmerged.
                level += 1;
                j /= 2;
                continue;
            }
            match slots[sibling].take() {
                None => slots[j as usize] = Some(value),
                Some(other) => {
                    let (left, right) = if j.is_multiple_of(2) {
                        (value, other)
                    } else {
                        (other, value)
                    };
                    t.pending.push_back((level + 1, j / 2, left, right));
                }
            }
            return;
        }
    }

    /// Starts queued merges while the limit allows; ends a failed reduce once
    /// its running merges are over.
    fn tree_pump(&mut self, id: u32) {
        let Some(owner) = self.constructs.owner(id) else {
            return;
        };
        let stopped = self.is_stopped(owner);
        loop {
            let Some(c) = self.constructs.get(id) else {
                return;
            };
            let Kind::Tree(t) = &mut c.kind else {
                return;
            };
            if t.failure.is_some() || stopped {
                if t.live == 0 {
                    let failure = t
                        .failure
                        .take()
                        .unwrap_or_else(|| cancelled_failure(&c.name));
                    self.construct_done(id, Err(failure));
                }
                return;
            }
            if t.live >= t.limit {
                return;
            }
            let Some((level, j, left, right)) = t.pending.pop_front() else {
                return;
            };
            t.live += 1;
            let first = (j as usize) << level;
            let last = (first + (1 << level)).min(t.len) - 1;
            let name: Arc<str> = format!("{}[{first}-{last}]", c.name).into();
            let (body, captures, handled) = (t.body, t.captures.clone(), t.handled);
            let parent = Parent::Construct {
                id,
                role: Role::Step(level, j),
            };
            let key = self.instantiate(body, parent, name, vec![left, right], captures, handled);
            self.maybe_finish(key);
        }
    }
}
