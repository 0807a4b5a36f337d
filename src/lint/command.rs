//! `interpolated_command`: an `sh` command that is not written in the call.
//! Flow quotes each `${…}` of a command written as a string in the `sh` call
//! or agent, for its place in the shell's syntax; a string built elsewhere
//! (`let cmd = "rm ${path}"`, `"rm " + path`) is plain text by then, and a
//! value in it is run as shell syntax.

use std::collections::HashMap;

use super::shell::commands;
use super::{for_each_stmt, see, Cx};
use crate::ast::{BinaryOp, Expr, ExprKind, StmtKind, StrPart};
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

pub(super) fn check(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    // Strings with `${…}` bound by `let`, by name (at any depth: a lint reads
    // names loosely, a shadowing `let` of the same name is rare).
    let mut built: HashMap<&str, Span> = HashMap::new();
    for_each_stmt(cx.program, &mut |stmt| {
        if let StmtKind::Let { name, value } = &stmt.kind {
            if interpolates(value) {
                built.insert(name.name.as_str(), value.span);
            }
        }
    });
    for command in commands(cx) {
        let origin = match &command.kind {
            ExprKind::Name(ident) => match built.get(ident.name.as_str()) {
                Some(&origin) => Some(origin),
                None => continue,
            },
            ExprKind::Binary {
                op: BinaryOp::Add, ..
            } if joins_text(command) => None,
            _ => continue,
        };
        let mut d = Diagnostic::warning(
            Code::InterpolatedCommand,
            "an `sh` command built outside the call: its values are not quoted",
        );
        d = match origin {
            Some(origin) => d
                .at(command.span, "run as shell syntax, values and all")
                .label(origin, "built here with `${…}`"),
            None => d.at(
                command.span,
                "joined with `+`: run as shell syntax, values and all",
            ),
        };
        diags.push(
            d.help(format!(
                "write the command as a string in the `sh` call, `sh(\"rm ${{path}}\")`, where each `${{…}}` is quoted for its place, or pass values as named arguments and use `\"$name\"` {}",
                see(Code::InterpolatedCommand)
            )),
        );
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
