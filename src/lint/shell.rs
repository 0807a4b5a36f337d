//! `unquoted_shell_var`: a `$var` outside double quotes in an `sh` command is
//! split into words and globbed by the shell, so a value with a space or a `*`
//! becomes several arguments. Flow's own `${…}` interpolations are quoted by
//! Flow and never reported.

use super::{see, Cx};
use crate::agent::Signature;
use crate::ast::{Expr, ExprKind, StmtKind, StrPart};
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

pub(super) fn check(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    for command in commands(cx) {
        lint_command(cx, command, diags);
    }
}

/// The shell command of every agent and direct call of a backend that takes
/// one (its `command`-typed key: `sh`'s `cmd`).
pub(super) fn commands<'a>(cx: &Cx<'a>) -> Vec<&'a Expr> {
    let mut commands: Vec<&Expr> = Vec::new();
    for stmt in &cx.program.stmts {
        if let StmtKind::Agent(decl) = &stmt.kind {
            if let Some(backend) = cx.backend_of_callee(&decl.name.name) {
                commands.extend(command_arg(&decl.args, backend));
            }
        }
    }
    cx.for_each_expr(|e| {
        if let ExprKind::Call(call) = &e.kind {
            if let Some(backend) = cx.direct_backend(&call.callee.name) {
                commands.extend(command_arg(&call.args, backend));
            }
        }
    });
    commands
}

/// The shell command of an agent or call: the positional argument or the
/// `command`-typed key by name.
fn command_arg<'a>(args: &'a [crate::ast::Arg], backend: &Signature) -> Option<&'a Expr> {
    let key = backend.command_key()?;
    args.iter()
        .find(|a| match &a.name {
            Some(n) => n.name == key,
            None => backend.positional.as_deref() == Some(key),
        })
        .map(|a| &a.value)
}

