//! How each `${…}` of an `sh` command reaches the shell. A value is never
//! written into the command: it is passed in an environment variable
//! (`FLOW_VALUE_1`, …) and the command refers to it, so whatever the value
//! holds, the shell expands it and never parses it as code. This module
//! finds where each reference sits in the shell's syntax, which decides how
//! it is spelled so that it stands for exactly the value: `"$V"` outside
//! quotes, `${V}` inside `"…"`, a here-document or `$(( ))`, `'"$V"'` inside
//! `'…'`. A wrong guess can only split the value into words or leave the
//! reference unexpanded, never run it. Right after a backslash no spelling
//! works; `flow check` refuses that place.

/// The place of one interpolation in a shell command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellContext {
    /// Outside quotes (also inside `$( … )`, a shell `${…}`, backquotes).
    Unquoted,
    /// Inside `'…'`.
    SingleQuoted,
    /// Inside `"…"`.
    DoubleQuoted,
    /// Where expansions happen but quotes are not removed: a here-document's
    /// body.
    Expanding,
    /// Inside `$(( … ))`. A value there must be an integer: bash (`/bin/sh`
    /// on some systems) evaluates a variable's text as an expression there,
    /// and runs a `$(…)` in an array subscript of it (`a[$(rm -rf ~)]`).
    Arithmetic,
    /// Right after a `$` of the command's own (`"Cost: $${price}"`).
    AfterDollar {
        /// Whether the `$` is inside double quotes.
        quoted: bool,
    },
    /// Where no reference stands for the value; says where.
    Unsafe(&'static str),
}

/// Where no reference can stand for a value: right after a backslash, the
/// shell reads the reference as escaped text.
pub const AFTER_BACKSLASH: &str = "right after a backslash";
/// Where no reference can stand for a value: nothing expands in such a body.
pub const QUOTED_HEREDOC: &str = "in a here-document whose delimiter is quoted";

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// Top-level text, or inside `$( … )`.
    Code,
    Double,
    /// A shell `${ … }` (its word is quoted like its surroundings).
    Brace {
        double: bool,
    },
    Backquote,
    /// `$(( … ))`, with its open parentheses: `<<` is a shift there.
    Arith(u32),
}

/// The place of each interpolation of a command, given as its parts in
/// order: `Some(text)` for literal text, `None` for an interpolation.
pub fn contexts<'t>(parts: impl IntoIterator<Item = Option<&'t str>>) -> Vec<ShellContext> {
    let mut scan = Scan::default();
    let mut out = Vec::new();
    for part in parts {
        match part {
            Some(text) => text.chars().for_each(|c| scan.step(c)),
            None => {
                out.push(scan.here());
                // The reference reads as one word: a backslash or `$` before
                // it is used up, and the next text does not start a comment.
                scan.escaped = false;
                scan.dollar = false;
                scan.less = false;
                scan.opened = false;
                scan.word = true;
            }
        }
    }
    out
}

#[derive(Default)]
struct Scan {
    stack: Vec<Frame>,
    single: bool,
    comment: bool,
    escaped: bool,
    /// Whether the last character belongs to a word (so `#` is not a comment).
    word: bool,
    /// `$` just seen (a `(` or `{` after it opens a substitution).
    dollar: bool,
    /// `<` just seen (one of a possible `<<`).
    less: bool,
    /// `$(` just opened (a second `(` makes it `$((`).
    opened: bool,
    /// A here-document announced on this line, or being read.
    heredoc: Heredoc,
    /// The current line so far (for a here-document's delimiter).
    line: String,
    /// The delimiter of the here-document announced on the line just ended,
    /// and whether it was quoted.
    pending_delimiter: (String, bool),
}

#[derive(Default, PartialEq)]
enum Heredoc {
    #[default]
    None,
    /// `<<` seen: its body starts at the next newline.
    Announced,
    /// Inside the body, until a line holding only its delimiter; nothing
    /// expands in it when the delimiter was quoted (`<<'EOF'`, `<<\EOF`).
    Body {
        delimiter: String,
        line: String,
        quoted: bool,
    },
}

impl Scan {
    fn top(&self) -> Frame {
        self.stack.last().copied().unwrap_or(Frame::Code)
    }

    fn here(&self) -> ShellContext {
        if let Heredoc::Body { quoted, .. } = self.heredoc {
            if quoted {
                return ShellContext::Unsafe(QUOTED_HEREDOC);
            }
            return ShellContext::Expanding;
        }
        if self.escaped {
            return ShellContext::Unsafe(AFTER_BACKSLASH);
        }
        if self.single {
            return ShellContext::SingleQuoted;
        }
        let quoted = matches!(self.top(), Frame::Double | Frame::Brace { double: true });
        if self.dollar {
            return ShellContext::AfterDollar { quoted };
        }
        match self.top() {
            Frame::Arith(_) => ShellContext::Arithmetic,
            _ if quoted => ShellContext::DoubleQuoted,
            _ => ShellContext::Unquoted,
        }
    }

