//! Responses API requests → the unified model (client side), and the body an OpenAI
//! upstream's `/v1/responses` receives (the same-format pass-through).
//!
//! Field names come from openai/openai-python (`types/responses/
//! response_create_params.py`, `response_input_param.py`, `easy_input_message_param.py`,
//! `response_output_message_param.py`, `response_function_tool_call_param.py`,
//! `response_reasoning_item_param.py`, `response_input_{text,image,file}_param.py`,
//! `response_custom_tool_call{,_output}_param.py`, `function_tool_param.py`,
//! `custom_tool_param.py`, `shared_params/custom_tool_input_format.py`,
//! `tool_choice_*_param.py`,
//! `response_format_text_json_schema_config_param.py`, `shared_params/reasoning.py`);
//! what a real agent sends from openai/codex (`ResponsesApiRequest`: `instructions`,
//! `input` items, `tools`, `tool_choice: "auto"`, `parallel_tool_calls`, `reasoning
//! {effort, summary}`, `store: false`, `stream: true`,
//! `include: ["reasoning.encrypted_content"]`, `prompt_cache_key`, `text {verbosity,
//! format}`).
//!
//! # Carried ([`decode_request`])
//! - `model` (required); `instructions` → a `Role::System` message first (none when
//!   empty).
//! - `input`: a string (one user message) or a list of items; absent only with
//!   `previous_response_id`, `conversation` or `prompt` (the gateway resolves those
//!   from `raw`). Items:
//!   - messages (`type: "message"`, or no `type` with `role` and `content`): roles
//!     `user`, `assistant`, `system` and `developer` (→ `Role::System`); content a
//!     string or parts: `input_text` and `output_text` (→ text), `refusal` (→ its text),
//!     `input_image` (`image_url`, http(s) or a `data:` URL → an image, inline when a
//!     base64 data URL; `detail` kept), `input_file` (`file_data` → a base64 document,
//!     its media type from the data URL, PDF for bare base64; `file_url` → a URL
//!     document; `filename` → the title). System and developer messages keep only
//!     their text.
//!   - `function_call` → a tool call (`call_id` is its id; one with a `namespace`
//!     takes its function's flat name); `reasoning` → reasoning
//!     (`summary` texts joined by blank lines, else the `reasoning_text` content;
//!     `encrypted_content` as the signature). Consecutive assistant-side items
//!     (reasoning, assistant messages, function calls) make ONE assistant message, in
//!     order, so translators see one turn with its text and tool calls.
//!   - `custom_tool_call` (a call of a freeform tool, below) → a tool call whose
//!     arguments are `{"input": <its input>}`; it joins the assistant turn like a
//!     `function_call`.
//!   - `function_call_output` and `custom_tool_call_output` → a `Role::Tool` message
//!     with the result (`output` a string or `input_text` / `input_image` /
//!     `input_file` parts), named after the earlier call with the same `call_id` (else
//!     the item's own `name`).
//! - `tools`: function tools (flat: `name`, `description`, `parameters`, `strict`),
//!   the function tools of `namespace` tools (`{type: "namespace", name, description,
//!   tools}`, openai-python `namespace_tool_param.py`; Codex CLI groups its sub-agent
//!   tools so) as ordinary functions under their own names, or `<namespace>__<name>`
//!   when a name is declared twice ([`namespaced_tools`]; the namespace's
//!   `description` is not carried; the encoders give a call back its `namespace`), and
//!   custom tools (`{type: "custom", name, description, format}`, openai-python
//!   `custom_tool_param.py`; Codex CLI declares `apply_patch` so, with a Lark grammar).
//!   A custom tool is freeform: the model writes free text, not JSON. No other provider
//!   has such tools, so it becomes an ordinary function with one required string
//!   parameter, `input` (`ToolDefinition::freeform` keeps the `format`); its
//!   description gains a note saying the whole text goes into `input`, with the
//!   grammar's definition when it is at most [`GRAMMAR_IN_DESCRIPTION_MAX`] bytes (no
//!   translating upstream can enforce it). The encoders turn a call of it back into a
//!   `custom_tool_call` item whose `input` is that string.
//! - `tool_choice`: `auto` / `none` / `required` / `{type: "function", name}` /
//!   `{type: "custom", name}`; `{type: "allowed_tools", mode}` → its mode (`auto` or
//!   `required`).
//! - `parallel_tool_calls`, `max_output_tokens` (→ `max_tokens`), `temperature`,
//!   `top_p`, `reasoning.effort`, `text.format` (`text`, `json_object`, or the flat
//!   `json_schema` with `name`, `schema`, `strict`), `stream` (`include_usage` follows
//!   it: a Responses stream always ends with usage in `response.completed`), `user` or
//!   else `safety_identifier` (→ `metadata.user_id` unless `x-ax-user-id` set it).
//!
//! # Not carried
//! Kept in `raw` (an OpenAI upstream gets them unchanged), dropped when translating,
//! and each listed in `ChatRequest::dropped_fields` by its path: `metadata`, `store`,
//! `previous_response_id`, `conversation`, `include`, `truncation`, `service_tier`,
//! `prompt_cache_key`, `prompt_cache_retention`, `prompt_cache_options`, `prompt`,
//! `stream_options`, `background`, `top_logprobs`, `max_tool_calls`,
//! `context_management`, `moderation`, any unknown top-level key; `text.verbosity`,
//! `reasoning.summary` (and the other `reasoning` keys but `effort`); a JSON schema's
//! `description`; item keys other than those above (`phase`, `caller`, …;
//! `id` and `status` only echo an earlier answer and are not listed); part keys such as
//! `prompt_cache_breakpoint`, non-empty `annotations` and `logprobs`, a file's `detail`;
//! `tool_choice.tools` of `allowed_tools`; non-text parts of system messages;
//! `item_reference` items and every other item type (`web_search_call`,
//! `local_shell_call`, `compaction`, …, as `input[i] (type)`); a custom tool's
//! `defer_loading` and `allowed_callers`;
//! unknown part types; an unknown `text.format` type. An unknown item, part or key
//! never fails the request.
//!
//! # Only an OpenAI upstream can serve
//! What no translation can carry sets `ChatRequest::passthrough_only` (kept out of the
//! unified fields), so a translating upstream refuses the request with a 400 that says
//! why while an OpenAI upstream gets the raw body: a built-in tool in `tools`
//! (`web_search`, `file_search`, `code_interpreter`, `computer_use_preview`,
//! `image_generation`, `local_shell`, `mcp`, … — any type but `function`, `custom` and
//! `namespace`), a tool other than a function inside a `namespace`, a `tool_choice`
//! naming a built-in tool, and an image or file given only by an
//! uploaded `file_id`.

use std::collections::HashMap;

use ax_core::{
    ChatRequest, ContentPart, DocumentSource, FreeformTool, GatewayError, GenerationParams,
    ImageSource, Message, RawRequest, ReasoningConfig, ResponseFormat, Role, ToolChoice,
    ToolDefinition, WireFormat,
};
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::codec::DecodeOptions;
use crate::fields::{Dropped, Obj, index, invalid, type_name};
use crate::passthrough::patched_body;

/// Every top-level field the unified model carries; any other is listed in
/// `dropped_fields` (and reaches an OpenAI upstream unchanged).
const CARRIED_FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "temperature",
    "top_p",
    "reasoning",
    "text",
    "user",
    "safety_identifier",
    "stream",
];

/// Top-level fields that stand in for `input` (the conversation is elsewhere).
const INPUT_ELSEWHERE: &[&str] = &["previous_response_id", "conversation", "prompt"];

/// The media type assumed for `file_data` that is bare base64 rather than a data URL:
/// PDF is the file type every translating upstream takes inline.
const DEFAULT_FILE_MEDIA_TYPE: &str = "application/pdf";

/// Decodes a client's Responses body (see the module docs). Every rejection is
/// `invalid_request` and names the field.
pub(crate) fn decode_request(
    body: &Bytes,
    opts: DecodeOptions,
) -> Result<ChatRequest, GatewayError> {
    let map = crate::bounded::parse_object(body, crate::bounded::Shape::Responses, &opts.limits)?;
    let mut req = decode_map(&map, opts)?;
    req.raw = Some(RawRequest {
        format: WireFormat::Responses,
        body: map,
        bytes: body.clone(),
    });
    Ok(req)
}

/// What the decoder learns besides the unified fields.
#[derive(Debug, Default)]
struct Notes {
    dropped: Dropped,
    /// The first reason only an OpenAI upstream can serve the request.
    passthrough_only: Option<String>,
    /// The function tools declared inside `namespace` tools, with their flat names.
    namespaced: Vec<NamespacedTool>,
}

impl Notes {
    /// Records why only an OpenAI upstream can serve the request (the first reason
    /// wins: one is enough to refuse a translation).
    fn openai_only(&mut self, why: impl FnOnce() -> String) {
        if self.passthrough_only.is_none() {
            self.passthrough_only = Some(why());
        }
    }

    /// The flat name of the function `name` of namespace `namespace`, when the request
    /// declares it.
    fn flat_name(&self, namespace: &str, name: &str) -> Option<&str> {
        self.namespaced
            .iter()
            .find(|t| t.namespace == namespace && t.name == name)
            .map(|t| t.flat.as_str())
    }
}

