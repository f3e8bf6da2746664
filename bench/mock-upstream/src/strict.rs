//! Strict mode: the checks the real APIs make before they answer, so that a request ax
//! translated wrongly fails here as it would in production.
//!
//! Every rule names its source (the provider's SDK source at the commit read, its API
//! reference, or the exact error text the API returns as quoted in public bug reports),
//! and answers with that provider's status and error body. The SDK sources were read at
//! openai/openai-python e43b422 (2026-08-21), anthropics/anthropic-sdk-python 009b035
//! (2026-08-07) and googleapis/python-genai 6680718 (2026-08-21).
//!
//! Strict is the default ([`crate::MockConfig::lenient`] is `false`); the benchmark runs
//! lenient, where none of this runs and the body is never parsed into a tree.
//!
//! Known top-level fields are listed per provider. ax's same-format fast path forwards
//! every field a client sent, so these lists hold every field the real API accepts,
//! newer ones included; a field missing here would fail a correct request.

use std::collections::HashSet;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::util::{Format, response, to_json};

/// A refusal: HTTP status and the provider's error body.
pub(crate) struct Refusal {
    status: u16,
    body: Value,
}

impl Refusal {
    /// The HTTP response carrying this refusal.
    pub(crate) fn into_response(self, format: Format) -> Response {
        let mut r = response(
            self.status,
            "application/json",
            Body::from(to_json(&self.body)),
        );
        if format == Format::Anthropic {
            r.headers_mut().insert(
                "request-id",
                axum::http::HeaderValue::from_static("req_mock"),
            );
        }
        r
    }

    /// The body, for tests inside the crate.
    #[cfg(test)]
    fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// OpenAI's error object: `{"error": {message, type, param, code}}`
/// (openai-python `types/shared/error_object.py`).
pub(crate) fn openai(
    status: u16,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Refusal {
    Refusal {
        status,
        body: json!({"error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }}),
    }
}

/// Anthropic's error: `{"type": "error", "error": {type, message}, "request_id"}`
/// (anthropic-sdk-python `types/shared/error_response.py`, `invalid_request_error.py`,
/// `authentication_error.py`).
fn anthropic(status: u16, kind: &str, message: &str) -> Refusal {
    Refusal {
        status,
        body: json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_mock",
        }),
    }
}

/// A 400 `invalid_request_error` from Anthropic.
fn anthropic_400(message: &str) -> Refusal {
    anthropic(400, "invalid_request_error", message)
}

/// Gemini's google.rpc error: `{"error": {code, message, status}}` (python-genai
/// `errors.py` reads `error.code`, `error.message`, `error.status`).
fn gemini(status: u16, rpc: &str, message: &str) -> Refusal {
    Refusal {
        status,
        body: json!({"error": {"code": status, "message": message, "status": rpc}}),
    }
}

/// A 400 `INVALID_ARGUMENT` from Gemini.
fn gemini_400(message: &str) -> Refusal {
    gemini(400, "INVALID_ARGUMENT", message)
}

// ------------------------------------------------------------------ credentials

/// The key each API expects; `None` accepts any non-empty key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    pub openai: Option<String>,
    pub anthropic: Option<String>,
    pub gemini: Option<String>,
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    header(h, "authorization").and_then(|v| v.strip_prefix("Bearer "))
}

fn matches(expected: Option<&String>, got: &str) -> bool {
    !got.is_empty() && expected.is_none_or(|k| k == got)
}

/// OpenAI: `Authorization: Bearer <key>` (openai-python `_client.py` `auth_headers`
/// returns `{"Authorization": f"Bearer {api_key}"}`); a missing or wrong key is a 401
/// (`_client.py` `_make_status_error`: 401 → `AuthenticationError`) with code
/// `invalid_api_key`.
pub(crate) fn openai_auth(h: &HeaderMap, keys: &Keys) -> Option<Refusal> {
    match bearer(h) {
        None => Some(openai(
            401,
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            None,
            None,
        )),
        Some(k) if !matches(keys.openai.as_ref(), k) => Some(openai(
            401,
            "Incorrect API key provided. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            None,
            Some("invalid_api_key"),
        )),
        Some(_) => None,
    }
}

/// The `anthropic-version` values the API accepts: the versioning page
/// (docs.claude.com/en/api/versioning) lists `2023-06-01` and `2023-01-01`; the
/// official SDK the tests pin (anthropic-sdk-python 2.12.0, `_constants.py`
/// `ANTHROPIC_API_VERSION`) sends `2026-10-21`, which ax now forwards as the client
/// sent it.
const ANTHROPIC_VERSIONS: [&str; 3] = ["2026-10-21", "2023-06-01", "2023-01-01"];

/// Anthropic: `x-api-key: <key>` (anthropic-sdk-python `_client.py` `_api_key_auth`) or
/// `Authorization: Bearer <token>` (`_bearer_auth`, for auth tokens); a missing key is a
/// 401 `authentication_error` "x-api-key header is required", a wrong one "invalid
/// x-api-key". `anthropic-version` is required: without it a 400
/// `invalid_request_error` "anthropic-version: header is required"; an unknown value is a
/// 400 "anthropic-version: \"X\" is not a valid version" (error texts as returned by the
/// API, quoted in envoyproxy/ai-gateway#1909 and decolua/9router#2357).
pub(crate) fn anthropic_auth(h: &HeaderMap, keys: &Keys, strict: bool) -> Option<Refusal> {
    let key = header(h, "x-api-key").or_else(|| bearer(h));
    let Some(key) = key else {
        return Some(anthropic(
            401,
            "authentication_error",
            "x-api-key header is required",
        ));
    };
    if strict && !matches(keys.anthropic.as_ref(), key) {
        return Some(anthropic(401, "authentication_error", "invalid x-api-key"));
    }
    if !h.contains_key("anthropic-version") {
        return Some(anthropic_400("anthropic-version: header is required"));
    }
    let version = header(h, "anthropic-version").unwrap_or("");
    if strict && !ANTHROPIC_VERSIONS.contains(&version) {
        return Some(anthropic_400(&format!(
            "anthropic-version: \"{version}\" is not a valid version"
        )));
    }
    None
}

/// Gemini: `x-goog-api-key: <key>` (python-genai `_api_client.py` sets
/// `x-goog-api-key`) or `?key=<key>`. No key: 403 `PERMISSION_DENIED` "Method doesn't
/// allow unregistered callers…"; a wrong key: 400 `INVALID_ARGUMENT` "API key not valid.
/// Please pass a valid API key." with an `ErrorInfo` detail, reason `API_KEY_INVALID`
/// (the API's answer as quoted in google-gemini/gemini-cli#4690 and
/// cequence-io/openai-scala-client#109).
pub(crate) fn gemini_auth(h: &HeaderMap, query: Option<&str>, keys: &Keys) -> Option<Refusal> {
    let query_key = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("key=")));
    let Some(key) = header(h, "x-goog-api-key").or(query_key) else {
        return Some(gemini(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established \
             identity). Please use API Key or other form of API consumer identity to call \
             this API.",
        ));
    };
    if matches(keys.gemini.as_ref(), key) {
        return None;
    }
    let message = "API key not valid. Please pass a valid API key.";
    Some(Refusal {
        status: 400,
        body: json!({"error": {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message,
                },
            ],
        }}),
    })
}

