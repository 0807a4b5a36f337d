//! `flow graph`: data, `after` and body edges told apart; sub-flows drawn
//! once and linked to their calls; `retry`, `timeout` and limits on nodes;
//! `map` item counts; and `--run`, a recorded run's states in colour.

use serde_json::{json, Value};

use crate::common::{flow_command, scratch, wait_until};

/// A script with an `after`, two calls of one flow, retry/timeout/limits,
/// a `range(1000)` map and a map over a list known only when it runs.
const SCRIPT: &str = r#"agent Fetcher = echo() limit 2
flow review(doc) {
  let notes = Fetcher("Review", doc: doc)
  notes
}
let page = Fetcher("Fetch", url: "x") retry 3 timeout 30s
let backup = sh("echo backup")
let cleaned = sh("echo clean") after backup
let raw = map i in range(1000) limit 8 { Fetcher("Item", i: i) }
let files = sh("printf 'a\nb\nc\n'", output: "lines")
let sizes = map f in files { sh("echo ${f}") }
let r1 = review(doc: page)
let r2 = review(doc: raw)
{ r1: r1, r2: r2, cleaned: cleaned, sizes: sizes }
"#;

/// Runs `flow` in `dir` with its own store; returns (exit code, stdout, stderr).
fn flow_in(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = flow_command()
        .current_dir(dir)
        .env("FLOW_STORE", dir.join(".flow"))
        .args(args)
        .output()
        .expect("flow runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn project(name: &str, script: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("main.flow"), script).expect("written");
    dir
}

fn graph(dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["graph", "main.flow"];
    all.extend(args);
    let (code, stdout, stderr) = flow_in(dir, &all);
    assert_eq!(code, Some(0), "{stderr}");
    stdout
}

/// The DOT id of the node whose label starts with `label` (`n3`).
fn dot_node<'a>(dot: &'a str, label: &str) -> &'a str {
    let line = dot
        .lines()
        .find(|l| l.contains(&format!("[label=\"{label}")))
        .unwrap_or_else(|| panic!("no node `{label}` in\n{dot}"));
    line.split_whitespace().next().expect("an id")
}

/// The attributes of the DOT edge `from -> to` (`""` for none).
fn dot_edge<'a>(dot: &'a str, from: &str, to: &str) -> Option<&'a str> {
    let head = format!("{from} -> {to}");
    dot.lines().map(str::trim).find_map(|l| {
        let rest = l.strip_prefix(&head)?;
        // `n1` is no prefix of `n10`.
        rest.starts_with([';', ' '])
            .then(|| rest.trim_end_matches(';').trim())
    })
}

/// The `fillcolor` of the node whose label starts with `label`.
fn fill<'a>(dot: &'a str, label: &str) -> Option<&'a str> {
    let line = dot
        .lines()
        .find(|l| l.contains(&format!("[label=\"{label}")))
        .unwrap_or_else(|| panic!("no node `{label}` in\n{dot}"));
    let start = line.find("fillcolor=\"")? + "fillcolor=\"".len();
    line[start..].split('"').next()
}

#[test]
fn dot_tells_data_after_and_body_edges_apart() {
    let dir = project("graph-dot", SCRIPT);
    let dot = graph(&dir, &[]);
    // `after` edges are dashed arrows; data edges plain arrows.
    let (backup, cleaned) = (dot_node(&dot, "backup: sh"), dot_node(&dot, "cleaned: sh"));
    assert_eq!(
        dot_edge(&dot, backup, cleaned),
        Some("[style=dashed]"),
        "{dot}"
    );
    let (page, r1) = (
        dot_node(&dot, "page: Fetcher"),
        dot_node(&dot, "r1: flow review"),
    );
    assert_eq!(dot_edge(&dot, page, r1), Some(""), "{dot}");
    // A construct's body: a dotted line without arrowhead to its cluster.
    let raw = dot_node(&dot, "raw: map");
    let item = dot_node(&dot, "raw[i]: Fetcher");
    let body = dot_edge(&dot, raw, item).expect("the map is linked to its body");
    assert!(
        body.contains("style=dotted") && body.contains("arrowhead=none"),
        "{body}"
    );
    // The flow's body is drawn once, as a cluster, and each call is linked to it.
    assert_eq!(dot.matches("label=\"flow review\"").count(), 1, "{dot}");
    let notes = dot_node(&dot, "notes: Fetcher");
    for call in ["r1: flow review", "r2: flow review"] {
        let link = dot_edge(&dot, dot_node(&dot, call), notes).expect("a call is linked");
        assert!(
            link.contains("style=dotted") && link.contains("lhead=cluster_b"),
            "{link}"
        );
    }
    // No dashed line is anything but an `after`.
    assert_eq!(dot.matches("style=dashed").count(), 1, "{dot}");
}

