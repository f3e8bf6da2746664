//! The cross-format matrix: every client format × every upstream format, complete and
//! streamed answers.
//!
//! Request side: a realistic client request (system prompt, several turns, a tool
//! definition, an assistant tool call, its result, stop sequences, max tokens,
//! temperature) is decoded by the client codec and encoded for the upstream; the
//! upstream body must carry every one of those semantics under that provider's field
//! names.
//!
//! Answer side: a realistic upstream answer (text, a tool call, usage with cached and
//! reasoning tokens; every finish reason) is decoded by the upstream codec and encoded
//! for the client, which must get the text, the tool call (name and parsed arguments),
//! the finish reason and the usage in its own format's semantics. Streams go through
//! the SSE decoder, the upstream stream decoder and the client stream encoder, and the
//! client's event sequence must be legal for its format.
//!
//! The request bodies follow the API references' examples; the answers follow the
//! recorded fixtures in `tests/fixtures/*` (sources in each `SOURCES.md`).

// Test helpers outside `#[test]` functions panic on purpose: a failed expectation is a
// failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use ax_core::{
    ChatRequest, ChatResponse, ContentPart, ErrorCode, FinishReason, GatewayError, ProviderKind,
    StreamEvent, Usage, WireFormat,
};
use ax_providers::{
    DecodeOptions, ProviderConfig, SseDecoder, SseFrame, StreamDecoder, StreamEncoder, anthropic,
    client_codec, gemini, openai, tool_ids,
};
use serde_json::{Value, json};

const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenAi,
    WireFormat::Anthropic,
    WireFormat::Gemini,
];

const SYSTEM: &str = "You are a terse weather bot.";
const FIRST_QUESTION: &str = "What's the weather in Paris?";
const EARLIER_ANSWER: &str = "It is 18 degrees in Paris.";
const LAST_QUESTION: &str = "And in London?";
const TOOL: &str = "get_weather";
const TOOL_DESCRIPTION: &str = "Current weather for a city";
const STOP: &str = "END_OF_ANSWER";
const MAX_TOKENS: u64 = 256;
const TEMPERATURE: f64 = 0.25;

const ANSWER_TEXT: &str = "Checking London.";
/// A Gemini thought signature (base64, as the API sends them).
const GEMINI_SIGNATURE: &str = "Q2lRQjBlMmtnd0hjRkRlZFJLV3Z3";

// ============================================================ client requests