// ---------------------------------------------------------------------- bodies

fn object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn array_of<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Every top-level field of `POST /v1/chat/completions`: openai-python
/// `types/chat/completion_create_params.py` (`CompletionCreateParamsBase` and the
/// streaming variants' `stream`).
const OPENAI_CHAT_FIELDS: &[&str] = &[
    "messages",
    "model",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "moderation",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

/// `POST /v1/embeddings`: openai-python `types/embedding_create_params.py`.
const OPENAI_EMBEDDING_FIELDS: &[&str] =
    &["input", "model", "dimensions", "encoding_format", "user"];

/// An unknown top-level field: 400 `invalid_request_error` "Unrecognized request
/// argument supplied: X" with `param` and `code` null (the API's answer as quoted in
/// coroot/coroot#698 and davidmigloz/langchain_dart#712).
fn openai_unknown(m: &Map<String, Value>, known: &[&str]) -> Option<Refusal> {
    let k = m.keys().find(|k| !known.contains(&k.as_str()))?;
    Some(openai(
        400,
        &format!("Unrecognized request argument supplied: {k}"),
        None,
        None,
    ))
}

/// Strict checks of `POST /v1/chat/completions`; `None` lets the request through to the
/// ordinary handler (which checks `model`, `messages` and roles).
pub(crate) fn openai_chat(body: &[u8]) -> Option<Refusal> {
    let m = object(body)?;
    if let Some(r) = openai_unknown(&m, OPENAI_CHAT_FIELDS) {
        return Some(r);
    }
    // `stream_options` "Only set this when you set `stream: true`"
    // (completion_create_params.py, `stream_options`); the API refuses it otherwise.
    let streaming = m.get("stream").and_then(Value::as_bool) == Some(true);
    if m.get("stream_options").is_some_and(|v| !v.is_null()) && !streaming {
        return Some(openai(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
            None,
        ));
    }
    if let Some(r) = openai_reasoning(&m) {
        return Some(r);
    }
    openai_tool_messages(array_of(&Value::Object(m), "messages"))
}

/// Model families that do not reason: Chat Completions refuses `reasoning_effort` for
/// them, as an unknown argument ("Unrecognized request argument supplied:
/// reasoning_effort" for `gpt-4.1-nano`, PsycherosAI/Psycheros#41; "reasoning_effort
/// \"medium\" was provided, but model gpt-4o-2024-11-20 does not support reasoning
/// effort", github/copilot-cli#3394). The same prefixes as ax's `NO_REASONING_MODELS`;
/// `ft:` fine-tunes count as their base.
pub(crate) const OPENAI_NON_REASONING: &[&str] = &["gpt-4", "gpt-3.5", "chatgpt-4o", "gpt-5-chat"];

fn openai_reasoning(m: &Map<String, Value>) -> Option<Refusal> {
    m.get("reasoning_effort").filter(|v| !v.is_null())?;
    let model = m.get("model").and_then(Value::as_str).unwrap_or("");
    let base = model.strip_prefix("ft:").unwrap_or(model);
    OPENAI_NON_REASONING
        .iter()
        .any(|p| base.starts_with(p))
        .then(|| {
            openai(
                400,
                "Unrecognized request argument supplied: reasoning_effort",
                None,
                None,
            )
        })
}

/// `role: "tool"` messages answer the `tool_calls` of the assistant message before them
/// (`ChatCompletionToolMessageParam.tool_call_id`: "Tool call that this message is
/// responding to", openai-python `types/chat/chat_completion_tool_message_param.py`).
/// The API's refusals: a tool message without a preceding `tool_calls` message
/// ("Invalid parameter: messages with role 'tool' must be a response to a preceeding
/// message with 'tool_calls'.", `param` `messages.[i].role`, quoted in
/// miurla/morphic#136), and a `tool_calls` message not followed by an answer to each id
/// ("An assistant message with 'tool_calls' must be followed by tool messages responding
/// to each 'tool_call_id'. The following tool_call_ids did not have response messages:
/// …", quoted in microsoft/promptflow#3130). A `tool_call_id` that is not among the
/// calls is refused too; that message is the mock's own wording.
fn openai_tool_messages(messages: &[Value]) -> Option<Refusal> {
    // Ids of the open assistant `tool_calls` message, and those not yet answered.
    let mut open: Option<(Vec<&str>, HashSet<&str>)> = None;
    for (i, msg) in messages.iter().enumerate() {
        let role = str_of(msg, "role").unwrap_or("");
        if role == "tool" {
            let Some((ids, pending)) = open.as_mut() else {
                return Some(openai(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a \
                     preceeding message with 'tool_calls'.",
                    Some(&format!("messages.[{i}].role")),
                    None,
                ));
            };
            let id = str_of(msg, "tool_call_id").unwrap_or("");
            if !ids.contains(&id) {
                return Some(openai(
                    400,
                    &format!(
                        "Invalid parameter: 'tool_call_id' of '{id}' not found in \
                         'tool_calls' of previous message."
                    ),
                    Some(&format!("messages.[{i}].tool_call_id")),
                    None,
                ));
            }
            pending.remove(id);
            continue;
        }
        if let Some((_, pending)) = open.take()
            && !pending.is_empty()
        {
            let mut left: Vec<&str> = pending.into_iter().collect();
            left.sort_unstable();
            return Some(openai(
                400,
                &format!(
                    "An assistant message with 'tool_calls' must be followed by tool messages \
                     responding to each 'tool_call_id'. The following tool_call_ids did not \
                     have response messages: {}",
                    left.join(", ")
                ),
                Some("messages"),
                None,
            ));
        }
        let calls = array_of(msg, "tool_calls");
        if role == "assistant" && !calls.is_empty() {
            let ids: Vec<&str> = calls.iter().filter_map(|c| str_of(c, "id")).collect();
            let pending = ids.iter().copied().collect();
            open = Some((ids, pending));
        }
    }
    None
}

/// Strict checks of `POST /v1/embeddings`.
pub(crate) fn openai_embeddings(body: &[u8]) -> Option<Refusal> {
    openai_unknown(&object(body)?, OPENAI_EMBEDDING_FIELDS)
}

/// Every top-level field of `POST /v1/messages`: anthropic-sdk-python
/// `types/message_create_params.py` (`MessageCreateParamsBase` and `stream`).
const ANTHROPIC_FIELDS: &[&str] = &[
    "max_tokens",
    "messages",
    "model",
    "cache_control",
    "container",
    "inference_geo",
    "metadata",
    "output_config",
    "service_tier",
    "stop_sequences",
    "stream",
    "system",
    "temperature",
    "thinking",
    "tool_choice",
    "tools",
    "top_k",
    "top_p",
];

/// Fields accepted only with an `anthropic-beta` header: the extra fields of
/// anthropic-sdk-python `types/beta/message_create_params.py`.
const ANTHROPIC_BETA_FIELDS: &[&str] = &[
    "context_management",
    "diagnostics",
    "fallback_credit_token",
    "fallbacks",
    "mcp_servers",
    "output_format",
    "speed",
];

/// Strict checks of `POST /v1/messages`; `None` lets the request through to the
/// ordinary handler (which checks `model`, `messages` and roles).
pub(crate) fn anthropic_messages(body: &[u8], beta: &str) -> Option<Refusal> {
    let m = object(body)?;
    // Unknown fields: "<field>: Extra inputs are not permitted" (the API validates with
    // extra="forbid"; the answer as quoted in anthropics/claude-code#14135 and
    // Aider-AI/aider#4404).
    if let Some(k) = m.keys().find(|k| {
        !ANTHROPIC_FIELDS.contains(&k.as_str())
            && (beta.is_empty() || !ANTHROPIC_BETA_FIELDS.contains(&k.as_str()))
    }) {
        return Some(anthropic_400(&format!(
            "{k}: Extra inputs are not permitted"
        )));
    }
    // `max_tokens: Required[int]`; "Set to `0` to populate the prompt cache without
    // generating a response" (message_create_params.py, since b27e825, 2026-05-04):
    // a non-negative integer.
    let max_tokens = match m.get("max_tokens") {
        None => return Some(anthropic_400("max_tokens: Field required")),
        Some(v) => match v.as_u64() {
            Some(n) => n,
            None => {
                return Some(anthropic_400(
                    "max_tokens: Input should be a valid integer greater than or equal to 0",
                ));
            }
        },
    };
    // `messages: Required[Iterable[MessageParam]]`, at least one.
    let messages = match m.get("messages") {
        None => return Some(anthropic_400("messages: Field required")),
        Some(Value::Array(a)) if a.is_empty() => {
            return Some(anthropic_400(
                "messages: List should have at least 1 item after validation, not 0",
            ));
        }
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Some(anthropic_400("messages: Input should be a valid list")),
    };
    if let Some(r) = anthropic_thinking(&m, max_tokens, beta) {
        return Some(r);
    }
    anthropic_history(messages)
}

/// Extended thinking (`types/thinking_config_enabled_param.py`: `budget_tokens` "Must be
/// ≥1024 and less than `max_tokens`"; `ThinkingConfigParam` is `enabled`, `disabled` or
/// `adaptive`). The API's answers: "thinking.enabled.budget_tokens: Input should be
/// greater than or equal to 1024" (danny-avila/LibreChat#8346), "`max_tokens` must be
/// greater than `thinking.budget_tokens`…" (sigoden/aichat#1304; the interleaved-thinking
/// beta lifts this one), and, because "Thinking isn't compatible with … forced tool use"
/// (docs.claude.com extended-thinking, feature compatibility; tool use with thinking
/// "only supports tool_choice auto or none"), "Thinking may not be enabled when
/// tool_choice forces tool use." (run-llama/llama_index#19641).
fn anthropic_thinking(m: &Map<String, Value>, max_tokens: u64, beta: &str) -> Option<Refusal> {
    let thinking = m.get("thinking")?;
    let kind = str_of(thinking, "type").unwrap_or("");
    match kind {
        "disabled" => return None,
        "enabled" => {
            let Some(budget) = thinking.get("budget_tokens").and_then(Value::as_u64) else {
                return Some(anthropic_400(
                    "thinking.enabled.budget_tokens: Field required",
                ));
            };
            if budget < 1024 {
                return Some(anthropic_400(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
                ));
            }
            if budget >= max_tokens && !beta.contains("interleaved-thinking") {
                return Some(anthropic_400(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult \
                     our documentation at https://docs.claude.com/en/docs/build-with-claude/\
                     extended-thinking#max-tokens-and-context-window-size",
                ));
            }
        }
        "adaptive" => {}
        other => {
            return Some(anthropic_400(&format!(
                "thinking: Input tag '{other}' found using 'type' does not match any of the \
                 expected tags: 'enabled', 'disabled', 'adaptive'"
            )));
        }
    }
    let forced = m
        .get("tool_choice")
        .and_then(|c| str_of(c, "type"))
        .is_some_and(|t| t == "any" || t == "tool");
    if forced {
        return Some(anthropic_400(
            "Thinking may not be enabled when tool_choice forces tool use.",
        ));
    }
    None
}

/// Every top-level field of `POST /v1/messages/count_tokens`: anthropic-sdk-python
/// `types/message_count_tokens_params.py` (`MessageCountTokensParams`). No `max_tokens`,
/// `stream`, `metadata`, `stop_sequences` or sampling settings: a count body carrying
/// them is refused like any unknown field.
const ANTHROPIC_COUNT_FIELDS: &[&str] = &[
    "messages",
    "model",
    "cache_control",
    "output_config",
    "system",
    "thinking",
    "tool_choice",
    "tools",
];

/// Fields of the count body accepted only with an `anthropic-beta` header: the extra
/// fields of `types/beta/message_count_tokens_params.py`.
const ANTHROPIC_COUNT_BETA_FIELDS: &[&str] = &[
    "context_management",
    "mcp_servers",
    "output_format",
    "speed",
];

/// Strict checks of `POST /v1/messages/count_tokens`; `None` lets the request through to
/// the ordinary handler (which checks `model`, `messages` and roles). The same rules as
/// Messages where they apply (unknown fields, at least one message, thinking, history);
/// with no `max_tokens`, a thinking budget has no upper bound here.
pub(crate) fn anthropic_count_tokens(body: &[u8], beta: &str) -> Option<Refusal> {
    let m = object(body)?;
    if let Some(k) = m.keys().find(|k| {
        !ANTHROPIC_COUNT_FIELDS.contains(&k.as_str())
            && (beta.is_empty() || !ANTHROPIC_COUNT_BETA_FIELDS.contains(&k.as_str()))
    }) {
        return Some(anthropic_400(&format!(
            "{k}: Extra inputs are not permitted"
        )));
    }
    let messages = match m.get("messages") {
        None => return Some(anthropic_400("messages: Field required")),
        Some(Value::Array(a)) if a.is_empty() => {
            return Some(anthropic_400(
                "messages: List should have at least 1 item after validation, not 0",
            ));
        }
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Some(anthropic_400("messages: Input should be a valid list")),
    };
    if let Some(r) = anthropic_thinking(&m, u64::MAX, beta) {
        return Some(r);
    }
    anthropic_history(messages)
}

/// The blocks of a message's `content` (a string has none).
fn blocks(msg: &Value) -> &[Value] {
    array_of(msg, "content")
}

/// Checks over the conversation:
/// - a `thinking` block carries its `signature` (`ThinkingBlockParam.signature:
///   Required[str]`, "exactly as returned by the API … a modified block results in a 400
///   `invalid_request_error`", `types/thinking_block_param.py`), so an empty one is
///   refused;
/// - every `tool_result.tool_use_id` answers a `tool_use` block of the previous message,
///   and every `tool_use` of an assistant message is answered in the next message (the
///   API's answers quoted in anthropics/claude-code#13460 and #5060).
fn anthropic_history(messages: &[Value]) -> Option<Refusal> {
    for (i, msg) in messages.iter().enumerate() {
        for (j, b) in blocks(msg).iter().enumerate() {
            if str_of(b, "type") != Some("thinking") {
                continue;
            }
            match b.get("signature") {
                None => {
                    return Some(anthropic_400(&format!(
                        "messages.{i}.content.{j}.thinking.signature: Field required"
                    )));
                }
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(_) => {
                    return Some(anthropic_400(&format!(
                        "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                    )));
                }
            }
        }
        let uses = |m: &Value| -> Vec<String> {
            blocks(m)
                .iter()
                .filter(|b| str_of(b, "type") == Some("tool_use"))
                .filter_map(|b| str_of(b, "id").map(str::to_owned))
                .collect()
        };
        let prev_uses = match i.checked_sub(1) {
            Some(p) => uses(&messages[p]),
            None => Vec::new(),
        };
        for (j, b) in blocks(msg).iter().enumerate() {
            if str_of(b, "type") != Some("tool_result") {
                continue;
            }
            let id = str_of(b, "tool_use_id").unwrap_or("");
            if !prev_uses.iter().any(|u| u == id) {
                return Some(anthropic_400(&format!(
                    "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` \
                     blocks: {id}. Each `tool_result` block must have a corresponding \
                     `tool_use` block in the previous message."
                )));
            }
        }
        // The previous message's tool uses are each answered here (checked after this
        // message's own results, so an unexpected id is named first).
        if i > 0 {
            let answered: Vec<&str> = blocks(msg)
                .iter()
                .filter(|b| str_of(b, "type") == Some("tool_result"))
                .filter_map(|b| str_of(b, "tool_use_id"))
                .collect();
            let missing: Vec<String> = prev_uses
                .into_iter()
                .filter(|u| !answered.contains(&u.as_str()))
                .collect();
            if !missing.is_empty() {
                return Some(anthropic_400(&format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks \
                     immediately after: {}. Each `tool_use` block must have a corresponding \
                     `tool_result` block in the next message.",
                    i - 1,
                    missing.join(", ")
                )));
            }
        }
    }
    None
}

/// Models the Gemini mock knows: names starting `gemini-` (chat and `gemini-embedding-*`),
/// `gemma-`, and the embedding models `text-embedding-*` and `embedding-*` (the families
/// `GET /v1beta/models` lists at ai.google.dev/gemini-api/docs/models). Anything else is
/// what the API says of a model it does not serve: 404 `NOT_FOUND` "models/X is not found
/// for API version v1beta, or is not supported for generateContent. Call ListModels to see
/// the list of available models and their supported methods."
pub(crate) fn gemini_model(model: &str, version: &str, method: &str) -> Option<Refusal> {
    const KNOWN: [&str; 4] = ["gemini-", "gemma-", "text-embedding-", "embedding-"];
    if KNOWN.iter().any(|p| model.starts_with(p)) {
        return None;
    }
    Some(gemini(
        404,
        "NOT_FOUND",
        &format!(
            "models/{model} is not found for API version {version}, or is not supported for \
             {method}. Call ListModels to see the list of available models and their supported \
             methods."
        ),
    ))
}

/// Every top-level field of a `generateContent` body: python-genai `models.py`
/// `_GenerateContentParameters_to_mldev` and `_GenerateContentConfig_to_mldev` (which
/// lifts `systemInstruction`, `safetySettings`, `tools`, `toolConfig`, `cachedContent`
/// and `serviceTier` to the top level), plus `model` (a field of the REST
/// `GenerateContentRequest`). The API parses protobuf JSON, which also accepts the
/// snake_case names.
const GEMINI_FIELDS: &[&str] = &[
    "contents",
    "model",
    "generationConfig",
    "generation_config",
    "systemInstruction",
    "system_instruction",
    "safetySettings",
    "safety_settings",
    "tools",
    "toolConfig",
    "tool_config",
    "cachedContent",
    "cached_content",
    "serviceTier",
    "service_tier",
];

/// Every field of `generationConfig`: python-genai `_GenerateContentConfig_to_mldev`.
const GEMINI_GENERATION_FIELDS: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "responseLogprobs",
    "logprobs",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "mediaResolution",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "enableEnhancedCivicAnswers",
    "audioTimestamp",
];

/// camelCase of a snake_case proto field name (`top_p` → `topP`).
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut up = false;
    for c in name.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// An unknown field: 400 `INVALID_ARGUMENT` `Invalid JSON payload received. Unknown name
/// "x": Cannot find field.` (or `… Unknown name "x" at 'generation_config': …`), the
/// protobuf JSON parser's answer.
fn gemini_unknown(m: &Map<String, Value>, known: &[&str], at: Option<&str>) -> Option<Refusal> {
    let k = m
        .keys()
        .find(|k| !known.contains(&k.as_str()) && !known.contains(&camel(k).as_str()))?;
    let at = at.map(|a| format!(" at '{a}'")).unwrap_or_default();
    Some(gemini_400(&format!(
        "Invalid JSON payload received. Unknown name \"{k}\"{at}: Cannot find field."
    )))
}

/// The parts of a content.
fn parts(content: &Value) -> &[Value] {
    array_of(content, "parts")
}

fn part_name<'v>(part: &'v Value, kind: &str) -> Option<&'v str> {
    let snake = if kind == "functionCall" {
        "function_call"
    } else {
        "function_response"
    };
    part.get(kind)
        .or_else(|| part.get(snake))
        .map(|f| str_of(f, "name").unwrap_or(""))
}

