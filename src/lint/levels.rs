//! What becomes of a warning: the levels given on the command line (`-A`, `-W`,
//! `-D`, `--deny warnings`) and the allow comments of the script
//! (`# flow: allow(god-agent)` on the line before, or at the end of the line).
//! An allow comment that silences nothing is reported as `unused_allow`.

use crate::ast::{self, ExprKind};
use crate::diag::{Code, Diagnostic, Severity};
use crate::source::{SourceFile, Span};

/// What to do with a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Drop it.
    Allow,
    /// Print it; `flow check` still succeeds.
    Warn,
    /// Make it an error; `flow check` fails.
    Deny,
}

/// The levels set on the command line. A level given for one code wins over
/// the one given for every warning (`--deny warnings`), whatever their order.
#[derive(Clone, Debug, Default)]
pub struct Levels {
    /// The level of every warning, when set (`-D warnings`, `-A warnings`).
    pub warnings: Option<Level>,
    pub codes: Vec<(Code, Level)>,
}

impl Levels {
    /// Sets the level of a code or of every warning, by name as the command
    /// line writes it: `god-agent`, `god_agent`, `flow::lint::god_agent`, `warnings`.
    pub fn set(&mut self, name: &str, level: Level) -> Result<(), String> {
        if name == "warnings" {
            self.warnings = Some(level);
            return Ok(());
        }
        let code = parse_code(name)?;
        if !can_warn(code) {
            return Err(format!(
                "`{}` is an error, not a warning: its level cannot be changed",
                code.name()
            ));
        }
        if let Some((_, old)) = self.codes.iter().find(|(c, _)| *c == code) {
            if *old != level {
                return Err(format!(
                    "`{}` is given two different levels",
                    super::dashed(code)
                ));
            }
        }
        self.codes.push((code, level));
        Ok(())
    }

    /// Every warning at level `warn`, including those allowed by default.
    #[cfg(feature = "internals")]
    pub fn warn_all() -> Levels {
        Levels {
            warnings: None,
            codes: Code::ALL
                .iter()
                .filter(|c| can_warn(**c))
                .map(|c| (*c, Level::Warn))
                .collect(),
        }
    }

    /// The level of a warning with this code: the one given for it, else the
    /// one given for `warnings` (which leaves allowed-by-default lints alone,
    /// as rustc's `-D warnings` does), else its default.
    pub fn level(&self, code: Code) -> Level {
        if let Some((_, level)) = self.codes.iter().rev().find(|(c, _)| *c == code) {
            return *level;
        }
        match default_level(code) {
            Level::Allow => Level::Allow,
            default => self.warnings.unwrap_or(default),
        }
    }
}

/// A warning's level when nothing sets it. `missing_timeout` is allowed by
/// default: the `llm` and `http` backends bound every request themselves
/// (300 s and 120 s), and the patterns of the language design have no
/// timeouts; `-W missing-timeout` asks for an explicit bound on every call.
pub fn default_level(code: Code) -> Level {
    match code {
        Code::MissingTimeout => Level::Allow,
        _ => Level::Warn,
    }
}

/// The codes that are warnings, whose level can be set: every lint,
/// `unused_binding`, `non_exhaustive_match`, `unreachable_arm`, and `unsafe_interpolation` where a
/// second shell parses a value (where no reference can stand for one, it is
/// an error, whatever the levels).
pub fn can_warn(code: Code) -> bool {
    code.phase() == "lint"
        || matches!(
            code,
            Code::UnusedBinding
                | Code::NonExhaustiveMatch
                | Code::UnreachableArm
                | Code::UnsafeInterpolation
        )
}

/// Whether a code is an error in some places and a warning in others.
pub fn error_or_warning(code: Code) -> bool {
    code == Code::UnsafeInterpolation
}

/// Finds a code by any of its spellings; an unknown name gets a suggestion.
pub fn parse_code(name: &str) -> Result<Code, String> {
    let wanted = name.trim();
    let short = wanted
        .rsplit("::")
        .next()
        .unwrap_or(wanted)
        .replace('-', "_");
    if let Some(code) = Code::ALL.iter().find(|c| c.name() == short) {
        if wanted.contains("::") && wanted != c_str(*code) {
            return Err(format!(
                "unknown code `{wanted}`; did you mean `{}`?",
                c_str(*code)
            ));
        }
        return Ok(*code);
    }
    let best = Code::ALL
        .iter()
        .map(|c| (strsim::jaro_winkler(c.name(), &short), *c))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, code)) if score > 0.8 => Err(format!(
            "unknown code `{wanted}`; did you mean `{}`?",
            super::dashed(code)
        )),
        _ => Err(format!(
            "unknown code `{wanted}`; `flow explain` lists every code"
        )),
    }
}

