//! No panic on any input: parse, check, lower, lint and the rendering of every
//! diagnostic, over the scripts that once broke them (`tests/cases/fuzz/`)
//! and over scripts proptest builds from grammar fragments, multi-byte text,
//! tabs, CRLF, very long lines and truncated examples.
//!
//! `PROPTEST_CASES` sets how many scripts the property test tries (default
//! [`CASES`]); docs/reliability.md has the command for a longer run.

use std::path::PathBuf;

use flow::cli::repl::{EntryOutcome, RunControl, Session, SessionOptions};
use flow::diag::{Diagnostic, RenderStyle};
use flow::graph::Prelude;
use flow::lint::{self, Levels};
use flow::source::SourceFile;
use flow::{Engine, Severity};
use proptest::prelude::*;
use proptest::sample::{select, Index};

use crate::common::{at_once, case, root};

/// Scripts tried by one `cargo test` (about 4 s in a debug build).
const CASES: u32 = 1500;

/// Runs `text` through every stage `flow check` runs, renders every
/// diagnostic as text (plain and coloured, wide and narrow) and as JSON, and
/// returns them. Whatever the text, their spans lie inside it, on character
/// boundaries.
fn every_stage(text: &str) -> Vec<Diagnostic> {
    let source = SourceFile::new("fuzz.flow", text);
    flow::syntax::needs_more_input(text);
    let engine = Engine::new();
    let levels = Levels::default();
    let (diagnostics, script) =
        lint::check_source(&engine, &source, &lint::Config::default(), &levels);
    if script.is_none() {
        if let Ok(program) = flow::syntax::parse(&source) {
            // The lowering copes with any parsed program, checked or not.
            let _ = flow::graph::lower(&program, &Prelude::default());
            let _ = program.to_string();
        }
    }
    let narrow = RenderStyle {
        color: true,
        width: 20,
    };
    for d in &diagnostics {
        for span in d.primary.iter().chain(&d.labels).map(|l| l.span) {
            let (start, end) = (span.start as usize, span.end as usize);
            assert!(
                start <= end && end <= text.len(),
                "{d}: span {span} outside the text of {} bytes",
                text.len()
            );
            assert!(
                text.is_char_boundary(start) && text.is_char_boundary(end),
                "{d}: span {span} cuts a character"
            );
        }
        d.render(&source, RenderStyle::PLAIN);
        d.render(&source, narrow);
        d.to_json(&source);
    }
    diagnostics
}

/// The scripts that once panicked, by name.
fn corpus() -> Vec<(String, String)> {
    let dir = case("fuzz");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/cases/fuzz")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "flow"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("a UTF-8 script"))
        })
        .collect()
}

#[test]
fn every_stage_reports_the_corpus_with_diagnostics() {
    for (name, text) in corpus() {
        let diags = std::panic::catch_unwind(|| every_stage(&text))
            .unwrap_or_else(|_| panic!("{name} panicked"));
        assert!(
            diags.iter().any(|d| d.severity == Severity::Error),
            "{name}: no error reported"
        );
    }
}

