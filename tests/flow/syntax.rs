//! The parser: snapshots of printed ASTs for `tests/cases/syntax/ok`, of
//! rendered diagnostics for `tests/cases/syntax/err`, span invariants, limits
//! and robustness against arbitrary input.

use std::path::Path;

use flow::ast::{Block, Expr, ExprKind, ModifierKind, Program, Stmt, StmtKind, StrPart};
use flow::diag::{Code, Diagnostic, RenderStyle};
use flow::source::{SourceFile, Span};
use flow::syntax::{needs_more_input, parse};

fn src(text: &str) -> SourceFile {
    SourceFile::new("test.flow", text)
}

fn parse_ok(text: &str) -> Program {
    match parse(&src(text)) {
        Ok(p) => p,
        Err(diags) => {
            let shown: Vec<String> = diags
                .iter()
                .map(|d| d.render(&src(text), RenderStyle::PLAIN))
                .collect();
            panic!("expected {text:?} to parse:\n{}", shown.join("\n"));
        }
    }
}

fn parse_err(text: &str) -> Vec<Diagnostic> {
    match parse(&src(text)) {
        Ok(p) => panic!("expected {text:?} to fail, got:\n{p}"),
        Err(diags) => diags,
    }
}

/// The printed AST of one statement or expression, for compact checks.
fn print(text: &str) -> String {
    parse_ok(text).to_string().trim_end().to_string()
}

// ------------------------------------------------------------ span invariants

struct Spans<'a> {
    len: u32,
    text: &'a str,
}

impl Spans<'_> {
    fn inside(&self, parent: Span, child: Span, what: &str) {
        assert!(
            child.end <= self.len,
            "{what} span {child} outside the source"
        );
        assert!(
            parent.contains(child),
            "{what} span {child} ({:?}) not inside its parent {parent} ({:?})",
            &self.text[child.range()],
            &self.text[parent.range()]
        );
    }

    fn block(&self, parent: Span, block: &Block) {
        self.inside(parent, block.span, "block");
        assert!(
            self.text[block.span.range()].starts_with('{'),
            "block without its brace"
        );
        assert!(
            self.text[block.span.range()].ends_with('}'),
            "block without its brace"
        );
        for stmt in &block.stmts {
            self.stmt(block.span, stmt);
        }
    }

    fn stmt(&self, parent: Span, stmt: &Stmt) {
        self.inside(parent, stmt.span, "statement");
        match &stmt.kind {
            StmtKind::Param { name, default } => {
                self.inside(stmt.span, name.span, "param name");
                self.expr(stmt.span, default);
            }
            StmtKind::Let { name, value } => {
                self.inside(stmt.span, name.span, "let name");
                assert_eq!(&self.text[name.span.range()], name.name);
                self.expr(stmt.span, value);
            }
            StmtKind::Agent(a) => {
                self.inside(stmt.span, a.name.span, "agent name");
                self.inside(stmt.span, a.backend.span, "backend");
                for arg in &a.args {
                    self.inside(stmt.span, arg.span(), "argument");
                    self.expr(stmt.span, &arg.value);
                }
                if let Some(l) = &a.limit {
                    self.expr(stmt.span, l);
                }
            }
            StmtKind::Flow(f) => {
                self.inside(stmt.span, f.name.span, "flow name");
                for p in &f.params {
                    self.inside(stmt.span, p.span, "flow parameter");
                }
                self.block(stmt.span, &f.body);
            }
            StmtKind::Budget(b) => {
                self.inside(stmt.span, b.kind.span, "budget kind");
                self.inside(stmt.span, b.amount, "budget amount");
            }
            StmtKind::Expr(e) => {
                assert_eq!(
                    stmt.span, e.span,
                    "an expression statement is its expression"
                );
                self.expr(stmt.span, e);
            }
            StmtKind::Output(e) => {
                self.inside(stmt.span, e.span, "output value");
                self.expr(stmt.span, e);
            }
        }
    }

    fn expr(&self, parent: Span, e: &Expr) {
        self.inside(parent, e.span, "expression");
        let s = e.span;
        match &e.kind {
            ExprKind::Map(m) => {
                self.block(s, &m.body);
                self.inside(s, m.item.span, "map item");
            }
            ExprKind::If(i) => {
                for (_, b) in &i.arms {
                    self.block(s, b);
                }
                if let Some(b) = &i.otherwise {
                    self.block(s, b);
                }
            }
            ExprKind::Try(t) => {
                self.block(s, &t.body);
                if let Some(b) = &t.otherwise {
                    self.block(s, b);
                }
            }
            ExprKind::Block(b) => {
                assert_eq!(b.span, s);
                self.block(s, b);
            }
            ExprKind::Binary { op_span, .. } | ExprKind::Unary { op_span, .. } => {
                self.inside(s, *op_span, "operator");
            }
            ExprKind::Call(c) => {
                self.inside(s, c.callee.span, "callee");
                assert_eq!(s.start, c.callee.span.start, "a call starts at its callee");
                for m in &c.modifiers {
                    self.inside(s, m.span, "modifier");
                    if let ModifierKind::After(names) = &m.kind {
                        for n in names {
                            self.inside(m.span, n.span, "after name");
                        }
                    }
                }
                if let Some(last) = c.modifiers.last() {
                    assert_eq!(s.end, last.span.end, "a call ends at its last modifier");
                }
            }
            ExprKind::Str(parts) => {
                assert!(
                    !parts
                        .iter()
                        .any(|p| matches!(p, StrPart::Text(t) if t.is_empty())),
                    "empty text part"
                );
                assert!(
                    !parts
                        .windows(2)
                        .any(|w| matches!(w, [StrPart::Text(_), StrPart::Text(_)])),
                    "adjacent text parts"
                );
            }
            _ => {}
        }
        e.for_each_child(&mut |child| self.expr(s, child));
    }
}

