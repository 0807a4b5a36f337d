//! Pest's parse failures as readable diagnostics: what was expected, in words
//! ("expected `)` or `,`"), and what was found, labelled on the token itself.
//! No pest rule name ever reaches the user.

use pest::error::{ErrorVariant, InputLocation};

use super::Rule;
use crate::diag::{Code, Diagnostic};
use crate::source::{floor_char_boundary, Span};

/// One thing the parser could have accepted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Expected {
    /// A required piece: `)`, `=`, `in`, a name…
    Token(String),
    Name,
    Statement,
    Expression,
    Key,
    /// The end of a statement: a newline or `;`.
    StatementEnd,
    EndOfFile,
    /// Something that may follow a complete expression (an operator, `where`,
    /// a call modifier); only listed when nothing else fits.
    Continuation(String),
}

impl Expected {
    fn words(&self) -> String {
        match self {
            Expected::Token(t) | Expected::Continuation(t) => t.clone(),
            Expected::Name => "a name".into(),
            Expected::Statement => "a statement".into(),
            Expected::Expression => "an expression".into(),
            Expected::Key => "a key".into(),
            Expected::StatementEnd => "a new line or `;`".into(),
            Expected::EndOfFile => "end of file".into(),
        }
    }
}

fn from_rule(rule: Rule) -> Option<Expected> {
    use Expected::*;
    let token = |t: &str| Some(Token(format!("`{t}`")));
    let cont = |t: &str| Some(Continuation(t.into()));
    match rule {
        Rule::EOI => Some(EndOfFile),
        Rule::param_decl
        | Rule::agent_decl
        | Rule::flow_decl
        | Rule::let_stmt
        | Rule::budget_decl
        | Rule::kw_budget
        | Rule::output_decl
        | Rule::kw_output => Some(Statement),
        Rule::budget_kind => token("tokens` or `usd"),
        Rule::budget_amount => Some(Token("a number".into())),
        Rule::where_expr
        | Rule::expr
        | Rule::var
        | Rule::plain_var
        | Rule::kw_guard
        | Rule::number
        | Rule::sstring
        | Rule::mstring
        | Rule::rsstring
        | Rule::rmstring
        | Rule::sstring_plain
        | Rule::mstring_plain
        | Rule::null
        | Rule::true_lit
        | Rule::false_lit
        | Rule::paren
        | Rule::list
        | Rule::object
        | Rule::call
        | Rule::callee
        | Rule::map_expr
        | Rule::fanout_expr
        | Rule::gate_expr
        | Rule::if_expr
        | Rule::try_expr
        | Rule::neg
        | Rule::not
        | Rule::mod_arg => Some(Expression),
        Rule::field_name => Some(Token("a field name".into())),
        Rule::name | Rule::map_pair | Rule::branch | Rule::check => Some(Name),
        Rule::entry => Some(Key),
        Rule::block => token("{"),
        Rule::args | Rule::params => token("("),
        Rule::kw_in => token("in"),
        Rule::kw_param | Rule::kw_agent | Rule::kw_flow | Rule::kw_let => Some(Statement),
        Rule::kw_map | Rule::kw_fanout | Rule::kw_gate | Rule::kw_if | Rule::kw_try => {
            Some(Expression)
        }
        Rule::kw_limit => cont("`limit`"),
        Rule::kw_where => cont("`where`"),
        Rule::kw_else => cont("`else`"),
        Rule::kw_retry | Rule::retry | Rule::try_retry => cont("`retry`"),
        Rule::kw_backoff | Rule::backoff | Rule::try_backoff => cont("`backoff`"),
        Rule::kw_timeout | Rule::timeout => cont("`timeout`"),
        Rule::kw_after | Rule::after => cont("`after`"),
        // `neg` and `not` start an expression (above); the rest follow one.
        rule if super::build::is_operator(rule) => cont("an operator"),
        _ => None,
    }
}

/// Whether a rule that failed deepest names what was expected (a name, an
/// expression), rather than the construct a literal token was missing from.
fn is_leaf(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::var
            | Rule::callee
            | Rule::name
            | Rule::field_name
            | Rule::mod_arg
            | Rule::block
            | Rule::args
            | Rule::params
    ) || format!("{rule:?}").starts_with("kw_")
}

