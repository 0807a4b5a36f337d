//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    processes_where("environ", |env| {
        env.split(|&b| b == 0).any(|var| var == needle.as_bytes())
    })
}

/// Process ids whose `/proc/<pid>/<file>` (`environ`, `cmdline`) passes `test`.
pub fn processes_where(file: &str, test: impl Fn(&[u8]) -> bool) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/{file}"))
                .map(|bytes| test(&bytes))
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

/// The processes still marked `mark` after they had up to [`HANG_GUARD`] to
/// finish dying (a killed process may take a moment to go on a loaded
/// machine): empty at once when all is well.
pub fn processes_left(mark: &str) -> Vec<u32> {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let left = processes_marked(mark);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `f` of each item, each on a thread of its own, all at once; the results in
/// the items' order (a panic in one is the test's). For a test's independent
/// pieces of work: a core that another test leaves idle while it waits does
/// some of it, and the suite ends sooner.
pub fn at_once<I, T, F>(items: I, f: F) -> Vec<T>
where
    I: IntoIterator,
    I::Item: Send,
    T: Send,
    F: Fn(I::Item) -> T + Sync,
{
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || f(item)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

// ---- waiting, without asserting on the wall clock ---------------------------------
//
// No test asserts how long something took on the wall clock: on a machine
// shared with other builds any bound is either loose enough to miss a
// regression or tight enough to flake. A test shows the behaviour instead
// (a task's record is `Cancelled`, a file a slow part would write never
// appears, a leftover process was still alive when the call returned, the
// records of tasks overlap), or runs on tokio's paused clock. Waits for
// something that takes milliseconds when all is well have a deadline, but
// only as a guard against a test that never ends: [`HANG_GUARD`]. The two
// latency requirements keep one test each, which says so:
// `interrupt::ctrl_c_during_busy_pure_work_latency` (issue 13: signals
// answered within 200 ms; measured on `flow`'s own CPU clock) and
// `orphans::kill_9_of_flow_leaves_no_process_within_a_second`
// (docs/reliability.md).

/// How long a test waits for something that takes milliseconds when all is
/// well before it calls it a hang and fails: a guard, not a measure of speed.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// Polls `done` until it holds; fails naming `what` after [`HANG_GUARD`].
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "hang guard: waited {HANG_GUARD:?} for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// [`wait_until`] in async code (not on a paused clock: it waits in real time).
pub async fn wait_until_async(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "hang guard: waited {HANG_GUARD:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `future`'s output; fails naming `what` if it has not ended after
/// [`HANG_GUARD`] (not on a paused clock, where the guard would fire at once).
pub async fn or_hang<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(HANG_GUARD, future).await {
        Ok(output) => output,
        Err(_) => panic!("hang guard: {what} had not ended after {HANG_GUARD:?}"),
    }
}

/// Waits for `child` to exit and returns what it printed; kills it and fails
/// naming `what` if it is still running after [`HANG_GUARD`].
pub fn output_or_hang(child: std::process::Child, what: &str) -> std::process::Output {
    let pid = child.id();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    match receive.recv_timeout(HANG_GUARD) {
        Ok(output) => output.expect("the child is waited for"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("hang guard: {what} had not ended after {HANG_GUARD:?}")
        }
    }
}

/// Runs `command` (stdin from /dev/null, stdout and stderr captured, as
/// `Command::output`) through [`output_or_hang`].
pub fn run_or_hang(command: &mut std::process::Command, what: &str) -> std::process::Output {
    use std::process::Stdio;
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    output_or_hang(child, what)
}

/// The CPU time the calling thread has used, in the scheduler's count
/// (`/proc/self/task/TID/schedstat`, nanoseconds, up to a tick behind for a
/// running thread). Unlike the wall clock it stands still while the thread
/// waits for a core, so a bound on it holds on a busy machine.
pub fn thread_cpu_time() -> Duration {
    thread_cpu_time_of(nix::unistd::gettid().as_raw())
}

/// [`thread_cpu_time`] of thread `tid` of this process.
pub fn thread_cpu_time_of(tid: i32) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .expect("the thread's schedstat is readable");
    let nanos = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat starts with the time on the CPU");
    Duration::from_nanos(nanos)
}

/// `f`'s result and the CPU time the calling thread spent in it.
pub fn on_cpu<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let before = thread_cpu_time();
    let value = f();
    (value, thread_cpu_time().saturating_sub(before))
}

/// The CPU time process `pid` has used, all its threads together (user and
/// system, `/proc/PID/stat`, in ticks of 10 ms); also for a zombie, until it
/// is reaped.
pub fn process_cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process is there");
    // the fields after the command name, which is in parentheses and may hold anything
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15; the state, field 3, is fields[0]
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ, 100 on Linux
    Duration::from_millis(ticks * 10)
}

/// Waits for `child` to exit, then returns what it printed and the CPU time
/// it used in all (read before it is reaped). Its output must fit in the
/// pipes (64 KiB each), as it is read only once it has exited.
pub fn output_and_cpu_time(child: std::process::Child) -> (std::process::Output, Duration) {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    wait_until("the child's exit", || {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
        !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
    });
    let cpu = process_cpu_time(child.id());
    (child.wait_with_output().expect("the child is reaped"), cpu)
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

/// A folder with a script (`main.flow`) and its own run store (`<dir>/.flow`,
/// the default), for tests of what `flow` records and reads back.
pub struct Project {
    pub dir: PathBuf,
}

impl Project {
    pub fn new(name: &str, script: &str) -> Project {
        let dir = scratch(name);
        std::fs::write(dir.join("main.flow"), script).unwrap();
        Project { dir }
    }

    /// `flow ARGS` in the project's folder, with the default store there and
    /// a fixed user name (what an approval records as who answered).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = flow_command();
        cmd.current_dir(&self.dir)
            .env_remove("FLOW_STORE")
            .env("USER", "tester")
            .args(args);
        cmd
    }

    /// `flow ARGS`, to the end, with no input.
    pub fn flow(&self, args: &[&str]) -> std::process::Output {
        self.command(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("flow runs")
    }

    /// The lines a script's tasks appended to `side.txt`, one per task run.
    pub fn side_effects(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("side.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
