//! Raw strings, `r"…"` and `r"""…"""`: every character between the quotes is
//! itself (no escapes, no `${…}`), as values, keys, `sh` commands, inside the
//! `${…}` of other strings, and in the scan that runs before the parser.

use serde_json::json;

use crate::common::{self, result};
use flow::diag::{Code, Diagnostic, RenderStyle};
use flow::source::SourceFile;
use flow::syntax::{needs_more_input, parse};

fn parse_err(text: &str) -> Vec<Diagnostic> {
    match parse(&SourceFile::new("test.flow", text)) {
        Ok(p) => panic!("expected {text:?} to fail, got:\n{p}"),
        Err(diags) => diags,
    }
}

fn rendered(text: &str) -> String {
    let source = SourceFile::new("test.flow", text);
    parse_err(text)
        .iter()
        .map(|d| d.render(&source, RenderStyle::PLAIN))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn backslashes_and_interpolation_marks_are_plain_text() {
    let v = result(
        r#"let regex = r"^\d+\.\d+$"
let dollars = r"costs ${price} and \${x} \n\t\u{41}"
let path = r"C:\Users\x"
let trailing = r"C:\"
let empty = r""
{ regex: regex, dollars: dollars, path: path, trailing: trailing, empty: empty }"#,
    );
    assert_eq!(
        v,
        json!({
            "regex": "^\\d+\\.\\d+$",
            "dollars": "costs ${price} and \\${x} \\n\\t\\u{41}",
            "path": "C:\\Users\\x",
            "trailing": "C:\\",
            "empty": "",
        })
    );
}

#[test]
fn multi_line_raw_strings_hold_quotes_and_are_dedented_like_triple_quoted_ones() {
    let v = result(
        "let raw = r\"\"\"\n    say \"hi\" and \"\"twice\"\"\n      \\d{2} ${x} # not a comment\n    \"\"\"\n\
         let cooked = \"\"\"\n    say \"hi\" and \"\"twice\"\"\n      \\\\d{2} \\${x} # not a comment\n    \"\"\"\n\
         let inline = r\"\"\"a \"quoted\" word\"\"\"\n\
         let empty = r\"\"\"\"\"\"\n\
         [raw, cooked, inline, empty]",
    );
    let expected = "say \"hi\" and \"\"twice\"\"\n  \\d{2} ${x} # not a comment";
    assert_eq!(v, json!([expected, expected, "a \"quoted\" word", ""]));
}

/// A multi-line raw string ends at its first `"""`.
#[test]
fn a_multi_line_raw_string_ends_at_the_first_triple_quote() {
    let v = result("let a = r\"\"\"x\"\"\" + \"\"\"y\"\"\"\na");
    assert_eq!(v, json!("xy"));
}

#[test]
fn raw_strings_inside_interpolations_are_skimmed_whole() {
    let v = result(
        r#"flow id(x) { x }
let a = "<${ id(r"}") }>"
let b = "<${ id(r"\") }>"
let c = """<${ id(r"""a "}" b""") }>"""
let d = { "k": "${ id(r"{") }" }
let e = { x: "${ { r"}": r"${" }[r"}"] }" }
let f = { "${ id(r"}") }" }
let g = { "${ id(r"""}"}""") }" + "" }
let h = { "${ id(r"\") }" }
[a, b, c, d, e, f, g, h]"#,
    );
    assert_eq!(
        v,
        json!([
            "<}>",
            "<\\>",
            "<a \"}\" b>",
            {"k": "{"},
            {"x": "${"},
            "}",
            "}\"}",
            "\\"
        ])
    );
    // A key with `${…}` is refused, whatever its raw strings hold.
    let diags = parse_err("let o = { \"${ r\"}\" }\": 1 }\n");
    assert_eq!(diags[0].message, "an object key cannot be interpolated");
}

