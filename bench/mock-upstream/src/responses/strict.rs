//! Strict checks of `POST /v1/responses`: what the real API refuses, with its error
//! object (`{"error": {message, type: "invalid_request_error", param, code}}`).
//!
//! Field lists come from openai-python `types/responses/` at e43b422 (2026-08-21):
//! `response_create_params.py` (top level), `response_input_param.py`,
//! `easy_input_message_param.py`, `response_output_message_param.py`,
//! `response_function_tool_call_param.py`, `response_reasoning_item_param.py`
//! (input items), `response_includable.py`, `shared/reasoning.py`,
//! `shared/reasoning_effort.py`, `response_text_config_param.py`,
//! `tool_choice_options.py`, `tool_choice_function_param.py`. The error texts, their
//! `param` and `code`, and the order in which the API reports them are the API's own,
//! as recorded against the live API in public client code (direct observations of
//! 2026-08-30 kept in a proxy's Responses parity tests) and quoted in bug reports:
//! "Invalid value: 'tool'. Supported values are: 'assistant', 'system', 'developer',
//! and 'user'." (role `tool` sent to Responses), "Invalid value: 'input_text'. Supported
//! values are: 'output_text' and 'refusal'." (assistant history as input parts), "No
//! tool call found for function call output with call_id …" and "No tool output found
//! for function call …" (unpaired tool items), "Unsupported parameter:
//! 'reasoning.effort' is not supported with this model." (param `reasoning.effort`,
//! code `unsupported_parameter`, e.g. gpt-4o-mini).
//!
//! Where the SDK and an observation disagree the mock accepts: a field any SDK variant
//! of an item declares is accepted on that item.

use serde_json::{Map, Value};

use crate::strict::{OPENAI_NON_REASONING, Refusal, openai};

/// Every top-level field: `ResponseCreateParamsBase` plus `stream`, and
/// `client_metadata` (string map), which the SDK does not declare but Codex CLI sends to
/// the API on every turn (`codex-api` `ResponsesApiRequest.client_metadata`; in ax's
/// recorded Codex 0.171.0 requests, `crates/ax-server/tests/fixtures/agents/codex/`).
const FIELDS: &[&str] = &[
    "background",
    "client_metadata",
    "context_management",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "moderation",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];

/// Input item types the API names when it refuses an unknown one (a superset of the
/// SDK's `ResponseInputItemParam` variants).
const ITEM_TYPES: &[&str] = &[
    "additional_tools",
    "agent_message",
    "apply_patch_call",
    "apply_patch_call_output",
    "code_interpreter_call",
    "compaction",
    "compaction_trigger",
    "computer_call",
    "computer_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "file_search_call",
    "function_call",
    "function_call_output",
    "image_generation_call",
    "item_reference",
    "local_shell_call",
    "local_shell_call_output",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "mcp_list_tools",
    "message",
    "multi_agent_call",
    "multi_agent_call_output",
    "program",
    "program_output",
    "reasoning",
    "shell_call",
    "shell_call_output",
    "tool_search_call",
    "tool_search_output",
    "web_search_call",
];

const ROLES: &[&str] = &["assistant", "system", "developer", "user"];

/// Content part types of any message.
const PART_TYPES: &[&str] = &[
    "input_text",
    "input_image",
    "input_audio",
    "output_text",
    "refusal",
    "input_file",
    "computer_screenshot",
    "summary_text",
    "encrypted_content",
    "scoped_content",
];

/// Parts of a user, system or developer message.
const INPUT_PARTS: &[&str] = &[
    "input_text",
    "input_image",
    "input_file",
    "scoped_content",
    "input_audio",
];

/// Parts of an assistant message.
const OUTPUT_PARTS: &[&str] = &["output_text", "refusal"];

/// Members of a message item: the union of `EasyInputMessageParam`, `Message` and
/// `ResponseOutputMessageParam` (`phase` only on assistant messages, as observed).
const MESSAGE_MEMBERS: &[&str] = &["type", "role", "content", "status", "id"];

/// `ResponseFunctionToolCallParam`.
const FUNCTION_CALL_MEMBERS: &[&str] = &[
    "type",
    "id",
    "call_id",
    "name",
    "arguments",
    "status",
    "namespace",
    "caller",
];

