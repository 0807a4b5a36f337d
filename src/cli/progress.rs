//! Live progress on stderr, fed by the runtime's events.
//!
//! On a terminal ([`Mode::Bar`]): a display redrawn ten times a second, the
//! tasks ended of those known so far (the total grows as `map`s expand), a
//! percentage, what is running (the longest-running first, with their
//! times), and an ETA once enough tasks ended to tell a rate. Lines printed
//! meanwhile (failures, retries, `-v`, a question's notice) go above it.
//!
//! Otherwise ([`Mode::Lines`], a CI log): no line per task, only failures,
//! retries, one line for the tasks skipped after a failure, and a status
//! line every few seconds (`FLOW_PROGRESS_INTERVAL`, 5 s by default):
//! `[12s] 120/200 done, 4 running, 1 failed`.
//!
//! `-v` adds a line for every task that ends, `-vv` one for every task as it
//! starts; `-q` ([`Mode::Quiet`]) shows nothing. What was counted feeds the
//! closing summary of `flow run` (see `summary`).

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::style::{self, Verbosity};
use super::summary::{short_duration, Tally};
use crate::runtime::{Event, Observer, TaskRecord, TaskStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Quiet,
}

/// How often the display on a terminal is redrawn.
const REDRAW: Duration = Duration::from_millis(100);
/// How often the status line is printed when stderr is not a terminal.
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// The running tasks the display names; the rest are "+N more".
const RUNNING_SHOWN: usize = 3;

/// The status line's interval: `FLOW_PROGRESS_INTERVAL` (`200ms`, `10s`) or 5 s.
fn status_interval() -> Duration {
    let Some(text) = std::env::var_os("FLOW_PROGRESS_INTERVAL") else {
        return STATUS_EVERY;
    };
    let text = text.to_string_lossy();
    match humantime::parse_duration(text.trim()) {
        Ok(every) if !every.is_zero() => every,
        _ => {
            errln!(
                "warning: FLOW_PROGRESS_INTERVAL=`{text}` is not a duration such as `5s` or \
                 `200ms`; the status line comes every 5s"
            );
            STATUS_EVERY
        }
    }
}

/// What the events told so far.
#[derive(Default)]
struct State {
    tally: Tally,
    /// Tasks known: the sum of [`Event::Planned`].
    known: u64,
    /// The running tasks, by id, with when each started.
    running: HashMap<String, Instant>,
    /// Tasks skipped or cancelled and not yet said, by what happened to
    /// them (`skipped because `build` failed`), in the order first seen.
    unsaid: Vec<(String, u64)>,
}

impl State {
    /// The lines for the tasks skipped or cancelled since the last time.
    fn take_unsaid(&mut self) -> Vec<String> {
        self.unsaid
            .drain(..)
            .map(|(what, n)| {
                let tasks = if n == 1 { "task" } else { "tasks" };
                format!("{n} {tasks} {what}")
            })
            .collect()
    }

    /// The tasks ended of those known (never fewer known than ended and running).
    fn counts(&self) -> (u64, u64) {
        let ended = self.tally.ended();
        let known = self.known.max(ended + self.running.len() as u64);
        (ended, known)
    }
}

/// The display and the observer that feeds it.
pub struct Progress {
    mode: Mode,
    state: Arc<Mutex<State>>,
    bar: Option<Arc<Mutex<Bar>>>,
    /// Stops the thread that redraws (or prints the status line) when dropped.
    ticker: Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
}

/// The display on a terminal: drawn, or hidden while a question waits at
/// the terminal ([`pause`]), then drawn anew as it was.
struct Bar {
    shown: Option<ProgressBar>,
    started: Instant,
    message: String,
    known: u64,
    ended: u64,
    color: bool,
    paused: u32,
    finished: bool,
}

