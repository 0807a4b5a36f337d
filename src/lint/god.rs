//! The god agent: one agent behind most of the calls doing different jobs
//! (`god_agent`), instructions that enumerate many steps
//! (`many_responsibilities`), and a script whose whole work is one call
//! (`single_call_script`).

use std::collections::BTreeMap;

use super::{literal_text, see, Cx};
use crate::agent::Resource;
use crate::ast::{ExprKind, StmtKind};
use crate::diag::{Code, Diagnostic};
use crate::graph::{BodyId, Callee, Expr, NodeKind, Ref, StrPart};
use crate::source::Span;

pub(super) fn check(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    god_agent(cx, diags);
    many_responsibilities(cx, diags);
    single_call_script(cx, diags);
}

/// The job a task's literal instructions give it: their first job verb
/// ("Extract the rows" is `extract`), if they start with one.
fn verb(instructions: Option<&Expr>) -> Option<String> {
    let text = match instructions? {
        Expr::Const(v) => v.as_str()?.to_string(),
        Expr::Str { parts, .. } => match parts.first()? {
            StrPart::Text(t) => t.to_string(),
            StrPart::Interp(_) => return None,
        },
        _ => return None,
    };
    let lower = text.to_lowercase();
    let first = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .find(|w| !matches!(*w, "you" | "please" | "now" | "then" | "first"))?;
    JOB_VERBS
        .iter()
        .find(|v| **v == first)
        .map(|v| v.to_string())
}

/// One call of an agent, as `god_agent` sees it.
struct AgentCall {
    body: BodyId,
    local: u32,
    span: Span,
    verb: Option<String>,
    /// What it reads.
    reads: Vec<Ref>,
}

fn god_agent(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    let graph = cx.graph;
    let mut total = 0usize;
    let mut per_agent: BTreeMap<u32, Vec<AgentCall>> = BTreeMap::new();
    for (b, body) in graph.bodies.iter().enumerate() {
        for (local, id) in body.node_ids().enumerate() {
            let node = graph.node(id);
            let NodeKind::Task(task) = &node.kind else {
                continue;
            };
            total += 1;
            if let Callee::Agent(i) = task.callee {
                per_agent.entry(i).or_default().push(AgentCall {
                    body: BodyId(b as u32),
                    local: local as u32,
                    span: node.span,
                    verb: verb(task.instructions.as_ref()),
                    reads: super::data_refs(&node.kind),
                });
            }
        }
    }
    for (agent, calls) in per_agent {
        let many_calls = calls.len() >= cx.config.god_agent_calls.max(2);
        let most = calls.len() * 2 > total;
        if !(many_calls && most) {
            continue;
        }
        let mut verbs: Vec<&str> = Vec::new();
        for v in calls.iter().filter_map(|c| c.verb.as_deref()) {
            if !verbs.contains(&v) {
                verbs.push(v);
            }
        }
        // One call feeding another of the same agent: it works at several stages.
        let staged = staged(graph, &calls);
        // Calls that all read the same values are one job fanned out (three
        // sections of one draft), whatever their instructions say.
        let siblings = calls
            .iter()
            .all(|c| !c.reads.is_empty() && c.reads == calls[0].reads);
        let god = (staged && verbs.len() >= 2) || (verbs.len() >= 3 && !siblings);
        if !god {
            continue;
        }
        let Some(decl) = graph.agents.get(agent as usize) else {
            continue;
        };
        if decl.span.is_empty() {
            continue;
        }
        let name = &decl.name;
        let what = if verbs.len() >= 2 {
            let jobs: Vec<String> = verbs.iter().map(|v| format!("`{v}`")).collect();
            format!("with different jobs: {}", super::levels::and_list(&jobs))
        } else {
            "at several stages of the pipeline".to_string()
        };
        let mut d = Diagnostic::warning(
            Code::GodAgent,
            format!(
                "`{name}` is behind {} of the script's {total} calls, {what}",
                calls.len(),
            ),
        )
        .at(decl.span, "one agent does everything");
        for call in calls.iter().take(6) {
            d = d.label(call.span, format!("a call to `{name}`"));
        }
        let jobs = if verbs.len() >= 2 {
            let quoted: Vec<String> = verbs.iter().map(|v| format!("`{v}`")).collect();
            format!("each job ({})", super::levels::and_list(&quoted))
        } else {
            "each stage".to_string()
        };
        diags.push(d.help(format!(
            "give {jobs} its own agent with a focused prompt (`agent Extractor = …`, `agent Loader = …`) and pass the data between them, so each can have its own limit, timeout and model {}",
            see(Code::GodAgent)
        )));
    }
}

