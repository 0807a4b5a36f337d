//! Stage 1: source text to [`crate::ast::Program`] through the pest grammar in
//! `grammar/flow.pest`. The only module that names pest's `Pair` and `Rule`.
//!
//! Parsing runs in three steps, each of which can stop with diagnostics:
//!
//! 1. `scan`: brackets, strings and nesting depth, before pest sees the text
//!    (so unbalanced input gets a precise message and deep nesting cannot
//!    exhaust pest's stack);
//! 2. pest, under a fixed call limit (`CALL_LIMIT`); its failures are
//!    turned into readable diagnostics by `errors`, and after the first the
//!    parse goes on from the next statement (`recover`);
//! 3. `build`: pairs to the AST, decoding literals and checking names.

mod build;
mod constructs;
mod errors;
mod literals;
/// `Display` for the AST: a program printed back as Flow source.
mod print;
mod quick;
mod recover;
mod scan;
mod strings;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use pest::Parser;

use crate::ast::{Program, Stmt};
use crate::diag::{Code, Diagnostic};
use crate::source::{SourceFile, MAX_SOURCE_BYTES};

#[cfg(feature = "internals")]
pub use build::MAX_HEIGHT;
#[cfg(feature = "internals")]
pub use scan::MAX_NESTING;

/// The keywords, written once: [`KEYWORDS`] lists them, and [`is_keyword`]
/// is a `match` on them (a jump on the length, then a compare or two)
/// rather than a search of the list, as the scan and the parser ask it
/// about every word of a script.
macro_rules! keywords {
    ($($word:literal),* $(,)?) => {
        /// Words that cannot be used as names.
        pub const KEYWORDS: &[&str] = &[$($word),*];

        /// Whether `word` is reserved: one of [`KEYWORDS`].
        pub fn is_keyword(word: &str) -> bool {
            matches!(word, $($word)|*)
        }
    };
}

keywords![
    "agent", "param", "flow", "let", "map", "in", "limit", "fanout", "gate", "where", "if", "else",
    "try", "retry", "backoff", "timeout", "after", "true", "false", "null", "repeat", "match",
    "reduce", "fold", "filter",
];

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/flow.pest"]
struct FlowParser;

// Pest has two settings, its call limit and its error detail, and both are
// process-wide (`pest::set_call_limit`, `pest::set_error_detail`): each parse
// reads them once, when it starts. Pest 2.9 has no way to give one parse its
// own values, so no parse here ever changes a setting another parse reads:
//
// - The call limit is set once per process, to a fixed value large enough for
//   the largest script Flow reads (`install_pest_settings`). It is a backstop
//   against runaway backtracking, not what keeps parsing fast: the scan bounds
//   nesting before pest runs, and the grammar does not parse nested
//   constructs again when it backtracks (see `object` in the grammar), so
//   pest's work grows with the input times its nesting. (It used to be
//   proportional to each input and set before each parse, under a lock.)
// - Error detail (the tokens pest expected, for the message) costs about 60%
//   of parsing time when on, so it stays off, and a script that fails is
//   parsed a second time with it on (`detailed_error`). The setting is on
//   while such a parse runs; another parse starting meanwhile then records
//   detail too, which costs it time but cannot change its result (detail is
//   bookkeeping beside the parse, and a first parse's error is never shown).
//   Only the count of detailed parses is locked, never a parse.
//
// A host program that uses pest itself shares these settings with Flow.

/// Pest calls allowed per byte of input. Scripts need 10 to 50 (the test
/// corpus, the benchmark, random nestings); the deepest nesting the scan
/// allows, of strings in `${…}` in objects, about 230.
const CALLS_PER_BYTE: usize = 400;
/// Pest calls allowed whatever the input size.
const MIN_CALLS: usize = 1_000_000;
/// Pest's call limit, the same for every parse: enough for the largest script.
const CALL_LIMIT: usize = MAX_SOURCE_BYTES
    .saturating_mul(CALLS_PER_BYTE)
    .saturating_add(MIN_CALLS);

/// Sets pest's call limit the first time Flow parses.
fn install_pest_settings() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| pest::set_call_limit(NonZeroUsize::new(CALL_LIMIT)));
}

