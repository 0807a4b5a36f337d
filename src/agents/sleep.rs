//! `sleep`: waits for a duration, then returns `null`. A zero duration
//! returns at once, on the scheduler: a million `sleep(0s)` cost what a
//! million `noop()` do; another waits on a bare timer of the scheduler's
//! (`Agent::wait_only`), not as a task of its own.

use std::time::Duration;

use crate::agent::{Agent, AgentError, Call, ConfigType, Inline, Reply, ReplyFuture, Signature};

pub(crate) struct Sleep(Signature);

impl Sleep {
    pub(crate) fn new() -> Sleep {
        Sleep(
            Signature::backend("sleep", "waits for a duration, then returns null")
                .positional("duration")
                .required(
                    "duration",
                    ConfigType::Duration,
                    "how long: `2s`, or seconds",
                )
                // Waiting is its point: `… after pause` is never unneeded.
                .checkpoint(),
        )
    }
}

impl Agent for Sleep {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call_inline(&self, call: &Inline<'_>) -> Option<Result<Reply, AgentError>> {
        let zero = match call.config.get("duration").map(crate::value::duration) {
            Some(Ok(d)) => d.is_zero(),
            Some(Err(_)) => false,
            None => true,
        };
        zero.then(|| Ok(Reply::default()))
    }

    fn wait_only(&self, call: &Inline<'_>) -> Option<Duration> {
        match call.config.get("duration").map(crate::value::duration) {
            Some(Ok(d)) => Some(d),
            _ => None,
        }
    }

    fn call(&self, call: Call) -> ReplyFuture {
        Box::pin(async move {
            let duration = match call.config.get("duration").map(crate::value::duration) {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    return Err(AgentError::new(format!("bad duration: {}", e.message)))
                }
                None => Duration::ZERO,
            };
            tokio::select! {
                _ = tokio::time::sleep(duration) => Ok(Reply::default()),
                _ = call.cancel.cancelled() => Err(AgentError::new("cancelled")),
            }
        })
    }

    /// A dry run does not wait: `null` at once.
    fn stub(&self, _call: &Call) -> Result<serde_json::Value, AgentError> {
        Ok(serde_json::Value::Null)
    }
}
