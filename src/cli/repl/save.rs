//! The session as one script, for `:save` and `:graph`.
//!
//! A script binds a name once, but a session may bind it again, and each
//! entry ran against the bindings and declarations live at its time. So:
//!
//! - A replaced `let` that a kept statement read is kept under a fresh name
//!   (`x_1`), and those reads are renamed; one nothing kept reads is left out.
//! - A declaration (`agent`, `flow`, `param`) is written once for each set of
//!   declarations it used: an entry's statements call the agents and flows,
//!   and read the params, that were live at that entry, and a flow's body
//!   calls the agents live at the entry that called it. The declarations of
//!   the session's last state keep their names; an earlier one still used
//!   (`agent E` replaced after `let r = E()`), or a flow as it was when it
//!   called a replaced agent, is written under a fresh name (`E_1`, `f_1`),
//!   with the calls and reads renamed. One nothing kept uses is left out.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ast::{self, StmtKind};
use crate::check::Env;
use crate::resolve::{BindingKind, Resolution, Target};
use crate::source::Span;
use crate::syntax;

use super::session::Entry;

/// A statement: its entry and its index there.
type At = (usize, usize);

/// The session as a script.
#[derive(Debug, Default)]
pub(crate) struct Script {
    pub text: String,
    /// Top-level statements in `text`.
    pub statements: usize,
    /// Replaced `param`s kept under a fresh name: the session's name, the script's.
    pub renamed_params: Vec<(String, String)>,
}

/// A declaration as one entry saw it: what each name it uses stood for then.
#[derive(Debug)]
struct Instance {
    decl: At,
    /// Each name the declaration uses, and the instance it stood for.
    uses: Vec<(Span, Option<usize>)>,
    /// The earliest entry that used it, to order the copies of one declaration.
    first_used: usize,
}

/// The declarations of the session, and their instances as entries used them.
struct Instances<'a> {
    programs: &'a [ast::Program],
    /// What each statement uses, by entry and index.
    uses: &'a [Vec<Uses<'a>>],
    /// Every agent and flow declaration of each name, in order.
    callables: HashMap<&'a str, Vec<At>>,
    /// Every `let` and `param` of each name, in order.
    values: HashMap<&'a str, Vec<At>>,
    list: Vec<Instance>,
    by_uses: HashMap<(At, Vec<Option<usize>>), usize>,
    by_entry: HashMap<(At, usize), usize>,
    visiting: HashSet<At>,
}

impl<'a> Instances<'a> {
    fn stmt(&self, (e, s): At) -> Option<&'a ast::Stmt> {
        self.programs.get(e).and_then(|p| p.stmts.get(s))
    }

    /// The declaration `name` stood for at entry `e`: the latest in entries up
    /// to `e` (an entry's own declarations stand for the whole entry). For a
    /// value name, only a `param` counts: declarations read no `let`.
    fn resolve(&self, name: &str, call: bool, e: usize) -> Option<At> {
        let list = if call {
            self.callables.get(name)
        } else {
            self.values.get(name)
        };
        let at = *list?.iter().rev().find(|at| at.0 <= e)?;
        let is_param = |at| matches!(self.stmt(at).map(|s| &s.kind), Some(StmtKind::Param { .. }));
        (call || is_param(at)).then_some(at)
    }

    /// The instance of declaration `decl` that entry `e` used.
    fn instance(&mut self, decl: At, e: usize) -> usize {
        if let Some(&id) = self.by_entry.get(&(decl, e)) {
            return id;
        }
        let names = self.uses.get(decl.0).and_then(|u| u.get(decl.1));
        self.visiting.insert(decl);
        let mut uses = Vec::new();
        let named = names.into_iter().flat_map(|n| {
            (n.calls.iter().map(|i| (*i, true))).chain(n.values.iter().map(|i| (*i, false)))
        });
        for ((span, name), call) in named {
            let target = self.resolve(name, call, e);
            // Flows cannot call themselves (the checker says so); guard anyway.
            let dep = match target {
                Some(t) if !self.visiting.contains(&t) => Some(self.instance(t, e)),
                _ => None,
            };
            uses.push((span, dep));
        }
        self.visiting.remove(&decl);
        let key = (decl, uses.iter().map(|(_, d)| *d).collect());
        let id = match self.by_uses.get(&key) {
            Some(&id) => id,
            None => {
                self.list.push(Instance {
                    decl,
                    uses,
                    first_used: e,
                });
                self.by_uses.insert(key, self.list.len() - 1);
                self.list.len() - 1
            }
        };
        self.by_entry.insert((decl, e), id);
        id
    }
}

