//! Reaching a person for `approve`: at the terminal ([`Terminal`]), through
//! the run store (`flow approve` / `flow deny` from another shell, see
//! `store::approvals`), or both at once, the first answer winning
//! ([`approver`], used by `flow run` and the REPL).

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::agent::approval::{withdrawn, AskFuture, FirstOf, Nobody};
use crate::agent::{AgentError, Approver, Decision, Question, Withdrawal};
use crate::store::StoreApprover;

/// The approvers of a run: the terminal when `terminal`, the run store when
/// there is one (`store_dir`: the folder `--store` or `FLOW_STORE` named, if
/// not the default); none of them is an approver that fails at once, saying
/// how to run so that someone can answer (`unrecorded`: why there is no store).
pub(crate) fn approver(
    terminal: bool,
    store: Option<StoreApprover>,
    store_dir: Option<&std::path::Path>,
    unrecorded: &str,
) -> Arc<dyn Approver> {
    let elsewhere = store.as_ref().map(|s| Elsewhere {
        run: s.run(),
        store: store_dir.map(|dir| {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            shell_word(&dir.display().to_string())
        }),
    });
    let mut all: Vec<Arc<dyn Approver>> = Vec::new();
    if terminal {
        all.push(Arc::new(Terminal::new(elsewhere.clone())));
    }
    if let (Some(store), Some(elsewhere)) = (store, elsewhere) {
        // At a terminal, its prompt says how to answer from another shell.
        let store = if terminal {
            store
        } else {
            store.on_wait(move |_, question| {
                super::progress::println(&waiting_line(&elsewhere, question))
            })
        };
        all.push(Arc::new(store));
    }
    match all.len() {
        0 => Arc::new(Nobody(
            AgentError::new(format!(
                "`approve` has no one to ask: stdin is not a terminal, and {unrecorded}"
            ))
            .note(
                "run it on a terminal to answer there, or with the run store (without \
                 `--no-store`) to answer from another shell: `flow approve RUN TASK` or \
                 `flow deny RUN TASK --reason …`",
            ),
        )),
        1 => all.remove(0),
        _ => Arc::new(FirstOf(all)),
    }
}

/// Whether questions can be asked at this terminal: stdin and stderr are one.
pub(crate) fn at_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// How another shell answers a run's questions: its run, and its store
/// when it is not the default one.
#[derive(Clone, Debug)]
pub(crate) struct Elsewhere {
    pub run: i64,
    /// `--store DIR` for the commands, as a shell word.
    pub store: Option<String>,
}

impl Elsewhere {
    /// `flow approve 12 deploy | flow deny 12 deploy --reason …`.
    fn commands(&self, task: &str) -> String {
        let task = shell_word(task);
        let store = (self.store.as_ref()).map_or_else(String::new, |dir| format!("--store {dir} "));
        let run = self.run;
        format!("flow approve {store}{run} {task} | flow deny {store}{run} {task} --reason …")
    }
}

/// The line a run prints when a question waits in the store.
pub(crate) fn waiting_line(elsewhere: &Elsewhere, question: &Question) -> String {
    format!(
        "waiting for approval: {} — {:?} (run {}): {}",
        question.task,
        question.text,
        elsewhere.run,
        elsewhere.commands(&question.task)
    )
}

/// A task id or a path as a shell word: quoted when it holds more than
/// letters, digits and `_ . - @ / + , : =` (`'items[2].ok'`).
pub(crate) fn shell_word(id: &str) -> String {
    let plain = id.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '_' | '.' | '-' | '@' | '/' | '+' | ',' | ':' | '=')
    });
    if plain && !id.is_empty() {
        id.to_string()
    } else {
        format!("'{}'", id.replace('\'', r"'\''"))
    }
}

/// Who answers here: the user's login name, else `fallback`.
pub(crate) fn user_name(fallback: &str) -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|name| !name.trim().is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// Asks at the terminal: the question and its details on stderr, the answer
/// read from stdin (a line: `y` or `n`, then a reason for a denial). The
/// status line is hidden meanwhile; several questions are asked one at a time.
pub(crate) struct Terminal {
    turn: tokio::sync::Mutex<()>,
    /// How another shell could answer, when one can.
    elsewhere: Option<Elsewhere>,
}

impl Terminal {
    pub(crate) fn new(elsewhere: Option<Elsewhere>) -> Terminal {
        Terminal {
            turn: tokio::sync::Mutex::new(()),
            elsewhere,
        }
    }
}

