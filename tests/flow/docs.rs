//! Every `flow` command the documentation shows runs: the shell lines of the
//! code blocks of README.md and docs/**/*.md that call `flow` are run in
//! order, in one scratch folder (with `examples/` and `tests/` reachable as
//! in the repository, and its own run store), and must succeed, or end as
//! the documentation says. Those that need what a test does not have (a
//! model server, a person, the reader's own script) are listed below, each
//! with its reason: a model server's commands run as dry runs, which still
//! check the script and every `--param`; the others are skipped. A command
//! shown in the docs that is neither runnable nor listed fails the test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{root, scratch};

/// What to do with a command the docs show that cannot simply run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Treatment {
    /// Not run, for the reason given.
    Skip,
    /// Run with `--dry-run`: it calls a model or a service the test has not.
    DryRun,
    /// Run; it fails with this exit status, as the docs show.
    Exits(i32),
}

/// The commands the docs show that cannot run as they are, and why.
const LISTED: &[(&str, Treatment, &str)] = &[
    // A model server (or OpenAI) answers these: dry runs check the rest.
    ("FLOW_LLM_BASE_URL=http://127.0.0.1:8080/v1 flow run examples/triage.flow --param model=my-model", Treatment::DryRun, "needs a model server"),
    ("FLOW_LLM_BASE_URL=http://127.0.0.1:11434/v1 flow run examples/research_review.flow --param model=llama3.2 --param topic=\"how tides work\"", Treatment::DryRun, "needs a model server (Ollama)"),
    ("OPENAI_API_KEY=sk-... flow run examples/research_review.flow", Treatment::DryRun, "needs OpenAI"),
    ("FLOW_LLM_BASE_URL=http://127.0.0.1:8080/v1 flow run examples/research_review.flow --param model=my-model --param topic=\"how tides work\"", Treatment::DryRun, "needs a model server"),
    ("FLOW_LLM_BASE_URL=http://127.0.0.1:8080/v1 flow run examples/research_review.flow --param max_tokens=40", Treatment::DryRun, "needs the small local model server"),
    ("flow run examples/research_review.flow --budget tokens=20000", Treatment::DryRun, "needs a model server"),
    ("flow run examples/research_review.flow --param max_tokens=40", Treatment::DryRun, "needs the small local model server (`.ci/llm-server.sh start` before it)"),
    // A Slurm cluster runs these (tests/flow/slurm.rs runs the same on one).
    ("flow run --executor slurm examples/cluster.flow", Treatment::Skip, "needs a Slurm cluster"),
    // Transcripts of failures.
    ("flow run -q examples/quality_gate.flow --param failing=2", Treatment::Exits(1), "the docs show the gate failing"),
    // The reader's own scripts, runs and tasks.
    ("flow log 3 'fetch[2]'", Treatment::Skip, "names a run and a task of the reader's"),
    ("flow log 3 fetch[2]", Treatment::Skip, "names a run and a task of the reader's"),
    ("flow why fetch[2]", Treatment::Skip, "names a task of the reader's"),
    ("flow run --record wf.flow", Treatment::Skip, "`wf.flow` stands for the reader's script, with llm or http calls"),
    ("flow run --replay wf.flow", Treatment::Skip, "`wf.flow` stands for the reader's script, with llm or http calls"),
    ("flow run --dry-run wf.flow", Treatment::Skip, "`wf.flow` stands for the reader's script"),
    ("flow run --report run.html wf.flow", Treatment::Skip, "`wf.flow` stands for the reader's script"),
    ("flow run --events - wf.flow", Treatment::Skip, "`wf.flow` stands for the reader's script"),
    ("flow run --events run.ndjson build.flow", Treatment::Skip, "`build.flow` stands for the reader's script"),
    ("flow run review.flow --deny sh,env", Treatment::Skip, "`review.flow` stands for the reader's script"),
    ("flow run review.flow --allow llm", Treatment::Skip, "`review.flow` stands for the reader's script"),
    ("flow check review.flow --deny sh", Treatment::Skip, "`review.flow` stands for the reader's script"),
    ("flow run review.flow --budget tokens=20000", Treatment::Skip, "`review.flow` stands for the reader's script"),
    ("flow run review.flow --budget usd=0.50", Treatment::Skip, "`review.flow` stands for the reader's script"),
    ("flow run review.flow --budget tokens=20000,usd=0.50", Treatment::Skip, "`review.flow` stands for the reader's script"),
    ("flow run --record --store tests/recordings/research_review examples/research_review.flow -p base_url=http://127.0.0.1:8080/v1 -p max_tokens=24 -p topic=tides", Treatment::Skip, "records against a model server, into the repository (a dry run cannot record)"),
    ("flow run build.flow", Treatment::Skip, "`build.flow` stands for the reader's script"),
    ("flow run --resume build.flow", Treatment::Skip, "`build.flow` stands for the reader's script"),
    ("flow repl < session.flow > values.txt", Treatment::Skip, "`session.flow` stands for the reader's entries"),
    // Installing completions and the man page writes into the reader's home.
    ("flow completions bash > ~/.local/share/bash-completion/completions/flow", Treatment::Skip, "installs into the reader's home"),
    ("flow completions zsh > ~/.zfunc/_flow", Treatment::Skip, "installs into the reader's home"),
    ("flow completions fish > ~/.config/fish/completions/flow.fish", Treatment::Skip, "installs into the reader's home"),
    ("flow man > ~/.local/share/man/man1/flow.1", Treatment::Skip, "installs into the reader's home"),
    ("flow man run > ~/.local/share/man/man1/flow-run.1", Treatment::Skip, "installs into the reader's home"),
    ("flow completions bash|zsh|fish|elvish|powershell", Treatment::Skip, "a synopsis: one of the shells"),
    // A person answers these, in another shell, while a run waits.
    ("flow approve 12 deploy", Treatment::Skip, "needs a run waiting for an approval"),
    ("flow deny deploy --reason \"change freeze\"", Treatment::Skip, "needs a run waiting for an approval"),
    ("flow approve 12 approval", Treatment::Skip, "needs a run waiting for an approval"),
    ("flow deny approval --reason \"change freeze\"", Treatment::Skip, "needs a run waiting for an approval"),
];