/// Gemini models that do not think: `thinkingConfig` is refused for them with "Unable
/// to submit request because thinking is not supported by this model." (400
/// `INVALID_ARGUMENT`, googleapis/js-genai#681 for `gemini-2.0-flash`). The same
/// prefixes as ax's `NO_THINKING_MODELS`.
const GEMINI_NON_THINKING: &[&str] = &["gemini-1.", "gemini-2.0-"];

/// Whether `generationConfig` asks for thinking: a `thinkingConfig` with a budget above
/// 0, a level, or thoughts included. (The report quoted above sent a budget; whether a
/// budget of 0, "no thinking", is refused too is not known, so it passes.)
fn asks_for_thinking(g: &Map<String, Value>) -> bool {
    let Some(t) = g.get("thinkingConfig").or_else(|| g.get("thinking_config")) else {
        return false;
    };
    let field = |camel: &str, snake: &str| t.get(camel).or_else(|| t.get(snake));
    field("thinkingBudget", "thinking_budget").is_some_and(|b| b.as_i64() != Some(0))
        || field("thinkingLevel", "thinking_level").is_some_and(|l| !l.is_null())
        || field("includeThoughts", "include_thoughts").and_then(Value::as_bool) == Some(true)
}

/// Strict checks of `generateContent` / `streamGenerateContent` for `model` (from the
/// URL).
pub(crate) fn gemini_generate(model: &str, body: &[u8]) -> Option<Refusal> {
    let m = object(body)?;
    if let Some(r) = gemini_unknown(&m, GEMINI_FIELDS, None) {
        return Some(r);
    }
    let generation = m
        .get("generationConfig")
        .or_else(|| m.get("generation_config"));
    if let Some(Value::Object(g)) = generation {
        if let Some(r) = gemini_unknown(g, GEMINI_GENERATION_FIELDS, Some("generation_config")) {
            return Some(r);
        }
        if asks_for_thinking(g) && GEMINI_NON_THINKING.iter().any(|p| model.starts_with(p)) {
            return Some(gemini_400(
                "Unable to submit request because thinking is not supported by this model.",
            ));
        }
    }
    gemini_function_turns(array_of(&Value::Object(m), "contents"))
}

