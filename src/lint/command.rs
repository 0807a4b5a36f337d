//! `interpolated_command`: an `sh` command that is not written in the call.
//! Flow quotes each `${…}` of a command written as a string in the `sh` call
//! or agent, for its place in the shell's syntax; a string built elsewhere
//! (`let cmd = "rm ${path}"`, `"rm " + path`, the value of an `if` or a block,
//! the argument of a flow that runs it) is plain text by then, and a value in
//! it is run as shell syntax.

use std::collections::HashMap;

use super::shell::commands;
use super::{see, Cx};
use crate::ast::{BinaryOp, Expr, ExprKind, StmtKind, StrPart};
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

pub(super) fn check(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    // Strings with `${…}` bound by `let`, by name (at any depth: a lint reads
    // names loosely, a shadowing `let` of the same name is rare).
    let mut built: HashMap<&str, Span> = HashMap::new();
    // And the flows, to find the parameters they run as commands.
    let mut flows: Vec<&crate::ast::FlowDecl> = Vec::new();
    cx.for_each_stmt(&mut |stmt| match &stmt.kind {
        StmtKind::Let { name, value } if interpolates(value) => {
            built.insert(name.name.as_str(), value.span);
        }
        StmtKind::Flow(decl) => flows.push(decl),
        _ => {}
    });
    let commands = commands(cx);
    flows.sort_by_key(|f| f.body.span.start);
    let mut run_params: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for command in &commands {
        let ExprKind::Name(name) = &command.kind else {
            continue;
        };
        // The flow whose body holds the command, if any.
        let at = flows.partition_point(|f| f.body.span.start <= command.span.start);
        let Some(flow) = at.checked_sub(1).map(|i| flows[i]) else {
            continue;
        };
        if command.span.end > flow.body.span.end {
            continue;
        }
        if let Some(i) = flow.params.iter().position(|p| p.name == name.name) {
            run_params
                .entry(flow.name.name.as_str())
                .or_default()
                .push((i, flow.params[i].name.as_str()));
        }
    }
    if !run_params.is_empty() {
        cx.for_each_expr(|e| {
            let ExprKind::Call(call) = &e.kind else {
                return;
            };
            let Some(params) = run_params.get(call.callee.name.as_str()) else {
                return;
            };
            for (position, arg) in call.args.iter().enumerate() {
                let runs = params.iter().any(|&(index, param)| match &arg.name {
                    Some(n) => n.name == param,
                    None => position == index,
                });
                if runs && interpolates(&arg.value) {
                    diags.push(warning(
                        arg.value.span,
                        format!(
                            "run as a command by flow `{}`: values and all",
                            call.callee.name
                        ),
                        None,
                    ));
                }
            }
        });
    }
    for command in commands {
        let origin = match &command.kind {
            ExprKind::Name(ident) => match built.get(ident.name.as_str()) {
                Some(&origin) => Some(origin),
                None => continue,
            },
            ExprKind::Binary {
                op: BinaryOp::Add, ..
            } if joins_text(command) => None,
            ExprKind::Block(_) | ExprKind::If(_) | ExprKind::Try(_) => {
                if let Some(chosen) = chosen_interpolation(command) {
                    diags.push(warning(
                        command.span,
                        "chosen at run time: run as shell syntax, values and all".into(),
                        Some(chosen),
                    ));
                }
                continue;
            }
            _ => continue,
        };
        diags.push(match origin {
            Some(origin) => warning(
                command.span,
                "run as shell syntax, values and all".into(),
                Some(origin),
            ),
            None => warning(
                command.span,
                "joined with `+`: run as shell syntax, values and all".into(),
                None,
            ),
        });
    }
}

/// The warning, at `span`, with the string that was built as a second label.
fn warning(span: Span, label: String, origin: Option<Span>) -> Diagnostic {
    let mut d = Diagnostic::warning(
        Code::InterpolatedCommand,
        "an `sh` command built outside the call: its values are not quoted",
    )
    .at(span, label);
    if let Some(origin) = origin {
        d = d.label(origin, "built here with `${…}`");
    }
    d.help(format!(
        "write the command as a string in the `sh` call, `sh(\"rm ${{path}}\")`, where each `${{…}}` is quoted for its place, or pass values as named arguments and use `\"$name\"` {}",
        see(Code::InterpolatedCommand)
    ))
}

/// A string with `${…}` that a block, `if` or `try` may give as its value.
fn chosen_interpolation(e: &Expr) -> Option<Span> {
    let tails = |block: &crate::ast::Block| block.tail().and_then(chosen_interpolation);
    match &e.kind {
        ExprKind::Str(_) if interpolates(e) => Some(e.span),
        ExprKind::Block(block) => tails(block),
        ExprKind::If(branches) => branches
            .arms
            .iter()
            .map(|(_, block)| block)
            .chain(&branches.otherwise)
            .find_map(tails),
        ExprKind::Try(t) => tails(&t.body).or_else(|| t.otherwise.as_ref().and_then(tails)),
        _ => None,
    }
}

fn interpolates(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Str(parts) if parts.iter().any(|p| matches!(p, StrPart::Interp(_))))
}

/// A `+` chain with a string literal in it: text joined at run time.
fn joins_text(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Binary {
            op: BinaryOp::Add,
            lhs,
            rhs,
            ..
        } => joins_text(lhs) || joins_text(rhs),
        ExprKind::Str(_) => true,
        _ => false,
    }
}
