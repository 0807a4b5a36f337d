//! The built-in agents: one file each, each an [`Agent`](crate::agent::Agent)
//! registered below. Adding an agent is one file and one line here.
//!
//! | module | agent |
//! |---|---|
//! | [`sh`] | shell commands, run by the call's executor |
//! | [`llm`] | OpenAI-compatible `/chat/completions` models |
//! | [`http`] | HTTP services: the context as a JSON body or query |
//! | `echo`, `noop`, `sleep`, `fail` | the small built-ins |
//! | [`net`] | what `llm` and `http` share: the one HTTP client (rustls on ring), bounded reads, redaction |

use std::sync::Arc;

use crate::agent::Registry;

mod echo;
mod fail;
#[warn(missing_docs)]
pub mod http;
#[warn(missing_docs)]
pub mod llm;
#[warn(missing_docs)]
pub mod net;
mod noop;
pub mod sh;
mod sleep;

/// Registers every built-in agent.
pub(crate) fn register_builtins(registry: &mut Registry) {
    registry.register(Arc::new(sh::Sh::new()));
    registry.register(Arc::new(llm::Llm::new()));
    registry.register(Arc::new(http::Http::new()));
    registry.register(Arc::new(echo::Echo::new()));
    registry.register(Arc::new(noop::Noop::new()));
    registry.register(Arc::new(sleep::Sleep::new()));
    registry.register(Arc::new(fail::Fail::new()));
}
