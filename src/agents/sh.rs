//! `sh`: one call is one shell command, built here as a [`CommandSpec`] and
//! run by the call's [`Executor`](crate::exec::Executor) (child processes of
//! this one by default). The output is the command's stdout in the form
//! its `output:` config declares — text unless it says otherwise, never
//! guessed.

use serde_json::{json, Value};

use crate::agent::{
    Agent, AgentError, Call, ConfigType, Logs, Reply, ReplyFuture, Resource, Signature,
};
use crate::exec::{stdout_text, CommandOutput, CommandSpec};

/// The forms of `output:`.
const OUTPUTS: &[&str] = &["text", "json", "lines", "result"];

pub(crate) struct Sh(Signature);

impl Sh {
    pub(crate) fn new() -> Sh {
        Sh(Signature::backend(
            "sh",
            "runs a command with /bin/sh -c; context on stdin and in the environment",
        )
        .positional("cmd")
        .required(
            "cmd",
            ConfigType::Command,
            "the command line; `${…}` values are passed by reference, never parsed",
        )
        .optional("cwd", ConfigType::Text, "the working folder")
        .optional("env", ConfigType::Object, "extra environment variables")
        .defaulted(
            "output",
            ConfigType::Text,
            json!("text"),
            "what stdout becomes: \"text\" (without its final newline), \"json\" (parsed), \
             \"lines\" (a list), \"result\" ({stdout, stderr, code}, any exit status)",
        )
        .one_of(OUTPUTS)
        .optional(
            "ok_codes",
            ConfigType::List,
            "the exit statuses that count as success (default [0]; `grep`: [0, 1])",
        )
        .placed()
        .resource(Resource::Cpu)
        .capability("sh")
        .effects(true))
    }
}

impl Agent for Sh {
    fn signature(&self) -> &Signature {
        &self.0
    }

    /// As a tool: the variables its command reads are its arguments (each
    /// reaches the command as an environment variable).
    fn tool_parameters(&self, config: &serde_json::Map<String, Value>) -> Value {
        let cmd = config.get("cmd").and_then(Value::as_str).unwrap_or("");
        let names = variables_read(cmd);
        let properties: serde_json::Map<String, Value> = names
            .iter()
            .map(|n| (n.clone(), serde_json::json!({"type": "string"})))
            .collect();
        serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": names,
            "additionalProperties": false,
        })
    }

    fn call(&self, call: Call) -> ReplyFuture {
        Box::pin(async move {
            let output_form = output_form(&call)?;
            let mut spec = command_spec(&call)?;
            spec.ok_codes = match output_form {
                // Every exit status is an answer; a signal or a timeout is not.
                "result" => (1..=255).collect(),
                _ => ok_codes(&call)?,
            };
            match call.executor.run(&spec, &call.cancel).await {
                Ok(mut output) => {
                    let logs = Logs::from_bytes(&output.stdout, output.stderr_tail.as_bytes());
                    let notes = std::mem::take(&mut output.notes);
                    Ok(Reply {
                        logs,
                        notes,
                        ..Reply::value(shaped(output_form, output)?)
                    })
                }
                Err(error) => {
                    let mut failure = AgentError::new(error.to_string());
                    if let Some(tail) = error.stderr_tail().filter(|t| !t.trim().is_empty()) {
                        failure = failure.note(format!("stderr:\n{}", note_tail(tail)));
                    }
                    failure.exit_code = error.exit_code();
                    failure.logs = Logs::from_bytes(
                        error.stdout_tail().unwrap_or_default().as_bytes(),
                        error.stderr_tail().unwrap_or_default().as_bytes(),
                    );
                    Err(failure)
                }
            }
        })
    }

    /// A dry run's value: the shape `output:` declares, nothing run.
    fn stub(&self, call: &Call) -> Result<Value, AgentError> {
        Ok(match output_form(call)? {
            "json" => Value::Null,
            "lines" => json!([]),
            "result" => json!({"stdout": "", "stderr": "", "code": 0}),
            _ => crate::agent::placeholder(call),
        })
    }
}

/// The call's `output:`, checked (a literal one is checked before running too).
fn output_form(call: &Call) -> Result<&'static str, AgentError> {
    match call.config.get("output") {
        None | Some(Value::Null) => Ok("text"),
        Some(Value::String(form)) => OUTPUTS
            .iter()
            .find(|o| **o == form.as_str())
            .copied()
            .ok_or_else(|| {
                AgentError::new(format!(
                    "`output` must be \"text\", \"json\", \"lines\" or \"result\", not {}",
                    crate::value::preview(&Value::String(form.clone()), 40)
                ))
            }),
        Some(other) => Err(AgentError::new(format!(
            "`output` must be a string, not {}",
            crate::value::type_name(other)
        ))),
    }
}