/// A literal token pest expected, as it displays it (pest does not export
/// its token type); character ranges and built-in rules are skipped.
fn from_token(token: &str) -> Option<Expected> {
    if token == "BUILTIN_RULE" || (token.len() > 2 && token.contains("..")) {
        return None;
    }
    Some(match token {
        " " | "\t" | "\r" | "#" | "${" | "\\" | "\"" | "\"\"\"" | "r\"" | "r\"\"\"" | "\n"
        | "_" => return None,
        // Only a statement separator offers `;` (a newline may be optional).
        ";" => Expected::StatementEnd,
        "==" | "!=" | "<=" | ">=" | "<" | ">" | "&&" | "||" | "+" | "*" | "/" | "%" | "." | "[" => {
            Expected::Continuation("an operator".into())
        }
        // Prefix or infix: the rules that tried them say which.
        "-" | "!" => return None,
        t if t.chars().all(|c| c.is_ascii_alphabetic()) => return from_keyword(t),
        t => Expected::Token(format!("`{t}`")),
    })
}

fn from_keyword(word: &str) -> Option<Expected> {
    Some(match word {
        // Words that start an expression or a statement: the rules say so.
        "null" | "true" | "false" | "map" | "fanout" | "gate" | "if" | "try" | "let" | "param"
        | "agent" | "flow" => return None,
        "limit" | "where" | "else" | "retry" | "backoff" | "timeout" | "after" => {
            Expected::Continuation(format!("`{word}`"))
        }
        "u" => return None,
        w => Expected::Token(format!("`{w}`")),
    })
}

/// The token at `pos`: its span and how to name it.
fn token_at(text: &str, pos: usize) -> (Span, String) {
    let bytes = text.as_bytes();
    let mut i = floor_char_boundary(text, pos);
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    let rest = &text[i..];
    let Some(c) = rest.chars().next() else {
        return (super::scan::end_of_file(text), "end of file".into());
    };
    let len = if c == '\n' || c == '#' {
        return (Span::at(i), "the end of the line".into());
    } else if rest.starts_with("r\"") && !after_word(text, i) {
        return (Span::new(i, i + 2), "a string".into());
    } else if c.is_ascii_alphanumeric() || c == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else if c == '"' {
        return (Span::new(i, i + 1), "a string".into());
    } else if ["==", "!=", "<=", ">=", "&&", "||", "${"]
        .iter()
        .any(|op| rest.starts_with(op))
    {
        2
    } else {
        c.len_utf8()
    };
    // A word: stop at a `.` that is not part of a number.
    let mut len = len;
    if c.is_ascii_alphabetic() || c == '_' {
        len = rest[..len].find('.').unwrap_or(len);
    }
    (Span::new(i, i + len), format!("`{}`", &rest[..len]))
}

/// `text[..end]` up to its last character of code: without the blank lines,
/// the comment lines and the comment that end it. The comments are those
/// the scan finds in the whole `text` (a `#` in a string or in `${…}` is
/// none); called only for this message, so the scan is no cost elsewhere.
fn last_code(text: &str, end: usize) -> &str {
    let mut comments = Vec::new();
    let _ = super::scan::scan_lines(text, None, &mut comments);
    let mut code = text[..end].trim_end();
    // Each comment that ends where the code seems to: back to before it.
    while let Some(&(start, _)) = comments[..comments.partition_point(|c| (c.0 as usize) < code.len())]
        .last()
        .filter(|c| c.1 as usize >= code.len())
    {
        code = text[..start as usize].trim_end();
    }
    code
}