fn client_body(format: WireFormat, stream: bool) -> Value {
    let schema_lower = json!({
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"]
    });
    match format {
        // platform.openai.com/docs/api-reference/chat/create ("Functions" example).
        WireFormat::OpenAi => {
            let mut body = json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": FIRST_QUESTION},
                    {"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_Paris01", "type": "function",
                        "function": {"name": TOOL, "arguments": "{\"city\":\"Paris\"}"}
                    }]},
                    {"role": "tool", "tool_call_id": "call_Paris01", "content": "{\"temp_c\":18}"},
                    {"role": "assistant", "content": EARLIER_ANSWER},
                    {"role": "user", "content": LAST_QUESTION}
                ],
                "tools": [{"type": "function", "function": {
                    "name": TOOL, "description": TOOL_DESCRIPTION, "parameters": schema_lower
                }}],
                "stop": [STOP],
                "max_tokens": MAX_TOKENS,
                "temperature": TEMPERATURE
            });
            if stream {
                body["stream"] = json!(true);
                body["stream_options"] = json!({"include_usage": true});
            }
            body
        }
        // docs.anthropic.com messages API and tool-use guide.
        WireFormat::Anthropic => {
            let mut body = json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": MAX_TOKENS,
                "system": SYSTEM,
                "stop_sequences": [STOP],
                "temperature": TEMPERATURE,
                "tools": [{"name": TOOL, "description": TOOL_DESCRIPTION, "input_schema": schema_lower}],
                "messages": [
                    {"role": "user", "content": FIRST_QUESTION},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Let me check."},
                        {"type": "tool_use", "id": "toolu_01Paris", "name": TOOL, "input": {"city": "Paris"}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_01Paris", "content": "{\"temp_c\":18}"}
                    ]},
                    {"role": "assistant", "content": EARLIER_ANSWER},
                    {"role": "user", "content": LAST_QUESTION}
                ]
            });
            if stream {
                body["stream"] = json!(true);
            }
            body
        }
        // google-genai `generate_content` with function calling (upper-case schema
        // types, as the SDK sends them); the model and streaming are in the URL.
        WireFormat::Gemini => json!({
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "contents": [
                {"role": "user", "parts": [{"text": FIRST_QUESTION}]},
                {"role": "model", "parts": [{"functionCall": {"name": TOOL, "args": {"city": "Paris"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": TOOL, "response": {"temp_c": 18}}}]},
                {"role": "model", "parts": [{"text": EARLIER_ANSWER}]},
                {"role": "user", "parts": [{"text": LAST_QUESTION}]}
            ],
            "tools": [{"functionDeclarations": [{
                "name": TOOL, "description": TOOL_DESCRIPTION,
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING", "description": "City name"}},
                    "required": ["city"]
                }
            }]}],
            "generationConfig": {
                "stopSequences": [STOP],
                "maxOutputTokens": MAX_TOKENS,
                "temperature": TEMPERATURE
            }
        }),
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

fn decode_client(format: WireFormat, stream: bool) -> ChatRequest {
    let body = client_body(format, stream).to_string();
    let opts = match format {
        WireFormat::Gemini => DecodeOptions {
            path_model: Some("gemini-2.5-flash".into()),
            path_stream: Some(stream),
            ..Default::default()
        },
        _ => DecodeOptions::default(),
    };
    client_codec(format)
        .decode_request(body.as_bytes(), opts)
        .unwrap_or_else(|e| panic!("{format:?} client request rejected: {e:?}"))
}

fn encode_upstream(req: &ChatRequest, upstream: WireFormat, stream: bool) -> Value {
    let bytes = match upstream {
        WireFormat::OpenAi => {
            let cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
            openai::encode_request(req, "gpt-4o", stream, &cfg)
        }
        WireFormat::Anthropic => {
            let cfg = ProviderConfig::new("anthropic", ProviderKind::Anthropic);
            anthropic::encode_request(req, "claude-sonnet-4-5", stream, &cfg)
                .unwrap_or_else(|e| panic!("Anthropic encode failed: {e:?}"))
        }
        WireFormat::Gemini => {
            let cfg = ProviderConfig::new("gemini", ProviderKind::Gemini);
            gemini::encode_request(req, "gemini-2.5-flash", stream, &cfg)
        }
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    };
    serde_json::from_slice(&bytes).expect("upstream body is JSON")
}

/// Every string anywhere in `v`, for "is it in there" checks.
fn strings(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// The text of an OpenAI or Anthropic `content` (a string or text blocks/parts).
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect(),
        _ => String::new(),
    }
}

fn parse_args(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).expect("arguments are JSON text"),
        other => other.clone(),
    }
}

fn assert_openai_upstream(b: &Value, stream: bool, ctx: &str) {
    let msgs = b["messages"].as_array().expect("messages");
    let first = &msgs[0];
    assert!(
        first["role"] == "system" || first["role"] == "developer",
        "{ctx}: system first: {first}"
    );
    assert_eq!(content_text(&first["content"]), SYSTEM, "{ctx}");
    assert_eq!(
        msgs.iter().filter(|m| m["role"] == "system").count(),
        1,
        "{ctx}"
    );
    // The assistant tool call and its result, paired by id.
    let call_msg = msgs
        .iter()
        .find(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .unwrap_or_else(|| panic!("{ctx}: no assistant tool call in {b}"));
    let call = &call_msg["tool_calls"][0];
    assert_eq!(call["type"], "function", "{ctx}");
    assert_eq!(call["function"]["name"], TOOL, "{ctx}");
    assert_eq!(
        parse_args(&call["function"]["arguments"]),
        json!({"city": "Paris"}),
        "{ctx}"
    );
    let id = call["id"].as_str().expect("call id");
    assert!(!id.is_empty(), "{ctx}");
    let result = msgs
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap_or_else(|| panic!("{ctx}: no tool message"));
    assert_eq!(result["tool_call_id"], id, "{ctx}: result answers the call");
    let result_value: Value =
        serde_json::from_str(&content_text(&result["content"])).expect("result is JSON text");
    assert_eq!(result_value, json!({"temp_c": 18}), "{ctx}");
    let roles: Vec<&str> = msgs.iter().filter_map(|m| m["role"].as_str()).collect();
    let call_pos = msgs.iter().position(|m| m == call_msg).unwrap_or_default();
    let result_pos = roles.iter().position(|r| *r == "tool").unwrap_or_default();
    assert!(call_pos < result_pos, "{ctx}: {roles:?}");
    assert!(
        msgs.iter()
            .any(|m| m["role"] == "assistant" && content_text(&m["content"]) == EARLIER_ANSWER),
        "{ctx}"
    );
    let last = msgs.last().expect("a last message");
    assert_eq!(last["role"], "user", "{ctx}");
    assert_eq!(content_text(&last["content"]), LAST_QUESTION, "{ctx}");
    // Tools, with lower-case JSON-schema types.
    let tool = &b["tools"][0];
    assert_eq!(tool["type"], "function", "{ctx}");
    assert_eq!(tool["function"]["name"], TOOL, "{ctx}");
    assert_eq!(tool["function"]["description"], TOOL_DESCRIPTION, "{ctx}");
    assert_eq!(tool["function"]["parameters"]["type"], "object", "{ctx}");
    assert_eq!(
        tool["function"]["parameters"]["properties"]["city"]["type"], "string",
        "{ctx}"
    );
    assert_eq!(
        tool["function"]["parameters"]["required"],
        json!(["city"]),
        "{ctx}"
    );
    // Parameters.
    let stop = match &b["stop"] {
        Value::String(s) => vec![s.clone()],
        other => strings(other),
    };
    assert_eq!(stop, [STOP], "{ctx}");
    let max = b["max_completion_tokens"]
        .as_u64()
        .or_else(|| b["max_tokens"].as_u64());
    assert_eq!(max, Some(MAX_TOKENS), "{ctx}");
    assert_eq!(b["temperature"].as_f64(), Some(TEMPERATURE), "{ctx}");
    if stream {
        assert_eq!(b["stream"], true, "{ctx}");
        assert_eq!(b["stream_options"]["include_usage"], true, "{ctx}");
    } else {
        assert!(b["stream"] != true, "{ctx}");
        assert!(b.get("stream_options").is_none(), "{ctx}");
    }
}

fn assert_anthropic_upstream(b: &Value, stream: bool, ctx: &str) {
    assert_eq!(content_text(&b["system"]), SYSTEM, "{ctx}");
    let msgs = b["messages"].as_array().expect("messages");
    // Roles are user/assistant only and alternate, starting with the user.
    for (i, m) in msgs.iter().enumerate() {
        let want = if i % 2 == 0 { "user" } else { "assistant" };
        assert_eq!(m["role"], want, "{ctx}: alternation at {i}: {b}");
    }
    let blocks = |m: &Value| -> Vec<Value> {
        match &m["content"] {
            Value::Array(a) => a.clone(),
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            _ => Vec::new(),
        }
    };
    let (call_pos, call) = msgs
        .iter()
        .enumerate()
        .find_map(|(i, m)| {
            blocks(m)
                .into_iter()
                .find(|b| b["type"] == "tool_use")
                .map(|b| (i, b))
        })
        .unwrap_or_else(|| panic!("{ctx}: no tool_use in {b}"));
    assert_eq!(msgs[call_pos]["role"], "assistant", "{ctx}");
    assert_eq!(call["name"], TOOL, "{ctx}");
    assert_eq!(call["input"], json!({"city": "Paris"}), "{ctx}");
    let id = call["id"].as_str().expect("tool_use id");
    assert!(!id.is_empty(), "{ctx}");
    // The result is the first block of the next (user) turn.
    let next = blocks(&msgs[call_pos + 1]);
    let result = &next[0];
    assert_eq!(result["type"], "tool_result", "{ctx}: {b}");
    assert_eq!(result["tool_use_id"], id, "{ctx}");
    let result_value: Value =
        serde_json::from_str(&content_text(&result["content"])).expect("result is JSON text");
    assert_eq!(result_value, json!({"temp_c": 18}), "{ctx}");
    assert!(
        msgs.iter()
            .any(|m| m["role"] == "assistant" && content_text(&m["content"]) == EARLIER_ANSWER),
        "{ctx}"
    );
    let last = msgs.last().expect("a last message");
    assert_eq!(content_text(&last["content"]), LAST_QUESTION, "{ctx}");
    // Tools with lower-case schema types.
    let tool = &b["tools"][0];
    assert_eq!(tool["name"], TOOL, "{ctx}");
    assert_eq!(tool["description"], TOOL_DESCRIPTION, "{ctx}");
    assert_eq!(tool["input_schema"]["type"], "object", "{ctx}");
    assert_eq!(
        tool["input_schema"]["properties"]["city"]["type"], "string",
        "{ctx}"
    );
    assert_eq!(tool["input_schema"]["required"], json!(["city"]), "{ctx}");
    assert_eq!(b["stop_sequences"], json!([STOP]), "{ctx}");
    assert_eq!(b["max_tokens"].as_u64(), Some(MAX_TOKENS), "{ctx}");
    assert_eq!(b["temperature"].as_f64(), Some(TEMPERATURE), "{ctx}");
    if stream {
        assert_eq!(b["stream"], true, "{ctx}");
    } else {
        assert!(b["stream"] != true, "{ctx}");
    }
}

fn assert_gemini_upstream(b: &Value, ctx: &str) {
    let sys: String = b["systemInstruction"]["parts"]
        .as_array()
        .expect("systemInstruction parts")
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(sys, SYSTEM, "{ctx}");
    let contents = b["contents"].as_array().expect("contents");
    for c in contents {
        assert!(
            c["role"] == "user" || c["role"] == "model",
            "{ctx}: role {}",
            c["role"]
        );
    }
    let all_parts: Vec<(&str, &Value)> = contents
        .iter()
        .flat_map(|c| {
            let role = c["role"].as_str().unwrap_or("user");
            c["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |p| (role, p))
        })
        .collect();
    let call_at = all_parts
        .iter()
        .position(|(_, p)| p.get("functionCall").is_some())
        .unwrap_or_else(|| panic!("{ctx}: no functionCall in {b}"));
    let (role, call) = all_parts[call_at];
    assert_eq!(role, "model", "{ctx}");
    assert_eq!(call["functionCall"]["name"], TOOL, "{ctx}");
    assert_eq!(
        call["functionCall"]["args"],
        json!({"city": "Paris"}),
        "{ctx}"
    );
    let result_at = all_parts
        .iter()
        .position(|(_, p)| p.get("functionResponse").is_some())
        .unwrap_or_else(|| panic!("{ctx}: no functionResponse in {b}"));
    assert!(call_at < result_at, "{ctx}");
    let (role, result) = all_parts[result_at];
    assert_eq!(role, "user", "{ctx}");
    assert_eq!(result["functionResponse"]["name"], TOOL, "{ctx}");
    let response = &result["functionResponse"]["response"];
    assert!(
        response["temp_c"] == 18 || strings(response).iter().any(|s| s.contains("18")),
        "{ctx}: {response}"
    );
    // Gemini 2.x rejects call ids it did not issue: none goes out for foreign calls.
    assert!(
        call["functionCall"].get("id").is_none(),
        "{ctx}: foreign call id sent: {call}"
    );
    assert!(
        all_parts
            .iter()
            .any(|(r, p)| *r == "model" && p["text"] == EARLIER_ANSWER),
        "{ctx}"
    );
    let last = contents.last().expect("a last content");
    assert_eq!(last["role"], "user", "{ctx}");
    assert_eq!(last["parts"][0]["text"], LAST_QUESTION, "{ctx}");
    let decl = &b["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], TOOL, "{ctx}");
    assert_eq!(decl["description"], TOOL_DESCRIPTION, "{ctx}");
    let schema = decl
        .get("parameters")
        .or_else(|| decl.get("parametersJsonSchema"))
        .unwrap_or_else(|| panic!("{ctx}: no parameters in {decl}"));
    assert!(
        schema["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("object")),
        "{ctx}"
    );
    assert!(
        schema["properties"]["city"]["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("string")),
        "{ctx}"
    );
    assert_eq!(schema["required"], json!(["city"]), "{ctx}");
    let g = &b["generationConfig"];
    assert_eq!(g["stopSequences"], json!([STOP]), "{ctx}");
    assert_eq!(g["maxOutputTokens"].as_u64(), Some(MAX_TOKENS), "{ctx}");
    assert_eq!(g["temperature"].as_f64(), Some(TEMPERATURE), "{ctx}");
}

#[test]
fn requests_every_pair_complete_and_streamed() {
    for client in FORMATS {
        for stream in [false, true] {
            let req = decode_client(client, stream);
            assert_eq!(req.stream, stream, "{client:?}");
            for upstream in FORMATS {
                let ctx = format!("{client:?} → {upstream:?} (stream {stream})");
                let body = encode_upstream(&req, upstream, stream);
                match upstream {
                    WireFormat::OpenAi => assert_openai_upstream(&body, stream, &ctx),
                    WireFormat::Anthropic => assert_anthropic_upstream(&body, stream, &ctx),
                    WireFormat::Gemini => assert_gemini_upstream(&body, &ctx),
                    WireFormat::Responses => {
                        unreachable!("the matrix covers the three chat formats")
                    }
                }
                // The translation path too, for the same-format pair (a request the
                // server rebuilt, or one from a fallback with another format).
                if req.raw.as_ref().is_some_and(|r| r.format == upstream) {
                    let mut bare = req.clone();
                    bare.raw = None;
                    let body = encode_upstream(&bare, upstream, stream);
                    let ctx = format!("{ctx} without raw");
                    match upstream {
                        WireFormat::OpenAi => assert_openai_upstream(&body, stream, &ctx),
                        WireFormat::Anthropic => assert_anthropic_upstream(&body, stream, &ctx),
                        WireFormat::Gemini => assert_gemini_upstream(&body, &ctx),
                        WireFormat::Responses => {
                            unreachable!("the matrix covers the three chat formats")
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_unified_request_is_the_same_from_every_client() {
    // Whatever format the client spoke, the unified model sees the same conversation.
    for client in FORMATS {
        let r = decode_client(client, false);
        let ctx = format!("{client:?}");
        assert_eq!(r.system_text().as_deref(), Some(SYSTEM), "{ctx}");
        assert_eq!(r.params.max_tokens, Some(MAX_TOKENS as u32), "{ctx}");
        assert_eq!(r.params.temperature, Some(TEMPERATURE), "{ctx}");
        assert_eq!(r.params.stop, [STOP], "{ctx}");
        assert_eq!(r.tools.len(), 1, "{ctx}");
        assert_eq!(r.tools[0].parameters["type"], "object", "{ctx}");
        assert_eq!(
            r.tools[0].parameters["properties"]["city"]["type"], "string",
            "{ctx}"
        );
        let call = r
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .find_map(|p| match p {
                ContentPart::ToolCall {
                    id,
                    name,
                    arguments,
                } => Some((id.clone(), name.clone(), arguments.clone())),
                _ => None,
            })
            .expect("a tool call");
        assert_eq!(call.1, TOOL, "{ctx}");
        assert_eq!(
            serde_json::from_str::<Value>(&call.2).ok(),
            Some(json!({"city": "Paris"})),
            "{ctx}"
        );
        let result = r
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .find_map(|p| match p {
                ContentPart::ToolResult { tool_call_id, .. } => Some(tool_call_id.clone()),
                _ => None,
            })
            .expect("a tool result");
        assert_eq!(result, call.0, "{ctx}: result answers the call");
    }
}

// ============================================================ upstream answers

/// One way an answer can end, with what each format says.
#[derive(Debug, Clone, Copy)]
struct Ending {
    /// Whether the answer has a tool call.
    tool: bool,
    openai: &'static str,
    anthropic: &'static str,
    gemini: &'static str,
    unified: FinishReason,
    /// What each client format must see: OpenAI, Anthropic, Gemini.
    client: [&'static str; 3],
}

const ENDINGS: [Ending; 5] = [
    Ending {
        tool: true,
        openai: "tool_calls",
        anthropic: "tool_use",
        // Gemini answers STOP even when it called functions.
        gemini: "STOP",
        unified: FinishReason::ToolCalls,
        client: ["tool_calls", "tool_use", "STOP"],
    },
    Ending {
        tool: false,
        openai: "stop",
        anthropic: "end_turn",
        gemini: "STOP",
        unified: FinishReason::Stop,
        client: ["stop", "end_turn", "STOP"],
    },
    Ending {
        tool: false,
        openai: "length",
        anthropic: "max_tokens",
        gemini: "MAX_TOKENS",
        unified: FinishReason::Length,
        client: ["length", "max_tokens", "MAX_TOKENS"],
    },
    Ending {
        tool: false,
        openai: "content_filter",
        anthropic: "refusal",
        gemini: "SAFETY",
        unified: FinishReason::ContentFilter,
        client: ["content_filter", "refusal", "SAFETY"],
    },
    Ending {
        tool: false,
        // OpenAI does not tell a stop sequence from a natural stop.
        openai: "stop",
        anthropic: "stop_sequence",
        gemini: "STOP",
        unified: FinishReason::StopSequence,
        client: ["stop", "stop_sequence", "STOP"],
    },
];

/// The usage every upstream reports, in unified terms: 1200 prompt tokens of which
/// 1000 cache reads (and, from Anthropic, 50 cache writes), 300 output tokens of which
/// 200 reasoning.
fn unified_usage(upstream: WireFormat) -> Usage {
    Usage {
        input_tokens: 1200,
        output_tokens: 300,
        cached_tokens: 1000,
        cache_creation_tokens: if upstream == WireFormat::Anthropic {
            50
        } else {
            0
        },
        reasoning_tokens: 200,
    }
}

fn upstream_answer(upstream: WireFormat, e: Ending) -> Value {
    match upstream {
        WireFormat::OpenAi => {
            let mut message = json!({"role": "assistant", "content": ANSWER_TEXT, "refusal": null});
            if e.tool {
                message["tool_calls"] = json!([{
                    "id": "call_London01", "type": "function",
                    "function": {"name": TOOL, "arguments": "{\"city\":\"London\"}"}
                }]);
            }
            json!({
                "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
                "object": "chat.completion",
                "created": 1741570283,
                "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": e.openai}],
                "usage": {
                    "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                    "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 200, "audio_tokens": 0,
                        "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
                },
                "service_tier": "default",
                "system_fingerprint": "fp_fc9f1d7035"
            })
        }
        WireFormat::Anthropic => {
            let mut content = vec![json!({"type": "text", "text": ANSWER_TEXT})];
            if e.tool {
                content.push(
                    json!({"type": "tool_use", "id": "toolu_01London", "name": TOOL,
                    "input": {"city": "London"}}),
                );
            }
            json!({
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": content,
                "stop_reason": e.anthropic,
                "stop_sequence": if e.anthropic == "stop_sequence" { json!(STOP) } else { json!(null) },
                "usage": {
                    "input_tokens": 150, "cache_creation_input_tokens": 50,
                    "cache_read_input_tokens": 1000, "output_tokens": 300,
                    "output_tokens_details": {"thinking_tokens": 200}
                }
            })
        }
        WireFormat::Gemini => {
            let mut parts = vec![json!({"text": ANSWER_TEXT})];
            if e.tool {
                parts.push(
                    json!({"functionCall": {"name": TOOL, "args": {"city": "London"}},
                    "thoughtSignature": GEMINI_SIGNATURE}),
                );
            }
            json!({
                "candidates": [{
                    "content": {"role": "model", "parts": parts},
                    "finishReason": e.gemini,
                    "index": 0
                }],
                "usageMetadata": {
                    "promptTokenCount": 1200, "candidatesTokenCount": 100,
                    "thoughtsTokenCount": 200, "cachedContentTokenCount": 1000,
                    "totalTokenCount": 1500
                },
                "modelVersion": "gemini-2.5-flash",
                "responseId": "mAitaLmkHPPlz7IPvtfUqQ4"
            })
        }
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

fn decode_upstream(upstream: WireFormat, body: &Value) -> Result<ChatResponse, GatewayError> {
    let bytes = body.to_string().into_bytes();
    match upstream {
        WireFormat::OpenAi => openai::decode_response(&bytes),
        WireFormat::Anthropic => anthropic::decode_response(&bytes),
        WireFormat::Gemini => gemini::decode_response(&bytes),
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

/// What a client read out of its answer, in a format-neutral shape.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    text: String,
    /// (id, name, parsed arguments)
    calls: Vec<(String, String, Value)>,
    finish: String,
    usage: Value,
    /// Every string of the answer, for leak checks.
    all: Vec<String>,
}

fn read_client_answer(client: WireFormat, body: &Value) -> Seen {
    let mut seen = Seen {
        all: strings(body),
        ..Default::default()
    };
    match client {
        WireFormat::OpenAi => {
            assert_eq!(body["object"], "chat.completion");
            let choices = body["choices"].as_array().expect("choices");
            assert_eq!(choices.len(), 1);
            let m = &choices[0]["message"];
            assert_eq!(m["role"], "assistant");
            seen.text = m["content"].as_str().unwrap_or_default().to_owned();
            for c in m["tool_calls"].as_array().into_iter().flatten() {
                assert_eq!(c["type"], "function");
                seen.calls.push((
                    c["id"].as_str().unwrap_or_default().to_owned(),
                    c["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    parse_args(&c["function"]["arguments"]),
                ));
            }
            seen.finish = choices[0]["finish_reason"]
                .as_str()
                .unwrap_or_default()
                .into();
            seen.usage = body["usage"].clone();
        }
        WireFormat::Anthropic => {
            assert_eq!(body["type"], "message");
            assert_eq!(body["role"], "assistant");
            for b in body["content"].as_array().expect("content") {
                match b["type"].as_str() {
                    Some("text") => seen.text.push_str(b["text"].as_str().unwrap_or_default()),
                    Some("tool_use") => seen.calls.push((
                        b["id"].as_str().unwrap_or_default().to_owned(),
                        b["name"].as_str().unwrap_or_default().to_owned(),
                        b["input"].clone(),
                    )),
                    _ => {}
                }
            }
            seen.finish = body["stop_reason"].as_str().unwrap_or_default().into();
            seen.usage = body["usage"].clone();
        }
        WireFormat::Gemini => {
            let c = &body["candidates"][0];
            assert_eq!(c["content"]["role"], "model");
            for p in c["content"]["parts"].as_array().expect("parts") {
                if p["thought"] == true {
                    continue;
                }
                if let Some(t) = p["text"].as_str() {
                    seen.text.push_str(t);
                }
                if let Some(f) = p.get("functionCall") {
                    seen.calls.push((
                        f["id"].as_str().unwrap_or_default().to_owned(),
                        f["name"].as_str().unwrap_or_default().to_owned(),
                        f["args"].clone(),
                    ));
                }
            }
            seen.finish = c["finishReason"].as_str().unwrap_or_default().into();
            seen.usage = body["usageMetadata"].clone();
        }
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
    seen
}

/// The usage a client must see, in its format's semantics, for `u`.
fn assert_client_usage(client: WireFormat, got: &Value, u: &Usage, ctx: &str) {
    match client {
        // prompt_tokens includes cached tokens; completion_tokens includes reasoning.
        WireFormat::OpenAi => {
            assert_eq!(got["prompt_tokens"], u.input_tokens, "{ctx}: {got}");
            assert_eq!(got["completion_tokens"], u.output_tokens, "{ctx}");
            assert_eq!(
                got["total_tokens"],
                u.input_tokens + u.output_tokens,
                "{ctx}"
            );
            assert_eq!(
                got["prompt_tokens_details"]["cached_tokens"], u.cached_tokens,
                "{ctx}"
            );
            assert_eq!(
                got["completion_tokens_details"]["reasoning_tokens"], u.reasoning_tokens,
                "{ctx}"
            );
        }
        // input_tokens excludes cache reads and writes.
        WireFormat::Anthropic => {
            assert_eq!(
                got["input_tokens"],
                u.input_tokens - u.cached_tokens - u.cache_creation_tokens,
                "{ctx}: {got}"
            );
            assert_eq!(got["cache_read_input_tokens"], u.cached_tokens, "{ctx}");
            assert_eq!(
                got["cache_creation_input_tokens"], u.cache_creation_tokens,
                "{ctx}"
            );
            assert_eq!(got["output_tokens"], u.output_tokens, "{ctx}");
        }
        // candidatesTokenCount excludes thoughtsTokenCount.
        WireFormat::Gemini => {
            assert_eq!(got["promptTokenCount"], u.input_tokens, "{ctx}: {got}");
            assert_eq!(
                got["candidatesTokenCount"],
                u.output_tokens - u.reasoning_tokens,
                "{ctx}"
            );
            assert_eq!(got["thoughtsTokenCount"], u.reasoning_tokens, "{ctx}");
            assert_eq!(got["cachedContentTokenCount"], u.cached_tokens, "{ctx}");
            assert_eq!(
                got["totalTokenCount"],
                u.input_tokens + u.output_tokens,
                "{ctx}"
            );
        }
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

fn client_index(client: WireFormat) -> usize {
    match client {
        WireFormat::OpenAi => 0,
        WireFormat::Anthropic => 1,
        WireFormat::Gemini => 2,
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

fn assert_seen(client: WireFormat, upstream: WireFormat, e: Ending, seen: &Seen, ctx: &str) {
    assert_eq!(seen.text, ANSWER_TEXT, "{ctx}");
    if e.tool {
        assert_eq!(seen.calls.len(), 1, "{ctx}: {seen:?}");
        let (id, name, args) = &seen.calls[0];
        assert_eq!(name, TOOL, "{ctx}");
        assert_eq!(args, &json!({"city": "London"}), "{ctx}");
        // OpenAI and Anthropic clients need an id to answer the call with.
        if client != WireFormat::Gemini {
            assert!(!id.is_empty(), "{ctx}: empty call id");
        }
    } else {
        assert!(seen.calls.is_empty(), "{ctx}");
    }
    assert_eq!(seen.finish, e.client[client_index(client)], "{ctx}");
    assert_client_usage(client, &seen.usage, &unified_usage(upstream), ctx);
    // A Gemini thought signature reaches an OpenAI or Anthropic client only inside the
    // call's id (`tool_ids`), which the client hands back with the call and its result.
    if client != WireFormat::Gemini {
        let id = seen.calls.first().map(|c| c.0.as_str());
        assert!(
            !seen
                .all
                .iter()
                .any(|s| s.contains(GEMINI_SIGNATURE) && Some(s.as_str()) != id),
            "{ctx}: Gemini signature outside the call id: {:?}",
            seen.all
        );
        if let (WireFormat::Gemini, Some(id)) = (upstream, id) {
            assert_eq!(
                tool_ids::thought_signature(id).1.as_deref(),
                Some(GEMINI_SIGNATURE),
                "{ctx}: {id}"
            );
        }
    }
}

#[test]
fn answers_every_pair_and_every_finish_reason() {
    for upstream in FORMATS {
        for e in ENDINGS {
            let resp = decode_upstream(upstream, &upstream_answer(upstream, e))
                .unwrap_or_else(|err| panic!("{upstream:?} {e:?}: {err:?}"));
            // OpenAI cannot say "stop sequence"; Gemini can say neither that nor
            // "tool calls" (derived from the parts).
            let want = match (upstream, e.unified) {
                (WireFormat::OpenAi | WireFormat::Gemini, FinishReason::StopSequence) => {
                    FinishReason::Stop
                }
                (_, f) => f,
            };
            assert_eq!(resp.finish_reason, want, "{upstream:?} {e:?}");
            assert_eq!(resp.usage, unified_usage(upstream), "{upstream:?}");
            for client in FORMATS {
                let ctx = format!("{upstream:?} answer → {client:?} client, {e:?}");
                let body: Value = serde_json::from_slice(
                    &client_codec(client).encode_response(&ax_core::ChatRequest::default(), &resp),
                )
                .expect("client body is JSON");
                let seen = read_client_answer(client, &body);
                let mut e = e;
                if want == FinishReason::Stop {
                    e.client = ENDINGS[1].client;
                }
                assert_seen(client, upstream, e, &seen, &ctx);
            }
        }
    }
}

// ============================================================ streams

fn sse(frames: &[(Option<&str>, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (event, data) in frames {
        if let Some(e) = event {
            out.extend_from_slice(format!("event: {e}\n").as_bytes());
        }
        out.extend_from_slice(format!("data: {data}\n\n").as_bytes());
    }
    out
}

fn upstream_stream(upstream: WireFormat, e: Ending) -> Vec<u8> {
    match upstream {
        WireFormat::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                (
                    None,
                    json!({"id": "chatcmpl-stream1", "object": "chat.completion.chunk",
                        "created": 1741570283, "model": "gpt-4o-2024-08-06",
                        "system_fingerprint": "fp_fc9f1d7035",
                        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
                        "usage": null}),
                )
            };
            let mut frames = vec![
                chunk(
                    json!({"role": "assistant", "content": "", "refusal": null}),
                    Value::Null,
                ),
                chunk(json!({"content": "Checking "}), Value::Null),
                chunk(json!({"content": "London."}), Value::Null),
            ];
            if e.tool {
                frames.push(chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_London01", "type": "function",
                        "function": {"name": TOOL, "arguments": ""}}]}),
                    Value::Null,
                ));
                frames.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                    Value::Null,
                ));
                frames.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"London\"}"}}]}),
                    Value::Null,
                ));
            }
            frames.push(chunk(json!({}), json!(e.openai)));
            frames.push((
                None,
                json!({"id": "chatcmpl-stream1", "object": "chat.completion.chunk",
                    "created": 1741570283, "model": "gpt-4o-2024-08-06", "choices": [],
                    "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                        "prompt_tokens_details": {"cached_tokens": 1000},
                        "completion_tokens_details": {"reasoning_tokens": 200}}}),
            ));
            let mut out = sse(&frames);
            out.extend_from_slice(b"data: [DONE]\n\n");
            out
        }
        WireFormat::Anthropic => {
            let mut frames = vec![
                (
                    Some("message_start"),
                    json!({"type": "message_start", "message": {
                        "id": "msg_01Stream", "type": "message", "role": "assistant", "content": [],
                        "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": 150, "cache_creation_input_tokens": 50,
                            "cache_read_input_tokens": 1000, "output_tokens": 1}}}),
                ),
                (Some("ping"), json!({"type": "ping"})),
                (
                    Some("content_block_start"),
                    json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
                ),
                (
                    Some("content_block_delta"),
                    json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "Checking "}}),
                ),
                (
                    Some("content_block_delta"),
                    json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "London."}}),
                ),
                (
                    Some("content_block_stop"),
                    json!({"type": "content_block_stop", "index": 0}),
                ),
            ];
            if e.tool {
                frames.extend([
                    (
                        Some("content_block_start"),
                        json!({"type": "content_block_start", "index": 1,
                            "content_block": {"type": "tool_use", "id": "toolu_01London",
                                "name": TOOL, "input": {}}}),
                    ),
                    (
                        Some("content_block_delta"),
                        json!({"type": "content_block_delta", "index": 1,
                            "delta": {"type": "input_json_delta", "partial_json": ""}}),
                    ),
                    (
                        Some("content_block_delta"),
                        json!({"type": "content_block_delta", "index": 1,
                            "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
                    ),
                    (
                        Some("content_block_delta"),
                        json!({"type": "content_block_delta", "index": 1,
                            "delta": {"type": "input_json_delta", "partial_json": "\"London\"}"}}),
                    ),
                    (
                        Some("content_block_stop"),
                        json!({"type": "content_block_stop", "index": 1}),
                    ),
                ]);
            }
            frames.extend([
                (
                    Some("message_delta"),
                    json!({"type": "message_delta",
                        "delta": {"stop_reason": e.anthropic,
                            "stop_sequence": if e.anthropic == "stop_sequence" { json!(STOP) } else { json!(null) }},
                        "usage": {"input_tokens": 150, "cache_creation_input_tokens": 50,
                            "cache_read_input_tokens": 1000, "output_tokens": 300,
                            "output_tokens_details": {"thinking_tokens": 200}}}),
                ),
                (Some("message_stop"), json!({"type": "message_stop"})),
            ]);
            sse(&frames)
        }
        WireFormat::Gemini => {
            let mut last_parts = vec![json!({"text": "London."})];
            if e.tool {
                last_parts.push(
                    json!({"functionCall": {"name": TOOL, "args": {"city": "London"}},
                    "thoughtSignature": GEMINI_SIGNATURE}),
                );
            }
            let frames = vec![
                (
                    None,
                    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking "}]}, "index": 0}],
                        "usageMetadata": {"promptTokenCount": 1200, "totalTokenCount": 1200},
                        "modelVersion": "gemini-2.5-flash", "responseId": "stream-resp-1"}),
                ),
                (
                    None,
                    json!({"candidates": [{"content": {"role": "model", "parts": last_parts},
                            "finishReason": e.gemini, "index": 0}],
                        "usageMetadata": {"promptTokenCount": 1200, "candidatesTokenCount": 100,
                            "thoughtsTokenCount": 200, "cachedContentTokenCount": 1000,
                            "totalTokenCount": 1500},
                        "modelVersion": "gemini-2.5-flash", "responseId": "stream-resp-1"}),
                ),
            ];
            // No [DONE]: the stream ends at connection close.
            sse(&frames)
        }
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

fn stream_decoder(upstream: WireFormat) -> Box<dyn StreamDecoder> {
    match upstream {
        WireFormat::OpenAi => Box::new(openai::OpenAiStreamDecoder::new()),
        WireFormat::Anthropic => Box::new(anthropic::AnthropicStreamDecoder::new()),
        WireFormat::Gemini => Box::new(gemini::GeminiStreamDecoder::new()),
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

fn frames_of(bytes: &[u8]) -> Vec<SseFrame> {
    let mut d = SseDecoder::new();
    let mut frames = Vec::new();
    d.feed(bytes, &mut frames).expect("valid SSE");
    d.finish(&mut frames).expect("valid SSE");
    frames
}

/// Upstream SSE bytes → upstream decoder → client encoder → client SSE bytes, as the
/// server does it (an upstream error ends the client stream with an error event).
fn pipe(upstream: WireFormat, bytes: &[u8], encoder: &mut dyn StreamEncoder) -> Vec<u8> {
    let mut decoder = stream_decoder(upstream);
    let mut out = Vec::new();
    for frame in frames_of(bytes) {
        match decoder.decode(&frame) {
            Ok(events) => events.iter().for_each(|e| encoder.encode(e, &mut out)),
            Err(err) => {
                encoder.error(&err, &mut out);
                return out;
            }
        }
    }
    match decoder.finish() {
        Ok(events) => {
            events.iter().for_each(|e| encoder.encode(e, &mut out));
            encoder.finish(&mut out);
        }
        Err(err) => encoder.error(&err, &mut out),
    }
    out
}

/// How a client stream ended.
#[derive(Debug, PartialEq)]
enum End {
    Clean,
    /// An error event in the client's format, with its code or type.
    Error(String),
}

/// Checks that `bytes` is a legal stream for `client` and reads it.
fn read_client_stream(client: WireFormat, bytes: &[u8], include_usage: bool) -> (Seen, End) {
    let frames = frames_of(bytes);
    assert!(!frames.is_empty(), "empty client stream");
    let mut seen = Seen::default();
    for f in &frames {
        if let Ok(v) = serde_json::from_str::<Value>(&f.data) {
            seen.all.extend(strings(&v));
        }
    }
    match client {
        WireFormat::OpenAi => read_openai_stream(&frames, include_usage, seen),
        WireFormat::Anthropic => read_anthropic_stream(&frames, seen),
        WireFormat::Gemini => read_gemini_stream(&frames, seen),
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

fn read_openai_stream(frames: &[SseFrame], include_usage: bool, mut seen: Seen) -> (Seen, End) {
    assert!(frames.iter().all(|f| f.event.is_none()), "no event names");
    let last = frames.last().expect("a frame");
    let (chunks, end) = if last.data == "[DONE]" {
        (&frames[..frames.len() - 1], End::Clean)
    } else {
        let err: Value = serde_json::from_str(&last.data).expect("error frame is JSON");
        let code = err["error"]["code"]
            .as_str()
            .or(err["error"]["type"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert!(!code.is_empty(), "error frame without code: {err}");
        (&frames[..frames.len() - 1], End::Error(code))
    };
    assert!(
        !chunks.iter().any(|f| f.data == "[DONE]"),
        "[DONE] only at the end"
    );
    let chunks: Vec<Value> = chunks
        .iter()
        .map(|f| serde_json::from_str(&f.data).expect("chunk is JSON"))
        .collect();
    if chunks.is_empty() {
        // An error before anything was sent.
        assert_ne!(end, End::Clean, "a clean stream has chunks");
        return (seen, end);
    }
    let (id, created) = (chunks[0]["id"].clone(), chunks[0]["created"].clone());
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finishes = 0;
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id, "same id throughout");
        assert_eq!(c["created"], created, "same created throughout");
        let choices = c["choices"].as_array().expect("choices");
        if choices.is_empty() {
            // The usage chunk: only when asked for, and right before [DONE].
            assert!(include_usage, "usage chunk without include_usage");
            assert_eq!(i, chunks.len() - 1, "usage chunk is last");
            assert_eq!(end, End::Clean);
            seen.usage = c["usage"].clone();
            continue;
        }
        if include_usage {
            assert!(c["usage"].is_null(), "usage null on content chunks: {c}");
        } else {
            assert!(c.get("usage").is_none() || c["usage"].is_null());
        }
        let d = &choices[0]["delta"];
        if i == 0 {
            assert_eq!(d["role"], "assistant", "role on the first chunk");
        }
        if let Some(t) = d["content"].as_str() {
            seen.text.push_str(t);
        }
        for tc in d["tool_calls"].as_array().into_iter().flatten() {
            let idx = tc["index"].as_u64().expect("tool call index") as usize;
            if idx == calls.len() {
                assert_eq!(tc["type"], "function");
                calls.push((
                    tc["id"].as_str().expect("id on the first fragment").into(),
                    tc["function"]["name"]
                        .as_str()
                        .expect("name on the first fragment")
                        .into(),
                    String::new(),
                ));
            }
            assert!(idx < calls.len(), "tool call indexes are dense");
            if let Some(a) = tc["function"]["arguments"].as_str() {
                calls[idx].2.push_str(a);
            }
        }
        if let Some(f) = choices[0]["finish_reason"].as_str() {
            finishes += 1;
            seen.finish = f.into();
        }
    }
    if end == End::Clean {
        assert_eq!(finishes, 1, "exactly one finish_reason");
        if include_usage {
            assert!(
                chunks.last().is_some_and(|c| c["choices"] == json!([])),
                "usage chunk before [DONE]"
            );
        }
    }
    seen.calls = calls
        .into_iter()
        .map(|(id, name, args)| (id, name, serde_json::from_str(&args).expect("args JSON")))
        .collect();
    (seen, end)
}

fn read_anthropic_stream(frames: &[SseFrame], mut seen: Seen) -> (Seen, End) {
    let events: Vec<(String, Value)> = frames
        .iter()
        .map(|f| {
            let name = f.event.clone().expect("every Anthropic event is named");
            let data: Value = serde_json::from_str(&f.data).expect("event data is JSON");
            assert_eq!(data["type"], name.as_str(), "type repeats the event name");
            (name, data)
        })
        .collect();
    let last = &events.last().expect("an event").0;
    if events.len() == 1 && last == "error" {
        // An error before anything was sent (the SDKs raise on it).
        let err = &events[0].1["error"];
        return (
            seen,
            End::Error(err["type"].as_str().unwrap_or_default().to_owned()),
        );
    }
    assert_eq!(events[0].0, "message_start", "message_start first");
    let start = &events[0].1["message"];
    assert_eq!(start["role"], "assistant");
    assert_eq!(start["content"], json!([]));
    let end = if last == "error" {
        let err = &events.last().expect("an event").1["error"];
        End::Error(err["type"].as_str().unwrap_or_default().to_owned())
    } else {
        assert_eq!(last, "message_stop", "message_stop last");
        assert_eq!(
            events[events.len() - 2].0,
            "message_delta",
            "message_delta before message_stop"
        );
        End::Clean
    };
    let mut open: Option<(u64, String)> = None;
    let mut next_index = 0;
    let mut blocks: Vec<(String, Value, String)> = Vec::new();
    for (name, data) in &events[1..] {
        match name.as_str() {
            "ping" => {}
            "content_block_start" => {
                assert!(open.is_none(), "one block at a time");
                let index = data["index"].as_u64().expect("index");
                assert_eq!(index, next_index, "blocks numbered 0, 1, …");
                next_index += 1;
                let kind = data["content_block"]["type"]
                    .as_str()
                    .expect("block type")
                    .to_owned();
                blocks.push((kind.clone(), data["content_block"].clone(), String::new()));
                open = Some((index, kind));
            }
            "content_block_delta" => {
                let (index, kind) = open.clone().expect("delta inside a block");
                assert_eq!(data["index"], index, "delta for the open block");
                let d = &data["delta"];
                let piece = match (kind.as_str(), d["type"].as_str()) {
                    ("text", Some("text_delta")) => d["text"].as_str(),
                    ("tool_use", Some("input_json_delta")) => d["partial_json"].as_str(),
                    ("thinking", Some("thinking_delta")) => d["thinking"].as_str(),
                    ("thinking", Some("signature_delta")) => d["signature"].as_str(),
                    other => panic!("delta {other:?} does not fit its block"),
                };
                if let Some(b) = blocks.last_mut() {
                    b.2.push_str(piece.unwrap_or_default());
                }
            }
            "content_block_stop" => {
                let (index, _) = open.take().expect("stop of an open block");
                assert_eq!(data["index"], index);
            }
            "message_delta" => {
                assert!(open.is_none(), "blocks closed before message_delta");
                seen.finish = data["delta"]["stop_reason"]
                    .as_str()
                    .unwrap_or_default()
                    .into();
                seen.usage = data["usage"].clone();
            }
            "message_stop" | "error" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    for (kind, start, acc) in blocks {
        match kind.as_str() {
            "text" => seen.text.push_str(&acc),
            "tool_use" => seen.calls.push((
                start["id"].as_str().unwrap_or_default().into(),
                start["name"].as_str().unwrap_or_default().into(),
                serde_json::from_str(&acc).expect("input JSON"),
            )),
            _ => {}
        }
    }
    (seen, end)
}

fn read_gemini_stream(frames: &[SseFrame], mut seen: Seen) -> (Seen, End) {
    assert!(frames.iter().all(|f| f.event.is_none()), "no event names");
    assert!(
        frames.iter().all(|f| f.data != "[DONE]"),
        "Gemini streams have no [DONE]"
    );
    let chunks: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str(&f.data).expect("chunk is JSON"))
        .collect();
    let last = chunks.last().expect("a chunk");
    let end = if let Some(err) = last.get("error") {
        End::Error(err["status"].as_str().unwrap_or_default().to_owned())
    } else {
        End::Clean
    };
    let content_chunks = if end == End::Clean {
        &chunks[..]
    } else {
        &chunks[..chunks.len() - 1]
    };
    for (i, c) in content_chunks.iter().enumerate() {
        let cand = &c["candidates"][0];
        assert_eq!(cand["content"]["role"], "model");
        let is_last = i == content_chunks.len() - 1 && end == End::Clean;
        if is_last {
            seen.finish = cand["finishReason"]
                .as_str()
                .expect("finishReason on the last chunk")
                .into();
            seen.usage = c["usageMetadata"].clone();
            assert!(seen.usage.is_object(), "usageMetadata on the last chunk");
        } else {
            assert!(
                cand.get("finishReason").is_none(),
                "finishReason only at the end"
            );
        }
        for p in cand["content"]["parts"].as_array().expect("parts") {
            if p["thought"] == true {
                continue;
            }
            if let Some(t) = p["text"].as_str() {
                seen.text.push_str(t);
            }
            if let Some(f) = p.get("functionCall") {
                seen.calls.push((
                    f["id"].as_str().unwrap_or_default().into(),
                    f["name"].as_str().unwrap_or_default().into(),
                    f["args"].clone(),
                ));
            }
        }
    }
    (seen, end)
}

fn client_request(client: WireFormat, include_usage: bool) -> ChatRequest {
    let mut req = decode_client(client, true);
    if client == WireFormat::OpenAi {
        req.include_usage = include_usage;
    }
    req
}

#[test]
fn streams_every_pair_and_every_finish_reason() {
    for upstream in FORMATS {
        for e in ENDINGS {
            let bytes = upstream_stream(upstream, e);
            let want_stop = matches!(
                (upstream, e.unified),
                (
                    WireFormat::OpenAi | WireFormat::Gemini,
                    FinishReason::StopSequence
                )
            );
            for client in FORMATS {
                let usage_flags: &[bool] = if client == WireFormat::OpenAi {
                    &[true, false]
                } else {
                    &[true]
                };
                for &include_usage in usage_flags {
                    let ctx = format!(
                        "{upstream:?} stream → {client:?} client (include_usage {include_usage}), {e:?}"
                    );
                    let req = client_request(client, include_usage);
                    let mut enc = client_codec(client).stream_encoder(&req);
                    let out = pipe(upstream, &bytes, enc.as_mut());
                    let (seen, end) = read_client_stream(client, &out, include_usage);
                    assert_eq!(end, End::Clean, "{ctx}");
                    let mut e = e;
                    if want_stop {
                        e.client = ENDINGS[1].client;
                    }
                    if client == WireFormat::OpenAi && !include_usage {
                        assert!(seen.usage.is_null(), "{ctx}: unasked usage");
                        let mut seen = seen;
                        seen.usage = json!({"prompt_tokens": 1200, "completion_tokens": 300,
                            "total_tokens": 1500, "prompt_tokens_details": {"cached_tokens": 1000},
                            "completion_tokens_details": {"reasoning_tokens": 200}});
                        assert_seen(client, upstream, e, &seen, &ctx);
                    } else {
                        assert_seen(client, upstream, e, &seen, &ctx);
                    }
                }
            }
        }
    }
}

#[test]
fn anthropic_clients_get_the_real_input_tokens_in_the_final_message_delta() {
    // Unknown at message_start for OpenAI upstreams (usage comes last): the final
    // message_delta must carry them.
    let bytes = upstream_stream(WireFormat::OpenAi, ENDINGS[1]);
    let mut enc = client_codec(WireFormat::Anthropic).stream_encoder(&ChatRequest::default());
    let out = pipe(WireFormat::OpenAi, &bytes, enc.as_mut());
    let frames = frames_of(&out);
    let delta = frames
        .iter()
        .rev()
        .find(|f| f.event.as_deref() == Some("message_delta"))
        .expect("message_delta");
    let v: Value = serde_json::from_str(&delta.data).expect("JSON");
    assert_eq!(v["usage"]["input_tokens"], 200);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 1000);
    assert_eq!(v["usage"]["output_tokens"], 300);
}

// ============================================================ failures

fn gemini_safety_without_content() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model"},
            "finishReason": "SAFETY",
            "index": 0,
            "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}
            ]
        }],
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
        "modelVersion": "gemini-2.5-flash"
    })
}

