//! The `llm` backend: one call is one request to an OpenAI-compatible
//! `/chat/completions` endpoint (OpenAI, vLLM, llama.cpp, Ollama, LM Studio).
//!
//! The messages are the `system` config, the history the call continues
//! (`messages:`, see `conversation.rs`) and the call's user message: its
//! instructions followed by its context as pretty JSON. The output is the
//! reply text, or the parsed JSON with `json: true` (or with `schema: {…}`, a
//! JSON Schema the reply must follow, checked here: a reply that breaks it is
//! sent back with its violations, `repair: N` times, see `schema.rs`). With
//! `history: true` the output is `{reply, messages}`, the history extended.
//! 429 and 5xx replies are retried with backoff (honouring `Retry-After`);
//! other errors fail at once with the server's message. The API key is read
//! from the environment at call time and redacted from everything the backend
//! reports.

mod conversation;
mod reply;
mod schema;
mod stub;
mod tools;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{json, Map, Value};

use self::conversation::Conversation;
use self::reply::Exchanged;
use self::schema::Schema;
use super::net::{self, Secrets};
use super::send::{send, Outgoing, ALLOW_LINK_LOCAL};
use crate::agent::{
    Agent, AgentError, Call, ConfigType, Estimate, Inline, Price, Reply, ReplyFuture, Resource,
    Signature,
};

/// How many times a reply that breaks the `schema` (or is not JSON) is sent
/// back for a corrected one, when the agent does not say (`repair:`).
pub const DEFAULT_REPAIR: u32 = 2;

/// The endpoint used when neither the config nor the environment names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// How the `llm` backend talks to its server. [`LlmOptions::default`] is what
/// scripts get; tests and host programs may tighten it.
#[derive(Clone, Debug)]
pub struct LlmOptions {
    /// Limit on one request, from sending it to reading the whole reply.
    pub timeout: Duration,
    /// Requests made at most for one call (the first plus retries of 429/5xx).
    pub max_attempts: u32,
    /// The first wait between attempts when the server gives no `Retry-After`;
    /// it doubles on each retry.
    pub backoff: Duration,
    /// The longest wait between attempts, whatever `Retry-After` says.
    pub max_wait: Duration,
    /// The largest reply body read.
    pub max_body: u64,
}

impl Default for LlmOptions {
    fn default() -> Self {
        LlmOptions {
            timeout: Duration::from_secs(300),
            max_attempts: 4,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
            max_body: 16 << 20,
        }
    }
}

/// A model call's reply: the output value and the token usage the server reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The reply text, or its JSON with `json: true`; with `history: true`,
    /// `{reply, messages}`.
    pub value: Value,
    /// `{prompt_tokens, completion_tokens, total_tokens}` when the server
    /// said, summed over the requests of the call (repairs included).
    pub usage: Option<Value>,
    /// How many times a reply was sent back for a corrected one before one
    /// was accepted (see `repair:`).
    pub repairs: u32,
}

/// The config of one `llm(...)` agent, checked.
#[derive(Clone, Debug)]
struct Config {
    model: Option<String>,
    system: Option<String>,
    base_url: String,
    /// Where `base_url` came from, for messages: the config key, a
    /// variable, or `None` for the default.
    base_url_from: Option<&'static str>,
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    json: bool,
    /// A JSON Schema the reply must follow (implies `json`).
    schema: Option<Value>,
    /// How many times a refused reply is sent back for a corrected one.
    repair: u32,
    /// The history calls continue when they give none (`messages:`).
    messages: Option<Vec<Value>>,
    /// Return `{reply, messages}`: the reply and the history extended.
    history: bool,
    /// How many replies asking for tools are answered (`max_tool_rounds:`).
    max_tool_rounds: u32,
}