/// Converts a pest failure into one diagnostic.
pub fn from_pest(text: &str, error: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((start, _)) => start,
    };
    let pos = floor_char_boundary(text, pos);
    let positives = match &error.variant {
        ErrorVariant::CustomError { message } => {
            return limit_error(message, token_at(text, pos).0);
        }
        ErrorVariant::ParsingError { positives, .. } => positives,
    };
    let mut expected: Vec<Expected> = Vec::new();
    let mut pos = pos;
    match error.parse_attempts() {
        Some(attempts) => {
            let mut at = floor_char_boundary(text, attempts.max_position);
            // A keyword where a name was expected: pest records the position
            // after the keyword it refused.
            let refused_keyword = !attempts.unexpected_tokens().is_empty()
                || attempts
                    .call_stacks()
                    .iter()
                    .any(|s| s.deepest.get_rule() == Some(&Rule::kw_guard));
            if refused_keyword {
                if let Some(word) = previous_word(text, at).filter(|w| super::is_keyword(w)) {
                    if text.get(..at).is_some_and(|t| t.ends_with(word)) {
                        at -= word.len();
                    }
                }
            }
            // A lookahead that matched also moves `max_position`, with nothing
            // expected there: then pest's own position is the right one.
            let useful =
                !attempts.expected_tokens().is_empty() || !attempts.call_stacks().is_empty();
            if at >= pos && (useful || at == pos) {
                if at == pos {
                    expected.extend(positives.iter().filter_map(|r| from_rule(*r)));
                }
                pos = at;
                for stack in attempts.call_stacks() {
                    match stack.deepest.get_rule() {
                        // Pest folds many failed alternatives into `expr`: an
                        // operand or an operator, depending on what came before.
                        Some(Rule::expr | Rule::where_expr) if expects_operand(text, at) => {
                            expected.push(Expected::Expression)
                        }
                        // A word rule failing right after a word only tried to extend it.
                        Some(
                            Rule::var
                            | Rule::plain_var
                            | Rule::callee
                            | Rule::name
                            | Rule::field_name,
                        ) if after_word(text, at) => {}
                        Some(rule) if is_leaf(*rule) => expected.extend(from_rule(*rule)),
                        _ => {}
                    }
                }
                let starts_value = expected.contains(&Expected::Expression)
                    || expected.contains(&Expected::Statement);
                expected.extend(
                    attempts
                        .expected_tokens()
                        .iter()
                        .map(|t| t.to_string())
                        .filter(|t| {
                            !(starts_value && ["(", "[", "{", "-", "!"].contains(&t.as_str()))
                        })
                        .filter_map(|t| from_token(&t)),
                );
            } else {
                expected.extend(positives.iter().filter_map(|r| from_rule(*r)));
            }
        }
        None => expected.extend(positives.iter().filter_map(|r| from_rule(*r))),
    }
    let (span, found) = token_at(text, pos);
    if previous_word(text, pos) == Some("after") {
        // `after` lists names, not arbitrary expressions.
        for e in &mut expected {
            if *e == Expected::Expression {
                *e = Expected::Name;
            }
        }
    }
    expected.sort();
    expected.dedup();
    if expected.contains(&Expected::StatementEnd) {
        expected.retain(|e| *e != Expected::EndOfFile);
    }
    if expected.contains(&Expected::Statement) {
        expected.retain(|e| *e != Expected::Expression);
    }
    if expected
        .iter()
        .any(|e| !matches!(e, Expected::Continuation(_)))
    {
        expected.retain(|e| !matches!(e, Expected::Continuation(_)));
    }
    let mut words: Vec<String> = expected.iter().map(Expected::words).collect();
    words.dedup();
    let wanted = join_or(&words);

    if let Some(d) = special_case(text, span, &found, &expected) {
        return d;
    }
    let message = if wanted.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {wanted}, found {found}")
    };
    let label = if wanted.is_empty() {
        "unexpected here".to_string()
    } else {
        format!("expected {wanted}")
    };
    let mut d = Diagnostic::error(Code::UnexpectedToken, message).at(span, label);
    // `r"a \"b\""`: the raw string ended at the quote meant as an escape.
    let before = text[..span.start as usize].trim_end_matches([' ', '\t']);
    if let Some(backslash) = before
        .strip_suffix("\\\"")
        .and_then(|_| super::scan::raw_escaped_quote(text, span.start as usize))
        .filter(|b| b + 2 == before.len())
    {
        return super::scan::with_raw_quote_hint(d, backslash);
    }
    if let Some((word, keyword)) = misspelt_keyword(text, span.start as usize) {
        // `mpa x in xs { … }`: a name where a keyword was meant.
        d = d.help(format!(
            "did you mean `{keyword}`? `{word}` is not a keyword, so it was read as a name"
        ));
    } else if expected == [Expected::Token("`=`".into())] {
        d = d.help("put `=` between the name and its value");
    } else if expected.contains(&Expected::StatementEnd) && found != "end of file" {
        d = d.help("put each statement on its own line, or separate statements with `;`");
    } else if expected == [Expected::Token("`in`".into())] {
        d = d.help("a `map` is written `map item in list { … }`");
    } else if let Some(help) = construct_help(&expected) {
        d = d.help(help);
    } else if !expected.is_empty()
        && expected.iter().all(|e| {
            matches!(e, Expected::Token(t) if ["`)`", "`]`", "`}`", "`,`"].contains(&t.as_str()))
        })
        && !matches!(found.as_str(), "end of file" | "the end of the line")
    {
        d = d.help("if this starts another item, put a `,` after the previous one");
    }
    d
}