fn check_spans(text: &str, program: &Program) {
    assert_eq!(program.span, Span::new(0, text.len()));
    let spans = Spans {
        len: text.len() as u32,
        text,
    };
    for stmt in &program.stmts {
        spans.stmt(program.span, stmt);
    }
}

// ------------------------------------------------------------ the corpus

fn first_line_expectation(text: &str) -> Option<(String, usize, usize)> {
    let line = text.lines().next()?;
    let rest = line.strip_prefix("# expect:")?.trim();
    let (code, at) = rest.split_once('@')?;
    let (l, c) = at.trim().split_once(':')?;
    Some((code.trim().to_string(), l.parse().ok()?, c.parse().ok()?))
}

/// Runs `f` on every `.flow` file of `tests/cases/syntax/{dir}`, in name order.
fn each_case(dir: &str, mut f: impl FnMut(&str, &Path)) {
    let folder = crate::common::case(&format!("syntax/{dir}"));
    let mut paths: Vec<_> = std::fs::read_dir(&folder)
        .expect("the case folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "flow"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no cases in {}", folder.display());
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("case")
            .to_string();
        f(&stem, &path);
    }
}

fn snapshot(name: &str, source: &str, value: &str) {
    insta::with_settings!({ description => source, omit_expression => true }, {
        insta::assert_snapshot!(name.to_string(), value);
    });
}

#[test]
fn ok_cases_snapshot_their_printed_ast() {
    each_case("ok", |stem, path| {
        let text = std::fs::read_to_string(path).expect("read the case");
        let program = parse_ok(&text);
        check_spans(&text, &program);
        let printed = program.to_string();
        // The printed tree parses back to the same tree.
        let again = parse_ok(&printed);
        assert_eq!(again.to_string(), printed, "printing is not a fixed point");
        snapshot(&format!("ok__{stem}"), &text, &printed);
    });
}

