//! The `http` backend: one call is one request to a service. The context goes
//! as a JSON body (as the query string for GET, HEAD and DELETE); the output is
//! the response's JSON, else its text. A non-2xx status fails the task with the
//! status and the start of the body. Header values are treated as secrets:
//! they never appear in what the backend reports.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{Map, Value};

use super::net::{self, Secrets};
use super::send::{send, Outgoing, ALLOW_LINK_LOCAL};
use crate::agent::{Agent, AgentError, Call, ConfigType, Reply, ReplyFuture, Resource, Signature};

/// Limits of the `http` backend. [`HttpOptions::default`] is what scripts get.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Limit on one request, from sending it to reading the whole response.
    pub timeout: Duration,
    /// The largest response body read; a longer one fails the call.
    pub max_body: u64,
    /// How much of an error response's body the diagnostic shows.
    pub snippet: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(120),
            max_body: 16 << 20,
            snippet: 1000,
        }
    }
}

/// Runs one `http` call with the default options (its `timeout:` config, a
/// number of seconds or a duration, bounds the request).
pub async fn run(call: &Call) -> Result<Value, AgentError> {
    let mut options = HttpOptions::default();
    if let Some(timeout) = net::config_timeout(&call.config)? {
        options.timeout = timeout;
    }
    request(call, &options).await
}

/// Runs one `http` call: builds the request from `call.config`, sends it and
/// reads the response. Stops when `call.cancel` fires.
pub async fn request(call: &Call, options: &HttpOptions) -> Result<Value, AgentError> {
    let mut secrets = Secrets::default();
    if let Some(Value::Object(headers)) = call.config.get("headers") {
        for value in headers.values() {
            secrets.add(&crate::value::to_text(value));
        }
    }
    let work = async {
        tokio::select! {
            result = exchange(call, options) => result,
            _ = call.cancel.cancelled() => Err(AgentError::new("cancelled")),
        }
    };
    match work.await {
        Ok(value) => Ok(value),
        Err(error) => Err(net::redact_error(&secrets, error)),
    }
}

async fn exchange(call: &Call, options: &HttpOptions) -> Result<Value, AgentError> {
    let Some(url) = net::config_str(&call.config, "url")? else {
        return Err(AgentError::new("`http` needs a `url`"));
    };
    let url = reqwest::Url::parse(url).map_err(|e| {
        AgentError::new(format!("`url` is not a URL ({e})"))
            .note("write a full URL, such as http://127.0.0.1:8080/path")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AgentError::new(format!(
            "`url` must be http or https, not {}",
            url.scheme()
        )));
    }
    let method = match net::config_str(&call.config, "method")? {
        None => Method::POST,
        Some(m) => Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| AgentError::new(format!("`{m}` is not an HTTP method")))?,
    };
    let headers = headers(call.config.get("headers"))?;
    let shown = format!("{method} {}", net::display_url(&url));
    let mut payload = call.context.clone();
    if let Some(instructions) = &call.instructions {
        payload
            .entry("instructions")
            .or_insert_with(|| Value::String(instructions.clone()));
    }
    let mut url = url;
    let mut json = None;
    if matches!(method, Method::GET | Method::HEAD | Method::DELETE) {
        let pairs = query(&payload);
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
    } else {
        json = Some(serde_json::to_vec(&Value::Object(payload)).unwrap_or_default());
    }
    let outgoing = Outgoing {
        method,
        url,
        headers,
        json,
        timeout: options.timeout,
        allow_link_local: net::config_bool(&call.config, ALLOW_LINK_LOCAL)?,
    };
    let response = send(&outgoing)
        .await
        .map_err(|e| AgentError::new(format!("{shown}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        let length = response.content_length();
        let body = net::read_prefix(response, options.snippet + 4).await;
        let mut error = AgentError::new(format!("{shown} answered {status}"));
        let mut text = net::snippet(&body, options.snippet);
        if let Some(length) = length.filter(|&n| n > options.snippet as u64) {
            text.push_str(&format!(" ({length} bytes in all)"));
        }
        if !text.is_empty() {
            error = error.note(format!("response body:\n{text}"));
        }
        return Err(error);
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let body = net::read_capped(response, options.max_body)
        .await
        .map_err(|e| match e {
            net::BodyError::TooLarge(_) => AgentError::new(format!(
                "the response of {shown} is larger than {}",
                net::size(options.max_body)
            )),
            net::BodyError::Read(e) => AgentError::new(format!("{shown}: {e}")),
        })?;
    Ok(decode(&body, content_type.as_deref()))
}

/// The `headers` config: an object whose values are strings (numbers and
/// booleans are written as text).
fn headers(config: Option<&Value>) -> Result<HeaderMap, AgentError> {
    let mut map = HeaderMap::new();
    let fields = match config {
        None | Some(Value::Null) => return Ok(map),
        Some(Value::Object(fields)) => fields,
        Some(other) => {
            return Err(AgentError::new(format!(
                "`headers` must be an object, not {}",
                net::kind_of(other)
            )))
        }
    };
    for (name, value) in fields {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| AgentError::new(format!("`{name}` is not a valid header name")))?;
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            other => {
                return Err(AgentError::new(format!(
                    "header `{name}` must be a string, not {}",
                    net::kind_of(other)
                )))
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            AgentError::new(format!(
                "the value of header `{name}` holds characters a header cannot"
            ))
        })?;
        value.set_sensitive(true);
        map.append(header, value);
    }
    Ok(map)
}

