//! The report's timeline: one bar per task attempt, placed on the run's
//! time span, tasks grouped by `map`. Up to [`ALL_ROWS`] tasks, every task
//! has its row and every attempt its bar; beyond, each map shows a density
//! bar of all its attempts and the rows of [`GROUP_ROWS`] of its tasks (the
//! troubled ones first), so the page stays small at 100,000 tasks. Every
//! count is also an attribute (`data-attempts`, `data-bars`), for programs.

use std::fmt::Write as _;

use super::html::{esc, seconds};
use super::model::{Group, Report, Task};

/// Up to this many tasks, every one is drawn.
pub(super) const ALL_ROWS: usize = 2000;
/// Beyond [`ALL_ROWS`], the tasks drawn of each map.
pub(super) const GROUP_ROWS: usize = 50;
/// Beyond [`ALL_ROWS`], the most task rows of the whole page.
const ROW_CAP: usize = 4000;
/// Columns of a map's density bar.
const BUCKETS: usize = 200;
/// A map of up to this many tasks is shown open.
const OPEN_GROUP: usize = 20;

/// The timeline section; `detailed(i)` says whether task `i` has details
/// further down (its label links there).
pub(super) fn section(report: &Report, out: &mut String, detailed: &dyn Fn(usize) -> bool) {
    let all = report.tasks.len() <= ALL_ROWS;
    let mut body = String::new();
    let mut bars = 0;
    let mut rows = 0;
    for group in &report.groups {
        let single = group.tasks.len() == 1;
        if single && (all || rows < ROW_CAP) {
            let i = group.tasks[0];
            bars += row(report, i, detailed(i), &mut body);
            rows += 1;
            continue;
        }
        let shown = if all {
            group.tasks.clone()
        } else {
            chosen(report, group, ROW_CAP.saturating_sub(rows))
        };
        let mut inner = String::new();
        let mut group_bars = 0;
        for &i in &shown {
            group_bars += row(report, i, detailed(i), &mut inner);
        }
        rows += shown.len();
        bars += group_bars;
        let open = if group.tasks.len() <= OPEN_GROUP {
            " open"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<details class=\"group\" data-group=\"{key}\" data-map=\"{map}\" data-tasks=\"{n}\" \
             data-attempts=\"{attempts}\" data-bars=\"{group_bars}\" data-failed=\"{failed}\" \
             data-retried=\"{retried}\"{open}><summary class=\"row\"><span class=\"label\">\
             <b>{key}</b> <span class=\"count\">×{n}</span></span><span class=\"lane\">{density}\
             </span><span class=\"tally\">{tally}</span></summary>",
            key = esc(&group.key),
            map = esc(group.map()),
            n = group.tasks.len(),
            attempts = group.attempts,
            failed = group.failed,
            retried = group.retried,
            density = density(report, group),
            tally = esc(&tally(group)),
        );
        body.push_str(&inner);
        if shown.len() < group.tasks.len() {
            let _ = write!(
                body,
                "<p class=\"more\">{} more tasks of <code>{}</code> are counted in its density \
                 bar, not drawn one by one ({} of its {} attempts drawn).</p>",
                group.tasks.len() - shown.len(),
                esc(&group.key),
                group_bars,
                group.attempts
            );
        }
        body.push_str("</details>");
    }
    let _ = write!(
        out,
        "<section id=\"timeline\" data-tasks=\"{}\" data-attempts=\"{}\" data-bars=\"{bars}\">\
         <h2>Timeline</h2>",
        report.tasks.len(),
        report.attempts
    );
    let _ = write!(
        out,
        "<p class=\"note\">One bar per attempt of a task: <span class=\"key s-succeeded\"></span> \
         succeeded, <span class=\"key s-failed\"></span> failed, <span class=\"key s-timed_out\">\
         </span> timed out, <span class=\"key s-cancelled\"></span> cancelled; a striped bar is \
         an attempt that was retried. {} tasks, {} attempts, {bars} bars drawn.",
        report.tasks.len(),
        report.attempts
    );
    if !all {
        let _ = write!(
            out,
            " With more than {ALL_ROWS} tasks, each map shows the rows of at most {GROUP_ROWS} \
             of its tasks (those that failed or were retried first) and a density bar that \
             counts all of its attempts; <code>flow log</code> shows any task."
        );
    }
    out.push_str("</p>");
    axis(report, out);
    out.push_str("<div class=\"rows\">");
    out.push_str(&body);
    out.push_str("</div></section>\n");
}

/// The tasks of a big map that get a row: the troubled first, then the
/// earliest, at most [`GROUP_ROWS`] (and `room`), in the order they started.
fn chosen(report: &Report, group: &Group, room: usize) -> Vec<usize> {
    let most = GROUP_ROWS.min(room);
    let mut picked: Vec<usize> = group
        .tasks
        .iter()
        .copied()
        .filter(|&i| report.tasks[i].troubled())
        .take(most)
        .collect();
    let troubled = picked.len();
    picked.extend(
        group
            .tasks
            .iter()
            .copied()
            .filter(|&i| !report.tasks[i].troubled())
            .take(most - troubled),
    );
    picked.sort_unstable();
    picked
}

