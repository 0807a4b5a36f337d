use super::*;
use crate::ast::{ExprKind, StmtKind};
use crate::source::SourceFile;

fn parse(text: &str) -> ast::Program {
    crate::syntax::parse(&SourceFile::new("t.flow", text)).expect("it parses")
}

/// The kind of binding each use of `stmt`'s uses stands for, or what else.
fn kinds(res: &Resolution, stmt: usize) -> Vec<String> {
    res.uses_in_statement(stmt)
        .iter()
        .map(|u| match u.target {
            Target::Binding(id) => format!("{:?}", res.binding(id).kind),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_use_stands_for_its_innermost_binding() {
    let program = parse("let x = 1\nlet y = map x in [1] { let z = x; z }\nx + y");
    let env = Env::default();
    let res = resolve(&program, &env);
    assert!(res.diagnostics().is_empty(), "{:?}", res.diagnostics());
    assert_eq!(kinds(&res, 1), ["Value(MapItem)", "Value(Let)"]);
    assert_eq!(kinds(&res, 2), ["Value(TopLet)", "Value(TopLet)"]);
}

#[test]
fn callees_are_agents_flows_backends_and_functions() {
    let program = parse("agent A = echo()\nflow f() { A() }\nlet a = f()\nlen([a, noop()])");
    let env = Env::default();
    let res = resolve(&program, &env);
    assert!(res.diagnostics().is_empty(), "{:?}", res.diagnostics());
    assert_eq!(kinds(&res, 0), ["Backend(echo)"]);
    assert_eq!(kinds(&res, 1), ["Agent"]);
    assert_eq!(kinds(&res, 2), ["Flow(0)"]);
    assert_eq!(
        kinds(&res, 3),
        // in source order: a callee before its arguments
        ["Function(len)", "Value(TopLet)", "Backend(noop)"]
    );
}

#[test]
fn bindings_are_found_where_they_are_declared() {
    let program = parse("try { fail(\"x\") } else { error.message }");
    let env = Env::default();
    let res = resolve(&program, &env);
    let StmtKind::Expr(expr) = &program.stmts[0].kind else {
        panic!("an expression")
    };
    let ExprKind::Try(try_) = &expr.kind else {
        panic!("a try")
    };
    let otherwise = try_.otherwise.as_ref().expect("an else block");
    let id = res.binding_at(otherwise.span).expect("`error` is bound");
    assert_eq!(res.binding(id).kind, BindingKind::Value(ValueKind::Error));
    assert_eq!(kinds(&res, 0), ["Backend(fail)", "Value(Error)"]);
}

#[test]
fn names_from_before_the_script_are_rebound_by_it() {
    let env = Env {
        values: vec!["x".into()],
        params: vec!["p".into()],
        ..Env::default()
    };
    let program = parse("let x = x + 1\nflow f() { p }\nx");
    let res = resolve(&program, &env);
    assert!(res.diagnostics().is_empty(), "{:?}", res.diagnostics());
    assert_eq!(kinds(&res, 0), ["Value(Env)"]);
    assert_eq!(kinds(&res, 1), ["Value(EnvParam)"]);
    assert_eq!(kinds(&res, 2), ["Value(TopLet)"]);
    assert_eq!(res.index().env_value("x"), Some(0));
}

#[test]
fn nearby_offsets_hash_to_nearby_slots_with_varied_tags() {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let build = BuildHasherDefault::<OffsetHasher>::default();
    let (a, b) = (build.hash_one(100u32), build.hash_one(101u32));
    assert_eq!(a & 0xFFFF_FFFF, 100);
    assert_eq!(b & 0xFFFF_FFFF, 101);
    assert_ne!(a >> 57, b >> 57);
}

/// Every identifier of a program that the resolution may be asked about, in
/// source order: names read, callees, `after` names, backends, declared names.
fn idents(program: &ast::Program) -> Vec<&Ident> {
    fn expr<'p>(e: &'p ast::Expr, out: &mut Vec<&'p Ident>) {
        match &e.kind {
            ExprKind::Name(n) => out.push(n),
            ExprKind::Call(call) => {
                out.push(&call.callee);
                call.args.iter().for_each(|a| expr(&a.value, out));
                for m in &call.modifiers {
                    match &m.kind {
                        ast::ModifierKind::After(names) => out.extend(names),
                        ast::ModifierKind::Timeout(e)
                        | ast::ModifierKind::Retry(e)
                        | ast::ModifierKind::Backoff(e) => expr(e, out),
                    }
                }
            }
            ExprKind::Map(map) => {
                expr(&map.list, out);
                out.push(&map.item);
                block(&map.body, out);
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                expr(lhs, out);
                expr(rhs, out);
            }
            ExprKind::List(items) => items.iter().for_each(|e| expr(e, out)),
            ExprKind::Block(b) => block(b, out),
            _ => {}
        }
    }
    fn block<'p>(b: &'p ast::Block, out: &mut Vec<&'p Ident>) {
        b.stmts.iter().for_each(|s| stmt(s, out));
    }
    fn stmt<'p>(s: &'p ast::Stmt, out: &mut Vec<&'p Ident>) {
        match &s.kind {
            StmtKind::Let { name, value }
            | StmtKind::Param {
                name,
                default: value,
            } => {
                out.push(name);
                expr(value, out);
            }
            StmtKind::Agent(a) => {
                out.push(&a.name);
                out.push(&a.backend);
                a.args.iter().for_each(|arg| expr(&arg.value, out));
            }
            StmtKind::Flow(f) => {
                out.push(&f.name);
                out.extend(&f.params);
                block(&f.body, out);
            }
            StmtKind::Expr(e) | StmtKind::Output(e) => expr(e, out),
            StmtKind::Budget(_) => {}
        }
    }
    let mut out = Vec::new();
    program.stmts.iter().for_each(|s| stmt(s, &mut out));
    out
}

