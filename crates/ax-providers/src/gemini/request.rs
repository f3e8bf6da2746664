//! Chat requests: client `GenerateContentRequest` → [`ChatRequest`] (client side) and
//! [`ChatRequest`] → upstream body (upstream side), including the same-format fast path.

use std::collections::HashMap;

use ax_core::{
    ChatRequest, ContentPart, GatewayError, GenerationParams, Message, RawRequest, ReasoningConfig,
    ResponseFormat, Role, ToolChoice, ToolDefinition, WireFormat,
};
use serde_json::Value;

use super::fields::{invalid, parse_client, type_name};
use super::parts::{Calls, Target, decode_part, encode_parts, tool_result_images};
use super::schema::{for_gemini, is_empty_object, lowercase_types};
use super::wire::{
    InContent, InGenerationConfig, InRequest, InTool, InToolConfig, OutContent,
    OutFunctionCallingConfig, OutFunctionDeclaration, OutGenerationConfig, OutPart, OutRequest,
    OutSafetySetting, OutThinkingConfig, OutTool, OutToolConfig,
};
use crate::codec::DecodeOptions;
use crate::config::ProviderConfig;
use crate::passthrough::patched_body;
use bytes::Bytes;

/// The harm categories `safety_threshold` applies to.
pub const SAFETY_CATEGORIES: [&str; 4] = [
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
];

/// The schema name given to a Gemini response schema (Gemini schemas have no name).
pub(crate) const SCHEMA_NAME: &str = "response";

// ====================================================================== client side

/// Decodes a client's `GenerateContentRequest` body. The model and streaming come from
/// the URL (`opts.path_model`, `opts.path_stream`). Every rejection is
/// `invalid_request` naming the field. Fields the unified model cannot carry are
/// accepted and ignored here; they stay in `raw` for a same-format upstream.
pub(crate) fn decode_request(
    body: &bytes::Bytes,
    opts: DecodeOptions,
) -> Result<ChatRequest, GatewayError> {
    let value = crate::bounded::parse(body, crate::bounded::Shape::Gemini, &opts.limits)?;
    if !value.is_object() {
        return Err(GatewayError::invalid(format!(
            "the request body must be a JSON object, got {}",
            type_name(&value)
        )));
    }
    let wire: InRequest = parse_client(&value, "")?;
    let mut req = decode_wire(wire, opts)?;
    if let Value::Object(map) = value {
        req.raw = Some(RawRequest {
            format: WireFormat::Gemini,
            body: map,
            bytes: body.clone(),
        });
    }
    Ok(req)
}

fn decode_wire(wire: InRequest, opts: DecodeOptions) -> Result<ChatRequest, GatewayError> {
    let model = match (opts.path_model, wire.model) {
        (Some(m), _) if !m.is_empty() => m,
        (_, Some(m)) if !m.is_empty() => m.strip_prefix("models/").unwrap_or(&m).to_owned(),
        _ => {
            return Err(invalid(
                "model",
                "is required (in the URL: models/{model}:generateContent)",
            ));
        }
    };
    let contents = wire
        .contents
        .ok_or_else(|| invalid("contents", "is required"))?;
    if contents.is_empty() {
        return Err(invalid("contents", "must contain at least one content"));
    }

    let mut messages = Vec::with_capacity(contents.len() + 1);
    if let Some(system) = &wire.system_instruction
        && let Some(m) = decode_system(system)?
    {
        messages.push(m);
    }
    let mut calls = Calls::new("req");
    for (ci, content) in contents.iter().enumerate() {
        calls.next_turn();
        decode_content(content, ci, &mut calls, &mut messages)?;
    }

    let tools = decode_tools(wire.tools.as_deref())?;
    let tool_choice = decode_tool_choice(wire.tool_config.as_ref())?;
    let g = wire.generation_config.unwrap_or_default();
    let response_format = decode_response_format(&g)?;
    let reasoning = decode_reasoning(&g);
    let params = GenerationParams {
        temperature: g.temperature,
        top_p: g.top_p,
        top_k: g.top_k,
        max_tokens: g.max_output_tokens,
        stop: g.stop_sequences.unwrap_or_default(),
        seed: g.seed,
        presence_penalty: g.presence_penalty,
        frequency_penalty: g.frequency_penalty,
    };
    let stream = opts.path_stream.unwrap_or(false);
    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: None,
        params,
        response_format,
        reasoning,
        stream,
        // A Gemini stream always carries usageMetadata.
        include_usage: stream,
        metadata: opts.metadata,
        raw: None,
        // Listed by the Anthropic decoder only.
        dropped_fields: Vec::new(),
        anthropic: None,
        passthrough_only: None,
    })
}