#[test]
fn dot_shows_retry_timeout_limits_and_item_counts() {
    let dir = project("graph-notes", SCRIPT);
    let dot = graph(&dir, &[]);
    assert!(
        dot.contains(r#"[label="page: Fetcher\nretry 3 · timeout 30s · agent limit 2""#),
        "{dot}"
    );
    assert!(
        dot.contains(r#"[label="raw: map\n×1000 · limit 8""#),
        "{dot}"
    );
    assert!(dot.contains("label=\"map raw[×1000]\""), "{dot}");
    // A list known only when the script runs.
    assert!(dot.contains("label=\"map sizes[×?]\""), "{dot}");
}

#[test]
fn mermaid_draws_the_same() {
    let dir = project("graph-mermaid", SCRIPT);
    let text = graph(&dir, &["--format", "mermaid"]);
    let id = |label: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("\"{label}")))
            .unwrap_or_else(|| panic!("no node `{label}` in\n{text}"));
        let line = line.trim();
        line[..line.find(['[', '(', '{']).expect("a shape")].to_string()
    };
    let after = format!("{} -. after .-> {}", id("backup: sh"), id("cleaned: sh"));
    assert!(text.contains(&after), "{text}");
    assert!(
        text.contains(&format!(
            "{} --> {}",
            id("page: Fetcher"),
            id("r1: flow review")
        )),
        "{text}"
    );
    let flow_body = text
        .lines()
        .find(|l| l.contains("[\"flow review\"]"))
        .and_then(|l| l.trim().strip_prefix("subgraph "))
        .map(|l| l[..l.find('[').expect("a title")].to_string())
        .expect("the flow's cluster");
    for call in ["r1: flow review", "r2: flow review"] {
        assert!(
            text.contains(&format!("{} -.- {flow_body}", id(call))),
            "{text}"
        );
    }
    assert!(
        text.contains("page: Fetcher<br/>retry 3 · timeout 30s · agent limit 2"),
        "{text}"
    );
    assert!(text.contains("[\"map raw[×1000]\"]"), "{text}");
    assert!(text.contains("raw: map<br/>×1000 · limit 8"), "{text}");
    assert_eq!(text.matches("-. after .->").count(), 1, "{text}");
}

