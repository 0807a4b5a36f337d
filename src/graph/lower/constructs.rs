//! Lowering the constructs whose parts are bodies of their own: `if` chains
//! (an `else if` arm is an `if` inside the `else` body before it) and gate
//! checks.

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
            otherwise = Some(self.close(value, None));
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
        let body = self.close(Expr::Ref(Ref::Node(k)), None);
        GateCheck {
            name: check.name.name.as_str().into(),
            body,
            cond: cond_node,
            cond_span: check.cond.as_ref().map(|c| c.span),
        }
    }
}
