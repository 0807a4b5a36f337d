use serde_json::json;

use super::*;
use crate::builtins::FUNCTIONS;

fn call(name: &str, args: &[Value]) -> Result<Value, ValueError> {
    call_function(name, args)
}

#[track_caller]
fn ok(name: &str, args: &[Value]) -> Value {
    match call(name, args) {
        Ok(v) => v,
        Err(e) => panic!("{name} failed: {}", e.message),
    }
}

#[track_caller]
fn kind(name: &str, args: &[Value]) -> ErrorKind {
    match call(name, args) {
        Ok(v) => panic!("{name} gave {}, expected an error", value::preview(&v, 80)),
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
fn every_function_is_implemented() {
    for f in FUNCTIONS {
        let args = vec![json!("x"); f.min_args];
        if let Err(e) = call(f.name, &args) {
            assert!(
                !e.message.contains("cannot be called with"),
                "{} is not implemented: {}",
                f.name,
                e.message
            );
        }
    }
}

#[test]
fn arity_is_checked() {
    assert_eq!(kind("len", &[]), ErrorKind::TypeError);
    let e = call("len", &[json!(1), json!(2)]).unwrap_err();
    assert_eq!(e.message, "`len` takes 1 argument, got 2");
    assert_eq!(e.help.as_deref(), Some("call it as `len(value)`"));
    let e = call("range", &[json!(1), json!(2), json!(3), json!(4)]).unwrap_err();
    assert_eq!(e.message, "`range` takes 1 to 3 arguments, got 4");
    let e = call("zip", &[json!([])]).unwrap_err();
    assert_eq!(e.message, "`zip` takes at least 2 arguments, got 1");
    assert_eq!(kind("nope", &[]), ErrorKind::TypeError);
}

#[test]
fn len() {
    same(ok("len", &[json!([1, 2, 3])]), json!(3));
    same(ok("len", &[json!("héllo")]), json!(5));
    same(ok("len", &[json!({"a": 1})]), json!(1));
    same(ok("len", &[json!("")]), json!(0));
    for v in [json!(1), json!(null), json!(true)] {
        assert_eq!(kind("len", &[v]), ErrorKind::TypeError);
    }
}

#[test]
fn range() {
    same(ok("range", &[json!(4)]), json!([0, 1, 2, 3]));
    same(ok("range", &[json!(0)]), json!([]));
    same(ok("range", &[json!(-3)]), json!([]));
    same(ok("range", &[json!(2), json!(5)]), json!([2, 3, 4]));
    same(ok("range", &[json!(5), json!(2)]), json!([]));
    same(
        ok("range", &[json!(0), json!(10), json!(3)]),
        json!([0, 3, 6, 9]),
    );
    same(
        ok("range", &[json!(10), json!(0), json!(-3)]),
        json!([10, 7, 4, 1]),
    );
    same(ok("range", &[json!(0), json!(5), json!(-1)]), json!([]));
    same(
        ok("range", &[json!(1e1)]).as_array().unwrap().len().into(),
        json!(10),
    );
    same(
        ok("range", &[json!(i64::MAX - 1), json!(i64::MAX)]),
        json!([i64::MAX - 1]),
    );
    assert_eq!(
        kind("range", &[json!(0), json!(5), json!(0)]),
        ErrorKind::BadValue
    );
    assert_eq!(kind("range", &[json!(2.5)]), ErrorKind::BadValue);
    assert_eq!(kind("range", &[json!("3")]), ErrorKind::TypeError);
    assert_eq!(kind("range", &[json!(null)]), ErrorKind::TypeError);
}

#[test]
fn range_is_capped() {
    assert_eq!(kind("range", &[json!(1e12)]), ErrorKind::BadValue);
    assert_eq!(
        kind("range", &[json!(i64::MIN), json!(i64::MAX)]),
        ErrorKind::BadValue
    );
    assert_eq!(
        kind("range", &[json!(-1e30), json!(1e30), json!(1)]),
        ErrorKind::BadValue
    );
    assert_eq!(
        kind("range", &[json!(0), json!(MAX_LIST_ITEMS + 1)]),
        ErrorKind::BadValue
    );
    let e = call("range", &[json!(1e12)]).unwrap_err();
    assert!(e.message.contains("1000000000000 items"), "{}", e.message);
    // A huge range with a huge step is small.
    same(
        ok("range", &[json!(0), json!(1e15), json!(5e14)]),
        json!([0, 500_000_000_000_000i64]),
    );
}

#[test]
fn keys_and_values() {
    let o = json!({"b": 1, "a": [2]});
    same(ok("keys", std::slice::from_ref(&o)), json!(["b", "a"]));
    same(ok("values", &[o]), json!([1, [2]]));
    same(ok("keys", &[json!({})]), json!([]));
    assert_eq!(kind("keys", &[json!([1])]), ErrorKind::TypeError);
    assert_eq!(kind("values", &[json!("a")]), ErrorKind::TypeError);
}

#[test]
fn split() {
    same(
        ok("split", &[json!("a,b,,c"), json!(",")]),
        json!(["a", "b", "", "c"]),
    );
    same(
        ok("split", &[json!("a--b"), json!("--")]),
        json!(["a", "b"]),
    );
    same(
        ok("split", &[json!("héj"), json!("")]),
        json!(["h", "é", "j"]),
    );
    same(ok("split", &[json!(""), json!(",")]), json!([""]));
    same(ok("split", &[json!(""), json!("")]), json!([]));
    same(ok("split", &[json!("abc"), json!("x")]), json!(["abc"]));
    assert_eq!(kind("split", &[json!(1), json!(",")]), ErrorKind::TypeError);
    assert_eq!(
        kind("split", &[json!("a"), json!(null)]),
        ErrorKind::TypeError
    );
}

#[test]
fn join() {
    same(ok("join", &[json!(["a", "b"])]), json!("ab"));
    same(
        ok("join", &[json!(["a", 1, null, [2]]), json!(", ")]),
        json!("a, 1, null, [2]"),
    );
    same(ok("join", &[json!([]), json!(",")]), json!(""));
    same(ok("join", &[json!(["x"]), json!(",")]), json!("x"));
    assert_eq!(kind("join", &[json!("ab")]), ErrorKind::TypeError);
    assert_eq!(
        kind("join", &[json!(["a"]), json!(1)]),
        ErrorKind::TypeError
    );
}

#[test]
fn join_is_capped() {
    let sep = Value::String("x".repeat(1 << 20));
    let items = Value::Array(vec![json!(1); 1000]);
    assert_eq!(kind("join", &[items, sep]), ErrorKind::BadValue);
}

#[test]
fn case_and_trim() {
    same(ok("upper", &[json!("héllo")]), json!("HÉLLO"));
    same(ok("lower", &[json!("ÀB")]), json!("àb"));
    same(ok("trim", &[json!("  a b \n\t")]), json!("a b"));
    for f in ["upper", "lower", "trim"] {
        assert_eq!(kind(f, &[json!(1)]), ErrorKind::TypeError);
    }
}

#[test]
fn contains() {
    let yes = |h: Value, n: Value| assert_eq!(ok("contains", &[h, n]), json!(true));
    let no = |h: Value, n: Value| assert_eq!(ok("contains", &[h, n]), json!(false));
    yes(json!("hello"), json!("ell"));
    yes(json!("hello"), json!(""));
    no(json!("hello"), json!("xyz"));
    yes(json!([1, [2, 3], {"a": 1}]), json!([2.0, 3]));
    yes(json!([1, [2, 3], {"a": 1}]), json!({"a": 1.0}));
    yes(json!([null]), json!(null));
    no(json!([1, 2]), json!("1"));
    no(json!([]), json!(1));
    yes(json!({"a": 1}), json!("a"));
    no(json!({"a": 1}), json!("b"));
    assert_eq!(
        kind("contains", &[json!("1"), json!(1)]),
        ErrorKind::TypeError
    );
    assert_eq!(
        kind("contains", &[json!({}), json!(1)]),
        ErrorKind::TypeError
    );
    assert_eq!(
        kind("contains", &[json!(1), json!(1)]),
        ErrorKind::TypeError
    );
    assert_eq!(
        kind("contains", &[json!(null), json!(1)]),
        ErrorKind::TypeError
    );
}

#[test]
fn json_parses() {
    same(
        ok("json", &[json!(r#"{"a": [1, 2.5, "x"]}"#)]),
        json!({"a": [1, 2.5, "x"]}),
    );
    same(ok("json", &[json!(" 3 ")]), json!(3));
    same(ok("json", &[json!("null")]), json!(null));
    let e = call("json", &[json!("{\"a\": }")]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadValue);
    assert!(e.message.contains("line 1 column 7"), "{}", e.message);
    assert_eq!(kind("json", &[json!("")]), ErrorKind::BadValue);
    assert_eq!(kind("json", &[json!("1e400")]), ErrorKind::BadValue);
    assert_eq!(kind("json", &[json!("[1] x")]), ErrorKind::BadValue);
    assert_eq!(
        kind("json", &[json!("[".repeat(10_000))]),
        ErrorKind::BadValue
    );
    assert_eq!(kind("json", &[json!(1)]), ErrorKind::TypeError);
}

#[test]
fn str_is_to_text() {
    same(ok("str", &[json!("a")]), json!("a"));
    same(ok("str", &[json!(3)]), json!("3"));
    same(ok("str", &[json!(2.5)]), json!("2.5"));
    same(ok("str", &[json!(null)]), json!("null"));
    same(ok("str", &[json!({"a": [true]})]), json!(r#"{"a":[true]}"#));
}

#[test]
fn int() {
    same(ok("int", &[json!(3)]), json!(3));
    same(ok("int", &[json!(3.9)]), json!(3));
    same(ok("int", &[json!(-3.9)]), json!(-3));
    same(ok("int", &[json!(u64::MAX)]), json!(u64::MAX));
    same(
        ok("int", &[json!(1e18)]),
        json!(1_000_000_000_000_000_000i64),
    );
    same(ok("int", &[json!(" 42\n")]), json!(42));
    same(ok("int", &[json!("-7")]), json!(-7));
    same(ok("int", &[json!("+7")]), json!(7));
    same(ok("int", &[json!("2.5")]), json!(2));
    same(ok("int", &[json!("1e3")]), json!(1000));
    same(ok("int", &[json!("18446744073709551615")]), json!(u64::MAX));
    for bad in [
        "",
        "abc",
        "1a",
        "inf",
        "NaN",
        "infinity",
        "1e400",
        "99999999999999999999999",
    ] {
        assert_eq!(kind("int", &[json!(bad)]), ErrorKind::BadValue, "{bad:?}");
    }
    assert_eq!(kind("int", &[json!(1e30)]), ErrorKind::BadValue);
    for v in [json!(true), json!(null), json!([1])] {
        assert_eq!(kind("int", &[v]), ErrorKind::TypeError);
    }
}

#[test]
fn float() {
    same(ok("float", &[json!(3)]), json!(3.0));
    same(ok("float", &[json!(2.5)]), json!(2.5));
    same(ok("float", &[json!(" 2.5 ")]), json!(2.5));
    same(ok("float", &[json!("-1e3")]), json!(-1000.0));
    same(ok("float", &[json!("7")]), json!(7.0));
    for bad in ["", "x", "inf", "-inf", "NaN", "1e999"] {
        assert_eq!(kind("float", &[json!(bad)]), ErrorKind::BadValue, "{bad:?}");
    }
    assert_eq!(kind("float", &[json!(false)]), ErrorKind::TypeError);
}

#[test]
fn sum() {
    same(ok("sum", &[json!([1, 2, 3])]), json!(6));
    same(ok("sum", &[json!([])]), json!(0));
    same(ok("sum", &[json!([1, 2.5])]), json!(3.5));
    same(ok("sum", &[json!([0.5, 0.5])]), json!(1.0));
    same(
        ok("sum", &[json!([i64::MAX, i64::MAX])]),
        json!(18_446_744_073_709_551_614u64),
    );
    same(
        ok("sum", &[json!([u64::MAX, u64::MAX, -1])]),
        json!(36_893_488_147_419_103_229.0),
    );
    same(ok("sum", &[json!([i64::MAX, 1, -1])]), json!(i64::MAX));
    assert_eq!(kind("sum", &[json!([1e308, 1e308])]), ErrorKind::BadValue);
    let e = call("sum", &[json!([1, "2"])]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TypeError);
    assert!(e.message.contains("item 1"), "{}", e.message);
    assert_eq!(kind("sum", &[json!(3)]), ErrorKind::TypeError);
}

#[test]
fn min_and_max() {
    same(ok("min", &[json!([3, 1, 2])]), json!(1));
    same(ok("max", &[json!([3, 1, 2])]), json!(3));
    same(ok("min", &[json!(3), json!(1.5), json!(2)]), json!(1.5));
    same(ok("max", &[json!(2), json!(2.0)]), json!(2));
    same(ok("max", &[json!(["pear", "apple"])]), json!("pear"));
    same(ok("min", &[json!("b"), json!("a")]), json!("a"));
    same(ok("min", &[json!([7])]), json!(7));
    // Several lists are arguments compared with each other: an error.
    assert_eq!(kind("min", &[json!([1]), json!([2])]), ErrorKind::TypeError);
    assert_eq!(kind("min", &[json!([])]), ErrorKind::BadValue);
    assert_eq!(kind("max", &[json!(5)]), ErrorKind::TypeError);
    assert_eq!(kind("max", &[json!([1, "a"])]), ErrorKind::TypeError);
    assert_eq!(kind("max", &[json!(["a", 1])]), ErrorKind::TypeError);
    assert_eq!(kind("min", &[json!([null])]), ErrorKind::TypeError);
    assert_eq!(kind("min", &[json!([true, false])]), ErrorKind::TypeError);
}

#[test]
fn flatten() {
    same(
        ok("flatten", &[json!([[1, 2], [], [3, [4]]])]),
        json!([1, 2, 3, [4]]),
    );
    same(ok("flatten", &[json!([1, [2], "x"])]), json!([1, 2, "x"]));
    same(ok("flatten", &[json!([])]), json!([]));
    assert_eq!(kind("flatten", &[json!({"a": [1]})]), ErrorKind::TypeError);
}

#[test]
fn flatten_is_capped() {
    let inner = Value::Array(vec![Value::Null; 4_000_000]);
    let outer = Value::Array(vec![inner.clone(), inner.clone(), inner]);
    assert_eq!(kind("flatten", &[outer]), ErrorKind::BadValue);
}

#[test]
fn zip() {
    same(
        ok("zip", &[json!([1, 2, 3]), json!(["a", "b"])]),
        json!([[1, "a"], [2, "b"]]),
    );
    same(
        ok("zip", &[json!([1]), json!([2]), json!([3, 4])]),
        json!([[1, 2, 3]]),
    );
    same(ok("zip", &[json!([]), json!([1])]), json!([]));
    let e = call("zip", &[json!([1]), json!("ab")]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TypeError);
    assert!(e.message.contains("argument 2"), "{}", e.message);
}

#[test]
fn chunk() {
    same(
        ok("chunk", &[json!([1, 2, 3, 4, 5]), json!(2)]),
        json!([[1, 2], [3, 4], [5]]),
    );
    same(ok("chunk", &[json!([1, 2]), json!(5)]), json!([[1, 2]]));
    same(ok("chunk", &[json!([1, 2]), json!(1e30)]), json!([[1, 2]]));
    same(ok("chunk", &[json!([]), json!(3)]), json!([]));
    same(ok("chunk", &[json!([1, 2]), json!(1.0)]), json!([[1], [2]]));
    assert_eq!(kind("chunk", &[json!([1]), json!(0)]), ErrorKind::BadValue);
    assert_eq!(kind("chunk", &[json!([1]), json!(-1)]), ErrorKind::BadValue);
    assert_eq!(
        kind("chunk", &[json!([1]), json!(1.5)]),
        ErrorKind::BadValue
    );
    assert_eq!(
        kind("chunk", &[json!([1]), json!("2")]),
        ErrorKind::TypeError
    );
    assert_eq!(
        kind("chunk", &[json!("ab"), json!(1)]),
        ErrorKind::TypeError
    );
}

#[test]
fn env() {
    // PATH is set wherever tests run; a name with this suffix is not.
    assert!(ok("env", &[json!("PATH")]).is_string());
    let unset = json!("FLOW_TEST_SURELY_UNSET_4F2A9");
    same(ok("env", std::slice::from_ref(&unset)), json!(null));
    same(ok("env", &[unset, json!(3)]), json!(3));
    for bad in ["", "A=B", "A\0B"] {
        assert_eq!(kind("env", &[json!(bad)]), ErrorKind::BadValue, "{bad:?}");
    }
    assert_eq!(kind("env", &[json!(1)]), ErrorKind::TypeError);
}

#[test]
fn split_is_capped_before_allocating() {
    let text = Value::String(",".repeat(MAX_LIST_ITEMS + 1));
    assert_eq!(
        kind("split", &[text.clone(), json!(",")]),
        ErrorKind::BadValue
    );
    assert_eq!(kind("split", &[text, json!("")]), ErrorKind::BadValue);
}
