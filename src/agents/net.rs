//! What the `llm` and `http` backends share: one HTTP client per process (rustls
//! on ring, no OpenSSL), redirects and the addresses refused (`send.rs`),
//! bounded body reads, error wording and secret redaction.

use std::error::Error as _;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::agent::AgentError;

/// How long connecting to a server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The process's HTTP clients, each built on first use: one that refuses
/// names resolving to link-local addresses, one that allows them; each for
/// `http://` URLs or for `https://` ones. None follows redirects (`send.rs`
/// does, choosing the client of each hop). Only an `https` client loads the
/// system's root certificates (a millisecond or two, and hundreds of files
/// read): a run that talks to a local server over plain HTTP never does.
/// TLS is rustls with the ring provider, installed once here (another
/// provider installed first by the host program is kept).
pub fn client(allow_link_local: bool, tls: bool) -> Result<&'static reqwest::Client, AgentError> {
    static CLIENTS: [OnceLock<Result<reqwest::Client, String>>; 4] =
        [const { OnceLock::new() }; 4];
    let build = || {
        // Fails only when a provider is installed already, which is what we want.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = reqwest::Client::builder()
            .user_agent(concat!("flow/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        let builder = if allow_link_local {
            builder
        } else {
            builder.dns_resolver(super::send::Guarded)
        };
        // No roots at all: this client is never given an `https` URL.
        let builder = if tls { builder } else { builder.tls_certs_only([]) };
        builder.build().map_err(|e| describe(&e))
    };
    CLIENTS[usize::from(allow_link_local) * 2 + usize::from(tls)]
        .get_or_init(build)
        .as_ref()
        .map_err(|e| AgentError::new(format!("cannot set up the HTTP client: {e}")))
}

/// A request error in one line, without the URL (which may carry a token in
/// its query): "timed out", "cannot connect: Connection refused (os error 111)".
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_redirect() {
        "stopped following redirects"
    } else if error.is_body() || error.is_decode() {
        "cannot read the response"
    } else if error.is_builder() {
        "cannot build the request"
    } else {
        "request failed"
    };
    // The innermost cause is the informative one ("Connection refused").
    let mut cause = None;
    let mut source = error.source();
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    match cause {
        Some(cause) if !error.is_timeout() => format!("{kind}: {cause}"),
        _ => kind.to_string(),
    }
}

/// A URL as shown in messages: scheme, host, port and path; no user, password or query.
pub fn display_url(url: &reqwest::Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// Why a body could not be read in full.
#[derive(Debug)]
pub enum BodyError {
    /// It is longer than the cap (bytes).
    TooLarge(u64),
    /// The connection failed while reading.
    Read(String),
}

/// Reads a response body, failing as soon as it passes `cap` bytes, so memory
/// stays bounded whatever the server sends.
pub async fn read_capped(mut response: reqwest::Response, cap: u64) -> Result<Vec<u8>, BodyError> {
    if let Some(length) = response.content_length().filter(|&n| n > cap) {
        return Err(BodyError::TooLarge(length));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > cap {
                    return Err(BodyError::TooLarge(cap));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(BodyError::Read(describe(&e))),
        }
    }
}

/// Reads what is there of a body, up to `cap` bytes (for error replies).
pub async fn read_prefix(mut response: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body
}

/// At most `max` bytes of a body as text, cut at a character boundary and
/// ending in `…` when something was left out.
pub fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim_end())
}

pub use crate::value::size;

pub use crate::secret::Secrets;

/// The error with its message and notes redacted.
pub fn redact_error(secrets: &Secrets, mut error: AgentError) -> AgentError {
    secrets.redact_in(&mut error.message);
    for note in &mut error.notes {
        secrets.redact_in(note);
    }
    error
}

/// Reads a `Retry-After` header given in seconds (an HTTP date is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(1e6)))
}

/// A config value that must be a boolean; `false` when absent.
pub fn config_bool(config: &serde_json::Map<String, Value>, key: &str) -> Result<bool, AgentError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(AgentError::new(format!(
            "`{key}` must be true or false, not {}",
            kind_of(other)
        ))),
    }
}

/// A config value that must be a string, if present.
pub fn config_str<'a>(
    config: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, AgentError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(AgentError::new(format!(
            "`{key}` must be a string, not {}",
            kind_of(other)
        ))),
    }
}

/// "a number", "an object": a value's kind, for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The `timeout:` of an `llm` or `http` config: seconds (a duration literal is
/// a number of seconds), greater than zero.
pub(crate) fn config_timeout(
    config: &serde_json::Map<String, Value>,
) -> Result<Option<std::time::Duration>, AgentError> {
    let Some(value) = config.get("timeout") else {
        return Ok(None);
    };
    match crate::value::duration(value) {
        Ok(duration) if !duration.is_zero() => Ok(Some(duration)),
        Ok(_) => Err(AgentError::new("`timeout` must be more than zero")),
        Err(e) => Err(AgentError::new(format!("`timeout` {}", e.message))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_cut_at_char_boundaries() {
        assert_eq!(snippet(b"  short  ", 10), "short");
        let long = "é".repeat(10);
        assert_eq!(snippet(long.as_bytes(), 5), "éé…");
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "-1".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(2048), "2 KiB");
        assert_eq!(size(100), "100 bytes");
    }
}