/// The conversation being built from `input`.
#[derive(Debug, Default)]
struct Conversation {
    messages: Vec<Message>,
    /// The assistant turn being gathered: consecutive assistant-side items make one
    /// message.
    assistant: Vec<ContentPart>,
    /// `call_id` → function name, so a function call output can name its function
    /// (Gemini needs it).
    call_names: HashMap<String, String>,
}

impl Conversation {
    /// Ends the assistant turn being gathered, if any.
    fn flush(&mut self) {
        if !self.assistant.is_empty() {
            let content = std::mem::take(&mut self.assistant);
            self.messages.push(Message {
                role: Role::Assistant,
                content,
                name: None,
            });
        }
    }

    /// Appends a message of a non-assistant role (ending the assistant turn).
    fn push(&mut self, role: Role, content: Vec<ContentPart>) {
        self.flush();
        self.messages.push(Message {
            role,
            content,
            name: None,
        });
    }

    fn finish(mut self) -> Vec<Message> {
        self.flush();
        self.messages
    }
}

fn decode_map(map: &Map<String, Value>, opts: DecodeOptions) -> Result<ChatRequest, GatewayError> {
    let o = Obj { map, path: "" };
    let mut notes = Notes {
        // Known before `input`, whose namespaced calls take these names.
        namespaced: namespaced_tools(map),
        ..Notes::default()
    };
    notes.dropped.extra(&o, CARRIED_FIELDS);
    let model = match (o.str_opt("model")?, opts.path_model) {
        (Some(m), _) if !m.is_empty() => m.to_owned(),
        (_, Some(m)) => m,
        _ => return Err(invalid("model", "is required")),
    };

    let mut conv = Conversation::default();
    if let Some(text) = o.str_opt("instructions")?.filter(|t| !t.is_empty()) {
        conv.push(Role::System, vec![ContentPart::text(text)]);
    }
    decode_input(&o, &mut conv, &mut notes)?;
    let messages = conv.finish();

    let tools = decode_tools(&o, &mut notes)?;
    let tool_choice = decode_tool_choice(&o, &mut notes)?;
    let reasoning = decode_reasoning(&o, &mut notes.dropped)?;
    let response_format = decode_text(&o, &mut notes.dropped)?;

    let params = GenerationParams {
        temperature: o.f64_opt("temperature")?,
        top_p: o.f64_opt("top_p")?,
        max_tokens: o.u32_opt("max_output_tokens")?,
        ..GenerationParams::default()
    };

    let stream = match opts.path_stream {
        Some(s) => s,
        None => o.bool_opt("stream")?.unwrap_or(false),
    };

    let mut metadata = opts.metadata;
    let user = match o.str_opt("user")? {
        Some(u) => Some(u),
        None => o.str_opt("safety_identifier")?,
    };
    if metadata.user_id.is_none() {
        metadata.user_id = user.map(str::to_owned);
    }

    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: o.bool_opt("parallel_tool_calls")?,
        params,
        response_format,
        reasoning,
        stream,
        // A Responses stream always ends with usage (`response.completed`).
        include_usage: stream,
        metadata,
        raw: None,
        dropped_fields: notes.dropped.finish(),
        anthropic: None,
        passthrough_only: notes.passthrough_only,
    })
}

/// `input`: a string (one user message) or a list of items.
fn decode_input(
    o: &Obj<'_>,
    conv: &mut Conversation,
    notes: &mut Notes,
) -> Result<(), GatewayError> {
    match o.get("input") {
        None if INPUT_ELSEWHERE.iter().any(|k| o.get(k).is_some()) => Ok(()),
        None => Err(invalid(
            "input",
            "is required (unless `previous_response_id`, `conversation` or `prompt` is given)",
        )),
        Some(Value::String(s)) => {
            conv.push(Role::User, vec![ContentPart::text(s.clone())]);
            Ok(())
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                decode_item(item, &index("input", i), conv, notes)?;
            }
            Ok(())
        }
        Some(other) => Err(invalid(
            "input",
            format!(
                "expected a string or an array of input items, got {}",
                type_name(other)
            ),
        )),
    }
}

/// One input item → appended to `conv`. Unknown item types are listed as dropped.
fn decode_item(
    v: &Value,
    path: &str,
    conv: &mut Conversation,
    notes: &mut Notes,
) -> Result<(), GatewayError> {
    let o = Obj::new(v, path)?;
    match o.str_opt("type")? {
        Some("message") => decode_message(&o, conv, notes),
        // The "easy" message form has no `type`.
        None if o.get("role").is_some() => decode_message(&o, conv, notes),
        // `ItemReference.type` is optional: `{"id": "msg_…"}` is a reference.
        None if o.get("id").is_some() => {
            notes.dropped.block(path, "item_reference");
            Ok(())
        }
        None => Err(invalid(
            path,
            "an input item needs a `type`, or a `role` and `content` (a message)",
        )),
        Some("function_call") => decode_function_call(&o, conv, notes),
        // A tool output has the same shape for both kinds of call.
        Some("function_call_output" | "custom_tool_call_output") => {
            decode_function_call_output(&o, conv, notes)
        }
        Some("custom_tool_call") => decode_custom_tool_call(&o, conv, notes),
        Some("reasoning") => decode_reasoning_item(&o, conv, notes),
        // `item_reference`, built-in tool calls and their outputs, `compaction`, and
        // item types newer than ax: no unified form; an OpenAI upstream gets them.
        Some(other) => {
            notes.dropped.block(path, other);
            Ok(())
        }
    }
}

/// A message item: user and system turns become their own messages; assistant content
/// joins the assistant turn being gathered.
fn decode_message(
    o: &Obj<'_>,
    conv: &mut Conversation,
    notes: &mut Notes,
) -> Result<(), GatewayError> {
    notes
        .dropped
        .extra(o, &["type", "role", "content", "id", "status"]);
    let content_path = o.path_of("content");
    let content = o.get("content");
    match o.str_req("role")? {
        "user" => {
            let parts = decode_content(content, &content_path, false, notes)?;
            conv.push(Role::User, parts);
        }
        "system" | "developer" => {
            let parts = decode_content(content, &content_path, true, notes)?;
            conv.push(Role::System, parts);
        }
        "assistant" => {
            let parts = decode_content(content, &content_path, false, notes)?;
            conv.assistant.extend(parts);
        }
        other => {
            return Err(invalid(
                &o.path_of("role"),
                format!("unknown role `{other}` (expected user, assistant, system or developer)"),
            ));
        }
    }
    Ok(())
}

/// A `function_call` item → a tool call in the assistant turn (`call_id` is its id;
/// absent `arguments` are `{}`). A call of a function inside a `namespace` tool (it
/// carries `namespace`) takes the flat name the request's tools gave that function,
/// else its own name.
fn decode_function_call(
    o: &Obj<'_>,
    conv: &mut Conversation,
    notes: &mut Notes,
) -> Result<(), GatewayError> {
    notes.dropped.extra(
        o,
        &[
            "type",
            "call_id",
            "name",
            "arguments",
            "namespace",
            "id",
            "status",
        ],
    );
    let call_id = o.str_req("call_id")?;
    let name = o.str_req("name")?;
    let name = match o.str_opt("namespace")? {
        Some(ns) => notes.flat_name(ns, name).unwrap_or(name),
        None => name,
    };
    let arguments = o.str_opt("arguments")?.unwrap_or("{}");
    conv.call_names.insert(call_id.to_owned(), name.to_owned());
    conv.assistant.push(ContentPart::ToolCall {
        id: call_id.to_owned(),
        name: name.to_owned(),
        arguments: arguments.to_owned(),
    });
    Ok(())
}

/// A `custom_tool_call` item (a call of a freeform tool) → a tool call in the assistant
/// turn whose arguments are `{"input": <its input>}`, the shape the tool has as a
/// function ([`FreeformTool::parameters`]).
fn decode_custom_tool_call(
    o: &Obj<'_>,
    conv: &mut Conversation,
    notes: &mut Notes,
) -> Result<(), GatewayError> {
    notes
        .dropped
        .extra(o, &["type", "call_id", "name", "input", "id", "status"]);
    let call_id = o.str_req("call_id")?;
    let name = o.str_req("name")?;
    let input = o.str_req("input")?;
    conv.call_names.insert(call_id.to_owned(), name.to_owned());
    conv.assistant.push(ContentPart::ToolCall {
        id: call_id.to_owned(),
        name: name.to_owned(),
        arguments: FreeformTool::arguments(input),
    });
    Ok(())
}

/// A `function_call_output` or `custom_tool_call_output` item → its own `Role::Tool`
/// message.
fn decode_function_call_output(
    o: &Obj<'_>,
    conv: &mut Conversation,
    notes: &mut Notes,
) -> Result<(), GatewayError> {
    notes
        .dropped
        .extra(o, &["type", "call_id", "output", "id", "status", "name"]);
    let call_id = o.str_req("call_id")?;
    let name = match conv.call_names.get(call_id) {
        Some(n) => Some(n.clone()),
        None => o.str_opt("name")?.map(str::to_owned),
    };
    let output_path = o.path_of("output");
    let content = match o.get("output") {
        None => return Err(invalid(&output_path, "is required")),
        Some(Value::String(s)) => vec![ContentPart::text(s.clone())],
        Some(Value::Array(parts)) => decode_parts(parts, &output_path, false, notes)?,
        Some(other) => {
            return Err(invalid(
                &output_path,
                format!(
                    "expected a string or an array of content parts, got {}",
                    type_name(other)
                ),
            ));
        }
    };
    conv.push(
        Role::Tool,
        vec![ContentPart::ToolResult {
            tool_call_id: call_id.to_owned(),
            name,
            content,
            is_error: false,
        }],
    );
    Ok(())
}

