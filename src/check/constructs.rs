//! Checks of `repeat`, `match`, `reduce` and `fold`: literal counts, and the
//! arms of a `match` (unreachable ones, and whether a value can match none).

use serde_json::Value;

use crate::ast::{Match, Reduce, Repeat};
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

use super::shapes::Shape;
use super::Checker;

impl<'a> Checker<'_, 'a> {
    pub(super) fn repeat(&mut self, r: &'a Repeat) {
        self.expr(&r.init);
        self.expr(&r.until);
        self.expr(&r.max);
        self.at_least_one(
            &r.max,
            "a `repeat` max",
            "would never run a round",
            "write the most rounds the loop may run, e.g. `max 5`",
        );
        self.block(&r.body);
        if let Some(block) = &r.otherwise {
            self.block(block);
        }
    }

    pub(super) fn reduce(&mut self, r: &'a Reduce) {
        self.expr(&r.list);
        if let Some(init) = &r.init {
            self.expr(init);
        }
        if let Some(limit) = &r.limit {
            self.expr(limit);
            self.literal_limit(limit, "a `reduce` limit");
        }
        self.block(&r.body);
    }

    /// A `match`: its arms, patterns that can never be reached, and a value
    /// that may match no pattern (no `_` arm). Its shape: its arms', when
    /// they all have the same.
    pub(super) fn match_(&mut self, m: &'a Match) -> Shape {
        self.expr(&m.value);
        let mut shapes = Vec::with_capacity(m.arms.len());
        let mut seen: Vec<(Value, Span)> = Vec::new();
        let mut wildcard: Option<Span> = None;
        for arm in &m.arms {
            for pattern in &arm.patterns {
                if let Some(after) = wildcard {
                    self.diags.push(unreachable(pattern.span, after, "after the `_` arm"));
                    continue;
                }
                let Some(literal) = &pattern.literal else {
                    wildcard = Some(pattern.span);
                    continue;
                };
                let Some(value) = literal.literal_value() else {
                    continue;
                };
                match seen.iter().find(|(v, _)| *v == value) {
                    Some(&(_, first)) => {
                        self.diags
                            .push(unreachable(pattern.span, first, "matched by an earlier arm"))
                    }
                    None => seen.push((value, pattern.span)),
                }
            }
            shapes.push(self.expr(&arm.value));
        }
        let shape = Shape::join(shapes);
        if wildcard.is_some() {
            return shape;
        }
        // A literal value is known now: it matches one of the arms or none.
        if let Some(value) = m.value.literal_value() {
            if seen.iter().any(|(v, _)| *v == value) {
                return shape;
            }
        }
        let listed = seen
            .iter()
            .take(4)
            .map(|(v, _)| v.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let more = if seen.len() > 4 { ", …" } else { "" };
        self.diags.push(
            Diagnostic::warning(
                Code::NonExhaustiveMatch,
                "this `match` has no `_` arm: a value matching no pattern fails the run",
            )
            .at(m.value.span, "may be none of the patterns")
            .note(format!("the patterns: {listed}{more}"))
            .help("add a last arm `_ => …` for every other value"),
        );
        shape
    }
}

fn unreachable(at: Span, because: Span, why: &str) -> Diagnostic {
    Diagnostic::warning(Code::UnreachableArm, "this pattern can never match")
        .at(at, "never reached")
        .label(because, why.to_string())
        .help("remove it, or move it before the arm that takes its values")
}
