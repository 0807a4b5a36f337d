//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// The project's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of a test case under `tests/cases/`.
pub fn case(path: &str) -> PathBuf {
    root().join("tests/cases").join(path)
}

/// Compiles and runs a script with the library, on a current-thread runtime.
pub fn run(text: &str) -> flow::Outcome {
    run_with(text, flow::RunOptions::default())
}

pub fn run_with(text: &str, options: flow::RunOptions) -> flow::Outcome {
    let engine = flow::Engine::new();
    let script = match engine.compile("test.flow", text) {
        Ok(s) => s,
        Err(e) => panic!("the script does not compile: {e}\n{text}"),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(engine.run(&script, options))
}

/// Runs a script that must succeed and returns its result.
pub fn result(text: &str) -> serde_json::Value {
    let outcome = run(text);
    assert_eq!(
        outcome.status,
        flow::RunStatus::Succeeded,
        "errors: {:#?}",
        outcome.errors
    );
    outcome.result.as_deref().cloned().unwrap_or_default()
}

/// The `flow` binary, with the working directory at the project root and the
/// run store in a temporary folder shared by this test process (tests that
/// read the store give their own with `--store` or `FLOW_STORE`).
pub fn flow_command() -> std::process::Command {
    static STORE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let store = STORE.get_or_init(|| scratch("store"));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flow"));
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .env("FLOW_STORE", store);
    cmd
}

/// Runs `flow` with `args`, writes `stdin` to it, and returns what it printed
/// and how it exited.
pub fn flow_with_input(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = flow_command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flow starts");
    let mut input = child.stdin.take().expect("a stdin pipe");
    input
        .write_all(stdin.as_bytes())
        .expect("the input is written");
    drop(input);
    child.wait_with_output().expect("flow ends")
}

/// A new, empty folder of its own under the system's temporary folder: a
/// random name (tempfile), so tests running at once, or two runs of the
/// suite, never share one. Kept after the test, to read when one fails.
pub fn scratch(name: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(&format!("flow-test-{name}-"))
        .tempdir()
        .expect("a scratch folder")
        .keep()
}

/// Process ids whose environment holds `mark=<value>` (children of a test).
pub fn processes_marked(value: &str) -> Vec<u32> {
    let needle = format!("mark={value}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// A marker unique to this test process and call.
pub fn unique_mark(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The most tasks that overlapped in time, from their records.
pub fn max_overlap(tasks: &[&flow::TaskRecord]) -> usize {
    let mut edges: Vec<(std::time::SystemTime, i32)> = Vec::new();
    for t in tasks {
        if let (Some(s), Some(e)) = (t.started_at, t.ended_at) {
            edges.push((s, 1));
            edges.push((e, -1));
        }
    }
    // Ends sort before starts at the same instant.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

/// The processes still marked `mark` after they had up to 3 s to finish dying
/// (a killed process may take a moment to go on a loaded machine).
pub fn processes_left(mark: &str) -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let left = processes_marked(mark);
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// ---- case corpora with `# expect: code @ line:column` lines ---------------------

/// One expected or actual diagnostic: code name, line, column.
pub type Expect = (String, usize, usize);

/// A case file as a source named after the file.
pub fn load(path: &std::path::Path) -> flow::SourceFile {
    let text = std::fs::read_to_string(path).expect("case file is readable");
    let name = path.file_name().map_or_else(
        || "case.flow".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    flow::SourceFile::new(name, text)
}

pub fn render(src: &flow::SourceFile, diags: &[flow::Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.render(src, flow::RenderStyle::PLAIN))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `# expect: code @ line:column` lines of a case.
pub fn expected(src: &flow::SourceFile) -> Vec<Expect> {
    let mut out = Vec::new();
    for line in src.text.lines() {
        let Some(rest) = line.strip_prefix("# expect:") else {
            continue;
        };
        let (code, place) = rest
            .split_once('@')
            .unwrap_or_else(|| panic!("{}: bad expect line {line:?}", src.name));
        let (l, c) = place
            .trim()
            .split_once(':')
            .unwrap_or_else(|| panic!("{}: bad position in {line:?}", src.name));
        out.push((
            code.trim().to_string(),
            l.parse().expect("line number"),
            c.parse().expect("column number"),
        ));
    }
    out.sort();
    out
}

pub fn actual(src: &flow::SourceFile, diags: &[flow::Diagnostic]) -> Vec<Expect> {
    let mut out: Vec<Expect> = diags
        .iter()
        .map(|d| {
            let (line, col) = d.span().map_or((0, 0), |s| src.line_col(s.start));
            (d.code.name().to_string(), line, col)
        })
        .collect();
    out.sort();
    out
}

/// The capabilities a case or example asks for in a comment that shows its
/// command line (`# flow run script.flow --deny sh,env`), all when none.
pub fn capabilities_in(text: &str) -> flow::Capabilities {
    let mut capabilities = flow::Capabilities::all();
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("# flow "))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let names = pair[1].split(',').map(str::to_string);
            match pair[0] {
                "--deny" => capabilities = names.fold(capabilities, |c, n| c.deny(n)),
                "--allow" => capabilities = flow::Capabilities::only(names),
                _ => {}
            }
        }
    }
    capabilities
}

/// The checker's environment for a case: the default, with the capabilities
/// its command-line comment asks for.
pub fn env_for(src: &flow::SourceFile) -> flow::check::Env {
    flow::check::Env {
        capabilities: capabilities_in(&src.text),
        ..flow::check::Env::default()
    }
}