/// The word just before `pos` and the keyword it is a typo of, when it is
/// one (`mpa` for `map`, `iff` for `if`, `agnet` for `agent`): a word is
/// close when one edit, or a swap of two neighbours, makes the keyword.
fn misspelt_keyword(text: &str, pos: usize) -> Option<(&str, &'static str)> {
    let word = previous_word(text, pos)?;
    if super::is_keyword(word) || word.len() < 2 {
        return None;
    }
    let keyword = super::KEYWORDS
        .iter()
        .filter(|k| k.len() >= 2 && !matches!(**k, "true" | "false" | "null"))
        .find(|k| strsim::damerau_levenshtein(word, k) == 1 && word.len() + 1 >= k.len())?;
    Some((word, keyword))
}

/// Messages for mistakes common enough to deserve their own words.
fn special_case(text: &str, span: Span, found: &str, expected: &[Expected]) -> Option<Diagnostic> {
    if let Some(diagnostic) = keyword_bound_then_read(text, span.start as usize) {
        return Some(diagnostic);
    }
    if let Some(diagnostic) = agent_without_backend(text, span.start as usize) {
        return Some(diagnostic);
    }
    let next = text.get(span.end as usize..).unwrap_or("");
    let before = text.get(..span.start as usize).unwrap_or("");
    let declaring = ["let", "param", "agent"].into_iter().find(|k| {
        before
            .trim_end()
            .strip_suffix(k)
            .is_some_and(|rest| !rest.ends_with(|c: char| c.is_alphanumeric() || c == '_'))
    });
    if let Some(open) = before.rfind("${") {
        let inside = &before[open + 2..];
        if !inside.is_empty()
            && inside
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            if let Some(help) = super::scan::shell_expansion_help(text, open) {
                return Some(
                    Diagnostic::error(
                        Code::UnexpectedToken,
                        format!("expected `}}` to end the Flow value, found {found}"),
                    )
                    .at(span, "shell syntax inside a Flow interpolation")
                    .help(help),
                );
            }
        }
    }
    if let (Some(keyword), "`=`") = (declaring, found) {
        return Some(
            Diagnostic::error(
                Code::UnexpectedToken,
                format!("expected a name after `{keyword}`"),
            )
            .at(span, "the name is missing before this `=`")
            .help(format!("write `{keyword} name = …`")),
        );
    }
    if found == "`=`"
        && !next.starts_with('=')
        && !expected.contains(&Expected::Token("`=`".into()))
    {
        return Some(
            Diagnostic::error(Code::UnexpectedToken, "`=` cannot compare values")
                .at(span, "`=` here")
                .help("use `==` to compare; `=` only binds names in `let`, `param` and `agent`"),
        );
    }
    if found == "`else`"
        && (expected.contains(&Expected::Statement) || expected.contains(&Expected::Expression))
    {
        return Some(
            Diagnostic::error(
                Code::UnexpectedToken,
                "`else` without an `if` or `try` before it",
            )
            .at(span, "this `else` follows no `if` or `try` block")
            .help("`else` goes after the `}` of an `if` or `try` block"),
        );
    }
    let word = found.trim_matches('`');
    if ["timeout", "retry", "backoff", "after"].contains(&word)
        && expected.contains(&Expected::StatementEnd)
    {
        return Some(
            Diagnostic::error(Code::UnexpectedToken, format!("`{word}` can only follow a call"))
                .at(span, "not after a call")
                .help(format!(
                    "modifiers follow agent and flow calls, as in `Fetch(url: u) {word} …`; to give one to other work, put it in a `flow` and call that"
                )),
        );
    }
    if word == "catch" && expected.contains(&Expected::StatementEnd) {
        return Some(
            Diagnostic::error(Code::UnexpectedToken, "Flow has no `catch`")
                .at(span, "`catch` is not a keyword")
                .help("a fallback is written `try { … } else { … }`; `error` holds the failure inside `else`"),
        );
    }
    let binary = [
        "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||",
    ];
    if expected.contains(&Expected::Statement) && binary.contains(&word) {
        return Some(
            Diagnostic::error(Code::UnexpectedToken, format!("a statement cannot start with `{word}`"))
                .at(span, "expected a statement")
                .help(format!(
                    "a newline ends the expression before it; to continue it, put `{word}` at the end of the previous line"
                )),
        );
    }
    let wants_value =
        expected.contains(&Expected::Expression) || expected.contains(&Expected::Name);
    // A statement keyword first on its line: the line before left an
    // expression unfinished (`let x = 1 +`), which newlines do not end.
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let first_on_line = before[line_start..].trim().is_empty() && line_start > 0;
    if expected.contains(&Expected::Expression)
        && super::STATEMENT_KEYWORDS.contains(&word)
        && first_on_line
    {
        let previous = last_code(text, line_start);
        if let Some(last) = previous.chars().last() {
            return Some(
                Diagnostic::error(
                    Code::UnexpectedToken,
                    format!("expected an expression, found the keyword `{word}`"),
                )
                .at(span, "a new statement")
                .label(
                    Span::new(previous.len() - last.len_utf8(), previous.len()),
                    "the expression before is unfinished",
                )
                .help(format!(
                    "a line ending with `{last}` goes on to the next line; finish the expression on the line before"
                )),
            );
        }
    }
    if wants_value && super::is_keyword(word) && found.starts_with('`') {
        let what = if expected.contains(&Expected::Expression) {
            "an expression"
        } else {
            "a name"
        };
        return Some(
            Diagnostic::error(
                Code::KeywordAsName,
                format!("expected {what}, found the keyword `{word}`"),
            )
            .at(span, "a keyword")
            .help(format!("`{word}` is a keyword and cannot be used as a name; rename it, for example `{word}_`")),
        );
    }
    None
}

