//! Syntax error recovery: after pest's first error, the parse goes on from
//! the next statement, so one `flow check` reports every broken statement of
//! a script, not only the first.
//!
//! It goes on only past the point where pest stopped, at a top-level line
//! (outside every bracket and string, which the scan found balanced) that
//! begins with `let`, `agent`, `param` or `flow`: words no expression
//! continues with, so the statement cut short cannot run on into it, and a
//! later error is never an echo of an earlier one. The statements before the
//! broken one are parsed again on their own, for their own errors: the
//! broken statement is the last top-level line before the error whose
//! predecessors parse without running into it. The text after an error is
//! parsed in pieces of about [`PIECE_BYTES`] (each first as the parallel
//! parse does it, which builds simple lines without pest), so a script with
//! many errors is still read about once, not once per error.

use pest::Parser;

use super::{build, errors, scan, starts_statement, FlowParser, Rule, PIECE_BYTES};
use crate::diag::Diagnostic;
use crate::source::floor_char_boundary;

/// Syntax errors after this many are not looked for (the CLI shows 20 of
/// each kind); literal errors do not count.
pub(super) const MAX_ERRORS: usize = 100;

/// How many top-level lines back a broken statement's start is looked for
/// (a statement over this many lines costs about 30 ms of parses).
const MAX_STEPS_BACK: usize = 256;

/// A parse that failed: its diagnostic, and where pest stopped (in the whole
/// text), which the error may be placed before (a keyword used as a name is
/// shown where it was bound).
struct Failure {
    diagnostic: Diagnostic,
    reached: usize,
    /// Pest reached the end of the piece it was given: the statement there
    /// goes on past it.
    at_end: bool,
}

/// Every syntax error of `text`, with the literal errors (bad escapes,
/// keywords as names) of the statements that parse, in the order of the
/// text. `top_lines`: the scan's, when it collected them; `first`: the
/// failure of the whole text's parse, when one was made.
pub(super) fn every_error(
    text: &str,
    comments: &[(u32, u32)],
    top_lines: Option<Vec<u32>>,
    first: Option<&pest::error::Error<Rule>>,
) -> Vec<Diagnostic> {
    let top_lines = top_lines.unwrap_or_else(|| {
        let mut lines = Vec::new();
        // Balanced: the parse ran after the same scan.
        let _ = scan::scan_lines(text, Some(&mut lines), &mut Vec::new());
        lines
    });
    let starts = top_lines
        .iter()
        .map(|&l| l as usize)
        .filter(|&l| starts_statement(&text[l..]))
        .collect();
    let mut recovery = Recovery {
        text,
        comments,
        top_lines,
        starts,
        found: Vec::new(),
        failures: 0,
        stopped: false,
    };
    let first = first.map(|e| recovery.failure(0, text.len(), e));
    recovery.errors_in(0, text.len(), first);
    let stopped = recovery.stopped;
    let mut found = recovery.found;
    found.sort_by_key(|d| d.primary.as_ref().map_or(usize::MAX, |l| l.span.start as usize));
    // A statement parsed again on its own fails as it did in a longer run
    // (a keyword bound as a name is shown where it is bound): that error
    // once, with the more it says (the longer run also shows the keyword
    // read).
    let place = |d: &Diagnostic| d.primary.as_ref().map(|l| l.span);
    found.dedup_by(|later, kept| {
        let same = later.code == kept.code && place(later) == place(kept) && later.message == kept.message;
        if same && later.labels.len() > kept.labels.len() {
            std::mem::swap(later, kept);
        }
        same
    });
    if stopped {
        if let Some(last) = found.last_mut() {
            last.notes.push(format!(
                "the parse stopped looking after {MAX_ERRORS} syntax errors: there may be more"
            ));
        }
    }
    found
}

struct Recovery<'t> {
    text: &'t str,
    comments: &'t [(u32, u32)],
    /// The lines that start outside every bracket and string.
    top_lines: Vec<u32>,
    /// Those of them that start a statement: where a parse may go on.
    starts: Vec<usize>,
    found: Vec<Diagnostic>,
    /// The syntax errors among them (the cap counts these).
    failures: usize,
    /// The cap was met with text left to read.
    stopped: bool,
}