/// How many parses want pest's error detail: it is on while this is not 0.
static DETAILED: Mutex<usize> = Mutex::new(0);

/// Pest's error detail is on while one of these lives.
struct Detailed;

impl Detailed {
    fn on() -> Detailed {
        let mut count = DETAILED.lock().unwrap_or_else(|p| p.into_inner());
        if *count == 0 {
            pest::set_error_detail(true);
        }
        *count += 1;
        Detailed
    }
}

impl Drop for Detailed {
    fn drop(&mut self) {
        let mut count = DETAILED.lock().unwrap_or_else(|p| p.into_inner());
        *count -= 1;
        if *count == 0 {
            pest::set_error_detail(false);
        }
    }
}

/// Parses a whole script (or one REPL entry).
///
/// Returns every syntax error found: each statement's first (`recover.rs`),
/// with the bad literals and misused keywords of the statements that parse;
/// or the scan's one error for a bracket or string left open or closed
/// twice, after which no statement's limits are known.
pub fn parse(source: &SourceFile) -> Result<Program, Vec<Diagnostic>> {
    let text: &str = &source.text;
    if text.len() > MAX_SOURCE_BYTES {
        return Err(vec![Diagnostic::error(
            Code::TooLarge,
            format!(
                "the script is {} bytes, more than the {} MiB Flow reads",
                text.len(),
                MAX_SOURCE_BYTES / (1024 * 1024)
            ),
        )
        .help("split it into several scripts")]);
    }
    let parallel = text.len() >= PARALLEL_MIN_BYTES;
    // Room for a line every 16 bytes (the chain of `bench/` has one every
    // 26): room not used costs no memory, a vector outgrowing it is copied.
    let mut top_lines = Vec::with_capacity(if parallel { text.len() / 16 + 16 } else { 0 });
    let mut comments = Vec::new();
    match scan::scan_lines(text, parallel.then_some(&mut top_lines), &mut comments) {
        scan::Outcome::Balanced => {}
        scan::Outcome::Open(d) | scan::Outcome::Broken(d) => return Err(vec![d]),
    }
    if parallel {
        match parse_in_parallel(text, &top_lines, &comments) {
            Ok(program) => return Ok(program),
            // Every error, found piece by piece: no failing parse of the
            // whole text, which takes seconds on a big one.
            Err(NotInPieces::Failed) => {
                let errors = recover::every_error(text, &comments, Some(top_lines), None);
                if !errors.is_empty() {
                    return Err(errors);
                }
            }
            Err(NotInPieces::Uncut) => {}
        }
    }
    parse_whole(text, &comments)
}

/// Parses the whole text in one pest run (after a successful scan, which
/// found its `comments`).
fn parse_whole(text: &str, comments: &[(u32, u32)]) -> Result<Program, Vec<Diagnostic>> {
    let pairs = run_pest(text).map_err(|e| recover::every_error(text, comments, None, Some(&e)))?;
    let builder = build::Builder::new(text, 0, comments);
    let program = pairs.map(|pair| builder.program(pair));
    let errors = builder.into_errors();
    if !errors.is_empty() {
        return Err(errors);
    }
    match program {
        Some(Ok(program)) => Ok(program),
        // `Stop` always comes with an error, and pest always yields `program`.
        _ => Err(vec![Diagnostic::error(
            Code::UnexpectedToken,
            "the parser stopped without a reason",
        )]),
    }
}

/// The label at the end of a script that ends inside a bracket or a string
/// interpolation. A REPL entry says so in its own words
/// ([`entry_end_label`]).
pub(crate) const END_OF_TEXT: &str = "the file ends here";

/// An entry of the REPL's diagnostic, with [`END_OF_TEXT`] said of the entry,
/// not of a file it is not.
#[cfg(feature = "cli")]
pub fn entry_end_label(mut diagnostic: Diagnostic) -> Diagnostic {
    if let Some(label) = diagnostic.primary.as_mut().filter(|l| l.message == END_OF_TEXT) {
        label.message = "the entry ends here".to_string();
    }
    diagnostic
}