/// A content with `functionResponse` parts answers the `functionCall` parts of the content
/// just before it: the API's "Please ensure that function response turn comes immediately
/// after a function call turn." and "Please ensure that the number of function response
/// parts is equal to the number of function call parts of the function call turn."
/// (quoted in GoogleCloudPlatform/generative-ai#368 and microsoft/vscode#299295), and
/// each response names a function that was called (`FunctionResponse.name`: "Matches
/// FunctionDeclaration.name and FunctionCall.name", python-genai `types.py`; this
/// message is the mock's own wording).
fn gemini_function_turns(contents: &[Value]) -> Option<Refusal> {
    for (i, content) in contents.iter().enumerate() {
        let responses: Vec<&str> = parts(content)
            .iter()
            .filter_map(|p| part_name(p, "functionResponse"))
            .collect();
        if responses.is_empty() {
            continue;
        }
        let calls: Vec<&str> = match i.checked_sub(1) {
            Some(p) => parts(&contents[p])
                .iter()
                .filter_map(|p| part_name(p, "functionCall"))
                .collect(),
            None => Vec::new(),
        };
        if calls.is_empty() {
            return Some(gemini_400(
                "Please ensure that function response turn comes immediately after a function \
                 call turn.",
            ));
        }
        if calls.len() != responses.len() {
            return Some(gemini_400(
                "Please ensure that the number of function response parts is equal to the \
                 number of function call parts of the function call turn.",
            ));
        }
        if let Some(name) = responses.iter().find(|r| !calls.contains(r)) {
            return Some(gemini_400(&format!(
                "* GenerateContentRequest.contents[{i}]: function response \"{name}\" does not \
                 answer any function call of the function call turn."
            )));
        }
    }
    None
}

