//! Thought signatures through clients of another format, with no gateway state: a
//! Gemini answer with a signed `functionCall`, given to an OpenAI or an Anthropic client
//! (complete and streamed), comes back in that client's next request with the call and
//! its result, and the request for Gemini carries the same `thoughtSignature` on the
//! `functionCall` part. Anthropic thinking before a `tool_use`, given to an OpenAI Chat
//! Completions client, comes back the same way and is replayed to Anthropic. Other
//! upstreams get the ids without what ax put in them.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a wrong shape should fail loudly"
)]

use ax_core::{ContentPart, ProviderKind, StreamEvent, WireFormat};
use ax_providers::anthropic::{AnthropicStreamDecoder, AnthropicStreamEncoder};
use ax_providers::gemini::GeminiStreamDecoder;
use ax_providers::openai::OpenAiStreamEncoder;
use ax_providers::{
    DecodeOptions, ProviderConfig, SseDecoder, StreamDecoder, StreamEncoder, anthropic,
    client_codec, gemini, openai, tool_ids,
};
use serde_json::{Value, json};

/// A signature as long as the ones Gemini 3 sends (they run to kilobytes): standard
/// base64 of opaque bytes.
fn gemini_signature() -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..1500u32).map(|i| (i * 7 + i / 3) as u8).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A Gemini 3 answer: thought summary, then two parallel calls with the ids Gemini 3
/// issues; only the first call of the step carries the signature (as the API does).
fn gemini_answer(sig: &str) -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "The user wants two cities.", "thought": true},
                {"functionCall": {"id": "8f2b3c1d", "name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": sig},
                {"functionCall": {"id": "9a7e4d2f", "name": "get_weather", "args": {"city": "Rome"}}}
            ]},
            "finishReason": "STOP",
            "index": 0
        }],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 12,
            "thoughtsTokenCount": 30, "totalTokenCount": 82},
        "modelVersion": "gemini-3-pro-preview",
        "responseId": "resp-g3-1"
    })
}