#[test]
fn raw_strings_are_object_keys_and_blocks_tell_them_apart() {
    let v = result(
        r#"let o = { r"a\b": 1, r"""c"d""": 2 }
let block = { r"\" }
let lookup = o[r"a\b"]
[o, block, lookup]"#,
    );
    assert_eq!(v, json!([{"a\\b": 1, "c\"d": 2}, "\\", 1]));
}

#[test]
fn r_is_still_a_name_and_a_callee() {
    let v = result("let r = 1; r + 1");
    assert_eq!(v, json!(2));
    let v = result(
        r#"let r = "x"
let o = { r: r }
[r, o.r, o[r"r"]]"#,
    );
    assert_eq!(v, json!(["x", "x", "x"]));
    let v = result(
        r#"flow r(x) { x + "!" }
let a = r("x")
let b = r(r"\")
[a, b]"#,
    );
    assert_eq!(v, json!(["x!", "\\!"]));
}

#[test]
fn a_raw_string_prints_back_as_an_escaped_string() {
    let text = "let a = r\"C:\\x ${y}\"\nlet b = r\"\"\"\n  \"q\"\n  \"\"\"\n";
    let program = parse(&SourceFile::new("test.flow", text)).expect("parses");
    let printed = program.to_string();
    assert_eq!(
        printed,
        "let a = \"C:\\\\x \\${y}\"\nlet b = \"\\\"q\\\"\"\n"
    );
    let again = parse(&SourceFile::new("again.flow", printed.as_str())).expect("parses");
    assert_eq!(again.to_string(), printed);
}

/// `grep -E` gets the regex as written: `\.` a literal dot, `$` the end of
/// the line, `{2}` a count, none of them touched by Flow.
#[test]
fn a_raw_regex_reaches_grep_through_sh() {
    let dir = common::scratch("raw-grep");
    std::fs::write(
        dir.join("files.txt"),
        "ab12.log\nabc.log\nab12xlog\nAB12.log\nab123.log\nzz99.log.bak\nq7.log\n",
    )
    .expect("write the data");
    std::fs::write(
        dir.join("grep.flow"),
        "sh(r\"grep -E '^[a-z]+[0-9]{2}\\.log$' files.txt\", output: \"lines\")\n",
    )
    .expect("write the script");
    let out = common::flow_command()
        .current_dir(&dir)
        .args(["run", "-q", "grep.flow"])
        .output()
        .expect("flow runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(lines, json!(["ab12.log"]));
}

/// A raw `sh` command goes to the shell as written: its `${…}` and `\` are
/// the shell's.
#[test]
fn a_raw_sh_command_is_the_shells_text() {
    let v = result(
        r#"let name = sh(r"x=flow; printf '%s\n' ${x}\ rocks")
let script = sh(r"""
    v='a\tb'
    printf '%s|%s' "${v}" "$(printf 'c\\d')"
    """)
[name, script]"#,
    );
    assert_eq!(v, json!(["flow rocks", "a\\tb|c\\d"]));
}

#[test]
fn unterminated_raw_strings_say_where_they_open() {
    let diags = parse_err("let a = 1\nlet p = r\"C:\\x\nlet b = 2\n");
    assert_eq!(diags[0].code, Code::UnterminatedString);
    assert_eq!(diags[0].message, "unterminated raw string");
    assert_eq!(diags[0].span().map(|s| (s.start, s.end)), Some((18, 20)));
    let help = diags[0].help.as_deref().unwrap_or("");
    assert!(help.contains("r\"\"\"…\"\"\""), "{help}");

    let diags = parse_err("let p = r\"\"\"\n  a \"\"\n");
    assert_eq!(diags[0].message, "unterminated raw string");
    assert_eq!(diags[0].span().map(|s| (s.start, s.end)), Some((8, 12)));
    assert_eq!(diags[0].help.as_deref(), Some("close it with `\"\"\"`"));
}

/// `\"` does not escape a quote in a raw string: the error says the raw
/// string ended there.
#[test]
fn a_backslash_quote_in_a_raw_string_is_explained() {
    for text in [
        "let x = f(r\"a\\\"b\")\n",
        "let x = f(r\"grep -E \\\"a|b\\\" file\")\n",
    ] {
        let shown = rendered(text);
        assert!(
            shown.contains("this quote ends the raw string"),
            "{text}:\n{shown}"
        );
        assert!(
            shown.contains("a raw string ends at its first `\"`"),
            "{shown}"
        );
    }
}

#[test]
fn the_scan_reads_raw_strings_whole() {
    for text in [
        // A backslash before the closing quote, then a comment.
        "let p = r\"C:\\\" # a ( comment\np",
        // Brackets, `#` and `${` in raw strings are text.
        "let p = [r\"(]}{\", r\"# ${\", r\"\"\"\n)]\n  \"${\"\n\"\"\"]\np",
    ] {
        assert!(
            parse(&SourceFile::new("test.flow", text)).is_ok(),
            "{text:?}: {}",
            rendered(text)
        );
        assert!(!needs_more_input(text), "{text:?}");
    }
    for open in ["r\"\"\"\nline", "let x = r\"\"\"a\"\"", "r\"abc"] {
        assert!(needs_more_input(open), "{open:?} should need more");
    }
}
