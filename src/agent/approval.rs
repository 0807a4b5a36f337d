//! Human approval: the seam between the `approve` agent and whoever can
//! reach a person. The agent knows nothing of terminals or run stores; the
//! run hands it an [`Approver`] (`RunOptions::approver`, then
//! [`Call::approver`](super::Call::approver)), and the command line gives one
//! that asks on the terminal, one that waits for `flow approve` / `flow deny`
//! through the run store, or both at once ([`FirstOf`]: the first answer wins).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::AgentError;

/// What a person is asked.
#[derive(Clone, Debug)]
pub struct Question {
    /// The asking task's id (`deploy`, `items[2].ok`): how `flow approve` names it.
    pub task: String,
    /// The question: `Deploy to production?`.
    pub text: String,
    /// What the person should see before answering: the call's named
    /// arguments (`approve("…", plan: plan)`).
    pub details: Map<String, Value>,
    /// The call's `timeout`, when it has one (to say how long the question waits).
    pub timeout: Option<Duration>,
}

/// A person's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Approved, or denied.
    pub approved: bool,
    /// Who answered: a user name when one is known, else where they answered.
    pub by: String,
    /// Where they answered: `terminal`, `cli` (`flow approve` in another shell), …
    pub via: String,
    /// Why, when they said.
    pub reason: Option<String>,
}

impl Decision {
    /// The value an approved call returns:
    /// `{"approved": true, "by": "ada", "via": "cli", "reason": null}`.
    pub fn to_value(&self) -> Value {
        json!({
            "approved": self.approved,
            "by": self.by,
            "via": self.via,
            "reason": self.reason,
        })
    }

    /// The failure of a denied call: `denied: not today`.
    pub fn denial(&self) -> AgentError {
        let message = match &self.reason {
            Some(reason) => format!("denied: {reason}"),
            None => "denied".to_string(),
        };
        AgentError::new(message).note(format!("denied{}", self.who()))
    }

    /// Who answered and where, for messages: ` by ada from another shell
    /// (`flow deny`)`, ` at the terminal`.
    pub fn who(&self) -> String {
        let by = if self.by == self.via {
            String::new()
        } else {
            format!(" by {}", self.by)
        };
        let place = match self.via.as_str() {
            "cli" if self.approved => " from another shell (`flow approve`)".to_string(),
            "cli" => " from another shell (`flow deny`)".to_string(),
            "terminal" => " at the terminal".to_string(),
            other => format!(" ({other})"),
        };
        by + &place
    }
}

/// Why an asking stops without an answer of its own: the call was cancelled
/// (its timeout, Ctrl-C, a failure elsewhere), or another approver got the
/// answer first ([`Withdrawal::answered`]).
#[derive(Clone, Debug, Default)]
pub struct Withdrawal {
    token: CancellationToken,
    answer: Arc<OnceLock<Decision>>,
}

impl Withdrawal {
    /// Withdraws when `token` is cancelled.
    pub fn new(token: CancellationToken) -> Withdrawal {
        Withdrawal {
            token,
            answer: Arc::default(),
        }
    }

    /// Resolves once the question is withdrawn.
    pub async fn withdrawn(&self) {
        self.token.cancelled().await
    }

    /// Whether the question is withdrawn.
    pub fn is_withdrawn(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The answer another approver got, when that is why it is withdrawn.
    pub fn answered(&self) -> Option<&Decision> {
        self.answer.get()
    }

    /// The slot [`Withdrawal::answered`] reads (for a thread that asks).
    pub fn answer_slot(&self) -> Arc<OnceLock<Decision>> {
        self.answer.clone()
    }

    /// A withdrawal of one of several approvers: withdrawn with this one,
    /// or when another answers ([`FirstOf`]).
    fn child(&self, answer: &Arc<OnceLock<Decision>>) -> Withdrawal {
        Withdrawal {
            token: self.token.child_token(),
            answer: answer.clone(),
        }
    }
}

/// The future an [`Approver`] returns.
pub type AskFuture<'a> = Pin<Box<dyn Future<Output = Result<Decision, AgentError>> + Send + 'a>>;

/// Reaches a person and brings back their answer.
pub trait Approver: Send + Sync {
    /// Asks `question` and resolves with the answer, or with why none can
    /// come (no terminal, the terminal closed, the store failed). Once
    /// `withdrawal` fires it should end soon, with an error, leaving a record
    /// of why if it keeps one.
    fn ask<'a>(&'a self, question: &'a Question, withdrawal: &'a Withdrawal) -> AskFuture<'a>;
}

/// An approver that can reach no one: every question fails at once with its message.
#[derive(Clone, Debug)]
pub struct Nobody(pub AgentError);

impl Approver for Nobody {
    fn ask<'a>(&'a self, _: &'a Question, _: &'a Withdrawal) -> AskFuture<'a> {
        let error = self.0.clone();
        Box::pin(async move { Err(error) })
    }
}

/// Several approvers asked at once; the first answer wins and the others are
/// withdrawn (they learn the answer from [`Withdrawal::answered`]). Fails
/// only when every one of them fails.
pub struct FirstOf(pub Vec<Arc<dyn Approver>>);

/// How long the approvers that lost get to withdraw (close a prompt, mark a row).
const WITHDRAW_GRACE: Duration = Duration::from_secs(2);