fn limit_error(message: &str, span: Span) -> Diagnostic {
    if message.contains("stack") {
        Diagnostic::error(Code::TooDeep, "the script is nested too deeply to parse")
            .at(span, "nesting is too deep here")
            .help("name the inner parts with `let` bindings")
    } else {
        Diagnostic::error(Code::TooComplex, "the script is too complex to parse")
            .at(span, "the parser gave up here")
            .help("split long expressions into several `let` bindings")
    }
}

/// Whether the code before `pos` leaves an operand to be written: it ends
/// with an operator, an opening bracket, a separator or a keyword.
fn expects_operand(text: &str, pos: usize) -> bool {
    let before = text.get(..pos).unwrap_or("").trim_end();
    match before.chars().last() {
        None => true,
        Some(c) if "=+-*/%<>!&|([{,:;\n".contains(c) => true,
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
            previous_word(text, pos).is_some_and(super::is_keyword)
        }
        Some(_) => false,
    }
}

/// Whether `pos` directly follows a letter, digit or `_`.
fn after_word(text: &str, pos: usize) -> bool {
    pos > 0
        && text
            .as_bytes()
            .get(pos - 1)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// The word just before `pos`, skipping spaces.
/// `let map = 3` then `… map`: the parse fails where the keyword starts
/// the construct it always starts; the mistake is the binding, which the
/// parse never reached to report (keyword_as_name).
fn keyword_bound_then_read(text: &str, pos: usize) -> Option<Diagnostic> {
    let word = previous_word(text, pos).filter(|w| super::is_keyword(w))?;
    let end = text.get(..pos)?.trim_end().len();
    let read = Span::new(end - word.len(), end);
    // An earlier `let WORD =` (or `param`, `agent`): the word on its own,
    // after the declaring keyword, before an `=`.
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let bound = (text[..read.start as usize].match_indices(word))
        .map(|(at, _)| at)
        .find(|&at| {
            let after = &text[at + word.len()..];
            !text[..at].ends_with(word_char)
                && !after.starts_with(word_char)
                && after.trim_start().starts_with('=')
                && matches!(previous_word(text, at), Some("let" | "param" | "agent"))
        })
        .map(|at| Span::new(at, at + word.len()))?;
    Some(
        Diagnostic::error(
            Code::KeywordAsName,
            format!("`{word}` is a keyword and cannot be used as a name"),
        )
        .at(bound, "bound here as a name")
        .label(read, format!("so this reads as the start of a `{word}`"))
        .help(format!("rename it, for example `{word}_`")),
    )
}

/// `agent A =` at the end of its line, then a statement: the backend may
/// be on the next line, so the parse read the statement's keyword as the
/// backend's name and failed after it (`expected (`). The mistake is the
/// declaration left without a backend.
fn agent_without_backend(text: &str, pos: usize) -> Option<Diagnostic> {
    let word = previous_word(text, pos).filter(|w| super::STATEMENT_KEYWORDS.contains(w))?;
    let end = text.get(..pos)?.trim_end().len();
    let start = end - word.len();
    // The keyword first on its line, after a line that ends with `=`.
    let line_start = text[..start].rfind('\n')? + 1;
    if !text[line_start..start].trim().is_empty() {
        return None;
    }
    let equals = last_code(text, line_start).strip_suffix('=')?.len();
    // That line declares an agent: `agent NAME =`.
    let declared = &text[text[..equals].rfind('\n').map_or(0, |i| i + 1)..equals];
    let mut words = declared.split_whitespace();
    let (agent, name) = (words.next()?, words.next()?);
    if agent != "agent" || words.next().is_some() {
        return None;
    }
    Some(
        Diagnostic::error(
            Code::UnexpectedToken,
            format!("the agent `{name}` has no backend: found the keyword `{word}`"),
        )
        .at(Span::new(start, end), "a new statement")
        .label(Span::new(equals, equals + 1), "a backend is expected after this")
        .help(format!(
            "name its backend and config after `=`: `agent {name} = llm(model: \"…\")`"
        )),
    )
}

fn previous_word(text: &str, pos: usize) -> Option<&str> {
    let before = text.get(..pos)?.trim_end();
    // Counted in ASCII bytes, so the word starts on a character boundary
    // whatever precedes it (`# é` then `retry`).
    let len = before
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let word = &before[before.len() - len..];
    (!word.is_empty()).then_some(word)
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// How a construct is written, when the keyword it lacks is its own.
fn construct_help(expected: &[Expected]) -> Option<&'static str> {
    if expected.contains(&Expected::Token("`=>`".into())) {
        return Some(
            "a `match` arm is written `pattern => value`, a pattern being a literal or `_`",
        );
    }
    let [Expected::Token(token)] = expected else {
        return None;
    };
    Some(match token.as_str() {
        "`max`" => {
            "a `repeat` needs `max N`, the most rounds it may run: `repeat s = init until done max 5 { … }`"
        }
        "`until`" => "a `repeat` is written `repeat s = init until done max 5 { … }`",
        "`from`" => "a `fold` is written `fold (acc, x) in list from start { … }`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pest::error::Error;
    use pest::Position;

    fn custom(message: &str) -> Diagnostic {
        let text = "let x = 1";
        let pos = Position::new(text, 4).unwrap_or_else(|| Position::from_start(text));
        let error: Error<Rule> = Error::new_from_pos(
            ErrorVariant::CustomError {
                message: message.into(),
            },
            pos,
        );
        from_pest(text, &error)
    }

    #[test]
    fn pest_limits_become_their_own_codes() {
        assert_eq!(custom("call limit reached").code, Code::TooComplex);
        assert_eq!(custom("stack limit reached").code, Code::TooDeep);
    }

    #[test]
    fn the_code_before_a_statement_ends_where_its_comments_begin() {
        // What the text before `let c` ends with, once comments are left out.
        let last = |text: &str| {
            let end = text.rfind("let c").expect("a next statement");
            let code = last_code(text, end);
            code[code.len().saturating_sub(3)..].to_string()
        };
        assert_eq!(last("let b = a +\n# a comment\n\nlet c = 2\n"), "a +");
        assert_eq!(last("let b = \"x#y\" + # more\nlet c = 2\n"), "\" +");
        // A `#` inside `${…}` in a string, and a raw string ending in `\`.
        assert_eq!(last("let b = \"x ${\"#\"}\" + a +\nlet c = 2\n"), "a +");
        assert_eq!(last("let b = r\"C:\\\" + a + # c\nlet c = 2\n"), "a +");
    }

    #[test]
    fn expectations_read_as_a_list() {
        let words = |w: &[&str]| join_or(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(words(&["`)`"]), "`)`");
        assert_eq!(words(&["`)`", "`,`"]), "`)` or `,`");
        assert_eq!(words(&["a", "b", "c"]), "a, b or c");
    }
}