/// Scripts at least this big are parsed in pieces, on every core (and the
/// engine checks them while it lowers them; `flow` turns huge pages on for
/// them at once).
pub(crate) const PARALLEL_MIN_BYTES: usize = 256 * 1024;

/// About how big a piece is: small enough for its pest pairs to stay in cache.
const PIECE_BYTES: usize = 64 * 1024;

/// Why [`parse_in_parallel`] made no program.
enum NotInPieces {
    /// One core, or too few statements to cut at.
    Uncut,
    /// A piece has a problem.
    Failed,
}

/// Parses a big script as pieces cut at top-level statements, on several
/// threads, then joins them.
fn parse_in_parallel(
    text: &str,
    top_lines: &[u32],
    comments: &[(u32, u32)],
) -> Result<Program, NotInPieces> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 {
        return Err(NotInPieces::Uncut);
    }
    let mut candidates = top_lines
        .iter()
        .map(|&l| l as usize)
        .filter(|&l| starts_statement(&text[l..]));
    // Each thread parses several pieces one after the other: a small piece's
    // pairs are built into statements while still in cache, and its memory
    // is reused by the next, instead of one pest queue per thread for the
    // whole half.
    let count = (text.len() / PIECE_BYTES).clamp(threads, threads * 64);
    let mut cuts = vec![0];
    for k in 1..count {
        let target = text.len() * k / count;
        match candidates.by_ref().find(|&l| l >= target) {
            Some(cut) => cuts.push(cut),
            None => break,
        }
    }
    cuts.push(text.len());
    if cuts.len() < 3 {
        return Err(NotInPieces::Uncut);
    }
    install_pest_settings();
    let ranges: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    // The threads take the pieces in turn from a counter, so a thread slowed
    // down (by other processes, or by the kernel finding it fresh memory)
    // parses fewer of them instead of holding up the others.
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut done: Vec<(usize, Vec<Stmt>)> = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(start, end)) = ranges.get(i) else {
                break;
            };
            match parse_piece(text, start, end, top_lines, comments) {
                Some(stmts) => done.push((i, stmts)),
                None => failed.store(true, Ordering::Relaxed),
            }
        }
        done
    };
    let mut pieces: Vec<Option<Vec<Stmt>>> = ranges.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .stack_size(8 << 20)
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        for handle in handles {
            for (i, stmts) in handle.join().unwrap_or_default() {
                pieces[i] = Some(stmts);
            }
        }
    });
    // A piece that failed, or that no thread parsed (none could start).
    let Some(pieces) = pieces.into_iter().collect::<Option<Vec<Vec<Stmt>>>>() else {
        return Err(match failed.load(Ordering::Relaxed) {
            true => NotInPieces::Failed,
            false => NotInPieces::Uncut,
        });
    };
    // One copy of the statements, into a vector of the right size.
    let mut stmts = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
    for mut piece in pieces {
        stmts.append(&mut piece);
    }
    Ok(Program {
        stmts,
        span: crate::source::Span::new(0, text.len()),
    })
}

/// One piece of [`parse_in_parallel`], `text[start..end]`: its statements,
/// with spans into the whole text. A top-level line of the simplest form
/// followed by another `let` line is built by [`quick`]; the lines between
/// such lines go to pest, a run at a time.
fn parse_piece(
    text: &str,
    start: usize,
    end: usize,
    top_lines: &[u32],
    comments: &[(u32, u32)],
) -> Option<Vec<Stmt>> {
    let within = |at: usize| top_lines.partition_point(|&l| (l as usize) < at);
    let lines = &top_lines[within(start)..within(end)];
    // At most a statement a top-level line: no vector grown by doubling.
    let mut stmts = Vec::with_capacity(lines.len());
    // Where the lines not built yet begin.
    let mut pending = start;
    for (i, &line) in lines.iter().enumerate() {
        let line = line as usize;
        let next = lines.get(i + 1).map_or(end, |&n| n as usize);
        // One line (its newline the last byte before the next top-level
        // line), then a `let`, or the piece's end (a statement's start).
        let body = text[line..next].strip_suffix('\n').unwrap_or(&text[line..next]);
        let followed = next == end || text[next..].starts_with("let ");
        if body.contains('\n') || !followed {
            continue;
        }
        let Some(stmt) = quick::let_call(body, line) else {
            continue;
        };
        if pending < line {
            stmts.append(&mut parse_with_pest(text, pending, line, comments)?);
        }
        stmts.push(stmt);
        pending = next;
    }
    if pending < end {
        stmts.append(&mut parse_with_pest(text, pending, end, comments)?);
    }
    Some(stmts)
}