impl Approver for FirstOf {
    fn ask<'a>(&'a self, question: &'a Question, withdrawal: &'a Withdrawal) -> AskFuture<'a> {
        Box::pin(async move {
            let answer: Arc<OnceLock<Decision>> = Arc::default();
            let children: Vec<Withdrawal> =
                self.0.iter().map(|_| withdrawal.child(&answer)).collect();
            let mut asking: Vec<Option<AskFuture<'_>>> = (self.0.iter())
                .zip(&children)
                .map(|(approver, child)| Some(approver.ask(question, child)))
                .collect();
            let mut errors: Vec<AgentError> = Vec::new();
            let first = std::future::poll_fn(|cx| {
                for slot in asking.iter_mut() {
                    let Some(future) = slot else { continue };
                    if let Poll::Ready(result) = future.as_mut().poll(cx) {
                        *slot = None;
                        match result {
                            Ok(decision) => return Poll::Ready(Some(decision)),
                            Err(error) => errors.push(error),
                        }
                    }
                }
                if asking.iter().all(Option::is_none) {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                }
            })
            .await;
            let Some(decision) = first else {
                // Every one failed: the first failure that is not a withdrawal says why.
                return Err(errors
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| AgentError::new("no approver could ask the question")));
            };
            let _ = answer.set(decision.clone());
            for child in &children {
                child.token.cancel();
            }
            // Let the others withdraw (close the prompt, mark the row).
            let rest = std::future::poll_fn(|cx| {
                for slot in asking.iter_mut() {
                    if let Some(future) = slot {
                        if future.as_mut().poll(cx).is_ready() {
                            *slot = None;
                        }
                    }
                }
                if asking.iter().all(Option::is_none) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            let _ = tokio::time::timeout(WITHDRAW_GRACE, rest).await;
            Ok(decision)
        })
    }
}

/// The error of an approver whose question was withdrawn.
pub fn withdrawn() -> AgentError {
    AgentError::new("the question was withdrawn")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers after `wait` (or never), and remembers how it was withdrawn.
    struct After {
        wait: Option<Duration>,
        decision: Decision,
        saw: Mutex<Option<Option<Decision>>>,
    }

    impl Approver for After {
        fn ask<'a>(&'a self, _: &'a Question, w: &'a Withdrawal) -> AskFuture<'a> {
            Box::pin(async move {
                let wait = async {
                    match self.wait {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = wait => Ok(self.decision.clone()),
                    () = w.withdrawn() => {
                        *self.saw.lock().unwrap() = Some(w.answered().cloned());
                        Err(withdrawn())
                    }
                }
            })
        }
    }

    fn decision(by: &str, approved: bool) -> Decision {
        Decision {
            approved,
            by: by.into(),
            via: by.into(),
            reason: None,
        }
    }

    fn question() -> Question {
        Question {
            task: "deploy".into(),
            text: "Deploy?".into(),
            details: Map::new(),
            timeout: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_answer_wins_and_the_others_learn_it() {
        let fast = Arc::new(After {
            wait: Some(Duration::from_secs(1)),
            decision: decision("cli", false),
            saw: Mutex::default(),
        });
        let slow = Arc::new(After {
            wait: None,
            decision: decision("terminal", true),
            saw: Mutex::default(),
        });
        let both = FirstOf(vec![slow.clone(), fast.clone()]);
        let got = both.ask(&question(), &Withdrawal::default()).await.unwrap();
        assert_eq!(got, decision("cli", false));
        assert_eq!(
            *slow.saw.lock().unwrap(),
            Some(Some(decision("cli", false)))
        );
        assert_eq!(*fast.saw.lock().unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn one_that_cannot_ask_leaves_the_question_to_the_others() {
        let nobody = Arc::new(Nobody(AgentError::new("no terminal")));
        let slow = Arc::new(After {
            wait: Some(Duration::from_secs(5)),
            decision: decision("cli", true),
            saw: Mutex::default(),
        });
        let got = FirstOf(vec![nobody.clone(), slow])
            .ask(&question(), &Withdrawal::default())
            .await;
        assert_eq!(got.unwrap().by, "cli");
        let alone = FirstOf(vec![nobody])
            .ask(&question(), &Withdrawal::default())
            .await;
        assert_eq!(alone.unwrap_err().message, "no terminal");
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_the_call_withdraws_every_approver() {
        let token = CancellationToken::new();
        let never = Arc::new(After {
            wait: None,
            decision: decision("terminal", true),
            saw: Mutex::default(),
        });
        let both = FirstOf(vec![never.clone()]);
        let withdrawal = Withdrawal::new(token.clone());
        let asked = question();
        let asking = both.ask(&asked, &withdrawal);
        token.cancel();
        assert!(asking.await.is_err());
        assert_eq!(*never.saw.lock().unwrap(), Some(None));
    }

    #[test]
    fn a_denial_says_why_and_who() {
        let denied = Decision {
            reason: Some("not today".into()),
            ..decision("ada", false)
        };
        let error = denied.denial();
        assert_eq!(error.message, "denied: not today");
        assert_eq!(error.notes, ["denied (ada)"]);
        let at_cli = Decision {
            via: "cli".into(),
            ..decision("cli", false)
        };
        assert_eq!(
            at_cli.denial().notes,
            ["denied from another shell (`flow deny`)"]
        );
        let at_terminal = Decision {
            via: "terminal".into(),
            ..decision("ada", false)
        };
        assert_eq!(
            at_terminal.denial().notes,
            ["denied by ada at the terminal"]
        );
        assert_eq!(decision("x", false).denial().message, "denied");
    }
}