impl Config {
    fn read(config: &Map<String, Value>) -> Result<Config, AgentError> {
        let model = match net::config_str(config, "model")? {
            Some(m) => Some(m.to_string()),
            None => env_nonempty("FLOW_LLM_MODEL"),
        };
        let from_env = |name: &'static str| env_nonempty(name).map(|url| (url, Some(name)));
        let (base_url, base_url_from) = match net::config_str(config, "base_url")? {
            Some(url) => (url.to_string(), Some("`base_url`")),
            None => from_env("FLOW_LLM_BASE_URL")
                .or_else(|| from_env("OPENAI_BASE_URL"))
                .unwrap_or_else(|| (DEFAULT_BASE_URL.to_string(), None)),
        };
        let temperature = match config.get("temperature") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(t) if t >= 0.0 => Some(t),
                _ => return Err(AgentError::new("`temperature` must not be negative")),
            },
            Some(other) => {
                return Err(AgentError::new(format!(
                    "`temperature` must be a number, not {}",
                    net::kind_of(other)
                )))
            }
        };
        let max_tokens = match config.get("max_tokens") {
            None | Some(Value::Null) => None,
            Some(value) => Some(whole_number(value).ok_or_else(|| {
                AgentError::new(format!(
                    "`max_tokens` must be a positive whole number, not {}",
                    crate::value::to_text(value)
                ))
            })?),
        };
        let json = net::config_bool(config, "json")?;
        let repair = match config.get("repair") {
            None | Some(Value::Null) => DEFAULT_REPAIR,
            Some(value) => value
                .as_u64()
                .or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
                .map(|n| n.min(100) as u32)
                .ok_or_else(|| {
                    AgentError::new(format!(
                        "`repair` must be a whole number, zero or more, not {}",
                        crate::value::to_text(value)
                    ))
                    .note("`repair: N` sends a reply that breaks the schema back to the model up to N times; `repair: 0` fails at once")
                })?,
        };
        let messages = match config.get(conversation::MESSAGES) {
            None | Some(Value::Null) => None,
            Some(given) => Some(conversation::read_messages(given)?),
        };
        let schema = match config.get("schema") {
            None | Some(Value::Null) => None,
            Some(schema @ Value::Object(_)) => Some(schema.clone()),
            Some(other) => {
                return Err(AgentError::new(format!(
                    "`schema` must be an object (a JSON Schema), not {}",
                    net::kind_of(other)
                )))
            }
        };
        Ok(Config {
            json: json || schema.is_some(),
            schema,
            model,
            system: net::config_str(config, "system")?.map(str::to_string),
            base_url,
            base_url_from,
            temperature,
            max_tokens,
            repair,
            messages,
            history: net::config_bool(config, "history")?,
            max_tool_rounds: tools::max_rounds(config)?,
        })
    }
}

fn whole_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 1e15)
                .map(|f| f as u64)
        }),
        _ => None,
    }
    .filter(|&n| n > 0)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The user message: the instructions, then the context as pretty JSON.
pub fn user_message(instructions: Option<&str>, context: &Map<String, Value>) -> String {
    let mut text = instructions.unwrap_or("").trim_end().to_string();
    if !context.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        let pretty = serde_json::to_string_pretty(context).unwrap_or_default();
        text.push_str(&pretty);
    }
    text
}

/// The `/chat/completions` request body, serialized straight from its
/// parts (in this order), with no copy of the messages.
#[derive(serde::Serialize)]
struct Body<'a> {
    messages: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Value>,
}

/// The `/chat/completions` request body for these messages.
fn request_body<'a>(config: &'a Config, messages: &'a [Value], cap: Option<u64>) -> Body<'a> {
    // A budget's cap (`call.max_tokens`) lowers the config's.
    let max_tokens = match (config.max_tokens, cap) {
        (Some(own), Some(cap)) => Some(own.min(cap)),
        (own, cap) => own.or(cap),
    };
    Body {
        messages,
        model: config.model.as_deref(),
        temperature: config.temperature,
        max_tokens,
        response_format: response_format(config),
        tools: None,
    }
}

/// The `response_format` of a request: the `schema`, or JSON mode.
fn response_format(config: &Config) -> Option<Value> {
    if let Some(schema) = &config.schema {
        Some(json!({
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema},
        }))
    } else if config.json {
        Some(json!({"type": "json_object"}))
    } else {
        None
    }
}

/// Runs one `llm` call with the default options (its `timeout:` config, a
/// number of seconds or a duration, bounds each request).
pub async fn run(call: &Call) -> Result<Completion, AgentError> {
    let mut options = LlmOptions::default();
    if let Some(timeout) = net::config_timeout(&call.config)? {
        options.timeout = timeout;
    }
    complete(call, &options).await
}

/// Runs one `llm` call: builds the request from `call.config`, sends it
/// (retrying 429 and 5xx), and reads the reply. Stops when `call.cancel` fires.
pub async fn complete(call: &Call, options: &LlmOptions) -> Result<Completion, AgentError> {
    let key_env = match net::config_str(&call.config, "api_key_env")? {
        Some(name) => name.to_string(),
        None => "OPENAI_API_KEY".to_string(),
    };
    let key = env_nonempty(&key_env);
    let mut secrets = Secrets::default();
    if let Some(key) = &key {
        secrets.add(key);
    }
    let work = async {
        let config = Config::read(&call.config)?;
        let schema = config.schema.as_ref().map(Schema::compile).transpose()?;
        let conversation = Conversation::new(&config, call)?;
        let talk = converse(&config, schema.as_ref(), &conversation, call, key.as_deref(), options);
        let result = tokio::select! {
            result = talk => result,
            _ = call.cancel.cancelled() => Err(AgentError::new("cancelled")),
        };
        let mut completion = result?;
        if let Some(redacted) = secrets.redact_value(&completion.value) {
            completion.value = redacted;
        }
        Ok(completion)
    };
    work.await.map_err(|e| net::redact_error(&secrets, e))
}

