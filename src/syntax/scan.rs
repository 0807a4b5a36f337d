//! A pre-scan of brackets and strings, run before pest: it finds unclosed and
//! mismatched delimiters, unterminated strings and excessive nesting with
//! precise labels, and it bounds the nesting pest will ever see.
//!
//! Pest recurses once per open bracket and once per `map` or `if` whose block
//! has not opened yet (`map a in map b in xs {…} {…}`): the scan bounds both
//! together, since pest is built without its stack probe (see `Cargo.toml`).

use crate::diag::{Code, Diagnostic};
use crate::source::{floor_char_boundary, Span};

/// The deepest nesting of brackets, `${…}`, and `map`s and `if`s still
/// waiting for their block, a script may use.
pub const MAX_NESTING: usize = 64;

/// The keywords whose `{` the scan names in its messages.
const CONSTRUCTS: [&str; 12] = [
    "map", "flow", "if", "else", "try", "fanout", "gate", "repeat", "match", "reduce", "fold",
    "filter",
];

/// Bit `c - b'a'` is set when a word of [`CONSTRUCTS`] starts with the letter `c`.
const CONSTRUCT_INITIALS: u32 = {
    let mut mask = 0;
    let mut i = 0;
    while i < CONSTRUCTS.len() {
        mask |= 1 << (CONSTRUCTS[i].as_bytes()[0] - b'a');
        i += 1;
    }
    mask
};

/// The word of [`CONSTRUCTS`] `word` is, if any. Most words are names, and
/// their first letter rules most of them out at once.
fn construct_keyword(word: &str) -> Option<&'static str> {
    let first = word.as_bytes().first()?.wrapping_sub(b'a');
    if first >= 26 || CONSTRUCT_INITIALS & (1 << first) == 0 {
        return None;
    }
    CONSTRUCTS.into_iter().find(|k| *k == word)
}

/// The constructs with expressions between their keyword and their `{`, which
/// pest enters before it reaches the block.
const WAIT_FOR_BLOCK: [&str; 7] = ["map", "if", "repeat", "match", "reduce", "fold", "filter"];

/// What an open delimiter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    /// `(`, `[` or `{`, with the construct it belongs to when known.
    Bracket(u8, Option<&'static str>),
    /// `${` inside a string.
    Interp,
    /// A string; `true` for `"""`.
    Str(bool),
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    open: Open,
    at: usize,
    /// `map`s and `if`s of the enclosing level still waiting for their `{`.
    pending: usize,
}

/// The constructs pest is inside: open brackets, plus `map`s and `if`s whose
/// block has not opened yet.
#[derive(Debug, Default)]
struct Depth {
    /// `map`s and `if`s of the current level waiting for their `{`.
    here: usize,
    /// The same, summed over the enclosing levels.
    outer: usize,
}

impl Depth {
    /// How deep an opener at this point is, and whether any of that depth
    /// comes from a `map` or `if` (for the message).
    fn of(&self, stack: &[Frame]) -> (usize, bool) {
        let brackets = stack
            .iter()
            .filter(|f| !matches!(f.open, Open::Str(_)))
            .count();
        let constructs = self.outer + self.here;
        (brackets + constructs, constructs > 0)
    }

    /// Entering a bracket or `${`: its contents start a level of their own.
    fn enter(&mut self) -> usize {
        let saved = self.here;
        self.outer += saved;
        self.here = 0;
        saved
    }

    fn leave(&mut self, frame: &Frame) {
        self.outer -= frame.pending;
        self.here = frame.pending;
    }
}

/// How a scan ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every delimiter is closed.
    Balanced,
    /// The text ends inside an open delimiter or string (the REPL may read more).
    Open(Diagnostic),
    /// A problem more input cannot fix.
    Broken(Diagnostic),
}

/// Scans `text`, skipping comments and string contents.
// For the REPL (`needs_more_input`).
#[cfg_attr(not(any(feature = "cli", feature = "internals")), allow(dead_code))]
pub fn scan(text: &str) -> Outcome {
    scan_lines(text, None, &mut Vec::new())
}