/// What a resolution says of every identifier and statement, to compare two.
fn answers(program: &ast::Program, res: &Resolution) -> Vec<String> {
    let mut out: Vec<String> = idents(program)
        .iter()
        .map(|i| {
            let def = res.binding_at(i.span).map(|id| res.binding(id).kind);
            format!("{} {:?} {:?}", i.span.start, res.target(i), def)
        })
        .collect();
    for s in 0..program.stmts.len() {
        out.push(format!("{s}: {:?}", res.uses_in_statement(s)));
    }
    out.extend(res.diagnostics().iter().map(|d| format!("{d:?}")));
    out
}

/// Hoisted names, top-level params and uses before a `let`, far apart in a
/// script cut into batches: the same answers with one batch, one batch per
/// statement, or the default, and while another thread reads the batches.
#[test]
fn batches_give_the_answers_of_one_table() {
    let mut text = String::from("flow early(x) { Late(x) + p }\nlet a = early(1)\nlet u = v\n");
    for i in 0..3000 {
        text.push_str(&format!(
            "let f{i} = map it in [a, {i}] {{ late_flow(it) }}\n"
        ));
    }
    text.push_str("let v = 1\nparam p = 2\nagent Late = echo()\nflow late_flow(y) { noop(y) }\n");
    text.push_str("let z = undefined_name + f2999\n");
    assert!(text.len() > 2 * 64 * 1024);
    let program = parse(&text);
    let env = Env::default();
    let serial = |bytes| {
        let index = Arc::new(Index::with_batches_of(&program, &env, bytes));
        answers(&program, &resolve_into(&program, &env, index))
    };
    let one = serial(u32::MAX);
    assert_eq!(one, serial(1), "one batch per statement");
    assert_eq!(one, answers(&program, &resolve(&program, &env)));
    for bytes in [1, 4096] {
        let index = Arc::new(Index::with_batches_of(&program, &env, bytes));
        let read = std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let ids = idents(&program);
                ids.iter()
                    .map(|i| (index.target(i), index.binding_at(i.span)))
                    .map(|(t, d)| format!("{t:?} {d:?}"))
                    .collect::<Vec<_>>()
            });
            let res = resolve_into(&program, &env, index.clone());
            let expected: Vec<String> = idents(&program)
                .iter()
                .map(|i| format!("{:?} {:?}", res.target(i), res.binding_at(i.span)))
                .collect();
            (reader.join().expect("the reader finishes"), expected)
        });
        assert_eq!(read.0, read.1, "read while resolving, batches of {bytes}");
    }
}

