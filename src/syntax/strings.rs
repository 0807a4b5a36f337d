//! String literals: the indentation rules of `"""` strings and escape decoding.
//!
//! Both work on byte ranges of the source, so an error can point at the exact
//! escape and interpolations stay where they are.

use std::ops::Range;

use crate::diag::{Code, Diagnostic};
use crate::source::Span;

/// A piece of a string literal between its quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg<T> {
    /// Raw source, escapes not yet decoded.
    Raw(Range<usize>),
    /// An interpolation `${…}`.
    Interp(T),
}

/// Applies the `"""` rules to raw segments: drops a newline right after the
/// opening quotes and a whitespace-only last line, then strips the common
/// leading whitespace of the non-blank lines.
pub fn dedent<T>(text: &str, segs: Vec<Seg<T>>) -> Vec<Seg<T>> {
    let mut segs = segs;
    // The last line, when it holds only whitespace.
    if let Some(Seg::Raw(range)) = segs.last_mut() {
        let raw = &text[range.clone()];
        if let Some(pos) = raw.rfind('\n') {
            if raw[pos + 1..]
                .bytes()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r'))
            {
                range.end = range.start + pos;
                // `\r\n` line endings: drop the `\r` too.
                if range.end > range.start && text.as_bytes()[range.end - 1] == b'\r' {
                    range.end -= 1;
                }
            }
        }
    }
    // The newline right after the opening quotes.
    if let Some(Seg::Raw(range)) = segs.first_mut() {
        let raw = &text[range.clone()];
        if raw.starts_with('\n') {
            range.start += 1;
        } else if raw.starts_with("\r\n") {
            range.start += 2;
        }
    }
    // Line starts: (segment index, offset) with their leading whitespace.
    let mut starts: Vec<(usize, usize, usize)> = Vec::new();
    let mut common: Option<&str> = None;
    let mut consider = |seg: usize, at: usize, segs: &[Seg<T>], starts: &mut Vec<_>| {
        let Some(Seg::Raw(range)) = segs.get(seg) else {
            // A line that starts with an interpolation has no indentation.
            common = Some("");
            return;
        };
        let bytes = &text.as_bytes()[at..range.end];
        let ws = bytes
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        starts.push((seg, at, ws));
        let blank = match bytes.get(ws) {
            Some(b'\n' | b'\r') => true,
            Some(_) => false,
            None => seg + 1 >= segs.len(),
        };
        if !blank {
            let indent = &text[at..at + ws];
            common = Some(match common {
                None => indent,
                Some(c) => {
                    let n = c
                        .bytes()
                        .zip(indent.bytes())
                        .take_while(|(a, b)| a == b)
                        .count();
                    &c[..n]
                }
            });
        }
    };
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Raw(range) => {
                if i == 0 {
                    consider(0, range.start, &segs, &mut starts);
                }
                for (pos, b) in text.as_bytes()[range.clone()].iter().enumerate() {
                    if *b == b'\n' {
                        consider(i, range.start + pos + 1, &segs, &mut starts);
                    }
                }
            }
            Seg::Interp(_) if i == 0 => consider(0, 0, &segs, &mut starts),
            Seg::Interp(_) => {}
        }
    }
    let strip = common.map_or(0, str::len);
    if strip == 0 {
        return segs;
    }
    // Cut `min(strip, ws)` bytes at each line start.
    let mut out = Vec::with_capacity(segs.len());
    let mut cuts = starts.into_iter().peekable();
    for (i, seg) in segs.into_iter().enumerate() {
        match seg {
            Seg::Raw(range) => {
                let mut from = range.start;
                while let Some(&(seg, at, ws)) = cuts.peek() {
                    if seg != i {
                        break;
                    }
                    cuts.next();
                    if at > from {
                        out.push(Seg::Raw(from..at));
                    }
                    from = at + ws.min(strip);
                }
                if range.end > from {
                    out.push(Seg::Raw(from..range.end));
                }
            }
            interp => out.push(interp),
        }
    }
    out
}

/// Decodes the escapes of `text[range]` onto `out`, reporting bad ones.
pub fn decode(text: &str, range: Range<usize>, out: &mut String, errors: &mut Vec<Diagnostic>) {
    let raw = &text[range.clone()];
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let start = range.start + i;
        let Some((_, e)) = chars.next() else {
            errors.push(bad_escape(Span::new(start, start + 1), "\\"));
            continue;
        };
        let decoded = match e {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            '0' => Some('\0'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            '$' => Some('$'),
            'u' => {
                let rest = &raw[i + 2..];
                match rest
                    .strip_prefix('{')
                    .and_then(|r| r.find('}').filter(|end| *end <= 8).map(|end| &r[..end]))
                {
                    Some(hex) => {
                        let len = 2 + 1 + hex.len() + 1;
                        for _ in 0..hex.chars().count() + 2 {
                            chars.next();
                        }
                        let value = (!hex.is_empty() && hex.len() <= 6)
                            .then(|| u32::from_str_radix(hex, 16).ok())
                            .flatten()
                            .and_then(char::from_u32);
                        if value.is_none() {
                            errors.push(
                                Diagnostic::error(
                                    Code::BadEscape,
                                    format!("invalid unicode escape `\\u{{{hex}}}`"),
                                )
                                .at(Span::new(start, start + len), "not a unicode character")
                                .help("write 1 to 6 hex digits of a unicode scalar value, as in `\\u{1F600}`"),
                            );
                        }
                        value
                    }
                    None => {
                        errors.push(
                            Diagnostic::error(Code::BadEscape, "incomplete unicode escape")
                                .at(Span::new(start, start + 2), "expected `{` after `\\u`")
                                .help("write the code point in braces, as in `\\u{1F600}`"),
                        );
                        None
                    }
                }
            }
            other => {
                errors.push(bad_escape(
                    Span::new(start, start + 1 + other.len_utf8()),
                    &format!("\\{other}"),
                ));
                None
            }
        };
        if let Some(d) = decoded {
            out.push(d);
        }
    }
}

fn bad_escape(span: Span, escape: &str) -> Diagnostic {
    let shown = escape.replace('\n', "\\n");
    Diagnostic::error(Code::BadEscape, format!("unknown escape `{shown}`"))
        .at(span, "unknown escape")
        .help("the escapes are `\\n` `\\t` `\\r` `\\0` `\\\\` `\\\"` `\\$` `\\u{…}`; a backslash is `\\\\`"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> String {
        let start = src.find("\"\"\"").map_or(0, |i| i + 3);
        let end = src.rfind("\"\"\"").unwrap_or(src.len());
        let segs: Vec<Seg<()>> = vec![Seg::Raw(start..end)];
        let mut out = String::new();
        for seg in dedent(src, segs) {
            if let Seg::Raw(r) = seg {
                decode(src, r, &mut out, &mut Vec::new());
            }
        }
        out
    }

    #[test]
    fn dedent_strips_common_indentation_and_edge_lines() {
        assert_eq!(
            run("\"\"\"\n    a\n      b\n\n    c\n    \"\"\""),
            "a\n  b\n\nc"
        );
        assert_eq!(run("\"\"\"one line\"\"\""), "one line");
        assert_eq!(run("\"\"\"\n   \"\"\""), "");
        assert_eq!(run("\"\"\"\n  x\\n  y\n  \"\"\""), "x\n  y");
    }
}