/// A `reasoning` item → reasoning in the assistant turn: the summaries (else the raw
/// `reasoning_text` content) as text, `encrypted_content` as the signature. An item with
/// neither carries nothing and adds nothing.
fn decode_reasoning_item(
    o: &Obj<'_>,
    conv: &mut Conversation,
    notes: &mut Notes,
) -> Result<(), GatewayError> {
    notes.dropped.extra(
        o,
        &[
            "type",
            "id",
            "summary",
            "encrypted_content",
            "content",
            "status",
        ],
    );
    let summary = reasoning_texts(o, "summary", "summary_text", notes)?;
    let content = reasoning_texts(o, "content", "reasoning_text", notes)?;
    let text = if summary.is_empty() {
        content.join("\n\n")
    } else {
        if !content.is_empty() {
            notes.dropped.add(o.path_of("content"));
        }
        summary.join("\n\n")
    };
    let signature = o
        .str_opt("encrypted_content")?
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if text.is_empty() && signature.is_none() {
        return Ok(());
    }
    conv.assistant.push(ContentPart::Reasoning {
        text,
        signature,
        redacted: None,
    });
    Ok(())
}

/// The texts of a reasoning item's `key` list whose parts have type `kind` (other
/// part types are listed as dropped).
fn reasoning_texts(
    o: &Obj<'_>,
    key: &str,
    kind: &str,
    notes: &mut Notes,
) -> Result<Vec<String>, GatewayError> {
    let Some(items) = o.array_opt(key)? else {
        return Ok(Vec::new());
    };
    let path = o.path_of(key);
    let mut texts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let ipath = index(&path, i);
        let io = Obj::new(item, &ipath)?;
        let t = io.str_req("type")?;
        if t == kind {
            notes.dropped.extra(&io, &["type", "text"]);
            texts.push(io.str_req("text")?.to_owned());
        } else {
            notes.dropped.block(&ipath, t);
        }
    }
    Ok(texts)
}

/// Message content: a string or a list of parts. `text_only` (system and developer
/// messages) keeps only the text parts; the others are listed as dropped.
fn decode_content(
    content: Option<&Value>,
    path: &str,
    text_only: bool,
    notes: &mut Notes,
) -> Result<Vec<ContentPart>, GatewayError> {
    match content {
        None => Err(invalid(path, "is required")),
        Some(Value::String(s)) => Ok(vec![ContentPart::text(s.clone())]),
        Some(Value::Array(parts)) => decode_parts(parts, path, text_only, notes),
        Some(other) => Err(invalid(
            path,
            format!(
                "expected a string or an array of content parts, got {}",
                type_name(other)
            ),
        )),
    }
}

fn decode_parts(
    parts: &[Value],
    path: &str,
    text_only: bool,
    notes: &mut Notes,
) -> Result<Vec<ContentPart>, GatewayError> {
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let ppath = index(path, i);
        let po = Obj::new(p, &ppath)?;
        out.extend(decode_part(&po, text_only, notes)?);
    }
    Ok(out)
}

/// One content part; `None` when it has no unified form (listed as dropped) or only an
/// OpenAI upstream can read it (an uploaded `file_id`).
fn decode_part(
    po: &Obj<'_>,
    text_only: bool,
    notes: &mut Notes,
) -> Result<Option<ContentPart>, GatewayError> {
    let kind = po.str_req("type")?;
    match kind {
        "input_text" | "output_text" => {
            notes
                .dropped
                .extra(po, &["type", "text", "annotations", "logprobs"]);
            // Output text echoes `annotations: []` (required) and sometimes logprobs:
            // listed only when they say something.
            for key in ["annotations", "logprobs"] {
                if po.get(key).is_some_and(not_empty) {
                    notes.dropped.add(po.path_of(key));
                }
            }
            Ok(Some(ContentPart::text(po.str_req("text")?)))
        }
        "refusal" => {
            notes.dropped.extra(po, &["type", "refusal"]);
            Ok(Some(ContentPart::text(po.str_req("refusal")?)))
        }
        "input_image" if !text_only => decode_image(po, notes),
        "input_file" if !text_only => decode_file(po, notes),
        other => {
            notes.dropped.block(po.path, other);
            Ok(None)
        }
    }
}

/// Whether a JSON value says anything (`[]`, `{}` and `""` do not).
fn not_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        Value::String(s) => !s.is_empty(),
        Value::Null => false,
        _ => true,
    }
}

/// An `input_image` part: `image_url` (http(s) or a data URL) with its `detail`. An
/// image given only by `file_id` is for an OpenAI upstream alone.
fn decode_image(po: &Obj<'_>, notes: &mut Notes) -> Result<Option<ContentPart>, GatewayError> {
    notes
        .dropped
        .extra(po, &["type", "image_url", "detail", "file_id"]);
    let file_id = po.str_opt("file_id")?;
    let Some(url) = po.str_opt("image_url")?.filter(|u| !u.is_empty()) else {
        if file_id.is_some() {
            let path = po.path_of("file_id");
            notes.openai_only(|| {
                format!(
                    "the image at `{path}` is an uploaded OpenAI file, which only an \
                     OpenAI upstream can read (send it as `image_url`, an http(s) or data: \
                     URL, to use another provider)"
                )
            });
            return Ok(None);
        }
        return Err(invalid(
            &po.path_of("image_url"),
            "is required (or `file_id`)",
        ));
    };
    if file_id.is_some() {
        notes.dropped.add(po.path_of("file_id"));
    }
    let source = match data_url(url) {
        Some((media_type, data)) => ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        },
        None => ImageSource::Url {
            url: url.to_owned(),
        },
    };
    Ok(Some(ContentPart::Image {
        source,
        detail: po.str_opt("detail")?.map(str::to_owned),
    }))
}

/// An `input_file` part: `file_data` (a base64 data URL, or bare base64 taken as a
/// PDF) or `file_url` → a document titled with `filename`. A file given only by
/// `file_id` is for an OpenAI upstream alone.
fn decode_file(po: &Obj<'_>, notes: &mut Notes) -> Result<Option<ContentPart>, GatewayError> {
    notes.dropped.extra(
        po,
        &["type", "file_data", "file_url", "file_id", "filename"],
    );
    let file_id = po.str_opt("file_id")?;
    let source = if let Some(data) = po.str_opt("file_data")?.filter(|d| !d.is_empty()) {
        match data_url(data) {
            Some((media_type, data)) => DocumentSource::Base64 {
                media_type: media_type.to_owned(),
                data: data.to_owned(),
            },
            None => DocumentSource::Base64 {
                media_type: DEFAULT_FILE_MEDIA_TYPE.to_owned(),
                data: data.to_owned(),
            },
        }
    } else if let Some(url) = po.str_opt("file_url")?.filter(|u| !u.is_empty()) {
        DocumentSource::Url {
            url: url.to_owned(),
        }
    } else if file_id.is_some() {
        let path = po.path_of("file_id");
        notes.openai_only(|| {
            format!(
                "the file at `{path}` is an uploaded OpenAI file, which only an OpenAI \
                 upstream can read (send it as `file_data` or `file_url` to use another \
                 provider)"
            )
        });
        return Ok(None);
    } else {
        return Err(invalid(
            po.path,
            "an `input_file` part needs `file_data`, `file_url` or `file_id`",
        ));
    };
    if file_id.is_some() {
        notes.dropped.add(po.path_of("file_id"));
    }
    Ok(Some(ContentPart::Document {
        source,
        title: po.str_opt("filename")?.map(str::to_owned),
    }))
}

/// `data:<media type>;base64,<data>` → its media type and data.
fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    (!media_type.is_empty() && !media_type.contains(';')).then_some((media_type, data))
}

/// `tools`: function tools, custom (freeform) tools and the function tools of
/// `namespace` tools are carried; any other type is a built-in tool only an OpenAI
/// upstream can run.
fn decode_tools(o: &Obj<'_>, notes: &mut Notes) -> Result<Vec<ToolDefinition>, GatewayError> {
    let Some(raw) = o.array_opt("tools")? else {
        return Ok(Vec::new());
    };
    let mut tools = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let path = index("tools", i);
        let to = Obj::new(t, &path)?;
        match to.str_req("type")? {
            "function" => tools.push(decode_function_tool(&to, notes)?),
            "custom" => tools.push(decode_custom_tool(&to, notes)?),
            "namespace" => decode_namespace(&to, &mut tools, notes)?,
            kind => notes.openai_only(|| {
                format!(
                    "the built-in tool `{kind}` ({path}) can only be served by an OpenAI upstream"
                )
            }),
        }
    }
    Ok(tools)
}

