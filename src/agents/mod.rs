//! Agent backends: the code that runs one call of an agent and returns its output.
//!
//! | module | backend |
//! |---|---|
//! | [`llm`] | OpenAI-compatible `/chat/completions` models |
//! | [`http`] | HTTP services: the context as a JSON body or query |
//! | [`net`] | what `llm` and `http` share: the one HTTP client (rustls on ring), bounded reads, redaction |

#[warn(missing_docs)]
pub mod http;
#[warn(missing_docs)]
pub mod llm;
#[warn(missing_docs)]
pub mod net;
