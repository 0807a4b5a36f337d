//! Syntax error recovery: after pest's first error, the parse goes on from
//! the next statement, so one `flow check` reports every broken statement of
//! a script, not only the first.
//!
//! It goes on only at a top-level line (outside every bracket and string,
//! which the scan found balanced) that begins with `let`, `agent`, `param`
//! or `flow`: words no expression continues with, so the statement cut
//! short cannot run on into it, and a later error is never an echo of an
//! earlier one. What lies between two such lines is parsed in pieces of
//! about [`PIECE_BYTES`], so a script with many errors is still read about
//! once, not once per error.

use pest::Parser;

use super::{build, errors, scan, starts_statement, FlowParser, Rule};
use crate::diag::Diagnostic;

/// Syntax errors after this many are not looked for (the CLI shows 20 of
/// each kind).
pub(super) const MAX_ERRORS: usize = 100;

/// About how much text one parse covers after the first error.
const PIECE_BYTES: usize = 64 * 1024;

/// Every syntax error of `text`, the `first` (pest's, of the whole text) and
/// the ones after it: each found by parsing on from the statement after the
/// one before, with the literal errors (bad escapes, keywords as names) of
/// the statements that parse, in the order of the text.
pub(super) fn every_error(text: &str, comments: &[(u32, u32)], first: Diagnostic) -> Vec<Diagnostic> {
    let mut top_lines = Vec::new();
    // Balanced: the whole parse ran after the same scan.
    let _ = scan::scan_lines(text, Some(&mut top_lines), &mut Vec::new());
    let starts: Vec<usize> = top_lines
        .iter()
        .map(|&l| l as usize)
        .filter(|&l| starts_statement(&text[l..]))
        .collect();
    let mut found = Vec::new();
    let mut error = Some(first);
    let mut from = 0;
    while found.len() < MAX_ERRORS {
        let Some(d) = error.take() else {
            // The last piece parsed: the next one, if any is left.
            if from >= text.len() {
                break;
            }
            let end = starts
                .iter()
                .copied()
                .find(|&l| l >= from + PIECE_BYTES)
                .unwrap_or(text.len());
            match parse(text, from, end, comments) {
                Ok(literals) => {
                    found.extend(literals);
                    from = end;
                }
                Err(e) => error = Some(e),
            }
            continue;
        };
        let at = d.primary.as_ref().map_or(from, |l| l.span.start as usize);
        // The statement the error cut short: the last that starts before it
        // (an error at a statement's first word belongs to the one before).
        let broken = starts[..starts.partition_point(|&l| l < at)]
            .last()
            .copied()
            .unwrap_or(0)
            .max(from);
        // The statements before it parse: their literal errors.
        if broken > from {
            found.extend(parse(text, from, broken, comments).unwrap_or_default());
        }
        found.push(d);
        match starts.iter().copied().find(|&l| l >= at && l > broken) {
            Some(next) => from = next,
            None => break,
        }
    }
    found.sort_by_key(|d| d.primary.as_ref().map_or(usize::MAX, |l| l.span.start as usize));
    found
}

/// `text[start..end]`, a run of whole statements, parsed: the literal errors
/// of its statements, or its first syntax error, with spans into the whole
/// text.
fn parse(
    text: &str,
    start: usize,
    end: usize,
    comments: &[(u32, u32)],
) -> Result<Vec<Diagnostic>, Diagnostic> {
    let piece = &text[start..end];
    match FlowParser::parse(Rule::program, piece) {
        Ok(mut pairs) => {
            let mine = super::comments_in(comments, start, end);
            let builder = build::Builder::new(piece, start as u32, &mine);
            if let Some(pair) = pairs.next() {
                let _ = builder.program(pair);
            }
            Ok(builder.into_errors())
        }
        Err(first) => {
            // Cut short by the piece's end: the rest of the text says what
            // really follows (a statement, not the end of the file).
            if end < text.len() && only_comments(&piece[location(&first).min(piece.len())..]) {
                return parse(text, start, text.len(), comments);
            }
            let e = super::detailed_error(piece).unwrap_or(first);
            Err(errors::from_pest(piece, &e).moved(start as u32))
        }
    }
}