/// A command shown in the docs: where, and the command line as one line.
#[derive(Debug)]
struct Shown {
    file: String,
    line: usize,
    command: String,
    /// What the comment after it says it prints (`# prints 2`).
    prints: Option<String>,
    /// A usage synopsis (`flow run FILE [--param k=v]…`), not a command.
    synopsis: bool,
}

/// The Markdown files the test reads: README.md and docs/**/*.md.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("docs/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files[1..].sort();
    files
}

/// The text of a line without its shell comment (a `#` after a blank,
/// outside quotes), and the comment.
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => {
                return (line[..i].trim_end(), Some(line[i + 1..].trim()));
            }
            _ => {}
        }
        previous = c;
    }
    (line.trim_end(), None)
}

/// Whether a shell line runs `flow`: first (after `VAR=value`s), or after
/// `|`, `&&` or `;`.
fn calls_flow(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut start = true;
    for w in words {
        if start
            && w.contains('=')
            && !w.starts_with('-')
            && w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        {
            continue;
        }
        if start && w == "flow" {
            return true;
        }
        start = matches!(w, "|" | "&&" | ";" | "||");
    }
    false
}

/// Every `flow` command in the code blocks of a document.
fn commands_in(path: &Path) -> Vec<Shown> {
    let text = std::fs::read_to_string(path).expect("readable");
    let file = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if let Some(lang) = trimmed.strip_prefix("```") {
            block = match block {
                None => Some(lang.trim().to_string()),
                Some(_) => None,
            };
            continue;
        }
        let Some(lang) = &block else { continue };
        if !matches!(lang.as_str(), "" | "sh" | "console" | "shell" | "bash") {
            continue;
        }
        let line = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        let (code, comment) = split_comment(line);
        let (start, joined) = match pending.take() {
            Some((start, head)) => (start, format!("{head} {}", code.trim())),
            None => (i + 1, code.to_string()),
        };
        if let Some(head) = joined.strip_suffix('\\') {
            pending = Some((start, head.trim_end().to_string()));
            continue;
        }
        if !calls_flow(&joined) {
            continue;
        }
        // A synopsis names its placeholders in capitals (FILE, CODE, RUN)
        // or its options in brackets (`[--all-diagnostics]`).
        let synopsis = lang.is_empty()
            && (joined.contains("[-")
                || joined
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase())));
        out.push(Shown {
            file: file.clone(),
            line: start,
            command: joined.split_whitespace().collect::<Vec<_>>().join(" "),
            prints: comment
                .and_then(|c| c.strip_prefix("prints "))
                .map(str::to_string),
            synopsis,
        });
    }
    out
}

/// Whether a program is on `PATH`.
fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The command as the test runs it: `--dry-run` added for a dry run; a pipe
/// into a program that is not installed (`| dot -Tsvg > etl.svg` without
/// Graphviz) cut off, keeping `flow`'s part; `/tmp/` moved into the folder.
fn as_run(command: &str, treatment: Option<Treatment>, dir: &Path) -> String {
    let mut command = command.replace("/tmp/", &format!("{}/tmp/", dir.display()));
    if treatment == Some(Treatment::DryRun) {
        command = command.replacen("flow run ", "flow run --dry-run ", 1);
    }
    if let Some((flow_part, rest)) = command.split_once(" | ") {
        let program = rest.split_whitespace().next().unwrap_or("");
        if flow_part.trim_start().starts_with("flow ") && !installed(program) {
            command = format!("{flow_part} > /dev/null");
        }
    }
    command
}