#[test]
fn err_cases_snapshot_their_diagnostics() {
    each_case("err", |stem, path| {
        let text = std::fs::read_to_string(path).expect("read the case");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("case");
        let source = SourceFile::new(name, text.as_str());
        let diags = parse_err(&text);
        let (code, line, column) = first_line_expectation(&text)
            .unwrap_or_else(|| panic!("{name}: first line must be `# expect: code @ line:col`"));
        let first = &diags[0];
        assert_eq!(first.code.name(), code, "{name}: wrong code: {first}");
        let span = first.span().expect("a syntax error has a primary label");
        assert_eq!(
            source.line_col(span.start),
            (line, column),
            "{name}: wrong place"
        );
        let rule_names = [
            "_expr",
            "kw_",
            "EOI",
            "sstring",
            "mstring",
            "field_name",
            "plain_var",
            "callee",
            "map_pair",
            "mod_arg",
            "operand",
            "infix",
            "_decl",
            "_stmt",
            "_lit",
        ];
        for d in &diags {
            let mut text = d.message.clone();
            for label in d.primary.iter().chain(&d.labels) {
                text.push_str(&label.message);
            }
            text.push_str(d.help.as_deref().unwrap_or(""));
            assert!(
                !rule_names.iter().any(|r| text.contains(r)),
                "{name}: pest rule name in {text}"
            );
        }
        let rendered: Vec<String> = diags
            .iter()
            .map(|d| d.render(&source, RenderStyle::PLAIN))
            .collect();
        snapshot(&format!("err__{stem}"), &text, &rendered.join("\n"));
    });
}

// ------------------------------------------------------------ focused checks

#[test]
fn precedence_and_associativity() {
    let cases = [
        (
            "a || b && c == d < e + f * -g.h",
            "(a || (b && (c == (d < (e + (f * (-g.h)))))))",
        ),
        ("a - b - c", "((a - b) - c)"),
        ("a / b * c % d", "(((a / b) * c) % d)"),
        ("!a == !b", "((!a) == (!b))"),
        ("-3", "(-3)"),
        ("f(x)[0].y", "f(x)[0].y"),
    ];
    for (text, printed) in cases {
        assert_eq!(print(text), printed, "{text}");
    }
}

#[test]
fn newlines_end_statements_unless_an_expression_is_unfinished() {
    let program = parse_ok("let a = b\n-1");
    assert_eq!(program.stmts.len(), 2);
    assert_eq!(print("let a = b -\n 1"), "let a = (b - 1)");
    assert_eq!(parse_ok("A()\nretry 2").stmts.len(), 1);
    assert_eq!(parse_ok("f(x)\n[1]").stmts.len(), 2);
}

#[test]
fn literal_kinds() {
    let value = |text: &str| match &parse_ok(text).stmts[0].kind {
        StmtKind::Expr(e) => e.kind.clone(),
        other => panic!("not an expression: {other:?}"),
    };
    assert_eq!(value("2.5"), ExprKind::Float(2.5));
    assert_eq!(value("1e3"), ExprKind::Float(1000.0));
    assert_eq!(value("7"), ExprKind::Int(7));
    assert_eq!(value("\"\""), ExprKind::Str(vec![]));
    match value("1.5s") {
        ExprKind::Duration(d) => assert_eq!(d.seconds(), 1.5),
        other => panic!("{other:?}"),
    }
    match value("250ms") {
        ExprKind::Duration(d) => assert!((d.seconds() - 0.25).abs() < 1e-12),
        other => panic!("{other:?}"),
    }
}

#[test]
fn keywords_are_fine_as_keys_and_fields() {
    assert_eq!(print("{ map: 1 }.limit"), "{ \"map\": 1 }.limit");
}

/// A `{` is an object when its first key is followed by `:`, whatever the key
/// holds; the object or block chosen is the one the first key says.
#[test]
fn the_first_key_tells_an_object_from_a_block() {
    let cases = [
        ("{ \"a\": 1 }", "{ a: 1 }"),
        ("{ \"\"\"a\"\"\": 1 }", "{ a: 1 }"),
        ("{ \"a\" # note\n}", "{\n  \"a\"\n}"),
        ("{ a # note\n}", "{\n  a\n}"),
        ("{\n\n  \"a\" : 1, b: 2 }", "{ a: 1, b: 2 }"),
        ("{ \"a\" + \"b\" }", "{\n  (\"a\" + \"b\")\n}"),
        (
            "{ \"x${ {\"y\": \"}\"} }z\" }",
            "{\n  \"x${{ y: \"}\" }}z\"\n}",
        ),
        (
            "{ \"x${ { \"#\" } # }\n }\" }",
            "{\n  \"x${{\n    \"#\"\n  }}\"\n}",
        ),
        ("{ \"\\\"${ 1 }\" }", "{\n  \"\\\"${1}\"\n}"),
    ];
    for (text, printed) in cases {
        assert_eq!(print(text), printed, "{text}");
    }
    // A key with `${…}` is an object's key, which the builder refuses.
    for text in ["{ \"k${i}\": 1 }", "{ \"\"\"k${ {a: \"}\"} }\"\"\" : 1 }"] {
        let diags = parse_err(text);
        assert_eq!(
            diags[0].message, "an object key cannot be interpolated",
            "{text}"
        );
    }
}