/// `text[start..end]` parsed by pest, with spans into the whole text.
fn parse_with_pest(
    text: &str,
    start: usize,
    end: usize,
    comments: &[(u32, u32)],
) -> Option<Vec<Stmt>> {
    let mine = comments_in(comments, start, end);
    let piece = &text[start..end];
    let pair = FlowParser::parse(Rule::program, piece).ok()?.next()?;
    let builder = build::Builder::new(piece, start as u32, &mine);
    let program = builder.program(pair).ok()?;
    if !builder.into_errors().is_empty() {
        return None;
    }
    Some(program.stmts)
}

/// The comments of `text[start..end]` (the scan lists them in order), as
/// offsets into that piece.
fn comments_in(comments: &[(u32, u32)], start: usize, end: usize) -> Vec<(u32, u32)> {
    let from = |at: usize| comments.partition_point(|c| (c.0 as usize) < at);
    comments[from(start)..from(end)]
        .iter()
        .map(|&(a, b)| (a - start as u32, b - start as u32))
        .collect()
}

/// The keywords that begin a statement, and that no expression continues
/// with: a top-level line starting with one starts a statement.
pub(super) const STATEMENT_KEYWORDS: [&str; 4] = ["let", "agent", "param", "flow"];

/// Whether a top-level line begins with a word no expression can continue with.
fn starts_statement(line: &str) -> bool {
    let line = line.trim_start_matches([' ', '\t']);
    STATEMENT_KEYWORDS.iter().any(|k| {
        line.strip_prefix(k)
            .is_some_and(|rest| rest.starts_with([' ', '\t']))
    })
}

/// Whether `text` ends inside an unclosed `(`, `[`, `{`, `${` or string, so a
/// REPL should read another line before parsing it.
// For the REPL.
#[cfg_attr(not(any(feature = "cli", feature = "internals")), allow(dead_code))]
pub fn needs_more_input(text: &str) -> bool {
    matches!(scan::scan(text), scan::Outcome::Open(_))
}

type PestPair<'i> = pest::iterators::Pair<'i, Rule>;

fn run_pest(text: &str) -> Result<Option<PestPair<'_>>, pest::error::Error<Rule>> {
    install_pest_settings();
    match FlowParser::parse(Rule::program, text) {
        Ok(mut pairs) => Ok(pairs.next()),
        Err(first) => Err(detailed_error(text).unwrap_or(first)),
    }
}

/// Parses again a script that failed, with pest's error detail on, for the
/// tokens it expected (`None` if it parses: it cannot, the parse is the same).
fn detailed_error(text: &str) -> Option<pest::error::Error<Rule>> {
    let _detail = Detailed::on();
    FlowParser::parse(Rule::program, text).err()
}

#[cfg(test)]
mod keyword_tests {
    #[test]
    fn every_keyword_and_no_near_miss_is_reserved() {
        for word in super::KEYWORDS {
            assert!(super::is_keyword(word), "{word}");
            for other in [word[1..].to_string(), format!("{word}s"), word.to_uppercase()] {
                assert!(!super::is_keyword(&other), "{other}");
            }
        }
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;

    /// A big script from the valid corpus, repeated past the parallel threshold.
    fn big_script() -> String {
        let files = crate::testing::project_files("tests/cases/syntax/ok");
        let corpus: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap() + "\n")
            .collect();
        let mut text = String::new();
        while text.len() < 2 * PARALLEL_MIN_BYTES {
            text.push_str(&corpus);
        }
        text
    }