/// `FunctionCallOutput` of `response_input_param.py`.
const FUNCTION_OUTPUT_MEMBERS: &[&str] = &[
    "type",
    "id",
    "call_id",
    "output",
    "status",
    "caller",
    "name",
    "namespace",
];

/// `ResponseReasoningItemParam` (its `id` is required by the SDK type, but Codex sends
/// reasoning items without it and the API takes them).
const REASONING_MEMBERS: &[&str] = &[
    "type",
    "id",
    "summary",
    "content",
    "encrypted_content",
    "status",
];

/// `response_includable.py`.
const INCLUDABLE: &[&str] = &[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
];

/// `shared/reasoning.py` `Reasoning`.
const REASONING_FIELDS: &[&str] = &["context", "effort", "generate_summary", "mode", "summary"];

/// `shared/reasoning_effort.py`.
const EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh", "max"];

/// How the API names a JSON type in "expected …, but got X instead". A top-level
/// `null` is reported as an object (as observed for `model` and `input`).
fn kind(v: &Value, top_level: bool) -> &'static str {
    match v {
        Value::Null if top_level => "an object",
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `'a', 'b', and 'c'` / `'a' and 'b'`, as the API lists supported values.
fn listed(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

fn invalid_value(value: &str, supported: &[&str], param: &str) -> Refusal {
    openai(
        400,
        &format!(
            "Invalid value: '{value}'. Supported values are: {}.",
            listed(supported)
        ),
        Some(param),
        Some("invalid_value"),
    )
}

fn invalid_type(param: &str, expected: &str, got: &Value, top_level: bool) -> Refusal {
    openai(
        400,
        &format!(
            "Invalid type for '{param}': expected {expected}, but got {} instead.",
            kind(got, top_level)
        ),
        Some(param),
        Some("invalid_type"),
    )
}

fn missing(param: &str) -> Refusal {
    openai(
        400,
        &format!("Missing required parameter: '{param}'."),
        Some(param),
        Some("missing_required_parameter"),
    )
}

fn unknown(param: &str, suggestion: &str) -> Refusal {
    openai(
        400,
        &format!("Unknown parameter: '{param}'.{suggestion}"),
        Some(param),
        Some("unknown_parameter"),
    )
}

/// The first member of `m` outside `allowed`, as an unknown-parameter refusal under
/// `prefix`.
fn unknown_member(m: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Option<Refusal> {
    let k = m.keys().find(|k| !allowed.contains(&k.as_str()))?;
    Some(unknown(&format!("{prefix}.{k}"), ""))
}

/// Levenshtein distance, for the API's spelling help.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// " Did you mean 'x' or 'y'?" for known fields within edit distance 2 that the body
/// does not already carry (nearest first), as observed; empty when none is near.
fn suggestion(key: &str, body: &Map<String, Value>) -> String {
    let mut near: Vec<(usize, &str)> = FIELDS
        .iter()
        .filter(|f| !body.contains_key(**f))
        .map(|f| (distance(key, f), *f))
        .filter(|(d, _)| *d <= 2)
        .collect();
    near.sort_by_key(|(d, _)| *d);
    if near.is_empty() {
        return String::new();
    }
    let names: Vec<String> = near.iter().map(|(_, f)| format!("'{f}'")).collect();
    let list = match names.as_slice() {
        [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    };
    format!(" Did you mean {list}?")
}

/// Strict checks of `POST /v1/responses`; `None` lets the request through to the handler.
pub(crate) fn check(body: &[u8]) -> Option<Refusal> {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    model(&m)
        .or_else(|| input_present(&m))
        .or_else(|| unknown_field(&m))
        .or_else(|| input(&m))
        .or_else(|| include(&m))
        .or_else(|| tools(&m))
        .or_else(|| tool_choice(&m))
        .or_else(|| text(&m))
        .or_else(|| reasoning(&m))
        .or_else(|| stream_options(&m))
        .or_else(|| previous_response(&m))
        .or_else(|| pairing(&m))
        .or_else(|| reasoning_model(&m))
}

/// `model` is required and a string.
fn model(m: &Map<String, Value>) -> Option<Refusal> {
    match m.get("model") {
        None => Some(missing("model")),
        Some(Value::String(_)) => None,
        Some(other) => Some(invalid_type("model", "a string", other, true)),
    }
}

/// `input` is required unless a stored prompt or conversation supplies it (the SDK
/// declares it optional for those; whether the API agrees is not observed, so they
/// pass).
fn input_present(m: &Map<String, Value>) -> Option<Refusal> {
    let supplied = ["input", "prompt", "conversation"]
        .iter()
        .any(|k| m.contains_key(*k));
    (!supplied).then(|| missing("input"))
}

/// Unknown top-level fields; Chat Completions' `messages` gets its own answer.
fn unknown_field(m: &Map<String, Value>) -> Option<Refusal> {
    let k = m.keys().find(|k| !FIELDS.contains(&k.as_str()))?;
    if k == "messages" {
        return Some(openai(
            400,
            "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved \
             to 'input'. Try again with the new parameter. See the API documentation for more \
             information: https://platform.openai.com/docs/api-reference/responses/create.",
            None,
            Some("unsupported_parameter"),
        ));
    }
    Some(unknown(k, &suggestion(k, m)))
}

/// `input`: a non-empty string or array of valid items.
fn input(m: &Map<String, Value>) -> Option<Refusal> {
    let value = m.get("input")?;
    let state = ["previous_response_id", "prompt", "conversation"]
        .iter()
        .any(|k| m.get(*k).is_some_and(|v| !v.is_null()));
    let empty = match value {
        Value::String(s) => s.is_empty(),
        Value::Array(items) => {
            if let Some(r) = items.iter().enumerate().find_map(|(i, it)| item(i, it)) {
                return Some(r);
            }
            items.is_empty()
        }
        other => {
            return Some(invalid_type(
                "input",
                "one of a string or array of input items",
                other,
                true,
            ));
        }
    };
    (empty && !state).then(|| {
        openai(
            400,
            "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation' must \
             be provided.",
            None,
            Some("missing_required_parameter"),
        )
    })
}

/// One input item.
fn item(i: usize, it: &Value) -> Option<Refusal> {
    let at = format!("input[{i}]");
    let Value::Object(o) = it else {
        return Some(invalid_type(&at, "an input item", it, false));
    };
    let kind = match o.get("type") {
        None => None,
        Some(Value::String(t)) if ITEM_TYPES.contains(&t.as_str()) => Some(t.as_str()),
        Some(Value::String(t)) => return Some(invalid_value(t, ITEM_TYPES, &at)),
        Some(_) => return Some(invalid_value("", ITEM_TYPES, &at)),
    };
    match kind {
        None | Some("message") => message(&at, o),
        Some("function_call") => required(&at, o, &["call_id", "name", "arguments"])
            .or_else(|| unknown_member(o, FUNCTION_CALL_MEMBERS, &at)),
        Some("function_call_output") => required(&at, o, &["call_id", "output"])
            .or_else(|| unknown_member(o, FUNCTION_OUTPUT_MEMBERS, &at)),
        Some("reasoning") => {
            required(&at, o, &["summary"]).or_else(|| unknown_member(o, REASONING_MEMBERS, &at))
        }
        Some(_) => None,
    }
}

fn required(at: &str, o: &Map<String, Value>, fields: &[&str]) -> Option<Refusal> {
    fields
        .iter()
        .find(|f| !o.contains_key(**f))
        .map(|f| missing(&format!("{at}.{f}")))
}

/// A message item: a known role, `content`, known members, parts that suit the role.
fn message(at: &str, o: &Map<String, Value>) -> Option<Refusal> {
    let role = match o.get("role") {
        Some(Value::String(r)) => r.as_str(),
        _ => "",
    };
    if !ROLES.contains(&role) {
        return Some(invalid_value(role, ROLES, at));
    }
    let Some(content) = o.get("content") else {
        return Some(missing(&format!("{at}.content")));
    };
    let assistant = role == "assistant";
    if let Some(k) = o
        .keys()
        .find(|k| !(MESSAGE_MEMBERS.contains(&k.as_str()) || assistant && *k == "phase"))
    {
        return Some(unknown(&format!("{at}.{k}"), ""));
    }
    if let Some(Value::String(p)) = o.get("phase")
        && !["commentary", "final_answer"].contains(&p.as_str())
    {
        return Some(invalid_value(
            p,
            &["commentary", "final_answer"],
            &format!("{at}.phase"),
        ));
    }
    let Value::Array(parts) = content else {
        return None;
    };
    let allowed = if assistant { OUTPUT_PARTS } else { INPUT_PARTS };
    parts.iter().enumerate().find_map(|(j, part)| {
        let here = format!("{at}.content[{j}]");
        let t = part.get("type").and_then(Value::as_str).unwrap_or("");
        if !PART_TYPES.contains(&t) {
            // The API's list omits `scoped_content` here although it takes it.
            return Some(invalid_value(
                t,
                &PART_TYPES[..PART_TYPES.len() - 1],
                &format!("{here}.type"),
            ));
        }
        if !allowed.contains(&t) {
            return Some(invalid_value(t, allowed, &here));
        }
        let needs_text = matches!(t, "input_text" | "output_text");
        (needs_text && part.get("text").is_none()).then(|| missing(&format!("{here}.text")))
    })
}

/// `include`: known values only.
fn include(m: &Map<String, Value>) -> Option<Refusal> {
    let Some(Value::Array(values)) = m.get("include") else {
        return None;
    };
    values.iter().enumerate().find_map(|(i, v)| {
        let s = v.as_str().unwrap_or("");
        (!INCLUDABLE.contains(&s)).then(|| invalid_value(s, INCLUDABLE, &format!("include[{i}]")))
    })
}

/// `tools`: an array; each tool has a `type`, and a function tool a top-level `name` (a
/// Chat Completions tool, `{"type":"function","function":{"name"}}`, has none).
fn tools(m: &Map<String, Value>) -> Option<Refusal> {
    let tools = match m.get("tools") {
        None | Some(Value::Null) => return None,
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Some(invalid_type("tools", "an array of tools", other, true));
        }
    };
    tools
        .iter()
        .enumerate()
        .find_map(|(i, t)| match t.get("type") {
            None => Some(missing(&format!("tools[{i}].type"))),
            Some(Value::String(ty))
                if ty == "function" && !t.get("name").is_some_and(Value::is_string) =>
            {
                Some(missing(&format!("tools[{i}].name")))
            }
            _ => None,
        })
}

/// `tool_choice`: `none`/`auto`/`required` or an object; a function choice names its
/// function at the top level.
fn tool_choice(m: &Map<String, Value>) -> Option<Refusal> {
    match m.get("tool_choice")? {
        Value::Null => None,
        Value::String(s) => {
            let options = ["none", "auto", "required"];
            (!options.contains(&s.as_str())).then(|| invalid_value(s, &options, "tool_choice"))
        }
        Value::Object(o) => (o.get("type").and_then(Value::as_str) == Some("function")
            && !o.get("name").is_some_and(Value::is_string))
        .then(|| missing("tool_choice.name")),
        other => Some(invalid_type(
            "tool_choice",
            "one of an object or 'none', 'auto', or 'required'",
            other,
            true,
        )),
    }
}

/// `text`: an object with `format` and `verbosity`.
fn text(m: &Map<String, Value>) -> Option<Refusal> {
    let o = match m.get("text")? {
        Value::Null => return None,
        Value::Object(o) => o,
        other => return Some(invalid_type("text", "an object", other, true)),
    };
    if let Some(r) = unknown_member(o, &["format", "verbosity"], "text") {
        return Some(r);
    }
    match o.get("verbosity") {
        Some(Value::String(v)) if !["low", "medium", "high"].contains(&v.as_str()) => Some(
            invalid_value(v, &["low", "medium", "high"], "text.verbosity"),
        ),
        _ => None,
    }
}

/// `reasoning`: an object of known members with known values.
fn reasoning(m: &Map<String, Value>) -> Option<Refusal> {
    let o = match m.get("reasoning")? {
        Value::Null => return None,
        Value::Object(o) => o,
        other => return Some(invalid_type("reasoning", "an object", other, true)),
    };
    if let Some(r) = unknown_member(o, REASONING_FIELDS, "reasoning") {
        return Some(r);
    }
    if let Some(Value::String(e)) = o.get("effort")
        && !EFFORTS.contains(&e.as_str())
    {
        return Some(invalid_value(e, EFFORTS, "reasoning.effort"));
    }
    match o.get("summary") {
        Some(Value::String(s)) if !["concise", "detailed", "auto"].contains(&s.as_str()) => Some(
            invalid_value(s, &["concise", "detailed", "auto"], "reasoning.summary"),
        ),
        _ => None,
    }
}

/// `stream_options` has only `include_obfuscation` (Chat's `include_usage` is unknown).
fn stream_options(m: &Map<String, Value>) -> Option<Refusal> {
    match m.get("stream_options")? {
        Value::Object(o) => unknown_member(o, &["include_obfuscation"], "stream_options"),
        _ => None,
    }
}

/// The mock stores no responses, but every id it issued (`resp_mock…`) counts as
/// stored; any other `previous_response_id` is not found.
fn previous_response(m: &Map<String, Value>) -> Option<Refusal> {
    let id = m.get("previous_response_id")?.as_str()?;
    (!id.starts_with("resp_mock")).then(|| {
        openai(
            400,
            &format!("Previous response with id '{id}' not found."),
            Some("previous_response_id"),
            Some("previous_response_not_found"),
        )
    })
}

fn call_id(it: &Value) -> &str {
    it.get("call_id").and_then(Value::as_str).unwrap_or("")
}

fn item_type(it: &Value) -> Option<&str> {
    it.get("type").and_then(Value::as_str)
}

/// Each `function_call_output` answers an earlier `function_call` of the input, and each
/// `function_call` is answered (skipped when stored state may hold the other half).
fn pairing(m: &Map<String, Value>) -> Option<Refusal> {
    let stateful = ["previous_response_id", "conversation", "prompt"]
        .iter()
        .any(|k| m.get(*k).is_some_and(|v| !v.is_null()));
    let Some(Value::Array(items)) = m.get("input") else {
        return None;
    };
    if stateful {
        return None;
    }
    let mut calls: Vec<&str> = Vec::new();
    let mut answered: Vec<&str> = Vec::new();
    for it in items {
        match item_type(it) {
            Some("function_call") => calls.push(call_id(it)),
            Some("function_call_output") => {
                let id = call_id(it);
                if !calls.contains(&id) {
                    return Some(openai(
                        400,
                        &format!("No tool call found for function call output with call_id {id}."),
                        Some("input"),
                        None,
                    ));
                }
                answered.push(id);
            }
            _ => {}
        }
    }
    let open = calls.iter().find(|c| !answered.contains(c))?;
    Some(openai(
        400,
        &format!("No tool output found for function call {open}."),
        Some("input"),
        None,
    ))
}

/// `reasoning.effort` on a model that does not reason (the families of
/// [`OPENAI_NON_REASONING`]).
fn reasoning_model(m: &Map<String, Value>) -> Option<Refusal> {
    m.get("reasoning")?.get("effort").filter(|e| !e.is_null())?;
    let model = m.get("model").and_then(Value::as_str).unwrap_or("");
    let base = model.strip_prefix("ft:").unwrap_or(model);
    OPENAI_NON_REASONING
        .iter()
        .any(|p| base.starts_with(p))
        .then(|| {
            openai(
                400,
                "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
                Some("reasoning.effort"),
                Some("unsupported_parameter"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_suggestions_read_like_the_api() {
        assert_eq!(listed(&["a", "b"]), "'a' and 'b'");
        assert_eq!(listed(&["a", "b", "c"]), "'a', 'b', and 'c'");
        assert_eq!(distance("stre", "store"), 1);
        assert_eq!(distance("stre", "stream"), 2);
        let body = Map::new();
        assert_eq!(suggestion("stop", &body), " Did you mean 'store'?");
        assert_eq!(
            suggestion("stre", &body),
            " Did you mean 'store' or 'stream'?"
        );
        assert_eq!(suggestion("st", &body), "");
        let mut sent = Map::new();
        sent.insert("input".into(), Value::Null);
        assert_eq!(suggestion("inpu", &sent), "");
    }
}