/// A `function` tool (flat: `name`, `description`, `parameters`, `strict`).
fn decode_function_tool(to: &Obj<'_>, notes: &mut Notes) -> Result<ToolDefinition, GatewayError> {
    notes
        .dropped
        .extra(to, &["type", "name", "description", "parameters", "strict"]);
    let parameters = match to.get("parameters") {
        None => serde_json::json!({"type": "object", "properties": {}}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(other) => {
            return Err(invalid(
                &to.path_of("parameters"),
                format!("expected a JSON Schema object, got {}", type_name(other)),
            ));
        }
    };
    Ok(ToolDefinition {
        name: to.str_req("name")?.to_owned(),
        description: to.str_opt("description")?.map(str::to_owned),
        parameters,
        strict: to.bool_opt("strict")?,
        freeform: None,
    })
}

/// A `namespace` tool (openai-python `namespace_tool_param.py`: `name`, `description`,
/// `tools`) is a group of tools: its function tools join `tools` under their flat names
/// ([`namespaced_tools`]); any other tool inside it (a `custom` one) only an OpenAI
/// upstream can serve, as the encoders could not give its calls back their namespace.
fn decode_namespace(
    to: &Obj<'_>,
    tools: &mut Vec<ToolDefinition>,
    notes: &mut Notes,
) -> Result<(), GatewayError> {
    notes
        .dropped
        .extra(to, &["type", "name", "description", "tools"]);
    let namespace = to.str_req("name")?;
    let Some(inner) = to.array_opt("tools")? else {
        return Err(invalid(&to.path_of("tools"), "is required"));
    };
    let tools_path = to.path_of("tools");
    for (j, t) in inner.iter().enumerate() {
        let path = index(&tools_path, j);
        let fo = Obj::new(t, &path)?;
        let kind = fo.str_req("type")?;
        if kind != "function" {
            notes.openai_only(|| {
                format!(
                    "the tool `{kind}` inside the namespace `{namespace}` ({path}) can only be \
                     served by an OpenAI upstream"
                )
            });
            continue;
        }
        let mut tool = decode_function_tool(&fo, notes)?;
        if let Some(flat) = notes.flat_name(namespace, &tool.name) {
            tool.name = flat.to_owned();
        }
        tools.push(tool);
    }
    Ok(())
}

/// A function tool declared inside a `namespace` tool, and the name the unified
/// request gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamespacedTool {
    /// The name translations see: the function's own name, or
    /// `<namespace>__<name>` when that name is also a top-level tool's or a function's
    /// in another namespace (so every flat name is one tool).
    pub(crate) flat: String,
    /// The namespace's name.
    pub(crate) namespace: String,
    /// The function's name inside its namespace.
    pub(crate) name: String,
}

/// The function tools inside the `namespace` tools of a Responses body, with their flat
/// names. Lenient (malformed entries are skipped): the encoders call it on the client's
/// raw body to give a call of a flat name back its namespace, and the decoder on the
/// same body, so both derive the same names.
pub(crate) fn namespaced_tools(body: &Map<String, Value>) -> Vec<NamespacedTool> {
    let Some(Value::Array(declared)) = body.get("tools") else {
        return Vec::new();
    };
    let str_at = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut top_level = Vec::new();
    let mut inner: Vec<(String, String)> = Vec::new();
    for t in declared {
        let Some(name) = str_at(t, "name") else {
            continue;
        };
        if t.get("type").and_then(Value::as_str) != Some("namespace") {
            top_level.push(name);
            continue;
        }
        for f in t
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if f.get("type").and_then(Value::as_str) == Some("function")
                && let Some(fname) = str_at(f, "name")
            {
                inner.push((name.clone(), fname));
            }
        }
    }
    let clashes = |name: &str| {
        top_level.iter().any(|n| n == name) || inner.iter().filter(|(_, n)| n == name).count() > 1
    };
    inner
        .iter()
        .map(|(namespace, name)| NamespacedTool {
            flat: if clashes(name) {
                format!("{namespace}__{name}")
            } else {
                name.clone()
            },
            namespace: namespace.clone(),
            name: name.clone(),
        })
        .collect()
}

/// A grammar at most this long is shown whole in a freeform tool's description (Codex's
/// `apply_patch` Lark grammar is about 650 bytes); a longer one is only named, so a
/// large grammar does not swell every request's prompt.
const GRAMMAR_IN_DESCRIPTION_MAX: usize = 2048;

/// A `custom` tool → a function with one string parameter, `input`
/// ([`FreeformTool::parameters`]), marked freeform (the client's `format` kept). The
/// description says how to use it as a function, with the grammar when it is short, since
/// no translating upstream can constrain the output to it.
fn decode_custom_tool(to: &Obj<'_>, notes: &mut Notes) -> Result<ToolDefinition, GatewayError> {
    notes
        .dropped
        .extra(to, &["type", "name", "description", "format"]);
    let format = match to.get("format") {
        None | Some(Value::Null) => None,
        Some(f @ Value::Object(_)) => Some(f.clone()),
        Some(other) => {
            return Err(invalid(
                &to.path_of("format"),
                format!(
                    "expected a format object (`text` or `grammar`), got {}",
                    type_name(other)
                ),
            ));
        }
    };
    let how = freeform_note(format.as_ref());
    let description = match to.str_opt("description")?.filter(|d| !d.is_empty()) {
        Some(d) => format!("{d}\n\n{how}"),
        None => how,
    };
    Ok(ToolDefinition {
        name: to.str_req("name")?.to_owned(),
        description: Some(description),
        parameters: FreeformTool::parameters(),
        strict: None,
        freeform: Some(FreeformTool { format }),
    })
}

/// What a model must know to call a freeform tool seen as a function: where the text
/// goes, and what it must look like (the grammar itself when short).
fn freeform_note(format: Option<&Value>) -> String {
    const HOW: &str = "Freeform input: pass the whole input, as plain text, as the `input` \
                       string (the text itself goes there, not wrapped in further JSON).";
    let Some(f) = format.filter(|f| f.get("type").and_then(Value::as_str) == Some("grammar"))
    else {
        return HOW.to_owned();
    };
    let grammar = match f.get("syntax").and_then(Value::as_str) {
        Some("lark") => "Lark grammar",
        Some("regex") => "regular expression",
        _ => "grammar",
    };
    match f.get("definition").and_then(Value::as_str) {
        Some(def) if !def.trim().is_empty() && def.len() <= GRAMMAR_IN_DESCRIPTION_MAX => {
            format!(
                "{HOW} The input must match this {grammar}:\n{}",
                def.trim_end()
            )
        }
        _ => format!("{HOW} The input must match the tool's {grammar}."),
    }
}

/// `tool_choice`: a mode, a function, `allowed_tools` (its mode; the subset is listed
/// as dropped), or a built-in tool (only an OpenAI upstream can honour it).
fn decode_tool_choice(o: &Obj<'_>, notes: &mut Notes) -> Result<Option<ToolChoice>, GatewayError> {
    match o.get("tool_choice") {
        None => Ok(None),
        Some(Value::String(s)) => crate::fields::tool_choice_mode(s).map(Some),
        Some(v @ Value::Object(_)) => {
            let co = Obj::new(v, "tool_choice")?;
            match co.str_req("type")? {
                // A custom tool is a function to every translation.
                "function" | "custom" => {
                    notes.dropped.extra(&co, &["type", "name"]);
                    Ok(Some(ToolChoice::Function(co.str_req("name")?.to_owned())))
                }
                "allowed_tools" => {
                    notes.dropped.extra(&co, &["type", "mode"]);
                    Ok(Some(match co.str_opt("mode")? {
                        Some("required") => ToolChoice::Required,
                        _ => ToolChoice::Auto,
                    }))
                }
                kind => {
                    notes.openai_only(|| {
                        format!(
                            "`tool_choice` names the built-in tool `{kind}`, which can only \
                             be served by an OpenAI upstream"
                        )
                    });
                    Ok(None)
                }
            }
        }
        Some(other) => Err(invalid(
            "tool_choice",
            format!("expected a string or an object, got {}", type_name(other)),
        )),
    }
}

/// `reasoning.effort` → the reasoning configuration; the other keys (`summary`, …) are
/// listed as dropped.
fn decode_reasoning(
    o: &Obj<'_>,
    dropped: &mut Dropped,
) -> Result<Option<ReasoningConfig>, GatewayError> {
    let path = o.path_of("reasoning");
    let Some(ro) = o.obj_opt("reasoning", &path)? else {
        return Ok(None);
    };
    dropped.extra(&ro, &["effort"]);
    Ok(ro.str_opt("effort")?.map(|e| ReasoningConfig {
        budget_tokens: None,
        effort: Some(e.to_owned()),
    }))
}

/// `text.format` → the response format (the Responses `json_schema` format is flat:
/// `name`, `schema` and `strict` sit beside `type`). `text.verbosity`, a schema's
/// `description` and an unknown format type are listed as dropped.
fn decode_text(o: &Obj<'_>, dropped: &mut Dropped) -> Result<Option<ResponseFormat>, GatewayError> {
    let Some(to) = o.obj_opt("text", "text")? else {
        return Ok(None);
    };
    dropped.extra(&to, &["format"]);
    let Some(fo) = to.obj_opt("format", "text.format")? else {
        return Ok(None);
    };
    match fo.str_req("type")? {
        "text" => {
            dropped.extra(&fo, &["type"]);
            Ok(Some(ResponseFormat::Text))
        }
        "json_object" => {
            dropped.extra(&fo, &["type"]);
            Ok(Some(ResponseFormat::JsonObject))
        }
        "json_schema" => {
            dropped.extra(&fo, &["type", "name", "schema", "strict"]);
            let schema = match fo.get("schema") {
                None => Value::Object(Map::new()),
                Some(s @ Value::Object(_)) => s.clone(),
                Some(other) => {
                    return Err(invalid(
                        &fo.path_of("schema"),
                        format!("expected a JSON Schema object, got {}", type_name(other)),
                    ));
                }
            };
            Ok(Some(ResponseFormat::JsonSchema {
                name: fo.str_req("name")?.to_owned(),
                schema,
                strict: fo.bool_opt("strict")?,
            }))
        }
        other => {
            dropped.block("text.format", other);
            Ok(None)
        }
    }
}