/// Strict checks of `:countTokens` for `model` (from the URL). The body is
/// `CountTokensRequest` (python-genai `_CountTokensParameters_to_mldev` sends
/// `contents`; the REST reference adds `generateContentRequest`, "mutually exclusive"
/// with `contents`: "You can either send Model + Contents or a generateContentRequest,
/// but never both"; the refusal of both is the mock's own wording). A
/// `generateContentRequest` is checked as a `generateContent` body, and needs its
/// `model` ("Required. The name of the Model to use", `models/{model}`).
pub(crate) fn gemini_count_tokens(model: &str, body: &[u8]) -> Option<Refusal> {
    let m = object(body)?;
    if let Some(r) = gemini_unknown(&m, &["contents", "generateContentRequest"], None) {
        return Some(r);
    }
    let request = m
        .get("generateContentRequest")
        .or_else(|| m.get("generate_content_request"));
    let Some(request) = request else {
        return gemini_function_turns(array_of(&Value::Object(m), "contents"));
    };
    if m.contains_key("contents") {
        return Some(gemini_400(
            "CountTokensRequest: contents and generateContentRequest are mutually \
             exclusive: send one of them.",
        ));
    }
    if str_of(request, "model").is_none_or(|m| !m.starts_with("models/")) {
        return Some(gemini_400(
            "* CountTokensRequest.generate_content_request.model: model is not specified \
             (expected models/{model})",
        ));
    }
    gemini_generate(model, &serde_json::to_vec(request).ok()?)
}