fn assert_client_error(client: WireFormat, err: &GatewayError, code: ErrorCode) {
    assert_eq!(err.code, code);
    let body: Value =
        serde_json::from_slice(&client_codec(client).encode_error(err)).expect("error is JSON");
    match client {
        WireFormat::OpenAi => assert!(body["error"]["message"].is_string(), "{body}"),
        WireFormat::Anthropic => {
            assert_eq!(body["type"], "error");
            assert!(body["error"]["type"].is_string(), "{body}");
        }
        WireFormat::Gemini => assert!(body["error"]["status"].is_string(), "{body}"),
        WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
    }
}

#[test]
fn gemini_safety_is_never_an_empty_success() {
    // Complete answer, nothing generated: an error in every client format.
    let err = decode_upstream(WireFormat::Gemini, &gemini_safety_without_content())
        .expect_err("SAFETY without content is an error");
    for client in FORMATS {
        assert_client_error(client, &err, ErrorCode::ContentFiltered);
    }
    // Blocked prompt (no candidates at all).
    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}});
    let err = decode_upstream(WireFormat::Gemini, &blocked).expect_err("blocked prompt");
    for client in FORMATS {
        assert_client_error(client, &err, ErrorCode::ContentFiltered);
    }

    // Streamed, nothing generated: the client stream ends with an error event.
    let bytes = sse(&[(None, gemini_safety_without_content())]);
    for client in FORMATS {
        let req = client_request(client, true);
        let mut enc = client_codec(client).stream_encoder(&req);
        let out = pipe(WireFormat::Gemini, &bytes, enc.as_mut());
        let (seen, end) = read_client_stream(client, &out, true);
        assert!(
            matches!(end, End::Error(_)),
            "{client:?}: SAFETY stream ended cleanly: {}",
            String::from_utf8_lossy(&out)
        );
        assert!(seen.text.is_empty());
    }

    // Streamed after some text, and complete with some text: a content-filter finish,
    // never a plain stop.
    let bytes = upstream_stream(WireFormat::Gemini, ENDINGS[3]);
    for client in FORMATS {
        let req = client_request(client, true);
        let mut enc = client_codec(client).stream_encoder(&req);
        let out = pipe(WireFormat::Gemini, &bytes, enc.as_mut());
        let (seen, end) = read_client_stream(client, &out, true);
        assert_eq!(end, End::Clean);
        assert_eq!(seen.finish, ENDINGS[3].client[client_index(client)]);
        let resp = decode_upstream(
            WireFormat::Gemini,
            &upstream_answer(WireFormat::Gemini, ENDINGS[3]),
        )
        .expect("content then SAFETY");
        let body: Value = serde_json::from_slice(
            &client_codec(client).encode_response(&ax_core::ChatRequest::default(), &resp),
        )
        .expect("JSON");
        let seen = read_client_answer(client, &body);
        assert_eq!(seen.finish, ENDINGS[3].client[client_index(client)]);
    }
}