/// The body sent to an OpenAI upstream's `/v1/responses`: the client's own, every field
/// unchanged (unknown ones included) except `model`, rewritten, and `stream`: `true`
/// when streaming; for one complete answer `stream` and `stream_options` are removed
/// (OpenAI refuses `stream_options` without `stream`), an explicit `"stream": false`
/// being left as it is. A body that needs no change goes out as the client's bytes.
pub fn passthrough_body(raw: &RawRequest, model: &str, stream: bool) -> Bytes {
    let model = ("model", Value::String(model.to_owned()));
    if stream {
        return patched_body(raw, &[model, ("stream", Value::Bool(true))], &[]);
    }
    if raw.body.get("stream") == Some(&Value::Bool(false)) {
        patched_body(raw, &[model], &["stream_options"])
    } else {
        patched_body(raw, &[model], &["stream", "stream_options"])
    }
}

#[cfg(test)]
mod tests {
    //! The client side as current clients use it: a request shaped like Codex CLI's
    //! (instructions, a developer message, reasoning items with `encrypted_content`,
    //! function calls and their outputs, function and built-in tools, `store: false`,
    //! `include`, `prompt_cache_key`, `text.verbosity`), each mapping on its own, what a
    //! translation drops, and the pass-through body.

    use ax_core::{ErrorCode, RequestLimits, RequestMetadata};
    use serde_json::json;

    use super::*;

    fn decode_with(body: &Value, opts: DecodeOptions) -> Result<ChatRequest, GatewayError> {
        decode_request(&Bytes::from(body.to_string()), opts)
    }

    fn decode(body: &Value) -> ChatRequest {
        decode_with(body, DecodeOptions::default()).unwrap()
    }

    /// The `invalid_request` error for `body`, with its param.
    fn refused(body: &Value) -> GatewayError {
        let e = decode_with(body, DecodeOptions::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{}", e.message);
        e
    }

    fn text(t: &str) -> ContentPart {
        ContentPart::text(t)
    }

    fn msg(role: Role, content: Vec<ContentPart>) -> Message {
        Message {
            role,
            content,
            name: None,
        }
    }

    /// A second turn of a Codex CLI session: the fields of codex-api's
    /// `ResponsesApiRequest` and the item shapes of codex-protocol's `ResponseItem`.
    fn codex() -> Value {
        json!({
            "model": "gpt-5-codex",
            "instructions": "You are Codex, a coding agent.",
            "input": [
                {"type": "message", "role": "developer", "content": [
                    {"type": "input_text", "text": "<permissions>workspace-write</permissions>"}
                ]},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "List the files."}
                ]},
                {"type": "reasoning", "id": "rs_1", "summary": [
                    {"type": "summary_text", "text": "**Listing files**"},
                    {"type": "summary_text", "text": "Use ls."}
                ], "encrypted_content": "gAAAAenc=="},
                {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                 "phase": "commentary",
                 "content": [{"type": "output_text", "text": "Running ls.", "annotations": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "shell",
                 "arguments": "{\"command\":[\"ls\"]}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "Cargo.toml\nsrc"},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "Thanks."}
                ]}
            ],
            "tools": [
                {"type": "function", "name": "shell", "description": "Runs a command.",
                 "strict": false, "parameters": {"type": "object", "properties": {
                     "command": {"type": "array", "items": {"type": "string"}}
                 }, "required": ["command"]}},
                {"type": "web_search"}
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "store": false,
            "stream": true,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "0199a2c4-session",
            "text": {"verbosity": "low"}
        })
    }

    #[test]
    fn a_codex_request_decodes_to_one_assistant_turn_per_model_turn() {
        let r = decode(&codex());
        assert_eq!(r.model, "gpt-5-codex");
        assert_eq!(
            r.messages,
            [
                msg(Role::System, vec![text("You are Codex, a coding agent.")]),
                msg(
                    Role::System,
                    vec![text("<permissions>workspace-write</permissions>")]
                ),
                msg(Role::User, vec![text("List the files.")]),
                msg(
                    Role::Assistant,
                    vec![
                        ContentPart::Reasoning {
                            text: "**Listing files**\n\nUse ls.".into(),
                            signature: Some("gAAAAenc==".into()),
                            redacted: None,
                        },
                        text("Running ls."),
                        ContentPart::ToolCall {
                            id: "call_1".into(),
                            name: "shell".into(),
                            arguments: r#"{"command":["ls"]}"#.into(),
                        },
                    ]
                ),
                msg(
                    Role::Tool,
                    vec![ContentPart::ToolResult {
                        tool_call_id: "call_1".into(),
                        name: Some("shell".into()),
                        content: vec![text("Cargo.toml\nsrc")],
                        is_error: false,
                    }]
                ),
                msg(Role::User, vec![text("Thanks.")]),
            ]
        );
        assert_eq!(r.tools.len(), 1, "the built-in tool is not a function");
        assert_eq!(r.tools[0].name, "shell");
        assert_eq!(r.tools[0].strict, Some(false));
        assert_eq!(r.tools[0].parameters["required"], json!(["command"]));
        assert_eq!(
            r.passthrough_only.as_deref(),
            Some(
                "the built-in tool `web_search` (tools[1]) can only be served by an OpenAI upstream"
            )
        );
        assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
        assert_eq!(r.parallel_tool_calls, Some(false));
        assert_eq!(
            r.reasoning,
            Some(ReasoningConfig {
                budget_tokens: None,
                effort: Some("medium".into())
            })
        );
        assert_eq!(r.response_format, None);
        assert!(r.stream && r.include_usage);
        assert_eq!(
            r.dropped_fields,
            [
                "include",
                "prompt_cache_key",
                "store",
                "input[3].phase",
                "reasoning.summary",
                "text.verbosity",
            ]
        );
        let raw = r.raw.as_ref().unwrap();
        assert_eq!(raw.format, WireFormat::Responses);
        assert_eq!(Value::Object(raw.body.clone()), codex());
        assert_eq!(raw.bytes, codex().to_string().as_bytes());
        assert_eq!(r.anthropic, None);
    }

    #[test]
    fn a_string_input_is_one_user_message() {
        let r = decode(&json!({"model": "m", "input": "Hello", "instructions": ""}));
        assert_eq!(r.messages, [msg(Role::User, vec![text("Hello")])]);
        assert!(!r.stream && !r.include_usage);
        assert!(r.dropped_fields.is_empty());
        assert_eq!(r.passthrough_only, None);
    }