/// `embedContent` fields (python-genai `_EmbedContentParameters_to_mldev`: `requests[]`
/// of `{model, content, taskType, title, outputDimensionality}`).
const GEMINI_EMBED_FIELDS: &[&str] = &[
    "model",
    "content",
    "taskType",
    "title",
    "outputDimensionality",
];

/// Strict checks of `embedContent`.
pub(crate) fn gemini_embed(body: &[u8]) -> Option<Refusal> {
    gemini_unknown(&object(body)?, GEMINI_EMBED_FIELDS, None)
}

/// Strict checks of `batchEmbedContents`.
pub(crate) fn gemini_batch_embed(body: &[u8]) -> Option<Refusal> {
    let m = object(body)?;
    if let Some(r) = gemini_unknown(&m, &["requests"], None) {
        return Some(r);
    }
    array_of(&Value::Object(m), "requests")
        .iter()
        .enumerate()
        .find_map(|(i, r)| match r {
            Value::Object(o) => {
                gemini_unknown(o, GEMINI_EMBED_FIELDS, Some(&format!("requests[{i}]")))
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_names() {
        assert_eq!(camel("generation_config"), "generationConfig");
        assert_eq!(camel("top_p"), "topP");
        assert_eq!(camel("contents"), "contents");
    }

    #[test]
    fn reasoning_only_for_models_that_reason() {
        let body = |model: &str| {
            format!(
                r#"{{"model":"{model}","messages":[{{"role":"user","content":"x"}}],"reasoning_effort":"low"}}"#
            )
        };
        for model in [
            "gpt-4o",
            "gpt-4.1-nano",
            "ft:gpt-4o-mini:org::1",
            "gpt-3.5-turbo",
        ] {
            let r = openai_chat(body(model).as_bytes()).expect(model);
            assert_eq!(
                r.message(),
                "Unrecognized request argument supplied: reasoning_effort"
            );
        }
        for model in ["o4-mini", "gpt-5", "o3"] {
            assert!(openai_chat(body(model).as_bytes()).is_none(), "{model}");
        }
        let gem = br#"{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":1024}}}"#;
        assert!(
            gemini_generate("gemini-2.0-flash", gem)
                .unwrap()
                .message()
                .contains("thinking is not supported")
        );
        assert!(gemini_generate("gemini-2.5-flash", gem).is_none());
        let plain =
            br#"{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"temperature":1}}"#;
        assert!(gemini_generate("gemini-2.0-flash", plain).is_none());
    }

    #[test]
    fn count_bodies_are_checked_like_the_real_count_endpoints() {
        let ok =
            br#"{"model":"claude-x","messages":[{"role":"user","content":"hi"}],"system":"s"}"#;
        assert!(anthropic_count_tokens(ok, "").is_none());
        let with_max =
            br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(
            anthropic_count_tokens(with_max, "").unwrap().message(),
            "max_tokens: Extra inputs are not permitted"
        );
        let thinking = br#"{"model":"m","messages":[{"role":"user","content":"x"}],
            "thinking":{"type":"enabled","budget_tokens":100000}}"#;
        assert!(anthropic_count_tokens(thinking, "").is_none());

        let contents = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
        assert!(gemini_count_tokens("gemini-2.0-flash", contents).is_none());
        let wrapped = br#"{"generateContentRequest":{"model":"models/gemini-2.0-flash",
            "contents":[{"parts":[{"text":"hi"}]}],"systemInstruction":{"parts":[{"text":"s"}]}}}"#;
        assert!(gemini_count_tokens("gemini-2.0-flash", wrapped).is_none());
        let no_model = br#"{"generateContentRequest":{"contents":[{"parts":[{"text":"hi"}]}]}}"#;
        assert!(gemini_count_tokens("gemini-2.0-flash", no_model).is_some());
        let both =
            br#"{"contents":[],"generateContentRequest":{"model":"models/g","contents":[]}}"#;
        assert!(
            gemini_count_tokens("gemini-2.0-flash", both)
                .unwrap()
                .message()
                .contains("mutually exclusive")
        );
        let extra = br#"{"contents":[],"generationConfig":{}}"#;
        assert!(
            gemini_count_tokens("gemini-2.0-flash", extra)
                .unwrap()
                .message()
                .contains("Unknown name \"generationConfig\"")
        );
    }

    #[test]
    fn openai_tool_ids_are_matched() {
        let ok = br#"{"model":"m","messages":[{"role":"user","content":"x"},
            {"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"a","content":"1"},{"role":"user","content":"y"}]}"#;
        assert!(openai_chat(ok).is_none());
        let missing = br#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a"}]},
            {"role":"user","content":"y"}]}"#;
        assert!(
            openai_chat(missing)
                .unwrap()
                .message()
                .contains("did not have response")
        );
    }
}
