//! `fail`: fails with a message.

use serde_json::{Map, Value};

use crate::agent::{Agent, AgentError, Call, ConfigType, Inline, Reply, ReplyFuture, Signature};

pub(crate) struct Fail(Signature);

impl Fail {
    pub(crate) fn new() -> Fail {
        Fail(
            Signature::backend("fail", "fails with a message")
                .positional("message")
                .required("message", ConfigType::Any, "what the failure says")
                .inline(),
        )
    }
}

impl Agent for Fail {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, call: Call) -> ReplyFuture {
        let error = failure(&call.config);
        Box::pin(async move { Err(error) })
    }

    fn call_inline(&self, call: &Inline<'_>) -> Option<Result<Reply, AgentError>> {
        Some(Err(failure(call.config)))
    }

    /// A dry run fails where the script would: `fail` touches nothing.
    fn stub(&self, call: &Call) -> Result<Value, AgentError> {
        Err(failure(&call.config))
    }
}

fn failure(config: &Map<String, Value>) -> AgentError {
    let message = config
        .get("message")
        .map_or_else(|| "failed".to_string(), crate::value::to_text);
    AgentError::new(message)
}
