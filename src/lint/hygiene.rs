//! The lints users of workflow tools ask for: conditions that are constant
//! (`constant_condition`), gates with one check that nothing waits for with
//! `after` (`single_check_gate`), and
//! `llm`/`http` calls that retry without waiting (`retry_without_backoff`) or
//! may wait forever (`missing_timeout`).

use super::{see, Cx};
use crate::agent::Resource;
use crate::ast::{BinaryOp, Expr, ExprKind, ModifierKind, StrPart};
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

pub(super) fn check(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    constant_conditions(cx, diags);
    cx.for_each_expr(|e| match &e.kind {
        // A gate some task waits for with `after` is a checkpoint, what
        // `unneeded_after` asks for when a task must wait for a check to pass:
        // with one check too.
        ExprKind::Gate(checks) if checks.len() == 1 && !cx.is_waited_for(e.span) => {
            single_check_gate(e, &checks[0], diags)
        }
        ExprKind::Call(_) => service_call(cx, e, diags),
        ExprKind::Try(t) => try_without_backoff(cx, t, diags),
        _ => {}
    });
}

/// Whether an expression's value is known without running anything: literals,
/// operators and pure functions over literals (not `env`, not a name).
pub(crate) fn is_constant(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Duration(_) => true,
        ExprKind::Str(parts) => parts.iter().all(|p| match p {
            StrPart::Text(_) => true,
            StrPart::Interp(e) => is_constant(e),
        }),
        ExprKind::List(items) => items.iter().all(is_constant),
        ExprKind::Object(entries) => entries.iter().all(|(_, e)| is_constant(e)),
        ExprKind::Field { base, .. } => is_constant(base),
        ExprKind::Index { base, index } => is_constant(base) && is_constant(index),
        ExprKind::Unary { operand, .. } => is_constant(operand),
        ExprKind::Binary { lhs, rhs, .. } => is_constant(lhs) && is_constant(rhs),
        ExprKind::Call(call) => {
            call.callee.name != "env"
                && crate::builtins::function_named(&call.callee.name).is_some()
                && call.modifiers.is_empty()
                && call.args.iter().all(|a| is_constant(&a.value))
        }
        _ => false,
    }
}

fn constant_conditions(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    // (span of the constant condition, what it decides)
    let mut found: Vec<(Span, &'static str)> = Vec::new();
    cx.for_each_expr(|e| match &e.kind {
        ExprKind::If(if_) => {
            for (cond, _) in &if_.arms {
                if is_constant(cond) {
                    found.push((cond.span, "if"));
                }
            }
        }
        ExprKind::Gate(checks) => {
            for cond in checks.iter().filter_map(|c| c.cond.as_ref()) {
                if is_constant(cond) {
                    found.push((cond.span, "where"));
                }
            }
        }
        ExprKind::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            lhs,
            rhs,
            ..
        } => {
            let what = if *op == BinaryOp::And { "&&" } else { "||" };
            for side in [lhs, rhs] {
                if is_constant(side) {
                    found.push((side.span, what));
                }
            }
        }
        _ => {}
    });
    for (span, what) in outermost(&found) {
        let text = cx.source.slice(span).trim().to_string();
        let (message, help) = match what {
            "if" => (
                format!("this `if` condition is always the same: `{text}`"),
                "only one branch can ever run: keep that branch and delete the `if`, or make the condition read a value (a `param` or a task's result)",
            ),
            "where" => (
                format!("this `where` condition does not depend on the check: `{text}`"),
                "a `where` should test the check's result, as in `test: Tester() where test.failed == 0`",
            ),
            _ => (
                format!("an operand of `{what}` is constant: `{text}`"),
                "a constant operand makes the operator decide nothing: remove it, or replace it with the value it stands for",
            ),
        };
        diags.push(
            Diagnostic::warning(Code::ConstantCondition, message)
                .at(span, "known before the script runs")
                .help(format!("{help} {}", see(Code::ConstantCondition))),
        );
    }
}