/// [`scan`], also collecting the offsets of the lines that start outside every
/// bracket and string (where a top-level statement may begin), and the byte
/// range of every comment (`#` up to the end of its line), in order.
pub fn scan_lines(
    text: &str,
    mut top_lines: Option<&mut Vec<u32>>,
    comments: &mut Vec<(u32, u32)>,
) -> Outcome {
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut depth = Depth::default();
    // The last keyword or word seen in code, for naming what a `{` or `(` opens.
    let mut construct: Option<&'static str> = None;
    let mut prev_word_end: Option<usize> = None;
    let mut prev_word: &str = "";
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(Frame {
            open: Open::Str(triple),
            at,
            ..
        }) = stack.last().copied()
        {
            match b {
                b'\\' => {
                    // Skip the escaped character, whatever its width; a newline
                    // still ends a one-line string.
                    i += 1;
                    match text.get(i..).and_then(|rest| rest.chars().next()) {
                        Some('\n') if !triple => {}
                        Some(c) => i += c.len_utf8(),
                        None => {}
                    }
                    continue;
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    if let Some(d) = too_deep(depth.of(&stack), i, 2, "${") {
                        return Outcome::Broken(d);
                    }
                    stack.push(Frame {
                        open: Open::Interp,
                        at: i,
                        pending: depth.enter(),
                    });
                    construct = None;
                    prev_word_end = None;
                    i += 2;
                    continue;
                }
                b'"' if !triple => {
                    stack.pop();
                    i += 1;
                    continue;
                }
                b'"' if triple && bytes[i..].starts_with(b"\"\"\"") => {
                    stack.pop();
                    i += 3;
                    continue;
                }
                b'\n' if !triple => {
                    // `"${name"`: the quote meant to end the string opened a
                    // new one inside the interpolation.
                    if let [.., Frame {
                        open: Open::Interp,
                        at: interp,
                        ..
                    }, _] = stack[..]
                    {
                        return Outcome::Broken(quote_in_interpolation(interp, Span::new(at, at + 1)));
                    }
                    return Outcome::Broken(raw_quote_hint(unterminated(at, false), text, at));
                }
                _ => {
                    i += 1;
                    continue;
                }
            }
        }
        match b {
            b'#' => {
                let start = i;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                comments.push((start as u32, i as u32));
                continue;
            }
            // Words are read whole (below), so this `r` starts one.
            b'r' if bytes.get(i + 1) == Some(&b'"') => {
                match raw_string_end(text, &stack, i) {
                    Ok(end) => i = end,
                    Err(outcome) => return outcome,
                }
                prev_word_end = None;
                continue;
            }
            b'"' => {
                let triple = bytes[i..].starts_with(b"\"\"\"");
                stack.push(Frame {
                    open: Open::Str(triple),
                    at: i,
                    pending: 0,
                });
                i += if triple { 3 } else { 1 };
                prev_word_end = None;
                continue;
            }
            b'(' | b'[' | b'{' => {
                let what = describe_opener(b, construct, prev_word, prev_word_end == Some(i));
                if b == b'{' {
                    // The block of the innermost waiting `map` or `if`, if any.
                    depth.here = depth.here.saturating_sub(1);
                }
                if let Some(d) = too_deep(depth.of(&stack), i, 1, &text[i..i + 1]) {
                    return Outcome::Broken(d);
                }
                stack.push(Frame {
                    open: Open::Bracket(b, what),
                    at: i,
                    pending: depth.enter(),
                });
                if b == b'{' {
                    construct = None;
                }
                prev_word_end = None;
            }
            b')' | b']' | b'}' => {
                let expected = match stack.last() {
                    Some(Frame {
                        open: Open::Bracket(open, _),
                        ..
                    }) => closer(*open),
                    Some(Frame {
                        open: Open::Interp, ..
                    }) => b'}',
                    _ => 0,
                };
                if expected != b {
                    return Outcome::Broken(mismatched(stack.last().copied(), b, i));
                }
                if let Some(frame) = stack.pop() {
                    depth.leave(&frame);
                }
                prev_word_end = None;
            }
            b'\n' | b';' => {
                construct = None;
                prev_word_end = None;
                if let (b'\n', true, Some(lines)) = (b, stack.is_empty(), top_lines.as_deref_mut())
                {
                    lines.push(i as u32 + 1);
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                if let Some(kw) = construct_keyword(word) {
                    construct = Some(kw);
                    // Not a field (`x.map`), a key or a named argument (`if: 1`).
                    let field = start > 0 && bytes[start - 1] == b'.';
                    let key = text[i..].trim_start_matches([' ', '\t']).starts_with(':');
                    if WAIT_FOR_BLOCK.contains(&kw) && !field && !key {
                        if let Some(d) = too_deep(depth.of(&stack), start, kw.len(), kw) {
                            return Outcome::Broken(d);
                        }
                        depth.here += 1;
                    }
                }
                prev_word = word;
                prev_word_end = Some(i);
                continue;
            }
            c if c.is_ascii_digit() => {
                // Skip a number and its glued suffix, so `5m` is not the word `m`.
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                prev_word_end = None;
                continue;
            }
            b' ' | b'\t' | b'\r' => {}
            _ => prev_word_end = None,
        }
        i += 1;
    }
    match stack.last() {
        None => Outcome::Balanced,
        Some(frame) => {
            let mut d = unclosed(*frame, end_of_file(text));
            if frame.open == Open::Str(false) {
                d = raw_quote_hint(d, text, frame.at);
            }
            if frame.open == Open::Interp {
                if let Some(help) = shell_expansion_help(text, frame.at) {
                    d = d.help(help);
                }
            }
            if let Open::Bracket(open, _) = frame.open {
                if let Some(line) = likely_missing_closer(text, frame.at) {
                    let close = closer(open) as char;
                    d = d.label(
                        Span::at(line),
                        format!("perhaps `{close}` is missing before this line"),
                    );
                }
            }
            Outcome::Open(d)
        }
    }
}

