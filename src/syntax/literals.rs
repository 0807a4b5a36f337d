//! Literals: numbers and durations, strings with their escapes, indentation
//! and interpolations, and object keys.

use pest::iterators::Pair;

use super::build::{Builder, Built};
use super::strings::{self, Seg};
use super::Rule;
use crate::ast::*;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

impl Builder<'_> {
    pub(super) fn key(&self, pair: Pair<'_, Rule>) -> Built<Key> {
        let span = self.span_of(&pair);
        if pair.as_rule() == Rule::name {
            return Ok(Key {
                name: pair.as_str().into(),
                span,
            });
        }
        let mut name = String::new();
        for part in self.string(pair)? {
            match part {
                StrPart::Text(text) => name.push_str(&text),
                StrPart::Interp(e) => self.error(
                    Diagnostic::error(
                        Code::UnexpectedToken,
                        "an object key cannot be interpolated",
                    )
                    .at(e.span, "interpolation in a key")
                    .help(
                        "build the object with a fixed key, or compute the key in a `let` binding",
                    ),
                ),
            }
        }
        Ok(Key { name: name.into(), span })
    }

    /// A string literal to parts: escapes decoded, adjacent text merged.
    pub(super) fn string(&self, pair: Pair<'_, Rule>) -> Built<Vec<StrPart>> {
        if matches!(pair.as_rule(), Rule::rsstring | Rule::rmstring) {
            return Ok(self.raw_string(&pair));
        }
        let multi = pair.as_rule() == Rule::mstring;
        let mut segs: Vec<Seg<Pair<'_, Rule>>> = Vec::new();
        for p in pair.into_inner() {
            let s = p.as_span();
            match p.as_rule() {
                Rule::interp => segs.push(Seg::Interp(p)),
                _ => match segs.last_mut() {
                    Some(Seg::Raw(range)) if range.end == s.start() => range.end = s.end(),
                    _ => segs.push(Seg::Raw(s.start()..s.end())),
                },
            }
        }
        if multi {
            segs = strings::dedent(self.text, segs);
        }
        let mut parts: Vec<StrPart> = Vec::new();
        for seg in segs {
            match seg {
                Seg::Raw(range) => {
                    let mut errors = Vec::new();
                    let mut text = match parts.pop() {
                        Some(StrPart::Text(t)) => t,
                        Some(other) => {
                            parts.push(other);
                            String::new()
                        }
                        None => String::new(),
                    };
                    strings::decode(self.text, range, &mut text, &mut errors);
                    // `decode` places its errors in this builder's text, a
                    // piece of the script's that starts at `offset`.
                    let errors = errors.into_iter().map(|d| d.moved(self.offset));
                    self.errors.borrow_mut().extend(errors);
                    if !text.is_empty() {
                        parts.push(StrPart::Text(text));
                    }
                }
                Seg::Interp(p) => {
                    let span = self.span_of(&p);
                    let expr = match p.into_inner().next() {
                        Some(e) => self.expr(e)?,
                        None => Expr {
                            kind: ExprKind::Null,
                            span,
                        },
                    };
                    parts.push(StrPart::Interp(expr));
                }
            }
        }
        Ok(parts)
    }

    /// `r"…"` or `r"""…"""`: the text between the quotes as it is, with the
    /// indentation rules of `"""` for the second.
    fn raw_string(&self, pair: &Pair<'_, Rule>) -> Vec<StrPart> {
        let s = pair.as_span();
        let multi = pair.as_rule() == Rule::rmstring;
        let quotes = if multi { 3 } else { 1 };
        let body = s.start() + 1 + quotes..s.end() - quotes;
        let mut segs: Vec<Seg<()>> = vec![Seg::Raw(body)];
        if multi {
            segs = strings::dedent(self.text, segs);
        }
        let text: String = segs
            .into_iter()
            .filter_map(|seg| match seg {
                Seg::Raw(range) => Some(&self.text[range]),
                Seg::Interp(()) => None,
            })
            .collect();
        if text.is_empty() {
            Vec::new()
        } else {
            vec![StrPart::Text(text)]
        }
    }

    pub(super) fn number(&self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span_of(&pair);
        let raw = pair.as_str();
        let split = numeric_len(raw);
        let (digits, suffix) = raw.split_at(split);
        let is_float = digits.contains(['.', 'e', 'E']);
        let kind = if !suffix.is_empty() {
            let unit = match suffix {
                "ms" => Some(DurationUnit::Millis),
                "s" => Some(DurationUnit::Seconds),
                "m" => Some(DurationUnit::Minutes),
                "h" => Some(DurationUnit::Hours),
                _ => None,
            };
            let amount = digits.parse::<f64>().ok().filter(|a| a.is_finite());
            match (unit, amount) {
                (Some(unit), Some(amount)) => ExprKind::Duration(Duration { amount, unit }),
                (None, _) => {
                    let at = span.start as usize + split;
                    self.error(
                        Diagnostic::error(
                            Code::BadDuration,
                            format!("unknown duration unit `{suffix}`"),
                        )
                        .at(Span::new(at, span.end as usize), "not a duration unit")
                        .help("durations are written `250ms`, `30s`, `5m` or `2h`"),
                    );
                    ExprKind::Null
                }
                (Some(_), None) => {
                    self.error(
                        Diagnostic::error(
                            Code::BadNumber,
                            format!("duration `{raw}` is too large"),
                        )
                        .at(span, "too large"),
                    );
                    ExprKind::Null
                }
            }
        } else if is_float {
            match digits.parse::<f64>().ok().filter(|a| a.is_finite()) {
                Some(x) => ExprKind::Float(x),
                None => {
                    self.error(
                        Diagnostic::error(Code::BadNumber, format!("number `{raw}` is too large"))
                            .at(span, "too large for a 64-bit float"),
                    );
                    ExprKind::Null
                }
            }
        } else {
            match digits.parse::<i64>() {
                Ok(i) => ExprKind::Int(i),
                Err(_) => {
                    self.error(
                        Diagnostic::error(Code::BadNumber, format!("integer `{raw}` is too large"))
                            .at(span, "does not fit in 64 bits")
                            .help(format!(
                                "integers lie between {} and {}; write `{raw}.0` for a float",
                                i64::MIN,
                                i64::MAX
                            )),
                    );
                    ExprKind::Null
                }
            }
        };
        Expr { kind, span }
    }
}

/// The length of the numeric part of a `number` token (before any unit).
fn numeric_len(raw: &str) -> usize {
    let b = raw.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(0);
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let j = i + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-'))) + 1;
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            i = digits(j);
        }
    }
    i
}