/// What `flow` printed and how it exited.
fn flow_with(args: &[&str], stdin: &str) -> (i32, String) {
    let out = crate::common::flow_with_input(args, stdin);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_binary_reports_the_corpus_and_never_panics() {
    for (name, text) in corpus() {
        let path = case("fuzz").join(&name);
        let path = path.to_str().expect("a UTF-8 path");
        // An error: `flow check` and `flow run` exit 3 with its code.
        for command in ["check", "run"] {
            let (code, out) = flow_with(&[command, path], "");
            assert_eq!(code, 3, "flow {command} {name}:\n{out}");
            assert!(out.contains("flow::"), "flow {command} {name}:\n{out}");
        }
        // In the REPL, piped line by line and loaded as one entry: a failed
        // entry (exit 1), never a dead session.
        for input in [text.clone(), format!(":load {path}\n")] {
            let (code, out) = flow_with(&["repl", "--quiet"], &input);
            assert_eq!(code, 1, "flow repl < {input:?}:\n{out}");
            assert!(!out.contains("panicked"), "flow repl < {input:?}:\n{out}");
        }
    }
}

#[tokio::test]
async fn a_repl_session_survives_the_corpus_as_entries() {
    let mut session = Session::new(Engine::new(), SessionOptions::default());
    let ctl = RunControl::default();
    for (name, text) in corpus() {
        match session.eval_entry(&name, &text, &ctl).await {
            EntryOutcome::Failed(problems) => {
                for p in problems {
                    p.diagnostic.render(&p.source, RenderStyle::PLAIN);
                }
            }
            other => panic!("{name}: expected a failed entry, got {other:?}"),
        }
        // Line by line too: a `# flow:` comment alone waits for the next entry.
        for line in text.lines() {
            let _ = session.eval_entry(&name, line, &ctl).await;
        }
    }
    match session.eval_entry("last", "1 + 1", &ctl).await {
        EntryOutcome::Done { value, .. } => {
            assert_eq!(value.as_deref(), Some(&serde_json::json!(2)))
        }
        other => panic!("the session is broken: {other:?}"),
    }
}

// ------------------------------------------------------------ the property

/// Pieces of Flow and of what people paste into it.
const FRAGMENTS: &[&str] = &[
    // keywords and names
    "agent",
    "param",
    "flow",
    "let",
    "map",
    "in",
    "limit",
    "fanout",
    "gate",
    "where",
    "if",
    "else",
    "try",
    "retry",
    "backoff",
    "timeout",
    "after",
    "true",
    "false",
    "null",
    "repeat",
    "until",
    "max",
    "match",
    "=>",
    "_",
    "|",
    "reduce",
    "fold",
    "from",
    "filter",
    "error",
    "x",
    "items",
    "Fetch",
    "sh",
    "echo",
    "llm",
    "http",
    "len",
    "range",
    "env",
    "é",
    "naïve",
    "日本",
    "_a1",
    // punctuation and operators
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    ";",
    "=",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "&&",
    "||",
    "+",
    "-",
    "*",
    "/",
    "%",
    "!",
    ".",
    "\"",
    "\"\"\"",
    "${",
    "\\",
    "$",
    "#",
    // literals
    "1",
    "0.5",
    "5s",
    "2m",
    "99999999999999999999",
    "5x",
    "\"a\"",
    "\"é ${x} 😀\"",
    "\"\\q\"",
    "\"\\u{1F600}\"",
    "\"\\u{D800}\"",
    "\"${#HOME}\"",
    "\"${HOME:-é}\"",
    "\"${x\"",
    "\"\"\"\nline é\n\"\"\"",
    "r\"",
    "r\"\"\"",
    "r\"C:\\é\"",
    "r\"${x} \\\" \\\"",
    "r\"\"\"\n  \"${é}\" \\\n  \"\"\"",
    // whole statements
    "let x = 1\n",
    "let y = sh(\"echo ${x}\")\n",
    "let z = sh(r\"grep -E '^\\d+$' f\")\n",
    "agent A = llm(model: \"m\")\n",
    "flow F(a) { a }\n",
    "param p = \"é\"\n",
    "map i in [1, 2] { i }",
    "try { x } else { error }",
    "F(a: 1) retry 2 backoff 1s timeout 5s",
    "if x { 1 } else { 2 }",
    "fanout { a: 1, b: 2 }",
    "gate x where y > 1 { }",
    "A(\"q\") after y",
    "{ \"k\": [1, {}] }",
    "x.y[0]",
    "repeat s = 0 until s > 1 max 3 { s + 1 } else { s }",
    "match x { \"a\" | 1 => 2, _ => 3 }",
    "reduce (a, b) in [1, 2] { a + b }",
    "fold (acc, i) in [1] from 0 { acc + i }",
    "filter i in [1, 2] { i > 1 }",
    // comments, allow comments
    "# é\n",
    "# 😀 emoji\n",
    "# flow: allow(god-agent)\n",
    "# flow: é\n",
    "#\n",
    // white space and line ends
    " ",
    "  ",
    "\t",
    "\n",
    "\n",
    "\r\n",
    "\r",
    "\u{feff}",
    "\u{a0}",
    "\u{200d}",
    "e\u{301}",
    "\0",
];

/// One fragment, now and then a character of any kind or a very long run.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => select(FRAGMENTS).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => (select(&["é", "+1", "x", "😀", " ", "\t", "[", "# é"][..]), 300..1500usize)
            .prop_map(|(s, n)| s.repeat(n)),
    ]
}