    #[test]
    fn messages_in_every_form_and_role() {
        let r = decode(&json!({"model": "m", "input": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [
                {"type": "input_text", "text": "Dev."},
                {"type": "input_image", "image_url": "https://x/a.png", "detail": "auto"}
            ]},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"type": "message", "role": "assistant", "id": "msg_2", "status": "completed",
             "content": [
                {"type": "refusal", "refusal": "I can't."},
                {"type": "output_text", "text": "See", "annotations": [
                    {"type": "url_citation", "url": "https://x", "title": "x",
                     "start_index": 0, "end_index": 3}
                ], "logprobs": []}
            ]},
            {"role": "user", "content": []}
        ]}));
        assert_eq!(
            r.messages,
            [
                msg(Role::System, vec![text("Be brief.")]),
                msg(Role::System, vec![text("Dev.")]),
                msg(Role::User, vec![text("Hi")]),
                // Two assistant messages in a row are one turn.
                msg(
                    Role::Assistant,
                    vec![text("Hello"), text("I can't."), text("See")]
                ),
                msg(Role::User, vec![]),
            ]
        );
        assert_eq!(
            r.dropped_fields,
            [
                "input[1].content[1] (input_image)",
                "input[4].content[1].annotations"
            ]
        );
    }

    #[test]
    fn images_by_url_data_url_or_file_id() {
        let r = decode(
            &json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_image", "image_url": "https://x/cat.png", "detail": "high"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"},
                {"type": "input_image", "file_id": "file-abc", "detail": "auto"}
            ]}]}),
        );
        assert_eq!(
            r.messages[0].content,
            [
                ContentPart::Image {
                    source: ImageSource::Url {
                        url: "https://x/cat.png".into()
                    },
                    detail: Some("high".into()),
                },
                ContentPart::Image {
                    source: ImageSource::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBOR".into()
                    },
                    detail: Some("auto".into()),
                },
            ]
        );
        let why = r.passthrough_only.unwrap();
        assert!(why.contains("`input[0].content[2].file_id`"), "{why}");
        assert!(why.contains("only an OpenAI upstream"), "{why}");

        let e = refused(
            &json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_image", "detail": "auto"}
            ]}]}),
        );
        assert_eq!(e.param.as_deref(), Some("input[0].content[0].image_url"));
    }

    #[test]
    fn files_by_data_url_bare_base64_url_or_file_id() {
        let r = decode(
            &json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBER"},
                {"type": "input_file", "file_data": "JVBER", "detail": "high"},
                {"type": "input_file", "file_url": "https://x/b.pdf"},
                {"type": "input_file", "file_id": "file-1"}
            ]}]}),
        );
        assert_eq!(
            r.messages[0].content,
            [
                ContentPart::Document {
                    source: DocumentSource::Base64 {
                        media_type: "application/pdf".into(),
                        data: "JVBER".into()
                    },
                    title: Some("a.pdf".into()),
                },
                ContentPart::Document {
                    source: DocumentSource::Base64 {
                        media_type: "application/pdf".into(),
                        data: "JVBER".into()
                    },
                    title: None,
                },
                ContentPart::Document {
                    source: DocumentSource::Url {
                        url: "https://x/b.pdf".into()
                    },
                    title: None,
                },
            ]
        );
        assert_eq!(r.dropped_fields, ["input[0].content[1].detail"]);
        assert!(
            r.passthrough_only
                .unwrap()
                .contains("`input[0].content[3].file_id`")
        );

        let e = refused(
            &json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_file", "filename": "x.pdf"}
            ]}]}),
        );
        assert_eq!(e.param.as_deref(), Some("input[0].content[0]"));
    }

    #[test]
    fn function_call_outputs_are_tool_messages_named_after_their_call() {
        let r = decode(&json!({"model": "m", "input": [
            {"type": "function_call", "call_id": "c1", "name": "read", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "look"},
            {"type": "function_call_output", "call_id": "c1", "output": "file text"},
            {"type": "function_call_output", "call_id": "c2", "output": [
                {"type": "input_text", "text": "a screenshot"},
                {"type": "input_image", "image_url": "https://x/s.png"}
            ]},
            // No earlier call: the item's own name (newer SDKs send one), if any.
            {"type": "function_call_output", "call_id": "c9", "name": "other", "output": ""},
            {"type": "function_call_output", "call_id": "c8", "output": "x"}
        ]}));
        assert_eq!(
            r.messages[0],
            msg(
                Role::Assistant,
                vec![
                    ContentPart::ToolCall {
                        id: "c1".into(),
                        name: "read".into(),
                        arguments: "{}".into()
                    },
                    ContentPart::ToolCall {
                        id: "c2".into(),
                        name: "look".into(),
                        arguments: "{}".into()
                    },
                ]
            )
        );
        let results: Vec<(&str, Option<&str>, &[ContentPart])> = r.messages[1..]
            .iter()
            .map(|m| {
                assert_eq!(m.role, Role::Tool);
                match m.content.as_slice() {
                    [
                        ContentPart::ToolResult {
                            tool_call_id,
                            name,
                            content,
                            ..
                        },
                    ] => (tool_call_id.as_str(), name.as_deref(), content.as_slice()),
                    other => panic!("not one tool result: {other:?}"),
                }
            })
            .collect();
        assert_eq!(results.len(), 4);
        assert_eq!(results[0], ("c1", Some("read"), &[text("file text")][..]));
        assert_eq!(results[1].1, Some("look"));
        assert_eq!(results[1].2.len(), 2);
        assert!(matches!(results[1].2[1], ContentPart::Image { .. }));
        assert_eq!(results[2], ("c9", Some("other"), &[text("")][..]));
        assert_eq!(results[3].1, None);

        let e = refused(&json!({"model": "m", "input": [
            {"type": "function_call_output", "call_id": "c1"}
        ]}));
        assert_eq!(e.param.as_deref(), Some("input[0].output"));
        let e = refused(&json!({"model": "m", "input": [
            {"type": "function_call", "name": "f", "arguments": "{}"}
        ]}));
        assert_eq!(e.param.as_deref(), Some("input[0].call_id"));
    }

    #[test]
    fn assistant_side_items_merge_until_another_role_speaks() {
        let r = decode(&json!({"model": "m", "input": [
            {"role": "user", "content": "go"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "sig2"},
            {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "function_call", "call_id": "b", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "a", "output": "1"},
            {"type": "function_call_output", "call_id": "b", "output": "2"},
            {"type": "reasoning", "id": "rs_3", "summary": [],
             "content": [{"type": "reasoning_text", "text": "raw thought"}]},
            {"role": "assistant", "content": "done"}
        ]}));
        let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::Tool,
                Role::Assistant
            ]
        );
        // The empty reasoning item carries nothing; the dropped web search call does
        // not split the turn.
        assert_eq!(r.messages[1].content.len(), 3);
        assert_eq!(
            r.messages[1].content[0],
            ContentPart::Reasoning {
                text: String::new(),
                signature: Some("sig2".into()),
                redacted: None
            }
        );
        assert_eq!(
            r.messages[4].content,
            [
                ContentPart::Reasoning {
                    text: "raw thought".into(),
                    signature: None,
                    redacted: None
                },
                text("done")
            ]
        );
        assert_eq!(r.dropped_fields, ["input[4] (web_search_call)"]);
    }

    #[test]
    fn reasoning_summaries_win_over_raw_content() {
        let r = decode(&json!({"model": "m", "input": [
            {"type": "reasoning", "id": "rs", "summary": [
                {"type": "summary_text", "text": "short"},
                {"type": "future_summary", "text": "?"}
            ], "content": [{"type": "reasoning_text", "text": "long"}]}
        ]}));
        assert_eq!(
            r.messages[0].content,
            [ContentPart::Reasoning {
                text: "short".into(),
                signature: None,
                redacted: None
            }]
        );
        assert_eq!(
            r.dropped_fields,
            ["input[0].summary[1] (future_summary)", "input[0].content"]
        );
    }

    #[test]
    fn unknown_items_parts_and_fields_never_fail() {
        let r = decode(&json!({
            "model": "m",
            "input": [
                {"type": "item_reference", "id": "msg_0"},
                {"id": "msg_1"},
                {"type": "local_shell_call", "call_id": "c", "status": "completed",
                 "action": {"type": "exec", "command": ["ls"]}},
                {"type": "mcp_call", "id": "mcp_1", "name": "x", "arguments": "{}",
                 "server_label": "s"},
                {"type": "compaction", "encrypted_content": "xyz"},
                {"type": "a_type_from_2030", "anything": {"nested": [1, 2]}},
                {"role": "user", "content": [
                    {"type": "input_audio", "input_audio": {"data": "..", "format": "wav"}},
                    {"type": "input_text", "text": "hi", "prompt_cache_breakpoint": {"mode": "explicit"}}
                ]}
            ],
            "metadata": {"k": "v"},
            "previous_response_id": "resp_1",
            "truncation": "auto",
            "service_tier": "flex",
            "background": false,
            "top_logprobs": 2,
            "max_tool_calls": 4,
            "stream_options": {"include_obfuscation": false},
            "conversation": null,
            "a_field_from_2030": true,
            "text": {"format": {"type": "grammar_from_2030"}}
        }));
        assert_eq!(r.messages, [msg(Role::User, vec![text("hi")])]);
        assert_eq!(
            r.dropped_fields,
            [
                "a_field_from_2030",
                "background",
                "max_tool_calls",
                "metadata",
                "previous_response_id",
                "service_tier",
                "stream_options",
                "top_logprobs",
                "truncation",
                "input[0] (item_reference)",
                "input[1] (item_reference)",
                "input[2] (local_shell_call)",
                "input[3] (mcp_call)",
                "input[4] (compaction)",
                "input[5] (a_type_from_2030)",
                "input[6].content[0] (input_audio)",
                "input[6].content[1].prompt_cache_breakpoint",
                "text.format (grammar_from_2030)",
            ]
        );
        assert_eq!(r.passthrough_only, None);
    }

    #[test]
    fn dropped_fields_are_capped() {
        let mut body = json!({"model": "m", "input": "x"});
        for i in 0..40 {
            body[format!("k{i:02}")] = json!(1);
        }
        let r = decode(&body);
        assert_eq!(r.dropped_fields.len(), ax_core::MAX_DROPPED_FIELDS + 1);
        assert_eq!(r.dropped_fields.last().map(String::as_str), Some("+8 more"));
    }

    #[test]
    fn function_tools_are_flat_and_built_in_tools_only_go_to_openai() {
        let r = decode(&json!({"model": "m", "input": "x", "tools": [
            {"type": "function", "name": "a", "parameters": null, "strict": null},
            {"type": "function", "name": "b", "description": "B", "strict": true,
             "parameters": {"type": "object"}, "defer_loading": true},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "code_interpreter", "container": {"type": "auto"}}
        ]}));
        assert_eq!(
            r.tools,
            [
                ToolDefinition {
                    name: "a".into(),
                    description: None,
                    parameters: json!({"type": "object", "properties": {}}),
                    strict: None,
                    freeform: None,
                },
                ToolDefinition {
                    name: "b".into(),
                    description: Some("B".into()),
                    parameters: json!({"type": "object"}),
                    strict: Some(true),
                    freeform: None,
                },
            ]
        );
        assert_eq!(r.dropped_fields, ["tools[1].defer_loading"]);
        // The first built-in tool is named.
        assert_eq!(
            r.passthrough_only.as_deref(),
            Some(
                "the built-in tool `file_search` (tools[2]) can only be served by an OpenAI upstream"
            )
        );

        // The Chat Completions shape is not the Responses one.
        let e = refused(&json!({"model": "m", "input": "x", "tools": [
            {"type": "function", "function": {"name": "a"}}
        ]}));
        assert_eq!(e.param.as_deref(), Some("tools[0].name"));
        let e = refused(&json!({"model": "m", "input": "x", "tools": [{"name": "a"}]}));
        assert_eq!(e.param.as_deref(), Some("tools[0].type"));
    }

    /// Codex CLI's `apply_patch` Lark grammar (codex-rs `tool_apply_patch.lark`).
    const APPLY_PATCH_GRAMMAR: &str = r#"start: begin_patch hunk+ end_patch
begin_patch: "*** Begin Patch" LF
end_patch: "*** End Patch" LF?

