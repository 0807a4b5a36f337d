//! A script works from any working folder: its own folder and the launch
//! folder as built-ins and as variables of its commands, and reads relative
//! to its folder (docs/language.md, "Paths and files").

use serde_json::{json, Value};

use crate::common::{flow_command, scratch};

#[test]
fn a_script_reads_relative_to_its_folder_from_anywhere() {
    let project = scratch("paths-project");
    let elsewhere = scratch("paths-elsewhere");
    std::fs::create_dir_all(project.join("data")).unwrap();
    std::fs::write(project.join("data/b.csv"), "2\n").unwrap();
    std::fs::write(project.join("data/a.csv"), "1\n").unwrap();
    std::fs::write(project.join("data/notes.txt"), "hello\n").unwrap();
    std::fs::write(project.join("config.json"), r#"{"threshold": 0.5}"#).unwrap();
    std::fs::write(
        project.join("s.flow"),
        r#"{
          script: script_dir(),
          launch: launch_dir(),
          csvs: glob("data/*.csv"),
          notes: read_file("data/notes.txt"),
          config: read_json("config.json"),
          seen: sh("printf '%s|%s' \"$FLOW_SCRIPT_DIR\" \"$FLOW_LAUNCH_DIR\""),
          counted: map f in glob("data/*.csv") { sh("cat \"$FLOW_SCRIPT_DIR/$f\"", f: f) },
        }
        "#,
    )
    .unwrap();
    let out = flow_command()
        .current_dir(&elsewhere)
        .args(["run", "--no-store", "-q"])
        .arg(project.join("s.flow"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let project = std::fs::canonicalize(&project).unwrap();
    let elsewhere = std::fs::canonicalize(&elsewhere).unwrap();
    let (p, e) = (project.to_str().unwrap(), elsewhere.to_str().unwrap());
    assert_eq!(v["script"], json!(p));
    assert_eq!(v["launch"], json!(e));
    assert_eq!(v["csvs"], json!(["data/a.csv", "data/b.csv"]));
    assert_eq!(v["notes"], json!("hello\n"));
    assert_eq!(v["config"], json!({"threshold": 0.5}));
    assert_eq!(v["seen"], json!(format!("{p}|{e}")));
    assert_eq!(v["counted"], json!(["1", "2"]));
}

#[test]
fn a_missing_file_is_a_clear_error_and_files_can_be_denied() {
    let dir = scratch("paths-missing");
    std::fs::write(dir.join("s.flow"), "read_file(\"nope.txt\")\n").unwrap();
    let out = flow_command()
        .current_dir(&dir)
        .args(["run", "--no-store", "-q", "s.flow"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(stderr.contains("nope.txt"), "{stderr}");
    let out = flow_command()
        .current_dir(&dir)
        .args(["check", "--deny", "files", "s.flow"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("capability_denied"), "{stderr}");
}
