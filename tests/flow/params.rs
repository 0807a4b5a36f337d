//! `--param` takes the type of the param's default; `--params-file` sets
//! many (docs/language.md, "Params").

use serde_json::{json, Value};

use crate::common::{flow_command, scratch};

const SCRIPT: &str = "param version = \"1.0\"\nparam n = 1\nparam flag = false\n\
                      param items = [\"a\"]\nparam any = null\n\
                      {version: version, n: n, flag: flag, items: items, any: any}\n";

/// Runs SCRIPT with `args`: exit code, the result (when one was printed), stderr.
fn run(args: &[&str], files: &[(&str, &str)]) -> (Option<i32>, Value, String) {
    let dir = scratch("params");
    std::fs::write(dir.join("p.flow"), SCRIPT).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let out = flow_command()
        .current_dir(&dir)
        .args(["run", "--no-store", "-q", "p.flow"])
        .args(args)
        .output()
        .unwrap();
    let result = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), result, stderr)
}

#[test]
fn a_value_takes_the_type_of_the_default() {
    let (code, result, stderr) = run(
        &[
            "-p",
            "version=1.10",
            "-p",
            "n=2.5",
            "-p",
            "flag=true",
            "--param",
            "items=[\"x\", 2]",
            "-p",
            "any=007",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        result,
        json!({"version": "1.10", "n": 2.5, "flag": true, "items": ["x", 2], "any": "007"})
    );
    // A string param keeps what looks like JSON as text.
    let (_, result, _) = run(&["-p", "version=[1]", "-p", "any=[1]"], &[]);
    assert_eq!(result["version"], json!("[1]"));
    assert_eq!(result["any"], json!([1]));
}

#[test]
fn a_value_of_the_wrong_type_is_refused_at_the_param_line() {
    for (given, says) in [
        ("n=abc", "`abc` is not a number"),
        ("flag=yes", "`yes` is not `true` or `false`"),
        ("items=a,b", "`a,b` is not a JSON list"),
    ] {
        let (code, result, stderr) = run(&["-p", given], &[]);
        assert_eq!(code, Some(2), "{given}: {stderr}");
        assert_eq!(result, Value::Null, "nothing ran");
        assert!(stderr.contains("flow::runtime::bad_param"), "{stderr}");
        assert!(stderr.contains(says), "{given}: {stderr}");
        // Pointing at the `param` declaration.
        let name = given.split('=').next().unwrap();
        assert!(stderr.contains(&format!("param {name} =")), "{stderr}");
    }
}

#[test]
fn an_unknown_name_lists_the_known_ones() {
    let (code, _, stderr) = run(&["-p", "nn=3"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("did you mean `n`?"), "{stderr}");
    assert!(
        stderr.contains("its params are: version, n, flag, items, any"),
        "{stderr}"
    );
}

#[test]
fn a_params_file_sets_many_and_the_command_line_wins() {
    let toml = "version = \"2.0\"\nn = 7\nitems = [\"t\"]\n";
    let (code, result, stderr) = run(
        &["--params-file", "p.toml", "-p", "n=8"],
        &[("p.toml", toml)],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        result,
        json!({"version": "2.0", "n": 8, "flag": false, "items": ["t"], "any": null})
    );
    let (code, result, stderr) = run(
        &["--params-file", "p.json"],
        &[("p.json", r#"{"flag": true, "any": {"k": 1}}"#)],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(result["flag"], json!(true));
    assert_eq!(result["any"], json!({"k": 1}));
    // A file that is missing, not an object, or not TOML: a usage error.
    for (args, says) in [
        (
            vec!["--params-file", "missing.json"],
            "cannot read the params file",
        ),
        (vec!["--params-file", "list.json"], "must hold an object"),
        (vec!["--params-file", "bad.toml"], "is not TOML"),
    ] {
        let (code, _, stderr) = run(&args, &[("list.json", "[1]"), ("bad.toml", "n = ")]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
