//! The interactive front end on rustyline: prompt and continuation prompt,
//! Emacs keys, history in the user's data directory, Tab completion and hints
//! from history. Ctrl-C at the prompt clears the entry; while an entry runs it
//! cancels the entry (see [`super::run_input`]).
//!
//! One [`Editor`] reads every line, continuation lines included. rustyline
//! reads the terminal through a buffer; its `buffer-redux` feature (see
//! `Cargo.toml`) hands what one `readline` read past its Enter to the next, so
//! lines typed ahead (at the `...` prompt, or while an entry runs) are kept.

use std::borrow::Cow;
use std::path::PathBuf;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::config::{CompletionType, Config, EditMode};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::history::DefaultHistory;
use rustyline::{Context, Editor, Helper, Validator};
use tokio::runtime::Runtime;

use super::{commands, is_command, run_input, Printer, Reply, Session, Terminate};
use crate::cli::exit;
use crate::cli::progress::Mode;
use crate::syntax::needs_more_input;

const PROMPT: &str = "flow> ";
const MORE: &str = "  ... ";

/// Where the history is kept: `$XDG_DATA_HOME/flow/history` or the platform's
/// data directory.
fn history_path() -> Option<PathBuf> {
    Some(dirs::data_dir()?.join("flow").join("history"))
}

pub(super) fn run(
    runtime: &Runtime,
    session: &mut Session,
    printer: Printer,
    progress: Mode,
    terminate: &Terminate,
) -> u8 {
    let config = Config::builder()
        .edit_mode(EditMode::Emacs)
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .max_history_size(1000)
        .and_then(|c| c.history_ignore_dups(true))
        .map(|c| c.build())
        .unwrap_or_default();
    let mut editor: Editor<FlowHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            errln!("error: cannot use the terminal: {e}");
            return exit::FAILED;
        }
    };
    editor.set_helper(Some(FlowHelper::new(printer.color)));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    errln!(
        "flow {} — type an expression or a statement; :help for commands, Ctrl-D to leave",
        env!("CARGO_PKG_VERSION")
    );
    let mut buffer = String::new();
    loop {
        if let Some(helper) = editor.helper_mut() {
            helper.names = session.completion_names();
            helper.tasks = session.task_ids();
        }
        let prompt = if buffer.is_empty() { PROMPT } else { MORE };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                errln!("error: cannot read the terminal: {e}");
                break;
            }
        };
        let input = if buffer.is_empty() && is_command(&line) {
            line
        } else {
            buffer.push_str(&line);
            buffer.push('\n');
            if needs_more_input(&buffer) {
                continue;
            }
            std::mem::take(&mut buffer)
        };
        if input.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(input.trim_end());
        if let Some(path) = &history {
            save_history(&mut editor, path);
        }
        let (reply, _) = run_input(runtime, session, &input, progress, terminate);
        printer.reply(&reply);
        if terminate.received() {
            return exit::INTERRUPTED;
        }
        if let Reply::Quit = reply {
            break;
        }
    }
    exit::OK
}

fn save_history(editor: &mut Editor<FlowHelper, DefaultHistory>, path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Losing history is not worth interrupting the session for.
    let _ = editor.save_history(path);
}

/// Completion, hints and their colour.
#[derive(Helper, Validator)]
struct FlowHelper {
    /// The session's names, refreshed before each prompt.
    names: Vec<String>,
    /// The ids of the session's recorded tasks, for `:log` and `:why`.
    tasks: Vec<String>,
    hinter: HistoryHinter,
    files: FilenameCompleter,
    color: bool,
}

impl FlowHelper {
    fn new(color: bool) -> FlowHelper {
        FlowHelper {
            names: Vec::new(),
            tasks: Vec::new(),
            hinter: HistoryHinter::new(),
            files: FilenameCompleter::new(),
            color,
        }
    }
}