impl Approver for Terminal {
    fn ask<'a>(&'a self, question: &'a Question, withdrawal: &'a Withdrawal) -> AskFuture<'a> {
        Box::pin(async move {
            let _turn = tokio::select! {
                turn = self.turn.lock() => turn,
                () = withdrawal.withdrawn() => return Err(withdrawn()),
            };
            let stop = Arc::new(AtomicBool::new(false));
            let (asked, elsewhere) = (question.clone(), self.elsewhere.clone());
            let answer = withdrawal.answer_slot();
            let flag = stop.clone();
            let mut talk = tokio::task::spawn_blocking(move || {
                let _pause = super::progress::pause();
                let mut lines = TtyLines {
                    stop: flag,
                    pending: Vec::new(),
                };
                let mut err = std::io::stderr();
                let said = converse(&mut lines, &mut err, &asked, elsewhere.as_ref());
                if let Said::Withdrawn = said {
                    let _ = writeln!(err, "{}", withdrawn_line(&asked, answer.get()));
                }
                said
            });
            let said = tokio::select! {
                said = &mut talk => said,
                () = withdrawal.withdrawn() => {
                    stop.store(true, Ordering::SeqCst);
                    talk.await
                }
            };
            match said {
                Ok(Said::Answer(decision)) => Ok(decision),
                Ok(Said::Withdrawn) => Err(withdrawn()),
                Ok(Said::Closed) => Err(AgentError::new(
                    "the terminal closed (end of input) before anyone answered",
                )),
                Err(_) => Err(AgentError::new(
                    "asking at the terminal stopped unexpectedly",
                )),
            }
        })
    }
}

/// What the person at the terminal did.
#[derive(Debug, PartialEq)]
pub(crate) enum Said {
    Answer(Decision),
    /// The end of input: no one is there.
    Closed,
    /// Answered elsewhere, timed out or cancelled before they did.
    Withdrawn,
}

/// One line read from the person.
#[derive(Debug, PartialEq)]
pub(crate) enum Line {
    Text(String),
    Closed,
    Withdrawn,
}

/// Where answers come from: the terminal, or a test's script of lines.
pub(crate) trait Lines {
    fn next_line(&mut self) -> Line;
}

/// Shows `question` on `out` and reads the answer from `lines`.
pub(crate) fn converse(
    lines: &mut dyn Lines,
    out: &mut dyn Write,
    question: &Question,
    elsewhere: Option<&Elsewhere>,
) -> Said {
    let _ = out.write_all(show(question, elsewhere).as_bytes());
    let approved = loop {
        let _ = write!(out, "approve? [y/n] ");
        let _ = out.flush();
        match lines.next_line() {
            Line::Text(text) => match text.trim().to_lowercase().as_str() {
                "y" | "yes" => break true,
                "n" | "no" => break false,
                _ => {
                    let _ = writeln!(out, "please answer y (approve) or n (deny)");
                }
            },
            Line::Closed => {
                let _ = writeln!(out);
                return Said::Closed;
            }
            Line::Withdrawn => {
                let _ = writeln!(out);
                return Said::Withdrawn;
            }
        }
    };
    let mut reason = None;
    if !approved {
        let _ = write!(out, "reason (Enter for none): ");
        let _ = out.flush();
        match lines.next_line() {
            Line::Text(text) => reason = Some(text.trim().to_string()).filter(|r| !r.is_empty()),
            // Denied already: the reason is what was missing.
            Line::Closed => {
                let _ = writeln!(out);
            }
            Line::Withdrawn => {
                let _ = writeln!(out);
                return Said::Withdrawn;
            }
        }
    }
    Said::Answer(Decision {
        approved,
        by: user_name("terminal"),
        via: "terminal".into(),
        reason,
    })
}

/// The question as the terminal shows it.
fn show(question: &Question, elsewhere: Option<&Elsewhere>) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(text);
    let _ = writeln!(text, "approval needed: {}", question.text);
    for (name, value) in &question.details {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => serde_json::to_string_pretty(other).unwrap_or_default(),
        };
        if shown.contains('\n') {
            let _ = writeln!(text, "  {name}:");
            for line in shown.lines() {
                let _ = writeln!(text, "    {line}");
            }
        } else {
            let _ = writeln!(text, "  {name}: {shown}");
        }
    }
    let mut about = format!("  (task `{}`", question.task);
    if let Some(limit) = question.timeout {
        let _ = write!(
            about,
            "; times out after {}",
            humantime::format_duration(limit)
        );
    }
    about.push(')');
    let _ = writeln!(text, "{about}");
    if let Some(elsewhere) = elsewhere {
        let _ = writeln!(
            text,
            "  (or from another shell: {})",
            elsewhere.commands(&question.task)
        );
    }
    text
}

/// What the terminal says of a question withdrawn while it was asked.
fn withdrawn_line(question: &Question, answer: Option<&Decision>) -> String {
    match answer {
        Some(d) => format!(
            "`{}` was {}{}{}",
            question.task,
            if d.approved { "approved" } else { "denied" },
            d.who(),
            d.reason
                .as_deref()
                .map_or_else(String::new, |r| format!(": {r}"))
        ),
        None => format!("`{}` is no longer waiting for an answer", question.task),
    }
}

