//! The session as one script, for `:save` and `:graph`.
//!
//! A script binds a name once, but a session may rebind it (`let x = 1`,
//! `let y = x + 1`, `let x = 5`). A replaced `let` that a kept statement
//! used is kept under a fresh name (`x_1`), and those uses are renamed; a
//! replaced `let` nothing kept uses is left out, as are replaced declarations.

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Block, ExprKind, ModifierKind, StmtKind};
use crate::source::Span;
use crate::syntax;

use super::session::{Entry, Kind};

/// A statement: its entry and its index there.
type At = (usize, usize);

/// The text of the script that reproduces the session's entries.
pub(super) fn script(entries: &[Entry]) -> String {
    // Every statement again, with the names it reads from the top level.
    let mut programs = Vec::new();
    for entry in entries {
        // Committed entries parsed before; one that no longer does is skipped.
        let stmts = syntax::parse(&entry.source)
            .map(|p| p.stmts)
            .unwrap_or_default();
        programs.push(stmts);
    }
    let mut binder: HashMap<String, At> = HashMap::new();
    // For each statement: the `let`s it reads, with the spans of the reads.
    let mut reads: HashMap<At, Vec<(At, Span)>> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for (e, stmts) in programs.iter().enumerate() {
        for (s, stmt) in stmts.iter().enumerate() {
            let mut free = Vec::new();
            stmt_names(stmt, &mut free);
            for ident in free {
                if let Some(at) = binder.get(&ident.name) {
                    reads.entry((e, s)).or_default().push((*at, ident.span));
                }
            }
            match &stmt.kind {
                StmtKind::Let { name, .. } => {
                    binder.insert(name.name.clone(), (e, s));
                    taken.insert(name.name.clone());
                }
                StmtKind::Param { name, .. } => {
                    binder.remove(&name.name);
                    taken.insert(name.name.clone());
                }
                _ => {}
            }
        }
    }
    let saved = |(e, s): At| entries.get(e).and_then(|entry| entry.stmts.get(s));
    // Live statements are kept, and every replaced `let` a kept statement reads.
    let mut kept: HashSet<At> = HashSet::new();
    let mut work: Vec<At> = Vec::new();
    for (e, stmts) in programs.iter().enumerate() {
        for s in 0..stmts.len() {
            if saved((e, s)).is_some_and(|st| st.live) {
                kept.insert((e, s));
                work.push((e, s));
            }
        }
    }
    while let Some(at) = work.pop() {
        for (binding, _) in reads.get(&at).into_iter().flatten() {
            if kept.insert(*binding) {
                work.push(*binding);
            }
        }
    }
    // Fresh names for the replaced `let`s that are kept.
    let mut renamed: HashMap<At, String> = HashMap::new();
    let mut order: Vec<At> = kept.iter().copied().collect();
    order.sort();
    for at in &order {
        let Some(st) = saved(*at) else { continue };
        if st.live || st.kind != Kind::Let {
            continue;
        }
        let Some(name) = &st.name else { continue };
        let mut n = 1;
        let fresh = loop {
            let candidate = format!("{name}_{n}");
            if !taken.contains(&candidate) {
                break candidate;
            }
            n += 1;
        };
        taken.insert(fresh.clone());
        renamed.insert(*at, fresh);
    }
    let mut text = String::new();
    let mut last_is_expr = false;
    for at in &order {
        let (e, s) = *at;
        let (Some(entry), Some(stmt)) = (entries.get(e), programs[e].get(s)) else {
            continue;
        };
        let mut edits: Vec<(Span, &str)> = Vec::new();
        if let (Some(fresh), StmtKind::Let { name, .. }) = (renamed.get(at), &stmt.kind) {
            edits.push((name.span, fresh));
        }
        for (binding, span) in reads.get(at).into_iter().flatten() {
            if let Some(fresh) = renamed.get(binding) {
                edits.push((*span, fresh));
            }
        }
        text.push_str(&edited(&entry.source.text, stmt.span, edits));
        text.push('\n');
        last_is_expr = matches!(stmt.kind, StmtKind::Expr(_));
    }
    // With no final expression a script's value is the object of its `let`s;
    // name the session's own so the renamed ones stay out of it.
    if !renamed.is_empty() && !last_is_expr {
        let live: Vec<String> = order
            .iter()
            .filter_map(|at| saved(*at))
            .filter(|st| st.live && st.kind == Kind::Let)
            .filter_map(|st| st.name.clone())
            .map(|n| format!("{n}: {n}"))
            .collect();
        text.push_str(&format!("{{ {} }}\n", live.join(", ")));
    }
    text
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

/// The names a top-level statement reads from the top level: every name not
/// bound inside it. Declarations read params only, never `let`s.
fn stmt_names<'a>(stmt: &'a ast::Stmt, out: &mut Vec<&'a ast::Ident>) {
    let mut scopes = Vec::new();
    match &stmt.kind {
        StmtKind::Let { value, .. } => expr_names(value, &mut scopes, out),
        StmtKind::Expr(e) => expr_names(e, &mut scopes, out),
        StmtKind::Param { .. } | StmtKind::Agent(_) | StmtKind::Flow(_) => {}
    }
}

fn free<'a>(ident: &'a ast::Ident, scopes: &[HashSet<&str>], out: &mut Vec<&'a ast::Ident>) {
    if !scopes.iter().any(|s| s.contains(ident.name.as_str())) {
        out.push(ident);
    }
}

fn block_names<'a>(
    block: &'a Block,
    scopes: &mut Vec<HashSet<&'a str>>,
    out: &mut Vec<&'a ast::Ident>,
) {
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
fn expr_names<'a>(
    e: &'a ast::Expr,
    scopes: &mut Vec<HashSet<&'a str>>,
    out: &mut Vec<&'a ast::Ident>,
) {
    match &e.kind {
        ExprKind::Name(ident) => free(ident, scopes, out),
        ExprKind::Call(call) => {
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
        let mut out = Vec::new();
        for stmt in &program.stmts {
            stmt_names(stmt, &mut out);
        }
        out.iter().map(|i| i.name.clone()).collect()
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
