//! The `${…}` of a shell command: where no reference can stand for the
//! value (an error), and where a second shell parses the value again (a
//! warning): both `unsafe_interpolation`.

use crate::ast::{Arg, Expr, ExprKind, StrPart};
use crate::diag::{Code, Diagnostic};
use crate::shell::{SecondShell, ShellContext};

use super::Checker;

impl Checker<'_, '_> {
    /// The `${…}` of a shell command (the backend's `command`-typed key) in
    /// places where no reference stands for the value (see
    /// `shell::reference`), or where a second shell parses it.
    pub(super) fn shell_command(&mut self, args: &[Arg], positional: Option<&str>, key: &str) {
        let command = args.iter().find(|a| match &a.name {
            Some(n) => n.name == key,
            None => positional == Some(key),
        });
        let Some(Arg {
            value:
                Expr {
                    kind: ExprKind::Str(parts),
                    ..
                },
            ..
        }) = command
        else {
            return;
        };
        let texts = || {
            parts.iter().map(|p| match p {
                StrPart::Text(t) => Some(t.as_str()),
                StrPart::Interp(_) => None,
            })
        };
        let places = crate::shell::contexts(texts());
        let seconds = crate::shell::second_shells(texts());
        let interps = parts.iter().filter_map(|p| match p {
            StrPart::Interp(e) => Some(e),
            StrPart::Text(_) => None,
        });
        for ((place, second), interp) in places.into_iter().zip(seconds).zip(interps) {
            match (place, second) {
                (ShellContext::Unsafe(where_), _) => self.diags.push(no_reference(where_, interp)),
                (_, Some(second)) => self.diags.push(parsed_again(&second, interp)),
                _ => {}
            }
        }
    }
}

/// Right after a backslash, or in a here-document with a quoted delimiter.
fn no_reference(where_: &str, interp: &Expr) -> Diagnostic {
    let help = if where_ == crate::shell::QUOTED_HEREDOC {
        "unquote the delimiter (`<<EOF`): the body then expands the value, and never \
         runs any of it"
    } else {
        "pass it as a named argument and write `\"$name\"` in the command, e.g. \
         `sh(\"… \\\"$name\\\"\", name: value)`"
    };
    Diagnostic::error(
        Code::UnsafeInterpolation,
        format!("a value of a shell command sits {where_}, where no reference can stand for it"),
    )
    .at(interp.span, "interpolated here")
    .help(format!("{help} (`flow explain unsafe_interpolation`)"))
}

/// A warning: Flow's reference keeps the value from the first shell only.
fn parsed_again(second: &SecondShell, interp: &Expr) -> Diagnostic {
    let v = match &interp.kind {
        ExprKind::Name(name) => name.name.as_str(),
        ExprKind::Field { field, .. } => field.name.as_str(),
        _ => "value",
    };
    let by_name = format!("`sh(\"…\", {v}: …)`");
    let help = match second {
        SecondShell::CommandString { shell } if !shell.starts_with("su") && !shell.starts_with("runuser") => {
            let program = shell.split(' ').next().unwrap_or("sh");
            format!(
                "pass it as an argument, `{program} -c '… \"$1\"' _ ${{{v}}}`, or by name, {by_name}, \
                 and write `\"${v}\"` in the command string: the second shell then expands it \
                 without parsing it"
            )
        }
        SecondShell::Ssh => format!(
            "the remote shell gets neither Flow's quoting nor its environment: send the value \
             on stdin, `printf '%s' ${{{v}}} | ssh HOST 'v=$(cat); … \"$v\"'`"
        ),
        SecondShell::Eval => format!(
            "drop `eval` (a `${{…}}` in the command itself is safe), or pass the value by name, \
             {by_name}, and write `\"${v}\"` inside single quotes, `eval 'echo \"${v}\"'`: \
             only `eval` expands it, without parsing it"
        ),
        _ => format!(
            "pass the value by name, {by_name}: it is then the environment variable `${v}`; \
             write `\"${v}\"` where the first shell leaves it alone (inside `'…'`, or a \
             here-document with a quoted delimiter, `<<'EOF'`), and the second shell expands \
             it without parsing it"
        ),
    };
    Diagnostic::warning(
        Code::UnsafeInterpolation,
        format!(
            "a value of a shell command sits {}, where it is parsed again as code",
            second.place()
        ),
    )
    .at(interp.span, format!("parsed again by {}", second.parser()))
    .help(format!("{help} (`flow explain unsafe_interpolation`)"))
}
