//! Where each `${…}` of an `sh` command sits in the shell's syntax, which
//! decides how its value must be written so the shell reads it back as
//! exactly that text: outside quotes, inside `'…'` or inside `"…"`. Some
//! places have no safe spelling at all (backquotes, here-documents,
//! comments, right after a backslash); `flow check` refuses those.

/// The place of one interpolation in a shell command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellContext {
    /// Outside quotes (also inside `$( … )` or a shell `${…}`).
    Unquoted,
    /// Inside `'…'`.
    SingleQuoted,
    /// Inside `"…"`.
    DoubleQuoted,
    /// Nowhere a value can be written safely; says where (`inside backquotes`).
    Unsafe(&'static str),
}

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

/// The place of each interpolation in a command whose literal parts are
/// `texts`: interpolation `i` comes between `texts[i]` and `texts[i + 1]`.
pub fn contexts(texts: &[&str]) -> Vec<ShellContext> {
    let mut scan = Scan::default();
    let mut out = Vec::with_capacity(texts.len().saturating_sub(1));
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            out.push(scan.here());
            // The value reads as one word: a backslash before it is used up,
            // and the next text does not start a comment.
            scan.escaped = false;
            scan.word = true;
        }
        for c in text.chars() {
            scan.step(c);
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
    /// The delimiter of the here-document announced on the line just ended.
    pending_delimiter: String,
}

#[derive(Default, PartialEq)]
enum Heredoc {
    #[default]
    None,
    /// `<<` seen: its body starts at the next newline.
    Announced,
    /// Inside the body, until a line holding only its delimiter.
    Body { delimiter: String, line: String },
}

impl Scan {
    fn top(&self) -> Frame {
        self.stack.last().copied().unwrap_or(Frame::Code)
    }

    fn here(&self) -> ShellContext {
        if matches!(self.heredoc, Heredoc::Body { .. }) {
            return ShellContext::Unsafe("inside a here-document");
        }
        if self.heredoc == Heredoc::Announced && delimiter(&self.line).is_empty() {
            return ShellContext::Unsafe("as a here-document's delimiter");
        }
        if self.comment {
            return ShellContext::Unsafe("inside a shell comment");
        }
        if self.escaped {
            return ShellContext::Unsafe("right after a backslash");
        }
        if self.stack.contains(&Frame::Backquote) {
            return ShellContext::Unsafe("inside backquotes");
        }
        if self.single {
            return ShellContext::SingleQuoted;
        }
        match self.top() {
            Frame::Double | Frame::Brace { double: true } => ShellContext::DoubleQuoted,
            _ => ShellContext::Unquoted,
        }
    }

    fn step(&mut self, c: char) {
        if let Heredoc::Body { delimiter, line } = &mut self.heredoc {
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
            self.heredoc = Heredoc::Body {
                delimiter: std::mem::take(&mut self.pending_delimiter),
                line: String::new(),
            };
        }
    }
}

/// The delimiter word after the last `<<` of `line` (quotes removed), or ""
/// while it has not been written yet.
fn delimiter(line: &str) -> String {
    let Some(at) = line.rfind("<<") else {
        return String::new();
    };
    line[at + 2..]
        .trim_start_matches('-')
        .trim_start_matches([' ', '\t'])
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '|' | '&' | '<' | '>' | '(' | ')'))
        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
        .collect()
}

/// Writes `text` for the place `context`, so the shell reads back exactly
/// `text`; `None` where no spelling is safe.
pub fn quote_in(context: ShellContext, text: &str) -> Option<String> {
    match context {
        ShellContext::Unquoted => Some(super::quote(text)),
        // Close the user's quotes, add the quoted word, reopen them.
        ShellContext::SingleQuoted => Some(format!("'{}'", super::quote(text))),
        ShellContext::DoubleQuoted => {
            let mut out = String::with_capacity(text.len() + 2);
            for c in text.chars() {
                if matches!(c, '\\' | '$' | '`' | '"') {
                    out.push('\\');
                }
                out.push(c);
            }
            Some(out)
        }
        ShellContext::Unsafe(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::ShellContext::*;
    use super::*;

    #[test]
    fn finds_the_quoting_around_each_interpolation() {
        assert_eq!(contexts(&["echo ", ""]), [Unquoted]);
        assert_eq!(contexts(&["echo '", "'"]), [SingleQuoted]);
        assert_eq!(contexts(&["echo \"x=", "\""]), [DoubleQuoted]);
        assert_eq!(contexts(&["echo \"a 'b\" ", ""]), [Unquoted]);
        assert_eq!(contexts(&["echo \"$(ls ", ")\""]), [Unquoted]);
        assert_eq!(contexts(&["echo \"$(ls \"", "\")\""]), [DoubleQuoted]);
        assert_eq!(contexts(&["echo ${X:-", "}"]), [Unquoted]);
        assert_eq!(contexts(&["echo \"${X:-", "}\""]), [DoubleQuoted]);
        assert_eq!(contexts(&["echo `ls ", "`"]), [Unsafe("inside backquotes")]);
        assert_eq!(
            contexts(&["echo \\", ""]),
            [Unsafe("right after a backslash")]
        );
        assert_eq!(contexts(&["echo \\\\", ""]), [Unquoted]);
        assert_eq!(
            contexts(&["echo hi # ", ""]),
            [Unsafe("inside a shell comment")]
        );
        assert_eq!(contexts(&["echo a#", ""]), [Unquoted]);
        assert_eq!(contexts(&["echo hi # c\necho ", ""]), [Unquoted]);
        assert_eq!(
            contexts(&["cat <<EOF\n", "\nEOF"]),
            [Unsafe("inside a here-document")]
        );
        assert_eq!(
            contexts(&["cat <<-'EOF' | grep ", "\n\tbody\n\tEOF\necho ", ""]),
            [Unquoted, Unquoted]
        );
        assert_eq!(
            contexts(&["cat << ", "\nx\n"]),
            [Unsafe("as a here-document's delimiter")]
        );
        // `<<` in arithmetic is a shift, not a here-document.
        assert_eq!(
            contexts(&["echo $((1 << (2))) ", "\necho ", ""]),
            [Unquoted, Unquoted]
        );
        assert_eq!(
            contexts(&["echo ", " '", "' \"", "\""]),
            [Unquoted, SingleQuoted, DoubleQuoted]
        );
        // A value is one word: text right after it does not start a comment.
        assert_eq!(contexts(&["echo ", "#", ""]), [Unquoted, Unquoted]);
    }

    /// What `/bin/sh` prints for each spelling is exactly the value.
    #[test]
    fn every_spelling_reads_back_as_the_value() {
        let values = [
            "plain",
            "a b",
            "it's",
            "\"q\"",
            "$HOME `id` $(id) \\ \\\\ ${x}",
            "line\nline",
            "; echo INJECTED",
            "'; echo INJECTED; '",
            "\"; echo INJECTED; \"",
        ];
        for value in values {
            for (before, after) in [("", ""), ("'", "'"), ("\"", "\""), ("\"x=", "=y\"")] {
                let texts = [&format!("printf '%s' {before}")[..], after];
                let context = contexts(&texts)[0];
                let written = quote_in(context, value).expect("a safe place");
                let command = format!("{}{written}{}", texts[0], texts[1]);
                let out = std::process::Command::new("/bin/sh")
                    .args(["-c", &command])
                    .output()
                    .expect("sh runs");
                let expected = format!(
                    "{}{value}{}",
                    &before[before.len().min(1)..],
                    &after[..after.len().saturating_sub(1)]
                );
                assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{command}");
            }
        }
    }
}
