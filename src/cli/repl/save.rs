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

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Block, ExprKind, ModifierKind, StmtKind};
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
    programs: &'a [Vec<ast::Stmt>],
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
        self.programs.get(e).and_then(|p| p.get(s))
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
        let mut names = Uses::default();
        if let Some(stmt) = self.stmt(decl) {
            decl_uses(stmt, &mut names);
        }
        self.visiting.insert(decl);
        let mut uses = Vec::new();
        let named = (names.calls.iter().map(|i| (*i, true)))
            .chain(names.values.iter().map(|i| (*i, false)));
        for (ident, call) in named {
            let target = self.resolve(&ident.name, call, e);
            // Flows cannot call themselves (the checker says so); guard anyway.
            let dep = match target {
                Some(t) if !self.visiting.contains(&t) => Some(self.instance(t, e)),
                _ => None,
            };
            uses.push((ident.span, dep));
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
        StmtKind::Expr(_) => None,
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
    let programs: Vec<Vec<ast::Stmt>> = entries
        .iter()
        .map(|entry| {
            syntax::parse(&entry.source)
                .map(|p| p.stmts)
                .unwrap_or_default()
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
    let mut calls: HashMap<At, Vec<&ast::Ident>> = HashMap::new();
    for (e, stmts) in programs.iter().enumerate() {
        for (s, stmt) in stmts.iter().enumerate() {
            if !is_declaration(stmt) {
                let mut uses = Uses::default();
                stmt_uses(stmt, &mut uses);
                for ident in uses.values {
                    if let Some(at) = binder.get(ident.name.as_str()) {
                        reads.entry((e, s)).or_default().push((*at, ident.span));
                    }
                }
                calls.insert((e, s), uses.calls);
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
            programs.get(e).and_then(|p| p.get(s)).map(|s| &s.kind),
            Some(StmtKind::Let { .. })
        )
    };
    // Live `let`s and expressions are kept, and every replaced `let` a kept
    // statement reads.
    let mut kept: HashSet<At> = HashSet::new();
    let mut work: Vec<At> = Vec::new();
    for (e, stmts) in programs.iter().enumerate() {
        for (s, stmt) in stmts.iter().enumerate() {
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
    for (e, stmts) in programs.iter().enumerate() {
        for (s, stmt) in stmts.iter().enumerate() {
            if is_declaration(stmt) && live((e, s)) {
                plain.insert(instances.instance((e, s), last_entry));
            }
        }
    }
    // For each kept statement: each name it uses, and the instance it stands for.
    let mut uses_of: HashMap<At, Vec<(Span, usize)>> = HashMap::new();
    for &(e, s) in &order {
        let mut found = Vec::new();
        for ident in calls.get(&(e, s)).into_iter().flatten() {
            if let Some(decl) = instances.resolve(&ident.name, true, e) {
                found.push((ident.span, instances.instance(decl, e)));
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
            .and_then(|p| p.get(at.1))
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
    let mut names: Vec<String> = instances.list.iter().map(|i| name_at(i.decl)).collect();
    let mut renamed_params = Vec::new();
    for (e, stmts) in programs.iter().enumerate() {
        for (s, stmt) in stmts.iter().enumerate() {
            let at = (e, s);
            if kept.contains(&at) && is_let(at) && !live(at) {
                renamed_lets.insert(at, fresh(&name_at(at)));
            }
            for &id in by_decl.get(&at).into_iter().flatten() {
                if !plain.contains(&id) {
                    names[id] = fresh(&name_at(at));
                    if let StmtKind::Param { name, .. } = &stmt.kind {
                        renamed_params.push((name.name.clone(), names[id].clone()));
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
    for (e, stmts) in programs.iter().enumerate() {
        for (s, stmt) in stmts.iter().enumerate() {
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

/// The names a statement uses from the top level: the values it reads that
/// nothing inside it binds, and the agents and flows (or built-ins) it calls.
#[derive(Debug, Default)]
struct Uses<'a> {
    values: Vec<&'a ast::Ident>,
    calls: Vec<&'a ast::Ident>,
}

/// What a top-level `let` or expression uses.
fn stmt_uses<'a>(stmt: &'a ast::Stmt, out: &mut Uses<'a>) {
    let mut scopes = Vec::new();
    match &stmt.kind {
        StmtKind::Let { value, .. } => expr_names(value, &mut scopes, out),
        StmtKind::Expr(e) => expr_names(e, &mut scopes, out),
        StmtKind::Param { .. } | StmtKind::Agent(_) | StmtKind::Flow(_) => {}
    }
}

/// What a declaration uses: a param's default, an agent's config and `limit`,
/// a flow's body less its parameters. They read params (never `let`s).
fn decl_uses<'a>(stmt: &'a ast::Stmt, out: &mut Uses<'a>) {
    let mut scopes = Vec::new();
    match &stmt.kind {
        StmtKind::Param { default, .. } => expr_names(default, &mut scopes, out),
        StmtKind::Agent(decl) => {
            for arg in &decl.args {
                expr_names(&arg.value, &mut scopes, out);
            }
            if let Some(limit) = &decl.limit {
                expr_names(limit, &mut scopes, out);
            }
        }
        StmtKind::Flow(decl) => {
            scopes.push(decl.params.iter().map(|p| p.name.as_str()).collect());
            block_names(&decl.body, &mut scopes, out);
        }
        StmtKind::Let { .. } | StmtKind::Expr(_) => {}
    }
}

fn free<'a>(ident: &'a ast::Ident, scopes: &[HashSet<&str>], out: &mut Uses<'a>) {
    if !scopes.iter().any(|s| s.contains(ident.name.as_str())) {
        out.values.push(ident);
    }
}

fn block_names<'a>(block: &'a Block, scopes: &mut Vec<HashSet<&'a str>>, out: &mut Uses<'a>) {
    scopes.push(HashSet::new());
    for stmt in &block.stmts {
        match &stmt.kind {
            StmtKind::Let { name, value } => {
                expr_names(value, scopes, out);
                if let Some(scope) = scopes.last_mut() {
                    scope.insert(&name.name);
                }
            }
            StmtKind::Expr(e) => expr_names(e, scopes, out),
            StmtKind::Param { .. } | StmtKind::Agent(_) | StmtKind::Flow(_) => {}
        }
    }
    scopes.pop();
}

/// Collects the names `e` reads that none of `scopes` binds.
fn expr_names<'a>(e: &'a ast::Expr, scopes: &mut Vec<HashSet<&'a str>>, out: &mut Uses<'a>) {
    match &e.kind {
        ExprKind::Name(ident) => free(ident, scopes, out),
        ExprKind::Call(call) => {
            out.calls.push(&call.callee);
            for arg in &call.args {
                expr_names(&arg.value, scopes, out);
            }
            for m in &call.modifiers {
                match &m.kind {
                    ModifierKind::Timeout(x)
                    | ModifierKind::Retry(x)
                    | ModifierKind::Backoff(x) => expr_names(x, scopes, out),
                    ModifierKind::After(names) => {
                        for ident in names {
                            free(ident, scopes, out);
                        }
                    }
                }
            }
        }
        ExprKind::Map(map) => {
            expr_names(&map.list, scopes, out);
            if let Some(limit) = &map.limit {
                expr_names(limit, scopes, out);
            }
            let vars = map.index.iter().chain([&map.item]).map(|i| i.name.as_str());
            scopes.push(vars.collect());
            block_names(&map.body, scopes, out);
            scopes.pop();
        }
        ExprKind::Gate(checks) => {
            for check in checks {
                expr_names(&check.value, scopes, out);
            }
            // A `where` sees the checks' values by their names.
            scopes.push(checks.iter().map(|c| c.name.name.as_str()).collect());
            for cond in checks.iter().filter_map(|c| c.cond.as_ref()) {
                expr_names(cond, scopes, out);
            }
            scopes.pop();
        }
        ExprKind::If(if_) => {
            for (cond, block) in &if_.arms {
                expr_names(cond, scopes, out);
                block_names(block, scopes, out);
            }
            if let Some(block) = &if_.otherwise {
                block_names(block, scopes, out);
            }
        }
        ExprKind::Try(try_) => {
            block_names(&try_.body, scopes, out);
            for x in try_.retry.iter().chain(&try_.backoff) {
                expr_names(x, scopes, out);
            }
            if let Some(block) = &try_.otherwise {
                scopes.push(HashSet::from(["error"]));
                block_names(block, scopes, out);
                scopes.pop();
            }
        }
        ExprKind::Block(block) => block_names(block, scopes, out),
        ExprKind::Str(parts) => {
            for part in parts {
                if let ast::StrPart::Interp(x) = part {
                    expr_names(x, scopes, out);
                }
            }
        }
        ExprKind::List(items) => {
            for x in items {
                expr_names(x, scopes, out);
            }
        }
        ExprKind::Object(fields) => {
            for (_, x) in fields {
                expr_names(x, scopes, out);
            }
        }
        ExprKind::Fanout(branches) => {
            for b in branches {
                expr_names(&b.value, scopes, out);
            }
        }
        ExprKind::Field { base, .. } => expr_names(base, scopes, out),
        ExprKind::Unary { operand, .. } => expr_names(operand, scopes, out),
        ExprKind::Index { base, index: x }
        | ExprKind::Binary {
            lhs: base, rhs: x, ..
        }
        | ExprKind::Where {
            value: base,
            cond: x,
        } => {
            expr_names(base, scopes, out);
            expr_names(x, scopes, out);
        }
        ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Duration(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn names(text: &str) -> Vec<String> {
        let program = syntax::parse(&SourceFile::new("t", text)).expect("it parses");
        let mut out = Uses::default();
        for stmt in &program.stmts {
            stmt_uses(stmt, &mut out);
        }
        out.values.iter().map(|i| i.name.clone()).collect()
    }

    fn decl_names(text: &str) -> (Vec<String>, Vec<String>) {
        let program = syntax::parse(&SourceFile::new("t", text)).expect("it parses");
        let mut out = Uses::default();
        for stmt in &program.stmts {
            decl_uses(stmt, &mut out);
        }
        let names = |v: &[&ast::Ident]| v.iter().map(|i| i.name.clone()).collect();
        (names(&out.values), names(&out.calls))
    }

    #[test]
    fn finds_what_declarations_use() {
        assert_eq!(
            decl_names("flow f(x) { let y = E(v: x, p: p); G(v: y) }"),
            (
                vec!["p".to_string()],
                vec!["E".to_string(), "G".to_string()]
            )
        );
        assert_eq!(
            decl_names("agent A = sh(\"echo ${p}\") limit n"),
            (vec!["p".to_string(), "n".to_string()], vec![])
        );
        assert_eq!(
            decl_names("param b = a + 1"),
            (vec!["a".to_string()], vec![])
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
            ["a", "c", "b"]
        );
        assert_eq!(
            names("try { E(q: a) } retry r else { error.message + b }"),
            ["a", "r", "b"]
        );
        assert_eq!(names("if c { let t = 1; t } else { u }"), ["c", "u"]);
        assert_eq!(names("\"${s} and ${t}\""), ["s", "t"]);
        assert!(names("flow f(x) { E(x: x) }").is_empty());
    }

    #[test]
    fn edits_replace_spans_inside_a_statement() {
        let src = "let x = 1\nlet y = x + x";
        let edits = vec![(Span::new(18, 19), "x_1"), (Span::new(22, 23), "x_1")];
        assert_eq!(edited(src, Span::new(10, 23), edits), "let y = x_1 + x_1");
    }
}