/// A help line when the `${` at `at` starts a shell expansion (`${#HOME}`,
/// `${HOME:-none}`) rather than a Flow value.
pub(super) fn shell_expansion_help(text: &str, at: usize) -> Option<String> {
    let inner = text.get(at + 2..)?;
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let rest = &inner[name_len..];
    let shell = inner.starts_with(['#', '!'])
        || (name_len > 0
            && [":-", ":=", ":?", ":+", "#", "%", "/"]
                .iter()
                .any(|op| rest.starts_with(op)));
    if !shell {
        return None;
    }
    let end = inner
        .find('}')
        .map_or_else(|| floor_char_boundary(inner, 20), |i| i + 1);
    Some(format!(
        "`${{…}}` inserts a Flow value; for the shell's own expansion write `\\${{{}` (a `\\` before the `$`)",
        &inner[..end]
    ))
}

/// The first line after the one holding the opener at `at` that is indented
/// no deeper than it: where the missing closer most likely belongs.
fn likely_missing_closer(text: &str, at: usize) -> Option<usize> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent = |line: &str| line.len() - line.trim_start_matches([' ', '\t']).len();
    let opener_indent = indent(&text[line_start..]);
    let mut offset = text[at..].find('\n')? + at + 1;
    for line in text[offset..].split_inclusive('\n') {
        let trimmed = line.trim();
        let code = !trimmed.is_empty() && !trimmed.starts_with('#');
        if code && indent(line) <= opener_indent && !trimmed.starts_with([')', ']', '}']) {
            return Some(offset + indent(line));
        }
        offset += line.len();
    }
    None
}

/// Where to point at "the end of the file": just after its last visible
/// character, so the label shows on a line with code.
pub fn end_of_file(text: &str) -> Span {
    Span::at(text.trim_end().len())
}