impl Bar {
    fn draw(&mut self) {
        let bar = ProgressBar::with_draw_target(Some(self.known), ProgressDrawTarget::stderr())
            .with_elapsed(self.started.elapsed())
            .with_position(self.ended)
            .with_message(self.message.clone());
        let template = if self.color {
            "{spinner:.cyan} {elapsed:>4} [{bar:24.cyan/blue}] {msg}"
        } else {
            "{spinner} {elapsed:>4} [{bar:24}] {msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        self.shown = Some(bar);
    }

    fn update(&mut self, known: u64, ended: u64, message: String) {
        if let Some(shown) = &self.shown {
            shown.set_length(known);
            shown.set_position(ended);
            shown.set_message(message.clone());
            shown.tick();
        }
        (self.known, self.ended, self.message) = (known, ended, message);
    }
}

/// The display on stderr now, if any: one terminal, one display.
static CURRENT: Mutex<Option<Weak<Mutex<Bar>>>> = Mutex::new(None);

fn current() -> Option<Arc<Mutex<Bar>>> {
    CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(Weak::upgrade)
}

/// Hides the display until the guard is dropped: while a person reads
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

/// Prints a line on stderr above the display (which is redrawn under it).
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
                known: 0,
                ended: 0,
                color: style::color_stderr(),
                paused: 0,
                finished: false,
            };
            bar.draw();
            let bar = Arc::new(Mutex::new(bar));
            *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::downgrade(&bar));
            bar
        });
        let progress = Progress {
            mode,
            state: Arc::default(),
            bar,
            ticker: Mutex::new(None),
        };
        progress.start_ticker();
        progress
    }

    /// The thread that redraws the display (a terminal) or prints the
    /// status line (otherwise), until [`Progress::finish`].
    fn start_ticker(&self) {
        let every = match self.mode {
            Mode::Quiet => return,
            Mode::Bar => REDRAW,
            Mode::Lines => status_interval(),
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let state = self.state.clone();
        let bar = self.bar.clone();
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("flow-progress".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match &bar {
                        Some(bar) => redraw(&state, bar, started),
                        None => status_line(&state, started),
                    }
                }
            });
        if let Ok(handle) = spawned {
            *self.ticker.lock().unwrap_or_else(PoisonError::into_inner) = Some((stop, handle));
        }
    }

    /// The callback to hand to the runtime, if anything is displayed.
    pub fn observer(&self) -> Option<Observer> {
        if self.mode == Mode::Quiet {
            return None;
        }
        let state = self.state.clone();
        let mode = self.mode;
        let verbosity = style::verbosity();
        Some(Arc::new(move |event: &Event| {
            let lines = {
                let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                observe(&mut s, event, verbosity)
            };
            say(mode, &lines);
        }))
    }

    /// Stops the display: clears it on a terminal; says what was not said yet.
    pub fn finish(&self) {
        self.end(false);
    }

    /// Stops the display, leaving its last state on a terminal: `flow run`
    /// ends with the bar as it ended (`200/200 100%`) above its summary.
    pub fn finish_and_keep(&self) {
        self.end(true);
    }

    fn end(&self, keep: bool) {
        let ticker = self
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop, handle)) = ticker {
            drop(stop);
            let _ = handle.join();
        }
        if self.mode == Mode::Quiet {
            return;
        }
        let (unsaid, known, ended, last) = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (ended, known) = s.counts();
            let last = display(&s, Duration::ZERO, 0, false);
            (s.take_unsaid(), known, ended, last)
        };
        // Above the display, while it is there.
        say(self.mode, &unsaid);
        let Some(bar) = &self.bar else { return };
        let mut bar = bar.lock().unwrap_or_else(PoisonError::into_inner);
        bar.finished = true;
        let Some(shown) = bar.shown.take() else {
            return;
        };
        if keep && known > 0 {
            let template = if bar.color {
                "{elapsed:>4} [{bar:24.cyan/blue}] {msg}"
            } else {
                "{elapsed:>4} [{bar:24}] {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                shown.set_style(style.progress_chars("=> "));
            }
            shown.set_length(known);
            shown.set_position(ended);
            shown.set_message(last);
            shown.abandon();
            // The kept bar leaves the cursor at its end: what follows (the
            // result, the summary) starts on a line of its own.
            if !shown.is_hidden() {
                errln!();
            }
        } else {
            shown.finish_and_clear();
        }
    }

    /// What the run's tasks came to (empty with [`Mode::Quiet`], which counts nothing).
    pub fn tally(&self) -> Tally {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.tally.clone()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Prints lines above the display, or plainly.
fn say(mode: Mode, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let print = || {
        for line in lines {
            errln!("{line}");
        }
    };
    let shown = (mode == Mode::Bar).then(current).flatten().and_then(|bar| {
        bar.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .shown
            .clone()
    });
    match shown {
        Some(shown) => shown.suspend(print),
        None => print(),
    }
}

/// Takes in one event; returns the lines to print for it.
fn observe(s: &mut State, event: &Event, verbosity: Verbosity) -> Vec<String> {
    match event {
        Event::Planned { tasks } => {
            s.known += u64::from(*tasks);
            Vec::new()
        }
        Event::Started { id, agent, command } => {
            s.running.insert(id.clone(), Instant::now());
            if verbosity < Verbosity::Debug {
                return Vec::new();
            }
            let command = command.map_or_else(String::new, |c| format!(": {c}"));
            vec![format!("{:>9} {id} ({agent}){command}", "started")]
        }
        Event::Retrying(retry) => {
            let mut lines = s.take_unsaid();
            let error = retry.ended.error.as_deref().unwrap_or("failed");
            lines.push(format!(
                "{:>9} {}: attempt {} of {} failed ({error}); next in {}",
                "retrying",
                retry.id,
                retry.attempt,
                retry.attempts,
                short_duration(retry.backoff)
            ));
            lines
        }
        Event::Finished(record) => finished(s, record, verbosity),
    }
}

fn finished(s: &mut State, record: &TaskRecord, verbosity: Verbosity) -> Vec<String> {
    // Only a task that started can be running (a skipped or re-used one never
    // did, and ten thousand skips need no id each).
    let ran = record.started_at.is_some() && !s.running.is_empty();
    let id = ran.then(|| record.id());
    let was_running = id.as_ref().is_some_and(|id| s.running.remove(id).is_some());
    s.tally.count(record, id.as_deref());
    let collapsed = match record.status {
        TaskStatus::Skipped => {
            let cause = record.error.as_deref().unwrap_or("a task it needs failed");
            let cause = cause.strip_prefix("not started: ").unwrap_or(cause);
            Some(format!("skipped because {cause}"))
        }
        TaskStatus::Cancelled => Some("cancelled".to_string()),
        _ => None,
    };
    // Skips and cancellations come in floods after a failure: one line for
    // each cause (every one with `-vv`).
    if let (Some(what), false) = (&collapsed, verbosity >= Verbosity::Debug) {
        match s.unsaid.iter_mut().find(|(w, _)| w == what) {
            Some((_, n)) => *n += 1,
            None => s.unsaid.push((what.clone(), 1)),
        }
        return Vec::new();
    }
    let failed = matches!(record.status, TaskStatus::Failed | TaskStatus::TimedOut);
    let said = failed
        || collapsed.is_some()
        || (verbosity >= Verbosity::Verbose
            && (was_running || record.status == TaskStatus::Cached));
    let mut lines = s.take_unsaid();
    if said {
        let id = id.unwrap_or_else(|| record.id());
        let took = record
            .duration
            .map_or_else(String::new, |d| format!(" in {}", short_duration(d)));
        let why = record
            .error
            .as_deref()
            .map_or_else(String::new, |e| format!(": {e}"));
        lines.push(format!(
            "{:>9} {id} ({}){took}{why}",
            record.status.as_str(),
            record.agent
        ));
    }
    lines
}

/// Redraws the display from the state.
fn redraw(state: &Mutex<State>, bar: &Mutex<Bar>, started: Instant) {
    let width = console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, columns)| usize::from(columns));
    let (known, ended, message) = {
        let s = state.lock().unwrap_or_else(PoisonError::into_inner);
        let (ended, known) = s.counts();
        (known, ended, display(&s, started.elapsed(), width, true))
    };
    bar.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .update(known, ended, message);
}

