//! Stage 1: source text to [`crate::ast::Program`] through the pest grammar in
//! `grammar/flow.pest`. The only module that names pest's `Pair` and `Rule`.
//!
//! Parsing runs in three steps, each of which can stop with diagnostics:
//!
//! 1. [`scan`]: brackets, strings and nesting depth, before pest sees the text
//!    (so unbalanced input gets a precise message and deep nesting cannot
//!    exhaust pest's stack);
//! 2. pest, under a call limit proportional to the input; its failures are
//!    turned into readable diagnostics by [`errors`];
//! 3. [`build`]: pairs to the AST, decoding literals and checking names.

mod build;
mod errors;
mod literals;
mod scan;
mod strings;

use std::num::NonZeroUsize;
use std::sync::Mutex;

use pest::Parser;

use crate::ast::Program;
use crate::diag::{Code, Diagnostic};
use crate::source::{SourceFile, MAX_SOURCE_BYTES};

pub use build::MAX_HEIGHT;
pub use scan::MAX_NESTING;

/// Words that cannot be used as names.
pub const KEYWORDS: &[&str] = &[
    "agent", "param", "flow", "let", "map", "in", "limit", "fanout", "gate", "where", "if", "else",
    "try", "retry", "backoff", "timeout", "after", "true", "false", "null",
];

/// Whether `word` is reserved.
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/flow.pest"]
struct FlowParser;

/// Pest calls allowed per byte of input (a linear grammar needs far fewer).
const CALLS_PER_BYTE: usize = 400;
/// Pest calls allowed whatever the input size.
const MIN_CALLS: usize = 1_000_000;

/// Pest's call limit and error detail are process-wide settings: this lock
/// keeps one parse's settings from leaking into another's.
static PEST: Mutex<()> = Mutex::new(());

/// Parses a whole script (or one REPL entry).
///
/// Returns every syntax error found: the first problem pest meets, or all the
/// bad literals and misused keywords of a script whose structure is sound.
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
    match scan::scan(text) {
        scan::Outcome::Balanced => {}
        scan::Outcome::Open(d) | scan::Outcome::Broken(d) => return Err(vec![d]),
    }
    let pairs = run_pest(text).map_err(|e| vec![errors::from_pest(text, &e)])?;
    let builder = build::Builder::new(text);
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

/// Whether `text` ends inside an unclosed `(`, `[`, `{`, `${` or string, so a
/// REPL should read another line before parsing it.
pub fn needs_more_input(text: &str) -> bool {
    matches!(scan::scan(text), scan::Outcome::Open(_))
}

type PestPair<'i> = pest::iterators::Pair<'i, Rule>;

fn run_pest(text: &str) -> Result<Option<PestPair<'_>>, pest::error::Error<Rule>> {
    let _guard = PEST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let limit = text
        .len()
        .saturating_mul(CALLS_PER_BYTE)
        .saturating_add(MIN_CALLS);
    pest::set_call_limit(NonZeroUsize::new(limit));
    pest::set_error_detail(false);
    match FlowParser::parse(Rule::program, text) {
        Ok(mut pairs) => Ok(pairs.next()),
        Err(first) => {
            // Parse again, collecting the tokens pest expected for the message.
            pest::set_error_detail(true);
            let detailed = FlowParser::parse(Rule::program, text);
            pest::set_error_detail(false);
            match detailed {
                Err(e) => Err(e),
                Ok(_) => Err(first),
            }
        }
    }
}
