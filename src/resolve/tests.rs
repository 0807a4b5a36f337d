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
        ["Value(TopLet)", "Backend(noop)", "Function(len)"]
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
    assert_eq!(res.env_value("x"), Some(0));
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
