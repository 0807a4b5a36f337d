use serde_json::json;

use super::*;
use BinaryOp::*;

fn bin(op: BinaryOp, a: Value, b: Value) -> Result<Value, ValueError> {
    binary(op, &a, &b)
}

fn ok(op: BinaryOp, a: Value, b: Value) -> Value {
    match bin(op, a.clone(), b.clone()) {
        Ok(v) => v,
        Err(e) => panic!("{a} {} {b} failed: {}", op.symbol(), e.message),
    }
}

fn kind(op: BinaryOp, a: Value, b: Value) -> ErrorKind {
    match bin(op, a.clone(), b.clone()) {
        Ok(v) => panic!("{a} {} {b} gave {v}, expected an error", op.symbol()),
        Err(e) => e.kind,
    }
}

/// Asserts the value and its representation: `3` is not `3.0`.
#[track_caller]
fn same(actual: Value, expected: Value) {
    assert_eq!(actual, expected);
    assert_eq!(actual.to_string(), expected.to_string());
}

#[test]
fn integers_stay_integers() {
    same(ok(Add, json!(2), json!(3)), json!(5));
    same(ok(Sub, json!(2), json!(3)), json!(-1));
    same(ok(Mul, json!(4), json!(-3)), json!(-12));
    same(ok(Rem, json!(7), json!(3)), json!(1));
    same(ok(Rem, json!(-7), json!(2)), json!(-1));
    same(ok(Rem, json!(7), json!(-2)), json!(1));
}

#[test]
fn floats_mix_with_integers() {
    same(ok(Add, json!(1), json!(0.5)), json!(1.5));
    same(ok(Add, json!(1.5), json!(1.5)), json!(3.0));
    same(ok(Mul, json!(2.5), json!(2)), json!(5.0));
    same(ok(Sub, json!(0.5), json!(2)), json!(-1.5));
    same(ok(Rem, json!(7.5), json!(2)), json!(1.5));
}

#[test]
fn division_is_exact() {
    same(ok(Div, json!(7), json!(2)), json!(3.5));
    same(ok(Div, json!(6), json!(2)), json!(3));
    same(ok(Div, json!(-6), json!(3)), json!(-2));
    same(ok(Div, json!(1), json!(3)), json!(1.0 / 3.0));
    // An integer only when both operands are integers.
    same(ok(Div, json!(6.0), json!(2)), json!(3.0));
    same(
        ok(Div, json!(i64::MIN), json!(-1)),
        json!(9_223_372_036_854_775_808u64),
    );
}

#[test]
fn division_by_zero() {
    for op in [Div, Rem] {
        assert_eq!(kind(op, json!(1), json!(0)), ErrorKind::DivisionByZero);
        assert_eq!(kind(op, json!(1.5), json!(0)), ErrorKind::DivisionByZero);
        assert_eq!(kind(op, json!(1), json!(0.0)), ErrorKind::DivisionByZero);
        assert_eq!(kind(op, json!(0), json!(-0.0)), ErrorKind::DivisionByZero);
    }
    let e = bin(Div, json!(1), json!(0)).unwrap_err();
    assert_eq!(e.message, "cannot divide by zero");
    assert_eq!(e.code(), Code::DivisionByZero);
}

#[test]
fn overflow_falls_back_to_float() {
    // Past i64 but within u64: still an integer.
    same(
        ok(Add, json!(i64::MAX), json!(1)),
        json!(9_223_372_036_854_775_808u64),
    );
    same(ok(Add, json!(u64::MAX), json!(0)), json!(u64::MAX));
    // Past u64: a float.
    same(
        ok(Add, json!(u64::MAX), json!(1)),
        json!(18_446_744_073_709_551_616.0),
    );
    same(
        ok(Sub, json!(i64::MIN), json!(1)),
        json!(-9_223_372_036_854_775_809.0),
    );
    same(
        ok(Mul, json!(i64::MAX), json!(i64::MAX)),
        json!((i64::MAX as f64) * (i64::MAX as f64)),
    );
    same(
        ok(Mul, json!(u64::MAX), json!(u64::MAX)),
        json!((u64::MAX as f64) * (u64::MAX as f64)),
    );
    // And back down into integers.
    same(ok(Sub, json!(u64::MAX), json!(u64::MAX)), json!(0));
}

