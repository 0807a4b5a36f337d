//! `approve`: waits for a person to approve or deny. The question is the
//! positional argument, the named arguments are the details shown with it:
//! `approve("Deploy to production?", plan: plan) timeout 1h`. Approved, the
//! call returns `{"approved": true, "by", "via", "reason"}`; denied, it fails
//! with `denied: <reason>` (so a `try … else` can handle it). Who is asked is
//! the run's business: the call's [`Approver`](crate::agent::Approver) (the
//! terminal, `flow approve` through the run store, or both).

use crate::agent::approval::{Question, Withdrawal};
use crate::agent::{Agent, AgentError, Call, ConfigType, Reply, ReplyFuture, Signature};

pub(crate) struct Approve(Signature);

impl Approve {
    pub(crate) fn new() -> Approve {
        Approve(
            Signature::backend("approve", "waits for a person to approve or deny")
                .positional("question")
                .required(
                    "question",
                    ConfigType::Text,
                    "what the person is asked; the named arguments are details shown with it",
                )
                .capability("approve")
                .checkpoint(),
        )
    }
}

impl Agent for Approve {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, call: Call) -> ReplyFuture {
        Box::pin(async move {
            let text = match call.config.get("question") {
                Some(serde_json::Value::String(text)) if !text.trim().is_empty() => text.clone(),
                _ => {
                    return Err(AgentError::new(
                        "`approve` needs a question: `approve(\"Deploy to production?\")`",
                    ))
                }
            };
            let Some(approver) = call.approver.clone() else {
                return Err(AgentError::new("`approve` has no one to ask: this run has no approver")
                    .note("a program that embeds Flow gives one with `RunOptions::approver`"));
            };
            let question = Question {
                task: call.task.clone(),
                text,
                details: call.context.clone(),
                timeout: call.timeout,
            };
            let withdrawal = Withdrawal::new(call.cancel.clone());
            let decision = approver.ask(&question, &withdrawal).await?;
            if decision.approved {
                Ok(Reply::value(decision.to_value()))
            } else {
                Err(decision.denial())
            }
        })
    }
}