#[test]
fn every_flow_command_in_the_docs_runs() {
    let listed: HashMap<&str, (Treatment, &str)> =
        LISTED.iter().map(|(c, t, why)| (*c, (*t, *why))).collect();
    let dir = scratch("docs-commands");
    for name in ["examples", "tests"] {
        std::os::unix::fs::symlink(root().join(name), dir.join(name)).expect("a link");
    }
    std::fs::create_dir_all(dir.join("tmp")).expect("a tmp folder");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_flow"));
    let path = std::env::join_paths(
        std::iter::once(bin.parent().expect("a folder").to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ),
    )
    .expect("a PATH");
    let mut ran = 0;
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for doc in documents() {
        for shown in commands_in(&doc) {
            let place = format!("{}:{}: {}", shown.file, shown.line, shown.command);
            if shown.synopsis {
                continue;
            }
            let treatment = listed.get(shown.command.as_str()).map(|(t, _)| *t);
            seen.push(shown.command.clone());
            if treatment == Some(Treatment::Skip) {
                continue;
            }
            let command = as_run(&shown.command, treatment, &dir);
            let out = Command::new("sh")
                .arg("-c")
                .arg(&command)
                .current_dir(&dir)
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .env_remove("FLOW_STORE")
                .stdin(std::process::Stdio::null())
                .output()
                .expect("sh runs");
            ran += 1;
            let expected = match treatment {
                Some(Treatment::Exits(code)) => code,
                _ => 0,
            };
            let stdout = String::from_utf8_lossy(&out.stdout);
            if out.status.code() != Some(expected) {
                failures.push(format!(
                    "{place}\n  ran `{command}`: exit {:?}, the docs say {expected}\n{}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            } else if let Some(printed) = &shown.prints {
                if !stdout.contains(printed.as_str()) {
                    failures.push(format!("{place}\n  does not print {printed}: {stdout}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 15, "only {ran} commands ran");
    // Every listed command is still in the docs (else the list lies).
    let stale: Vec<&str> = LISTED
        .iter()
        .map(|(c, _, _)| *c)
        .filter(|c| !seen.iter().any(|s| s == c))
        .collect();
    assert!(
        stale.is_empty(),
        "listed but no longer in the docs: {stale:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The extraction: continuation lines, comments, prompts, env prefixes,
/// synopses, and `flow` after a pipe or `&&`.
#[test]
fn commands_are_read_as_a_shell_reads_them() {
    let dir = scratch("docs-extract");
    let doc = dir.join("d.md");
    std::fs::write(
        &doc,
        "text `flow run x` in prose\n\
         ```sh\n\
         flow run a.flow \\\n  --param x=\"a # b\"   # a comment\n\
         X=1 flow check b.flow\n\
         printf 'x' | flow repl   # prints 2\n\
         cp a b && flow run c.flow\n\
         cargo test\n\
         ```\n\
         ```\n\
         $ flow run -q d.flow\n\
         flow check FILE... [--deny warnings]\n\
         ```\n\
         ```flow\n\
         flow f(x) { x }\n\
         ```\n",
    )
    .expect("written");
    let shown = commands_in(&doc);
    let commands: Vec<&str> = shown.iter().map(|s| s.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "flow run a.flow --param x=\"a # b\"",
            "X=1 flow check b.flow",
            "printf 'x' | flow repl",
            "cp a b && flow run c.flow",
            "flow run -q d.flow",
            "flow check FILE... [--deny warnings]",
        ]
    );
    assert_eq!(shown[0].line, 3);
    assert_eq!(shown[2].prints.as_deref(), Some("2"));
    let synopses: Vec<bool> = shown.iter().map(|s| s.synopsis).collect();
    assert_eq!(synopses, [false, false, false, false, false, true]);
}

/// One name for the variable that points `llm` agents at a server:
/// `FLOW_LLM_BASE_URL` in the code, the tests, CI and the docs, with
/// `OPENAI_BASE_URL` as the documented fallback.
#[test]
fn the_llm_base_url_variable_has_one_name() {
    let allowed = ["FLOW_LLM_BASE_URL", "OPENAI_BASE_URL", "DEFAULT_BASE_URL"];
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = ["src", "tests", "docs", "examples", ".ci", "README.md"]
        .iter()
        .map(|p| root().join(p))
        .collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("a folder").flatten() {
                stack.push(entry.path());
            }
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text (a recorded store)
        };
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let names_a_url =
                word.contains("URL") && (word.contains("LLM") || word.contains("OPENAI"));
            if names_a_url && !allowed.contains(&word) {
                found.push(format!("{}: {word}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
    let docs = std::fs::read_to_string(root().join("docs/agents.md")).expect("docs");
    assert!(
        docs.contains("`FLOW_LLM_BASE_URL`, then `OPENAI_BASE_URL`"),
        "the fallback is documented"
    );
}