#[test]
fn infinite_results_are_errors() {
    assert_eq!(kind(Mul, json!(1e308), json!(10)), ErrorKind::BadValue);
    assert_eq!(
        kind(Add, json!(1.7e308), json!(1.7e308)),
        ErrorKind::BadValue
    );
    assert_eq!(kind(Div, json!(1e308), json!(1e-308)), ErrorKind::BadValue);
}

#[test]
fn concatenation() {
    same(ok(Add, json!("ab"), json!("cd")), json!("abcd"));
    same(ok(Add, json!(""), json!("")), json!(""));
    same(ok(Add, json!([1]), json!([2, [3]])), json!([1, 2, [3]]));
    same(ok(Add, json!([]), json!([])), json!([]));
}

#[test]
fn arithmetic_type_errors() {
    let cases = [
        (Add, json!(1), json!("a")),
        (Add, json!("a"), json!(1)),
        (Add, json!(null), json!(1)),
        (Add, json!([1]), json!(1)),
        (Add, json!({}), json!({})),
        (Add, json!(true), json!(true)),
        (Sub, json!("a"), json!("b")),
        (Mul, json!("a"), json!(3)),
        (Div, json!([1]), json!(1)),
        (Rem, json!(1), json!(null)),
    ];
    for (op, a, b) in cases {
        assert_eq!(kind(op, a, b), ErrorKind::TypeError);
    }
    let e = bin(Add, json!(1), json!("a")).unwrap_err();
    assert_eq!(e.message, "cannot add a string to a number");
    assert!(e.help.unwrap().contains("str("));
    let e = bin(Sub, json!(1), json!(null)).unwrap_err();
    assert_eq!(e.message, "cannot subtract null from a number");
    let e = bin(Mul, json!("3"), json!(2)).unwrap_err();
    assert!(e.help.unwrap().contains("int("));
}

#[test]
fn equality_is_deep_and_numeric() {
    let t = |a: Value, b: Value| {
        assert_eq!(ok(Eq, a.clone(), b.clone()), json!(true), "{a} == {b}");
        assert_eq!(ok(Ne, a.clone(), b.clone()), json!(false), "{a} != {b}");
    };
    let f = |a: Value, b: Value| {
        assert_eq!(ok(Eq, a.clone(), b.clone()), json!(false), "{a} == {b}");
        assert_eq!(ok(Ne, a.clone(), b.clone()), json!(true), "{a} != {b}");
    };
    t(json!(1), json!(1.0));
    t(json!(-0.0), json!(0));
    t(json!(null), json!(null));
    t(json!("a"), json!("a"));
    t(json!([1, [2.0, {"a": 3}]]), json!([1.0, [2, {"a": 3.0}]]));
    t(json!({"a": 1, "b": 2}), json!({"b": 2, "a": 1}));
    t(json!(u64::MAX), json!(u64::MAX));
    f(json!(1), json!("1"));
    f(json!(0), json!(null));
    f(json!(0), json!(false));
    f(json!(1), json!(1.5));
    f(json!([1, 2]), json!([1, 2, 3]));
    f(json!({"a": 1}), json!({"a": 1, "b": 2}));
    f(json!({"a": 1}), json!({"b": 1}));
    // Exact beyond 2^53, where floats lose precision.
    f(
        json!(9_007_199_254_740_993i64),
        json!(9_007_199_254_740_992.0),
    );
    t(
        json!(9_007_199_254_740_992i64),
        json!(9_007_199_254_740_992.0),
    );
    f(json!(u64::MAX), json!(18_446_744_073_709_551_616.0));
}

