//! The one diagnostic type of every phase (syntax, check, lint, runtime), and its
//! rendering through miette as text or JSON.
//!
//! A [`Diagnostic`] holds spans, never source text: the source is attached when it
//! is rendered, so the same value can be shown against a file, a REPL entry or a
//! string handed to the engine.

use std::fmt;

use serde_json::json;

use crate::source::{SourceFile, Span};

/// How bad a diagnostic is. Only errors fail `flow check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Reported; the script still runs.
    Warning,
    /// The script does not run (or the run failed).
    Error,
}

impl Severity {
    /// `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Declares [`Code`]: every stable diagnostic code, its phase and its name.
macro_rules! codes {
    ($($variant:ident => $phase:literal :: $name:literal,)*) => {
        /// A stable diagnostic code such as `flow::check::undefined_name`.
        ///
        /// Tests assert on codes, not on prose; editors and CI match on them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $(#[doc = concat!("`flow::", $phase, "::", $name, "`")] $variant,)* }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The phase that reports it: `syntax`, `check`, `lint` or `runtime`.
            pub fn phase(self) -> &'static str {
                match self { $(Code::$variant => $phase,)* }
            }

            /// The short name, e.g. `undefined_name`.
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }
        }
    };
}

codes! {
    // syntax
    UnexpectedToken => "syntax"::"unexpected_token",
    UnclosedDelimiter => "syntax"::"unclosed_delimiter",
    MismatchedDelimiter => "syntax"::"mismatched_delimiter",
    UnterminatedString => "syntax"::"unterminated_string",
    KeywordAsName => "syntax"::"keyword_as_name",
    BadDuration => "syntax"::"bad_duration",
    BadNumber => "syntax"::"bad_number",
    BadEscape => "syntax"::"bad_escape",
    TooDeep => "syntax"::"too_deep",
    TooLarge => "syntax"::"too_large",
    TooComplex => "syntax"::"too_complex",
    // check
    UndefinedName => "check"::"undefined_name",
    UsedBeforeBound => "check"::"used_before_bound",
    DuplicateBinding => "check"::"duplicate_binding",
    DuplicateKey => "check"::"duplicate_key",
    UnknownBackend => "check"::"unknown_backend",
    UnknownFunction => "check"::"unknown_function",
    WrongArity => "check"::"wrong_arity",
    UnknownArgument => "check"::"unknown_argument",
    MissingArgument => "check"::"missing_argument",
    NotCallable => "check"::"not_callable",
    NotAValue => "check"::"not_a_value",
    UnsafeInterpolation => "check"::"unsafe_interpolation",
    RecursiveFlow => "check"::"recursive_flow",
    WhereOutsideGate => "check"::"where_outside_gate",
    ErrorOutsideTry => "check"::"error_outside_try",
    MisplacedDeclaration => "check"::"misplaced_declaration",
    UnusedBinding => "check"::"unused_binding",
    BadLiteral => "check"::"bad_literal",
    CapabilityDenied => "check"::"capability_denied",
    NonExhaustiveMatch => "check"::"non_exhaustive_match",
    UnreachableArm => "check"::"unreachable_arm",
    UnknownField => "check"::"unknown_field",
    TypeMismatch => "check"::"type_mismatch",
    // lint: sequential when parallel is possible
    RedundantAfter => "lint"::"redundant_after",
    UnneededAfter => "lint"::"unneeded_after",
    AfterChain => "lint"::"after_chain",
    MapLimitOne => "lint"::"map_limit_one",
    // lint: too many dependencies
    TooManyInputs => "lint"::"too_many_inputs",
    WholeValuePassed => "lint"::"whole_value_passed",
    // lint: god agent
    GodAgent => "lint"::"god_agent",
    ManyResponsibilities => "lint"::"many_responsibilities",
    SingleCallScript => "lint"::"single_call_script",
    // lint: the rest
    ConstantCondition => "lint"::"constant_condition",
    SingleCheckGate => "lint"::"single_check_gate",
    ImplicitResult => "lint"::"implicit_result",
    RetryWithoutBackoff => "lint"::"retry_without_backoff",
    MissingTimeout => "lint"::"missing_timeout",
    UnquotedShellVar => "lint"::"unquoted_shell_var",
    InterpolatedCommand => "lint"::"interpolated_command",
    UnusedAllow => "lint"::"unused_allow",
    // runtime
    TaskFailed => "runtime"::"task_failed",
    TaskTimedOut => "runtime"::"timed_out",
    Skipped => "runtime"::"skipped",
    Cancelled => "runtime"::"cancelled",
    GateFailed => "runtime"::"gate_failed",
    MissingField => "runtime"::"missing_field",
    IndexOutOfRange => "runtime"::"index_out_of_range",
    DivisionByZero => "runtime"::"division_by_zero",
    TypeError => "runtime"::"type_error",
    BadValue => "runtime"::"bad_value",
    BadParam => "runtime"::"bad_param",
    UnknownParam => "runtime"::"unknown_param",
    NoMatch => "runtime"::"no_match",
    DidNotConverge => "runtime"::"did_not_converge",
    EmptyReduce => "runtime"::"empty_reduce",
    BudgetExhausted => "runtime"::"budget_exhausted",
}