/// Strings with `${…}` first in objects and blocks, nested as deep as the
/// scan allows. Pest parsed each such string twice (a lookahead, then the
/// object or block), and each level inside it twice again: 2^31 times the
/// innermost one, so these hit pest's call limit.
#[test]
fn interpolations_first_in_braces_nest_without_blowing_up() {
    let nest = |n: usize, inner: &str, wrap: &dyn Fn(&str) -> String| {
        (0..n).fold(inner.to_string(), |s, _| wrap(&s))
    };
    // Two levels of nesting each (`{` and `${`), four for `mixed`.
    let levels = flow::syntax::MAX_NESTING / 2 - 1;
    let block = |s: &str| format!("{{ \"${{ {s} }}\" }}");
    let long = |s: &str| format!("{{ \"\"\"${{ {s} }}\"\"\" + 1 }}");
    let object = |s: &str| format!("{{ \"${{ {s} }}\": 1 }}");
    let mixed = |s: &str| format!("{{ a: \"${{ {{ \"${{ {s} }}\" }} }}\" }}");
    for (wrap, n, name) in [
        (&block as &dyn Fn(&str) -> String, levels, "block"),
        (&long, levels, "long"),
        (&mixed, levels / 2, "mixed"),
    ] {
        let text = format!("let x = {}", nest(n, "1", wrap));
        assert!(parse(&src(&text)).is_ok(), "{name}");
        let text = format!("let x = {}", nest(n, "1 +", wrap));
        let diags = parse_err(&text);
        assert_eq!(diags[0].code, Code::UnexpectedToken, "{name}: {}", diags[0]);
        assert!(
            diags[0].message.ends_with("an expression, found `}`"),
            "{name}: {}",
            diags[0]
        );
    }
    let text = format!("let x = {}", nest(levels, "1", &object));
    assert_eq!(codes(&text)[0], Code::UnexpectedToken);
    assert_eq!(
        parse_err(&text)[0].message,
        "an object key cannot be interpolated"
    );
    let text = format!("let x = {}", nest(levels, "1 +", &object));
    let message = &parse_err(&text)[0].message;
    assert!(message.ends_with("an expression, found `}`"), "{message}");
}