/// `systemInstruction`: a `Content` (its text parts) or, leniently, a string.
fn decode_system(v: &Value) -> Result<Option<Message>, GatewayError> {
    const PATH: &str = "systemInstruction";
    let content: Vec<ContentPart> = match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![ContentPart::text(s.clone())],
        Value::Object(_) => {
            let c: InContent = parse_client(v, PATH)?;
            c.parts
                .into_iter()
                .flatten()
                .filter_map(|p| p.text)
                .filter(|t| !t.is_empty())
                .map(ContentPart::text)
                .collect()
        }
        other => {
            return Err(invalid(
                PATH,
                format!(
                    "expected a Content object or a string, got {}",
                    type_name(other)
                ),
            ));
        }
    };
    Ok((!content.is_empty()).then_some(Message {
        role: Role::System,
        content,
        name: None,
    }))
}

/// One `Content` → messages: `model` → Assistant, `user` (or no role) → User; every run
/// of `functionResponse` parts becomes a `Role::Tool` message of its own, in order.
fn decode_content(
    content: &InContent,
    ci: usize,
    calls: &mut Calls,
    out: &mut Vec<Message>,
) -> Result<(), GatewayError> {
    let path = format!("contents[{ci}]");
    let role = match content.role.as_deref().unwrap_or("") {
        "" | "user" | "function" | "tool" => Role::User,
        "model" | "assistant" => Role::Assistant,
        other => {
            return Err(invalid(
                &format!("{path}.role"),
                format!("unknown role `{other}` (expected user or model)"),
            ));
        }
    };
    let mut current: Vec<ContentPart> = Vec::new();
    let mut current_role = role;
    let flush = |parts: &mut Vec<ContentPart>, r: Role, out: &mut Vec<Message>| {
        if !parts.is_empty() {
            out.push(Message {
                role: r,
                content: std::mem::take(parts),
                name: None,
            });
        }
    };
    for (pi, part) in content.parts.iter().flatten().enumerate() {
        let ppath = format!("{path}.parts[{pi}]");
        for p in decode_part(part, Some(&ppath), calls)? {
            let r = if matches!(p, ContentPart::ToolResult { .. }) {
                Role::Tool
            } else if current_role == Role::Tool && super::parts::is_signature_carrier(&p).is_some()
            {
                // A signature stays with the part it came with.
                Role::Tool
            } else {
                role
            };
            if r != current_role {
                flush(&mut current, current_role, out);
                current_role = r;
            }
            current.push(p);
        }
    }
    flush(&mut current, current_role, out);
    Ok(())
}

fn decode_tools(tools: Option<&[InTool]>) -> Result<Vec<ToolDefinition>, GatewayError> {
    let mut out = Vec::new();
    for (ti, tool) in tools.into_iter().flatten().enumerate() {
        for (di, decl) in tool.function_declarations.iter().flatten().enumerate() {
            let path = format!("tools[{ti}].functionDeclarations[{di}]");
            let name = decl
                .name
                .as_deref()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid(&format!("{path}.name"), "is required"))?;
            let schema = |v: &Value, key: &str| -> Result<Value, GatewayError> {
                match v {
                    Value::Object(_) => Ok(lowercase_types(v)),
                    other => Err(invalid(
                        &format!("{path}.{key}"),
                        format!("expected a schema object, got {}", type_name(other)),
                    )),
                }
            };
            let parameters = match (&decl.parameters_json_schema, &decl.parameters) {
                (Some(s), _) => schema(s, "parametersJsonSchema")?,
                (None, Some(s)) => schema(s, "parameters")?,
                (None, None) => serde_json::json!({"type": "object", "properties": {}}),
            };
            out.push(ToolDefinition {
                name: name.to_owned(),
                description: decl.description.clone(),
                parameters,
                strict: None,
                freeform: None,
            });
        }
    }
    Ok(out)
}