/// The requests of one call: the first, then (while its reply is refused
/// and `repair` allows) the conversation again with the refused reply and a
/// user message listing its violations. Usage is summed over them all.
async fn converse(
    config: &Config,
    schema: Option<&Schema>,
    conversation: &Conversation,
    call: &Call,
    key: Option<&str>,
    options: &LlmOptions,
) -> Result<Completion, AgentError> {
    let mut messages = conversation.request();
    let mut usage = None;
    let mut repairs = 0;
    let mut tool_rounds = 0;
    loop {
        let mut body = request_body(config, &messages, call.max_tokens);
        body.tools = call.tools.as_ref().map(tools::definitions);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut reply = exchange(config, body, call, key, options).await.map_err(|e| AgentError {
            usage: usage.clone(),
            ..e
        })?;
        match (&usage, &reply.usage) {
            // The first request's usage is whole numbers already: the total.
            (None, _) => usage = reply.usage.take(),
            (_, Some(more)) => crate::agent::add_usage(&mut usage, more),
            (_, None) => {}
        }
        if !reply.tool_calls.is_empty() {
            // The model asks for tools: run them, give it their answers, ask again.
            let Some(tools) = &call.tools else {
                let error = AgentError::new("the model asked for a tool, but this agent has none")
                    .note("give the agent `tools: [Name, …]`, or use a model that does not call tools");
                return Err(AgentError { usage, ..error });
            };
            if tool_rounds >= config.max_tool_rounds {
                let error = AgentError::new(format!(
                    "the model still asked for tools after {tool_rounds} rounds of tool calls"
                ))
                .note("raise `max_tool_rounds`, or tell the model when to stop");
                return Err(AgentError { usage, ..error });
            }
            tool_rounds += 1;
            messages.push(reply.message);
            messages.extend(tools::answer(tools, &reply.tool_calls).await);
            continue;
        }
        let refusal = match schema::check(&reply.text, config.json, schema) {
            Ok(value) => {
                let value = if config.history {
                    json!({"reply": value, "messages": conversation.extended(&reply.text)})
                } else {
                    value
                };
                return Ok(Completion {
                    value,
                    usage,
                    repairs,
                });
            }
            Err(refusal) => refusal,
        };
        if repairs >= config.repair {
            let error = schema::failure(&refusal, &reply.text, repairs, config.repair, reply.cut_off);
            return Err(AgentError { usage, ..error });
        }
        repairs += 1;
        messages.push(json!({"role": "assistant", "content": reply.text}));
        let request = schema::repair_request(&refusal, schema.is_some());
        messages.push(json!({"role": "user", "content": request}));
    }
}

/// One request (retrying 429 and 5xx answers) and its reply's text.
async fn exchange(
    config: &Config,
    body: Vec<u8>,
    call: &Call,
    key: Option<&str>,
    options: &LlmOptions,
) -> Result<Exchanged, AgentError> {
    let endpoint = endpoint(&config.base_url, config.base_url_from)?;
    let shown = &endpoint.shown;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| AgentError::new("the API key holds characters a header cannot"))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let outgoing = Outgoing {
        method: reqwest::Method::POST,
        url: endpoint.url.clone(),
        headers,
        json: Some(body),
        timeout: options.timeout,
        allow_link_local: net::config_bool(&call.config, ALLOW_LINK_LOCAL)?,
    };
    let max_attempts = options.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = send(&outgoing).await.map_err(|e| {
            let error = AgentError::new(format!("model server {shown}: {e}"));
            match config.base_url_from {
                Some(_) => error,
                None => error.note(
                    "no server was named, so this is OpenAI's: set `base_url`, or \
                     FLOW_LLM_BASE_URL, to use another (http://127.0.0.1:8080/v1)",
                ),
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return reply::read(response, options, shown).await;
        }
        let retryable = status.as_u16() == 429 || status.is_server_error();
        let wait = net::retry_after(response.headers());
        let message = server_message(&net::read_prefix(response, 64 << 10).await);
        if retryable && attempt < max_attempts {
            let backoff = options
                .backoff
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
            tokio::time::sleep(wait.unwrap_or(backoff).min(options.max_wait)).await;
            continue;
        }
        let mut error = AgentError::new(format!("model server answered {status}: {message}"));
        if attempt > 1 {
            error = error.note(format!("gave up after {attempt} requests"));
        }
        if status.as_u16() == 401 && key.is_none() {
            error = error.note(format!(
                "no API key was sent: set {} (or `api_key_env`)",
                config_key_env_hint(call)
            ));
        }
        return Err(error);
    }
}

