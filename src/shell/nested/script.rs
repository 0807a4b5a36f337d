//! A shell command read as far as `nested` needs: words (quotes removed,
//! the interpolations each holds), simple commands with their here-documents
//! and here-strings, pipelines, groups and substitutions. Never fails: text
//! it does not understand is read as words.

use super::{HEREDOC, HERESTRING};

/// How deep substitutions and groups are followed; deeper text is read flat.
const MAX_DEPTH: usize = 32;

/// A command's text, read.
pub(super) struct Script {
    pub commands: Vec<Command>,
    /// Each pipeline's elements, each the commands it holds (a group holds several).
    pub pipelines: Vec<Vec<Vec<usize>>>,
}

impl Script {
    /// Reads a command given as its parts (`None` for an interpolation);
    /// returns it and the number of interpolations.
    pub fn read<'t>(parts: impl IntoIterator<Item = Option<&'t str>>) -> (Script, usize) {
        let mut items = Vec::new();
        let mut values = 0;
        for part in parts {
            match part {
                Some(text) => items.extend(text.chars().map(Item::Char)),
                None => {
                    items.push(Item::Value(values));
                    values += 1;
                }
            }
        }
        let mut parser = Parser {
            items: &items,
            pos: 0,
            depth: 0,
            backquotes: 0,
            commands: Vec::new(),
            pipelines: Vec::new(),
            heredocs: Vec::new(),
        };
        while parser.pos < items.len() {
            let before = parser.pos;
            parser.list(End::Eof);
            if parser.pos == before {
                parser.pos += 1; // a stray `)`, `}` or `fi`
            }
        }
        let script = Script {
            commands: parser.commands,
            pipelines: parser.pipelines,
        };
        (script, values)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Item {
    Char(char),
    /// The n-th interpolation.
    Value(usize),
}

/// What ends a list of commands.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Eof,
    /// `)` of a subshell or `$( … )`.
    Paren,
    /// The word `}`.
    Brace,
    /// The closing backquote.
    Backquote,
    /// A closing keyword: `fi`, `done`, `esac`.
    Keyword(&'static str),
}

/// One word of a simple command.
#[derive(Default)]
pub(super) struct Word {
    /// Its text, quotes removed.
    pub text: String,
    /// Whether it is all literal text (no expansion, no value).
    pub plain: bool,
    /// The interpolations inside it, substitutions included.
    pub values: Vec<usize>,
}

impl Word {
    /// Its text, when it is literal.
    pub fn lit(&self) -> Option<&str> {
        self.plain.then_some(self.text.as_str())
    }
}

#[derive(Default)]
pub(super) struct Command {
    pub words: Vec<Word>,
    /// The interpolations of its here-documents and here-strings, with how
    /// each reaches the command.
    pub input: Vec<(usize, &'static str)>,
}

struct Parser<'a> {
    items: &'a [Item],
    pos: usize,
    depth: usize,
    backquotes: usize,
    commands: Vec<Command>,
    /// Each pipeline's elements, each the commands it holds (a group holds several).
    pipelines: Vec<Vec<Vec<usize>>>,
    /// Here-documents announced on the current line: command and delimiter.
    heredocs: Vec<(usize, String, bool)>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        match self.items.get(self.pos + ahead) {
            Some(Item::Char(c)) => Some(*c),
            _ => None,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.items.len()
    }

    /// Skips blanks and comments, and newlines too when `newlines`.
    fn blanks(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                '\n' if newlines => {
                    self.pos += 1;
                    self.heredoc_bodies();
                }
                _ if c.is_whitespace() && c != '\n' => self.pos += 1,
                '\\' if self.peek_at(1) == Some('\n') => self.pos += 2,
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') || self.value_here() {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn value_here(&self) -> bool {
        matches!(self.items.get(self.pos), Some(Item::Value(_)))
    }

    /// Commands separated by `;`, `&`, `&&`, `||` and newlines, up to `end`
    /// (left for the caller to consume). Returns the commands it holds.
    fn list(&mut self, end: End) -> Vec<usize> {
        let mut held = Vec::new();
        loop {
            self.blanks(true);
            if self.at_end() || self.ends(end) {
                break;
            }
            let before = self.pos;
            held.extend(self.pipeline(end));
            self.blanks(false);
            match self.peek() {
                Some(';' | '&' | '|') => {
                    self.pos += 1;
                    while matches!(self.peek(), Some(';' | '&' | '|')) {
                        self.pos += 1;
                    }
                }
                Some(')') if matches!(end, End::Keyword("esac")) => self.pos += 1,
                _ => {}
            }
            if self.pos == before {
                break;
            }
        }
        held
    }

    /// Whether `end` stands at the current position.
    fn ends(&self, end: End) -> bool {
        match end {
            End::Eof => {
                matches!(self.peek(), Some(')' | '`'))
                    || self.word_is("}")
                    || self.closer().is_some()
            }
            End::Paren => self.peek() == Some(')'),
            End::Backquote => self.peek() == Some('`'),
            End::Brace => self.word_is("}"),
            End::Keyword(k) => self.word_is(k),
        }
    }

    /// A closing keyword at the current position, when one stands there.
    fn closer(&self) -> Option<&'static str> {
        ["fi", "done", "esac"].into_iter().find(|k| self.word_is(k))
    }

    /// Whether the next word is exactly `word`.
    fn word_is(&self, word: &str) -> bool {
        let n = word.chars().count();
        word.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
            && match self.items.get(self.pos + n) {
                None => true,
                Some(Item::Char(c)) => c.is_whitespace() || matches!(c, ';' | '&' | '|' | ')'),
                Some(Item::Value(_)) => false,
            }
    }

    fn pipeline(&mut self, end: End) -> Vec<usize> {
        let mut elements = Vec::new();
        loop {
            let element = self.element();
            elements.push(element);
            self.blanks(false);
            if self.peek() == Some('|') && self.peek_at(1) != Some('|') {
                self.pos += 1;
                if self.peek() == Some('&') {
                    self.pos += 1;
                }
                self.blanks(true);
                if self.at_end() || self.ends(end) {
                    break;
                }
            } else {
                break;
            }
        }
        let held = elements.concat();
        self.pipelines.push(elements);
        held
    }

    /// One element of a pipeline: a simple command, or a group (`( … )`,
    /// `{ …; }`, `if … fi`, a loop, `case … esac`) with every command in it.
    fn element(&mut self) -> Vec<usize> {
        self.blanks(false);
        if self.depth < MAX_DEPTH {
            let group = if self.peek() == Some('(') && self.peek_at(1) != Some('(') {
                Some((1, End::Paren))
            } else if self.word_is("{") {
                Some((1, End::Brace))
            } else if self.word_is("if") {
                Some((2, End::Keyword("fi")))
            } else if self.word_is("case") {
                Some((4, End::Keyword("esac")))
            } else {
                ["while", "until", "for", "select"]
                    .into_iter()
                    .find(|k| self.word_is(k))
                    .map(|k| (k.len(), End::Keyword("done")))
            };
            if let Some((skip, inner)) = group {
                self.pos += skip;
                self.depth += 1;
                let held = self.list(inner);
                self.depth -= 1;
                if self.ends(inner) {
                    self.pos += match inner {
                        End::Keyword(k) => k.len(),
                        _ => 1,
                    };
                }
                // Redirections after the group (`} > out`).
                let mut rest = self.simple();
                rest.extend(held);
                return rest;
            }
        }
        self.simple()
    }

    /// A simple command (or what follows a group); returns its index. A
    /// closing word (`}`, `fi`) is only one in command position: here it is
    /// an argument.
    fn simple(&mut self) -> Vec<usize> {
        let id = self.commands.len();
        self.commands.push(Command::default());
        loop {
            self.blanks(false);
            if self.at_end() {
                break;
            }
            // Keywords that start a command's part: the command follows them.
            if self.commands[id].words.is_empty()
                && ["then", "else", "elif", "do", "!"]
                    .into_iter()
                    .any(|k| self.word_is(k))
            {
                while self.peek().is_some_and(|c| !c.is_whitespace()) {
                    self.pos += 1;
                }
                continue;
            }
            match self.peek() {
                Some(';' | '&' | '|' | '\n' | ')' | '(') => break,
                Some('`') if self.backquotes > 0 => break,
                Some('<' | '>') => self.redirection(id),
                _ => {
                    let before = self.pos;
                    let word = self.word();
                    if self.pos == before {
                        self.pos += 1;
                        continue;
                    }
                    // A file descriptor before a redirection (`2>/dev/null`).
                    let fd = word.plain && word.text.bytes().all(|b| b.is_ascii_digit());
                    if !(fd && matches!(self.peek(), Some('<' | '>'))) {
                        self.commands[id].words.push(word);
                    }
                }
            }
        }
        vec![id]
    }

    fn redirection(&mut self, id: usize) {
        let op: String = std::iter::from_fn(|| {
            let c = self
                .peek()
                .filter(|c| matches!(c, '<' | '>' | '&' | '|' | '-'))?;
            self.pos += 1;
            Some(c)
        })
        .collect();
        self.blanks(false);
        if matches!(self.peek(), Some(';' | '\n' | ')')) || self.at_end() {
            return;
        }
        let target = self.word();
        if op.starts_with("<<<") {
            let input = target.values.into_iter().map(|v| (v, HERESTRING));
            self.commands[id].input.extend(input);
        } else if op.starts_with("<<") {
            self.heredocs.push((id, target.text, op.ends_with('-')));
        }
    }

    /// Reads the bodies of the here-documents announced on the line just ended.
    fn heredoc_bodies(&mut self) {
        for (id, delimiter, tabs) in std::mem::take(&mut self.heredocs) {
            loop {
                let mut line = String::new();
                let mut values = Vec::new();
                while let Some(item) = self.items.get(self.pos) {
                    self.pos += 1;
                    match item {
                        Item::Char('\n') => break,
                        Item::Char(c) => line.push(*c),
                        Item::Value(v) => values.push(*v),
                    }
                }
                let line = if tabs {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if values.is_empty() && line == delimiter || self.at_end() {
                    let input = values.into_iter().map(|v| (v, HEREDOC));
                    self.commands[id].input.extend(input);
                    break;
                }
                let input = values.into_iter().map(|v| (v, HEREDOC));
                self.commands[id].input.extend(input);
            }
        }
    }

    /// One word: quotes, escapes, substitutions; stops at a blank or an operator.
    fn word(&mut self) -> Word {
        let start = self.pos;
        let mut word = Word {
            plain: true,
            ..Word::default()
        };
        while let Some(item) = self.items.get(self.pos) {
            let c = match *item {
                Item::Value(_) => {
                    word.plain = false;
                    self.pos += 1;
                    continue;
                }
                Item::Char(c) => c,
            };
            match c {
                _ if c.is_whitespace() => break,
                ';' | '&' | '|' | '<' | '>' | '(' | ')' => break,
                '`' if self.backquotes > 0 => break,
                '\\' => {
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        if c != '\n' {
                            word.text.push(c);
                        }
                        self.pos += 1;
                    }
                }
                '\'' => {
                    self.pos += 1;
                    while let Some(item) = self.items.get(self.pos) {
                        self.pos += 1;
                        match item {
                            Item::Char('\'') => break,
                            Item::Char(c) => word.text.push(*c),
                            Item::Value(_) => word.plain = false,
                        }
                    }
                }
                '"' => {
                    self.pos += 1;
                    self.double_quoted(&mut word);
                }
                '$' => self.dollar(&mut word),
                '`' => {
                    word.plain = false;
                    self.substitution(End::Backquote);
                }
                _ => {
                    word.text.push(c);
                    self.pos += 1;
                }
            }
        }
        word.values = self.values_between(start, self.pos);
        word
    }

    fn double_quoted(&mut self, word: &mut Word) {
        while let Some(item) = self.items.get(self.pos) {
            match *item {
                Item::Value(_) => {
                    word.plain = false;
                    self.pos += 1;
                }
                Item::Char('"') => {
                    self.pos += 1;
                    return;
                }
                Item::Char('\\') => {
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        if !matches!(c, '$' | '`' | '"' | '\\' | '\n') {
                            word.text.push('\\');
                        }
                        if c != '\n' {
                            word.text.push(c);
                        }
                        self.pos += 1;
                    }
                }
                Item::Char('$') => self.dollar(word),
                Item::Char('`') => {
                    word.plain = false;
                    self.substitution(End::Backquote);
                }
                Item::Char(c) => {
                    word.text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A `$` and what it expands: `$((…))`, `$(…)`, `${…}`, `$name`, `$'…'`.
    fn dollar(&mut self, word: &mut Word) {
        self.pos += 1;
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') => {
                word.plain = false;
                self.pos += 2;
                self.balanced('(', ')', 2);
            }
            Some('(') => {
                word.plain = false;
                self.substitution(End::Paren);
            }
            Some('{') => {
                word.plain = false;
                self.pos += 1;
                self.balanced('{', '}', 1);
            }
            Some('\'') => {
                word.plain = false;
                self.pos += 1;
                while let Some(item) = self.items.get(self.pos) {
                    self.pos += 1;
                    match item {
                        Item::Char('\\') => self.pos += 1,
                        Item::Char('\'') => break,
                        _ => {}
                    }
                }
            }
            Some(c) if c.is_alphanumeric() || "_@*#?$!-".contains(c) => {
                word.plain = false;
                self.pos += 1;
                if c.is_alphabetic() || c == '_' {
                    while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        self.pos += 1;
                    }
                }
            }
            _ => word.text.push('$'),
        }
    }

    /// Skips to the close matching `open`, `depth` levels deep.
    fn balanced(&mut self, open: char, close: char, mut depth: usize) {
        while let Some(item) = self.items.get(self.pos) {
            self.pos += 1;
            match item {
                Item::Char(c) if *c == open => depth += 1,
                Item::Char(c) if *c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// `$( … )` or `` `…` ``: its commands are read as commands of their own.
    fn substitution(&mut self, end: End) {
        self.pos += 1;
        if self.depth >= MAX_DEPTH {
            let close = if end == End::Paren { ')' } else { '`' };
            self.balanced(if end == End::Paren { '(' } else { '\0' }, close, 1);
            return;
        }
        self.depth += 1;
        if end == End::Backquote {
            self.backquotes += 1;
        }
        self.list(end);
        if end == End::Backquote {
            self.backquotes -= 1;
        }
        self.depth -= 1;
        if self.ends(end) {
            self.pos += 1;
        }
    }

    fn values_between(&self, start: usize, end: usize) -> Vec<usize> {
        self.items[start..end.min(self.items.len())]
            .iter()
            .filter_map(|i| match i {
                Item::Value(v) => Some(*v),
                Item::Char(_) => None,
            })
            .collect()
    }
}