/// The constants no other one contains (report the outermost only), in the
/// order found. One sort, not a comparison of every pair: a script may hold
/// thousands of them.
fn outermost<'f>(
    found: &'f [(Span, &'static str)],
) -> impl Iterator<Item = (Span, &'static str)> + 'f {
    let mut order: Vec<usize> = (0..found.len()).collect();
    // By start, the widest first: what contains a span comes before it.
    order.sort_by_key(|&i| (found[i].0.start, std::cmp::Reverse(found[i].0.end)));
    let mut inner = vec![false; found.len()];
    let mut widest_end = None;
    let mut group_start = 0;
    while group_start < order.len() {
        // Equal spans do not hide each other.
        let span = found[order[group_start]].0;
        let group_end = order[group_start..]
            .iter()
            .position(|&i| found[i].0 != span)
            .map_or(order.len(), |n| group_start + n);
        if widest_end.is_some_and(|end| end >= span.end) {
            for &i in &order[group_start..group_end] {
                inner[i] = true;
            }
        }
        widest_end = widest_end.max(Some(span.end));
        group_start = group_end;
    }
    found
        .iter()
        .zip(inner)
        .filter(|(_, inner)| !inner)
        .map(|(f, _)| *f)
}

fn single_check_gate(gate: &Expr, check: &crate::ast::Check, diags: &mut Vec<Diagnostic>) {
    let keyword = Span::new(
        gate.span.start as usize,
        (gate.span.start as usize + 4).min(gate.span.end as usize),
    );
    let name = &check.name.name;
    let help = if check.cond.is_some() {
        "a gate runs several checks in parallel and reports every failure at once; add the other checks this stage must pass to it, or test the one value with `if`".to_string()
    } else {
        format!(
            "a failed call already stops the script: call it directly (`let {name} = …`), or add the other checks this stage must pass to the gate; a gate that a task waits for with `after` is a checkpoint, and not reported"
        )
    };
    diags.push(
        Diagnostic::warning(
            Code::SingleCheckGate,
            format!("this gate has a single check, `{name}`"),
        )
        .at(keyword, "a gate with one check")
        .label(check.name.span, "the only check")
        .help(format!("{help} {}", see(Code::SingleCheckGate))),
    );
}

/// `retry` without `backoff`, and no `timeout` (neither a modifier nor a
/// `timeout:` config), on an `llm` or `http` call.
fn service_call(cx: &Cx, e: &Expr, diags: &mut Vec<Diagnostic>) {
    let ExprKind::Call(call) = &e.kind else {
        return;
    };
    let Some(backend) = cx
        .backend_of_callee(&call.callee.name)
        .filter(|b| b.resource == Resource::Remote)
        .map(|b| b.name.as_str())
    else {
        return;
    };
    let name = &call.callee.name;
    let mut retry = None;
    let mut backoff = false;
    let mut timeout = false;
    for m in &call.modifiers {
        match &m.kind {
            ModifierKind::Retry(n) if !matches!(n.kind, ExprKind::Int(0)) => retry = Some(m.span),
            ModifierKind::Backoff(_) => backoff = true,
            ModifierKind::Timeout(_) => timeout = true,
            _ => {}
        }
    }
    if let (Some(span), false) = (retry, backoff) {
        diags.push(
            Diagnostic::warning(
                Code::RetryWithoutBackoff,
                format!("`{name}` ({backend}) is retried at once, without waiting"),
            )
            .at(span, "retries immediately")
            .help(format!(
                "add `backoff 1s` after the `retry`: an overloaded or rate-limited service needs time, and the wait doubles on each attempt {}",
                see(Code::RetryWithoutBackoff)
            )),
        );
    }
    if !timeout && !cx.configured_timeout(call) {
        diags.push(
            Diagnostic::warning(
                Code::MissingTimeout,
                format!("`{name}` calls an {backend} service with no `timeout`"),
            )
            .at(call.callee.span, "no timeout of its own")
            .help(format!(
                "add a timeout after the call, e.g. `{name}(…) timeout 60s`, or `timeout:` to its config: a hung service would otherwise hold the run until the backend's own limit {}",
                see(Code::MissingTimeout)
            )),
        );
    }
}

/// `try { … } retry N` without `backoff` around `llm` or `http` calls.
fn try_without_backoff(cx: &Cx, t: &crate::ast::Try, diags: &mut Vec<Diagnostic>) {
    let (Some(retry), None) = (&t.retry, &t.backoff) else {
        return;
    };
    if matches!(retry.kind, ExprKind::Int(0)) {
        return;
    }
    let mut service = None;
    t.body.for_each_expr(&mut |top| {
        walk(top, &mut |e| {
            if let ExprKind::Call(call) = &e.kind {
                if let Some(b) = cx
                    .backend_of_callee(&call.callee.name)
                    .filter(|b| b.resource == Resource::Remote)
                {
                    service.get_or_insert((call.callee.name.clone(), b.name.as_str()));
                }
            }
        })
    });
    let Some((name, backend)) = service else {
        return;
    };
    diags.push(
        Diagnostic::warning(
            Code::RetryWithoutBackoff,
            format!("this `try` retries `{name}` ({backend}) at once, without waiting"),
        )
        .at(retry.span, "retries immediately")
        .help(format!(
            "add `backoff 1s` after `retry {}`: an overloaded or rate-limited service needs time, and the wait doubles on each attempt {}",
            cx.source.slice(retry.span),
            see(Code::RetryWithoutBackoff)
        )),
    );
}

fn walk(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    e.for_each_child(&mut |c| walk(c, f));
}