impl Recovery<'_> {
    /// The errors of `text[from..end)`, a run of whole statements, given the
    /// failure of its parse when known.
    fn errors_in(&mut self, mut from: usize, end: usize, mut known: Option<Failure>) {
        while from < end {
            if self.failures == MAX_ERRORS {
                self.stopped = true;
                return;
            }
            let failure = match known.take() {
                Some(failure) => failure,
                None => {
                    let cut = self.piece_end(from, end);
                    match self.parse(from, cut) {
                        Ok(literals) => {
                            self.found.extend(literals);
                            from = cut;
                            continue;
                        }
                        // The piece's last statement runs on past it: the
                        // rest of the run says how it really ends.
                        Err(f) if f.at_end && cut < end => match self.parse(from, end) {
                            Ok(literals) => {
                                self.found.extend(literals);
                                return;
                            }
                            Err(f) => f,
                        },
                        Err(f) => f,
                    }
                }
            };
            let broken = self.broken_statement(from, failure.reached);
            self.before(from, broken);
            self.found.push(failure.diagnostic);
            self.failures += 1;
            // Past all pest read, at the next statement.
            let at = self.starts.partition_point(|&l| l < failure.reached.max(broken + 1));
            match self.starts.get(at) {
                Some(&next) if next < end => from = next,
                _ => return,
            }
        }
    }

    /// Where the statement pest stopped in at `reached` starts (no earlier
    /// than `from`): the last top-level line before it that the statement
    /// before does not run on into. Each line is tried from the statement
    /// before it, not from `from`, so a statement that runs over many lines
    /// costs a parse of itself per line, not of all the text before it.
    /// After [`MAX_STEPS_BACK`] lines: the last statement that starts before.
    fn broken_statement(&self, from: usize, reached: usize) -> usize {
        let statement_before = |at: usize| {
            let i = self.starts.partition_point(|&l| l < at);
            i.checked_sub(1).map_or(from, |i| self.starts[i]).max(from)
        };
        let mut broken = reached;
        for _ in 0..MAX_STEPS_BACK {
            let at = self.top_lines.partition_point(|&l| (l as usize) < broken);
            broken = match at.checked_sub(1).map(|i| self.top_lines[i] as usize) {
                Some(line) if line > from => line,
                _ => return from,
            };
            if !self.runs_on(statement_before(broken), broken) {
                return broken;
            }
        }
        statement_before(reached)
    }

    /// Whether the statements of `text[start..end]` run on past its end: pest
    /// stops at its end (no detail asked, no diagnostic made).
    fn runs_on(&self, start: usize, end: usize) -> bool {
        let piece = &self.text[start..end];
        match FlowParser::parse(Rule::program, piece) {
            Ok(_) => false,
            Err(e) => only_comments(&piece[location(piece, &e)..]),
        }
    }

    /// The errors of `text[from..broken)`, the statements before a broken one.
    fn before(&mut self, from: usize, broken: usize) {
        if broken > from {
            match self.parse(from, broken) {
                Ok(literals) => self.found.extend(literals),
                Err(f) => self.errors_in(from, broken, Some(f)),
            }
        }
    }

    /// Where a piece starting at `from` ends: the first statement at least
    /// `PIECE_BYTES` on, or `end`.
    fn piece_end(&self, from: usize, end: usize) -> usize {
        let at = self.starts.partition_point(|&l| l < from + PIECE_BYTES);
        self.starts.get(at).copied().filter(|&l| l < end).unwrap_or(end)
    }

    /// `text[start..end]` parsed: the literal errors of its statements, or
    /// its first syntax error.
    fn parse(&self, start: usize, end: usize) -> Result<Vec<Diagnostic>, Failure> {
        // The parallel parse's way first: no pest for simple lines, and no
        // tree built twice. `None` for any problem, which pest then finds.
        if super::parse_piece(self.text, start, end, &self.top_lines, self.comments).is_some() {
            return Ok(Vec::new());
        }
        let piece = &self.text[start..end];
        match FlowParser::parse(Rule::program, piece) {
            Ok(mut pairs) => {
                let mine = super::comments_in(self.comments, start, end);
                let builder = build::Builder::new(piece, start as u32, &mine);
                if let Some(pair) = pairs.next() {
                    let _ = builder.program(pair);
                }
                Ok(builder.into_errors())
            }
            Err(e) => {
                let e = super::detailed_error(piece).unwrap_or(e);
                Err(self.failure(start, end, &e))
            }
        }
    }

    /// The failure of pest's parse of `text[start..end]`.
    fn failure(&self, start: usize, end: usize, e: &pest::error::Error<Rule>) -> Failure {
        let piece = &self.text[start..end];
        let at = location(piece, e);
        Failure {
            diagnostic: errors::from_pest(piece, e).moved(start as u32),
            reached: start + at,
            at_end: only_comments(&piece[at..]),
        }
    }
}

