//! The report page: one HTML file with its style and script inline, no
//! request to anywhere (its Content-Security-Policy forbids them, and runs
//! only the page's own script, by a nonce). Every text that comes from a
//! run — ids, values, logs, errors, params — goes through [`esc`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use crate::store::TaskRow;

use super::model::{Report, Task};

/// The most of a value a task's details show.
pub(super) const VALUE_SHOWN: usize = 4096;
/// The most of the end of a task's stdout and of its stderr shown.
pub(super) const LOG_TAIL: usize = 4096;

/// Text made safe for HTML, in an element or a quoted attribute.
pub(super) fn esc(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `text`, with `…` when cut.
pub(super) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The first `max` bytes of `text` (at a character boundary).
fn head(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The last `max` bytes of `text` (at a character boundary).
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

pub(super) use crate::cli::store::seconds;

fn when(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The page's beginning: its head, style, the error catcher, the summary.
pub(super) fn start(report: &Report, nonce: &str, out: &mut String) {
    let run = &report.run;
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>flow run {} — {}</title><style>{STYLE}</style>\
         <script nonce=\"{nonce}\">{CATCH}</script></head>\n\
         <body data-loaded=\"0\" data-errors=\"\">\n",
        run.id,
        esc(&run.script)
    );
    let wall = run.ended_at.map(|end| end - run.started_at);
    let [done, cached, failed, skipped] = run.counts;
    let _ = write!(
        out,
        "<header><h1>flow run {id}: <code>{script}</code></h1>\
         <nav><a href=\"#timeline\">timeline</a> · <a href=\"#graph\">graph</a> · \
         <a href=\"#tasks\">tasks</a></nav></header>\n\
         <section id=\"summary\" data-run=\"{id}\" data-status=\"{status}\" data-done=\"{done}\" \
         data-cached=\"{cached}\" data-failed=\"{failed}\" data-skipped=\"{skipped}\" \
         data-tasks=\"{tasks}\" data-attempts=\"{attempts}\" data-wall-ms=\"{wall_ms}\"><dl>",
        id = run.id,
        script = esc(&run.script),
        status = esc(&run.status),
        tasks = report.tasks.len(),
        attempts = report.attempts,
        wall_ms = wall.map_or_else(String::new, |w| w.to_string()),
    );
    let exit = run
        .exit_code
        .map_or_else(String::new, |c| format!(" (exit code {c})"));
    let mut fact = |name: &str, html: String| {
        let _ = write!(out, "<dt>{name}</dt><dd>{html}</dd>");
    };
    fact(
        "status",
        format!(
            "<span class=\"badge s-{0}\">{0}</span>{exit}",
            esc(&run.status)
        ),
    );
    fact("started", esc(&when(run.started_at)).into_owned());
    fact(
        "wall time",
        wall.map_or_else(|| "(not ended)".to_string(), seconds),
    );
    let mut tasks = format!("{done} done, {cached} re-used, {failed} failed, {skipped} skipped");
    if report.unrecorded() > 0 {
        let _ = write!(
            tasks,
            " <span class=\"note\">({} of them instant inline steps such as <code>echo</code>: \
             counted, not recorded one by one, so not drawn)</span>",
            report.unrecorded()
        );
    }
    fact("tasks", tasks);
    let ran = report
        .tasks
        .iter()
        .filter(|t| !t.attempts.is_empty())
        .count();
    fact(
        "attempts",
        format!(
            "{} ({} retries)",
            report.attempts,
            report.attempts.saturating_sub(ran)
        ),
    );
    let usage = &report.usage;
    if usage.reported {
        let cost = usage.cost_usd.map_or_else(String::new, |usd| {
            format!(", {}", crate::agent::dollars(usd))
        });
        fact(
            "tokens",
            format!(
                "{} prompt + {} completion = {}{cost}",
                usage.prompt, usage.completion, usage.total
            ),
        );
    }
    if let Some(params) = run.params.as_object().filter(|p| !p.is_empty()) {
        let text = serde_json::to_string(params).unwrap_or_default();
        fact(
            "params",
            format!("<code>{}</code>", esc(&shorten(&text, 2000))),
        );
    }
    if let Some(from) = run.resumed_from {
        fact("resumed from", format!("run {from}"));
    }
    if let Some(result) = &report.result {
        let text = serde_json::to_string_pretty(result).unwrap_or_default();
        fact("result", value_pre(&text));
    }
    out.push_str("</dl></section>\n");
}

/// A value as a `<pre>`, cut at [`VALUE_SHOWN`] bytes.
fn value_pre(text: &str) -> String {
    if text.len() <= VALUE_SHOWN {
        return format!("<pre class=\"value\">{}</pre>", esc(text));
    }
    format!(
        "<pre class=\"value\">{}…</pre><p class=\"note\">the first {} KiB of {} bytes</p>",
        esc(head(text, VALUE_SHOWN)),
        VALUE_SHOWN / 1024,
        text.len()
    )
}

/// The graph section: the drawing, and the Mermaid text to paste elsewhere.
pub(super) fn graph(drawing: &str, mermaid: Option<&str>, out: &mut String) {
    let _ = write!(out, "<section id=\"graph\"><h2>Task graph</h2>{drawing}");
    if let Some(text) = mermaid {
        let _ = write!(
            out,
            "<details><summary>as Mermaid text</summary><pre>{}</pre></details>",
            esc(text)
        );
    }
    out.push_str("</section>\n");
}

/// The tasks' details: each a `<details>` with its attempts, value and the
/// tails of its logs; `shown` of `total` tasks.
pub(super) fn tasks(report: &Report, rows: &[(usize, Option<TaskRow>)], out: &mut String) {
    let total = report.tasks.len();
    let _ = write!(
        out,
        "<section id=\"tasks\" data-shown=\"{}\" data-total=\"{total}\"><h2>Tasks</h2>",
        rows.len()
    );
    if rows.len() < total {
        let _ = write!(
            out,
            "<p class=\"note\">The details of {} of the {total} tasks: those that failed or were \
             retried first, then in the order they started. <code>flow log {} TASK</code> shows \
             any task.</p>",
            rows.len(),
            report.run.id
        );
    }
    let _ = write!(
        out,
        "<p class=\"note\">Values show their first {} KiB, logs their last {} KiB.</p>",
        VALUE_SHOWN / 1024,
        LOG_TAIL / 1024
    );
    out.push_str(
        "<p><button type=\"button\" data-toggle=\"open\">open all</button> \
                   <button type=\"button\" data-toggle=\"close\">close all</button></p>",
    );
    for (i, row) in rows {
        task(&report.tasks[*i], row.as_ref(), out);
    }
    out.push_str("</section>\n");
}

fn task(task: &Task, row: Option<&TaskRow>, out: &mut String) {
    let line = &task.line;
    let id = esc(&line.task);
    let took = crate::store::took_ms(line.duration_ms, &task.attempts)
        .map_or_else(String::new, |ms| format!(" · {}", seconds(ms)));
    let tries = match task.attempts.len() {
        0 => String::new(),
        1 => " · 1 attempt".to_string(),
        n => format!(" · {n} attempts"),
    };
    let open = if task.failed() { " open" } else { "" };
    let _ = write!(
        out,
        "<details class=\"task\" id=\"task-{id}\" data-task=\"{id}\" data-status=\"{state}\"{open}>\
         <summary><span class=\"badge s-{state}\">{state}</span> <code>{id}</code> \
         <span class=\"agent\">({agent})</span>{tries}{took}</summary>",
        state = esc(&line.state),
        agent = esc(&line.agent),
    );
    if let Some(error) = &line.error {
        let _ = write!(out, "<p class=\"error\">{}</p>", esc(error));
    }
    if let Some(row) = row {
        if !row.notes.is_empty() {
            out.push_str("<ul class=\"notes\">");
            for note in &row.notes {
                let _ = write!(out, "<li>{}</li>", esc(note));
            }
            out.push_str("</ul>");
        }
    }
    if let Some(run) = line.reused_from {
        let _ = write!(out, "<p>re-used from run {run}</p>");
    }
    if let Some(usage) = &line.usage {
        let _ = write!(
            out,
            "<p>usage: <code>{}</code></p>",
            esc(&usage.to_string())
        );
    }
    if task.attempts.len() > 1 || task.failed() {
        out.push_str(
            "<table class=\"attempts\"><tr><th>attempt</th><th>status</th><th>took</th>\
             <th>exit</th><th>error</th></tr>",
        );
        for a in &task.attempts {
            let _ = write!(
                out,
                "<tr><td>{}</td><td><span class=\"badge s-{1}\">{1}</span></td><td>{2}</td>\
                 <td>{3}</td><td>{4}</td></tr>",
                a.attempt,
                esc(&a.status),
                seconds(a.ended_at - a.started_at),
                a.exit_code.map_or_else(String::new, |c| c.to_string()),
                esc(a.error.as_deref().unwrap_or_default())
            );
        }
        out.push_str("</table>");
    }
    if let Some(row) = row {
        if let Some(value) = &row.value {
            let text = serde_json::to_string_pretty(value).unwrap_or_default();
            let _ = write!(out, "<h4>value</h4>{}", value_pre(&text));
        }
        for (name, text) in [("stdout", &row.stdout), ("stderr", &row.stderr)] {
            if text.is_empty() {
                continue;
            }
            let shown = tail(text, LOG_TAIL);
            let part = if shown.len() < text.len() {
                format!(
                    " (the last {} KiB of {} bytes)",
                    LOG_TAIL / 1024,
                    text.len()
                )
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "<h4>{name}{part}</h4><pre class=\"log {name}\">{}</pre>",
                esc(shown)
            );
        }
    }
    out.push_str("</details>");
}

/// The page's end: its script, which marks the page loaded.
pub(super) fn end(nonce: &str, out: &mut String) {
    let _ = write!(
        out,
        "<footer>Made by <code>flow report</code>: one file, nothing fetched.</footer>\n\
         <script nonce=\"{nonce}\">{SCRIPT}</script>\n</body></html>\n"
    );
}

/// First in the head: any error of the page, or a blocked script (an
/// injection the policy stopped), is written into `data-errors`.
const CATCH: &str = "(function(){function note(m){var b=document.body||document.documentElement;\
b.setAttribute('data-errors',(b.getAttribute('data-errors')||'')+m+'\\n');}\
window.addEventListener('error',function(e){note('error: '+(e.message||e.type));});\
document.addEventListener('securitypolicyviolation',function(e){note('blocked: '+e.violatedDirective);});\
var ce=console.error;console.error=function(){note('console: '+Array.prototype.join.call(arguments,' '));\
return ce.apply(console,arguments);};})();";

/// Last in the body: a click on a bar opens its task's details; the
/// buttons open or close every task; then the page says it has loaded.
const SCRIPT: &str = "(function(){\
document.addEventListener('click',function(e){var t=e.target;\
if(t.classList&&t.classList.contains('bar')){var d=document.getElementById('task-'+t.getAttribute('data-task'));\
if(d){d.open=true;d.scrollIntoView({block:'center'});}}\
var k=t.getAttribute&&t.getAttribute('data-toggle');\
if(k){document.querySelectorAll('details.task').forEach(function(d){d.open=(k==='open');});}});\
document.body.setAttribute('data-bars-seen',String(document.querySelectorAll('.bar.attempt').length));\
document.body.setAttribute('data-loaded','1');})();";

const STYLE: &str = "\
:root{--ok:#2e9d4f;--bad:#d64545;--slow:#e08a1e;--stop:#8a8a8a;--skip:#c9c9c9;--reuse:#4a7fd1;\
--fg:#1d1f23;--muted:#6b7280;--line:#e3e5e8;--bg:#fff}\
body{font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0 24px 40px}\
h1{font-size:20px;margin:16px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line)}\
h4{margin:10px 0 2px;font-size:13px}code,pre{font:12px/1.4 ui-monospace,monospace}\
pre{background:#f6f7f9;padding:6px 8px;overflow:auto;max-height:320px;white-space:pre-wrap;word-break:break-all}\
nav a{margin:0 2px}.note{color:var(--muted)}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}dt{color:var(--muted)}dd{margin:0}\
.badge{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px;background:var(--stop)}\
.s-succeeded{--c:var(--ok)}.s-failed{--c:var(--bad)}.s-timed_out{--c:var(--slow)}\
.s-cancelled,.s-killed,.s-running{--c:var(--stop)}.s-skipped{--c:var(--skip)}.s-cached{--c:var(--reuse)}\
.badge{background:var(--c,var(--stop))}\
.key{display:inline-block;width:14px;height:8px;background:var(--c)}\
.rows{border-top:1px solid var(--line)}\
.row{display:flex;align-items:center;min-height:18px;border-bottom:1px solid #f0f1f3}\
.row .label{flex:0 0 220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;padding-right:8px;font:12px ui-monospace,monospace}\
.row .lane{position:relative;flex:1;height:14px}\
.row .tally{flex:0 0 auto;padding-left:8px;color:var(--muted);font-size:12px}\
.row.task.s-failed .label,.row.task.s-timed_out .label{color:var(--bad)}\
.bar{position:absolute;top:2px;height:10px;min-width:2px;background:var(--c);border-radius:2px;cursor:pointer}\
.bar.retried{background:repeating-linear-gradient(135deg,var(--c) 0 3px,#fff 3px 5px);outline:1px solid var(--c)}\
.mark{position:absolute;top:3px;width:8px;height:8px;margin-left:-4px;border-radius:50%;background:var(--c)}\
details.group>summary{cursor:pointer;list-style:none}details.group>summary::-webkit-details-marker{display:none}\
details.group>summary .label::before{content:'▸ ';color:var(--muted)}details.group[open]>summary .label::before{content:'▾ '}\
details.group>.row .label{padding-left:18px}\
.density{width:100%;height:14px;display:block}.density .d{fill:#9bb7e0}.density .df{fill:var(--bad)}\
.more{margin:2px 0 6px 18px;color:var(--muted);font-size:12px}\
.axis{display:flex;height:16px;color:var(--muted);font-size:11px}.axis .label{flex:0 0 220px}\
.axis .lane{position:relative;flex:1}.tick{position:absolute;transform:translateX(-50%);white-space:nowrap}\
.graph-box{overflow:auto;border:1px solid var(--line);max-height:640px}\
.graph .node rect{fill:#fff;stroke:#9aa3ad}.graph .node.task rect{fill:#eef4ff;stroke:#6b8fd6}\
.graph .node.construct rect{fill:#fbf6e9;stroke:#c9a646}.graph .node.value rect{fill:#f6f7f9;stroke:#c4c8ce}\
.graph .node.s-failed rect{fill:#fdeaea;stroke:var(--bad)}.graph .node.s-succeeded rect{stroke:var(--ok)}\
.graph .node.s-skipped rect{stroke-dasharray:3 2}.graph text{font:12px ui-monospace,monospace;fill:#1d1f23}\
.graph text.sub{font-size:10px;fill:var(--muted)}\
.graph .edge{fill:none;stroke:#9aa3ad}.graph .edge.after{stroke-dasharray:5 3}.graph .edge.contains{stroke-dasharray:1 3}\
.graph .arrowhead{fill:#9aa3ad}\
details.task{border:1px solid var(--line);border-radius:4px;margin:4px 0;padding:2px 8px}\
details.task>summary{cursor:pointer}.error{color:var(--bad);white-space:pre-wrap}\
table.attempts{border-collapse:collapse;font-size:12px}table.attempts td,table.attempts th{border:1px solid var(--line);padding:1px 6px;text-align:left}\
footer{margin-top:32px;color:var(--muted);font-size:12px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert!(matches!(esc("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn cuts_at_character_boundaries() {
        assert_eq!(head("héllo", 2), "h");
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(seconds(2410), "2.41s");
        assert_eq!(seconds(850), "850ms");
    }
}