hunk: add_hunk | delete_hunk | update_hunk
add_hunk: "*** Add File: " filename LF add_line+
delete_hunk: "*** Delete File: " filename LF
update_hunk: "*** Update File: " filename LF change_move? change?

filename: /(.+)/
add_line: "+" /(.*)/ LF -> line

change_move: "*** Move to: " filename LF
change: (change_context | change_line)+ eof_line?
change_context: ("@@" | "@@ " /(.+)/) LF
change_line: ("+" | "-" | " ") /(.*)/ LF
eof_line: "*** End of File" LF

%import common.LF
"#;

    /// Codex CLI's freeform `apply_patch` tool.
    fn apply_patch_tool() -> Value {
        json!({"type": "custom", "name": "apply_patch",
            "description": "Use the `apply_patch` tool to edit files. This is a FREEFORM tool, so do not wrap the patch in JSON.",
            "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR}})
    }

    #[test]
    fn custom_tools_are_freeform_functions_with_one_input_string() {
        let r = decode(&json!({"model": "m", "input": "x", "tools": [
            apply_patch_tool(),
            {"type": "custom", "name": "sql", "format": {"type": "text"}, "defer_loading": true},
            {"type": "custom", "name": "digits",
             "format": {"type": "grammar", "syntax": "regex", "definition": "\\d+"}},
            {"type": "custom", "name": "huge", "description": "",
             "format": {"type": "grammar", "syntax": "lark", "definition": "x".repeat(5000)}}
        ]}));
        assert_eq!(r.passthrough_only, None, "a custom tool translates");
        assert_eq!(r.dropped_fields, ["tools[1].defer_loading"]);
        let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["apply_patch", "sql", "digits", "huge"]);
        for t in &r.tools {
            assert_eq!(t.parameters, FreeformTool::parameters(), "{}", t.name);
            assert_eq!(
                t.parameters,
                json!({"type": "object", "properties": {"input": {"type": "string"}},
                       "required": ["input"]})
            );
            assert_eq!(t.strict, None);
        }
        // The format is kept as sent.
        assert_eq!(
            r.tools[0].freeform,
            Some(FreeformTool {
                format: Some(apply_patch_tool()["format"].clone())
            })
        );
        assert_eq!(
            r.tools[1].freeform.as_ref().and_then(|f| f.format.clone()),
            Some(json!({"type": "text"}))
        );
        // The description keeps the client's and says where the text goes, with the
        // grammar when it is short.
        let d = r.tools[0].description.as_deref().unwrap();
        assert!(
            d.starts_with("Use the `apply_patch` tool to edit files."),
            "{d}"
        );
        assert!(d.contains("as the `input` string"), "{d}");
        assert!(
            d.contains("Lark grammar:\nstart: begin_patch hunk+ end_patch"),
            "{d}"
        );
        assert!(d.ends_with("%import common.LF"), "{d}");
        assert_eq!(
            r.tools[1].description.as_deref(),
            Some(
                "Freeform input: pass the whole input, as plain text, as the `input` string \
                 (the text itself goes there, not wrapped in further JSON)."
            )
        );
        let d = r.tools[2].description.as_deref().unwrap();
        assert!(d.ends_with("regular expression:\n\\d+"), "{d}");
        let d = r.tools[3].description.as_deref().unwrap();
        assert!(d.ends_with("must match the tool's Lark grammar."), "{d}");
        assert!(d.len() < 300, "a long grammar is not copied");

        // A format that is not an object is refused, naming it.
        let e = refused(&json!({"model": "m", "input": "x", "tools": [
            {"type": "custom", "name": "f", "format": "lark"}
        ]}));
        assert_eq!(e.param.as_deref(), Some("tools[0].format"));
        let e = refused(&json!({"model": "m", "input": "x", "tools": [{"type": "custom"}]}));
        assert_eq!(e.param.as_deref(), Some("tools[0].name"));
    }

    #[test]
    fn custom_tool_calls_and_their_outputs_are_tool_calls_and_results() {
        // A Codex turn after an apply_patch call: the item shapes of codex-protocol's
        // `ResponseItem::CustomToolCall` / `CustomToolCallOutput`.
        let patch = "*** Begin Patch\n*** Add File: hello.txt\n+Hello \"world\"\n*** End Patch";
        let r = decode(
            &json!({"model": "m", "tools": [apply_patch_tool()], "input": [
                {"role": "user", "content": "Add hello.txt"},
                {"type": "custom_tool_call", "id": "ctc_1", "status": "completed",
                 "call_id": "call_p", "name": "apply_patch", "input": patch},
                {"type": "custom_tool_call_output", "call_id": "call_p",
                 "output": "Success. Updated the following files:\nA hello.txt\n"},
                {"type": "custom_tool_call_output", "call_id": "call_q", "output": [
                    {"type": "input_text", "text": "parts"}
                ]}
            ]}),
        );
        assert_eq!(
            r.messages[1],
            msg(
                Role::Assistant,
                vec![ContentPart::ToolCall {
                    id: "call_p".into(),
                    name: "apply_patch".into(),
                    arguments: FreeformTool::arguments(patch),
                }]
            )
        );
        let ContentPart::ToolCall { arguments, .. } = &r.messages[1].content[0] else {
            panic!("a tool call")
        };
        let args: Value = serde_json::from_str(arguments).unwrap();
        assert_eq!(args, json!({"input": patch}));
        assert_eq!(
            r.messages[2],
            msg(
                Role::Tool,
                vec![ContentPart::ToolResult {
                    tool_call_id: "call_p".into(),
                    name: Some("apply_patch".into()),
                    content: vec![text("Success. Updated the following files:\nA hello.txt\n")],
                    is_error: false,
                }]
            )
        );
        assert_eq!(
            r.messages[3].content,
            [ContentPart::ToolResult {
                tool_call_id: "call_q".into(),
                name: None,
                content: vec![text("parts")],
                is_error: false,
            }]
        );
        assert!(r.dropped_fields.is_empty(), "{:?}", r.dropped_fields);
        assert_eq!(r.passthrough_only, None);

        let e = refused(&json!({"model": "m", "input": [
            {"type": "custom_tool_call", "call_id": "c", "name": "apply_patch"}
        ]}));
        assert_eq!(e.param.as_deref(), Some("input[0].input"));
        let e = refused(&json!({"model": "m", "input": [
            {"type": "custom_tool_call_output", "call_id": "c"}
        ]}));
        assert_eq!(e.param.as_deref(), Some("input[0].output"));
    }

    #[test]
    fn tool_choice_in_every_shape() {
        let choice = |c: Value| decode(&json!({"model": "m", "input": "x", "tool_choice": c}));
        assert_eq!(choice(json!("auto")).tool_choice, Some(ToolChoice::Auto));
        assert_eq!(choice(json!("none")).tool_choice, Some(ToolChoice::None));
        assert_eq!(
            choice(json!("required")).tool_choice,
            Some(ToolChoice::Required)
        );
        assert_eq!(
            choice(json!({"type": "function", "name": "f"})).tool_choice,
            Some(ToolChoice::Function("f".into()))
        );
        let custom = choice(json!({"type": "custom", "name": "apply_patch"}));
        assert_eq!(
            custom.tool_choice,
            Some(ToolChoice::Function("apply_patch".into()))
        );
        assert_eq!(custom.passthrough_only, None);
        let allowed = choice(json!({"type": "allowed_tools", "mode": "required",
            "tools": [{"type": "function", "name": "f"}]}));
        assert_eq!(allowed.tool_choice, Some(ToolChoice::Required));
        assert_eq!(allowed.dropped_fields, ["tool_choice.tools"]);
        let hosted = choice(json!({"type": "web_search_preview"}));
        assert_eq!(hosted.tool_choice, None);
        assert!(
            hosted
                .passthrough_only
                .unwrap()
                .contains("`web_search_preview`")
        );

        let e = refused(&json!({"model": "m", "input": "x", "tool_choice": "any"}));
        assert_eq!(e.param.as_deref(), Some("tool_choice"));
        let e = refused(&json!({"model": "m", "input": "x", "tool_choice": 1}));
        assert_eq!(e.param.as_deref(), Some("tool_choice"));
    }

    #[test]
    fn generation_parameters_and_the_flat_json_schema_format() {
        let r = decode(&json!({
            "model": "m", "input": "x",
            "max_output_tokens": 500, "temperature": 0.2, "top_p": 0.9,
            "reasoning": {"effort": "high"},
            "text": {"format": {"type": "json_schema", "name": "answer", "strict": true,
                "description": "The answer.",
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
        }));
        assert_eq!(r.params.max_tokens, Some(500));
        assert_eq!(r.params.temperature, Some(0.2));
        assert_eq!(r.params.top_p, Some(0.9));
        assert_eq!(r.reasoning.and_then(|c| c.effort).as_deref(), Some("high"));
        assert_eq!(
            r.response_format,
            Some(ResponseFormat::JsonSchema {
                name: "answer".into(),
                schema: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
                strict: Some(true),
            })
        );
        assert_eq!(r.dropped_fields, ["text.format.description"]);

        let format = |f: Value| {
            decode(&json!({"model": "m", "input": "x", "text": {"format": f}})).response_format
        };
        assert_eq!(format(json!({"type": "text"})), Some(ResponseFormat::Text));
        assert_eq!(
            format(json!({"type": "json_object"})),
            Some(ResponseFormat::JsonObject)
        );
        // Chat's nested `json_schema` object is not the Responses shape.
        let e = refused(&json!({"model": "m", "input": "x", "text": {"format":
            {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}}}));
        assert_eq!(e.param.as_deref(), Some("text.format.name"));
        let e = refused(&json!({"model": "m", "input": "x", "max_output_tokens": -1}));
        assert_eq!(e.param.as_deref(), Some("max_output_tokens"));
        // No effort, no reasoning configuration.
        let r = decode(&json!({"model": "m", "input": "x", "reasoning": {"summary": "auto"}}));
        assert_eq!(r.reasoning, None);
    }

    #[test]
    fn the_user_comes_from_the_body_unless_the_header_set_it() {
        let body = json!({"model": "m", "input": "x", "user": "u1", "safety_identifier": "s1"});
        assert_eq!(decode(&body).metadata.user_id.as_deref(), Some("u1"));
        let body = json!({"model": "m", "input": "x", "safety_identifier": "s1"});
        assert_eq!(decode(&body).metadata.user_id.as_deref(), Some("s1"));
        let opts = DecodeOptions {
            metadata: RequestMetadata {
                user_id: Some("header".into()),
                ..RequestMetadata::default()
            },
            ..DecodeOptions::default()
        };
        let r = decode_with(&body, opts).unwrap();
        assert_eq!(r.metadata.user_id.as_deref(), Some("header"));
    }

    #[test]
    fn malformed_requests_name_the_field() {
        for (body, param) in [
            (json!({"input": "x"}), "model"),
            (json!({"model": "m"}), "input"),
            (json!({"model": "m", "input": 3}), "input"),
            (json!({"model": "m", "input": ["x"]}), "input[0]"),
            (
                json!({"model": "m", "input": [{"content": "x"}]}),
                "input[0]",
            ),
            (
                json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
                "input[0].role",
            ),
            (
                json!({"model": "m", "input": [{"role": "user"}]}),
                "input[0].content",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"text": "x"}]}]}),
                "input[0].content[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "stream": "yes"}),
                "stream",
            ),
        ] {
            let e = refused(&body);
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        }
        assert!(
            decode_with(&json!([1]), DecodeOptions::default())
                .unwrap_err()
                .message
                .contains("JSON object")
        );
        // The conversation may live elsewhere (the gateway resolves it).
        let r = decode(&json!({"model": "m", "previous_response_id": "resp_1"}));
        assert!(r.messages.is_empty());
    }

    #[test]
    fn shape_limits_count_items_parts_and_tools() {
        let limited = |messages, parts, tools| DecodeOptions {
            limits: RequestLimits {
                max_messages: messages,
                max_content_parts: parts,
                max_tools: tools,
                ..RequestLimits::default()
            },
            ..DecodeOptions::default()
        };
        let body = codex();
        // Seven input items, six content parts (one per message, two summaries), two
        // tools.
        assert!(decode_with(&body, limited(7, 6, 2)).is_ok());
        for (opts, limit) in [
            (limited(6, 6, 2), "max_messages"),
            (limited(7, 5, 2), "max_content_parts"),
            (limited(7, 6, 1), "max_tools"),
        ] {
            let e = decode_with(&body, opts).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert!(e.message.contains(limit), "{limit}: {}", e.message);
        }
    }

    fn raw(text: &str) -> RawRequest {
        let req = decode_request(
            &Bytes::copy_from_slice(text.as_bytes()),
            DecodeOptions::default(),
        )
        .unwrap();
        req.raw.unwrap()
    }

    #[test]
    fn passthrough_leaves_an_unchanged_body_byte_for_byte() {
        // Odd spacing and key order survive only if the bytes are passed through.
        let text = r#"{ "stream":true, "model" : "gpt-5",  "input": "hi", "x_new": {"a": 1} }"#;
        let r = raw(text);
        let out = passthrough_body(&r, "gpt-5", true);
        assert_eq!(out, text.as_bytes());
        assert_eq!(out.as_ptr(), r.bytes.as_ptr(), "passed through, not copied");
        // Not streaming, with no `stream` key or an explicit `false`: unchanged too.
        let text = r#"{"model":"gpt-5", "input":"hi"}"#;
        assert_eq!(
            passthrough_body(&raw(text), "gpt-5", false),
            text.as_bytes()
        );
        let text = r#"{"model":"gpt-5", "input":"hi", "stream": false}"#;
        assert_eq!(
            passthrough_body(&raw(text), "gpt-5", false),
            text.as_bytes()
        );
    }

    #[test]
    fn passthrough_rewrites_the_model_and_the_stream_flag() {
        let body = |out: Bytes| serde_json::from_slice::<Value>(&out).unwrap();
        let r = raw(
            r#"{"model":"openai/gpt-5","input":"hi","store":false,"tools":[{"type":"web_search"}]}"#,
        );
        assert_eq!(
            body(passthrough_body(&r, "gpt-5", false)),
            json!({"model": "gpt-5", "input": "hi", "store": false, "tools": [{"type": "web_search"}]})
        );
        assert_eq!(
            body(passthrough_body(&r, "gpt-5", true)),
            json!({"model": "gpt-5", "input": "hi", "store": false, "tools": [{"type": "web_search"}], "stream": true})
        );
        // A streaming client answered in one piece: no `stream`, no `stream_options`.
        let r = raw(
            r#"{"model":"gpt-5","input":"hi","stream":true,"stream_options":{"include_obfuscation":false}}"#,
        );
        assert_eq!(
            body(passthrough_body(&r, "gpt-5", false)),
            json!({"model": "gpt-5", "input": "hi"})
        );
        // Streaming keeps the client's stream options.
        assert_eq!(passthrough_body(&r, "gpt-5", true), r.bytes);
    }

    /// Codex CLI's sub-agent tools (codex 0.171 declares them so, shortened here).
    fn multi_agent() -> Value {
        json!({"type": "namespace", "name": "multi_agent_v1",
        "description": "Tools for spawning and managing sub-agents.",
        "tools": [
            {"type": "function", "name": "spawn_agent", "description": "Spawn.",
             "strict": false,
             "parameters": {"type": "object",
                 "properties": {"message": {"type": "string"}}}},
            {"type": "function", "name": "wait_agent"}
        ]})
    }

    /// The tool-call names of the assistant turns of `r`.
    fn call_names(r: &ChatRequest) -> Vec<&str> {
        r.messages
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|p| match p {
                ContentPart::ToolCall { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn namespace_tools_are_flattened_functions_and_namespaced_calls_map_back() {
        let r = decode(&json!({"model": "m", "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            multi_agent()
        ], "input": [
            {"type": "function_call", "call_id": "c1", "name": "spawn_agent",
             "namespace": "multi_agent_v1", "arguments": "{\"message\":\"go\"}"},
            {"type": "function_call_output", "call_id": "c1", "output": "spawned"}
        ]}));
        assert_eq!(r.passthrough_only, None, "a namespace translates");
        assert!(r.dropped_fields.is_empty(), "{:?}", r.dropped_fields);
        let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["exec_command", "spawn_agent", "wait_agent"]);
        assert_eq!(
            r.tools[1],
            ToolDefinition {
                name: "spawn_agent".into(),
                description: Some("Spawn.".into()),
                parameters: json!({"type": "object",
                    "properties": {"message": {"type": "string"}}}),
                strict: Some(false),
                freeform: None,
            }
        );
        assert_eq!(
            r.tools[2].parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(call_names(&r), ["spawn_agent"]);
    }

    #[test]
    fn clashing_namespaced_names_are_qualified() {
        let r = decode(&json!({"model": "m", "tools": [
            {"type": "function", "name": "wait_agent"},
            multi_agent(),
            {"type": "namespace", "name": "other", "description": "O.", "tools": [
                {"type": "function", "name": "spawn_agent"},
                {"type": "function", "name": "ping"}
            ]}
        ], "input": [
            {"type": "function_call", "call_id": "c1", "name": "spawn_agent",
             "namespace": "other", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "wait_agent",
             "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "function_call", "call_id": "c3", "name": "wait_agent",
             "arguments": "{}"},
            // A namespace the request does not declare: the plain name.
            {"type": "function_call", "call_id": "c4", "name": "ping",
             "namespace": "gone", "arguments": "{}"}
        ]}));
        assert_eq!(r.passthrough_only, None);
        let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "wait_agent",
                "multi_agent_v1__spawn_agent",
                "multi_agent_v1__wait_agent",
                "other__spawn_agent",
                "ping"
            ]
        );
        assert_eq!(
            call_names(&r),
            [
                "other__spawn_agent",
                "multi_agent_v1__wait_agent",
                "wait_agent",
                "ping"
            ]
        );
    }

    #[test]
    fn a_namespace_with_a_tool_other_than_a_function_only_goes_to_openai() {
        let r = decode(&json!({"model": "m", "input": "x", "tools": [
            {"type": "namespace", "name": "ns", "description": "N.", "tools": [
                {"type": "function", "name": "f"},
                {"type": "custom", "name": "g"}
            ]}
        ]}));
        assert_eq!(r.tools.len(), 1);
        assert_eq!(
            r.passthrough_only.as_deref(),
            Some(
                "the tool `custom` inside the namespace `ns` (tools[0].tools[1]) can only be \
                 served by an OpenAI upstream"
            )
        );
        let e = refused(&json!({"model": "m", "input": "x", "tools": [
            {"type": "namespace", "name": "ns", "description": "N."}
        ]}));
        assert_eq!(e.param.as_deref(), Some("tools[0].tools"));
    }
}