/// `toolConfig.functionCallingConfig` → tool choice: `AUTO` and `VALIDATED` → Auto,
/// `NONE` → None, `ANY` → Required, or `Function(name)` when exactly one name is
/// allowed. `MODE_UNSPECIFIED` (or no mode) is no choice.
fn decode_tool_choice(tc: Option<&InToolConfig>) -> Result<Option<ToolChoice>, GatewayError> {
    let Some(fcc) = tc.and_then(|t| t.function_calling_config.as_ref()) else {
        return Ok(None);
    };
    let Some(mode) = fcc.mode.as_deref() else {
        return Ok(None);
    };
    let allowed = fcc.allowed_function_names.as_deref().unwrap_or_default();
    Ok(match mode.to_ascii_uppercase().as_str() {
        "AUTO" | "VALIDATED" => Some(ToolChoice::Auto),
        "NONE" => Some(ToolChoice::None),
        "ANY" => Some(match allowed {
            [one] => ToolChoice::Function(one.clone()),
            _ => ToolChoice::Required,
        }),
        "MODE_UNSPECIFIED" => None,
        _ => {
            return Err(invalid(
                "toolConfig.functionCallingConfig.mode",
                format!("unknown value `{mode}` (expected AUTO, ANY, NONE or VALIDATED)"),
            ));
        }
    })
}

/// `responseMimeType` (+ `responseSchema` | `responseJsonSchema`) → response format.
fn decode_response_format(g: &InGenerationConfig) -> Result<Option<ResponseFormat>, GatewayError> {
    let schema = match (&g.response_json_schema, &g.response_schema) {
        (Some(s @ Value::Object(_)), _) => Some(s.clone()),
        (Some(other), _) => {
            return Err(invalid(
                "generationConfig.responseJsonSchema",
                format!("expected a schema object, got {}", type_name(other)),
            ));
        }
        (None, Some(s @ Value::Object(_))) => Some(lowercase_types(s)),
        (None, Some(other)) => {
            return Err(invalid(
                "generationConfig.responseSchema",
                format!("expected a schema object, got {}", type_name(other)),
            ));
        }
        (None, None) => None,
    };
    let mime = g.response_mime_type.as_deref();
    Ok(match (mime, schema) {
        (Some("application/json") | None, Some(schema)) => Some(ResponseFormat::JsonSchema {
            name: SCHEMA_NAME.to_owned(),
            schema,
            strict: None,
        }),
        (Some("application/json"), None) => Some(ResponseFormat::JsonObject),
        (Some("text/plain"), _) => Some(ResponseFormat::Text),
        // `text/x.enum` and others have no unified form (the raw body keeps them).
        _ => None,
    })
}

/// `thinkingConfig` → reasoning: a non-negative `thinkingBudget` is the budget (0 turns
/// thinking off), `thinkingLevel` the effort; `-1` ("dynamic") is the model default.
fn decode_reasoning(g: &InGenerationConfig) -> Option<ReasoningConfig> {
    let t = g.thinking_config.as_ref()?;
    let budget = t
        .thinking_budget
        .filter(|b| *b >= 0)
        .map(|b| u32::try_from(b).unwrap_or(u32::MAX));
    let effort = t
        .thinking_level
        .as_deref()
        .filter(|l| !l.is_empty())
        .map(str::to_ascii_lowercase);
    (budget.is_some() || effort.is_some()).then_some(ReasoningConfig {
        budget_tokens: budget,
        effort,
    })
}

// ==================================================================== upstream side