#[test]
fn ordering() {
    let yes = |op, a: Value, b: Value| assert_eq!(ok(op, a, b), json!(true));
    let no = |op, a: Value, b: Value| assert_eq!(ok(op, a, b), json!(false));
    yes(Lt, json!(1), json!(2));
    yes(Lt, json!(1), json!(1.5));
    yes(Le, json!(2), json!(2.0));
    no(Gt, json!(2), json!(2.0));
    yes(Ge, json!(2.5), json!(2));
    yes(Lt, json!(-1), json!(u64::MAX));
    yes(Gt, json!(1e300), json!(u64::MAX));
    yes(Lt, json!(-1e300), json!(i64::MIN));
    yes(
        Lt,
        json!(9_007_199_254_740_992.0),
        json!(9_007_199_254_740_993i64),
    );
    yes(Lt, json!("apple"), json!("banana"));
    yes(Lt, json!("Z"), json!("a"));
    yes(Lt, json!("ab"), json!("abc"));
    yes(Lt, json!("z"), json!("é"));
    no(Lt, json!(""), json!(""));
}

#[test]
fn ordering_errors() {
    for (a, b) in [
        (json!(1), json!("1")),
        (json!([1]), json!([2])),
        (json!(null), json!(1)),
        (json!(true), json!(false)),
        (json!({}), json!({})),
    ] {
        for op in [Lt, Le, Gt, Ge] {
            assert_eq!(kind(op, a.clone(), b.clone()), ErrorKind::TypeError);
        }
    }
    let e = bin(Lt, json!(1), json!("1")).unwrap_err();
    assert_eq!(e.message, "cannot compare a number with a string");
}

#[test]
fn logic_on_booleans() {
    assert_eq!(ok(And, json!(true), json!(false)), json!(false));
    assert_eq!(ok(Or, json!(true), json!(false)), json!(true));
    assert_eq!(kind(And, json!(1), json!(true)), ErrorKind::TypeError);
    assert_eq!(truthy_bool(&json!(true)), Ok(true));
    let e = truthy_bool(&json!(3)).unwrap_err();
    assert_eq!(e.message, "expected true or false, got a number (3)");
    assert_eq!(
        truthy_bool(&json!(null)).unwrap_err().kind,
        ErrorKind::TypeError
    );
    assert_eq!(
        truthy_bool(&json!("")).unwrap_err().kind,
        ErrorKind::TypeError
    );
}

#[test]
fn unary_operators() {
    same(unary(UnaryOp::Neg, &json!(3)).unwrap(), json!(-3));
    same(unary(UnaryOp::Neg, &json!(-2.5)).unwrap(), json!(2.5));
    same(
        unary(UnaryOp::Neg, &json!(i64::MIN)).unwrap(),
        json!(9_223_372_036_854_775_808u64),
    );
    same(
        unary(UnaryOp::Neg, &json!(9_223_372_036_854_775_808u64)).unwrap(),
        json!(i64::MIN),
    );
    same(
        unary(UnaryOp::Neg, &json!(u64::MAX)).unwrap(),
        json!(-18_446_744_073_709_551_615.0),
    );
    assert_eq!(unary(UnaryOp::Not, &json!(true)), Ok(json!(false)));
    for v in [json!("a"), json!(null), json!(true), json!([])] {
        assert_eq!(
            unary(UnaryOp::Neg, &v).unwrap_err().kind,
            ErrorKind::TypeError
        );
    }
    for v in [json!(0), json!(null), json!("")] {
        assert_eq!(
            unary(UnaryOp::Not, &v).unwrap_err().kind,
            ErrorKind::TypeError
        );
    }
}

#[test]
fn fields() {
    let v = json!({"complexity": 7, "rows": [1, 2]});
    assert_eq!(field(&v, "complexity"), Ok(&json!(7)));
    let e = field(&v, "complexty").unwrap_err();
    assert_eq!(e.kind, ErrorKind::MissingField);
    assert_eq!(e.code(), Code::MissingField);
    assert_eq!(
        e.message,
        "no field `complexty` in this object; it has `complexity`, `rows`"
    );
    assert_eq!(e.help.as_deref(), Some("did you mean `complexity`?"));
    let e = field(&v, "zzz").unwrap_err();
    assert_eq!(e.help, None);
    let e = field(&json!({}), "a").unwrap_err();
    assert_eq!(e.message, "no field `a` in this object; it is empty");
    let e = field(&json!([1]), "x").unwrap_err();
    assert_eq!(e.kind, ErrorKind::TypeError);
    assert!(e.message.starts_with("cannot read field `x` of a list"));
    assert_eq!(
        field(&json!(null), "x").unwrap_err().kind,
        ErrorKind::TypeError
    );
}