fn lint_command(cx: &Cx, command: &Expr, diags: &mut Vec<Diagnostic>) {
    let ExprKind::Str(parts) = &command.kind else {
        return;
    };
    // Flow interpolations are quoted values: a placeholder that is never a `$`.
    let mut text = String::new();
    for part in parts {
        match part {
            StrPart::Text(t) => text.push_str(t),
            StrPart::Interp(_) => text.push('\u{1}'),
        }
    }
    let raw = cx.source.slice(command.span);
    for var in unquoted_vars(&text) {
        let token = if var.braced {
            format!("${{{}", var.name)
        } else {
            format!("${}", var.name)
        };
        let nth = occurrences(&text[..var.at], &token);
        // In the source a shell `${` is written `\${` (Flow's own `${` interpolates),
        // except in a raw string.
        let raw_token = if var.braced && !raw.starts_with('r') {
            format!("\\{token}")
        } else {
            token.clone()
        };
        let span = nth_occurrence(raw, &raw_token, nth)
            .map(|at| {
                let start = command.span.start as usize + at + raw_token.len() - token.len();
                Span::new(start, start + token.len() + usize::from(var.braced))
            })
            .unwrap_or(command.span);
        let name = &var.name;
        diags.push(
            Diagnostic::warning(
                Code::UnquotedShellVar,
                format!(
                    "`${name}` is unquoted in this `sh` command: a value with a space or `*` becomes several words"
                ),
            )
            .at(span, "unquoted: split into words and globbed")
            .help(format!(
                "quote it: `\"${name}\"` ({}) {}",
                if raw.starts_with("r\"\"\"") {
                    "in a raw string, write it as it is".to_string()
                } else if raw.starts_with('r') {
                    "a one-line raw string cannot hold `\"`: use a `r\"\"\"…\"\"\"` string"
                        .to_string()
                } else {
                    format!(
                        "in a one-line Flow string write `\\\"${name}\\\"`, or use a `\"\"\"…\"\"\"` string"
                    )
                },
                see(Code::UnquotedShellVar)
            )),
        );
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// How many times `token` occurs in `text` as a whole name (not a prefix of a longer one).
fn occurrences(text: &str, token: &str) -> usize {
    let mut n = 0;
    let mut from = 0;
    while let Some(at) = text[from..].find(token) {
        let end = from + at + token.len();
        if !text.as_bytes().get(end).is_some_and(|&b| is_ident(b)) {
            n += 1;
        }
        from = end;
    }
    n
}

fn nth_occurrence(text: &str, token: &str, nth: usize) -> Option<usize> {
    let mut seen = 0;
    let mut from = 0;
    while let Some(at) = text[from..].find(token) {
        let start = from + at;
        let end = start + token.len();
        if !text.as_bytes().get(end).is_some_and(|&b| is_ident(b)) {
            if seen == nth {
                return Some(start);
            }
            seen += 1;
        }
        from = end;
    }
    None
}

/// An unquoted variable expansion found in a command.
#[derive(Debug, PartialEq)]
pub(crate) struct Var {
    pub name: String,
    /// Byte offset of its `$`.
    pub at: usize,
    /// `${name…}` rather than `$name`.
    pub braced: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// Unquoted text, at the top or inside `$( … )` or backquotes.
    Top,
    Sub,
    Tick,
    Double,
    /// `$(( … ))`, with the depth of the parentheses opened inside it.
    Arith(u32),
}

/// The `$name` and `${name…}` expansions of a shell command that are outside
/// double quotes and not in a place where the shell does not split words
/// (an assignment `x=$y`, `case $x in`, a here-document).
pub(crate) fn unquoted_vars(text: &str) -> Vec<Var> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut stack = vec![Ctx::Top];
    let mut i = 0;
    while i < b.len() {
        let ctx = *stack.last().unwrap_or(&Ctx::Top);
        let c = b[i];
        match ctx {
            Ctx::Arith(depth) => {
                match c {
                    b'(' => set_top(&mut stack, Ctx::Arith(depth + 1)),
                    b')' if depth == 0 => {
                        stack.pop();
                        if b.get(i + 1) == Some(&b')') {
                            i += 1;
                        }
                    }
                    b')' => set_top(&mut stack, Ctx::Arith(depth - 1)),
                    _ => {}
                }
                i += 1;
            }
            Ctx::Double => match c {
                b'\\' => i += 2,
                b'"' => {
                    stack.pop();
                    i += 1;
                }
                b'`' => {
                    stack.push(Ctx::Tick);
                    i += 1;
                }
                b'$' => i = dollar(b, i, true, &mut stack, &mut out),
                _ => i += 1,
            },
            Ctx::Top | Ctx::Sub | Ctx::Tick => match c {
                b'\\' => i += 2,
                b'\'' => {
                    i = text[i + 1..].find('\'').map_or(b.len(), |p| i + 1 + p + 1);
                }
                b'"' => {
                    stack.push(Ctx::Double);
                    i += 1;
                }
                b'#' if i == 0 || is_break(b[i - 1]) => {
                    i = text[i..].find('\n').map_or(b.len(), |p| i + p);
                }
                b'`' if ctx == Ctx::Tick => {
                    stack.pop();
                    i += 1;
                }
                b'`' => {
                    stack.push(Ctx::Tick);
                    i += 1;
                }
                b')' if ctx == Ctx::Sub => {
                    stack.pop();
                    i += 1;
                }
                b'<' if b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') => {
                    i = heredoc(text, i + 2);
                }
                b'$' => {
                    let unsplit = assignment_word(b, i) || after_case(b, i);
                    i = dollar(b, i, unsplit, &mut stack, &mut out);
                }
                _ => i += 1,
            },
        }
    }
    out
}

fn set_top(stack: &mut [Ctx], ctx: Ctx) {
    if let Some(top) = stack.last_mut() {
        *top = ctx;
    }
}

fn is_break(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b';' | b'|' | b'&' | b'(' | b')')
}