/// Encodes `req` for a Gemini upstream as `model`. The body never names the model or
/// streaming (both are in the URL), so `stream` changes nothing here.
///
/// **Fast path**: when the client spoke Gemini (`req.raw` is a Gemini body), that body
/// is sent with every field unchanged, unknown ones included; a `model` field, if the
/// client sent one, is rewritten to `models/{model}`; when `cfg.safety_threshold` is
/// set and the client sent no `safetySettings`, the configured ones are added.
///
/// **Translation**: system messages (wherever they are) → `systemInstruction`;
/// assistant → `model`; user and tool results → `user` (tool results as
/// `functionResponse` parts, named by `ToolResult.name` or the earlier call with that
/// id, their images as `inlineData`/`fileData` parts after the content's last
/// `functionResponse`); consecutive contents of one role are merged; tool schemas go through
/// [`super::schema::for_gemini`]; see the module docs for what is dropped.
pub fn encode_request(req: &ChatRequest, model: &str, stream: bool, cfg: &ProviderConfig) -> Bytes {
    let _ = stream;
    let safety = safety_settings(cfg);
    if let Some(raw) = req.raw.as_ref().filter(|r| r.format == WireFormat::Gemini) {
        return fast_path(raw, model, &safety);
    }
    let names: HashMap<&str, &str> = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            ContentPart::ToolCall { id, name, .. } => {
                Some((crate::tool_ids::base(id), name.as_str()))
            }
            _ => None,
        })
        .collect();
    let name_of = |id: &str| names.get(id).copied();

    let mut system: Vec<OutPart<'_>> = Vec::new();
    let mut contents: Vec<OutContent<'_>> = Vec::new();
    // Tool-result images of the last content, placed when it is complete.
    let mut images: Vec<OutPart<'_>> = Vec::new();
    for m in &req.messages {
        if m.role == Role::System {
            encode_parts(&m.content, Target::Upstream, &name_of, &mut system);
            continue;
        }
        let role = if m.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        match contents.last_mut() {
            Some(last) if last.role == Some(role) => {
                encode_parts(&m.content, Target::Upstream, &name_of, &mut last.parts);
            }
            _ => {
                place_images(contents.last_mut(), &mut images);
                let mut parts = Vec::with_capacity(m.content.len());
                encode_parts(&m.content, Target::Upstream, &name_of, &mut parts);
                contents.push(OutContent {
                    parts,
                    role: Some(role),
                });
            }
        }
        if role == "user" {
            for part in &m.content {
                if let ContentPart::ToolResult {
                    tool_call_id,
                    name,
                    content,
                    ..
                } = part
                {
                    let call_id = crate::tool_ids::base(tool_call_id);
                    let name = name
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .or_else(|| name_of(call_id))
                        .unwrap_or(call_id);
                    tool_result_images(name, content, &mut images);
                }
            }
        }
    }
    place_images(contents.last_mut(), &mut images);
    contents.retain(|c| !c.parts.is_empty());
    // System text only: Gemini takes no other part kinds there.
    system.retain(|p| p.text.is_some() && p.thought.is_none());

    let body = OutRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(OutContent {
            parts: system,
            role: None,
        }),
        tools: encode_tools(&req.tools),
        tool_config: req
            .tool_choice
            .as_ref()
            .filter(|_| !req.tools.is_empty())
            .map(|c| {
                let (mode, names) = match c {
                    ToolChoice::Auto => ("AUTO", Vec::new()),
                    ToolChoice::None => ("NONE", Vec::new()),
                    ToolChoice::Required => ("ANY", Vec::new()),
                    ToolChoice::Function(name) => ("ANY", vec![name.as_str()]),
                };
                OutToolConfig {
                    function_calling_config: OutFunctionCallingConfig {
                        mode,
                        allowed_function_names: names,
                    },
                }
            }),
        safety_settings: safety,
        generation_config: generation_config(req, model),
    };
    serde_json::to_vec(&body).unwrap_or_default().into()
}

/// Puts a user content's tool-result `images` ([`tool_result_images`]) into it, right
/// after its last `functionResponse`: function responses stay together, answering the
/// calls of the turn before in order, and the images follow them in the same turn.
fn place_images<'a>(content: Option<&mut OutContent<'a>>, images: &mut Vec<OutPart<'a>>) {
    if images.is_empty() {
        return;
    }
    let Some(content) = content else {
        images.clear();
        return;
    };
    let at = content
        .parts
        .iter()
        .rposition(|p| p.function_response.is_some())
        .map_or(content.parts.len(), |i| i + 1);
    content.parts.splice(at..at, std::mem::take(images));
}

fn safety_settings(cfg: &ProviderConfig) -> Vec<OutSafetySetting<'_>> {
    match cfg.safety_threshold.as_deref().filter(|t| !t.is_empty()) {
        Some(threshold) => SAFETY_CATEGORIES
            .iter()
            .map(|category| OutSafetySetting {
                category,
                threshold,
            })
            .collect(),
        None => Vec::new(),
    }
}