/// Where pest's error is.
fn location(e: &pest::error::Error<Rule>) -> usize {
    match e.location {
        pest::error::InputLocation::Pos(at) | pest::error::InputLocation::Span((at, _)) => at,
    }
}

/// Whether `text` is blank lines and comments only.
fn only_comments(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    })
}

#[cfg(test)]
mod tests {
    use super::{MAX_ERRORS, PIECE_BYTES};
    use crate::diag::Diagnostic;
    use crate::source::SourceFile;

    /// The errors of `text`: code name, line and column of each.
    fn errors(text: &str) -> Vec<(String, usize, usize)> {
        let source = SourceFile::new("t.flow", text);
        let found: Vec<Diagnostic> = crate::syntax::parse(&source).expect_err("errors");
        found
            .iter()
            .map(|d| {
                let at = d.primary.as_ref().expect("placed").span.start;
                let (line, column) = source.line_col(at);
                (d.code.name().to_string(), line, column)
            })
            .collect()
    }

    fn at(code: &str, line: usize, column: usize) -> (String, usize, usize) {
        (code.to_string(), line, column)
    }

    #[test]
    fn each_broken_statement_is_reported_once_in_the_order_of_the_text() {
        let text = "let a = 1\nlet b = = 2\nlet c = \"\\q\"\nlet d = [1 2]\nflow F(x) { x }\nF(a)\n";
        assert_eq!(
            errors(text),
            [
                at("unexpected_token", 2, 9),
                at("bad_escape", 3, 10),
                at("unexpected_token", 4, 12)
            ]
        );
        // A statement cut short at the next one's first word: one error,
        // and the next statement is still read (its own error found).
        let text = "let a = 1 +\nlet b = [1 2]\n";
        assert_eq!(
            errors(text),
            [at("unexpected_token", 2, 1), at("unexpected_token", 2, 12)]
        );
    }

    #[test]
    fn a_statement_cut_short_at_a_piece_end_is_told_by_what_follows() {
        // `let d = 1 +` is the last line of the first piece after the error
        // on line 1: what follows it is `let e`, not the end of the file.
        let mut text = String::from("let a = = 1\n");
        let from = text.len();
        let cut = "let d = 1 +\n";
        let mut i = 0;
        while text.len() + cut.len() < from + PIECE_BYTES {
            text.push_str(&format!("let x{i} = {i}\n"));
            i += 1;
        }
        text.push_str(cut);
        text.push_str("let e = 2\n");
        let line = text.lines().count();
        assert_eq!(
            errors(&text),
            [at("unexpected_token", 1, 9), at("unexpected_token", line, 1)]
        );
        let source = SourceFile::new("t.flow", text.as_str());
        let found = crate::syntax::parse(&source).expect_err("errors");
        assert!(found[1].message.contains("keyword `let`"), "{}", found[1]);
    }

    #[test]
    fn a_big_script_has_its_errors_found_in_every_piece() {
        // Past the size parsed in pieces on every core: a piece with an
        // error sends it to the whole parse, which recovers.
        let good = "let x = sh(\"echo ${1 + 2}\")\n";
        let lines = super::super::PARALLEL_MIN_BYTES * 2 / good.len();
        let broken = [10, lines / 2, lines - 3];
        let mut text = String::new();
        for i in 0..lines {
            text.push_str(if broken.contains(&i) { "let y = (1 +) \n" } else { good });
        }
        let want: Vec<_> = broken.iter().map(|&i| at("unexpected_token", i + 1, 13)).collect();
        assert_eq!(errors(&text), want);
    }

    #[test]
    fn errors_past_the_cap_are_not_looked_for() {
        let text = "let y = (1 +)\nlet z = 1\n".repeat(MAX_ERRORS + 20);
        let found = errors(&text);
        assert_eq!(found.len(), MAX_ERRORS);
        assert_eq!(found.last(), Some(&at("unexpected_token", 2 * MAX_ERRORS - 1, 13)));
    }
}