    /// `text` parsed in pieces (`None` on one core) and whole.
    fn in_pieces_and_whole(text: &str) -> Option<(Program, Result<Program, Vec<Diagnostic>>)> {
        let (mut lines, mut comments) = (Vec::new(), Vec::new());
        assert!(matches!(
            scan::scan_lines(text, Some(&mut lines), &mut comments),
            scan::Outcome::Balanced
        ));
        let parallel = parse_in_parallel(text, &lines, &comments).ok();
        if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
            assert!(parallel.is_some(), "a big script is cut into pieces");
        }
        parallel.map(|parallel| (parallel, parse_whole(text, &comments)))
    }

    #[test]
    fn parallel_parse_equals_a_whole_parse() {
        if let Some((parallel, whole)) = in_pieces_and_whole(&big_script()) {
            assert_eq!(Ok(parallel), whole);
        }
    }

    /// A big script with errors: found piece by piece, they are those a
    /// failed parse of the whole text leads to.
    #[test]
    fn errors_found_in_pieces_equal_those_after_a_whole_parse() {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            // One core parses whole: the two sides would be the same path.
            return;
        }
        let mut text = big_script();
        let third = text.len() / 3;
        let at = third + text[third..].find("\nlet ").expect("a statement") + 1;
        text.insert_str(at, "let broken = (1 +)\n");
        text.push_str("let q = \"\\q\"\nlet end = = 1\n");
        let (mut lines, mut comments) = (Vec::new(), Vec::new());
        scan::scan_lines(&text, Some(&mut lines), &mut comments);
        let in_pieces = parse(&SourceFile::new("big.flow", text.clone())).expect_err("errors");
        let whole = parse_whole(&text, &comments).expect_err("errors");
        assert_eq!(in_pieces.len(), 3, "{in_pieces:?}");
        assert_eq!(in_pieces, whole);
    }

    /// Lines of the simplest form among everything that looks like them but
    /// is not a whole top-level statement: the pieces' quick path must give
    /// the tree of a whole pest parse.
    #[test]
    fn simple_lines_among_look_alikes_give_a_whole_parse() {
        let block = [
            "let a0 = noop()",
            "let a1 = noop(a0)",
            "let a2 = noop(a1, b: a0)",
            "let a3 = noop(a2) ",
            "let a4 = noop(a3)",
            "  retry 2",
            "let a5 = noop(a4)",
            "where true",
            "let a6 = noop(a5)",
            "",
            "let a7 = noop(a6) # a comment",
            "let a8 = noop(a7)\r",
            "flow f(x) {",
            "let inner = noop(x)",
            "let inner2 = noop(inner)",
            "inner2",
            "}",
            "let s = \"\"\"",
            "let not_code = noop(a0)",
            "let nor_this = noop(a1)",
            "\"\"\"",
            "let a9 = noop(",
            "  a8)",
            "let a10 = noop(a9)",
            "let a11 = noop(a10); let a12 = noop(a11)",
            "let a13 = noop(a12)",
            "  timeout 5s",
            "let a14 = noop(a13)",
            "# a comment line",
            "let a15 = noop(a14)",
            "let a16 = noop(a15)",
        ]
        .join("\n");
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 2 * PARALLEL_MIN_BYTES {
            // Names of their own for each copy: the tree, not the checker, is compared.
            text.push_str(&block.replace("a", &format!("c{i}_")));
            text.push('\n');
            i += 1;
        }
        text.push_str("let last = noop(c0_16)");
        if let Some((parallel, whole)) = in_pieces_and_whole(&text) {
            let whole = whole.expect("the script parses");
            assert_eq!(parallel.stmts.len(), whole.stmts.len());
            for (quick, pest) in parallel.stmts.iter().zip(&whole.stmts) {
                assert_eq!(quick, pest);
            }
            assert_eq!(parallel, whole);
        }
    }

    #[test]
    fn a_problem_in_a_piece_gives_the_whole_parse_diagnostics() {
        let mut text = big_script();
        text.push_str("let broken = = 2\n");
        let source = SourceFile::new("big.flow", text.clone());
        let mut comments = Vec::new();
        scan::scan_lines(&text, None, &mut comments);
        let parsed = parse(&source);
        assert!(parsed.is_err());
        assert_eq!(parsed, parse_whole(&text, &comments));
    }
}
