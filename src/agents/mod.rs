//! The built-in agents: one file each, each an [`Agent`](crate::agent::Agent)
//! registered below. Adding an agent is one file and one line here.
//!
//! | module | agent |
//! |---|---|
//! | [`sh`] | shell commands, run by the call's executor |
//! | [`llm`] | OpenAI-compatible `/chat/completions` models |
//! | [`http`] | HTTP services: the context as a JSON body or query |
//! | `echo`, `noop`, `sleep`, `fail` | the small built-ins |
//! | `approve` | waits for a person to approve or deny (through the run's `Approver`) |
//! | [`net`] | what `llm` and `http` share: the one HTTP client (rustls on ring), bounded reads, redaction |

use std::sync::{Arc, LazyLock};

use crate::agent::Registry;

mod approve;
mod echo;
mod fail;
#[warn(missing_docs)]
pub mod http;
#[warn(missing_docs)]
pub mod llm;
#[warn(missing_docs)]
pub mod net;
mod send;
mod noop;
pub mod sh;
mod sleep;

static BUILTIN: LazyLock<Arc<Registry>> = LazyLock::new(|| {
    let mut registry = Registry::empty();
    register_builtins(&mut registry);
    Arc::new(registry)
});

impl Registry {
    /// The built-in agents (`sh`, `llm`, `http`, `echo`, `noop`, `sleep`,
    /// `fail`, `approve`), shared: made once per process. (Defined here, beside the
    /// agents, so that the seam in `agent` depends on none of them.)
    pub fn builtin() -> Arc<Registry> {
        BUILTIN.clone()
    }
}

/// Registers every built-in agent.
fn register_builtins(registry: &mut Registry) {
    registry.register(Arc::new(sh::Sh::new()));
    registry.register(Arc::new(llm::Llm::new()));
    registry.register(Arc::new(http::Http::new()));
    registry.register(Arc::new(echo::Echo::new()));
    registry.register(Arc::new(noop::Noop::new()));
    registry.register(Arc::new(sleep::Sleep::new()));
    registry.register(Arc::new(fail::Fail::new()));
    registry.register(Arc::new(approve::Approve::new()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_are_neither_functions_nor_keywords() {
        for agent in Registry::builtin().iter() {
            let name = &agent.signature().name;
            assert!(
                crate::builtins::function_named(name).is_none(),
                "{name} is both"
            );
            assert!(!crate::syntax::is_keyword(name), "{name} is a keyword");
        }
    }
}