fn c_str(code: Code) -> String {
    code.as_str()
}

/// "`a`, `b` and `c`"
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// One `# flow: allow(…)` comment.
#[derive(Debug)]
struct Allow {
    /// The code named, and where its name is written.
    codes: Vec<(Result<Code, String>, Span)>,
    /// The source it covers: the statement on its own line or the next.
    covers: Span,
    used: Vec<bool>,
}

/// Applies allow comments and levels to the warnings of one script (errors
/// pass unchanged): allowed warnings are dropped, denied ones become errors,
/// and allow comments that silenced nothing are reported (unless there are
/// errors: then the lints did not run). Sorted by position.
pub fn apply(
    source: &SourceFile,
    program: Option<&ast::Program>,
    diags: Vec<Diagnostic>,
    levels: &Levels,
) -> Vec<Diagnostic> {
    // With errors the script was not linted: an allow comment may have had
    // nothing to silence for that reason alone.
    let linted = !crate::diag::has_errors(&diags);
    apply_with(source, program, diags, levels, linted)
}

/// [`apply`] for diagnostics that are not the lints (the checker's warnings
/// that `flow run` prints): allow comments and default levels apply, but an
/// allow comment is never reported unused, since the lints did not run.
pub fn silence(
    source: &SourceFile,
    program: Option<&ast::Program>,
    diags: Vec<Diagnostic>,
) -> Vec<Diagnostic> {
    if diags.iter().all(|d| d.severity == Severity::Error) {
        // Nothing an allow comment could silence: spare the walk for them.
        return diags;
    }
    apply_with(source, program, diags, &Levels::default(), false)
}

fn apply_with(
    source: &SourceFile,
    program: Option<&ast::Program>,
    diags: Vec<Diagnostic>,
    levels: &Levels,
    linted: bool,
) -> Vec<Diagnostic> {
    let mut allows = program.map_or_else(Vec::new, |p| allow_comments(source, p));
    let mut out = Vec::new();
    for d in diags {
        if d.severity == Severity::Error || !can_warn(d.code) {
            out.push(d);
            continue;
        }
        let span = d.span();
        let mut silenced = false;
        for allow in &mut allows {
            let covered = span.is_some_and(|s| allow.covers.contains(Span::at(s.start as usize)));
            if !covered {
                continue;
            }
            for (i, (code, _)) in allow.codes.iter().enumerate() {
                if code.as_ref().is_ok_and(|c| *c == d.code) {
                    allow.used[i] = true;
                    silenced = true;
                }
            }
        }
        if !silenced {
            out.push(d);
        }
    }
    for allow in allows.iter().filter(|_| linted) {
        for (i, (code, span)) in allow.codes.iter().enumerate() {
            let d = match code {
                Err(message) => Diagnostic::warning(Code::UnusedAllow, message.clone())
                    .at(*span, "not a lint")
                    .help(format!(
                        "`flow explain` lists every code {}",
                        super::see(Code::UnusedAllow)
                    )),
                Ok(_) if allow.used[i] => continue,
                Ok(code) => Diagnostic::warning(
                    Code::UnusedAllow,
                    format!(
                        "`allow({})` silences nothing here",
                        super::dashed(*code)
                    ),
                )
                .at(*span, "nothing to allow")
                .label(allow.covers, "no such warning in this statement")
                .help(format!(
                    "remove it, or move it just above the statement it is about (at the end of a line, it covers that line) {}",
                    super::see(Code::UnusedAllow)
                )),
            };
            out.push(d);
        }
    }
    let mut result = Vec::new();
    for mut d in out {
        if d.severity == Severity::Warning && can_warn(d.code) {
            match levels.level(d.code) {
                Level::Allow => continue,
                Level::Warn => {}
                Level::Deny => d.severity = Severity::Error,
            }
        }
        result.push(d);
    }
    result.sort_by_key(|d| d.span().map_or(0, |s| s.start));
    result
}