/// Whether one of the calls waits, directly or not, for another: one pass
/// over each body holding them.
fn staged(graph: &crate::graph::TaskGraph, calls: &[AgentCall]) -> bool {
    let mut bodies: Vec<BodyId> = calls.iter().map(|c| c.body).collect();
    bodies.sort_unstable();
    bodies.dedup();
    bodies.into_iter().any(|b| {
        let len = graph.body(b).len as usize;
        let mut is_call = vec![false; len];
        for c in calls.iter().filter(|c| c.body == b) {
            if let Some(x) = is_call.get_mut(c.local as usize) {
                *x = true;
            }
        }
        // Whether each node waits for one of the calls.
        let mut waits = vec![false; len];
        for k in 0..len {
            let hit = graph.local(b, k as u32).deps.iter().any(|&d| {
                let d = d as usize;
                d < k && (is_call[d] || waits[d])
            });
            waits[k] = hit;
            if hit && is_call[k] {
                return true;
            }
        }
        false
    })
}

/// How many steps a text enumerates: numbered items (`1.` `2)` …) in order,
/// the parts of a "…, then …, and then …, finally …" list, or a list of
/// clauses that each start with a job verb ("extract …, clean …, load …").
pub(crate) fn steps(text: &str) -> usize {
    numbered(text).max(sequenced(text)).max(verb_clauses(text))
}

/// Verbs that name a job an agent could be given on its own.
const JOB_VERBS: &[&str] = &[
    "aggregate",
    "analyse",
    "analyze",
    "answer",
    "assess",
    "build",
    "calculate",
    "categorise",
    "categorize",
    "check",
    "classify",
    "clean",
    "collect",
    "compile",
    "compute",
    "convert",
    "crawl",
    "create",
    "debug",
    "deduplicate",
    "delete",
    "deploy",
    "describe",
    "design",
    "detect",
    "download",
    "draft",
    "edit",
    "email",
    "enrich",
    "estimate",
    "evaluate",
    "explain",
    "extract",
    "fetch",
    "filter",
    "find",
    "fix",
    "forecast",
    "format",
    "gather",
    "generate",
    "identify",
    "implement",
    "index",
    "lint",
    "list",
    "load",
    "merge",
    "monitor",
    "normalise",
    "normalize",
    "notify",
    "optimise",
    "optimize",
    "parse",
    "plan",
    "predict",
    "proofread",
    "publish",
    "rank",
    "recommend",
    "refactor",
    "report",
    "research",
    "review",
    "save",
    "scan",
    "schedule",
    "score",
    "scrape",
    "send",
    "sort",
    "split",
    "store",
    "summarise",
    "summarize",
    "tag",
    "test",
    "transform",
    "translate",
    "update",
    "upload",
    "validate",
    "verify",
    "write",
];

/// The number of distinct job verbs that each start a clause of a list
/// (clauses split at `,` `;` newlines, "and", "then").
fn verb_clauses(text: &str) -> usize {
    let lower = text.to_lowercase();
    let mut verbs: Vec<&str> = Vec::new();
    for clause in lower.split([',', ';', '\n', '.', ':']) {
        for part in clause.split(" and ") {
            let mut words = part
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .skip_while(|w| {
                    matches!(
                        *w,
                        "then" | "and" | "finally" | "first" | "you" | "also" | "please"
                    ) || w.chars().all(|c| c.is_ascii_digit())
                });
            if let Some(first) = words.next() {
                if let Some(v) = JOB_VERBS.iter().find(|v| **v == first) {
                    if !verbs.contains(v) {
                        verbs.push(v);
                    }
                }
            }
        }
    }
    verbs.len()
}