#[test]
fn gemini_call_signatures_ride_in_call_ids() {
    // A Gemini answer whose function call carries a thought signature: the unified
    // answer holds it in the call's id…
    let body = json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "Planning the lookup.", "thought": true},
                {"functionCall": {"name": TOOL, "args": {"city": "London"}},
                    "thoughtSignature": GEMINI_SIGNATURE}
            ]},
            "finishReason": "STOP", "index": 0
        }],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
            "thoughtsTokenCount": 7, "totalTokenCount": 22},
        "modelVersion": "gemini-2.5-flash", "responseId": "sig-1"
    });
    let resp = decode_upstream(WireFormat::Gemini, &body).expect("decodes");
    assert!(resp.content.iter().any(|p| matches!(
        p,
        ContentPart::ToolCall { id, .. }
            if tool_ids::thought_signature(id).1.as_deref() == Some(GEMINI_SIGNATURE)
    )));
    assert!(
        !resp.content.iter().any(|p| matches!(
            p,
            ContentPart::Reasoning {
                signature: Some(_),
                ..
            }
        )),
        "no carrier besides: {:?}",
        resp.content
    );
    assert_eq!(resp.finish_reason, FinishReason::ToolCalls);
    for client in FORMATS {
        let out: Value = serde_json::from_slice(
            &client_codec(client).encode_response(&ax_core::ChatRequest::default(), &resp),
        )
        .expect("JSON");
        let all = strings(&out);
        let leaked = all.iter().any(|s| s.contains(GEMINI_SIGNATURE));
        match client {
            // …which a Gemini client gets back on the call, as Gemini sent it…
            WireFormat::Gemini => {
                assert!(leaked, "Gemini client lost the signature: {out}");
                let parts = &out["candidates"][0]["content"]["parts"];
                let call = parts
                    .as_array()
                    .expect("parts")
                    .iter()
                    .find(|p| p.get("functionCall").is_some())
                    .expect("the call");
                assert_eq!(call["thoughtSignature"], GEMINI_SIGNATURE);
            }
            // …and any other client only inside the call id (no empty thinking block).
            _ => {
                let id = match client {
                    WireFormat::OpenAi => {
                        out["choices"][0]["message"]["tool_calls"][0]["id"].as_str()
                    }
                    _ => out["content"]
                        .as_array()
                        .and_then(|b| b.iter().find(|b| b["type"] == "tool_use"))
                        .and_then(|b| b["id"].as_str()),
                };
                let id = id.expect("the call id");
                assert_eq!(
                    tool_ids::thought_signature(id).1.as_deref(),
                    Some(GEMINI_SIGNATURE),
                    "{client:?}: {out}"
                );
                let outside = all.iter().any(|s| s.contains(GEMINI_SIGNATURE) && s != id);
                assert!(!outside, "{client:?}: signature outside the id: {out}");
                if client == WireFormat::Anthropic {
                    for b in out["content"].as_array().expect("content") {
                        if b["type"] == "thinking" {
                            assert!(
                                b["thinking"].as_str().is_some_and(|t| !t.is_empty()),
                                "empty thinking block: {out}"
                            );
                        }
                    }
                }
            }
        }
    }

    // The same in a stream.
    let frames = sse(&[(None, body)]);
    for client in FORMATS {
        let req = client_request(client, true);
        let mut enc = client_codec(client).stream_encoder(&req);
        let out = pipe(WireFormat::Gemini, &frames, enc.as_mut());
        let (seen, end) = read_client_stream(client, &out, true);
        assert_eq!(end, End::Clean, "{client:?}");
        assert_eq!(seen.calls.len(), 1, "{client:?}");
        let id = &seen.calls[0].0;
        let outside = seen
            .all
            .iter()
            .any(|s| s.contains(GEMINI_SIGNATURE) && s != id);
        let in_id = tool_ids::thought_signature(id).1.as_deref() == Some(GEMINI_SIGNATURE);
        let on_part = seen.all.iter().any(|s| s == GEMINI_SIGNATURE);
        let text = String::from_utf8_lossy(&out);
        match client {
            // The Gemini client gets it on the part, as Gemini sent it.
            WireFormat::Gemini => assert!(on_part && !in_id, "{text}"),
            _ => assert!(in_id && !outside, "{client:?}: {text}"),
        }
    }
}