fn closer(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

/// Names what a bracket opens, from the words just before it.
fn describe_opener(
    b: u8,
    construct: Option<&'static str>,
    prev_word: &str,
    glued: bool,
) -> Option<&'static str> {
    match b {
        b'{' => match construct {
            Some("map") => Some("the `map` body"),
            Some("flow") => Some("the `flow` body"),
            Some("if") => Some("the `if` block"),
            Some("else") => Some("the `else` block"),
            Some("try") => Some("the `try` block"),
            Some("fanout") => Some("the `fanout` branches"),
            Some("gate") => Some("the `gate` checks"),
            Some("repeat") => Some("the `repeat` body"),
            Some("match") => Some("the `match` arms"),
            Some("reduce") => Some("the `reduce` body"),
            Some("fold") => Some("the `fold` body"),
            Some("filter") => Some("the `filter` body"),
            _ => None,
        },
        b'(' if construct == Some("flow") && glued => Some("the `flow` parameters"),
        b'(' if glued && !crate::syntax::is_keyword(prev_word) => Some("the call's arguments"),
        _ => None,
    }
}

/// The error for an opener at `depth` levels deep, if that is too deep.
/// `what` is the opener as written: `(`, `${`, `map`…
fn too_deep(
    (depth, constructs): (usize, bool),
    at: usize,
    len: usize,
    what: &str,
) -> Option<Diagnostic> {
    (depth >= MAX_NESTING).then(|| {
        let message = if constructs || what == "map" || what == "if" {
            "brackets and `map`s or `if`s are nested too deeply"
        } else {
            "brackets are nested too deeply"
        };
        Diagnostic::error(Code::TooDeep, message)
            .at(
                Span::new(at, at + len),
                format!("this `{what}` is nested more than {MAX_NESTING} levels deep"),
            )
            .help("name the inner parts with `let` bindings")
    })
}

/// Just after the raw string opening at `at` (`r"` or `r"""`): it has no
/// escapes and no `${`, only its closing quotes end it.
fn raw_string_end(text: &str, stack: &[Frame], at: usize) -> Result<usize, Outcome> {
    let triple = text[at + 1..].starts_with("\"\"\"");
    if triple {
        let body = at + 4;
        return match text[body..].find("\"\"\"") {
            Some(p) => Ok(body + p + 3),
            None => Err(Outcome::Open(unterminated_raw(at, true))),
        };
    }
    let body = at + 2;
    match text[body..].find(['"', '\n']) {
        Some(p) if text.as_bytes()[body + p] == b'"' => Ok(body + p + 1),
        Some(_) => Err(Outcome::Broken(match stack.last() {
            // `"${r"`: the quote meant to end the string opened a raw one.
            Some(Frame {
                open: Open::Interp,
                at: interp,
                ..
            }) => quote_in_interpolation(*interp, Span::new(at, at + 2)),
            _ => unterminated_raw(at, false),
        })),
        None => Err(Outcome::Open(unterminated_raw(at, false))),
    }
}

/// A one-line string, opened at `quote` inside the `${` at `interp`, that the
/// line ends: the quote was meant to end the string around the `${`.
fn quote_in_interpolation(interp: usize, quote: Span) -> Diagnostic {
    Diagnostic::error(
        Code::UnclosedDelimiter,
        "expected `}` to close this `${`",
    )
    .at(
        Span::new(interp, interp + 2),
        "this interpolation is never closed",
    )
    .label(quote, "this quote is read inside the interpolation")
    .help("close the interpolation with `}` before the closing quote")
}

/// When a raw string before the unterminated one-line string at `at`, on its
/// line, ends with `\"`, that quote was most likely meant as an escape (there
/// are none in raw strings) and the string at `at` began as its end: says so.
fn raw_quote_hint(d: Diagnostic, text: &str, at: usize) -> Diagnostic {
    match raw_escaped_quote(text, at) {
        Some(backslash) => with_raw_quote_hint(d, backslash),
        None => d,
    }
}

/// The label and help for a raw string ending in the `\"` at `backslash`.
pub(super) fn with_raw_quote_hint(d: Diagnostic, backslash: usize) -> Diagnostic {
    d.label(
        Span::new(backslash, backslash + 2),
        "this quote ends the raw string",
    )
    .help(
        "a raw string ends at its first `\"`: a `\\` in it is only a backslash; \
         write a raw string with quotes as `r\"\"\"…\"\"\"`",
    )
}