    fn step(&mut self, c: char) {
        if let Heredoc::Body {
            delimiter, line, ..
        } = &mut self.heredoc
        {
            if c == '\n' {
                let done = line.trim_start_matches('\t') == delimiter.as_str();
                line.clear();
                if done {
                    self.heredoc = Heredoc::None;
                }
            } else {
                line.push(c);
            }
            return;
        }
        if c == '\n' {
            if self.heredoc == Heredoc::Announced {
                self.pending_delimiter = delimiter(&self.line);
            }
            self.line.clear();
        } else {
            self.line.push(c);
        }
        let (dollar, less, opened) = (self.dollar, self.less, self.opened);
        self.dollar = false;
        self.less = false;
        self.opened = c == '(' && dollar;
        if self.comment {
            if c == '\n' {
                self.comment = false;
                self.newline();
            }
            return;
        }
        if self.escaped {
            self.escaped = false;
            self.word = true;
            return;
        }
        if self.single {
            if c == '\'' {
                self.single = false;
            }
            self.word = true;
            return;
        }
        if let Frame::Arith(open) = self.top() {
            let open = match c {
                '(' => open + 1,
                ')' => open - 1,
                _ => open,
            };
            self.stack.pop();
            if open > 0 {
                self.stack.push(Frame::Arith(open));
            }
            self.word = true;
            return;
        }
        let quoted = matches!(self.top(), Frame::Double | Frame::Brace { double: true });
        match c {
            '\\' => self.escaped = true,
            '\'' if !quoted => self.single = true,
            '"' if self.top() == Frame::Double => {
                self.stack.pop();
            }
            '"' => self.stack.push(Frame::Double),
            '`' if self.top() == Frame::Backquote => {
                self.stack.pop();
            }
            '`' => self.stack.push(Frame::Backquote),
            // `$((`: the `$(` just opened becomes arithmetic.
            '(' if opened => {
                self.stack.pop();
                self.stack.push(Frame::Arith(2));
            }
            '(' if dollar => self.stack.push(Frame::Code),
            '{' if dollar => self.stack.push(Frame::Brace { double: quoted }),
            ')' if self.top() == Frame::Code && !self.stack.is_empty() => {
                self.stack.pop();
            }
            '}' if matches!(self.top(), Frame::Brace { .. }) => {
                self.stack.pop();
            }
            '$' => self.dollar = true,
            '#' if !quoted && !self.word => self.comment = true,
            '<' if !quoted && less => self.heredoc = Heredoc::Announced,
            '<' if !quoted => self.less = true,
            '\n' => self.newline(),
            _ => {}
        }
        self.word = !(c.is_whitespace() || matches!(c, ';' | '|' | '&' | '(' | ')'));
    }

    /// A newline outside quotes: a here-document announced on the line starts.
    fn newline(&mut self) {
        self.word = false;
        if self.heredoc == Heredoc::Announced {
            let (delimiter, quoted) = std::mem::take(&mut self.pending_delimiter);
            self.heredoc = Heredoc::Body {
                delimiter,
                line: String::new(),
                quoted,
            };
        }
    }
}

/// The delimiter word after the last `<<` of `line` (quotes removed), or ""
/// while it has not been written yet; and whether any of it was quoted.
fn delimiter(line: &str) -> (String, bool) {
    let Some(at) = line.rfind("<<") else {
        return (String::new(), false);
    };
    let word: String = line[at + 2..]
        .trim_start_matches('-')
        .trim_start_matches([' ', '\t'])
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '|' | '&' | '<' | '>' | '(' | ')'))
        .collect();
    let quoted = word.contains(['\'', '"', '\\']);
    (word.replace(['\'', '"', '\\'], ""), quoted)
}