/// The call's `ok_codes`: exit statuses from 0 to 255.
fn ok_codes(call: &Call) -> Result<Vec<i32>, AgentError> {
    let bad = |what: String| {
        AgentError::new(format!(
            "`ok_codes` must be a list of exit statuses (integers from 0 to 255), {what}"
        ))
    };
    match call.config.get("ok_codes") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_i64()
                    .filter(|c| (0..=255).contains(c))
                    .map(|c| c as i32)
                    .ok_or_else(|| bad(format!("not {}", crate::value::preview(item, 20))))
            })
            .collect(),
        Some(other) => Err(bad(format!(
            "not {}",
            crate::value::type_name(other)
        ))),
    }
}

/// The command's output in the form the call declared.
fn shaped(form: &str, output: CommandOutput) -> Result<Value, AgentError> {
    match form {
        "json" => {
            let parsed = serde_json::from_slice(&output.stdout);
            parsed.map_err(|e| {
                let text = String::from_utf8_lossy(&output.stdout);
                AgentError::new(format!("the command's output is not JSON: {e}")).note(format!(
                    "`output: \"json\"` parses stdout, which began: {}",
                    crate::value::preview(&Value::String(text.trim_end().to_string()), 200)
                ))
            })
        }
        "lines" => {
            // Each line without its `\n` (or `\r\n`); a final newline ends
            // the last line, it does not start an empty one.
            let text = String::from_utf8_lossy(&output.stdout);
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let lines = text.split('\n').map(|line| {
                Value::String(line.strip_suffix('\r').unwrap_or(line).to_string())
            });
            Ok(Value::Array(if output.stdout.is_empty() {
                Vec::new()
            } else {
                lines.collect()
            }))
        }
        "result" => Ok(json!({
            "stdout": stdout_text(output.stdout),
            "stderr": output.stderr_tail,
            "code": output.code,
        })),
        _ => Ok(Value::String(stdout_text(output.stdout))),
    }
}

/// How much of a failed command's stderr its diagnostic shows (`flow log`
/// shows all that was kept).
const NOTE_TAIL: usize = 8 << 10;

/// The end of a stderr tail for a diagnostic's note: at most [`NOTE_TAIL`]
/// bytes, from the start of a line when one starts there.
fn note_tail(tail: &str) -> &str {
    let tail = tail.trim_end();
    if tail.len() <= NOTE_TAIL {
        return tail;
    }
    let mut start = tail.len() - NOTE_TAIL;
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    match tail[start..].find('\n') {
        Some(newline) if start + newline + 1 < tail.len() => &tail[start + newline + 1..],
        _ => &tail[start..],
    }
}

/// The command a call asks for. A command written with `${…}` arrives as
/// [`Call::command`], its values passed in the variables it refers to (set
/// last, so nothing else can change them); any other `cmd` must be a string.
fn command_spec(call: &Call) -> Result<CommandSpec, AgentError> {
    let text = |key: &str| call.config.get(key).map(crate::value::to_text);
    let mut env: Vec<(String, String)> = match call.config.get("env") {
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| (k.clone(), crate::value::to_text(v)))
            .collect(),
        _ => Vec::new(),
    };
    let cmd = match (&call.command, call.config.get("cmd")) {
        (Some(command), _) => {
            env.extend(command.variables());
            command.text.clone()
        }
        (None, Some(Value::String(cmd))) => cmd.clone(),
        (None, Some(other)) => {
            return Err(AgentError::new(format!(
                "`cmd` must be a string, not {}",
                crate::value::type_name(other)
            )))
        }
        (None, None) => return Err(AgentError::new("`sh` needs a command")),
    };
    Ok(CommandSpec {
        cmd,
        cwd: text("cwd").map(Into::into),
        env,
        instructions: call.instructions.clone(),
        context: call.context.clone(),
        timeout: call.timeout,
        task: call.task.clone(),
        resources: crate::exec::Resources::from_config(&call.config).map_err(AgentError::new)?,
        ..CommandSpec::default()
    })
}

/// The variables a command reads (`$name`, `${name…}`), in order, without
/// the environment every process has and Flow's own.
fn variables_read(cmd: &str) -> Vec<String> {
    const AMBIENT: &[&str] = &["HOME", "PATH", "PWD", "USER", "SHELL", "TMPDIR", "LANG", "IFS"];
    let bytes = cmd.as_bytes();
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'{') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let name = &cmd[start..i];
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if valid
            && !AMBIENT.contains(&name)
            && !name.starts_with("FLOW_")
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}