/// The context as query pairs: strings as they are, other values as JSON.
fn query(payload: &Map<String, Value>) -> Vec<(String, String)> {
    payload
        .iter()
        .map(|(k, v)| (k.clone(), crate::value::to_text(v)))
        .collect()
}

/// A response body as a value: its JSON unless the server declared another
/// type (`text/plain`, `text/html`), else the text; an empty body is `null`.
fn decode(body: &[u8], content_type: Option<&str>) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    let may_be_json = content_type.is_none_or(|t| {
        t.contains("json") || t.starts_with("application/octet-stream") || t.is_empty()
    });
    if may_be_json {
        if let Ok(value) = serde_json::from_slice(body) {
            return value;
        }
    }
    Value::String(String::from_utf8_lossy(body).into_owned())
}

/// The `http` agent.
pub(crate) struct Http(Signature);

impl Http {
    pub(crate) fn new() -> Http {
        Http(
            Signature::backend(
                "http",
                "an HTTP service; the context is the JSON body (the query for GET)",
            )
            .positional("url")
            .required("url", ConfigType::Text, "the service's address")
            .defaulted(
                "method",
                ConfigType::Text,
                Value::from("POST"),
                "the HTTP method",
            )
            .optional(
                "headers",
                ConfigType::Object,
                "request headers (their values are kept secret)",
            )
            .optional(
                "timeout",
                ConfigType::Duration,
                "limit on one request (default 120s)",
            )
            .transport()
            .optional(
                ALLOW_LINK_LOCAL,
                ConfigType::Bool,
                "may reach link-local addresses (169.254.0.0/16, fe80::/10; default false)",
            )
            .transport()
            .resource(Resource::Remote)
            .capability("http")
            .effects(true),
        )
    }
}

impl Agent for Http {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn call(&self, call: Call) -> ReplyFuture {
        Box::pin(async move { run(&call).await.map(Reply::value) })
    }

    /// A dry run's value: `null` (a service's reply has no declared shape).
    fn stub(&self, _call: &Call) -> Result<Value, AgentError> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn headers_must_be_strings_with_valid_names() {
        let ok = headers(Some(&json!({"X-Count": 3, "Authorization": "Bearer abc"}))).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(format!("{ok:?}").contains("Sensitive"));
        for (bad, expected) in [
            (json!("text"), "`headers` must be an object"),
            (json!({"bad name": "x"}), "not a valid header name"),
            (json!({"X": {"a": 1}}), "must be a string, not an object"),
            (json!({"X": "line\nbreak"}), "holds characters"),
        ] {
            let error = headers(Some(&bad)).unwrap_err();
            assert!(error.message.contains(expected), "{}", error.message);
        }
    }

    #[test]
    fn bodies_decode_to_json_else_text() {
        let json_type = Some("application/json; charset=utf-8");
        assert_eq!(decode(b"{\"a\": 1}", json_type), json!({"a": 1}));
        assert_eq!(decode(b"[1, 2]", None), json!([1, 2]));
        assert_eq!(decode(b"42", Some("text/plain")), json!("42"));
        assert_eq!(decode(b"hello", None), json!("hello"));
        assert_eq!(decode(b"{broken", json_type), json!("{broken"));
        assert_eq!(decode(b"  ", None), Value::Null);
    }

    #[test]
    fn query_pairs_are_text() {
        let payload = json!({"q": "tides", "n": 3, "tags": ["a"]});
        assert_eq!(
            query(payload.as_object().unwrap()),
            vec![
                ("q".to_string(), "tides".to_string()),
                ("n".to_string(), "3".to_string()),
                ("tags".to_string(), "[\"a\"]".to_string())
            ]
        );
    }
}
