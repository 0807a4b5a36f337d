//! The REPL's `:commands`, and [`handle`]: one input (an entry or a command)
//! turned into a [`Reply`] that a front end prints.

use std::path::Path;

use super::render;
use super::session::{EntryOutcome, Kind, Problem, RunControl, Session};
use crate::diag::has_errors;
use crate::engine::Engine;
use crate::value;

/// Every command, with its argument and what it does (for `:help` and completion).
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (":help", "", "this help"),
    (
        ":vars",
        "",
        "the values bound so far, with a preview of each",
    ),
    (":agents", "", "the agents (and flows) the session can call"),
    (
        ":graph",
        "[NAME]",
        "the task graph of the session, or of one binding",
    ),
    (
        ":load",
        "FILE",
        "run a .flow file's statements into the session",
    ),
    (
        ":save",
        "FILE",
        "write the session as a script `flow run` reproduces",
    ),
    (
        ":log",
        "[TASK…]",
        "what a task of the session printed (the latest of that id), or every task",
    ),
    (
        ":why",
        "[TASK…]",
        "why a task ran, compared with the earlier task of that id",
    ),
    (":reset", "", "forget every binding and declaration"),
    (":quit", "", "leave (also Ctrl-D)"),
];

/// What an input produced.
#[derive(Debug)]
pub enum Reply {
    /// An entry ran (or failed, or was cancelled).
    Entry(EntryOutcome),
    /// A command's output, for stdout.
    Text(String),
    /// A command that could not do its work; counts as a failure.
    Error(String),
    /// A command whose work failed with diagnostics (`:save` of a script that
    /// does not check).
    Problems(String, Vec<Problem>),
    Quit,
}

impl Reply {
    /// Whether a non-interactive session should exit non-zero for it.
    pub fn failed(&self) -> bool {
        matches!(
            self,
            Reply::Entry(EntryOutcome::Failed(_) | EntryOutcome::Cancelled { .. })
                | Reply::Error(_)
                | Reply::Problems(..)
        )
    }
}

/// Whether an input line (at the start of an entry) is a command.
pub fn is_command(line: &str) -> bool {
    line.trim_start().starts_with(':')
}

/// Runs one complete input: a `:command` or an entry.
pub async fn handle(session: &mut Session, input: &str, ctl: &RunControl) -> Reply {
    if is_command(input) {
        return command(session, input.trim(), ctl).await;
    }
    let name = session.next_name();
    Reply::Entry(session.eval_entry(&name, input, ctl).await)
}

/// The command a word names: itself, or a prefix of one (`:g` for
/// `:graph`; `:l` and `:lo` are `:load`, listed before `:log`).
pub fn resolve(word: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|(c, _, _)| *c == word || (word.len() >= 2 && c.starts_with(word)))
        .map(|(c, _, _)| *c)
}

async fn command(session: &mut Session, line: &str, ctl: &RunControl) -> Reply {
    let (word, arg) = match line.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (line, ""),
    };
    let Some(name) = resolve(word) else {
        let known = COMMANDS.iter().map(|(c, _, _)| *c);
        let hint = value::suggest(word, known)
            .map_or_else(String::new, |s| format!("; did you mean `{s}`?"));
        return Reply::Error(format!(
            "unknown command `{word}`{hint} (`:help` lists them)"
        ));
    };
    let needs_arg = |what: &str| Reply::Error(format!("`{name}` needs {what}: `{name} {what}`"));
    match name {
        ":help" => Reply::Text(help()),
        ":vars" => Reply::Text(vars(session)),
        ":agents" => Reply::Text(agents(session)),
        ":graph" => graph(session, arg),
        ":load" if arg.is_empty() => needs_arg("FILE"),
        ":load" => load(session, arg, ctl).await,
        ":save" if arg.is_empty() => needs_arg("FILE"),
        ":save" => save(session, Path::new(arg)),
        ":log" => super::store::log(session, arg),
        ":why" => super::store::why(session, arg),
        ":reset" => {
            session.reset();
            Reply::Text("the session is empty\n".to_string())
        }
        _ => Reply::Quit,
    }
}

fn help() -> String {
    let mut out = String::from(
        "Type a statement or an expression; its tasks run at once. An entry goes on\n\
         over several lines while a bracket, block, `${`, `\"\"\"` or `r\"\"\"` is open.\n\
         `let` and `param` values, `agent` and `flow` declarations stay for later\n\
         entries; a bare expression prints its value. Ctrl-C cancels a running\n\
         entry or clears the line; Ctrl-D leaves. The session's tasks are recorded\n\
         in the run store as one run (`flow runs`); `:log` and `:why` read it.\n\ncommands:\n",
    );
    for (name, arg, what) in COMMANDS {
        let head = if arg.is_empty() {
            name.to_string()
        } else {
            format!("{name} {arg}")
        };
        out.push_str(&format!("  {head:<14} {what}\n"));
    }
    out
}

fn vars(session: &Session) -> String {
    let rows: Vec<(String, String)> = session
        .params()
        .iter()
        .map(|(n, v)| (format!("param {n}"), value::preview(v, 60)))
        .chain(
            session
                .values()
                .iter()
                .map(|(n, v)| (n.clone(), value::preview(v, 60))),
        )
        .collect();
    if rows.is_empty() {
        return "no values yet: `let x = …` binds one\n".to_string();
    }
    table(&rows, " = ")
}