/// Parses in several threads at once: valid scripts, big ones (parsed in
/// pieces), and syntax errors whose messages need pest's error detail (the
/// tokens it expected), each many times; every parse gets exactly what it
/// gets alone. Pest's settings are process-wide: a parse that changed them
/// would change another's result (the message, or a call limit).
#[test]
fn parses_in_threads_are_those_of_parsing_alone() {
    let mut big = String::new();
    each_case("ok", |_, path| {
        big.push_str(&std::fs::read_to_string(path).expect("read"));
        big.push('\n');
    });
    let small_big = big.clone();
    while big.len() < 260 * 1024 {
        big.push_str(&small_big);
    }
    let mut texts: Vec<String> = vec![
        // Messages that need error detail, and what they say with it.
        "let notes = Writer(\"Summarise\" topic: \"tides\")".into(),
        "let x 1".into(),
        "let cfg = { retries: 3, timeout 30s }".into(),
        "let total = a b".into(),
        "let y = try { noop() } catch { 1 }".into(),
        "let x = 1\nlet y = x timeout 1s".into(),
        "let a = sh(\"echo ${HOME:-none}\")".into(),
        // Valid scripts, and errors found by the builder or the scan.
        "let x = f(a: [1, 2], b: { c: \"${d}\" })\nx.c".into(),
        "map x in xs limit 2 { Fetch(x) timeout 5s retry 2 }".into(),
        "let a = \"\\q\"\nlet b = 5x".into(),
        "let x = (1".into(),
        format!("let x = {}1{}", "[".repeat(40), "]".repeat(40)),
    ];
    let wanted = [
        "expected `)` or `,`, found `topic`",
        "expected `=`, found `1`",
        "expected `:`, found `30s`",
        "expected a new line or `;`, found `b`",
        "Flow has no `catch`",
        "`timeout` can only follow a call",
        "expected `}` to end the Flow value, found `:`",
    ];
    for (text, message) in texts.iter().zip(wanted) {
        assert_eq!(parse_err(text)[0].message, message);
    }
    texts.push(big.clone());
    texts.push(big.clone() + "let broken = = 2\n");
    let sources: Vec<SourceFile> = texts.iter().map(|t| src(t)).collect();
    let alone: Vec<_> = sources.iter().map(parse).collect();
    assert!(alone[alone.len() - 2].is_ok() && alone[alone.len() - 1].is_err());

    let threads = 4;
    let rounds = 200;
    let small = sources.len() - 2;
    let start = std::sync::Barrier::new(threads);
    let differ: Vec<(usize, usize, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (sources, alone, start) = (&sources, &alone, &start);
                scope.spawn(move || {
                    let mut differ = Vec::new();
                    for round in 0..rounds {
                        start.wait();
                        // The big ones (slow in a debug build) in the first
                        // round, one each in threads 0 and 1, among the
                        // small ones of every thread.
                        if round == 0 && t < 2 {
                            let i = small + t;
                            if parse(&sources[i]) != alone[i] {
                                differ.push((t, round, i));
                            }
                        }
                        for k in 0..small {
                            // Each thread in its own order.
                            let j = (k + 3 * t + round) % small;
                            let i = if t % 2 == 0 { j } else { small - 1 - j };
                            if parse(&sources[i]) != alone[i] {
                                differ.push((t, round, i));
                            }
                        }
                    }
                    differ
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a thread"))
            .collect()
    });
    assert!(
        differ.is_empty(),
        "(thread, round, script) differing: {differ:?}"
    );
}

#[test]
fn needs_more_input_follows_open_delimiters_and_strings() {
    for open in [
        "let x = [1,",
        "f(",
        "map x in xs {",
        "\"abc",
        "\"\"\"\nline",
        "\"${a",
        "flow f() {\n  # a } in a comment\n",
        "let s = \"}\" + {",
        "r\"\"\"\n\"\"",
    ] {
        assert!(needs_more_input(open), "{open:?} should need more");
    }
    for done in [
        "let x = 1",
        "",
        "f()",
        "\"a\" # [",
        "let x = ]",
        "\"abc\n",
        "(]",
        "\"\"\"a\"\"\"",
        "r\"\\\" # ${ [",
    ] {
        assert!(!needs_more_input(done), "{done:?} should be complete");
    }
}

fn codes(text: &str) -> Vec<Code> {
    parse_err(text).iter().map(|d| d.code).collect()
}

/// Runs `f` on a thread with the 2 MiB stack tests get by default.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic");
}

#[test]
fn ten_thousand_nested_brackets_are_too_deep() {
    on_small_stack(|| {
        for (open, close) in [("[", "]"), ("(", ")"), ("{", "}"), ("\"${", "}\"")] {
            let text = format!("let x = {}1{}", open.repeat(10_000), close.repeat(10_000));
            assert_eq!(codes(&text), vec![Code::TooDeep], "{open}");
            let unclosed = format!("let x = {}", open.repeat(10_000));
            assert_eq!(codes(&unclosed), vec![Code::TooDeep], "{open}");
        }
    });
}

