//! Live progress on stderr: a status line on a terminal (running, done, failed
//! counts and the running tasks' names), plain lines otherwise, or nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runtime::{Event, Observer, TaskStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Quiet,
}

#[derive(Default)]
struct State {
    running: BTreeSet<String>,
    done: u64,
    failed: u64,
    skipped: u64,
}

/// The display and the observer that feeds it.
pub struct Progress {
    mode: Mode,
    state: Arc<Mutex<State>>,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            mode,
            state: Arc::default(),
            bar,
        }
    }

    /// The callback to hand to the runtime, if anything is displayed.
    pub fn observer(&self) -> Option<Observer> {
        if self.mode == Mode::Quiet {
            return None;
        }
        let state = self.state.clone();
        let bar = self.bar.clone();
        let mode = self.mode;
        Some(Arc::new(move |event: &Event| {
            let Ok(mut s) = state.lock() else { return };
            match event {
                Event::Started { id, .. } => {
                    s.running.insert(id.clone());
                }
                Event::Finished(record) => {
                    let id = record.id();
                    let was_running = s.running.remove(&id);
                    match record.status {
                        TaskStatus::Succeeded => s.done += 1,
                        TaskStatus::Skipped => s.skipped += 1,
                        _ => s.failed += 1,
                    }
                    // Plain lines for tasks that ran (not instant ones) and every failure.
                    if mode == Mode::Lines
                        && (was_running || record.status != TaskStatus::Succeeded)
                    {
                        let took = record
                            .duration
                            .map_or_else(String::new, |d| format!(" in {:.2}s", d.as_secs_f64()));
                        let why = record
                            .error
                            .as_deref()
                            .map_or_else(String::new, |e| format!(": {e}"));
                        errln!(
                            "{:>9} {id} ({}){took}{why}",
                            record.status.as_str(),
                            record.agent
                        );
                    }
                }
            }
            if let Some(bar) = &bar {
                bar.set_message(summary(&s));
            }
        }))
    }

    /// Clears the status line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn summary(s: &State) -> String {
    let mut names: Vec<&str> = s.running.iter().take(4).map(String::as_str).collect();
    if s.running.len() > 4 {
        names.push("…");
    }
    let mut text = format!(
        "{} running, {} done, {} failed",
        s.running.len(),
        s.done,
        s.failed
    );
    if s.skipped > 0 {
        text.push_str(&format!(", {} skipped", s.skipped));
    }
    if !names.is_empty() {
        text.push_str(": ");
        text.push_str(&names.join(", "));
    }
    text
}