fn agents(session: &Session) -> String {
    let mut rows: Vec<(String, String)> = session
        .declarations(Kind::Agent)
        .into_iter()
        .map(|(name, text)| (name, right_of_equals(&text)))
        .collect();
    rows.extend(
        session
            .engine()
            .agent_names()
            .map(|n| (n.to_string(), "host agent".to_string())),
    );
    let flows: Vec<(String, String)> = session
        .declarations(Kind::Flow)
        .into_iter()
        .map(|(name, text)| {
            let head = text.split('{').next().unwrap_or("").trim();
            (name, one_line(head))
        })
        .collect();
    let mut out = if rows.is_empty() {
        "no agents yet: `agent E = echo()` declares one; backends can also be called \
         directly, as `sh(\"ls\")`\n"
            .to_string()
    } else {
        table(&rows, "  ")
    };
    if !flows.is_empty() {
        out.push_str("flows:\n");
        out.push_str(&table(&flows, "  "));
    }
    out
}

/// `backend(config) limit N` from `agent Name = backend(config) limit N`, on one line.
fn right_of_equals(decl: &str) -> String {
    one_line(decl.split_once('=').map_or(decl, |(_, r)| r).trim())
}

fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = joined.chars();
    let short: String = chars.by_ref().take(70).collect();
    if chars.next().is_some() {
        format!("{short}…")
    } else {
        short
    }
}

fn table(rows: &[(String, String)], sep: &str) -> String {
    let width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(n, v)| format!("  {n:<width$}{sep}{v}\n"))
        .collect()
}

/// The session compiled as one script, for `:graph` and `:save`.
fn session_script(session: &Session) -> Result<crate::engine::Script, Vec<Problem>> {
    let text = session.script_text();
    let engine: &Engine = session.engine();
    engine.compile("session", &text).map_err(|e| {
        e.diagnostics
            .into_iter()
            .map(|diagnostic| Problem {
                source: e.source.clone(),
                diagnostic,
            })
            .collect()
    })
}

fn graph(session: &Session, name: &str) -> Reply {
    if session.entries.is_empty() {
        return Reply::Text("the session is empty: no graph yet\n".to_string());
    }
    let script = match session_script(session) {
        Ok(s) => s,
        Err(problems) => {
            return Reply::Problems(
                "the session does not compile as one script (a name was rebound after use?)"
                    .to_string(),
                problems,
            )
        }
    };
    if name.is_empty() {
        return Reply::Text(render::graph_text(&script.graph, None));
    }
    if let Some((_, text)) = session
        .declarations(Kind::Agent)
        .into_iter()
        .find(|(n, _)| n == name)
    {
        return Reply::Text(format!("{}\n", one_line(&text)));
    }
    match render::graph_of(&script.graph, name) {
        Some(text) => Reply::Text(text),
        None if session.value(name).is_some() => Reply::Text(format!(
            "`{name}` has no node of its own in the session's graph (it names another binding's value)\n"
        )),
        None => {
            let names = session.names();
            let hint = value::suggest(name, names.iter().map(String::as_str))
                .map_or_else(String::new, |s| format!("; did you mean `{s}`?"));
            Reply::Error(format!("no binding named `{name}` in the session{hint}"))
        }
    }
}

async fn load(session: &mut Session, path: &str, ctl: &RunControl) -> Reply {
    let source = match super::super::read_source(Path::new(path)) {
        Ok(s) => s,
        Err(message) => return Reply::Error(message),
    };
    Reply::Entry(
        session
            .eval_entry(path, &outputs_as_values(&source), ctl)
            .await,
    )
}

/// A script's text for the REPL, each top-level `output EXPR` read as the
/// bare expression `EXPR` (the keyword blanked out, so positions stay): a
/// session has no script to return from, and prints the value of an entry's
/// final expression instead.
fn outputs_as_values(source: &crate::source::SourceFile) -> String {
    let mut text = source.text.to_string();
    let Ok(program) = crate::syntax::parse(source) else {
        return text;
    };
    for stmt in &program.stmts {
        if let crate::ast::StmtKind::Output(_) = stmt.kind {
            let start = stmt.span.start as usize;
            if text.get(start..start + 6) == Some("output") {
                text.replace_range(start..start + 6, "      ");
            }
        }
    }
    text
}

fn save(session: &Session, path: &Path) -> Reply {
    let script = session.script();
    // A replaced param the session ran with a `--param` override took that
    // value too; under its fresh name it needs the override of its own.
    let overridden: Vec<(String, String, String)> = script
        .renamed_params
        .iter()
        .filter_map(|(old, new)| {
            let (_, value) = session.options().params.iter().find(|(n, _)| n == old)?;
            Some((old.clone(), new.clone(), value.to_string()))
        })
        .collect();
    let mut text =
        String::from("# written by `flow repl` (:save); `flow run` reproduces the session\n");
    for (old, new, value) in &overridden {
        text.push_str(&format!(
            "# `param {new}` is the session's replaced `param {old}`, which ran with --param {old}={value}: pass --param {new}=… too\n"
        ));
    }
    text.push_str(&script.text);
    if let Err(e) = std::fs::write(path, &text) {
        return Reply::Error(format!("cannot write `{}`: {e}", path.display()));
    }
    let mut done = format!(
        "saved {} statement(s) to {}\n",
        script.statements,
        path.display()
    );
    for (old, new, value) in &overridden {
        done.push_str(&format!(
            "note: the replaced `param {old}` is saved as `param {new}`; the session ran it with --param {old}={value}, so pass --param {new}={value} to `flow run` as well\n"
        ));
    }
    match session_script(session) {
        Err(problems)
            if has_errors(
                &problems
                    .iter()
                    .map(|p| p.diagnostic.clone())
                    .collect::<Vec<_>>(),
            ) =>
        {
            Reply::Problems(
                format!(
                    "saved {}, but it does not check as one script: an entry used a name that a later entry rebound",
                    path.display()
                ),
                problems,
            )
        }
        _ => Reply::Text(done),
    }
}