impl Code {
    /// The full code, e.g. `flow::check::undefined_name`.
    pub fn as_str(self) -> String {
        format!("flow::{}::{}", self.phase(), self.name())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flow::{}::{}", self.phase(), self.name())
    }
}

/// A secondary label: a span and what to say about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// A problem found in a script, or by running it.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// The stable code: `flow::check::undefined_name`.
    pub code: Code,
    /// Whether it stops the script.
    pub severity: Severity,
    /// One lowercase sentence without a trailing period.
    pub message: String,
    /// The offending source and the short label under it.
    pub primary: Option<Label>,
    /// Other places that explain the problem (the first binding of a duplicate).
    pub labels: Vec<Label>,
    /// What to do about it, when a fix is likely.
    pub help: Option<String>,
    /// Further detail printed after the source: a stderr tail, the calls passed through.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with this code and one-line message.
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    /// A warning with this code and one-line message.
    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Puts the primary label on `span`.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.primary = Some(Label {
            span,
            message: label.into(),
        });
        self
    }

    /// The same, with every span `by` bytes further on: from a piece of a
    /// text to the whole text.
    pub(crate) fn moved(mut self, by: u32) -> Diagnostic {
        let labels = self.primary.iter_mut().chain(self.labels.iter_mut());
        for label in labels {
            label.span = Span {
                start: label.span.start + by,
                end: label.span.end + by,
            };
        }
        self
    }

    /// Points at `span` unless it points somewhere already: for errors found
    /// without a place of their own (a value from a config or a modifier),
    /// placed by whoever knows the call or declaration they came from.
    pub fn or_at(self, span: Span, label: impl Into<String>) -> Diagnostic {
        if self.primary.is_some() {
            return self;
        }
        self.at(span, label)
    }

    /// Adds a secondary label.
    pub fn label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a likely fix, shown as `help:`.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a note shown under the message.
    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Whether it is an error (the script must not run).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether a line shown with a label (or one line of context around it)
    /// is longer than [`LONGEST_SHOWN_LINE`].
    fn shows_a_long_line(&self, source: &SourceFile) -> bool {
        let text: &str = &source.text;
        self.primary.iter().chain(&self.labels).any(|label| {
            let at = crate::source::floor_char_boundary(text, label.span.start as usize);
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            // From the line before the label to the line after it.
            let from = text[..start.saturating_sub(1)]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let to = text[at..]
                .match_indices('\n')
                .nth(1)
                .map_or(text.len(), |(i, _)| at + i);
            text.get(from..to)
                .is_some_and(|window| window.split('\n').any(|l| l.len() > LONGEST_SHOWN_LINE))
        })
    }

    /// The primary span, if any.
    pub fn span(&self) -> Option<Span> {
        self.primary.as_ref().map(|label| label.span)
    }

    /// Renders the diagnostic against its source, the way `flow` prints it.
    /// Source lines too long to show (a generated one-line script) are left
    /// out; each label then becomes a note with its position.
    pub fn render(&self, source: &SourceFile, style: RenderStyle) -> String {
        if self.shows_a_long_line(source) {
            let mut short = Diagnostic {
                primary: None,
                labels: Vec::new(),
                notes: Vec::new(),
                ..self.clone()
            };
            for label in self.primary.iter().chain(&self.labels) {
                let (line, column) = source.line_col(label.span.start);
                short.notes.push(format!(
                    "at {}:{line}:{column}: {} (the line is too long to show)",
                    source.name, label.message
                ));
            }
            short.notes.extend(self.notes.iter().cloned());
            return short.render(source, style);
        }
        let report = Report {
            diag: self,
            source: CharColumns(source),
        };
        let theme = if style.color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(style.width)
            .with_context_lines(1);
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String only fails on a formatter bug; fall back to plain text.
            out = format!("{}: {}\n", self.severity.as_str(), self.message);
        }
        for note in &self.notes {
            out.push_str("  note: ");
            out.push_str(&note.replace('\n', "\n        "));
            out.push('\n');
        }
        out
    }

    /// The diagnostic as JSON for editors and CI: code, severity, message, file,
    /// line, column, labels and help.
    pub fn to_json(&self, source: &SourceFile) -> serde_json::Value {
        let place = |span: Span| {
            let (line, column) = source.line_col(span.start);
            let (end_line, end_column) = source.line_col(span.end);
            (line, column, end_line, end_column)
        };
        let label_json = |label: &Label, primary: bool| {
            let (line, column, end_line, end_column) = place(label.span);
            json!({
                "message": label.message,
                "primary": primary,
                "line": line, "column": column,
                "end_line": end_line, "end_column": end_column,
                "start": label.span.start, "end": label.span.end,
            })
        };
        let mut labels: Vec<serde_json::Value> = Vec::new();
        if let Some(primary) = &self.primary {
            labels.push(label_json(primary, true));
        }
        labels.extend(self.labels.iter().map(|l| label_json(l, false)));
        let (line, column) = match self.span() {
            Some(span) => {
                let (line, column, _, _) = place(span);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        json!({
            "code": self.code.as_str(),
            "severity": self.severity.as_str(),
            "message": self.message,
            "file": &*source.name,
            "line": line,
            "column": column,
            "labels": labels,
            "help": self.help,
            "notes": self.notes,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]: {}",
            self.severity.as_str(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

/// How to render: colour or not, and the width to wrap at.
#[derive(Clone, Copy, Debug)]
pub struct RenderStyle {
    /// ANSI colours.
    pub color: bool,
    /// The width text is wrapped to.
    pub width: usize,
}

impl RenderStyle {
    /// No colour, 80 columns: what tests snapshot.
    pub const PLAIN: RenderStyle = RenderStyle {
        color: false,
        width: 80,
    };
}

/// Source lines longer than this (in bytes) are not printed under a diagnostic.
pub const LONGEST_SHOWN_LINE: usize = 1000;

/// A diagnostic paired with its source, in the shape miette renders.
struct Report<'a> {
    diag: &'a Diagnostic,
    source: CharColumns<'a>,
}

/// A source whose columns count characters, as editors and `--format json`
/// do (miette counts bytes: its `file:line:column` header would disagree on
/// lines with non-ASCII text before the error). It hands miette only the text
/// from a few lines above each span: miette finds lines by scanning from the
/// start, which for the thousandth diagnostic of a big script is slow.
struct CharColumns<'a>(&'a SourceFile);

impl miette::SourceCode for CharColumns<'_> {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text: &str = &self.0.text;
        let start = span.offset();
        // Miette reads the window as it would the whole text: it starts at a
        // line start, with the context lines above the span inside it.
        let (from, lines_above) = self.0.lines_above(start, before + 1);
        let window = &text.as_bytes()[from.min(text.len())..];
        let local = miette::SourceSpan::new(start.saturating_sub(from).into(), span.len());
        let contents = window.read_span(&local, before, after)?;
        // Only a span read without context lines has a column of its own.
        let column = if before == 0 && text.is_char_boundary(start) {
            let line_start = text[..start].rfind(['\n', '\r']).map_or(0, |i| i + 1);
            text[line_start..start].chars().count()
        } else {
            contents.column()
        };
        let read = contents.span();
        Ok(Box::new(
            miette::MietteSpanContents::new_named(
                self.0.name.to_string(),
                contents.data(),
                miette::SourceSpan::new((read.offset() + from).into(), read.len()),
                contents.line() + lines_above,
                column,
                contents.line_count() + lines_above,
            )
            .with_language("flow"),
        ))
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.diag.primary.is_none() && self.diag.labels.is_empty() {
            None
        } else {
            Some(&self.source)
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let text: &str = &self.source.0.text;
        // miette slices the text with these: inside it, on whole characters.
        let clamp = move |span: Span| span.snapped(text);
        let primary = self.diag.primary.iter().map(move |l| {
            let message = (!l.message.is_empty()).then(|| l.message.clone());
            miette::LabeledSpan::new_primary_with_span(message, clamp(l.span))
        });
        let secondary = self.diag.labels.iter().map(move |l| {
            let message = (!l.message.is_empty()).then(|| l.message.clone());
            miette::LabeledSpan::new_with_span(message, clamp(l.span))
        });
        Some(Box::new(primary.chain(secondary)))
    }
}

/// The diagnostics of one source, with helpers for the questions callers ask.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// How many diagnostics of one code are shown; the rest are only counted,
/// as with clang's error limit. A generated script with 100,000 mistakes of
/// the same kind needs a few examples and a count, not a million lines.
/// (The command line's; the library alone does not use it.)
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub const SHOWN_PER_CODE: usize = 20;

/// Which of a list of diagnostics to show, given their codes in order: the
/// index of each of the first [`SHOWN_PER_CODE`] of every code, with how many
/// of that code are left out (after the last one shown of a code that has
/// more; 0 elsewhere).
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub fn shown_per_code(codes: &[Code]) -> Vec<(usize, usize)> {
    let mut totals: std::collections::HashMap<Code, usize> = Default::default();
    for &code in codes {
        *totals.entry(code).or_default() += 1;
    }
    let mut seen: std::collections::HashMap<Code, usize> = Default::default();
    let mut shown = Vec::new();
    for (i, &code) in codes.iter().enumerate() {
        let n = seen.entry(code).or_default();
        *n += 1;
        if *n <= SHOWN_PER_CODE {
            let total = totals[&code];
            let left_out = if *n == SHOWN_PER_CODE { total - *n } else { 0 };
            shown.push((i, left_out));
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Miette reads a window of lines around each span; what it reads must
    /// be what it would read from the whole text, line ends of every kind
    /// (`\n`, `\r\n`, a lone `\r`), blank lines and multi-byte text included.
    #[test]
    fn a_window_reads_as_the_whole_text() {
        use miette::SourceCode;
        let text = "let a = 1\r\nlet é = \"ü\"\n\n\rx\ry = 2\n  z\r\n\r\nend";
        let source = SourceFile::new("t.flow", text);
        let window = CharColumns(&source);
        for start in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            for len in [0, 1, 3] {
                let end = (start + len).min(text.len());
                let span = Span::new(start, end).snapped(text);
                let span = miette::SourceSpan::from(span);
                for (before, after) in [(0, 0), (1, 1), (2, 3)] {
                    let whole = text.as_bytes().read_span(&span, before, after);
                    let read = window.read_span(&span, before, after);
                    let (Ok(whole), Ok(read)) = (whole, read) else {
                        panic!("{span:?}: one read failed");
                    };
                    let at = format!("{span:?} with {before} and {after} lines");
                    assert_eq!(whole.data(), read.data(), "{at}");
                    assert_eq!(whole.span(), read.span(), "{at}");
                    assert_eq!(whole.line(), read.line(), "{at}");
                    assert_eq!(whole.line_count(), read.line_count(), "{at}");
                    if before > 0 {
                        assert_eq!(whole.column(), read.column(), "{at}");
                    }
                }
            }
        }
    }

    #[test]
    fn twenty_of_each_code_are_shown_and_the_rest_counted() {
        let mut codes = vec![Code::UnusedBinding; 25];
        codes.insert(3, Code::UndefinedName);
        let shown = shown_per_code(&codes);
        assert_eq!(shown.len(), 21);
        assert_eq!(shown[3], (3, 0), "the one of its code is shown");
        let last = shown.last().copied();
        assert_eq!(last, Some((20, 5)), "the 20th of 25 says 5 more");
        assert!(shown[..20].iter().all(|&(_, left)| left == 0));
        let exactly = shown_per_code(&[Code::UnusedBinding; SHOWN_PER_CODE]);
        assert!(exactly.iter().all(|&(_, left)| left == 0));
    }

    #[test]
    fn renders_code_labels_and_help_without_colour() {
        let src = SourceFile::new("t.flow", "let x = y\n");
        let d = Diagnostic::error(Code::UndefinedName, "cannot find `y` in this scope")
            .at(Span::new(8, 9), "not found")
            .help("did you mean `x`?");
        let text = d.render(&src, RenderStyle::PLAIN);
        assert!(text.contains("flow::check::undefined_name"), "{text}");
        assert!(text.contains("not found"), "{text}");
        assert!(text.contains("did you mean `x`?"), "{text}");
        assert!(text.contains("t.flow:1:9"), "{text}");
    }

    #[test]
    fn json_has_line_and_column() {
        let src = SourceFile::new("t.flow", "let a = 1\nlet x = y\n");
        let d = Diagnostic::error(Code::UndefinedName, "m").at(Span::new(18, 19), "here");
        let j = d.to_json(&src);
        assert_eq!(j["line"], 2);
        assert_eq!(j["column"], 9);
        assert_eq!(j["code"], "flow::check::undefined_name");
    }

    #[test]
    fn every_code_name_is_unique() {
        let mut names: Vec<String> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