/// The name a statement binds, if any.
fn bound_name(stmt: &ast::Stmt) -> Option<&ast::Ident> {
    match &stmt.kind {
        StmtKind::Let { name, .. } | StmtKind::Param { name, .. } => Some(name),
        StmtKind::Agent(d) => Some(&d.name),
        StmtKind::Flow(d) => Some(&d.name),
        StmtKind::Expr(_) | StmtKind::Output(_) | StmtKind::Budget(_) => None,
    }
}

fn is_declaration(stmt: &ast::Stmt) -> bool {
    matches!(
        stmt.kind,
        StmtKind::Param { .. } | StmtKind::Agent(_) | StmtKind::Flow(_)
    )
}

/// Every word of the sessions' text that could be a name, so fresh names
/// clash with nothing (not even a map variable a renamed read sits under).
fn words(entries: &[Entry]) -> HashSet<String> {
    let mut out = HashSet::new();
    for entry in entries {
        let text = &entry.source.text;
        let mut start = None;
        for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
            let word_char = c.is_ascii_alphanumeric() || c == '_';
            match (word_char, start) {
                (true, None) => start = Some(i),
                (false, Some(b)) => {
                    out.insert(text[b..i].to_string());
                    start = None;
                }
                _ => {}
            }
        }
    }
    out
}