/// Finds the allow comments of a script. A comment is `#` outside strings; a
/// comment alone on its line covers the statement on the next line with code,
/// one at the end of a line covers the statement on that line.
fn allow_comments(source: &SourceFile, program: &ast::Program) -> Vec<Allow> {
    let text = &*source.text;
    // Most scripts have none: spare them the walks and the look at every line.
    if !text.contains("flow:") {
        return Vec::new();
    }
    let strings = string_spans(program);
    let stmts = statement_spans(program);
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let start = line_start;
        line_start += line.len();
        if !line.contains('#') {
            continue;
        }
        let Some(hash) = comment_start(line) else {
            continue;
        };
        let at = start + hash;
        let comment = &line[hash + 1..];
        let Some(rest) = comment.trim_start().strip_prefix("flow:") else {
            continue;
        };
        if strings
            .iter()
            .any(|s| s.start as usize <= at && at < s.end as usize)
        {
            continue;
        }
        let Some(inner) = rest.trim_start().strip_prefix("allow(") else {
            continue;
        };
        let Some(close) = inner.find(')') else {
            continue;
        };
        let inner_at = at + 1 + (comment.len() - inner.len());
        let mut codes = Vec::new();
        let mut offset = 0;
        for part in inner[..close].split(',') {
            let trimmed = part.trim();
            let lead = part.len() - part.trim_start().len();
            let s = inner_at + offset + lead;
            offset += part.len() + 1;
            if trimmed.is_empty() {
                continue;
            }
            let span = Span::new(s, s + trimmed.len());
            let code = parse_code(trimmed).and_then(|c| {
                if can_warn(c) {
                    Ok(c)
                } else {
                    Err(format!(
                        "`{}` is an error, not a warning: it cannot be allowed",
                        c.name()
                    ))
                }
            });
            codes.push((code, span));
        }
        let own_line = line[..hash].trim().is_empty();
        let target_line = if own_line {
            next_code_line(text, line_start)
        } else {
            Some(start)
        };
        let covers = target_line
            .and_then(|l| {
                let end = text[l..].find('\n').map_or(text.len(), |p| l + p);
                // The smallest statement starting on that line, else the line itself.
                stmts
                    .iter()
                    .filter(|s| (s.start as usize) >= l && (s.start as usize) <= end)
                    .min_by_key(|s| s.start)
                    .copied()
                    .or(Some(Span::new(l, end)))
            })
            .unwrap_or(Span::at(text.len()));
        let used = vec![false; codes.len()];
        out.push(Allow {
            codes,
            covers,
            used,
        });
    }
    out
}

/// The offset of the `#` that starts a comment on this line, skipping `#`s in
/// one-line strings.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    // In a raw string (`r"…"`) a `\` escapes nothing.
    let mut raw = false;
    let mut escaped = false;
    let mut prev = [b' ', b' '];
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string && !raw => escaped = true,
            '"' if in_string => in_string = false,
            '"' => {
                in_string = true;
                let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
                raw = prev[1] == b'r' && !word(prev[0]);
            }
            '#' if !in_string => return Some(i),
            _ => {}
        }
        prev = [prev[1], if c.is_ascii() { c as u8 } else { b'.' }];
    }
    None
}

/// The start of the first line at or after `from` that is neither blank nor a comment.
fn next_code_line(text: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while at < text.len() {
        let end = text[at..].find('\n').map_or(text.len(), |p| at + p);
        let trimmed = text[at..end].trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            return Some(at);
        }
        at = end + 1;
    }
    None
}

fn string_spans(program: &ast::Program) -> Vec<Span> {
    let mut out = Vec::new();
    super::for_each_expr(program, &mut |e| {
        if let ExprKind::Str(_) = e.kind {
            out.push(e.span);
        }
    });
    out
}

fn statement_spans(program: &ast::Program) -> Vec<Span> {
    let mut out = Vec::new();
    super::for_each_stmt(program, &mut |s| out.push(s.span));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_start_outside_strings() {
        assert_eq!(comment_start("x # c"), Some(2));
        assert_eq!(comment_start(r#"f("a \" # b") # c"#), Some(14));
        // A raw string ends at its first quote, whatever precedes it.
        assert_eq!(comment_start(r#"f(r"C:\" # b") # c"#), Some(9));
        assert_eq!(comment_start(r#"f(r"C:\" # b"#), Some(9));
        assert_eq!(comment_start(r#"f(br"C:\" # b"#), None);
    }

    #[test]
    fn codes_parse_in_every_spelling() {
        assert_eq!(parse_code("god-agent"), Ok(Code::GodAgent));
        assert_eq!(parse_code("god_agent"), Ok(Code::GodAgent));
        assert_eq!(parse_code("flow::lint::god_agent"), Ok(Code::GodAgent));
        assert!(parse_code("flow::check::god_agent").is_err());
        let err = parse_code("god-agnet").unwrap_err();
        assert!(err.contains("god-agent"), "{err}");
    }

    #[test]
    fn a_code_level_wins_over_warnings() {
        let mut levels = Levels::default();
        levels.set("warnings", Level::Deny).unwrap();
        levels.set("god-agent", Level::Allow).unwrap();
        assert_eq!(levels.level(Code::GodAgent), Level::Allow);
        assert_eq!(levels.level(Code::MapLimitOne), Level::Deny);
        assert!(levels.set("undefined-name", Level::Allow).is_err());
        assert!(levels.set("god-agent", Level::Deny).is_err());
    }
}