/// Where a time falls on the timeline, in percent.
fn at(report: &Report, ms: i64) -> f64 {
    let span = (report.t1 - report.t0).max(1) as f64;
    ((ms - report.t0) as f64 / span * 100.0).clamp(0.0, 100.0)
}

/// One task's row; returns how many bars it drew.
fn row(report: &Report, i: usize, linked: bool, out: &mut String) -> usize {
    let task: &Task = &report.tasks[i];
    let line = &task.line;
    let id = esc(&line.task);
    let label = if linked {
        format!("<a class=\"label\" href=\"#task-{id}\">{id}</a>")
    } else {
        format!("<span class=\"label\">{id}</span>")
    };
    let _ = write!(
        out,
        "<div class=\"row task s-{state}\" data-task=\"{id}\" data-status=\"{state}\" \
         data-attempts=\"{n}\" title=\"{id} ({agent}): {state}\">{label}<span class=\"lane\">",
        state = esc(&line.state),
        n = task.attempts.len(),
        agent = esc(&line.agent),
    );
    let last = task.attempts.len();
    for (k, a) in task.attempts.iter().enumerate() {
        let left = at(report, a.started_at);
        let width = (at(report, a.ended_at) - left).max(0.0);
        let retried = if k + 1 < last { " retried" } else { "" };
        let exit = a
            .exit_code
            .map_or_else(String::new, |c| format!(", exit status {c}"));
        let error = a.error.as_deref().map_or_else(String::new, |e| {
            format!(": {}", super::html::shorten(e, 300))
        });
        let _ = write!(
            out,
            "<div class=\"bar attempt s-{status}{retried}\" data-task=\"{id}\" \
             data-attempt=\"{attempt}\" data-status=\"{status}\" \
             style=\"left:{left:.3}%;width:{width:.3}%\" title=\"{title}\"></div>",
            status = esc(&a.status),
            attempt = a.attempt,
            title = esc(&format!(
                "{} attempt {}: {} after {}{exit}{error}",
                line.task,
                a.attempt,
                a.status,
                seconds(a.ended_at - a.started_at)
            )),
        );
    }
    if task.attempts.is_empty() {
        // Skipped or re-used: no attempt, a mark where it ended (or at the start).
        let when = line.ended_at.map_or(0.0, |t| at(report, t));
        let why = line.error.as_deref().unwrap_or_default();
        let _ = write!(
            out,
            "<span class=\"mark s-{state}\" style=\"left:{when:.3}%\" title=\"{title}\"></span>",
            state = esc(&line.state),
            title = esc(&format!("{}: {} {}", line.task, line.state, why)),
        );
    }
    out.push_str("</span></div>");
    task.attempts.len()
}

/// A map's density bar: how many of its attempts ran in each slice of the
/// run, failed attempts on top in red.
fn density(report: &Report, group: &Group) -> String {
    let mut running = vec![0u32; BUCKETS];
    let mut failed = vec![0u32; BUCKETS];
    let slot = |ms: i64| ((at(report, ms) / 100.0 * BUCKETS as f64) as usize).min(BUCKETS - 1);
    for &i in &group.tasks {
        for a in &report.tasks[i].attempts {
            let bad = !matches!(a.status.as_str(), "succeeded" | "cached");
            for b in slot(a.started_at)..=slot(a.ended_at) {
                running[b] += 1;
                failed[b] += u32::from(bad);
            }
        }
    }
    let most = running.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        "<svg class=\"density\" viewBox=\"0 0 {BUCKETS} 20\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"attempts over time\">"
    );
    for b in 0..BUCKETS {
        if running[b] == 0 {
            continue;
        }
        let h = (f64::from(running[b]) / most * 20.0).max(1.0);
        let _ = write!(
            svg,
            "<rect class=\"d\" x=\"{b}\" y=\"{:.2}\" width=\"1\" height=\"{h:.2}\"><title>{} \
             running</title></rect>",
            20.0 - h,
            running[b]
        );
        if failed[b] > 0 {
            let f = (f64::from(failed[b]) / most * 20.0).max(1.0);
            let _ = write!(
                svg,
                "<rect class=\"df\" x=\"{b}\" y=\"{:.2}\" width=\"1\" height=\"{f:.2}\"/>",
                20.0 - f
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// `20000 tasks, 20012 attempts, 3 failed, 12 retried`.
fn tally(group: &Group) -> String {
    let mut parts = vec![format!("{} attempts", group.attempts)];
    for (n, what) in [
        (group.failed, "failed"),
        (group.retried, "retried"),
        (group.skipped, "skipped"),
        (group.cached, "re-used"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
}

/// The time axis: about eight ticks at round steps.
fn axis(report: &Report, out: &mut String) {
    let span = (report.t1 - report.t0).max(1);
    let step = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000,
        120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000,
        43_200_000, 86_400_000,
    ]
    .into_iter()
    .find(|s| span / s <= 8)
    .unwrap_or(span / 8 + 1);
    out.push_str("<div class=\"axis\"><span class=\"label\"></span><span class=\"lane\">");
    let mut t = 0;
    while t <= span {
        let _ = write!(
            out,
            "<span class=\"tick\" style=\"left:{:.3}%\">{}</span>",
            t as f64 / span as f64 * 100.0,
            seconds(t)
        );
        t += step;
    }
    out.push_str("</span></div>");
}