/// How the command refers to the variable `var` at the place `context`, so
/// that the reference stands for exactly its value; `None` where none does.
pub fn reference(context: ShellContext, var: &str) -> Option<String> {
    Some(match context {
        ShellContext::Unquoted => format!("\"${var}\""),
        // Close the command's quotes around a quoted expansion, reopen them.
        ShellContext::SingleQuoted => format!("'\"${var}\"'"),
        ShellContext::DoubleQuoted | ShellContext::Expanding | ShellContext::Arithmetic => {
            format!("${{{var}}}")
        }
        // `$` then `"`: a literal `$` (`"$""${V}"`, `$"$V"`).
        ShellContext::AfterDollar { quoted: true } => format!("\"\"${{{var}}}"),
        ShellContext::AfterDollar { quoted: false } => format!("\"${var}\""),
        ShellContext::Unsafe(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::ShellContext::*;
    use super::*;

    /// The places of the interpolations between `texts`.
    fn places(texts: &[&str]) -> Vec<ShellContext> {
        let mut parts = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            if i > 0 {
                parts.push(None);
            }
            parts.push(Some(*text));
        }
        contexts(parts)
    }

    #[test]
    fn finds_the_place_of_each_interpolation() {
        assert_eq!(places(&["echo ", ""]), [Unquoted]);
        assert_eq!(places(&["echo '", "'"]), [SingleQuoted]);
        assert_eq!(places(&["echo \"x=", "\""]), [DoubleQuoted]);
        assert_eq!(places(&["echo \"a 'b\" ", ""]), [Unquoted]);
        assert_eq!(places(&["echo \"$(ls ", ")\""]), [Unquoted]);
        assert_eq!(places(&["echo \"$(ls \"", "\")\""]), [DoubleQuoted]);
        assert_eq!(places(&["echo ${X:-", "}"]), [Unquoted]);
        assert_eq!(places(&["echo \"${X:-", "}\""]), [DoubleQuoted]);
        assert_eq!(places(&["echo `ls ", "`"]), [Unquoted]);
        assert_eq!(places(&["echo \\", ""]), [Unsafe(AFTER_BACKSLASH)]);
        assert_eq!(places(&["echo \\\\", ""]), [Unquoted]);
        assert_eq!(places(&["cat <<EOF\n", "\nEOF"]), [Expanding]);
        assert_eq!(
            places(&["cat <<-EOF\n", "\nEOF\necho ", ""]),
            [Expanding, Unquoted]
        );
        // Nothing expands under a quoted delimiter: no reference can work.
        let nothing = Unsafe(QUOTED_HEREDOC);
        for quoted in ["'EOF'", "\"EOF\"", "\\EOF", "E\"O\"F"] {
            assert_eq!(
                places(&[&format!("cat <<{quoted}\n"), "\nEOF\necho ", ""]),
                [nothing, Unquoted],
                "{quoted}"
            );
        }
        assert_eq!(places(&["echo $(( 1 + ", " ))"]), [Arithmetic]);
        assert_eq!(places(&["echo \"$", "\""]), [AfterDollar { quoted: true }]);
        assert_eq!(
            places(&["echo ", " '", "' \"", "\""]),
            [Unquoted, SingleQuoted, DoubleQuoted]
        );
        // A `$` before a value does not carry over to the text after it.
        assert_eq!(
            places(&["echo \"$", "(it's)\" '", "'"]),
            [AfterDollar { quoted: true }, SingleQuoted]
        );
        // `<<` in arithmetic is a shift, not a here-document.
        assert_eq!(
            places(&["echo $((1 << (2))) ", "\necho ", ""]),
            [Unquoted, Unquoted]
        );
    }

    /// Whatever the value and wherever the reference sits, `/bin/sh` runs
    /// none of the value; where the place is read right, it prints exactly it.
    #[test]
    fn references_stand_for_the_value_and_never_run_it() {
        let dir = std::env::temp_dir().join(format!("flow-refs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let mark = dir.join("PWNED");
        let values = [
            "plain".to_string(),
            "a b".into(),
            "it's".into(),
            "\"q\"".into(),
            "$HOME `id` $(id) \\ \\\\ ${x} }".into(),
            "line\nline\nEOF".into(),
            format!("x'\"; touch {}; echo \"'", mark.display()),
            format!("$(touch {})", mark.display()),
            format!("`touch {}`", mark.display()),
        ];
        // (before, after, what the command prints around the value)
        let cases = [
            ("printf '%s' ", "", ("", "")),
            ("printf '%s' '", "'", ("", "")),
            ("printf '%s' \"", "\"", ("", "")),
            ("printf '%s' \"x=", "=y\"", ("x=", "=y")),
            ("printf '%s' \"$", "\"", ("$", "")),
            ("printf '%s' \"${UNSET:-", "}\"", ("", "")),
            ("printf '%s' \"$(printf '%s' ", ")\"", ("", "")),
            ("printf '%s' \"`printf '%s' ", "`\"", ("", "")),
            ("cat <<EOF\n", "\nEOF\n", ("", "\n")),
        ];
        for value in &values {
            for (before, after, (pre, post)) in cases {
                let place = places(&[before, after])[0];
                let reference = reference(place, "FLOW_VALUE_1").expect("a reference");
                let command = format!("{before}{reference}{after}");
                let out = std::process::Command::new("/bin/sh")
                    .args(["-c", &command])
                    .env("FLOW_VALUE_1", value)
                    .output()
                    .expect("sh runs");
                assert!(!mark.exists(), "{command} ran the value {value:?}");
                let printed = String::from_utf8_lossy(&out.stdout);
                assert_eq!(printed, format!("{pre}{value}{post}"), "{command}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
