//! The HTML report (`flow run --report`, `flow report`): loaded in a real
//! headless Chromium, whose dumped DOM must hold one `.bar.attempt` element
//! per attempt the run store recorded, no error of the page's own script,
//! and none of a task's output as markup.
//!
//! Chromium is found on PATH (`chromium`, `chromium-browser`, `google-chrome`)
//! or at `FLOW_CHROMIUM`. Without one these tests say `skipped: no chromium`
//! and pass, so `cargo test` needs nothing but cargo; `.ci/run` installs
//! Chromium and sets `FLOW_REQUIRE_CHROMIUM=1`, which makes its absence a
//! failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{flow_command, scratch, text, Project};

impl Project {
    /// The attempts `flow log --json` lists for every task of the last run.
    fn attempts_in_store(&self) -> usize {
        let out = self.flow(&["log", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let tasks: Value = serde_json::from_slice(&out.stdout).unwrap();
        (tasks.as_array().unwrap().iter())
            .map(|t| t["attempts"].as_array().unwrap().len())
            .sum()
    }
}

/// The Chromium to load pages with, or `None` (after a loud line) when
/// there is none and `FLOW_REQUIRE_CHROMIUM` does not ask for one.
fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("FLOW_CHROMIUM").map(PathBuf::from);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = named.filter(|p| p.is_file()).or_else(|| {
        [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
    });
    if found.is_none() {
        let required = std::env::var("FLOW_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "no Chromium found (chromium, chromium-browser, google-chrome on PATH, or \
             FLOW_CHROMIUM): `.ci/run` installs it (apt-get install chromium); \
             FLOW_REQUIRE_CHROMIUM=1 makes its absence a failure"
        );
        eprintln!(
            "skipped: no chromium (install it, e.g. `apt-get install chromium`, to run the \
             HTML report's browser checks; .ci/run does)"
        );
    }
    found
}

/// What Chromium made of a page.
struct Loaded {
    /// The DOM after the page's script ran, as `--dump-dom` prints it.
    dom: String,
    /// What Chromium logged: the page's console messages among it.
    log: String,
}

/// Loads `page` in headless Chromium; fails on a page that did not finish
/// loading, or whose script or console reported an error.
fn load(browser: &Path, page: &Path) -> Loaded {
    let profile = scratch("chromium-profile");
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Its output is read as it comes (a full pipe would stop it); a browser
    // that hangs fails the test instead of stalling the suite.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(out) = ended.recv_timeout(Duration::from_secs(120)) else {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        panic!("chromium did not finish loading {}", page.display());
    };
    let out = out.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    let loaded = Loaded {
        dom: text(&out.stdout),
        log: text(&out.stderr),
    };
    assert!(
        loaded.dom.contains("data-loaded=\"1\""),
        "the page's script did not run to its end:\n{}\n{}",
        head(&loaded.dom),
        loaded.log
    );
    assert!(
        loaded.dom.contains("data-errors=\"\""),
        "the page reported errors: {:?}",
        attribute(&loaded.dom, "<body", "data-errors")
    );
    let console: Vec<&str> = (loaded.log.lines())
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    loaded
}

fn head(text: &str) -> &str {
    &text[..text.len().min(2000)]
}

/// The value of `name` on the first element whose tag starts with `start`.
fn attribute(dom: &str, start: &str, name: &str) -> Option<String> {
    attributes(dom, start, name).into_iter().next()
}

/// The values of `name` on every element whose opening tag starts with `start`.
fn attributes(dom: &str, start: &str, name: &str) -> Vec<String> {
    let key = format!(" {name}=\"");
    dom.match_indices(start)
        .filter_map(|(at, _)| {
            let tag = &dom[at..at + dom[at..].find('>')?];
            let from = tag.find(&key)? + key.len();
            Some(tag[from..from + tag[from..].find('"')?].to_string())
        })
        .collect()
}

fn number(dom: &str, start: &str, name: &str) -> usize {
    attribute(dom, start, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} on {start}"))
}

/// `flaky` fails twice, then succeeds (a counter file); `evil` prints markup;
/// `bad` fails, so `after_bad` is skipped; a map of three.
const SCRIPT: &str = r#"
let flaky = sh("n=$(cat counter 2>/dev/null || echo 0); n=$((n+1)); echo $n > counter; echo try $n; [ $n -ge 3 ] || exit 1") retry 2
let evil = sh("echo '<script>alert(1)</script>'; echo '<img src=x onerror=alert(2)>' >&2")
let raw = map i in range(3) { sh("echo item ${i}") }
let bad = sh("echo '<b>broken</b>' >&2; exit 4")
let after_bad = sh("echo never ${bad}")
[flaky, evil, raw, after_bad]
"#;

#[test]
fn a_report_has_a_bar_per_attempt_from_run_and_from_the_store() {
    let p = Project::new("report", SCRIPT);
    let run = p.flow(&["run", "-q", "-k", "--report", "run.html", "main.flow"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let from_store = p.flow(&["report", "-o", "store.html"]);
    assert!(from_store.status.success(), "{}", text(&from_store.stderr));
    assert!(text(&from_store.stderr).contains("store.html"));
    // 3 of `flaky`, 1 each of `evil`, `bad` and the map's 3; `after_bad` none.
    let attempts = p.attempts_in_store();
    assert_eq!(attempts, 8);
    let pages = ["run.html", "store.html"];
    for page in pages {
        let html = std::fs::read_to_string(p.dir.join(page)).unwrap();
        // Self-contained: nothing to fetch, no markup from the tasks.
        for fetch in ["src=\"", "<link", "https://", "@import", "url(http"] {
            assert!(!html.contains(fetch), "{page} has {fetch}");
        }
        for markup in ["<script>alert", "<img src=x", "<b>broken"] {
            assert!(!html.contains(markup), "{page} has {markup}");
        }
        assert_eq!(html.matches("class=\"bar attempt").count(), attempts);
    }
    let Some(browser) = chromium() else { return };
    for page in pages {
        let loaded = load(&browser, &p.dir.join(page));
        let dom = &loaded.dom;
        assert_eq!(
            dom.matches("<div class=\"bar attempt").count(),
            attempts,
            "{page}"
        );
        assert_eq!(number(dom, "<body", "data-bars-seen"), attempts);
        assert_eq!(
            number(dom, "<section id=\"timeline\"", "data-attempts"),
            attempts
        );
        // The retried attempts of `flaky` are marked; the failed ones too.
        let flaky = attributes(dom, "<div class=\"bar attempt", "data-task")
            .into_iter()
            .filter(|t| t == "flaky")
            .count();
        assert_eq!(flaky, 3);
        assert_eq!(
            dom.matches("class=\"bar attempt s-failed retried\"")
                .count(),
            2
        );
        assert_eq!(dom.matches("class=\"bar attempt s-failed\"").count(), 1);
        assert_eq!(
            attribute(dom, "<section id=\"summary\"", "data-status").unwrap(),
            "failed"
        );
        assert_eq!(number(dom, "<section id=\"summary\"", "data-skipped"), 1);
        // The map is one group of three.
        assert_eq!(
            attribute(dom, "<details class=\"group\"", "data-group").unwrap(),
            "raw[i]"
        );
        assert_eq!(number(dom, "<details class=\"group\"", "data-tasks"), 3);
        // What the tasks printed is text in the page, never elements of it.
        assert!(
            dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(dom.contains("&lt;img src=x onerror=alert(2)&gt;"), "{page}");
        assert!(
            !dom.contains("<script>alert") && !dom.contains("<img"),
            "{page}"
        );
        // The graph is drawn: one node per task binding at least.
        assert!(dom.contains("<svg class=\"graph\""), "{page}");
        assert!(dom.contains("data-name=\"flaky\""), "{page}");
    }
}

#[test]
fn a_report_of_20000_tasks_stays_small_and_counts_every_attempt() {
    let p = Project::new(
        "report-big",
        "let raw = map i in range(20000) { if i % 1000 == 7 { fail(\"no ${i}\") } else { sleep(1ms) } }\n\
         let solo = sh(\"echo solo\")\n[len(raw), solo]\n",
    );
    let run = p.flow(&["run", "-q", "-k", "--report", "big.html", "main.flow"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let path = p.dir.join("big.html");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 2 << 20, "the report is {size} bytes");
    let attempts = p.attempts_in_store();
    assert_eq!(attempts, 20_001);
    let Some(browser) = chromium() else { return };
    let loaded = load(&browser, &path);
    let dom = &loaded.dom;
    assert_eq!(
        number(dom, "<section id=\"timeline\"", "data-attempts"),
        attempts
    );
    // The map is one group that counts all its attempts; the lone task has its row.
    let groups = attributes(dom, "<details class=\"group\"", "data-attempts");
    let in_groups: usize = groups.iter().map(|n| n.parse::<usize>().unwrap()).sum();
    assert_eq!(groups.len(), 1);
    assert_eq!(in_groups, 20_000);
    assert_eq!(
        number(dom, "<details class=\"group\"", "data-tasks"),
        20_000
    );
    assert_eq!(number(dom, "<details class=\"group\"", "data-failed"), 20);
    // The bars drawn are those it says, and far fewer than the attempts.
    let bars = dom.matches("<div class=\"bar attempt").count();
    assert_eq!(bars, number(dom, "<section id=\"timeline\"", "data-bars"));
    assert!(bars > 20 && bars <= 200, "{bars} bars");
    // Every failure is among the tasks drawn and detailed.
    assert_eq!(dom.matches("class=\"bar attempt s-failed\"").count(), 20);
    assert_eq!(number(dom, "<section id=\"tasks\"", "data-total"), 20_001);
}

#[test]
fn report_flags_that_cannot_work_are_usage_errors() {
    let p = Project::new("report-usage", "sh(\"true\")\n");
    for (args, says) in [
        (
            &["run", "--no-store", "--report", "r.html", "main.flow"][..],
            "drop `--no-store`",
        ),
        (
            &["run", "--dry-run", "--report", "r.html", "main.flow"][..],
            "dry run",
        ),
        (
            &["run", "--report", "no/such/r.html", "main.flow"][..],
            "no folder `no/such`",
        ),
        (&["run", "--report", "-", "main.flow"][..], "needs a file"),
    ] {
        let out = p.flow(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(!p.dir.join("r.html").exists());
    assert!(p.flow(&["run", "-q", "main.flow"]).status.success());
    // A run that does not exist: a usage error, as `--resume 7` is.
    let missing = p.flow(&["report", "7"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("no run 7"),
        "{}",
        text(&missing.stderr)
    );
    // The default file name has the run's number.
    assert!(p.flow(&["report"]).status.success());
    assert!(p.dir.join("flow-report-1.html").is_file());
}

#[test]
fn a_report_of_a_changed_script_says_why_it_has_no_graph() {
    let p = Project::new("report-changed", "let a = sh(\"echo a\")\na\n");
    assert!(p.flow(&["run", "-q", "main.flow"]).status.success());
    std::fs::write(p.dir.join("main.flow"), "let b = sh(\"echo b\")\nb\n").unwrap();
    assert!(p.flow(&["report", "-o", "r.html"]).status.success());
    let html = std::fs::read_to_string(p.dir.join("r.html")).unwrap();
    assert!(html.contains("changed since this run"), "{html}");
    assert!(html.contains("data-task=\"a\""));
}

#[test]
fn a_cancelled_run_still_writes_its_report() {
    let p = Project::new(
        "report-cancel",
        "let quick = sh(\"echo quick\")\nlet slow = sh(\"sleep 30\")\n[quick, slow]\n",
    );
    let events = p.dir.join("events.ndjson");
    let child = flow_command()
        .current_dir(&p.dir)
        .env_remove("FLOW_STORE")
        .args([
            "run",
            "-q",
            "--report",
            "r.html",
            "--events",
            "events.ndjson",
            "main.flow",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once `slow` has started, Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&events)
        .unwrap_or_default()
        .contains("\"id\":\"slow\"")
    {
        assert!(Instant::now() < deadline, "`slow` never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::orphans::signal(&child, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(p.dir.join("r.html")).expect("the report is written");
    assert_eq!(
        attribute(&html, "<section id=\"summary\"", "data-status").unwrap(),
        "cancelled"
    );
    assert!(
        html.contains("data-task=\"slow\" data-status=\"cancelled\""),
        "{html}"
    );
    let last = std::fs::read_to_string(&events).unwrap();
    let last: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["event"].as_str(), last["status"].as_str()),
        (Some("run_finished"), Some("cancelled"))
    );
}