#[test]
fn mid_stream_errors_end_every_client_stream_with_an_error_event() {
    let errors = [
        (
            WireFormat::OpenAi,
            b"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n".to_vec(),
        ),
        (
            WireFormat::Anthropic,
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".to_vec(),
        ),
        (
            WireFormat::Gemini,
            b"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]},\"index\":0}]}\n\ndata: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n".to_vec(),
        ),
    ];
    for (upstream, bytes) in &errors {
        for client in FORMATS {
            let req = client_request(client, true);
            let mut enc = client_codec(client).stream_encoder(&req);
            let out = pipe(*upstream, bytes, enc.as_mut());
            let (_, end) = read_client_stream(client, &out, true);
            assert!(
                matches!(end, End::Error(_)),
                "{upstream:?} → {client:?}: {}",
                String::from_utf8_lossy(&out)
            );
        }
    }
    // A stream cut before its end marker is an error too (Gemini: before finishReason).
    let cut: [(WireFormat, &[u8]); 3] = [
        (WireFormat::OpenAi, &errors[0].1[..errors[0].1.len() / 2]),
        (
            WireFormat::Anthropic,
            &upstream_stream(WireFormat::Anthropic, ENDINGS[1])[..300],
        ),
        (
            WireFormat::Gemini,
            &errors[2].1[..errors[2].1.iter().position(|b| *b == b'\n').unwrap_or(0) + 2],
        ),
    ];
    for (upstream, bytes) in cut {
        for client in FORMATS {
            let req = client_request(client, true);
            let mut enc = client_codec(client).stream_encoder(&req);
            let out = pipe(upstream, bytes, enc.as_mut());
            let (_, end) = read_client_stream(client, &out, true);
            assert!(
                matches!(end, End::Error(_)),
                "cut {upstream:?} → {client:?}: {}",
                String::from_utf8_lossy(&out)
            );
        }
    }
}