/// The same answer as a stream: the thought, then the calls with the finish.
fn gemini_stream(sig: &str) -> Vec<u8> {
    let answer = gemini_answer(sig);
    let parts = answer["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap();
    let first = json!({"candidates": [{"content": {"role": "model", "parts": [parts[0]]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 40, "totalTokenCount": 40},
        "modelVersion": "gemini-3-pro-preview", "responseId": "resp-g3-1"});
    let last = json!({"candidates": [{"content": {"role": "model", "parts": [parts[1], parts[2]]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": answer["usageMetadata"],
        "modelVersion": "gemini-3-pro-preview", "responseId": "resp-g3-1"});
    format!("data: {first}\r\n\r\ndata: {last}\r\n\r\n").into_bytes()
}

/// Upstream SSE bytes through `decoder`, then through a client stream `encoder`.
fn pipe(
    upstream: &[u8],
    decoder: &mut dyn StreamDecoder,
    encoder: &mut dyn StreamEncoder,
) -> Vec<u8> {
    let mut sse = SseDecoder::new();
    let mut frames = Vec::new();
    sse.feed(upstream, &mut frames).unwrap();
    sse.finish(&mut frames).unwrap();
    let mut events: Vec<StreamEvent> = Vec::new();
    for f in &frames {
        events.extend(decoder.decode(f).unwrap());
    }
    events.extend(decoder.finish().unwrap());
    let mut out = Vec::new();
    for e in &events {
        encoder.encode(e, &mut out);
    }
    encoder.finish(&mut out);
    out
}

/// The JSON data of every SSE frame (`[DONE]` left out).
fn frames(bytes: &[u8]) -> Vec<Value> {
    let mut sse = SseDecoder::new();
    let mut frames = Vec::new();
    sse.feed(bytes, &mut frames).unwrap();
    sse.finish(&mut frames).unwrap();
    frames
        .iter()
        .filter(|f| f.data != "[DONE]")
        .map(|f| serde_json::from_str(&f.data).unwrap())
        .collect()
}

/// An OpenAI stream put together the way clients do: `reasoning_content` and
/// `content` concatenated, tool calls by index.
fn openai_message_from_stream(bytes: &[u8]) -> Value {
    let mut reasoning = String::new();
    let mut content = String::new();
    let mut calls: Vec<Value> = Vec::new();
    for chunk in frames(bytes) {
        let Some(delta) = chunk["choices"].get(0).map(|c| &c["delta"]) else {
            continue;
        };
        if let Some(r) = delta["reasoning_content"].as_str() {
            reasoning.push_str(r);
        }
        if let Some(c) = delta["content"].as_str() {
            content.push_str(c);
        }
        for tc in delta["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().unwrap() as usize;
            if calls.len() <= i {
                calls.push(json!({"id": "", "type": "function",
                    "function": {"name": "", "arguments": ""}}));
            }
            let call = &mut calls[i];
            if let Some(id) = tc["id"].as_str() {
                call["id"] = json!(id);
            }
            if let Some(n) = tc["function"]["name"].as_str() {
                let name = format!("{}{n}", call["function"]["name"].as_str().unwrap());
                call["function"]["name"] = json!(name);
            }
            if let Some(a) = tc["function"]["arguments"].as_str() {
                let args = format!("{}{a}", call["function"]["arguments"].as_str().unwrap());
                call["function"]["arguments"] = json!(args);
            }
        }
    }
    json!({"role": "assistant", "content": if content.is_empty() { Value::Null } else { json!(content) },
        "reasoning_content": reasoning, "tool_calls": calls})
}

/// An Anthropic stream put together as the SDK's `get_final_message()` does.
fn anthropic_content_from_stream(bytes: &[u8]) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut json_text: Vec<String> = Vec::new();
    for event in frames(bytes) {
        match event["type"].as_str().unwrap() {
            "content_block_start" => {
                blocks.push(event["content_block"].clone());
                json_text.push(String::new());
            }
            "content_block_delta" => {
                let i = event["index"].as_u64().unwrap() as usize;
                let d = &event["delta"];
                let b = &mut blocks[i];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        b["text"] = json!(format!(
                            "{}{}",
                            b["text"].as_str().unwrap(),
                            d["text"].as_str().unwrap()
                        ));
                    }
                    "thinking_delta" => {
                        b["thinking"] = json!(format!(
                            "{}{}",
                            b["thinking"].as_str().unwrap(),
                            d["thinking"].as_str().unwrap()
                        ));
                    }
                    "signature_delta" => b["signature"] = d["signature"].clone(),
                    "input_json_delta" => {
                        json_text[i].push_str(d["partial_json"].as_str().unwrap())
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            _ => {}
        }
    }
    for (b, text) in blocks.iter_mut().zip(json_text) {
        if b["type"] == "tool_use" && !text.is_empty() {
            b["input"] = serde_json::from_str(&text).unwrap();
        }
    }
    blocks
}

fn cfg(kind: ProviderKind) -> ProviderConfig {
    ProviderConfig::new("p", kind)
}

/// The client's next request (as a client in `format` sends it), decoded, then
/// encoded for an upstream of `kind`.
fn next_turn_for(format: WireFormat, body: &Value, kind: ProviderKind, model: &str) -> Value {
    let req = client_codec(format)
        .decode_request(body.to_string().as_bytes(), DecodeOptions::default())
        .unwrap();
    let bytes = match kind {
        ProviderKind::Gemini => gemini::encode_request(&req, model, false, &cfg(kind)).to_vec(),
        ProviderKind::Anthropic => anthropic::encode_request(&req, model, false, &cfg(kind))
            .unwrap()
            .to_vec(),
        _ => openai::encode_request(&req, model, false, &cfg(kind)).to_vec(),
    };
    serde_json::from_slice(&bytes).unwrap()
}

/// The `functionCall` parts of the model contents of a Gemini request.
fn gemini_calls(body: &Value) -> Vec<Value> {
    body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "model")
        .flat_map(|c| c["parts"].as_array().unwrap().iter().cloned())
        .filter(|p| p.get("functionCall").is_some())
        .collect()
}

fn gemini_responses(body: &Value) -> Vec<Value> {
    body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["parts"].as_array().unwrap().iter().cloned())
        .filter_map(|p| p.get("functionResponse").cloned())
        .collect()
}

/// What Gemini must get back: the first call with its id and signature, the second with
/// its id and none, and each result under its call's id.
fn assert_gemini_gets_its_signature_back(body: &Value, sig: &str) {
    let calls = gemini_calls(body);
    assert_eq!(calls.len(), 2, "{body}");
    assert_eq!(calls[0]["functionCall"]["id"], "8f2b3c1d");
    assert_eq!(calls[0]["thoughtSignature"], sig);
    assert_eq!(calls[1]["functionCall"]["id"], "9a7e4d2f");
    assert!(calls[1].get("thoughtSignature").is_none(), "{}", calls[1]);
    let responses = gemini_responses(body);
    let ids: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["8f2b3c1d", "9a7e4d2f"], "{body}");
    // No id anywhere still carries what ax put in it.
    assert!(!body.to_string().contains("__ax"), "{body}");
}

/// An OpenAI client's next request: its history, the assistant message as it was
/// received, and one `tool` message per call.
fn openai_next_request(message: &Value) -> Value {
    let mut messages = vec![
        json!({"role": "user", "content": "Weather in Paris and Rome?"}),
        message.clone(),
    ];
    for (i, call) in message["tool_calls"].as_array().unwrap().iter().enumerate() {
        messages.push(json!({"role": "tool", "tool_call_id": call["id"],
            "content": format!("{{\"temp\": {}}}", 20 + i)}));
    }
    json!({"model": "m", "messages": messages,
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]})
}

/// An Anthropic client's next request: the assistant content as received, then one
/// `tool_result` per `tool_use`.
fn anthropic_next_request(content: &[Value]) -> Value {
    let results: Vec<Value> = content
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| json!({"type": "tool_result", "tool_use_id": b["id"], "content": "20 degrees"}))
        .collect();
    json!({"model": "m", "max_tokens": 1024, "messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": content},
        {"role": "user", "content": results}
    ], "tools": [{"name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]})
}

fn anthropic_id_charset(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[test]
fn a_gemini_signature_survives_an_openai_client() {
    let sig = gemini_signature();
    let resp = gemini::decode_response(gemini_answer(&sig).to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(&openai::encode_response(&resp)).unwrap();
    let message = &body["choices"][0]["message"];
    let ids: Vec<&str> = message["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    // The signed call's id carries it; the other is plain.
    assert_eq!(
        tool_ids::thought_signature(ids[0]).1.as_deref(),
        Some(sig.as_str())
    );
    assert_eq!(tool_ids::split(ids[1]).1, None);

    let next = openai_next_request(message);
    let upstream = next_turn_for(
        WireFormat::OpenAi,
        &next,
        ProviderKind::Gemini,
        "gemini-3-pro-preview",
    );
    assert_gemini_gets_its_signature_back(&upstream, &sig);
}

#[test]
fn a_gemini_signature_survives_an_openai_stream() {
    let sig = gemini_signature();
    let out = pipe(
        &gemini_stream(&sig),
        &mut GeminiStreamDecoder::new(),
        &mut OpenAiStreamEncoder::new(false),
    );
    let message = openai_message_from_stream(&out);
    let next = openai_next_request(&message);
    let upstream = next_turn_for(
        WireFormat::OpenAi,
        &next,
        ProviderKind::Gemini,
        "gemini-3-pro-preview",
    );
    assert_gemini_gets_its_signature_back(&upstream, &sig);
}

#[test]
fn a_gemini_signature_survives_an_anthropic_client() {
    let sig = gemini_signature();
    let resp = gemini::decode_response(gemini_answer(&sig).to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(&anthropic::encode_response(&resp)).unwrap();
    let content = body["content"].as_array().unwrap();
    for b in content.iter().filter(|b| b["type"] == "tool_use") {
        let id = b["id"].as_str().unwrap();
        // Anthropic's `tool_use.id` pattern, whatever the signature holds.
        assert!(anthropic_id_charset(id), "{id}");
    }
    let next = anthropic_next_request(content);
    let upstream = next_turn_for(
        WireFormat::Anthropic,
        &next,
        ProviderKind::Gemini,
        "gemini-3-pro-preview",
    );
    assert_gemini_gets_its_signature_back(&upstream, &sig);
}

#[test]
fn a_gemini_signature_survives_an_anthropic_stream() {
    let sig = gemini_signature();
    let out = pipe(
        &gemini_stream(&sig),
        &mut GeminiStreamDecoder::new(),
        &mut AnthropicStreamEncoder::new(),
    );
    let content = anthropic_content_from_stream(&out);
    let uses: Vec<&Value> = content.iter().filter(|b| b["type"] == "tool_use").collect();
    assert_eq!(uses.len(), 2, "{content:?}");
    assert!(
        uses.iter()
            .all(|b| anthropic_id_charset(b["id"].as_str().unwrap()))
    );
    let next = anthropic_next_request(&content);
    let upstream = next_turn_for(
        WireFormat::Anthropic,
        &next,
        ProviderKind::Gemini,
        "gemini-3-pro-preview",
    );
    assert_gemini_gets_its_signature_back(&upstream, &sig);
}

#[test]
fn a_gemini_client_gets_the_signature_on_its_part() {
    // Gemini → unified → Gemini (a Gemini client served through the translation path):
    // the signature is back on the part, the id as Gemini sent it.
    let sig = gemini_signature();
    let resp = gemini::decode_response(gemini_answer(&sig).to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(&gemini::encode_response(&resp)).unwrap();
    let parts = &body["candidates"][0]["content"]["parts"];
    assert_eq!(parts[1]["functionCall"]["id"], "8f2b3c1d");
    assert_eq!(parts[1]["thoughtSignature"], sig.as_str());
    assert!(parts[2].get("thoughtSignature").is_none());
    let out = pipe(
        &gemini_stream(&sig),
        &mut GeminiStreamDecoder::new(),
        &mut ax_providers::gemini::GeminiStreamEncoder::new(),
    );
    let calls: Vec<Value> = frames(&out)
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls[0]["functionCall"]["id"], "8f2b3c1d");
    assert_eq!(calls[0]["thoughtSignature"], sig.as_str());
    assert!(calls[1].get("thoughtSignature").is_none());
}

#[test]
fn other_upstreams_get_the_ids_without_the_signature() {
    let sig = gemini_signature();
    let resp = gemini::decode_response(gemini_answer(&sig).to_string().as_bytes()).unwrap();

    // An Anthropic client's next turn served by OpenAI (translated) and by Anthropic
    // (the fast path, which otherwise forwards the client's body).
    let body: Value = serde_json::from_slice(&anthropic::encode_response(&resp)).unwrap();
    let next = anthropic_next_request(body["content"].as_array().unwrap());
    let to_openai = next_turn_for(WireFormat::Anthropic, &next, ProviderKind::OpenAi, "gpt-4o");
    let to_anthropic = next_turn_for(
        WireFormat::Anthropic,
        &next,
        ProviderKind::Anthropic,
        "claude-sonnet-4-5",
    );
    // An OpenAI client's next turn served by OpenAI (the fast path) and by Anthropic.
    let body: Value = serde_json::from_slice(&openai::encode_response(&resp)).unwrap();
    let next_openai = openai_next_request(&body["choices"][0]["message"]);
    let fast_openai = next_turn_for(
        WireFormat::OpenAi,
        &next_openai,
        ProviderKind::OpenAi,
        "gpt-4o",
    );
    let openai_to_anthropic = next_turn_for(
        WireFormat::OpenAi,
        &next_openai,
        ProviderKind::Anthropic,
        "claude-sonnet-4-5",
    );

    for upstream in [&to_openai, &fast_openai] {
        let messages = upstream["messages"].as_array().unwrap();
        let calls: Vec<&str> = messages
            .iter()
            .flat_map(|m| m["tool_calls"].as_array().into_iter().flatten())
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        let results: Vec<&str> = messages
            .iter()
            .filter_map(|m| m["tool_call_id"].as_str())
            .collect();
        assert_eq!(calls.len(), 2, "{upstream}");
        assert_eq!(calls, results, "{upstream}");
        // OpenAI refuses ids longer than 40 characters.
        assert!(calls.iter().all(|id| id.len() <= 40), "{calls:?}");
        assert!(!upstream.to_string().contains("__ax"), "{upstream}");
    }
    for upstream in [&to_anthropic, &openai_to_anthropic] {
        let blocks: Vec<&Value> = upstream["messages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["content"].as_array().into_iter().flatten())
            .collect();
        let uses: Vec<&str> = blocks
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        let results: Vec<&str> = blocks
            .iter()
            .filter(|b| b["type"] == "tool_result")
            .map(|b| b["tool_use_id"].as_str().unwrap())
            .collect();
        assert_eq!(uses.len(), 2, "{upstream}");
        assert_eq!(uses, results);
        assert!(uses.iter().all(|id| anthropic_id_charset(id)));
        assert!(!upstream.to_string().contains("__ax"), "{upstream}");
        // A Gemini signature means nothing to Anthropic: no thinking block carries it.
        assert!(!upstream.to_string().contains(&sig[..40]), "{upstream}");
    }
}

#[test]
fn a_fast_path_body_without_attachments_is_forwarded_as_sent() {
    // The usual case costs nothing: the client's bytes go out unchanged.
    let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    let req = client_codec(WireFormat::OpenAi)
        .decode_request(body, DecodeOptions::default())
        .unwrap();
    let out = openai::encode_request(&req, "gpt-4o", false, &cfg(ProviderKind::OpenAi));
    assert_eq!(&out[..], &body[..]);
}

// ---------------------------------------------------------- Anthropic thinking

/// An Anthropic answer with interleaved thinking: signed thinking, text, a call, more
/// signed thinking, a second call (`interleaved-thinking` beta), and a redacted block.
fn anthropic_answer() -> Value {
    json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Paris first; naïve guess: rain.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},
            {"type": "thinking", "thinking": "Now Rome.", "signature": "ErUBCkYIAxgCIkDH+/8="},
            {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"city": "Rome"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 50, "output_tokens": 80}
    })
}

/// The thinking and tool blocks an Anthropic upstream gets for the replayed turn.
fn replayed_assistant(upstream: &Value) -> Vec<Value> {
    let messages = upstream["messages"].as_array().unwrap();
    let assistant = messages.iter().find(|m| m["role"] == "assistant").unwrap();
    assistant["content"].as_array().unwrap().clone()
}

#[test]
fn anthropic_thinking_survives_an_openai_client() {
    let resp = anthropic::decode_response(anthropic_answer().to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(&openai::encode_response(&resp)).unwrap();
    let message = &body["choices"][0]["message"];
    assert_eq!(
        message["reasoning_content"],
        "Paris first; naïve guess: rain.Now Rome."
    );
    let next = openai_next_request(message);
    let upstream = next_turn_for(
        WireFormat::OpenAi,
        &next,
        ProviderKind::Anthropic,
        "claude-sonnet-4-5",
    );
    let blocks = replayed_assistant(&upstream);
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    // The turn starts with its thinking, as Anthropic requires with tool use; each
    // block before the call it preceded.
    assert_eq!(
        kinds,
        [
            "thinking",
            "text",
            "tool_use",
            "redacted_thinking",
            "thinking",
            "tool_use"
        ],
        "{upstream}"
    );
    assert_eq!(blocks[0]["thinking"], "Paris first; naïve guess: rain.");
    assert_eq!(blocks[0]["signature"], "EqQBCgIYAhIM1gbcDa9GJwZA2b3h");
    assert_eq!(blocks[2]["id"], "toolu_01A");
    assert_eq!(
        blocks[3]["data"],
        "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
    );
    assert_eq!(blocks[4]["thinking"], "Now Rome.");
    assert_eq!(blocks[4]["signature"], "ErUBCkYIAxgCIkDH+/8=");
    assert_eq!(blocks[5]["id"], "toolu_01B");
    let results: Vec<&Value> = upstream["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "tool_result")
        .map(|b| &b["tool_use_id"])
        .collect();
    assert_eq!(results, [&json!("toolu_01A"), &json!("toolu_01B")]);
}

/// The Anthropic answer above as an upstream stream (no redacted block: streams do not
/// carry it).
fn anthropic_stream() -> Vec<u8> {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 50, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Paris first; "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "naïve guess: rain."}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Let me check."}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Paris\"}"}}),
        json!({"type": "content_block_stop", "index": 2}),
        json!({"type": "content_block_start", "index": 3, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        json!({"type": "content_block_delta", "index": 3, "delta": {"type": "thinking_delta", "thinking": "Now Rome."}}),
        json!({"type": "content_block_delta", "index": 3, "delta": {"type": "signature_delta", "signature": "ErUBCkYIAxgCIkDH+/8="}}),
        json!({"type": "content_block_stop", "index": 3}),
        json!({"type": "content_block_start", "index": 4, "content_block": {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {}}}),
        json!({"type": "content_block_delta", "index": 4, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Rome\"}"}}),
        json!({"type": "content_block_stop", "index": 4}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 80}}),
        json!({"type": "message_stop"}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn anthropic_thinking_survives_an_openai_stream() {
    let out = pipe(
        &anthropic_stream(),
        &mut AnthropicStreamDecoder::new(),
        &mut OpenAiStreamEncoder::new(false),
    );
    let message = openai_message_from_stream(&out);
    assert_eq!(
        message["reasoning_content"],
        "Paris first; naïve guess: rain.Now Rome."
    );
    let next = openai_next_request(&message);
    let upstream = next_turn_for(
        WireFormat::OpenAi,
        &next,
        ProviderKind::Anthropic,
        "claude-sonnet-4-5",
    );
    let blocks = replayed_assistant(&upstream);
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["thinking", "text", "tool_use", "thinking", "tool_use"],
        "{upstream}"
    );
    assert_eq!(blocks[0]["thinking"], "Paris first; naïve guess: rain.");
    assert_eq!(blocks[0]["signature"], "EqQBCgIYAhIM1gbcDa9GJwZA2b3h");
    assert_eq!(blocks[3]["thinking"], "Now Rome.");
    assert_eq!(blocks[3]["signature"], "ErUBCkYIAxgCIkDH+/8=");
    assert_eq!(
        (&blocks[2]["id"], &blocks[4]["id"]),
        (&json!("toolu_01A"), &json!("toolu_01B"))
    );
}

#[test]
fn thinking_is_not_replayed_when_the_client_changed_or_dropped_its_text() {
    let resp = anthropic::decode_response(anthropic_answer().to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(&openai::encode_response(&resp)).unwrap();
    let message = body["choices"][0]["message"].clone();
    let mut changed = message.clone();
    changed["reasoning_content"] = json!("Paris first; naive guess: rain.Now Rome.");
    let mut dropped = message.clone();
    dropped.as_object_mut().unwrap().remove("reasoning_content");
    let mut short = message;
    short["reasoning_content"] = json!("Paris");
    for m in [changed, dropped, short] {
        let next = openai_next_request(&m);
        let upstream = next_turn_for(
            WireFormat::OpenAi,
            &next,
            ProviderKind::Anthropic,
            "claude-sonnet-4-5",
        );
        let blocks = replayed_assistant(&upstream);
        // No thinking with a signature that does not match its text: the unsigned
        // reasoning is not sent (the redacted block needs no text and still is).
        assert!(blocks.iter().all(|b| b["type"] != "thinking"), "{upstream}");
        // The calls and their results still match.
        let ids: Vec<&Value> = blocks
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| &b["id"])
            .collect();
        assert_eq!(ids, [&json!("toolu_01A"), &json!("toolu_01B")]);
    }
}

#[test]
fn anthropic_thinking_to_an_openai_client_then_gemini_or_openai() {
    // The same OpenAI conversation continued on other providers: the ids lose the
    // blocks, and the calls still match their results.
    let resp = anthropic::decode_response(anthropic_answer().to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(&openai::encode_response(&resp)).unwrap();
    let next = openai_next_request(&body["choices"][0]["message"]);
    let gem = next_turn_for(
        WireFormat::OpenAi,
        &next,
        ProviderKind::Gemini,
        "gemini-2.5-flash",
    );
    assert!(!gem.to_string().contains("__ax"), "{gem}");
    assert_eq!(gemini_calls(&gem).len(), 2);
    assert_eq!(gemini_responses(&gem).len(), 2);
    let oai = next_turn_for(WireFormat::OpenAi, &next, ProviderKind::OpenAi, "gpt-4o");
    let text = oai.to_string();
    assert!(
        !text.contains("__ax") && text.contains("\"toolu_01A\""),
        "{oai}"
    );
}

#[test]
fn garbage_in_a_returned_id_is_harmless() {
    // A client that mangled the suffix: the id carries nothing, and nothing panics.
    let sig = gemini_signature();
    let resp = gemini::decode_response(gemini_answer(&sig).to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(&openai::encode_response(&resp)).unwrap();
    let mut message = body["choices"][0]["message"].clone();
    let id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();
    let mangled = format!("{}!", &id[..id.len() - 3]);
    message["tool_calls"][0]["id"] = json!(mangled);
    message["reasoning_content"] = json!("x");
    let next = openai_next_request(&message);
    let req = client_codec(WireFormat::OpenAi)
        .decode_request(next.to_string().as_bytes(), DecodeOptions::default())
        .unwrap();
    assert!(
        req.messages
            .iter()
            .flat_map(|m| &m.content)
            .any(|p| matches!(p, ContentPart::ToolCall { id, .. } if *id == mangled))
    );
    let upstream = next_turn_for(
        WireFormat::OpenAi,
        &next,
        ProviderKind::Gemini,
        "gemini-3-pro-preview",
    );
    let calls = gemini_calls(&upstream);
    // Gemini gets no signature for the mangled call, and its own id before the mark
    // (the result keeps matching it).
    assert!(calls[0].get("thoughtSignature").is_none());
    assert_eq!(calls[0]["functionCall"]["id"], "8f2b3c1d");
    assert_eq!(gemini_responses(&upstream)[0]["id"], "8f2b3c1d");
}
