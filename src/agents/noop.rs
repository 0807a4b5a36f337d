//! `noop`: does nothing and returns `null`.

use crate::agent::{Agent, AgentError, Call, Inline, Reply, ReplyFuture, Signature};

pub(crate) struct Noop(Signature);

impl Noop {
    pub(crate) fn new() -> Noop {
        Noop(
            Signature::backend("noop", "does nothing and returns null")
                .inline()
                .ignores_context(),
        )
    }
}

impl Agent for Noop {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, _call: Call) -> ReplyFuture {
        Box::pin(async { Ok(Reply::default()) })
    }

    fn call_inline(&self, _call: &Inline<'_>) -> Option<Result<Reply, AgentError>> {
        Some(Ok(Reply::default()))
    }

    fn stub(&self, _call: &Call) -> Result<serde_json::Value, AgentError> {
        Ok(serde_json::Value::Null)
    }
}
