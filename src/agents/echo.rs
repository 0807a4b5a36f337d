//! `echo`: returns its context (and its instructions, when given).

use serde_json::Value;

use crate::agent::{Agent, Call, Inline, Reply, ReplyFuture, Signature};

pub(crate) struct Echo(Signature);

impl Echo {
    pub(crate) fn new() -> Echo {
        Echo(Signature::backend("echo", "returns its context").inline())
    }
}

impl Agent for Echo {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, call: Call) -> ReplyFuture {
        let reply = echo(call.instructions.as_deref(), &call.context);
        Box::pin(async move { Ok(reply) })
    }

    fn call_inline(&self, call: &Inline<'_>) -> Option<Result<Reply, crate::agent::AgentError>> {
        Some(Ok(echo(call.instructions, call.context)))
    }

    /// A dry run's value is the real one: `echo` touches nothing.
    fn stub(&self, call: &Call) -> Result<Value, crate::agent::AgentError> {
        Ok(echo(call.instructions.as_deref(), &call.context).value)
    }
}

fn echo(instructions: Option<&str>, context: &serde_json::Map<String, Value>) -> Reply {
    let mut context = context.clone();
    if let Some(instructions) = instructions {
        context.insert("instructions".into(), Value::String(instructions.into()));
    }
    Reply::value(Value::Object(context))
}