#[test]
fn the_deepest_allowed_nesting_parses_on_a_small_stack() {
    on_small_stack(|| {
        let depth = flow::syntax::MAX_NESTING;
        let list = format!("let x = {}1{}", "[".repeat(depth), "]".repeat(depth));
        parse_ok(&list);
        let parens = format!("let x = {}1{}", "(".repeat(depth), ")".repeat(depth));
        parse_ok(&parens);
        let interp = format!("let x = {}1{}", "\"${".repeat(depth), "}\"".repeat(depth));
        parse_ok(&interp);
        // Every kind of bracket and construct, alternating.
        let mut mixed = String::from("let x = ");
        let mut close = String::new();
        for i in 0..depth / 4 {
            mixed.push_str(&format!("f(a: [{{ k: if c{i} {{ "));
            close.insert_str(0, " } }])");
        }
        parse_ok(&format!("{mixed}1{close}"));
        let mut maps = String::new();
        for i in 0..depth {
            maps.push_str(&format!("map x{i} in xs {{\n"));
        }
        maps.push_str(&"}\n".repeat(depth));
        parse_ok(&maps);
        let calls = format!("let x = {}1{}", "f(a: ".repeat(depth), ")".repeat(depth));
        parse_ok(&calls);
        // `map`s and `if`s waiting for their block count as levels too: here
        // each unit is two levels, the construct and its `(`.
        let chain = |n: usize| {
            let heads: String = (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        "map x in ("
                    } else {
                        "if c && ("
                    }
                })
                .collect();
            let tails: String = (0..n)
                .rev()
                .map(|i| if i % 2 == 0 { ") { x }" } else { ") { 1 }" })
                .collect();
            format!("let x = {heads}xs{tails}")
        };
        parse_ok(&chain(depth / 2));
        let diags = flow::syntax::parse(&src(&chain(depth / 2 + 1))).expect_err("too deep");
        assert_eq!(diags[0].code, Code::TooDeep);
        assert!(diags[0].message.contains("`if`s"), "{}", diags[0].message);
        // Keywords as fields, keys and argument names are not constructs.
        let fields =
            "let x = {}\n".to_string() + &"let y = f(map: x.map, if: x.if)\n".repeat(depth * 2);
        parse_ok(&fields);
        let too_deep = format!(
            "let x = {}1{}",
            "[".repeat(depth + 1),
            "]".repeat(depth + 1)
        );
        assert_eq!(codes(&too_deep), vec![Code::TooDeep]);
    });
}

#[test]
fn long_chains_are_too_deep_not_a_crash() {
    on_small_stack(|| {
        let n = 100_000;
        let sum = format!("let x = 1{}", "+1".repeat(n));
        assert_eq!(codes(&sum), vec![Code::TooDeep]);
        let nots = format!("let x = {}x", "!".repeat(n));
        assert_eq!(codes(&nots), vec![Code::TooDeep]);
        let negs = format!("let x = {}x", "- ".repeat(n));
        assert_eq!(codes(&negs), vec![Code::TooDeep]);
        let fields = format!("let x = a{}", ".b".repeat(n));
        assert_eq!(codes(&fields), vec![Code::TooDeep]);
        let index = format!("let x = a{}", "[0]".repeat(n));
        assert_eq!(codes(&index), vec![Code::TooDeep]);
        let maps = format!("{}xs {}", "map x in ".repeat(n), "{ x }".repeat(n));
        assert_eq!(codes(&maps), vec![Code::TooDeep]);
        let ifs = format!("{}c {}", "if ".repeat(n), "{ x }".repeat(n));
        assert_eq!(codes(&ifs), vec![Code::TooDeep]);
        // Chains without brackets, just over the height the builder allows.
        for n in [100, 126, 127, 128, 129, 200, 300, 1000] {
            let maps = format!("{}xs {}", "map x in ".repeat(n), "{ x }".repeat(n));
            let ifs = format!("{}c {}", "if ".repeat(n), "{ x }".repeat(n));
            let nots = format!("let x = {}x", "!".repeat(n));
            for text in [maps, ifs, nots] {
                if let Err(diags) = parse(&src(&text)) {
                    assert!(matches!(diags[0].code, Code::TooDeep | Code::TooComplex));
                }
            }
        }
        // Long but shallow: fine.
        let stmts = "let a = 1 + 2\n".repeat(n / 10);
        parse_ok(&stmts);
    });
}

