//! The simplest statement, built without pest: a line `let NAME =
//! CALLEE(ARGS)` whose arguments are names, positional or named
//! (`let n7 = noop(n3, b: n5)`), the statement big generated scripts are made
//! of. Pest stays the definition of the language: this recognises only lines
//! whose meaning is beyond doubt, builds exactly the tree pest's parse
//! builds (spans included; `parallel_tests` compares them), and gives up on
//! anything else — a keyword, a literal, an operator, a comment, a `\r` —
//! leaving that line to pest.
//!
//! Only [`super::parse_in_parallel`] uses it, on top-level lines that are
//! followed by another top-level `let` line: so the line is one whole
//! statement, which no `where`, `retry` or `timeout` on the next line can
//! continue.

use crate::ast::{Arg, Call, Expr, ExprKind, Ident, Stmt, StmtKind};
use crate::source::Span;

/// Words that are names for pest only in some places: left to pest.
const CONTEXTUAL: &[&str] = &["budget", "output", "until", "max", "from"];

/// The statement on `line` (which starts at byte `at` of the script, and
/// holds no newline), or `None` when it is not of the simplest form.
pub(super) fn let_call(line: &str, at: usize) -> Option<Stmt> {
    let mut cursor = Cursor {
        text: line,
        bytes: line.as_bytes(),
        at: 0,
        offset: at,
    };
    if !line.starts_with("let") {
        return None;
    }
    cursor.at = 3;
    if !cursor.blank() {
        return None;
    }
    let name = cursor.name()?;
    cursor.blank();
    cursor.eat(b'=')?;
    cursor.blank();
    let callee = cursor.name()?;
    if CONTEXTUAL.contains(&callee.name.as_str()) {
        return None;
    }
    // A callee is glued to its `(`.
    cursor.eat(b'(')?;
    cursor.blank();
    let mut args = Vec::new();
    if cursor.eat(b')').is_none() {
        // As many arguments as commas and one (a line of this form has no
        // other comma): a vector of their size, where pushing makes room for 4.
        args.reserve_exact(line.bytes().filter(|&b| b == b',').count() + 1);
        loop {
            let first = cursor.name()?;
            cursor.blank();
            let arg = if cursor.eat(b':').is_some() {
                cursor.blank();
                let value = cursor.name()?;
                cursor.blank();
                Arg {
                    name: Some(first),
                    value: name_expr(value),
                }
            } else {
                Arg {
                    name: None,
                    value: name_expr(first),
                }
            };
            args.push(arg);
            match cursor.next()? {
                b',' => cursor.blank(),
                b')' => break,
                _ => return None,
            };
        }
    }
    let end = cursor.offset + cursor.at;
    cursor.blank();
    if cursor.at != line.len() {
        return None;
    }
    let call = Call {
        callee,
        args,
        modifiers: Vec::new(),
    };
    let value_span = Span::new(call.callee.span.start as usize, end);
    Some(Stmt {
        kind: StmtKind::Let {
            name,
            value: Expr {
                kind: ExprKind::Call(Box::new(call)),
                span: value_span,
            },
        },
        span: Span::new(at, end),
    })
}

fn name_expr(name: Ident) -> Expr {
    let span = name.span;
    Expr {
        kind: ExprKind::Name(name),
        span,
    }
}

struct Cursor<'a> {
    text: &'a str,
    /// `text`'s bytes.
    bytes: &'a [u8],
    at: usize,
    /// Where `bytes` starts in the script.
    offset: usize,
}

impl Cursor<'_> {
    /// Skips spaces and tabs; whether there were any.
    fn blank(&mut self) -> bool {
        let from = self.at;
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t')) {
            self.at += 1;
        }
        self.at > from
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// A word: a letter or `_`, then letters, digits and `_`.
    fn word(&mut self) -> Option<Ident> {
        let from = self.at;
        match self.bytes.get(self.at) {
            Some(b) if b.is_ascii_alphabetic() || *b == b'_' => self.at += 1,
            _ => return None,
        }
        while matches!(self.bytes.get(self.at), Some(b) if b.is_ascii_alphanumeric() || *b == b'_') {
            self.at += 1;
        }
        // ASCII only, checked above: a slice at character boundaries.
        Some(Ident {
            name: self.text[from..self.at].into(),
            span: Span::new(self.offset + from, self.offset + self.at),
        })
    }

    /// A word that is not a keyword.
    fn name(&mut self) -> Option<Ident> {
        self.word().filter(|w| !super::is_keyword(&w.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pest_stmt(line: &str) -> Stmt {
        let source = crate::source::SourceFile::new("t.flow", line.to_string());
        let mut program = super::super::parse(&source).expect("parses");
        assert_eq!(program.stmts.len(), 1, "{line}");
        program.stmts.remove(0)
    }

    #[test]
    fn builds_what_pest_builds() {
        for line in [
            "let a = f()",
            "let n1000 = noop(n370, b: n310)",
            "let  x\t=  call_2( a ,b :c,  d )  ",
            "let _x = _f(_a)",
            "let budget_ = noop(max_, from_)",
        ] {
            assert_eq!(let_call(line, 0), Some(pest_stmt(line)), "{line}");
        }
    }

    #[test]
    fn leaves_everything_else_to_pest() {
        for line in [
            "let a = f(1)",
            "let a = f(\"s\")",
            "let a = f(b) # note",
            "let a = f(b)\r",
            "let a = f (b)",
            "let a = f(b,)",
            "let a = f(b.c)",
            "let a = f(g(b))",
            "let a = f(b) + 1",
            "let a = f(b) timeout 5s",
            "let a = f(b); let c = d(e)",
            "let map = f(b)",
            "let a = map(b)",
            "let a = max(b)",
            "let a = f(true)",
            "let a = f(retry: b)",
            "let a = b",
            "leta = f(b)",
            "let a = f(é)",
            "let a = f(b",
        ] {
            assert_eq!(let_call(line, 0), None, "{line}");
        }
    }

    #[test]
    fn arguments_take_the_room_they_need() {
        for (line, n) in [("let a = f()", 0), ("let a = f(b)", 1), ("let a = f(b, c: d, e)", 3)] {
            let Some(Stmt {
                kind: StmtKind::Let { value, .. },
                ..
            }) = let_call(line, 0)
            else {
                panic!("{line}: not built");
            };
            let ExprKind::Call(call) = value.kind else {
                panic!("{line}: not a call");
            };
            assert_eq!((call.args.len(), call.args.capacity()), (n, n), "{line}");
        }
    }

    #[test]
    fn spans_count_from_the_line_start() {
        let stmt = let_call("let a = f(b)", 100).unwrap();
        assert_eq!(stmt.span, Span::new(100, 112));
    }
}
