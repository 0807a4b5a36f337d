//! What a script returns: a script that ends with `let`s and declares no
//! `output` returns the object of every top-level `let` (`implicit_result`).

use super::{see, Cx};
use crate::ast::StmtKind;
use crate::diag::{Code, Diagnostic};

/// The most names the message lists before `…`.
const SHOWN: usize = 6;

pub(super) fn check(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    if cx.has_explicit_result() {
        return;
    }
    let lets: Vec<&crate::ast::Ident> = (cx.program.stmts.iter())
        .filter_map(|s| match &s.kind {
            StmtKind::Let { name, .. } => Some(name),
            _ => None,
        })
        .collect();
    // A script of declarations alone returns `{}`: nothing to say.
    let Some(last) = lets.last() else {
        return;
    };
    let mut names: Vec<String> = lets
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{}`", n.name))
        .collect();
    if lets.len() > SHOWN {
        names.push(format!("… ({} in all)", lets.len()));
    }
    // The result it has today, declared; or, of many `let`s, the last.
    let example = match lets.len() {
        1 => format!("output {}", last.name),
        2..=3 => {
            let entries: Vec<String> = lets.iter().map(|n| format!("{0}: {0}", n.name)).collect();
            format!("output {{ {} }}", entries.join(", "))
        }
        _ => format!("output {}", last.name),
    };
    diags.push(
        Diagnostic::warning(
            Code::ImplicitResult,
            format!(
                "the script declares no result: it returns the object of all its top-level `let`s ({})",
                names.join(", ")
            ),
        )
        .at(last.span, "the script ends with a `let`")
        .help(format!(
            "say what it returns with `output`, anywhere at the top level, e.g. `{example}` (the `let`s it leaves out still run; `output` names one value or builds an object of several) {}",
            see(Code::ImplicitResult)
        )),
    );
}
