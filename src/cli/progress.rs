//! Live progress on stderr: a status line on a terminal (running, done, failed
//! counts and the running tasks' names), plain lines otherwise, or nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

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
    bar: Option<Arc<Mutex<Bar>>>,
}

/// The status line: drawn, or hidden while a question waits at the terminal
/// ([`pause`]), then drawn anew with the same message and elapsed time.
struct Bar {
    shown: Option<ProgressBar>,
    started: Instant,
    message: String,
    paused: u32,
    finished: bool,
}

impl Bar {
    fn draw(&mut self) {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_elapsed(self.started.elapsed())
            .with_message(self.message.clone());
        let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        self.shown = Some(bar);
    }
}

/// The status line on stderr now, if any: one terminal, one line.
static CURRENT: Mutex<Option<Weak<Mutex<Bar>>>> = Mutex::new(None);

fn current() -> Option<Arc<Mutex<Bar>>> {
    CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(Weak::upgrade)
}

/// Hides the status line until the guard is dropped: while a person reads
/// and answers a question at the terminal, nothing redraws under them.
pub struct Pause(Option<Arc<Mutex<Bar>>>);

pub fn pause() -> Pause {
    let bar = current();
    if let Some(bar) = &bar {
        let mut bar = bar.lock().unwrap_or_else(PoisonError::into_inner);
        bar.paused += 1;
        if let Some(shown) = bar.shown.take() {
            shown.finish_and_clear();
        }
    }
    Pause(bar)
}

impl Drop for Pause {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            let mut bar = bar.lock().unwrap_or_else(PoisonError::into_inner);
            bar.paused = bar.paused.saturating_sub(1);
            if bar.paused == 0 && !bar.finished && bar.shown.is_none() {
                bar.draw();
            }
        }
    }
}

/// Prints a line on stderr above the status line (which is redrawn under it).
pub fn println(line: &str) {
    let bar = current();
    let shown = bar.as_ref().and_then(|bar| {
        let bar = bar.lock().unwrap_or_else(PoisonError::into_inner);
        bar.shown.clone()
    });
    match shown {
        Some(shown) => shown.suspend(|| errln!("{line}")),
        None => errln!("{line}"),
    }
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        let bar = (mode == Mode::Bar).then(|| {
            let mut bar = Bar {
                shown: None,
                started: Instant::now(),
                message: String::new(),
                paused: 0,
                finished: false,
            };
            bar.draw();
            let bar = Arc::new(Mutex::new(bar));
            *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::downgrade(&bar));
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
                _ => {}
            }
            if let Some(bar) = &bar {
                let message = summary(&s);
                let mut bar = bar.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(shown) = &bar.shown {
                    shown.set_message(message.clone());
                }
                bar.message = message;
            }
        }))
    }

    /// Clears the status line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            let mut bar = bar.lock().unwrap_or_else(PoisonError::into_inner);
            bar.finished = true;
            if let Some(shown) = bar.shown.take() {
                shown.finish_and_clear();
            }
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