fn fast_path(raw: &RawRequest, model: &str, safety: &[OutSafetySetting<'_>]) -> Bytes {
    let body = &raw.body;
    let mut set = Vec::new();
    if body.contains_key("model") {
        set.push(("model", Value::String(format!("models/{model}"))));
    }
    let has_safety = ["safetySettings", "safety_settings"]
        .iter()
        .any(|k| body.get(*k).is_some_and(|v| !v.is_null()));
    if !safety.is_empty() && !has_safety {
        set.push((
            "safetySettings",
            serde_json::to_value(safety).unwrap_or(Value::Null),
        ));
    }
    patched_body(raw, &set, &[])
}

fn encode_tools(tools: &[ToolDefinition]) -> Vec<OutTool<'_>> {
    if tools.is_empty() {
        return Vec::new();
    }
    let declarations = tools
        .iter()
        .map(|t| {
            let (schema, json_schema) = for_gemini(&t.parameters);
            let (parameters, parameters_json_schema) = if json_schema {
                (None, Some(schema))
            } else if is_empty_object(&schema) {
                (None, None)
            } else {
                (Some(schema), None)
            };
            OutFunctionDeclaration {
                name: &t.name,
                description: t.description.as_deref(),
                parameters,
                parameters_json_schema,
            }
        })
        .collect();
    vec![OutTool {
        function_declarations: declarations,
    }]
}

/// OpenAI-style effort names → a thinking budget: the unified model's table
/// ([`ax_core::EFFORT_BUDGETS`]); unknown names send none.
pub const EFFORT_BUDGETS: &[(&str, u32)] = ax_core::EFFORT_BUDGETS;

/// Model families that refuse `thinkingConfig` ("Unable to submit request because
/// thinking is not supported by this model.", googleapis/js-genai#681 for
/// `gemini-2.0-flash`): a translated request's thinking is not sent to them. A deny
/// list, so a new thinking model works the day it ships.
pub const NO_THINKING_MODELS: &[&str] = &["gemini-1.", "gemini-2.0-"];

/// Whether `model` (an upstream model name, `models/` prefix or not) takes
/// `thinkingConfig`.
pub fn takes_thinking_config(model: &str) -> bool {
    let base = model.strip_prefix("models/").unwrap_or(model);
    !NO_THINKING_MODELS.iter().any(|p| base.starts_with(p))
}

