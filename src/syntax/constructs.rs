//! Building the constructs added for loops, routing and reduction: `repeat`,
//! `match`, `reduce`, `fold` (and `filter`, which is built like `map`).

use pest::iterators::Pair;

use super::build::{parts, Builder, Built};
use super::Rule;
use crate::ast::*;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

impl Builder<'_> {
    /// `repeat state = init until cond max n { body } [else { … }]`
    pub(super) fn repeat(&self, pair: Pair<'_, Rule>, span: Span) -> Built<ExprKind> {
        let mut state = None;
        let mut exprs = Vec::with_capacity(3);
        let mut blocks = Vec::with_capacity(2);
        for p in parts(pair) {
            match p.as_rule() {
                Rule::name => state = Some(self.decl_name(Some(p))),
                Rule::block => blocks.push(self.block(p)?),
                _ => exprs.push(self.expr(p)?),
            }
        }
        let mut exprs = exprs.into_iter();
        let mut next = || match exprs.next() {
            Some(e) => Ok(e),
            None => self.opt_where_expr(None, span),
        };
        let (init, until, max) = (next()?, next()?, next()?);
        let mut blocks = blocks.into_iter();
        let body = match blocks.next() {
            Some(b) => b,
            None => self.opt_block(None, span)?,
        };
        Ok(ExprKind::Repeat(Box::new(Repeat {
            state: state.unwrap_or_else(|| self.decl_name(None)),
            init,
            until,
            max,
            body,
            otherwise: blocks.next(),
        })))
    }

    /// `match value { pattern | pattern => value, … }`
    pub(super) fn match_(&self, pair: Pair<'_, Rule>, span: Span) -> Built<ExprKind> {
        let mut it = parts(pair);
        let value = self.opt_where_expr(it.next(), span)?;
        let mut arms = Vec::new();
        for arm in it {
            let arm_span = self.span_of(&arm);
            let mut patterns = Vec::new();
            let mut value = None;
            for p in parts(arm) {
                match p.as_rule() {
                    Rule::pattern => patterns.push(self.pattern(p)?),
                    _ => value = Some(self.expr(p)?),
                }
            }
            let value = match value {
                Some(v) => v,
                None => self.opt_where_expr(None, arm_span)?,
            };
            arms.push(Arm {
                patterns,
                value,
                span: arm_span,
            });
        }
        Ok(ExprKind::Match(Box::new(Match { value, arms })))
    }

    /// A pattern: `_`, or a literal (a string without `${…}`, a number, a
    /// boolean, `null`).
    fn pattern(&self, pair: Pair<'_, Rule>) -> Built<Pattern> {
        let span = self.span_of(&pair);
        let mut inner = pair.into_inner();
        let Some(first) = inner.next() else {
            return Ok(Pattern {
                literal: None,
                span,
            });
        };
        let literal = match first.as_rule() {
            Rule::wildcard => None,
            Rule::neg => {
                let Some(number) = inner.next() else {
                    return Ok(Pattern {
                        literal: None,
                        span,
                    });
                };
                let mut e = self.number(number);
                e.kind = match e.kind {
                    ExprKind::Int(i) => ExprKind::Int(-i),
                    ExprKind::Float(f) => ExprKind::Float(-f),
                    other => other,
                };
                e.span = span;
                Some(e)
            }
            _ => {
                let e = self.primary(first)?;
                if let ExprKind::Str(parts) = &e.kind {
                    if let Some(StrPart::Interp(at)) =
                        parts.iter().find(|p| matches!(p, StrPart::Interp(_)))
                    {
                        self.error(
                            Diagnostic::error(
                                Code::UnexpectedToken,
                                "a `match` pattern cannot be interpolated",
                            )
                            .at(at.span, "interpolation in a pattern")
                            .help(
                                "patterns are literals; compare with `if value == \"…${x}\"` instead",
                            ),
                        );
                    }
                }
                Some(e)
            }
        };
        Ok(Pattern { literal, span })
    }

    /// `reduce (a, b) in list [limit n] { … }` or `fold (acc, x) in list from init { … }`.
    pub(super) fn reduce(&self, pair: Pair<'_, Rule>, span: Span) -> Built<ExprKind> {
        let fold = pair.as_rule() == Rule::fold_expr;
        let (mut acc, mut item) = (None, None);
        let mut exprs = Vec::with_capacity(2);
        let mut body = None;
        for p in parts(pair) {
            match p.as_rule() {
                Rule::map_pair => {
                    let mut names = parts(p);
                    acc = Some(self.decl_name(names.next()));
                    item = Some(self.decl_name(names.next()));
                }
                Rule::block => body = Some(p),
                _ => exprs.push(self.expr(p)?),
            }
        }
        let mut exprs = exprs.into_iter();
        let list = match exprs.next() {
            Some(e) => e,
            None => self.opt_where_expr(None, span)?,
        };
        let second = exprs.next();
        let (init, limit) = if fold {
            let init = match second {
                Some(e) => e,
                None => self.opt_where_expr(None, span)?,
            };
            (Some(init), None)
        } else {
            (None, second)
        };
        Ok(ExprKind::Reduce(Box::new(Reduce {
            acc: acc.unwrap_or_else(|| self.decl_name(None)),
            item: item.unwrap_or_else(|| self.decl_name(None)),
            list,
            init,
            limit,
            body: self.opt_block(body, span)?,
        })))
    }
}