/// Lines from stdin, a terminal, read so that a withdrawn question stops
/// reading at once: it waits for input at most [`TICK`] at a time, and reads
/// only what is there, so nothing typed later is taken from the next reader
/// (the REPL's line editor).
struct TtyLines {
    stop: Arc<AtomicBool>,
    pending: Vec<u8>,
}

const TICK: Duration = Duration::from_millis(100);

impl Lines for TtyLines {
    fn next_line(&mut self) -> Line {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=at).collect();
                return Line::Text(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            if self.stop.load(Ordering::SeqCst) {
                return Line::Withdrawn;
            }
            let stdin = std::io::stdin();
            let ready = {
                let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
                let tick = PollTimeout::try_from(TICK).unwrap_or(PollTimeout::ZERO);
                match poll(&mut fds, tick) {
                    Ok(0) | Err(nix::errno::Errno::EINTR) => false,
                    Ok(_) => true,
                    Err(_) => return Line::Closed,
                }
            };
            if !ready {
                continue;
            }
            let mut buffer = [0u8; 1024];
            match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&stdin), &mut buffer) {
                Ok(0) if self.pending.is_empty() => return Line::Closed,
                // The end of input after a partial line: that line.
                Ok(0) => self.pending.push(b'\n'),
                Ok(n) => self.pending.extend_from_slice(&buffer[..n]),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => return Line::Closed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Script(Vec<Line>);

    impl Lines for Script {
        fn next_line(&mut self) -> Line {
            if self.0.is_empty() {
                Line::Closed
            } else {
                self.0.remove(0)
            }
        }
    }

    fn question() -> Question {
        Question {
            task: "items[2].ok".into(),
            text: "Deploy to production?".into(),
            details: json!({"plan": "v2\nmigrate db", "hosts": 3})
                .as_object()
                .cloned()
                .unwrap(),
            timeout: Some(Duration::from_secs(3600)),
        }
    }

    fn talk(lines: Vec<Line>) -> (Said, String) {
        let mut out = Vec::new();
        let elsewhere = Elsewhere {
            run: 12,
            store: None,
        };
        let said = converse(&mut Script(lines), &mut out, &question(), Some(&elsewhere));
        (said, String::from_utf8(out).unwrap())
    }

    fn text(s: &str) -> Line {
        Line::Text(s.into())
    }

    #[test]
    fn yes_approves_and_the_question_shows_its_details() {
        let (said, shown) = talk(vec![text("maybe"), text(" Y ")]);
        let Said::Answer(decision) = said else {
            panic!("{said:?}")
        };
        assert!(decision.approved && decision.via == "terminal" && decision.reason.is_none());
        assert!(
            shown.contains("approval needed: Deploy to production?"),
            "{shown}"
        );
        assert!(
            shown.contains("  plan:\n    v2\n    migrate db\n"),
            "{shown}"
        );
        assert!(shown.contains("  hosts: 3\n"), "{shown}");
        assert!(shown.contains("times out after 1h"), "{shown}");
        assert!(
            shown.contains("flow approve 12 'items[2].ok' | flow deny 12 'items[2].ok'"),
            "{shown}"
        );
        assert!(
            shown.contains("please answer y (approve) or n (deny)"),
            "{shown}"
        );
    }

    #[test]
    fn no_denies_with_the_reason_given_next() {
        let (said, _) = talk(vec![text("n"), text("  not today ")]);
        let Said::Answer(decision) = said else {
            panic!("{said:?}")
        };
        assert!(!decision.approved);
        assert_eq!(decision.reason.as_deref(), Some("not today"));
        let (said, _) = talk(vec![text("no"), text("")]);
        assert!(matches!(
            said,
            Said::Answer(Decision {
                approved: false,
                reason: None,
                ..
            })
        ));
    }

    #[test]
    fn the_end_of_input_or_a_withdrawal_is_no_answer() {
        assert_eq!(talk(vec![]).0, Said::Closed);
        assert_eq!(talk(vec![text("x"), Line::Withdrawn]).0, Said::Withdrawn);
        assert_eq!(talk(vec![text("n"), Line::Withdrawn]).0, Said::Withdrawn);
    }

    #[test]
    fn task_ids_are_quoted_for_the_shell_when_they_need_it() {
        assert_eq!(shell_word("deploy"), "deploy");
        assert_eq!(shell_word("ok@2"), "ok@2");
        assert_eq!(shell_word("items[2].ok"), "'items[2].ok'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn another_store_is_named_in_the_commands() {
        let elsewhere = Elsewhere {
            run: 3,
            store: Some(shell_word("/tmp/my runs")),
        };
        assert_eq!(
            elsewhere.commands("deploy"),
            "flow approve --store '/tmp/my runs' 3 deploy | flow deny --store '/tmp/my runs' 3 deploy --reason …"
        );
    }
}