/// What Tab offers for the word before the cursor: after `:log` or `:why`,
/// the session's task ids (`fetch[2]`, `draft.intro`: words of their own).
pub(super) fn candidates(names: &[String], tasks: &[String], before: &str) -> (usize, Vec<String>) {
    let trimmed = before.trim_start();
    if let Some((word, _)) = trimmed.split_once(char::is_whitespace) {
        if matches!(commands::resolve(word), Some(":log" | ":why")) {
            let start = before
                .char_indices()
                .rfind(|(_, c)| c.is_whitespace())
                .map_or(0, |(i, c)| i + c.len_utf8());
            let partial = &before[start..];
            let found = (tasks.iter())
                .filter(|t| t.starts_with(partial))
                .cloned()
                .collect();
            return (start, found);
        }
    }
    if trimmed.starts_with(':') && !trimmed.contains(char::is_whitespace) {
        let start = before.len() - trimmed.len();
        let found = commands::COMMANDS
            .iter()
            .map(|(c, _, _)| c.to_string())
            .filter(|c| c.starts_with(trimmed))
            .collect();
        return (start, found);
    }
    let word_len = before
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .count();
    let start = before.len() - word_len;
    let word = &before[start..];
    let after_colon_command = trimmed.starts_with(':');
    let mut found: Vec<String> = if after_colon_command {
        names
            .iter()
            .filter(|n| n.starts_with(word))
            .cloned()
            .collect()
    } else {
        crate::syntax::KEYWORDS
            .iter()
            .map(|k| k.to_string())
            .chain(
                crate::builtins::FUNCTIONS
                    .iter()
                    .map(|f| f.name.to_string()),
            )
            .chain(names.iter().cloned())
            .filter(|n| n.starts_with(word))
            .collect()
    };
    found.sort();
    found.dedup();
    (start, found)
}

/// Whether the cursor is in the argument of `:load` or `:save`, written as
/// any prefix that names the command (`:l`, `:lo`, `:sav`…).
pub(super) fn takes_a_file(before: &str) -> bool {
    let Some((word, _)) = before.trim_start().split_once(char::is_whitespace) else {
        return false;
    };
    word.len() >= 2 && [":load", ":save"].iter().any(|c| c.starts_with(word))
}

impl Completer for FlowHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        if takes_a_file(before) {
            return self.files.complete(line, pos, ctx);
        }
        let (start, found) = candidates(&self.names, &self.tasks, before);
        let pairs = found
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for FlowHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hinter.hint(line, pos, ctx)
    }
}

impl Highlighter for FlowHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::candidates;

    #[test]
    fn completes_commands_keywords_builtins_and_names() {
        let names = vec![
            "Extractor".to_string(),
            "results".to_string(),
            "echo".to_string(),
        ];
        let candidates = |before| candidates(&names, &[], before);
        assert_eq!(candidates(":g"), (0, vec![":graph".to_string()]));
        assert_eq!(candidates("let x = Ex").1, vec!["Extractor"]);
        let (start, found) = candidates("let x = ra");
        assert_eq!(start, 8);
        assert_eq!(found, vec!["range"]);
        assert!(candidates("ma").1.contains(&"map".to_string()));
        assert!(candidates("let y = e").1.contains(&"echo".to_string()));
        assert_eq!(candidates(":graph re").1, vec!["results"]);
        assert!(is_sorted(&candidates("").1));
    }

    #[test]
    fn log_and_why_complete_task_ids() {
        let tasks = ["fetch[1]", "fetch[2]", "draft.intro", "x"].map(String::from);
        let names = vec!["results".to_string()];
        assert_eq!(
            candidates(&names, &tasks, ":log fetch["),
            (5, vec!["fetch[1]".to_string(), "fetch[2]".to_string()])
        );
        assert_eq!(
            candidates(&names, &tasks, ":w x fetch[2] dr"),
            (14, vec!["draft.intro".to_string()])
        );
        assert_eq!(candidates(&names, &tasks, ":why ").1.len(), 4);
        assert_eq!(candidates(&names, &tasks, ":lo").1, vec![":load", ":log"]);
        // `:graph` still completes the session's names.
        assert_eq!(candidates(&names, &tasks, ":graph re").1, vec!["results"]);
        // A multi-byte space (U+3000, 3 bytes) before the word.
        assert_eq!(
            candidates(&names, &tasks, ":log\u{3000}fetch[1"),
            (7, vec!["fetch[1]".to_string()])
        );
    }

    #[test]
    fn load_and_save_complete_file_names_after_any_prefix() {
        use super::takes_a_file;
        for line in [":load ", ":l x", ":lo ", ":sav dir/", "  :s "] {
            assert!(takes_a_file(line), "{line}");
        }
        for line in [":load", ":graph x", ":x ", "let s = 1", ": "] {
            assert!(!takes_a_file(line), "{line}");
        }
    }

    fn is_sorted(v: &[String]) -> bool {
        v.windows(2).all(|w| w[0] <= w[1])
    }
}