#[test]
fn many_fields_are_abbreviated() {
    let map: serde_json::Map<String, Value> =
        (0..20).map(|i| (format!("k{i}"), json!(i))).collect();
    let e = field(&Value::Object(map), "nope").unwrap_err();
    assert!(e.message.ends_with("`k7`, and 12 more"), "{}", e.message);
}

#[test]
fn suggestions() {
    assert_eq!(
        suggest("complexty", ["rows", "complexity"]),
        Some("complexity")
    );
    assert_eq!(suggest("Rows", ["rows"]), Some("rows"));
    assert_eq!(suggest("a", ["b"]), Some("b"));
    assert_eq!(suggest("id", ["name", "rows"]), None);
    assert_eq!(suggest("x", []), None);
}

#[test]
fn list_indices() {
    let v = json!([10, 20, 30]);
    let at = |i: Value| index(&v, &i).map(|c| c.into_owned());
    assert_eq!(at(json!(0)), Ok(json!(10)));
    assert_eq!(at(json!(2)), Ok(json!(30)));
    assert_eq!(at(json!(-1)), Ok(json!(30)));
    assert_eq!(at(json!(-3)), Ok(json!(10)));
    assert_eq!(at(json!(1.0)), Ok(json!(20)));
    for i in [
        json!(3),
        json!(-4),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e30),
    ] {
        assert_eq!(at(i).unwrap_err().kind, ErrorKind::IndexOutOfRange);
    }
    let e = at(json!(5)).unwrap_err();
    assert_eq!(e.message, "index 5 is out of range for a list of 3 items");
    assert_eq!(e.code(), Code::IndexOutOfRange);
    let e = index(&json!([]), &json!(0)).unwrap_err();
    assert_eq!(e.message, "index 0 is out of range for an empty list");
    let e = index(&json!([1]), &json!(1)).unwrap_err();
    assert_eq!(e.message, "index 1 is out of range for a list of 1 item");
    assert_eq!(at(json!(1.5)).unwrap_err().kind, ErrorKind::BadValue);
    assert_eq!(at(json!("0")).unwrap_err().kind, ErrorKind::TypeError);
    assert_eq!(at(json!(null)).unwrap_err().kind, ErrorKind::TypeError);
    // Lists are borrowed, not cloned.
    assert!(matches!(index(&v, &json!(0)), Ok(Cow::Borrowed(_))));
}

#[test]
fn string_and_object_indices() {
    let s = json!("héllo");
    let at = |i: i64| index(&s, &json!(i)).map(|c| c.into_owned());
    assert_eq!(at(1), Ok(json!("é")));
    assert_eq!(at(-1), Ok(json!("o")));
    assert_eq!(at(-5), Ok(json!("h")));
    let e = at(5).unwrap_err();
    assert_eq!(e.kind, ErrorKind::IndexOutOfRange);
    assert_eq!(
        e.message,
        "index 5 is out of range for a string of 5 characters"
    );
    assert_eq!(at(-6).unwrap_err().kind, ErrorKind::IndexOutOfRange);
    assert_eq!(
        index(&json!(""), &json!(0)).unwrap_err().kind,
        ErrorKind::IndexOutOfRange
    );

    let o = json!({"a b": 1, "c": 2});
    assert_eq!(index(&o, &json!("a b")).unwrap().into_owned(), json!(1));
    let e = index(&o, &json!("cc")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::MissingField);
    assert_eq!(e.help.as_deref(), Some("did you mean `c`?"));
    assert_eq!(index(&o, &json!(0)).unwrap_err().kind, ErrorKind::TypeError);
    for base in [json!(null), json!(1), json!(true)] {
        assert_eq!(
            index(&base, &json!(0)).unwrap_err().kind,
            ErrorKind::TypeError
        );
    }
}