/// Handles the `$` at `i`; returns where to continue.
fn dollar(b: &[u8], i: usize, quoted: bool, stack: &mut Vec<Ctx>, out: &mut Vec<Var>) -> usize {
    match b.get(i + 1) {
        Some(b'(') if b.get(i + 2) == Some(&b'(') => {
            stack.push(Ctx::Arith(0));
            i + 3
        }
        Some(b'(') => {
            stack.push(Ctx::Sub);
            i + 2
        }
        Some(b'{') => {
            let start = i + 2;
            let mut end = start;
            while end < b.len() && is_ident(b[end]) {
                end += 1;
            }
            let close = b[start..]
                .iter()
                .position(|&c| c == b'}')
                .map_or(b.len(), |p| start + p + 1);
            let name = String::from_utf8_lossy(&b[start..end]).into_owned();
            if !quoted && named(&name) {
                out.push(Var {
                    name,
                    at: i,
                    braced: true,
                });
            }
            close
        }
        Some(&c) if c.is_ascii_alphabetic() || c == b'_' => {
            let mut end = i + 1;
            while end < b.len() && is_ident(b[end]) {
                end += 1;
            }
            if !quoted {
                out.push(Var {
                    name: String::from_utf8_lossy(&b[i + 1..end]).into_owned(),
                    at: i,
                    braced: false,
                });
            }
            end
        }
        _ => i + 1,
    }
}

fn named(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
}

/// Whether the word holding offset `i` starts with `name=` (no splitting there).
fn assignment_word(b: &[u8], i: usize) -> bool {
    let mut start = i;
    while start > 0 && !is_break(b[start - 1]) {
        start -= 1;
    }
    let word = &b[start..i];
    match word.iter().position(|&c| c == b'=') {
        Some(eq) => eq > 0 && word[..eq].iter().all(|&c| is_ident(c)),
        None => false,
    }
}

/// Whether the previous word is `case` (`case $x in` does not split).
fn after_case(b: &[u8], i: usize) -> bool {
    let before = String::from_utf8_lossy(&b[..i]);
    before.trim_end().split_ascii_whitespace().last() == Some("case")
}

/// Skips a here-document whose `<<` ends just before `i`: the rest of the
/// line, then the body up to the delimiter line.
fn heredoc(text: &str, i: usize) -> usize {
    let rest = &text[i..];
    let rest_trim = rest.trim_start_matches(['-', ' ', '\t']);
    let delim: String = rest_trim
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if delim.is_empty() {
        return i;
    }
    let Some(eol) = rest.find('\n') else {
        return text.len();
    };
    let mut at = i + eol + 1;
    while at < text.len() {
        let end = text[at..].find('\n').map_or(text.len(), |p| at + p);
        if text[at..end].trim() == delim {
            return end;
        }
        at = end + 1;
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::unquoted_vars;

    fn names(text: &str) -> Vec<String> {
        unquoted_vars(text).into_iter().map(|v| v.name).collect()
    }

    #[test]
    fn finds_unquoted_expansions_only() {
        assert_eq!(names("cat $file"), ["file"]);
        assert_eq!(names("cat ${file}x"), ["file"]);
        assert!(names("cat \"$file\"").is_empty());
        assert!(names("echo '$file'").is_empty());
        assert!(names("echo \\$file").is_empty());
        assert!(names("x=$file; echo \"$x\"").is_empty());
        assert!(names("echo $1 $? $# $@").is_empty());
        assert!(names("echo $((n + 1))").is_empty());
        assert!(names("case $kind in a) echo \"$kind\";; esac").is_empty());
        assert!(names("cat <<EOF\n$file\nEOF\necho \"$x\"").is_empty());
        assert_eq!(names("cat <<EOF\n$file\nEOF\necho $x"), ["x"]);
        assert!(names("# uses $file\necho hi").is_empty());
    }

    #[test]
    fn command_substitutions_reset_the_quotes() {
        assert_eq!(names("echo \"$(cat $file)\""), ["file"]);
        assert!(names("echo \"$(printf '%s' \"$data\" | wc -w)\"").is_empty());
        assert_eq!(names("echo `cat $f`"), ["f"]);
    }
}