/// The script that reproduces the session's entries.
pub(super) fn script(entries: &[Entry]) -> Script {
    // Committed entries parsed before; one that no longer does is skipped.
    let programs: Vec<ast::Program> = entries
        .iter()
        .map(|entry| {
            syntax::parse(&entry.source).unwrap_or_else(|_| ast::Program {
                stmts: Vec::new(),
                span: Span::default(),
            })
        })
        .collect();
    // Each entry's names, resolved against what earlier entries bound.
    let envs = envs(&programs);
    let stmt_uses: Vec<Vec<Uses>> = programs
        .iter()
        .zip(&envs)
        .map(|(program, env)| {
            let resolution = crate::resolve::resolve(program, env);
            (0..program.stmts.len())
                .map(|s| Uses::of(&resolution, s))
                .collect()
        })
        .collect();
    let Some(last_entry) = programs.len().checked_sub(1) else {
        return Script::default();
    };
    let live = |(e, s): At| {
        entries
            .get(e)
            .and_then(|entry| entry.stmts.get(s))
            .is_some_and(|st| st.live)
    };
    let mut instances = Instances {
        programs: &programs,
        uses: &stmt_uses,
        callables: HashMap::new(),
        values: HashMap::new(),
        list: Vec::new(),
        by_uses: HashMap::new(),
        by_entry: HashMap::new(),
        visiting: HashSet::new(),
    };
    // The `let` or `param` each value a top-level statement reads stood for
    // (top-level statements read in order), and the agents and flows it calls.
    let mut binder: HashMap<&str, At> = HashMap::new();
    let mut reads: HashMap<At, Vec<(At, Span)>> = HashMap::new();
    let mut calls: HashMap<At, &[(Span, &str)]> = HashMap::new();
    for (e, program) in programs.iter().enumerate() {
        for (s, stmt) in program.stmts.iter().enumerate() {
            if !is_declaration(stmt) {
                let uses = &stmt_uses[e][s];
                for &(span, name) in &uses.values {
                    if let Some(at) = binder.get(name) {
                        reads.entry((e, s)).or_default().push((*at, span));
                    }
                }
                calls.insert((e, s), &uses.calls);
            }
            let Some(name) = bound_name(stmt) else {
                continue;
            };
            match &stmt.kind {
                StmtKind::Agent(_) | StmtKind::Flow(_) => {
                    instances
                        .callables
                        .entry(&name.name)
                        .or_default()
                        .push((e, s));
                }
                _ => {
                    instances.values.entry(&name.name).or_default().push((e, s));
                    binder.insert(&name.name, (e, s));
                }
            }
        }
    }
    let is_let = |(e, s): At| {
        matches!(
            programs
                .get(e)
                .and_then(|p| p.stmts.get(s))
                .map(|s| &s.kind),
            Some(StmtKind::Let { .. })
        )
    };
    // Live `let`s and expressions are kept, and every replaced `let` a kept
    // statement reads.
    let mut kept: HashSet<At> = HashSet::new();
    let mut work: Vec<At> = Vec::new();
    for (e, program) in programs.iter().enumerate() {
        for (s, stmt) in program.stmts.iter().enumerate() {
            if !is_declaration(stmt) && live((e, s)) {
                kept.insert((e, s));
                work.push((e, s));
            }
        }
    }
    while let Some(at) = work.pop() {
        for (binding, _) in reads.get(&at).into_iter().flatten() {
            if is_let(*binding) && kept.insert(*binding) {
                work.push(*binding);
            }
        }
    }
    let mut order: Vec<At> = kept.iter().copied().collect();
    order.sort();
    // The session's live declarations, as the last entry sees them, keep their
    // names; then what each kept statement used at its own entry.
    let mut plain: HashSet<usize> = HashSet::new();
    for (e, program) in programs.iter().enumerate() {
        for (s, stmt) in program.stmts.iter().enumerate() {
            if is_declaration(stmt) && live((e, s)) {
                plain.insert(instances.instance((e, s), last_entry));
            }
        }
    }
    // For each kept statement: each name it uses, and the instance it stands for.
    let mut uses_of: HashMap<At, Vec<(Span, usize)>> = HashMap::new();
    for &(e, s) in &order {
        let mut found = Vec::new();
        for &(span, name) in calls.get(&(e, s)).copied().unwrap_or_default() {
            if let Some(decl) = instances.resolve(name, true, e) {
                found.push((span, instances.instance(decl, e)));
            }
        }
        for (binding, span) in reads.get(&(e, s)).into_iter().flatten() {
            if !is_let(*binding) {
                found.push((*span, instances.instance(*binding, e)));
            }
        }
        uses_of.insert((e, s), found);
    }

    // Fresh names, in the order of the statements that bind them.
    let mut taken = words(entries);
    let mut fresh = |name: &str| {
        let mut n = 1;
        loop {
            let candidate = format!("{name}_{n}");
            if taken.insert(candidate.clone()) {
                break candidate;
            }
            n += 1;
        }
    };
    let name_at = |at: At| {
        programs
            .get(at.0)
            .and_then(|p| p.stmts.get(at.1))
            .and_then(bound_name)
            .map(|i| i.name.clone())
            .unwrap_or_default()
    };
    let mut renamed_lets: HashMap<At, String> = HashMap::new();
    let mut by_decl: HashMap<At, Vec<usize>> = HashMap::new();
    for (id, inst) in instances.list.iter().enumerate() {
        by_decl.entry(inst.decl).or_default().push(id);
    }
    for ids in by_decl.values_mut() {
        ids.sort_by_key(|&id| (instances.list[id].first_used, id));
    }
    let mut names: Vec<String> = instances
        .list
        .iter()
        .map(|i| name_at(i.decl).to_string())
        .collect();
    let mut renamed_params = Vec::new();
    for (e, program) in programs.iter().enumerate() {
        for (s, stmt) in program.stmts.iter().enumerate() {
            let at = (e, s);
            if kept.contains(&at) && is_let(at) && !live(at) {
                renamed_lets.insert(at, fresh(&name_at(at)));
            }
            for &id in by_decl.get(&at).into_iter().flatten() {
                if !plain.contains(&id) {
                    names[id] = fresh(&name_at(at));
                    if let StmtKind::Param { name, .. } = &stmt.kind {
                        renamed_params.push((name.name.to_string(), names[id].clone()));
                    }
                }
            }
        }
    }

    let mut text = String::new();
    let mut statements = 0;
    let mut last_is_expr = false;
    let mut emit = |text: &mut String, at: At, edits: Vec<(Span, &str)>| {
        let (Some(entry), Some(stmt)) = (entries.get(at.0), instances.stmt(at)) else {
            return;
        };
        text.push_str(&edited(&entry.source.text, stmt.span, edits));
        text.push('\n');
        statements += 1;
        last_is_expr = matches!(stmt.kind, StmtKind::Expr(_));
    };
    for (e, program) in programs.iter().enumerate() {
        for (s, stmt) in program.stmts.iter().enumerate() {
            let at = (e, s);
            if is_declaration(stmt) {
                for &id in by_decl.get(&at).into_iter().flatten() {
                    let mut edits: Vec<(Span, &str)> = Vec::new();
                    if let Some(name) = bound_name(stmt) {
                        edits.push((name.span, &names[id]));
                    }
                    for (span, dep) in &instances.list[id].uses {
                        if let Some(dep) = dep {
                            edits.push((*span, &names[*dep]));
                        }
                    }
                    emit(&mut text, at, edits);
                }
                continue;
            }
            if !kept.contains(&at) {
                continue;
            }
            let mut edits: Vec<(Span, &str)> = Vec::new();
            if let (Some(name), Some(fresh)) = (bound_name(stmt), renamed_lets.get(&at)) {
                edits.push((name.span, fresh));
            }
            for (binding, span) in reads.get(&at).into_iter().flatten() {
                if let Some(fresh) = renamed_lets.get(binding) {
                    edits.push((*span, fresh));
                }
            }
            for (span, id) in uses_of.get(&at).into_iter().flatten() {
                edits.push((*span, &names[*id]));
            }
            emit(&mut text, at, edits);
        }
    }
    // With no final expression a script's value is the object of its `let`s;
    // name the session's own so the renamed ones stay out of it.
    if !renamed_lets.is_empty() && !last_is_expr {
        let live_lets: Vec<String> = order
            .iter()
            .filter(|at| live(**at) && is_let(**at))
            .map(|at| name_at(*at))
            .map(|n| format!("{n}: {n}"))
            .collect();
        text.push_str(&format!("{{ {} }}\n", live_lets.join(", ")));
        statements += 1;
    }
    Script {
        text,
        statements,
        renamed_params,
    }
}