#[test]
fn names_and_text() {
    assert_eq!(type_name(&json!(null)), "null");
    assert_eq!(type_name(&json!({})), "an object");
    assert_eq!(to_text(&json!("a\"b")), "a\"b");
    assert_eq!(to_text(&json!(3)), "3");
    assert_eq!(to_text(&json!(2.5)), "2.5");
    assert_eq!(to_text(&json!(null)), "null");
    assert_eq!(to_text(&json!(false)), "false");
    assert_eq!(
        to_text(&json!({"b": [1, "x"], "a": null})),
        r#"{"b":[1,"x"],"a":null}"#
    );
    let mut out = String::from("n=");
    write_text(&mut out, &json!([1]));
    assert_eq!(out, "n=[1]");
}

#[test]
fn previews() {
    assert_eq!(preview(&json!("abc"), 10), "\"abc\"");
    assert_eq!(preview(&json!([1, 2, 3]), 7), "[1,2,3]");
    assert_eq!(preview(&json!([1, 2, 3]), 6), "[1,2,…");
    assert_eq!(preview(&json!("line\nbreak"), 40), "\"line\\nbreak\"");
    assert_eq!(preview(&json!("ééééé"), 4), "\"éé…");
    assert_eq!(preview(&json!(1), 0), "1");
    // A huge value is not serialised in full.
    let big = Value::Array(vec![json!("x".repeat(100)); 100_000]);
    assert_eq!(preview(&big, 20).chars().count(), 20);
}

#[test]
fn durations() {
    assert_eq!(duration_seconds(&json!(30)), Ok(30.0));
    assert_eq!(duration_seconds(&json!(0.25)), Ok(0.25));
    assert_eq!(duration_seconds(&json!(0)), Ok(0.0));
    assert_eq!(
        duration_seconds(&json!(-1)).unwrap_err().kind,
        ErrorKind::BadValue
    );
    assert_eq!(
        duration_seconds(&json!("5s")).unwrap_err().kind,
        ErrorKind::TypeError
    );
    // Too long to represent: the longest there is (timers treat it as never).
    use std::time::Duration;
    assert_eq!(duration(&json!(1e20)), Ok(Duration::MAX));
    assert_eq!(duration(&json!(1.5)), Ok(Duration::from_millis(1500)));
}

#[test]
fn counts() {
    assert_eq!(count(&json!(3), "retry", 0), Ok(3));
    assert_eq!(count(&json!(0), "retry", 0), Ok(0));
    assert_eq!(count(&json!(2.0), "limit", 1), Ok(2));
    assert_eq!(
        count(&json!(0), "limit", 1).unwrap_err().kind,
        ErrorKind::BadValue
    );
    let e = count(&json!(-1), "retry", 0).unwrap_err();
    assert_eq!(e.message, "`retry` must be at least 0, got -1");
    assert_eq!(
        count(&json!(1.5), "retry", 0).unwrap_err().kind,
        ErrorKind::BadValue
    );
    assert_eq!(
        count(&json!("3"), "retry", 0).unwrap_err().kind,
        ErrorKind::TypeError
    );
    assert_eq!(
        count(&json!(1e30), "retry", 0).unwrap_err().kind,
        ErrorKind::BadValue
    );
}

#[test]
fn errors_become_diagnostics() {
    let e = field(&json!({"rows": 1}), "row").unwrap_err();
    let d = e.to_diagnostic();
    assert_eq!(d.code, Code::MissingField);
    assert_eq!(d.message, e.message);
    assert_eq!(d.help.as_deref(), Some("did you mean `rows`?"));
    assert_eq!(ErrorKind::BadValue.code(), Code::BadValue);
    assert_eq!(ErrorKind::TypeError.code(), Code::TypeError);
}

#[test]
fn concatenation_is_capped() {
    let half = Value::Array(vec![Value::Null; MAX_LIST_ITEMS / 2 + 1]);
    assert_eq!(kind(Add, half.clone(), half), ErrorKind::BadValue);
}

#[test]
fn a_too_large_result_names_its_operands_briefly() {
    let error = bin(Mul, json!(1e308), json!(10)).unwrap_err();
    assert!(error.message.contains("`1e308 * 10`"), "{}", error.message);
    assert!(error.message.len() < 80, "{}", error.message);
}