fn generation_config<'a>(req: &'a ChatRequest, model: &str) -> OutGenerationConfig<'a> {
    let p = &req.params;
    let (mime, schema, json_schema) = match &req.response_format {
        None => (None, None, None),
        Some(ResponseFormat::Text) => (Some("text/plain"), None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None, None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            let (s, full) = for_gemini(schema);
            if full {
                (Some("application/json"), None, Some(s))
            } else {
                (Some("application/json"), Some(s), None)
            }
        }
    };
    let budget = req
        .reasoning
        .as_ref()
        .and_then(|r| {
            r.budget_tokens
                .or_else(|| ReasoningConfig::budget_for_effort(r.effort.as_deref()?))
        })
        .filter(|_| {
            let takes = takes_thinking_config(model);
            if !takes {
                tracing::debug!(model, "thinkingConfig not sent: the model does not think");
            }
            takes
        });
    OutGenerationConfig {
        stop_sequences: &p.stop,
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        max_output_tokens: p.max_tokens,
        seed: p.seed,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        response_mime_type: mime,
        response_schema: schema,
        response_json_schema: json_schema,
        thinking_config: budget.map(|b| OutThinkingConfig {
            thinking_budget: b,
            // Thought summaries come back as reasoning the client can show.
            include_thoughts: (b > 0).then_some(true),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::ProviderKind;

    fn thinking_budget(effort: &str) -> Option<u64> {
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "x")],
            reasoning: Some(ReasoningConfig {
                budget_tokens: None,
                effort: Some(effort.to_owned()),
            }),
            ..Default::default()
        };
        let cfg = ProviderConfig::new("g", ProviderKind::Gemini);
        let body: Value = serde_json::from_slice(&encode_request(&req, "m", false, &cfg)).ok()?;
        body.pointer("/generationConfig/thinkingConfig/thinkingBudget")
            .and_then(Value::as_u64)
    }

    #[test]
    fn every_effort_row() {
        for (effort, budget) in EFFORT_BUDGETS {
            assert_eq!(
                thinking_budget(effort),
                Some(u64::from(*budget)),
                "{effort}"
            );
            assert_eq!(
                thinking_budget(&effort.to_ascii_uppercase()),
                Some(u64::from(*budget))
            );
        }
        assert_eq!(thinking_budget("extreme"), None);
    }

    #[test]
    fn every_tool_choice_row() {
        let rows = [
            (ToolChoice::Auto, json_mode("AUTO", &[])),
            (ToolChoice::None, json_mode("NONE", &[])),
            (ToolChoice::Required, json_mode("ANY", &[])),
            (ToolChoice::Function("f".into()), json_mode("ANY", &["f"])),
        ];
        for (choice, wire) in rows {
            let req = ChatRequest {
                messages: vec![Message::text(Role::User, "x")],
                tools: vec![ToolDefinition {
                    name: "f".into(),
                    description: None,
                    parameters: serde_json::json!({"type": "object"}),
                    strict: None,
                    freeform: None,
                }],
                tool_choice: Some(choice.clone()),
                ..Default::default()
            };
            let cfg = ProviderConfig::new("g", ProviderKind::Gemini);
            let body: Value =
                serde_json::from_slice(&encode_request(&req, "m", false, &cfg)).unwrap_or_default();
            assert_eq!(body["toolConfig"], wire, "{choice:?}");
            // …and back.
            let tc: InToolConfig = serde_json::from_value(wire).unwrap_or_default();
            assert_eq!(decode_tool_choice(Some(&tc)).ok().flatten(), Some(choice));
        }
    }

    /// The translated Gemini body for a client `body` decoded by `codec`.
    fn upstream(codec: &dyn crate::codec::ClientCodec, body: &Value) -> Value {
        let req = codec
            .decode_request(body.to_string().as_bytes(), DecodeOptions::default())
            .unwrap_or_default();
        let cfg = ProviderConfig::new("g", ProviderKind::Gemini);
        serde_json::from_slice(&encode_request(&req, "gemini-2.5-flash", false, &cfg))
            .unwrap_or_default()
    }

    /// An Anthropic request whose last user turn answers two `Read` calls with the
    /// `tool_result` contents `first` and `second`.
    fn anthropic(first: Value, second: Value) -> Value {
        serde_json::json!({
            "model": "gemini/gemini-2.5-flash",
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "look at both"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a.png"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"file_path": "b.jpg"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": first},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": second},
                    {"type": "text", "text": "what do you see?"}
                ]}
            ]
        })
    }

    fn png() -> Value {
        serde_json::json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
    }

    #[test]
    fn anthropic_tool_result_with_text_and_image() {
        let body = upstream(
            &crate::anthropic::AnthropicCodec,
            &anthropic(
                serde_json::json!([{"type": "text", "text": "a 1x1 PNG"}, png()]),
                serde_json::json!("hello"),
            ),
        );
        insta::assert_json_snapshot!(body["contents"]);
    }

    #[test]
    fn anthropic_tool_result_with_only_images() {
        let url = serde_json::json!({"type": "image", "source": {"type": "url", "url": "https://x/b.jpg"}});
        let body = upstream(
            &crate::anthropic::AnthropicCodec,
            &anthropic(serde_json::json!([png()]), serde_json::json!([url])),
        );
        let parts = &body["contents"][2]["parts"];
        assert_eq!(parts[0]["functionResponse"]["name"], "Read");
        assert_eq!(
            parts[0]["functionResponse"]["response"],
            serde_json::json!({"output": "[image attached below]"})
        );
        assert!(parts[1]["functionResponse"].is_object());
        assert_eq!(parts[2]["text"], "Images from the Read call:");
        assert_eq!(
            parts[3]["inlineData"],
            serde_json::json!({"mimeType": "image/png", "data": "iVBORw0KGgo="})
        );
        assert_eq!(parts[4]["text"], "Images from the Read call:");
        assert_eq!(
            parts[5]["fileData"],
            serde_json::json!({"mimeType": "image/jpeg", "fileUri": "https://x/b.jpg"})
        );
        assert_eq!(parts[6]["text"], "what do you see?");
        assert_eq!(parts.as_array().map(Vec::len), Some(7));
    }

    #[test]
    fn responses_function_call_output_with_input_image() {
        let body = upstream(
            &crate::responses::ResponsesCodec,
            &serde_json::json!({
                "model": "gemini/gemini-2.5-flash",
                "input": [
                    {"type": "message", "role": "user", "content": "show me"},
                    {"type": "function_call", "call_id": "call_1", "name": "view_image", "arguments": "{\"path\":\"a.png\"}"},
                    {"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": [
                        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
                    ]},
                    {"type": "function_call_output", "call_id": "call_2", "output": "ok"}
                ]
            }),
        );
        insta::assert_json_snapshot!(body["contents"]);
    }

    fn json_mode(mode: &str, names: &[&str]) -> Value {
        let mut fcc = serde_json::json!({"mode": mode});
        if !names.is_empty() {
            fcc["allowedFunctionNames"] = serde_json::json!(names);
        }
        serde_json::json!({"functionCallingConfig": fcc})
    }
}
