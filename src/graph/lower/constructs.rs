//! Lowering the constructs whose parts are bodies of their own: `if` chains
//! (an `else if` arm is an `if` inside the `else` body before it), gate
//! checks, `filter`, `repeat`, `match`, `reduce` and `fold`.

use std::sync::Arc;

use serde_json::Value;

use super::{constant, Lowerer};
use crate::ast;
use crate::graph::*;
use crate::source::Span;

impl<'a, 'i: 'a> Lowerer<'a, '_, 'i> {
    /// An `if` and its `else if` arms: each arm after the first is an `if`
    /// node inside the previous one's `else` body. Built in a loop, not by
    /// recursion, however long the chain.
    pub(super) fn if_arms(
        &mut self,
        arms: &'a [(ast::Expr, ast::Block)],
        otherwise: Option<&'a ast::Block>,
        label: Arc<str>,
        span: Span,
    ) -> Expr {
        // Each arm's condition and `then` body, in the body opened for it.
        let mut lowered = Vec::with_capacity(arms.len());
        for (i, (cond, then)) in arms.iter().enumerate() {
            if i > 0 {
                self.open(BodyKind::IfElse, &[], true);
            }
            let cond_span = cond.span;
            let cond = self.expr(cond, None);
            let then = self.body(BodyKind::IfThen, &[], then);
            lowered.push((cond, cond_span, then));
        }
        let mut otherwise = otherwise.map(|b| self.body(BodyKind::IfElse, &[], b));
        // Innermost first: each `if` node is the value of the `else` body around it.
        loop {
            let Some((cond, cond_span, then)) = lowered.pop() else {
                return constant(Value::Null);
            };
            let node = IfNode {
                cond,
                cond_span,
                then,
                otherwise,
            };
            let outermost = lowered.is_empty();
            let label = if outermost { label.clone() } else { "".into() };
            let value = self.push_construct(NodeKind::If(node), label, span);
            if outermost {
                return value;
            }
            otherwise = Some(self.close(value));
        }
    }

    pub(super) fn gate_check(&mut self, check: &'a ast::Check) -> GateCheck {
        self.open(BodyKind::GateCheck, &[], true);
        let value = self.expr(&check.value, Some(""));
        let k = self.as_node(value, "".into(), check.value.span);
        let mut cond_node = None;
        if let Some(cond) = &check.cond {
            self.bind(check.name.span, Ref::Node(k));
            let c = self.expr(cond, None);
            let label = self.label(Some("where"), "");
            cond_node = Some(match c {
                // `where b` reads the check's own value: a node of its own, so
                // the check keeps its name.
                Expr::Ref(Ref::Node(x)) if x == k => {
                    match self.push(NodeKind::Value(c), label, cond.span, &[]) {
                        Expr::Ref(Ref::Node(n)) => n,
                        _ => k,
                    }
                }
                c => self.as_node(c, label, cond.span),
            });
        }
        let body = self.close(Expr::Ref(Ref::Node(k)));
        GateCheck {
            name: check.name.name.as_str().into(),
            body,
            cond: cond_node,
            cond_span: check.cond.as_ref().map(|c| c.span),
        }
    }
}

impl<'a, 'i: 'a> Lowerer<'a, '_, 'i> {
    /// `map`, or `filter` (a `map` whose body gives each item's condition).
    pub(super) fn map(
        &mut self,
        map: &'a ast::Map,
        filter: bool,
        label: Option<&str>,
        span: Span,
    ) -> Expr {
        let list = self.expr(&map.list, None);
        let limit = map.limit.as_ref().map(|l| self.expr(l, None));
        let index = match &map.index {
            Some(i) => (i.name.as_str(), Some(i.span)),
            None => ("_index", None),
        };
        let item = (map.item.name.as_str(), Some(map.item.span));
        let body = self.body(BodyKind::MapItem, &[item, index], &map.body);
        let label = self.label(label, if filter { "filter" } else { "map" });
        let node = MapNode {
            list,
            limit,
            body,
            filter,
        };
        self.push_construct(NodeKind::Map(node), label, span)
    }

    /// `repeat`: its condition, its round and its `else` are bodies of their
    /// own, each with the state as input.
    pub(super) fn repeat(&mut self, r: &'a ast::Repeat, label: Option<&str>, span: Span) -> Expr {
        let init = self.expr(&r.init, None);
        let max = self.expr(&r.max, None);
        let state = [(r.state.name.as_str(), Some(r.state.span))];
        self.open(BodyKind::RepeatCond, &state, true);
        let cond = self.expr(&r.until, Some(""));
        let until = self.close(cond);
        let body = self.body(BodyKind::RepeatRound, &state, &r.body);
        let otherwise = r
            .otherwise
            .as_ref()
            .map(|b| self.body(BodyKind::RepeatElse, &state, b));
        let label = self.label(label, "repeat");
        let node = RepeatNode {
            init,
            max,
            until,
            until_span: r.until.span,
            body,
            otherwise,
        };
        self.push_construct(NodeKind::Repeat(Box::new(node)), label, span)
    }

    /// `match`: one body per arm up to the first `_` arm, which is the
    /// `otherwise` (the arms after it are never reached; `check` says so).
    pub(super) fn match_(&mut self, m: &'a ast::Match, label: Option<&str>, span: Span) -> Expr {
        let value = self.expr(&m.value, None);
        let mut arms = Vec::with_capacity(m.arms.len());
        let mut otherwise = None;
        for arm in &m.arms {
            self.open(BodyKind::MatchArm, &[], true);
            let result = self.expr(&arm.value, Some(""));
            let body = self.close(result);
            if arm.patterns.iter().any(|p| p.literal.is_none()) {
                otherwise = Some(body);
                break;
            }
            let patterns = arm
                .patterns
                .iter()
                .filter_map(|p| p.literal.as_ref()?.literal_value())
                .collect();
            arms.push(MatchArm { patterns, body });
        }
        let label = self.label(label, "match");
        let node = MatchNode {
            value,
            value_span: m.value.span,
            arms,
            otherwise,
        };
        self.push_construct(NodeKind::Match(Box::new(node)), label, span)
    }

    /// `reduce` and `fold`: one body, run once per merge or step.
    pub(super) fn reduce(&mut self, r: &'a ast::Reduce, label: Option<&str>, span: Span) -> Expr {
        let list = self.expr(&r.list, None);
        let init = r.init.as_ref().map(|e| self.expr(e, None));
        let limit = r.limit.as_ref().map(|e| self.expr(e, None));
        let inputs = [
            (r.acc.name.as_str(), Some(r.acc.span)),
            (r.item.name.as_str(), Some(r.item.span)),
        ];
        let body = self.body(BodyKind::ReduceStep, &inputs, &r.body);
        let label = self.label(label, r.keyword());
        let node = ReduceNode {
            list,
            init,
            limit,
            body,
        };
        self.push_construct(NodeKind::Reduce(Box::new(node)), label, span)
    }
}