fn numbered(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut next = 1usize;
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0
            || matches!(
                bytes[i - 1],
                b' ' | b'\n' | b'\t' | b':' | b';' | b',' | b'('
            );
        if starts_word && bytes[i].is_ascii_digit() {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            let marker = bytes.get(j).is_some_and(|b| matches!(b, b'.' | b')'));
            let spaced = bytes.get(j + 1).is_none_or(|b| b.is_ascii_whitespace());
            if marker && spaced && text[i..j].parse::<usize>().ok() == Some(next) {
                next += 1;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    next - 1
}

fn sequenced(text: &str) -> usize {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut separators = 0;
    for (i, w) in words.iter().enumerate() {
        match *w {
            "then" | "finally" => separators += 1,
            "that" if i > 0 && words[i - 1] == "after" => separators += 1,
            _ => {}
        }
    }
    if separators == 0 {
        0
    } else {
        separators + 1
    }
}

fn many_responsibilities(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    let mut report = |span: crate::source::Span, text: &str, whose: String| {
        let n = steps(text);
        if n <= cx.config.max_steps {
            return;
        }
        diags.push(
            Diagnostic::warning(
                Code::ManyResponsibilities,
                format!("{whose} enumerate {n} steps: one agent is given several jobs"),
            )
            .at(span, format!("{n} steps in one prompt"))
            .help(format!(
                "make each step its own call (or agent) and let the data flow between them: `let a = Step1(…)`, `let b = Step2(input: a)`, …; independent steps then run in parallel {}",
                see(Code::ManyResponsibilities)
            )),
        );
    };
    for stmt in &cx.program.stmts {
        let StmtKind::Agent(decl) = &stmt.kind else {
            continue;
        };
        for arg in &decl.args {
            let key = arg.name.as_ref().map(|n| n.name.as_str());
            let is_prompt = key == Some("system");
            if let (true, Some(text)) = (is_prompt, literal_text(&arg.value)) {
                report(
                    arg.value.span,
                    &text,
                    format!("the instructions of `{}`", decl.name.name),
                );
            }
        }
    }
    cx.for_each_expr(|e| {
        let ExprKind::Call(call) = &e.kind else {
            return;
        };
        let callee = call.callee.name.as_str();
        // Agents take instructions; a positional argument of `sh`, `http`,
        // `sleep` and `fail` is config, and flows and functions take values.
        let is_agent = cx.is_declared_agent(callee)
            || cx
                .direct_backend(callee)
                .is_some_and(|b| b.positional.is_none());
        if !is_agent {
            return;
        }
        let Some(arg) = call.args.iter().find(|a| a.name.is_none()) else {
            return;
        };
        if let Some(text) = literal_text(&arg.value) {
            report(
                arg.value.span,
                &text,
                format!("the instructions of this `{callee}` call"),
            );
        }
    });
}

fn single_call_script(cx: &Cx, diags: &mut Vec<Diagnostic>) {
    let graph = cx.graph;
    let mut tasks = graph
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Task(_)));
    let (Some(node), None) = (tasks.next(), tasks.next()) else {
        return;
    };
    // A `map` runs its one call many times: that is fan-out, not one call.
    if graph
        .nodes
        .iter()
        .any(|n| matches!(n.kind, NodeKind::Map(_)))
    {
        return;
    }
    let NodeKind::Task(task) = &node.kind else {
        return;
    };
    let counts = match &task.callee {
        Callee::Agent(_) => true,
        Callee::Backend(b, _) => cx.graph.backend(*b).signature().resource == Resource::Remote,
    };
    if !counts {
        return;
    }
    let span = cx.call_at(node.span).map_or(node.span, |c| c.callee.span);
    diags.push(
        Diagnostic::warning(
            Code::SingleCallScript,
            format!(
                "the whole script is one call to `{}`",
                cx.graph.agent_name(task)
            ),
        )
        .at(span, "all the work happens here")
        .help(format!(
            "split the job into specialised agents whose results flow into each other (extract → transform → load), so the parts can run, retry and be checked on their own {}",
            see(Code::SingleCallScript)
        )),
    );
}

#[cfg(test)]
mod tests {
    use super::steps;

    #[test]
    fn counts_numbered_steps_and_then_lists() {
        assert_eq!(steps("1. extract 2. transform 3. load 4. report"), 4);
        assert_eq!(steps("1) a\n2) b\n3) c"), 3);
        assert_eq!(steps("costs 2.5 dollars, 3. maybe"), 0);
        assert_eq!(
            steps("Extract the rows, then clean them, and then load them, finally report"),
            4
        );
        assert_eq!(steps("Write the introduction"), 1);
        assert_eq!(
            steps("You extract, clean, transform, validate and load the data"),
            5
        );
        assert_eq!(
            steps("Write a report on the test results and the security scan"),
            1
        );
        assert_eq!(steps("- Be concise\n- Use simple words\n- Cite sources"), 0);
    }
}