/// Statements that name each other (`N` and `M` are names, `S` a string's
/// text): scripts of these get past the parser, to the checks and lints.
const STATEMENTS: &[&str] = &[
    "let N = \"S\"",
    "let N = sh(\"echo ${M} S\")",
    "let N = sh(r\"grep -E '^S\\.${M}$' f\")",
    "let N = M + 1",
    "agent N = sh(\"cat\") limit 2",
    "agent N = llm(model: \"S\")",
    "let N = M(\"S\", x: M) retry 2 backoff 1s timeout 5s",
    "flow N(x) {\n\tx\n}",
    "let N = map i in M limit 2 { sh(\"echo ${i}\") }",
    "let N = try { M } else { error }",
    "let N = if M > 1 { \"S\" } else { null }",
    "let N = fanout { x: M, y: \"S\" }",
    "let N = echo(\"S\") after M",
    "let N = repeat s = M until s.done max 3 { sh(\"echo ${s}\") }",
    "let N = match M { \"S\" => 1, _ => M }",
    "let N = reduce (a, b) in M limit 2 { a + b }",
    "let N = fold (acc, x) in M from \"S\" { acc + x }",
    "let N = filter x in M { x != \"S\" }",
    "param N = \"S\"",
    "M",
];
const NAMES: &[&str] = &["a", "b", "items", "Helper", "naive"];
const TEXTS: &[&str] = &[
    "é",
    "😀 naïve",
    "日本語",
    "tab\there",
    "${a}",
    "\\${HOME}",
    "e\u{301}",
];
const LINE_ENDS: &[&str] = &[
    "\n",
    "\r\n",
    "; ",
    "  # é 😀\n",
    "\t# flow: allow(god-agent)\r\n",
    "\n\n",
];

fn statement() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        8 => select(TEXTS).prop_map(str::to_string),
        1 => (select(TEXTS), 100..600usize).prop_map(|(s, n)| s.repeat(n)),
    ];
    (
        select(STATEMENTS),
        select(NAMES),
        select(NAMES),
        text,
        select(LINE_ENDS),
    )
        .prop_map(|(stmt, n, m, text, end)| {
            stmt.replace('N', n).replace('M', m).replace('S', &text) + end
        })
}

/// The example scripts, each also with CRLF line ends.
fn examples() -> Vec<String> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(root().join("examples")).expect("examples/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "flow") {
            let text = std::fs::read_to_string(&path).expect("an example");
            texts.push(text.replace('\n', "\r\n"));
            texts.push(text);
        }
    }
    texts.sort();
    texts
}

/// `text` cut at a character boundary chosen by `at`.
fn cut(text: &str, at: Index) -> &str {
    let ends: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    &text[..ends[at.index(ends.len())]]
}

/// A script: fragments end to end, statements one after the other, or an
/// example truncated and with fragments put in at character boundaries.
fn script() -> impl Strategy<Value = String> {
    let examples = examples();
    prop_oneof![
        proptest::collection::vec(fragment(), 0..40).prop_map(|parts| parts.concat()),
        proptest::collection::vec(statement(), 1..12).prop_map(|stmts| stmts.concat()),
        (
            select(examples),
            any::<Index>(),
            proptest::collection::vec((any::<Index>(), fragment()), 0..4)
        )
            .prop_map(|(text, end, inserts)| {
                let mut text = cut(&text, end).to_string();
                for (at, piece) in inserts {
                    let at = cut(&text, at).len();
                    text.insert_str(at, &piece);
                }
                text
            }),
    ]
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    ProptestConfig {
        cases,
        // A failure is shrunk and printed; its input goes to tests/cases/fuzz/.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_script_makes_a_stage_panic(text in script()) {
        every_stage(&text);
    }
}

/// Every example cut at every character boundary, with LF and CRLF line ends.
#[test]
fn every_truncated_example_is_reported_without_panic() {
    // In two halves, at once.
    let texts = examples();
    at_once(texts.chunks(texts.len().div_ceil(2)), |half| {
        for text in half {
            for (i, _) in text.char_indices() {
                every_stage(&text[..i]);
            }
        }
    });
}
