//! `sh`: one call is one shell command, built here as a [`CommandSpec`] and
//! run by the call's [`Executor`](crate::exec::Executor) (child processes of
//! this one by default). The output is the command's stdout: its JSON when it
//! parses, else its text.

use serde_json::Value;

use crate::agent::{Agent, AgentError, Call, ConfigType, Reply, ReplyFuture, Resource, Signature};
use crate::exec::{stdout_value, CommandSpec};

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
        .resource(Resource::Cpu)
        .capability("sh")
        .effects(true))
    }
}

impl Agent for Sh {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, call: Call) -> ReplyFuture {
        Box::pin(async move {
            let spec = command_spec(&call)?;
            match call.executor.run(&spec, &call.cancel).await {
                Ok(output) => Ok(Reply::value(stdout_value(output.stdout))),
                Err(error) => {
                    let mut failure = AgentError::new(error.to_string());
                    if let Some(tail) = error.stderr_tail().filter(|t| !t.trim().is_empty()) {
                        failure = failure.note(format!("stderr:\n{}", tail.trim_end()));
                    }
                    Err(failure)
                }
            }
        })
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
        ..CommandSpec::default()
    })
}