/// The text of `span` in `source` with each edit's span replaced.
fn edited(source: &str, span: Span, mut edits: Vec<(Span, &str)>) -> String {
    edits.retain(|(s, _)| span.contains(*s));
    edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
    let start = span.start as usize;
    let mut text = source.get(span.range()).unwrap_or("").to_string();
    for (s, with) in edits {
        let range = s.start as usize - start..s.end as usize - start;
        if text.get(range.clone()).is_some() {
            text.replace_range(range, with);
        }
    }
    text
}

/// The names a top-level statement uses from the top level of its entry or
/// from earlier entries, as the resolution found them: the values it reads
/// (never those bound inside it) and the agents and flows it calls.
#[derive(Debug, Default)]
struct Uses<'a> {
    values: Vec<(Span, &'a str)>,
    calls: Vec<(Span, &'a str)>,
}

impl<'a> Uses<'a> {
    /// What the `s`th statement of a resolved entry uses.
    fn of(resolution: &Resolution<'a>, s: usize) -> Uses<'a> {
        let mut out = Uses::default();
        for u in resolution.uses_in_statement(s) {
            let Target::Binding(id) = u.target else {
                continue;
            };
            let binding = resolution.binding(id);
            match binding.kind {
                BindingKind::Value(kind) if kind.is_top_level() => {
                    out.values.push((u.span, binding.name));
                }
                BindingKind::Agent | BindingKind::Flow(_) => {
                    out.calls.push((u.span, binding.name));
                }
                BindingKind::Value(_) => {}
            }
        }
        out
    }
}

/// For each entry, the names earlier entries bound, as the session had them
/// then: `let`s as values, `param`s as params (flow bodies see those), agents
/// and flows.
fn envs(programs: &[ast::Program]) -> Vec<Env> {
    let mut values: BTreeMap<&str, bool> = BTreeMap::new();
    let mut callables: BTreeMap<&str, Option<Vec<String>>> = BTreeMap::new();
    let mut out = Vec::with_capacity(programs.len());
    for program in programs {
        let names = |param: bool| {
            (values.iter())
                .filter(|(_, p)| **p == param)
                .map(|(n, _)| n.to_string())
                .collect()
        };
        out.push(Env {
            values: names(false),
            params: names(true),
            agents: (callables.iter())
                .filter(|(_, f)| f.is_none())
                .map(|(n, _)| n.to_string())
                .collect(),
            flows: (callables.iter())
                .filter_map(|(n, f)| Some((n.to_string(), f.clone()?)))
                .collect(),
            ..Env::default()
        });
        for stmt in &program.stmts {
            match &stmt.kind {
                StmtKind::Let { name, .. } => {
                    values.insert(&name.name, false);
                }
                StmtKind::Param { name, .. } => {
                    values.insert(&name.name, true);
                }
                StmtKind::Agent(d) => {
                    callables.insert(&d.name.name, None);
                }
                StmtKind::Flow(d) => {
                    let params = d.params.iter().map(|p| p.name.to_string()).collect();
                    callables.insert(&d.name.name, Some(params));
                }
                StmtKind::Expr(_) | StmtKind::Output(_) | StmtKind::Budget(_) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    /// The values and calls of each statement of one entry, resolved
    /// against an earlier entry that bound `before`.
    fn uses_of(before: &str, text: &str) -> (Vec<String>, Vec<String>) {
        let parse = |t: &str| syntax::parse(&SourceFile::new("t", t)).expect("it parses");
        let programs = [parse(before), parse(text)];
        let envs = envs(&programs);
        let resolution = crate::resolve::resolve(&programs[1], &envs[1]);
        let (mut values, mut calls) = (Vec::new(), Vec::new());
        for s in 0..programs[1].stmts.len() {
            let uses = Uses::of(&resolution, s);
            values.extend(uses.values.iter().map(|(_, n)| n.to_string()));
            calls.extend(uses.calls.iter().map(|(_, n)| n.to_string()));
        }
        (values, calls)
    }

    const BEFORE: &str = "param p = 1\nparam n = 2\nlet x = 1\nlet z = 1\nlet w = 1\n\
        let xs = []\nlet k = 1\nlet a = 1\nlet b = 1\nlet c = 1\nlet r = 1\n\
        let s = 1\nlet t = 1\nlet u = 1\nagent E = echo()\nagent G = echo()";

    fn names(text: &str) -> Vec<String> {
        uses_of(BEFORE, text).0
    }

    #[test]
    fn finds_what_declarations_use() {
        assert_eq!(
            uses_of(BEFORE, "flow f(x) { let y = E(v: x, p: p); G(v: y) }"),
            (
                vec!["p".to_string()],
                vec!["E".to_string(), "G".to_string()]
            )
        );
        assert_eq!(
            uses_of(BEFORE, "agent A = sh(\"echo ${p}\") limit n"),
            (vec!["p".to_string(), "n".to_string()], vec![])
        );
        assert_eq!(
            uses_of(BEFORE, "param b2 = p + 1"),
            (vec!["p".to_string()], vec![])
        );
    }

    #[test]
    fn finds_top_level_reads_and_skips_inner_bindings() {
        assert_eq!(names("let y = x + z.f[w]"), ["x", "z", "w"]);
        assert_eq!(names("let y = { let x = 2; x + a }"), ["a"]);
        assert_eq!(
            names("map (i, x) in xs limit n { x + i + k }"),
            ["xs", "n", "k"]
        );
        assert_eq!(
            names("gate { x: E(v: a) where x.v == b, y: E() after c }"),
            ["a", "b", "c"]
        );
        assert_eq!(
            names("try { E(q: a) } retry r else { error.message + b }"),
            ["a", "r", "b"]
        );
        assert_eq!(names("if c { let t = 1; t } else { u }"), ["c", "u"]);
        assert_eq!(names("\"${s} and ${t}\""), ["s", "t"]);
        assert!(names("flow f(x) { E(x: x) }").is_empty());
        // A name the entry binds itself is read from the entry.
        assert_eq!(names("let x = x + 1\nlet y = x"), ["x", "x"]);
    }

    #[test]
    fn edits_replace_spans_inside_a_statement() {
        let src = "let x = 1\nlet y = x + x";
        let edits = vec![(Span::new(18, 19), "x_1"), (Span::new(22, 23), "x_1")];
        assert_eq!(edited(src, Span::new(10, 23), edits), "let y = x_1 + x_1");
    }
}