#[test]
fn json_marks_edge_kinds_notes_and_items() {
    let dir = project("graph-json", SCRIPT);
    let doc: Value = serde_json::from_str(&graph(&dir, &["--format", "json"])).expect("json");
    let node = |name: &str| -> &Value {
        doc["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    let edge = |from: &Value, to: &Value| -> Option<String> {
        doc["edges"].as_array()?.iter().find_map(|e| {
            (e["from"] == from["id"] && e["to"] == to["id"]).then(|| e["kind"].to_string())
        })
    };
    assert_eq!(
        edge(node("backup"), node("cleaned")).as_deref(),
        Some("\"after\"")
    );
    assert_eq!(edge(node("page"), node("r1")).as_deref(), Some("\"data\""));
    assert_eq!(node("page")["notes"]["retry"], "3");
    assert_eq!(node("page")["notes"]["timeout"], "30s");
    assert_eq!(node("page")["notes"]["agent_limit"], "2");
    assert_eq!(node("raw")["notes"]["limit"], "8");
    assert_eq!(node("raw")["items"], 1000);
    assert_eq!(node("sizes")["items"], Value::Null);
    let flow_body = node("r1")["flow_body"].clone();
    let calls: Vec<&Value> = (doc["edges"].as_array().expect("edges").iter())
        .filter(|e| e["kind"] == "call")
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.iter().all(|e| e["body"] == flow_body), "{calls:?}");
    assert!(doc["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .any(|e| e["kind"] == "body" && e["from"] == node("raw")["id"]));
    // Without `--run`, no states.
    assert!(node("page").get("state").is_none());
}

/// After a failed run, `--run` fills every node in the colour of its
/// state: succeeded green, failed red, skipped grey, not run white.
#[test]
fn graph_run_colours_nodes_by_their_state_in_a_failed_run() {
    let script = r#"let a = sh("echo a")
let items = map i in range(3) { sh("echo ${i}") }
let b = sh("exit 3") after a, items
let c = sh("echo c", x: b)
let d = sh("echo d") after b
let later = if len(c) > 0 { sh("echo later") } else { "none" }
{ a: a, c: c, d: d, items: items, later: later }
"#;
    let dir = project("graph-run", script);
    let (code, _, stderr) = flow_in(&dir, &["run", "main.flow"]);
    assert_eq!(code, Some(1), "{stderr}");
    let dot = graph(&dir, &["--run"]);
    let green = "#b6e3a8";
    assert_eq!(fill(&dot, "a: sh"), Some(green), "{dot}");
    assert_eq!(fill(&dot, "b: sh"), Some("#f4a6a6"), "{dot}");
    assert_eq!(fill(&dot, "c: sh"), Some("#d9d9d9"), "{dot}");
    assert_eq!(fill(&dot, "d: sh"), Some("#d9d9d9"), "{dot}");
    assert_eq!(fill(&dot, "items[i]: sh"), Some(green), "{dot}");
    assert_eq!(fill(&dot, "items: map"), Some(green), "{dot}");
    // The branch that never started.
    assert_eq!(fill(&dot, "later: sh"), Some("#ffffff"), "{dot}");
    // The map's real item count, and how its instances ended.
    assert!(dot.contains("label=\"map items[×3]\""), "{dot}");
    assert!(dot.contains(r#"items[i]: sh\n3 succeeded"#), "{dot}");

    let mermaid = graph(&dir, &["--run", "--format", "mermaid"]);
    assert!(
        mermaid.contains("classDef failed fill:#f4a6a6"),
        "{mermaid}"
    );
    let failed = mermaid
        .lines()
        .find(|l| l.trim().starts_with("class ") && l.trim().ends_with(" failed"))
        .expect("a failed class line");
    let b = mermaid
        .lines()
        .find(|l| l.contains("\"b: sh\""))
        .map(|l| l.trim().split('[').next().unwrap_or("").to_string())
        .expect("b");
    assert!(failed.split([' ', ',']).any(|w| w == b), "{mermaid}");

    let doc: Value =
        serde_json::from_str(&graph(&dir, &["--run", "1", "--format", "json"])).expect("json");
    let state = |name: &str| {
        doc["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["name"] == name)
            .map(|n| n["state"].clone())
    };
    assert_eq!(state("a"), Some(Value::from("succeeded")));
    assert_eq!(state("b"), Some(Value::from("failed")));
    assert_eq!(state("c"), Some(Value::from("skipped")));
    assert_eq!(state("later"), Some(Value::from("not_run")));
}

/// A map whose list only a run knows is counted from the run; `--run`
/// names a run by number; a run that does not exist, or a script never run,
/// is an error that says so.
#[test]
fn graph_run_counts_items_and_names_runs() {
    let script = "let files = sh(\"printf 'a\\nb\\nc\\nd\\n'\", output: \"lines\")\n\
                  let sizes = map f in files { sh(\"echo ${f}\") }\nsizes\n";
    let dir = project("graph-run-items", script);
    let (code, _, stderr) = flow_in(&dir, &["graph", "main.flow", "--run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no run store") || stderr.contains("no run of"),
        "{stderr}"
    );
    assert!(graph(&dir, &[]).contains("map sizes[×?]"));
    let (code, _, stderr) = flow_in(&dir, &["run", "main.flow"]);
    assert_eq!(code, Some(0), "{stderr}");
    let dot = graph(&dir, &["--run", "1"]);
    assert!(dot.contains("label=\"map sizes[×4]\""), "{dot}");
    // `flow graph --run main.flow`: the script, not a run number.
    let (code, stdout, stderr) = flow_in(&dir, &["graph", "--run", "main.flow"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("map sizes[×4]"), "{stdout}");
    let (code, _, stderr) = flow_in(&dir, &["graph", "main.flow", "--run", "9"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("there is no run 9"), "{stderr}");
    // An edited script is still drawn, with a note.
    std::fs::write(dir.join("main.flow"), format!("{script}# edited\n")).expect("written");
    let (code, _, stderr) = flow_in(&dir, &["graph", "main.flow", "--run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("changed since run 1"), "{stderr}");
}

/// Starts `flow run -q main.flow` in `dir` (with `args` before the script)
/// and returns once `tasks` of its tasks are recorded.
fn run_until_recorded(dir: &std::path::Path, args: &[&str], tasks: usize) -> std::process::Child {
    let run = flow_command()
        .current_dir(dir)
        .env("FLOW_STORE", dir.join(".flow"))
        .args(["run", "-q"])
        .args(args)
        .arg("main.flow")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(&format!("{tasks} tasks recorded"), || {
        let (_, out, _) = flow_in(dir, &["log", "--json"]);
        serde_json::from_str::<Value>(&out)
            .is_ok_and(|v| v.as_array().is_some_and(|a| a.len() >= tasks))
    });
    run
}

#[test]
fn graph_run_of_a_run_still_going_shows_what_may_have_more_to_do_as_running() {
    // Three items of each map end at once, three wait for a file: the run is
    // half done. `items` has a list its text counts; `later`'s only a run can.
    let wait = "if [ ${i} -ge 3 ]; then while [ ! -e go ]; do sleep 0.02; done; fi; echo ${i}";
    let script = format!(
        "let first = sh(\"echo first\")\n\
         let items = map i in range(6) {{ sh(\"{wait}\") }}\n\
         let six = sh(\"seq 0 5\", output: \"lines\")\n\
         let later = map i in six {{ sh(\"{wait}\") }}\n\
         {{ first: first, items: items, later: later }}\n"
    );
    let script = script.as_str();
    let dir = project("graph-run-going", script);
    let run = run_until_recorded(&dir, &["-j", "6"], 8);
    let dot = graph(&dir, &["--run"]);
    let json = graph(&dir, &["--run", "--format", "json"]);
    std::fs::write(dir.join("go"), "").unwrap();
    assert!(run.wait_with_output().unwrap().status.success());
    let (green, yellow) = ("#b6e3a8", "#f5e08c");
    // The script's own task ended: done. The map and its item may have more.
    assert_eq!(fill(&dot, "first: sh"), Some(green), "{dot}");
    assert_eq!(fill(&dot, "items: map"), Some(yellow), "{dot}");
    assert_eq!(fill(&dot, "items[i]: sh"), Some(yellow), "{dot}");
    // The map whose list the text gives has its six items; the other has
    // made three so far, and says that more may come.
    assert!(dot.contains("map items[×6]"), "{dot}");
    assert!(dot.contains("map later[×3…]"), "{dot}");
    let doc: Value = serde_json::from_str(&json).expect("json");
    let map = |name: &str| {
        let nodes = doc["nodes"].as_array().expect("nodes");
        let node = nodes.iter().find(|n| n["name"] == name).expect(name);
        (node["items"].clone(), node["items_so_far"].clone())
    };
    assert_eq!(map("items"), (json!(6), json!(false)), "{json}");
    assert_eq!(map("later"), (json!(3), json!(true)), "{json}");
    // Once the run has ended, the same nodes are green, and the count is all.
    let dot = graph(&dir, &["--run"]);
    assert_eq!(fill(&dot, "items: map"), Some(green), "{dot}");
    assert_eq!(fill(&dot, "items[i]: sh"), Some(green), "{dot}");
    assert!(dot.contains("map later[×6]"), "{dot}");
}

#[test]
fn graph_run_of_a_run_still_going_knows_a_map_a_recorded_task_used_has_ended() {
    // `done` ends, `total` reads it and ends; `hold` waits for a file.
    let script = "let xs = sh(\"seq 0 2\", output: \"lines\")\n\
                  let done = map i in xs { sh(\"echo ${i}\") }\n\
                  let total = sh(\"echo ${len(done)}\")\n\
                  let hold = sh(\"while [ ! -e go ]; do sleep 0.02; done; echo held\") after total\n\
                  { total: total, hold: hold }\n";
    let dir = project("graph-run-used", script);
    let run = run_until_recorded(&dir, &[], 5);
    let dot = graph(&dir, &["--run"]);
    std::fs::write(dir.join("go"), "").unwrap();
    assert!(run.wait_with_output().unwrap().status.success());
    // `total` waited for the map: it has all its items, and is done.
    let green = "#b6e3a8";
    assert!(dot.contains("map done[×3]"), "{dot}");
    assert_eq!(fill(&dot, "done: map"), Some(green), "{dot}");
    assert_eq!(fill(&dot, "done[i]: sh"), Some(green), "{dot}");
}

#[test]
fn graph_run_does_not_take_a_task_skipped_for_another_input_as_the_map_s_end() {
    // `bad` fails while `slow` still has items waiting for a file: `c`,
    // which reads both, is recorded as skipped at once (`--keep-going`).
    let script = "let bad = sh(\"sleep 0.3; exit 1\")\n\
                  let xs = sh(\"seq 0 5\", output: \"lines\")\n\
                  let slow = map i in xs { sh(\"if [ ${i} -ge 3 ]; then while [ ! -e go ]; do sleep 0.02; done; fi; echo ${i}\") }\n\
                  let c = sh(\"echo ${bad} ${len(slow)}\")\n\
                  c\n";
    let dir = project("graph-run-skipped", script);
    let run = run_until_recorded(&dir, &["--keep-going", "-j", "8"], 6);
    let dot = graph(&dir, &["--run"]);
    std::fs::write(dir.join("go"), "").unwrap();
    assert_eq!(run.wait_with_output().unwrap().status.code(), Some(1));
    assert!(dot.contains("map slow[×3…]"), "{dot}");
    assert_eq!(fill(&dot, "slow: map"), Some("#f5e08c"), "{dot}");
}

/// With a run, a map inside another counts the items of all its instances,
/// whether its list is in the text or made by the run.
#[test]
fn graph_run_counts_the_items_of_every_instance_of_an_inner_map() {
    let script = "let fixed = map i in range(3) { map j in range(2) { sh(\"echo ${i}${j}\") } }\n\
                  let grown = map i in range(3) {\n\
                  \x20 let n = sh(\"seq 1 3\", output: \"lines\")\n\
                  \x20 map j in n { sh(\"echo ${i}${j}\") }\n\
                  }\n\
                  { fixed: fixed, grown: grown }\n";
    let dir = project("graph-run-inner", script);
    // The labels of the two maps and of the maps inside them.
    let labels = |dot: &str| -> Vec<String> {
        let mut found: Vec<String> = (dot.match_indices("map "))
            .map(|(at, _)| dot[at..].split(']').next().unwrap_or_default().to_string() + "]")
            .filter(|label| label.starts_with("map fixed[") || label.starts_with("map grown["))
            .collect();
        found.sort();
        found.dedup();
        found
    };
    // Before a run: an item's own count, or `?`.
    let before = [
        "map fixed[×2]",
        "map fixed[×3]",
        "map grown[×3]",
        "map grown[×?]",
    ];
    assert_eq!(labels(&graph(&dir, &[])), before);
    let (code, _, stderr) = flow_in(&dir, &["run", "-q", "main.flow"]);
    assert_eq!(code, Some(0), "{stderr}");
    let after = [
        "map fixed[×3]",
        "map fixed[×6]",
        "map grown[×3]",
        "map grown[×9]",
    ];
    assert_eq!(labels(&graph(&dir, &["--run"])), after);
}

/// A big script is hashed on the store's thread while it compiles: its run
/// records the digest of the text it ran, so `--run` finds it unchanged,
/// and an edit is still noticed.
#[test]
fn a_big_script_is_recorded_with_its_digest() {
    let padding = "# a comment line, to make the script big\n".repeat(2000);
    assert!(
        padding.len() > 64 << 10,
        "past the size hashed while compiling"
    );
    let script = format!("{padding}let a = sh(\"echo a\")\na\n");
    let dir = project("graph-run-big", &script);
    let (code, _, stderr) = flow_in(&dir, &["run", "main.flow"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = flow_in(&dir, &["graph", "main.flow", "--run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("changed since"), "{stderr}");
    std::fs::write(dir.join("main.flow"), format!("{script}# edited\n")).expect("written");
    let (code, _, stderr) = flow_in(&dir, &["graph", "main.flow", "--run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("changed since run 1"), "{stderr}");
}