/// The `\` of the last raw string before `at` on its line that ends with
/// `\"`, if any (read roughly: a `r"` inside a string counts too).
pub(super) fn raw_escaped_quote(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let mut found = None;
    while let Some(p) = text[i..at].find("r\"") {
        let open = i + p;
        let word =
            open > 0 && (bytes[open - 1].is_ascii_alphanumeric() || bytes[open - 1] == b'_');
        match text[open + 2..at].find('"').map(|q| open + 2 + q) {
            Some(close) if !word => {
                if close > open + 2 && bytes[close - 1] == b'\\' {
                    found = Some(close - 1);
                }
                i = close + 1;
            }
            _ => i = open + 2,
        }
    }
    found
}

fn unterminated_raw(at: usize, triple: bool) -> Diagnostic {
    let len = if triple { 4 } else { 2 };
    let d = Diagnostic::error(Code::UnterminatedString, "unterminated raw string")
        .at(Span::new(at, at + len), "this raw string is never closed");
    if triple {
        d.help("close it with `\"\"\"`")
    } else {
        d.help(
            "close it with `\"` on the same line; a raw string cannot hold `\"`, \
             so write one with quotes or over several lines as `r\"\"\"…\"\"\"`",
        )
    }
}

fn unterminated(at: usize, triple: bool) -> Diagnostic {
    let (quote, len) = if triple { ("\"\"\"", 3) } else { ("\"", 1) };
    let d = Diagnostic::error(Code::UnterminatedString, "unterminated string")
        .at(Span::new(at, at + len), "this string is never closed");
    if triple {
        d.help(format!("close it with `{quote}`"))
    } else {
        d.help("close it with `\"` on the same line; use `\"\"\"` for a string over several lines")
    }
}

fn unclosed(frame: Frame, end: Span) -> Diagnostic {
    let at = frame.at;
    match frame.open {
        Open::Str(triple) => unterminated(at, triple),
        Open::Interp => {
            Diagnostic::error(Code::UnclosedDelimiter, "expected `}` to close this `${`")
                .at(end, super::END_OF_TEXT)
                .label(Span::new(at, at + 2), "this interpolation is never closed")
        }
        Open::Bracket(open, what) => {
            let close = closer(open) as char;
            let open = open as char;
            let (message, label) = match what {
                Some(what) => (
                    format!("expected `{close}` to close {what}"),
                    format!("{what} opened here"),
                ),
                None => (
                    format!("expected `{close}` to close this `{open}`"),
                    format!("this `{open}` is never closed"),
                ),
            };
            Diagnostic::error(Code::UnclosedDelimiter, message)
                .at(end, super::END_OF_TEXT)
                .label(Span::new(at, at + 1), label)
        }
    }
}

fn mismatched(open: Option<Frame>, found: u8, at: usize) -> Diagnostic {
    let found = found as char;
    let here = Span::new(at, at + 1);
    match open {
        Some(Frame {
            open: Open::Bracket(open, what),
            at: open_at,
            ..
        }) => {
            let close = closer(open) as char;
            let open = open as char;
            let label = match what {
                Some(what) => format!("{what} opened here"),
                None => format!("this `{open}` is not closed"),
            };
            Diagnostic::error(
                Code::MismatchedDelimiter,
                format!("expected `{close}` to close this `{open}`, found `{found}`"),
            )
            .at(here, format!("expected `{close}`"))
            .label(Span::new(open_at, open_at + 1), label)
        }
        Some(Frame { at: open_at, .. }) => Diagnostic::error(
            Code::MismatchedDelimiter,
            format!("expected `}}` to close this `${{`, found `{found}`"),
        )
        .at(here, "expected `}`")
        .label(
            Span::new(open_at, open_at + 2),
            "this interpolation is not closed",
        ),
        None => {
            let open = match found {
                ')' => '(',
                ']' => '[',
                _ => '{',
            };
            Diagnostic::error(
                Code::MismatchedDelimiter,
                format!("unexpected `{found}` with no matching `{open}`"),
            )
            .at(here, "nothing to close here")
            .help(format!(
                "remove this `{found}`, or add the `{open}` it should close"
            ))
        }
    }
}