#[test]
fn streamed_and_complete_answers_agree() {
    // For every pair, what a client reads from the stream equals what it reads from the
    // complete answer (text, calls, finish, usage).
    for upstream in FORMATS {
        for e in ENDINGS {
            let resp = decode_upstream(upstream, &upstream_answer(upstream, e)).expect("decodes");
            let events: Vec<StreamEvent> = {
                let mut d = stream_decoder(upstream);
                let mut all = Vec::new();
                for f in frames_of(&upstream_stream(upstream, e)) {
                    all.extend(d.decode(&f).expect("decodes"));
                }
                all.extend(d.finish().expect("complete"));
                all
            };
            let finish = events.iter().find_map(|ev| match ev {
                StreamEvent::Finish { reason, .. } => Some(*reason),
                _ => None,
            });
            assert_eq!(finish, Some(resp.finish_reason), "{upstream:?} {e:?}");
            let mut usage = Usage::default();
            for ev in &events {
                if let StreamEvent::Usage(u) = ev {
                    usage.merge_max(u);
                }
            }
            assert_eq!(usage, resp.usage, "{upstream:?} {e:?}");
        }
    }
}

#[test]
fn anthropic_thinking_reaches_every_client_as_reasoning() {
    // An Anthropic answer that thought before calling a tool (the extended-thinking docs'
    // tool-use example): OpenAI clients read it as `reasoning_content`, Gemini clients as
    // a `thought` part, Anthropic clients as the same signed block.
    let body = json!({
        "id": "msg_01Think", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "The user wants London's weather.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
            {"type": "tool_use", "id": "toolu_01London", "name": TOOL, "input": {"city": "London"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 20}
    });
    let resp = decode_upstream(WireFormat::Anthropic, &body).expect("decodes");
    for client in FORMATS {
        let out: Value = serde_json::from_slice(
            &client_codec(client).encode_response(&ax_core::ChatRequest::default(), &resp),
        )
        .expect("JSON");
        match client {
            WireFormat::OpenAi => assert_eq!(
                out["choices"][0]["message"]["reasoning_content"],
                "The user wants London's weather."
            ),
            WireFormat::Anthropic => assert_eq!(out["content"][0], body["content"][0]),
            WireFormat::Gemini => {
                let p = &out["candidates"][0]["content"]["parts"][0];
                assert_eq!(p["thought"], true, "{out}");
                assert_eq!(p["text"], "The user wants London's weather.");
            }
            WireFormat::Responses => unreachable!("the matrix covers the three chat formats"),
        }
        let seen = read_client_answer(client, &out);
        assert_eq!(seen.calls.len(), 1, "{client:?}");
        assert_eq!(seen.finish, ENDINGS[0].client[client_index(client)]);
    }
}

#[test]
fn gemini_call_ids_are_synthesized_and_stable() {
    // Gemini 2.x sends calls without ids: every non-Gemini client gets one, the same
    // for the same answer, and the answer's tool result can be matched back to it.
    let body = upstream_answer(WireFormat::Gemini, ENDINGS[0]);
    let a = decode_upstream(WireFormat::Gemini, &body).expect("decodes");
    let b = decode_upstream(WireFormat::Gemini, &body).expect("decodes");
    let id_of = |r: &ChatResponse| {
        r.content
            .iter()
            .find_map(|p| match p {
                ContentPart::ToolCall { id, .. } => Some(id.clone()),
                _ => None,
            })
            .expect("a call")
    };
    assert!(!id_of(&a).is_empty());
    assert_eq!(id_of(&a), id_of(&b));
    // A streamed answer's call gets one too.
    let mut d = stream_decoder(WireFormat::Gemini);
    let mut started = None;
    for f in frames_of(&upstream_stream(WireFormat::Gemini, ENDINGS[0])) {
        for ev in d.decode(&f).expect("decodes") {
            if let StreamEvent::ToolCallStart { id, .. } = ev {
                started = Some(id);
            }
        }
    }
    assert!(started.is_some_and(|id| !id.is_empty()));
}