#[test]
fn too_large_scripts_are_refused_before_parsing() {
    let text = " ".repeat(flow::source::MAX_SOURCE_BYTES + 1);
    assert_eq!(codes(&text), vec![Code::TooLarge]);
}

#[test]
fn independent_literal_errors_are_all_reported() {
    let diags =
        parse_err("let a = \"\\q\"\nlet b = 5x\nlet c = 99999999999999999999\nlet map = \"\\w\"");
    let found: Vec<Code> = diags.iter().map(|d| d.code).collect();
    assert_eq!(
        found,
        vec![
            Code::BadEscape,
            Code::BadDuration,
            Code::BadNumber,
            Code::KeywordAsName,
            Code::BadEscape
        ]
    );
}

// ------------------------------------------------------------ robustness

/// A tiny deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn prefixes_and_mutations_never_panic() {
    let mut texts = Vec::new();
    each_case("ok", |_, path| {
        texts.push(std::fs::read_to_string(path).expect("read"));
    });
    // The prefixes and the mutations at once, each on a small stack.
    let prefixes = {
        let texts = texts.clone();
        small_stack_thread(move || prefixes_never_panic(&texts))
    };
    on_small_stack(move || mutations_never_panic(&texts));
    prefixes.join().expect("no panic");
}

fn small_stack_thread(f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn")
}

fn prefixes_never_panic(texts: &[String]) {
    for text in texts {
        for (i, _) in text.char_indices() {
            let source = src(&text[..i]);
            if let Err(diags) = parse(&source) {
                for d in diags {
                    let span = d.span().expect("a primary label");
                    assert!(span.end as usize <= i, "label outside the text: {d}");
                    d.render(&source, RenderStyle::PLAIN);
                }
            }
            needs_more_input(&text[..i]);
        }
    }
}

fn mutations_never_panic(texts: &[String]) {
    let alphabet: &[u8] = b"(){}[]\"$\\#\n;:,.=+-*/%!<>&|abr09_ \t\r";
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    for round in 0..3000 {
        let base = texts[round % texts.len()].as_bytes();
        let mut bytes = base.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[at] = alphabet[rng.below(alphabet.len())],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, alphabet[rng.below(alphabet.len())]),
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let source = src(&text);
        match parse(&source) {
            Ok(program) => check_spans(&text, &program),
            Err(diags) => {
                for d in diags {
                    d.render(&source, RenderStyle::PLAIN);
                }
            }
        }
    }
}

/// Spans end at the last token, never on the comments and blanks after it,
/// also with CRLF line ends and a `#` inside a string.
#[test]
fn spans_leave_out_trailing_comments() {
    for text in [
        "let x = f(\"a # b\") # note\nx",
        "let x = f(\"a # b\")   # note\r\nx",
        "let x = f(\"a # b\") retry 2 # note # more\r\nx",
        "let x = f(\"a # b\") retry 2\t\nx",
    ] {
        let program = parse_ok(text);
        let first = &program.stmts[0];
        let line = text.lines().next().expect("a line");
        let end = line.rfind([')', '2']).expect("a last token") + 1;
        assert_eq!(first.span.end as usize, end, "{text:?}");
        let StmtKind::Let { value, .. } = &first.kind else {
            panic!("a let")
        };
        assert_eq!(value.span.end as usize, end, "{text:?}");
    }
}

/// A diagnostic on a line too long to show (a generated script) gives the
/// position in a note instead of printing the whole line.
#[test]
fn long_lines_are_not_printed_under_a_diagnostic() {
    let text = format!("let x = 1{}\n", "+1".repeat(100_000));
    let source = src(&text);
    let diags = parse(&source).expect_err("too deep");
    let rendered = diags[0].render(&source, RenderStyle::PLAIN);
    assert!(rendered.len() < 1000, "{} bytes", rendered.len());
    assert!(rendered.contains(":1:9:"), "{rendered}");
    // A short line is shown as usual.
    let diags = parse(&src("let x = = 1\n")).expect_err("a syntax error");
    let rendered = diags[0].render(&src("let x = = 1\n"), RenderStyle::PLAIN);
    assert!(rendered.contains("let x = = 1"), "{rendered}");
}
