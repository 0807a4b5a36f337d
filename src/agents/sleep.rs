//! `sleep`: waits for a duration, then returns `null`.

use std::time::Duration;

use crate::agent::{Agent, AgentError, Call, ConfigType, Reply, ReplyFuture, Signature};

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
                ),
        )
    }
}

impl Agent for Sleep {
    fn signature(&self) -> &Signature {
        &self.0
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
}