/// An identifier placed outside its statement (a tool's AST, not the
/// parser's) is found although its batch was published before it was met.
#[test]
fn an_identifier_outside_its_statement_is_still_found() {
    let mut program = parse("let a = 1\nlet b = [a, a]\nb");
    let StmtKind::Let { value, .. } = &mut program.stmts[1].kind else {
        panic!("a let");
    };
    let ExprKind::List(items) = &mut value.kind else {
        panic!("a list");
    };
    let ExprKind::Name(name) = &mut items[1].kind else {
        panic!("a name");
    };
    name.span = Span::new(1, 2);
    let moved = name.clone();
    let env = Env::default();
    let index = Arc::new(Index::with_batches_of(&program, &env, 1));
    let res = resolve_into(&program, &env, index);
    let a = res.binding_at(Span::new(4, 5)).expect("`a` is bound");
    assert!(matches!(res.target(&moved), Target::Binding(id) if id == a));
    assert_eq!(res.uses_in_statement(1).len(), 2);
}

/// Looking first at the use (or the binding) after the last one found
/// gives the table's answer, for every use and binding the resolution
/// recorded (every kind of construct) in the examples and the checker's
/// cases, cut into small batches: in the walk's order (where the next one is
/// most often the one asked about), backwards and every other one (where it
/// seldom is), and in the order the AST's names come.
#[test]
fn a_cursor_gives_the_answers_of_the_table() {
    let mut files = crate::testing::project_files("examples");
    files.extend(crate::testing::project_files("tests/cases/check/ok"));
    files.extend(crate::testing::project_files("tests/cases/check/err"));
    let (mut uses, mut defs) = (0, 0);
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "flow")) {
        let text = std::fs::read_to_string(file).expect("a readable case");
        let Ok(program) = crate::syntax::parse(&SourceFile::new("t.flow", text)) else {
            continue;
        };
        let env = Env::default();
        let index = Arc::new(Index::with_batches_of(&program, &env, 64));
        let res = resolve_into(&program, &env, index.clone());
        let table = |at: u32| match index.entry(at) {
            Some((_, batch, e)) if e & DEF == 0 => {
                format!("{:?} None", batch.uses[e as usize].target)
            }
            Some((_, batch, e)) => format!("Unresolved {:?}", batch.binding(e)),
            None => "Unresolved None".to_string(),
        };
        let at = |at: u32| Ident {
            name: "x".into(),
            span: Span::new(at as usize, at as usize + 1),
        };
        let (used, defined) = index.recorded();
        uses += used.len();
        defs += defined.len();
        let named: Vec<u32> = idents(&program).iter().map(|i| i.span.start).collect();
        let mut orders = vec![named];
        for walk in [used, defined] {
            orders.push(walk.iter().rev().copied().collect());
            orders.push(walk.iter().step_by(2).copied().collect());
            orders.push(walk);
        }
        for order in &orders {
            let cursor = index::Cursor::default();
            for &offset in order {
                let ident = at(offset);
                let near = format!(
                    "{:?} {:?}",
                    index.target_near(&ident, &cursor),
                    index.binding_near(ident.span, &cursor)
                );
                assert_eq!(near, table(offset), "{}: at {offset}", file.display());
                let res = format!("{:?} {:?}", res.target(&ident), res.binding_at(ident.span));
                assert_eq!(res, table(offset), "{}: at {offset}", file.display());
            }
        }
    }
    assert!(uses > 500 && defs > 300, "only {uses} uses and {defs} bindings");
}