/// The display's text after the bar: `57/200 28% · 4 running · ETA 12s`,
/// then (`live`) the longest-running tasks, one a line.
fn display(s: &State, elapsed: Duration, width: usize, live: bool) -> String {
    let (ended, known) = s.counts();
    let percent = (ended * 100).checked_div(known).unwrap_or(0);
    let mut text = format!("{ended}/{known} {percent}%");
    if !s.running.is_empty() {
        text.push_str(&format!(" · {} running", s.running.len()));
    }
    let failed = s.tally.failed + s.tally.timed_out;
    if failed > 0 {
        text.push_str(&format!(" · {failed} failed"));
    }
    if let Some(eta) = eta(ended, known, elapsed) {
        text.push_str(&format!(" · ETA {}", short_duration(eta)));
    }
    if !live {
        return text;
    }
    let now = Instant::now();
    let mut running: Vec<(&String, Duration)> = s
        .running
        .iter()
        .map(|(id, at)| (id, now.duration_since(*at)))
        .collect();
    let shown = RUNNING_SHOWN.min(running.len());
    if shown > 0 {
        // The longest-running first.
        running.select_nth_unstable_by(shown - 1, |a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        running[..shown].sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    }
    for (id, took) in &running[..shown] {
        let line = format!("  {:>6}  {id}", short_duration(*took));
        text.push('\n');
        text.push_str(&console::truncate_str(&line, width.saturating_sub(1), "…"));
    }
    if running.len() > shown {
        text.push_str(&format!("\n  +{} more", running.len() - shown));
    }
    text
}

/// When the tasks known will have ended at the rate they have been ending,
/// once that rate means something: a few tasks ended, over a second or more.
fn eta(ended: u64, known: u64, elapsed: Duration) -> Option<Duration> {
    if ended < 3 || ended >= known || elapsed < Duration::from_secs(1) {
        return None;
    }
    let per_task = elapsed.as_secs_f64() / ended as f64;
    Some(Duration::from_secs_f64(per_task * (known - ended) as f64))
}

/// Prints the status line (and the skips not yet said).
fn status_line(state: &Mutex<State>, started: Instant) {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    let mut lines = s.take_unsaid();
    let (ended, known) = s.counts();
    let mut line = format!(
        "[{}] {ended}/{known} done, {} running, {} failed",
        short_duration(started.elapsed()),
        s.running.len(),
        s.tally.failed + s.tally.timed_out
    );
    if s.tally.skipped > 0 {
        line.push_str(&format!(", {} skipped", s.tally.skipped));
    }
    lines.push(line);
    drop(s);
    say(Mode::Lines, &lines);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_waits_for_a_rate_then_follows_it() {
        let second = Duration::from_secs(1);
        assert_eq!(eta(2, 100, 10 * second), None, "too few ended");
        assert_eq!(eta(50, 100, Duration::from_millis(200)), None, "too soon");
        assert_eq!(eta(100, 100, 10 * second), None, "all ended");
        assert_eq!(eta(25, 100, 10 * second), Some(30 * second));
    }

    #[test]
    fn the_display_names_the_longest_running_first() {
        let mut s = State::default();
        let now = Instant::now();
        for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let at = now
                .checked_sub(Duration::from_secs(i as u64))
                .unwrap_or(now);
            s.running.insert(id.to_string(), at);
        }
        s.known = 200;
        let text = display(&s, Duration::from_secs(3), 80, true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("0/200 0% · 5 running"), "{text}");
        assert!(lines[1].ends_with(" e") && lines[2].ends_with(" d") && lines[3].ends_with(" c"));
        assert_eq!(lines[4], "  +2 more");
    }
}