/// Where a base URL's requests go, and how messages show it.
struct Endpoint {
    base_url: String,
    url: reqwest::Url,
    shown: String,
}

/// The endpoint of a base URL. The last one is kept (a run's calls mostly
/// share theirs), so that a call parses no URL.
fn endpoint(base_url: &str, from: Option<&str>) -> Result<Arc<Endpoint>, AgentError> {
    static LAST: Mutex<Option<Arc<Endpoint>>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = last.as_ref().filter(|e| e.base_url == base_url) {
        return Ok(known.clone());
    }
    let base = base_url.trim_end_matches('/');
    let url = reqwest::Url::parse(&format!("{base}/chat/completions")).map_err(|e| {
        AgentError::new(format!(
            "{} is not a URL: `{base_url}` ({e})",
            from.unwrap_or("the default base URL")
        ))
            .note("set `base_url`, or FLOW_LLM_BASE_URL, to a server's API root, such as http://127.0.0.1:8080/v1")
    })?;
    let endpoint = Arc::new(Endpoint {
        base_url: base_url.to_string(),
        shown: net::display_url(&url),
        url,
    });
    *last = Some(endpoint.clone());
    Ok(endpoint)
}

fn config_key_env_hint(call: &Call) -> String {
    call.config
        .get("api_key_env")
        .and_then(Value::as_str)
        .unwrap_or("OPENAI_API_KEY")
        .to_string()
}

/// The message of an error reply: `error.message` of a JSON body, else the body's start.
fn server_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
    });
    match message {
        Some(m) => net::snippet(m.as_bytes(), 1000),
        None if body.iter().all(u8::is_ascii_whitespace) => "(empty body)".to_string(),
        None => net::snippet(body, 500),
    }
}

/// Parses a JSON reply, also when a model wrapped it in a Markdown code fence.
pub fn parse_json_reply(text: &str) -> Result<Value, serde_json::Error> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(unfenced.trim())
}

/// Tokens a server's chat template may add around each message (the
/// markers of its role and its end: 4 to 6 in the templates in use), and
/// once to a request (the reply's start, and a default system prompt some
/// templates add when a request has none: SmolLM2's makes a 6-byte message
/// a prompt of 33 tokens).
const MESSAGE_TOKENS: u64 = 8;
const REQUEST_TOKENS: u64 = 32;

/// A bound on what a call may spend, for a budget: the prompt as the bytes
/// of the request's messages (and of its `response_format`), since no
/// tokenizer makes more tokens of a text than it has bytes, plus what a
/// chat template may add ([`MESSAGE_TOKENS`], [`REQUEST_TOKENS`]); the
/// completion as `max_tokens`; the `price`.
pub fn estimate(call: &Inline<'_>) -> Result<Estimate, AgentError> {
    let price = price(call.config)?;
    let config = Config::read(call.config)?;
    let conversation = Conversation::of(&config, call.instructions, call.context)?;
    // The request's messages (`Conversation::request`), measured in place.
    let history = conversation.history.iter().map(|message| match &message["content"] {
        Value::String(text) => text.len(),
        other => other.to_string().len(),
    });
    let sizes = (conversation.system.iter().map(String::len))
        .chain(history)
        .chain(conversation.user.iter().map(String::len));
    let mut prompt = REQUEST_TOKENS;
    for bytes in sizes {
        prompt += MESSAGE_TOKENS + bytes as u64;
    }
    if let Some(format) = response_format(&config) {
        prompt += format.to_string().len() as u64;
    }
    Ok(Estimate {
        prompt_tokens: prompt,
        max_completion_tokens: config.max_tokens,
        price,
    })
}

/// The `price` config: dollars per million `input` and `output` tokens.
fn price(config: &Map<String, Value>) -> Result<Option<Price>, AgentError> {
    let bad = || {
        AgentError::new("`price` must be `{input: N, output: N}`: dollars per million tokens")
            .note("as in `price: {input: 0.15, output: 0.60}`")
    };
    let fields = match config.get("price") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err(bad()),
    };
    if fields.keys().any(|k| k != "input" && k != "output") {
        return Err(bad());
    }
    let rate = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_f64)
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    match (rate("input"), rate("output")) {
        (Some(input), Some(output)) => Ok(Some(Price { input, output })),
        _ => Err(bad()),
    }
}