/// Where pest stopped in `piece`.
fn location(piece: &str, e: &pest::error::Error<Rule>) -> usize {
    let at = match e.location {
        pest::error::InputLocation::Pos(at) | pest::error::InputLocation::Span((at, _)) => at,
    };
    floor_char_boundary(piece, at.min(piece.len()))
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
    fn a_keyword_bound_as_a_name_is_one_error_where_it_is_bound() {
        let text = "let filter = \"*.txt\"\nlet files = sh(\"ls ${filter}\")\n";
        assert_eq!(errors(text), [at("keyword_as_name", 1, 5)]);
    }

    #[test]
    fn the_statements_before_one_that_runs_on_are_still_checked() {
        // `agent A =` goes on past the blank line, into `let`: the error is
        // on line 4, where the backend was looked for; the bad escape before
        // it is still found.
        let text = "let q = \"\\q\"\nagent A =\n\nlet x = sh(\"echo\")\n";
        assert_eq!(
            errors(text),
            [at("bad_escape", 1, 10), at("unexpected_token", 4, 1)]
        );
        // Lines that start no statement (a call) are checked as well.
        let text = "let a = = 1\nlet b = 1\nsh(\"echo \\q\")\nsh(1 2)\nlet c = 3 3\n";
        assert_eq!(
            errors(text),
            [
                at("unexpected_token", 1, 9),
                at("bad_escape", 3, 10),
                at("unexpected_token", 4, 6),
                at("unexpected_token", 5, 11)
            ]
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
        // A statement that runs on past a piece, and a bad escape after it:
        // the rest parsed whole once, each error found once.
        let mut text = String::from("let a = = 1\n");
        let cut = "agent A =\n";
        while text.len() + cut.len() < from + PIECE_BYTES {
            text.push_str("let x = 1\n");
        }
        text.push_str(cut);
        text.push_str("let (\"x\")\nlet q = \"\\q\"\n");
        let found = errors(&text);
        let codes: Vec<&str> = found.iter().map(|(code, _, _)| code.as_str()).collect();
        assert_eq!(codes, ["unexpected_token", "keyword_as_name", "bad_escape"], "{found:?}");
    }

    #[test]
    fn a_big_script_has_its_errors_found_in_every_piece() {
        // Past the size parsed in pieces on every core: a piece with an
        // error has the errors found piece by piece (one core: after a
        // whole parse).
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
        let source = SourceFile::new("t.flow", text.as_str());
        let last = crate::syntax::parse(&source).expect_err("errors").pop().expect("one");
        assert!(last.notes.iter().any(|n| n.contains("stopped looking")), "{last}");
        // Literal errors are not syntax errors: they do not count.
        let text = "let q = \"\\q\"\n".repeat(MAX_ERRORS + 20) + "let z = = 1\n";
        let source = SourceFile::new("t.flow", text.as_str());
        let found = crate::syntax::parse(&source).expect_err("errors");
        assert_eq!(found.len(), MAX_ERRORS + 21);
        assert!(found.iter().all(|d| d.notes.is_empty()), "nothing was left unread");
    }

    #[test]
    fn a_statement_over_many_lines_is_found_whole() {
        // `let x` runs on over 80 lines ending with `+`: the error is where
        // `let y` starts, and `let z`'s is still found after it.
        let text = format!(
            "let w = \"\\q\"\nlet x = 1 +\n{}let y = 3\nlet z = = 1\n",
            "2 +\n".repeat(80)
        );
        assert_eq!(
            errors(&text),
            [
                at("bad_escape", 1, 10),
                at("unexpected_token", 83, 1),
                at("unexpected_token", 84, 9)
            ]
        );
    }
}
