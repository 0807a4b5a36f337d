//! Host agents: Rust functions a host program registers by name, called from
//! scripts like declared agents. [`HostAgent`] is the easy trait (closures
//! implement it); the registry holds each as an [`Agent`] through [`Host`].

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::{Agent, AgentError, AgentFuture, Call, Reply, ReplyFuture, Signature};

/// An agent implemented by the host program. Closures
/// `Fn(Call) -> impl Future<Output = Result<Value, AgentError>>` implement it;
/// so can types that hold state:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// use flow::{AgentFuture, Call, HostAgent};
/// use serde_json::json;
///
/// /// Counts its calls; the count is its output.
/// struct Counter(Arc<AtomicU64>);
///
/// impl HostAgent for Counter {
///     fn call(&self, _call: Call) -> AgentFuture {
///         let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
///         Box::pin(async move { Ok(json!(n)) })
///     }
/// }
///
/// let engine = flow::Engine::new().agent("Counter", Counter(Arc::default()));
/// assert_eq!(engine.agent_names().collect::<Vec<_>>(), ["Counter"]);
/// ```
///
/// The future should return soon after `call.cancel` fires; a future still
/// running then is dropped.
pub trait HostAgent: Send + Sync {
    /// Runs one call: the script's `Name("instructions", key: value)`.
    fn call(&self, call: Call) -> AgentFuture;
}

impl<F, Fut> HostAgent for F
where
    F: Fn(Call) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, AgentError>> + Send + 'static,
{
    fn call(&self, call: Call) -> AgentFuture {
        Box::pin(self(call))
    }
}

/// A [`HostAgent`] as an [`Agent`]: a ready agent under the name it was
/// registered with, its calls bounded by an explicit `--jobs` only.
pub(crate) struct Host {
    signature: Signature,
    agent: Arc<dyn HostAgent>,
}

impl Host {
    pub(crate) fn new(name: &str, agent: Arc<dyn HostAgent>) -> Host {
        Host {
            signature: Signature::agent(name, "an agent registered by the host program"),
            agent,
        }
    }
}

impl Agent for Host {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn call(&self, call: Call) -> ReplyFuture {
        // A host future that ignores `call.cancel` is dropped, so a cancelled
        // run never waits on it.
        let cancel = call.cancel.clone();
        let work = self.agent.call(call);
        Box::pin(async move {
            tokio::select! {
                result = work => result.map(Reply::value),
                _ = cancel.cancelled() => Err(AgentError::new("cancelled")),
            }
        })
    }
}