/// The `llm` agent.
pub(crate) struct Llm(Signature);

impl Llm {
    pub(crate) fn new() -> Llm {
        Llm(
            Signature::backend("llm", "an OpenAI-compatible /chat/completions model")
                .optional("model", ConfigType::Text, "the model's name (else `FLOW_LLM_MODEL`)")
                .optional("system", ConfigType::Text, "the system message")
                .optional(
                    "base_url",
                    ConfigType::Text,
                    "the API's address (else `FLOW_LLM_BASE_URL`, else `OPENAI_BASE_URL`, else OpenAI's)",
                )
                .needs("http")
                .transport()
                .optional(
                    ALLOW_LINK_LOCAL,
                    ConfigType::Bool,
                    "may reach link-local addresses (169.254.0.0/16, fe80::/10; default false)",
                )
                .transport()
                .defaulted(
                    "api_key_env",
                    ConfigType::Text,
                    json!("OPENAI_API_KEY"),
                    "the variable holding the API key",
                )
                .needs("env")
                .transport()
                .secret()
                .optional("temperature", ConfigType::Number, "sampling temperature")
                .optional("max_tokens", ConfigType::Integer, "the longest reply, in tokens")
                .optional("json", ConfigType::Bool, "ask for JSON and parse the reply")
                .optional(
                    "schema",
                    ConfigType::Object,
                    "a JSON Schema the reply must follow (checked; implies `json`)",
                )
                .output_schema()
                .optional(
                    "inputs",
                    ConfigType::Object,
                    "a JSON Schema for each named argument; not sent, checked before running",
                )
                .input_schemas()
                .optional(
                    "tools",
                    ConfigType::Agents,
                    "declared agents the model may call, each call a task of its own",
                )
                .defaulted(
                    "max_tool_rounds",
                    ConfigType::Integer,
                    json!(tools::DEFAULT_MAX_TOOL_ROUNDS),
                    "how many replies asking for tools are answered before the call fails",
                )
                .defaulted(
                    "repair",
                    ConfigType::Integer,
                    json!(DEFAULT_REPAIR),
                    "how many times a reply that breaks the schema, or is not JSON, is sent back for a corrected one (0: fail at once)",
                )
                .optional(
                    "messages",
                    ConfigType::List,
                    "the history to continue: a list of {role, content}; a call's `messages:` argument wins",
                )
                .optional(
                    "history",
                    ConfigType::Bool,
                    "return {reply, messages}: the reply and the history extended, for the next call",
                )
                .optional(
                    "price",
                    ConfigType::Object,
                    "dollars per million tokens, `{input: 0.15, output: 0.60}` (for `--budget usd=`)",
                )
                .transport()
                .defaulted(
                    "timeout",
                    ConfigType::Duration,
                    json!("300s"),
                    "limit on one request",
                )
                .transport()
                .resource(Resource::Remote)
                .capability("llm")
                .spends_tokens(),
        )
    }
}

impl Agent for Llm {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn estimate(&self, call: &Inline<'_>) -> Result<Option<Estimate>, AgentError> {
        estimate(call).map(Some)
    }

    fn call(&self, call: Call) -> ReplyFuture {
        Box::pin(async move {
            run(&call).await.map(|completion| Reply {
                value: completion.value,
                usage: completion.usage,
                notes: match completion.repairs {
                    0 => Vec::new(),
                    n => vec![schema::repaired(n)],
                },
                logs: None,
            })
        })
    }

    /// A dry run's value: with `schema`, a minimal value that follows it;
    /// with `json`, `{}`; else the placeholder text. With `history: true`,
    /// `{reply, messages}` as a real call gives. The config and `messages`
    /// are checked as a call checks them.
    fn stub(&self, call: &Call) -> Result<Value, AgentError> {
        let config = Config::read(&call.config)?;
        let conversation = Conversation::new(&config, call)?;
        let value = match &config.schema {
            Some(shape) => {
                Schema::compile(shape)?;
                stub::minimal(shape)
            }
            None if config.json => json!({}),
            None => crate::agent::placeholder(call),
        };
        Ok(if config.history {
            let text = match &value {
                Value::String(text) if !config.json => text.clone(),
                other => other.to_string(),
            };
            json!({"reply": value, "messages": conversation.extended(&text)})
        } else {
            value
        })
    }
}

#[cfg(test)]
mod tests;
