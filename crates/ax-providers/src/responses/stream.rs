//! The Responses streaming event sequence, both directions.
//!
//! Wire sequence (openai-python `types/responses/response_*_event.py`; what
//! `lib/streaming/responses/_responses.py` requires of it; how Codex CLI's
//! `codex-api/src/sse/responses.rs` reads it): every frame is
//! `event: <type>\ndata: {"type": <type>, "sequence_number": n, …}` with `n` counting
//! from 0. `response.created` (the response `in_progress`, `output: []`) comes first
//! (the SDK's accumulator fails on anything else first), then `response.in_progress`.
//! Each output item opens with `response.output_item.added` at the next
//! `output_index` (the accumulator appends it, so indexes are positions) and closes
//! with `response.output_item.done` carrying the whole item (Codex takes items from
//! there, reasoning `encrypted_content` included). In between:
//! - message: `response.content_part.added` (`content_index` 0, an empty
//!   `output_text`; it must precede the deltas, which the accumulator appends to it),
//!   `response.output_text.delta`…, `response.output_text.done`,
//!   `response.content_part.done`;
//! - reasoning: `response.reasoning_summary_part.added` (`summary_index` 0),
//!   `response.reasoning_summary_text.delta`…, `response.reasoning_summary_text.done`,
//!   `response.reasoning_summary_part.done`;
//! - function call (`arguments: ""` when added): `response.function_call_arguments.delta`…,
//!   `response.function_call_arguments.done`;
//! - custom tool call (`custom_tool_call`, `input: ""` when added; openai-python
//!   `response_custom_tool_call_input_{delta,done}_event.py`):
//!   `response.custom_tool_call_input.delta` (`delta`)…,
//!   `response.custom_tool_call_input.done` (`input`), each with `item_id` and
//!   `output_index`.
//!
//! The stream ends with `response.completed` (or `response.incomplete`, with
//! `incomplete_details`) carrying the whole response and its usage (Codex reads
//! `response.id` and `response.usage` there), or with `response.failed` whose
//! `response.error` is `{code, message}` (Codex classifies by `code`).

use std::collections::{BTreeMap, HashMap, HashSet};

use ax_core::{
    ChatRequest, ErrorCode, FinishReason, FreeformTool, GatewayError, StreamEvent, Usage,
    WireFormat,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::{NamespacedTool, namespaced_tools};
use super::response::{
    EmptyList, InResponse, OutError, OutItem, OutPart, OutResponse, ResponseParts, call_arguments,
    call_id_of, created_in, encrypted_content, error_in, failed_code, failed_message, is_call,
    item_id, message_text, reasoning_text, response_id, status_out, str_at, summary_of, usage_in,
    usage_out,
};
use crate::codec::{StreamDecoder, StreamEncoder};
use crate::fields::parse_upstream;
use crate::sse::{SseFrame, write_json_frame};

// ====================================================================== encoder

/// The status of an output item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemStatus {
    InProgress,
    Completed,
    Incomplete,
}

impl ItemStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Incomplete => "incomplete",
        }
    }
}

/// What an output item holds so far.
#[derive(Debug)]
enum ItemKind {
    Message {
        text: String,
    },
    Reasoning {
        summary: String,
        signature: Option<String>,
        /// Whether `reasoning_summary_part.added` was sent (only once text came).
        part_open: bool,
    },
    Call {
        call_id: String,
        name: String,
        /// The `namespace` tool the function belongs to, if any (`name` is then its
        /// own name within it).
        namespace: Option<String>,
        arguments: String,
    },
    /// A call of a freeform tool: the arguments (`{"input": "…"}` as JSON text) are
    /// buffered, as a fragment of JSON is not a fragment of the input, and the input is
    /// taken out of them when the item closes.
    Custom {
        call_id: String,
        name: String,
        arguments: String,
        input: String,
    },
}

/// One output item of the streamed response.
#[derive(Debug)]
struct Item {
    id: String,
    status: ItemStatus,
    kind: ItemKind,
}

impl Item {
    /// The item as the wire shows it now (a just-added item is empty: a message with
    /// `content: []`, reasoning with `summary: []`, a call with `arguments: ""`).
    fn view(&self) -> OutItem<'_> {
        match &self.kind {
            ItemKind::Message { text } => OutItem::Message {
                id: &self.id,
                status: self.status.as_str(),
                role: "assistant",
                content: if text.is_empty() {
                    Vec::new()
                } else {
                    vec![OutPart::output_text(text)]
                },
            },
            ItemKind::Reasoning {
                summary, signature, ..
            } => OutItem::Reasoning {
                id: &self.id,
                summary: summary_of(summary),
                encrypted_content: signature.as_deref(),
            },
            ItemKind::Call {
                call_id,
                name,
                namespace,
                arguments,
            } => OutItem::FunctionCall {
                id: &self.id,
                call_id,
                name,
                namespace: namespace.as_deref(),
                arguments,
                status: self.status.as_str(),
            },
            ItemKind::Custom {
                call_id,
                name,
                input,
                ..
            } => OutItem::CustomToolCall {
                id: &self.id,
                call_id,
                name,
                input,
                status: self.status.as_str(),
            },
        }
    }
}

/// Where the streamed response stands.
#[derive(Debug)]
enum Phase {
    Streaming,
    Done(FinishReason),
    Failed { code: &'static str, message: String },
}

/// One event frame; absent fields are not written.
#[derive(Debug, Default, Serialize)]
struct Ev<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<OutResponse<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<OutItem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<OutPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<EmptyList>,
}

/// The next sequence number.
fn bump(seq: &mut u64) -> u64 {
    let n = *seq;
    *seq = seq.saturating_add(1);
    n
}

/// Writes `ev` as a frame named after its type.
fn write(out: &mut Vec<u8>, ev: &Ev<'_>) {
    write_json_frame(out, Some(ev.kind), ev);
}

/// Turns unified stream events into Responses events, each with its `sequence_number`.
///
/// Accepts events from any upstream:
/// - `response.created` and `response.in_progress` are written at `Start` (or, when
///   content comes first, at the first event, with a generated id and the request's
///   model; a later `Start` is then ignored). The response id is
///   [`response_id`] of the upstream id; item ids derive from it.
/// - Items open and close as the event kind changes: text, reasoning and each tool call
///   are separate items, one open at a time. A call of a tool the request declared
///   freeform is a `custom_tool_call` item: its argument fragments are held back and,
///   when it closes, the `input` string taken out of them
///   ([`FreeformTool::input_of`]) goes out as one `custom_tool_call_input.delta` and the
///   `.done` (a fragment for such a call already closed is dropped: its input was
///   final). A reasoning item ends at its signature: more
///   reasoning after a signature (a new Anthropic thinking block) is a new item, and a
///   signature with no reasoning item open (a Gemini signature carried on a text or
///   call part) is an item of its own with an empty summary, as the complete answer
///   encodes it. A tool-call fragment for a call never started opens one (`call_<n>`,
///   empty name); one for a call already closed is still sent, with that item's
///   `output_index`, which the SDK accumulates by index.
/// - `Finish` closes the open item (`incomplete` when the answer was cut by the token
///   limit or a filter) and is buffered: `finish()` writes `response.completed` or
///   `response.incomplete` after any `Usage` that followed (merged by maximum).
/// - `error()` writes `response.failed` (after `response.created` if nothing was
///   written yet, as the SDK requires it first) and nothing more.
#[derive(Debug)]
pub struct ResponsesStreamEncoder {
    id: String,
    model: String,
    created: i64,
    started: bool,
    closed: bool,
    finish: Option<FinishReason>,
    phase: Phase,
    seq: u64,
    items: Vec<Item>,
    open: Option<usize>,
    /// Unified tool-call index → output index.
    tools: HashMap<u32, usize>,
    /// The names of the request's freeform tools.
    freeform: Vec<String>,
    /// The request's functions of `namespace` tools, by flat name (from its raw body).
    namespaced: Vec<NamespacedTool>,
    usage: Option<Usage>,
}

impl ResponsesStreamEncoder {
    /// A fresh encoder for one streamed answer to `request`.
    pub fn new(request: &ChatRequest) -> Self {
        Self {
            id: String::new(),
            model: request.model.clone(),
            created: 0,
            started: false,
            closed: false,
            finish: None,
            phase: Phase::Streaming,
            seq: 0,
            items: Vec::new(),
            open: None,
            tools: HashMap::new(),
            freeform: request
                .tools
                .iter()
                .filter(|t| t.freeform.is_some())
                .map(|t| t.name.clone())
                .collect(),
            namespaced: request
                .raw
                .as_ref()
                .filter(|r| r.format == WireFormat::Responses)
                .map(|r| namespaced_tools(&r.body))
                .unwrap_or_default(),
            usage: None,
        }
    }

    /// The response object as it stands: `in_progress` with the items so far while
    /// streaming; after `finish()` the completed (or incomplete) one with its usage,
    /// after `error()` the failed one. The gateway stores it for
    /// `GET /v1/responses/{id}`.
    pub fn response(&self) -> Value {
        serde_json::to_value(self.response_view(true)).unwrap_or(Value::Null)
    }

    /// The response id (empty until the stream has started).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn response_view(&self, with_usage: bool) -> OutResponse<'_> {
        let (status, error, incomplete_reason) = match &self.phase {
            Phase::Streaming => ("in_progress", None, None),
            Phase::Done(reason) => {
                let (status, incomplete) = status_out(*reason);
                (status, None, incomplete)
            }
            Phase::Failed { code, message } => ("failed", Some(OutError { code, message }), None),
        };
        let usage = match &self.phase {
            // A finished response always reports usage (zeros when none came).
            Phase::Done(_) => Some(usage_out(&self.usage.unwrap_or_default())),
            _ if with_usage => self.usage.as_ref().map(usage_out),
            _ => None,
        };
        OutResponse::new(ResponseParts {
            id: &self.id,
            created_at: self.created,
            model: &self.model,
            status,
            error,
            incomplete_reason,
            output: self.items.iter().map(Item::view).collect(),
            usage,
        })
    }

    fn write_response(&mut self, out: &mut Vec<u8>, kind: &str, with_usage: bool) {
        let seq = bump(&mut self.seq);
        let ev = Ev {
            kind,
            sequence_number: seq,
            response: Some(self.response_view(with_usage)),
            ..Ev::default()
        };
        write(out, &ev);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if self.id.is_empty() {
            self.id = response_id("");
            self.created = time::OffsetDateTime::now_utc().unix_timestamp();
        }
        self.write_response(out, "response.created", false);
        self.write_response(out, "response.in_progress", false);
    }

    /// Writes the events that close the open item, which ends with `status`.
    fn close_open(&mut self, out: &mut Vec<u8>, status: ItemStatus) {
        let Some(i) = self.open.take() else {
            return;
        };
        let Some(item) = self.items.get_mut(i) else {
            return;
        };
        item.status = status;
        if let ItemKind::Custom {
            arguments, input, ..
        } = &mut item.kind
        {
            *input = FreeformTool::input_of(arguments).into_owned();
        }
        let item = &*item;
        let seq = &mut self.seq;
        let at = |kind: &'static str, seq: &mut u64| Ev {
            kind,
            sequence_number: bump(seq),
            output_index: Some(i),
            item_id: Some(&item.id),
            ..Ev::default()
        };
        match &item.kind {
            ItemKind::Message { text } => {
                let done = Ev {
                    content_index: Some(0),
                    text: Some(text),
                    logprobs: Some([]),
                    ..at("response.output_text.done", seq)
                };
                write(out, &done);
                let part = Ev {
                    content_index: Some(0),
                    part: Some(OutPart::output_text(text)),
                    ..at("response.content_part.done", seq)
                };
                write(out, &part);
            }
            ItemKind::Reasoning {
                summary,
                part_open: true,
                ..
            } => {
                let done = Ev {
                    summary_index: Some(0),
                    text: Some(summary),
                    ..at("response.reasoning_summary_text.done", seq)
                };
                write(out, &done);
                let part = Ev {
                    summary_index: Some(0),
                    part: Some(OutPart::SummaryText { text: summary }),
                    ..at("response.reasoning_summary_part.done", seq)
                };
                write(out, &part);
            }
            ItemKind::Reasoning { .. } => {}
            ItemKind::Call {
                name, arguments, ..
            } => {
                let done = Ev {
                    name: Some(name),
                    arguments: Some(arguments),
                    ..at("response.function_call_arguments.done", seq)
                };
                write(out, &done);
            }
            ItemKind::Custom { input, .. } => {
                if !input.is_empty() {
                    let delta = Ev {
                        delta: Some(input),
                        ..at("response.custom_tool_call_input.delta", seq)
                    };
                    write(out, &delta);
                }
                let done = Ev {
                    input: Some(input),
                    ..at("response.custom_tool_call_input.done", seq)
                };
                write(out, &done);
            }
        }
        let done = Ev {
            kind: "response.output_item.done",
            sequence_number: bump(seq),
            output_index: Some(i),
            item: Some(item.view()),
            ..Ev::default()
        };
        write(out, &done);
    }

    /// Closes the open item and opens `kind` (writing `output_item.added`), returning
    /// its output index.
    fn open_item(&mut self, out: &mut Vec<u8>, prefix: &str, kind: ItemKind) -> usize {
        self.close_open(out, ItemStatus::Completed);
        let i = self.items.len();
        self.items.push(Item {
            id: item_id(prefix, &self.id, i),
            status: ItemStatus::InProgress,
            kind,
        });
        self.open = Some(i);
        let seq = bump(&mut self.seq);
        if let Some(item) = self.items.get(i) {
            write(
                out,
                &Ev {
                    kind: "response.output_item.added",
                    sequence_number: seq,
                    output_index: Some(i),
                    item: Some(item.view()),
                    ..Ev::default()
                },
            );
        }
        i
    }

    /// The open message item, opened (with its empty `output_text` part) if needed.
    fn message(&mut self, out: &mut Vec<u8>) -> usize {
        if let Some(i) = self.open
            && matches!(
                self.items.get(i).map(|it| &it.kind),
                Some(ItemKind::Message { .. })
            )
        {
            return i;
        }
        let i = self.open_item(
            out,
            "msg",
            ItemKind::Message {
                text: String::new(),
            },
        );
        let seq = bump(&mut self.seq);
        if let Some(item) = self.items.get(i) {
            write(
                out,
                &Ev {
                    kind: "response.content_part.added",
                    sequence_number: seq,
                    output_index: Some(i),
                    item_id: Some(&item.id),
                    content_index: Some(0),
                    part: Some(OutPart::output_text("")),
                    ..Ev::default()
                },
            );
        }
        i
    }

    /// The open reasoning item that has no signature yet, opened if needed.
    fn reasoning(&mut self, out: &mut Vec<u8>) -> usize {
        if let Some(i) = self.open
            && matches!(
                self.items.get(i).map(|it| &it.kind),
                Some(ItemKind::Reasoning {
                    signature: None,
                    ..
                })
            )
        {
            return i;
        }
        self.open_item(
            out,
            "rs",
            ItemKind::Reasoning {
                summary: String::new(),
                signature: None,
                part_open: false,
            },
        )
    }

    fn call(&mut self, out: &mut Vec<u8>, tool: u32, call_id: String, name: String) -> usize {
        let (prefix, kind) = if self.freeform.contains(&name) {
            let kind = ItemKind::Custom {
                call_id,
                name,
                arguments: String::new(),
                input: String::new(),
            };
            ("ctc", kind)
        } else {
            // A function of a `namespace` tool goes back under its own name, with the
            // namespace.
            let (name, namespace) = match self.namespaced.iter().find(|t| t.flat == name) {
                Some(t) => (t.name.clone(), Some(t.namespace.clone())),
                None => (name, None),
            };
            let kind = ItemKind::Call {
                call_id,
                name,
                namespace,
                arguments: String::new(),
            };
            ("fc", kind)
        };
        let i = self.open_item(out, prefix, kind);
        self.tools.insert(tool, i);
        i
    }

    fn text_delta(&mut self, out: &mut Vec<u8>, text: &str) {
        let i = self.message(out);
        let seq = bump(&mut self.seq);
        let Some(item) = self.items.get_mut(i) else {
            return;
        };
        write(
            out,
            &Ev {
                kind: "response.output_text.delta",
                sequence_number: seq,
                output_index: Some(i),
                item_id: Some(&item.id),
                content_index: Some(0),
                delta: Some(text),
                logprobs: Some([]),
                ..Ev::default()
            },
        );
        if let ItemKind::Message { text: all } = &mut item.kind {
            all.push_str(text);
        }
    }

    fn reasoning_delta(&mut self, out: &mut Vec<u8>, text: &str) {
        let i = self.reasoning(out);
        let open_part = matches!(
            self.items.get(i).map(|it| &it.kind),
            Some(ItemKind::Reasoning {
                part_open: false,
                ..
            })
        );
        let part_seq = open_part.then(|| bump(&mut self.seq));
        let seq = bump(&mut self.seq);
        let Some(item) = self.items.get_mut(i) else {
            return;
        };
        if let Some(part_seq) = part_seq {
            write(
                out,
                &Ev {
                    kind: "response.reasoning_summary_part.added",
                    sequence_number: part_seq,
                    output_index: Some(i),
                    item_id: Some(&item.id),
                    summary_index: Some(0),
                    part: Some(OutPart::SummaryText { text: "" }),
                    ..Ev::default()
                },
            );
        }
        write(
            out,
            &Ev {
                kind: "response.reasoning_summary_text.delta",
                sequence_number: seq,
                output_index: Some(i),
                item_id: Some(&item.id),
                summary_index: Some(0),
                delta: Some(text),
                ..Ev::default()
            },
        );
        if let ItemKind::Reasoning {
            summary, part_open, ..
        } = &mut item.kind
        {
            summary.push_str(text);
            *part_open = true;
        }
    }

    fn signature(&mut self, out: &mut Vec<u8>, signature: &str) {
        let i = self.reasoning(out);
        if let Some(Item {
            kind: ItemKind::Reasoning { signature: sig, .. },
            ..
        }) = self.items.get_mut(i)
        {
            *sig = Some(signature.to_owned());
        }
    }

    fn arguments_delta(&mut self, out: &mut Vec<u8>, tool: u32, arguments: &str) {
        let i = match self.tools.get(&tool) {
            Some(i) => *i,
            None => self.call(out, tool, format!("call_{tool}"), String::new()),
        };
        if let Some(Item {
            kind: ItemKind::Custom { arguments: all, .. },
            status,
            ..
        }) = self.items.get_mut(i)
        {
            if *status == ItemStatus::InProgress {
                all.push_str(arguments);
            }
            return;
        }
        let seq = bump(&mut self.seq);
        let Some(item) = self.items.get_mut(i) else {
            return;
        };
        write(
            out,
            &Ev {
                kind: "response.function_call_arguments.delta",
                sequence_number: seq,
                output_index: Some(i),
                item_id: Some(&item.id),
                delta: Some(arguments),
                ..Ev::default()
            },
        );
        if let ItemKind::Call { arguments: all, .. } = &mut item.kind {
            all.push_str(arguments);
        }
    }
}

/// The status an item cut by `reason` ends with.
fn item_status_for(reason: FinishReason) -> ItemStatus {
    match status_out(reason).0 {
        "incomplete" => ItemStatus::Incomplete,
        _ => ItemStatus::Completed,
    }
}

impl StreamEncoder for ResponsesStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        match event {
            StreamEvent::Start { id, model, created } => {
                if !self.started {
                    self.id = response_id(id);
                    if !model.is_empty() {
                        self.model.clone_from(model);
                    }
                    self.created = *created;
                    self.ensure_started(out);
                }
                return;
            }
            StreamEvent::Usage(u) => {
                self.usage.get_or_insert_with(Usage::default).merge_max(u);
                return;
            }
            // Nothing but usage may follow the finish.
            _ if self.finish.is_some() => return,
            _ => {}
        }
        self.ensure_started(out);
        match event {
            StreamEvent::TextDelta { text } if !text.is_empty() => self.text_delta(out, text),
            StreamEvent::ReasoningDelta { text } if !text.is_empty() => {
                self.reasoning_delta(out, text);
            }
            StreamEvent::ReasoningSignature { signature } if !signature.is_empty() => {
                self.signature(out, signature);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.call(out, *index, id.clone(), name.clone());
            }
            StreamEvent::ToolCallDelta { index, arguments } if !arguments.is_empty() => {
                self.arguments_delta(out, *index, arguments);
            }
            StreamEvent::Finish { reason, .. } => {
                self.close_open(out, item_status_for(*reason));
                self.finish = Some(*reason);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        self.ensure_started(out);
        let reason = self.finish.unwrap_or(FinishReason::Stop);
        self.close_open(out, item_status_for(reason));
        self.phase = Phase::Done(reason);
        let kind = match status_out(reason).0 {
            "incomplete" => "response.incomplete",
            _ => "response.completed",
        };
        self.write_response(out, kind, true);
        self.closed = true;
    }

    fn error(&mut self, error: &GatewayError, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        self.ensure_started(out);
        if let Some(item) = self.open.take().and_then(|i| self.items.get_mut(i)) {
            item.status = ItemStatus::Incomplete;
        }
        self.phase = Phase::Failed {
            code: failed_code(error),
            message: failed_message(error).into_owned(),
        };
        self.write_response(out, "response.failed", true);
        self.closed = true;
    }
}

// ====================================================================== decoder

/// The fields of any stream event that the decoder reads, all loose, so an event of a
/// type it does not know never fails to parse.
#[derive(Debug, Deserialize)]
struct InEvent {
    #[serde(rename = "type")]
    kind: Option<Value>,
    response: Option<Value>,
    item: Option<Value>,
    output_index: Option<Value>,
    item_id: Option<Value>,
    summary_index: Option<Value>,
    delta: Option<Value>,
    input: Option<Value>,
    error: Option<Value>,
}

/// Reads an upstream Responses event stream into unified events.
///
/// `response.created` is `Start` (synthesized if another event comes first);
/// `response.output_text.delta` and `response.refusal.delta` are `TextDelta`;
/// `response.reasoning_summary_text.delta` and `response.reasoning_text.delta` are
/// `ReasoningDelta`, with a blank line between summary parts (as
/// [`decode_response`](super::decode_response) joins them); a `function_call` item
/// added is `ToolCallStart` (tool calls numbered 0, 1, … in order) and its
/// `response.function_call_arguments.delta` events are `ToolCallDelta`s (found by
/// `output_index`, else `item_id`); a `custom_tool_call` item is a tool call too, its
/// `response.custom_tool_call_input.delta` fragments gathered and given as one
/// `ToolCallDelta` of `{"input": …}` at `response.custom_tool_call_input.done` (or at
/// the item's `output_item.done`), since a fragment of free text is not one of JSON;
/// `response.output_item.done` gives a reasoning item's `encrypted_content` as
/// `ReasoningSignature` and the text, reasoning or arguments of an item whose deltas
/// never came. `response.completed` and
/// `response.incomplete` are `Usage` and `Finish` (the content of the final response
/// too when the stream carried none). `response.failed` and `error` events (and any
/// event with an `error` object) fail with the mapped code; unknown event types are
/// ignored; end of input before a terminal event fails.
#[derive(Debug, Default)]
pub struct ResponsesStreamDecoder {
    started: bool,
    done: bool,
    content_seen: bool,
    tools: u32,
    /// Output index → tool index.
    tool_at: HashMap<u64, u32>,
    /// Item id → tool index.
    tool_ids: HashMap<String, u32>,
    /// Tool indexes that received argument deltas (for a custom tool call: whose
    /// arguments were given).
    args_seen: HashSet<u32>,
    /// The input fragments so far of the custom tool calls whose arguments are not
    /// given yet, by tool index (given at the latest by the terminal event).
    custom_input: BTreeMap<u32, String>,
    /// Output indexes of messages and reasoning items that received deltas.
    deltas_seen: HashSet<u64>,
}

impl ResponsesStreamDecoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    fn start(&mut self, events: &mut Vec<StreamEvent>, response: Option<&Value>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = response.unwrap_or(&Value::Null);
        let id = str_at(r, "id");
        events.push(StreamEvent::Start {
            id: if id.is_empty() {
                response_id("")
            } else {
                id.to_owned()
            },
            model: str_at(r, "model").to_owned(),
            created: created_in(r.get("created_at").and_then(Value::as_f64)),
        });
    }

    /// Announces a tool call at `output_index` / `item_id`, returning its index.
    fn tool_start(
        &mut self,
        events: &mut Vec<StreamEvent>,
        output_index: Option<u64>,
        item_id: &str,
        item: Option<&Value>,
    ) -> u32 {
        let index = self.tools;
        self.tools = self.tools.saturating_add(1);
        if let Some(o) = output_index {
            self.tool_at.insert(o, index);
        }
        if !item_id.is_empty() {
            self.tool_ids.insert(item_id.to_owned(), index);
        }
        let id = match item {
            Some(item) => call_id_of(item, index as usize),
            None if !item_id.is_empty() => item_id.to_owned(),
            None => format!("call_{index}"),
        };
        let name = item.map_or("", |i| str_at(i, "name")).to_owned();
        self.content_seen = true;
        events.push(StreamEvent::ToolCallStart { index, id, name });
        index
    }

    fn tool_of(&self, output_index: Option<u64>, item_id: &str) -> Option<u32> {
        output_index
            .and_then(|o| self.tool_at.get(&o))
            .or_else(|| self.tool_ids.get(item_id))
            .copied()
    }

    /// The content of a final response whose stream carried none, as events.
    fn content_events(&mut self, output: &[Value], events: &mut Vec<StreamEvent>) {
        for item in output {
            match str_at(item, "type") {
                "message" => {
                    let text = message_text(item);
                    if !text.is_empty() {
                        events.push(StreamEvent::TextDelta { text });
                    }
                }
                "reasoning" => {
                    let text = reasoning_text(item);
                    if !text.is_empty() {
                        events.push(StreamEvent::ReasoningDelta { text });
                    }
                    if let Some(signature) = encrypted_content(item) {
                        events.push(StreamEvent::ReasoningSignature { signature });
                    }
                }
                kind if is_call(kind) => {
                    let index = self.tool_start(events, None, "", Some(item));
                    let arguments = call_arguments(kind, item);
                    if !arguments.is_empty() {
                        events.push(StreamEvent::ToolCallDelta { index, arguments });
                    }
                }
                _ => {}
            }
        }
    }

    fn item_done(&mut self, events: &mut Vec<StreamEvent>, ev: &InEvent) {
        let Some(item) = ev.item.as_ref() else {
            return;
        };
        let output_index = ev.output_index.as_ref().and_then(Value::as_u64);
        let unseen = output_index.is_some_and(|o| !self.deltas_seen.contains(&o));
        match str_at(item, "type") {
            "message" if unseen => {
                let text = message_text(item);
                if !text.is_empty() {
                    self.content_seen = true;
                    events.push(StreamEvent::TextDelta { text });
                }
            }
            "reasoning" => {
                if unseen {
                    let text = reasoning_text(item);
                    if !text.is_empty() {
                        self.content_seen = true;
                        events.push(StreamEvent::ReasoningDelta { text });
                    }
                }
                if let Some(signature) = encrypted_content(item) {
                    self.content_seen = true;
                    events.push(StreamEvent::ReasoningSignature { signature });
                }
            }
            "function_call" => {
                let item_id = str_at(item, "id");
                let index = match self.tool_of(output_index, item_id) {
                    Some(i) => i,
                    None => self.tool_start(events, output_index, item_id, Some(item)),
                };
                let arguments = str_at(item, "arguments");
                if self.args_seen.insert(index) && !arguments.is_empty() {
                    events.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: arguments.to_owned(),
                    });
                }
            }
            "custom_tool_call" => {
                let item_id = str_at(item, "id");
                let index = match self.tool_of(output_index, item_id) {
                    Some(i) => i,
                    None => self.tool_start(events, output_index, item_id, Some(item)),
                };
                let input = item.get("input").and_then(Value::as_str);
                self.custom_done(events, index, input);
            }
            _ => {}
        }
    }

    /// The tool index of the call an event names by `output_index` / `item_id`,
    /// announcing the call if it was never added.
    fn tool_for(&mut self, events: &mut Vec<StreamEvent>, ev: &InEvent) -> u32 {
        let output_index = ev.output_index.as_ref().and_then(Value::as_u64);
        let item_id = ev.item_id.as_ref().and_then(Value::as_str).unwrap_or("");
        match self.tool_of(output_index, item_id) {
            Some(i) => i,
            None => {
                let item_id = item_id.to_owned();
                self.tool_start(events, output_index, &item_id, None)
            }
        }
    }

    /// Gives the arguments of the custom tool call `index` once: `{"input": …}` with
    /// `input` (from a `done` event or the finished item), else the fragments gathered.
    fn custom_done(&mut self, events: &mut Vec<StreamEvent>, index: u32, input: Option<&str>) {
        let gathered = self.custom_input.remove(&index);
        if !self.args_seen.insert(index) {
            return;
        }
        let input = match (input, &gathered) {
            (Some(i), _) if !i.is_empty() => i,
            (_, Some(g)) => g.as_str(),
            (i, None) => i.unwrap_or(""),
        };
        events.push(StreamEvent::ToolCallDelta {
            index,
            arguments: FreeformTool::arguments(input),
        });
    }

    /// Ends the stream at `response.completed` / `response.incomplete`.
    fn terminal(
        &mut self,
        events: &mut Vec<StreamEvent>,
        kind: &str,
        response: Option<Value>,
    ) -> Result<(), GatewayError> {
        self.done = true;
        let mut response = response.filter(Value::is_object).unwrap_or(Value::Null);
        // Taken out first, so reading the rest does not copy every item.
        let output = response.get_mut("output").map(Value::take);
        let output = output
            .as_ref()
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let mut resp = if response.is_null() {
            InResponse::default()
        } else {
            InResponse::deserialize(&response)
                .map_err(|e| crate::fields::bad_upstream("response in the final stream event", e))?
        };
        if resp.status.is_none() && kind == "response.incomplete" {
            resp.status = Some("incomplete".to_owned());
        }
        if let Some(err) = resp.failure() {
            return Err(err);
        }
        if !self.content_seen {
            self.content_events(output, events);
        }
        let has_calls = self.tools > 0 || output.iter().any(|i| is_call(str_at(i, "type")));
        // Custom tool calls whose input never came whole: what their fragments made.
        for (index, input) in std::mem::take(&mut self.custom_input) {
            if self.args_seen.insert(index) {
                events.push(StreamEvent::ToolCallDelta {
                    index,
                    arguments: FreeformTool::arguments(&input),
                });
            }
        }
        if let Some(u) = &resp.usage {
            events.push(StreamEvent::Usage(usage_in(u)));
        }
        events.push(StreamEvent::Finish {
            reason: resp.finish_reason(has_calls),
            stop_sequence: None,
        });
        Ok(())
    }
}

/// The string in `v`, moved out, unless empty.
fn take_string(v: Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

impl StreamDecoder for ResponsesStreamDecoder {
    fn decode(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, GatewayError> {
        if self.done {
            return Ok(Vec::new());
        }
        let data = frame.data.trim();
        if data.is_empty() || data.starts_with("[DONE]") {
            return Ok(Vec::new());
        }
        let mut ev: InEvent = parse_upstream(data.as_bytes(), "Responses stream event")?;
        if let Some(err) = ev.error.as_ref().filter(|e| e.is_object()) {
            self.done = true;
            return Err(error_in(err));
        }
        let kind = match ev.kind.take() {
            Some(Value::String(s)) => s,
            _ => frame.event.clone().unwrap_or_default(),
        };
        let mut events = Vec::new();
        if kind == "error" {
            self.done = true;
            let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
            return Err(error_in(&v));
        }
        if kind == "response.failed" {
            self.done = true;
            let resp: InResponse = ev
                .response
                .take()
                .and_then(|r| serde_json::from_value(r).ok())
                .unwrap_or_default();
            return Err(resp.failure().unwrap_or_else(|| {
                GatewayError::new(ErrorCode::ServerError, "upstream response failed")
            }));
        }
        self.start(&mut events, ev.response.as_ref());
        let output_index = ev.output_index.as_ref().and_then(Value::as_u64);
        match kind.as_str() {
            "response.output_item.added" => {
                if let Some(item) = ev.item.as_ref()
                    && is_call(str_at(item, "type"))
                {
                    let item_id = str_at(item, "id").to_owned();
                    let index = self.tool_start(&mut events, output_index, &item_id, Some(item));
                    if str_at(item, "type") == "custom_tool_call" {
                        self.custom_input.insert(index, String::new());
                    }
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(text) = take_string(ev.delta.take()) {
                    self.content_seen = true;
                    if let Some(o) = output_index {
                        self.deltas_seen.insert(o);
                    }
                    events.push(StreamEvent::TextDelta { text });
                }
            }
            "response.reasoning_summary_part.added" => {
                let later_part = ev
                    .summary_index
                    .as_ref()
                    .and_then(Value::as_u64)
                    .is_some_and(|i| i > 0);
                if later_part {
                    events.push(StreamEvent::ReasoningDelta {
                        text: "\n\n".to_owned(),
                    });
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Some(text) = take_string(ev.delta.take()) {
                    self.content_seen = true;
                    if let Some(o) = output_index {
                        self.deltas_seen.insert(o);
                    }
                    events.push(StreamEvent::ReasoningDelta { text });
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some(arguments) = take_string(ev.delta.take()) {
                    let item_id = ev
                        .item_id
                        .as_ref()
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    let index = match self.tool_of(output_index, &item_id) {
                        Some(i) => i,
                        None => self.tool_start(&mut events, output_index, &item_id, None),
                    };
                    self.args_seen.insert(index);
                    events.push(StreamEvent::ToolCallDelta { index, arguments });
                }
            }
            "response.custom_tool_call_input.delta" => {
                if let Some(fragment) = take_string(ev.delta.take()) {
                    let index = self.tool_for(&mut events, &ev);
                    if !self.args_seen.contains(&index) {
                        self.custom_input
                            .entry(index)
                            .or_default()
                            .push_str(&fragment);
                    }
                }
            }
            "response.custom_tool_call_input.done" => {
                let index = self.tool_for(&mut events, &ev);
                let input = ev.input.take();
                self.custom_done(&mut events, index, input.as_ref().and_then(Value::as_str));
            }
            "response.output_item.done" => self.item_done(&mut events, &ev),
            "response.completed" | "response.incomplete" => {
                let response = ev.response.take();
                self.terminal(&mut events, &kind, response)?;
            }
            _ => {}
        }
        Ok(events)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, GatewayError> {
        if self.done {
            Ok(Vec::new())
        } else {
            Err(GatewayError::new(
                ErrorCode::ServerError,
                "stream ended before response.completed",
            ))
        }
    }
}

// ====================================================================== tests

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responses::{decode_response, response::encode_response};
    use crate::sse::SseDecoder;
    use ax_core::{ChatResponse, ContentPart};
    use proptest::prelude::*;
    use serde_json::json;

    // ------------------------------------------------------------ helpers

    fn encoder() -> ResponsesStreamEncoder {
        ResponsesStreamEncoder::new(&ChatRequest {
            model: "mock/echo".into(),
            ..ChatRequest::default()
        })
    }

    /// The freeform tool of the tests (Codex CLI's `apply_patch`).
    const FREEFORM: &str = "apply_patch";

    /// A request declaring [`FREEFORM`] freeform and `f` an ordinary function.
    fn freeform_request() -> ChatRequest {
        let tool = |name: &str, freeform: bool| ax_core::ToolDefinition {
            name: name.into(),
            description: None,
            parameters: FreeformTool::parameters(),
            strict: None,
            freeform: freeform.then(|| FreeformTool {
                format: Some(json!({"type": "text"})),
            }),
        };
        ChatRequest {
            model: "mock/echo".into(),
            tools: vec![tool(FREEFORM, true), tool("f", false)],
            ..ChatRequest::default()
        }
    }

    fn start() -> StreamEvent {
        StreamEvent::Start {
            id: "chatcmpl-42".into(),
            model: "gpt-4o".into(),
            created: 1_700_000_000,
        }
    }

    fn text(t: &str) -> StreamEvent {
        StreamEvent::TextDelta { text: t.into() }
    }

    fn usage() -> Usage {
        Usage {
            input_tokens: 50,
            output_tokens: 20,
            cached_tokens: 8,
            cache_creation_tokens: 0,
            reasoning_tokens: 5,
        }
    }

    /// Encodes `events`, then ends the stream with `finish()` or `error()`.
    fn encode(events: &[StreamEvent], error: Option<&GatewayError>) -> Vec<u8> {
        encode_for(&ChatRequest::default(), events, error)
    }

    /// [`encode`] with an encoder for `request`.
    fn encode_for(
        request: &ChatRequest,
        events: &[StreamEvent],
        error: Option<&GatewayError>,
    ) -> Vec<u8> {
        let mut enc = ResponsesStreamEncoder::new(&ChatRequest {
            model: "mock/echo".into(),
            ..request.clone()
        });
        let mut out = Vec::new();
        for e in events {
            enc.encode(e, &mut out);
        }
        match error {
            Some(err) => enc.error(err, &mut out),
            None => enc.finish(&mut out),
        }
        out
    }

    fn sse_frames(bytes: &[u8]) -> Vec<SseFrame> {
        let mut dec = SseDecoder::new();
        let mut frames = Vec::new();
        dec.feed(bytes, &mut frames).unwrap();
        dec.finish(&mut frames).unwrap();
        frames
    }

    fn frames(bytes: &[u8]) -> Vec<(String, Value)> {
        sse_frames(bytes)
            .into_iter()
            .map(|f| {
                let v: Value = serde_json::from_str(&f.data).unwrap();
                (f.event.unwrap_or_default(), v)
            })
            .collect()
    }

    /// Decodes encoder output with the upstream decoder.
    fn decode_all(bytes: &[u8]) -> Result<Vec<StreamEvent>, GatewayError> {
        let mut dec = ResponsesStreamDecoder::new();
        let mut events = Vec::new();
        for f in sse_frames(bytes) {
            events.extend(dec.decode(&f)?);
        }
        events.extend(dec.finish()?);
        Ok(events)
    }

    fn ev(v: Value) -> SseFrame {
        let kind = v["type"].as_str().unwrap_or_default().to_owned();
        SseFrame::named(kind, v.to_string())
    }

    /// Unified content, usage and finish of a stream of events (the answer an
    /// accumulating client would build).
    fn fold(events: &[StreamEvent]) -> (Vec<ContentPart>, Usage, Option<FinishReason>) {
        let mut parts: Vec<ContentPart> = Vec::new();
        let mut usage = Usage::default();
        let mut finish = None;
        let mut tools: HashMap<u32, usize> = HashMap::new();
        for e in events {
            match e {
                StreamEvent::TextDelta { text } if !text.is_empty() => match parts.last_mut() {
                    Some(ContentPart::Text { text: t }) => t.push_str(text),
                    _ => parts.push(ContentPart::text(text.clone())),
                },
                StreamEvent::ReasoningDelta { text } if !text.is_empty() => {
                    match parts.last_mut() {
                        Some(ContentPart::Reasoning {
                            text: t,
                            signature: None,
                            ..
                        }) => t.push_str(text),
                        _ => parts.push(ContentPart::Reasoning {
                            text: text.clone(),
                            signature: None,
                            redacted: None,
                        }),
                    }
                }
                StreamEvent::ReasoningSignature { signature } if !signature.is_empty() => {
                    match parts.last_mut() {
                        Some(ContentPart::Reasoning { signature: s, .. }) if s.is_none() => {
                            *s = Some(signature.clone());
                        }
                        _ => parts.push(ContentPart::Reasoning {
                            text: String::new(),
                            signature: Some(signature.clone()),
                            redacted: None,
                        }),
                    }
                }
                StreamEvent::ToolCallStart { index, id, name } => {
                    tools.insert(*index, parts.len());
                    parts.push(ContentPart::ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                    });
                }
                StreamEvent::ToolCallDelta { index, arguments } => {
                    if let Some(ContentPart::ToolCall { arguments: a, .. }) =
                        tools.get(index).and_then(|i| parts.get_mut(*i))
                    {
                        a.push_str(arguments);
                    }
                }
                StreamEvent::Finish { reason, .. } => finish = finish.or(Some(*reason)),
                StreamEvent::Usage(u) => usage.merge_max(u),
                _ => {}
            }
        }
        (parts, usage, finish)
    }

    /// What a finish reason reads back as through the Responses status.
    fn finish_back(reason: FinishReason, has_calls: bool) -> FinishReason {
        match reason {
            FinishReason::Length | FinishReason::ContentFilter => reason,
            _ if has_calls => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        }
    }

    fn get<'a>(v: &'a mut Value, index: &Value) -> &'a mut Value {
        let i = usize::try_from(index.as_u64().expect("an index")).unwrap();
        v.get_mut(i).expect("index in range")
    }

    /// Checks a stream against what openai-python's `ResponseStreamState` (and Codex)
    /// require of it: numbered frames named like their `type`, `response.created`
    /// first, items added at the next output index before anything refers to them,
    /// parts added before their deltas, deltas adding up to the `done` texts, and one
    /// terminal event, last, whose output is what the events built. Returns the
    /// terminal event's response.
    fn check(bytes: &[u8]) -> Value {
        let frames = frames(bytes);
        assert!(frames.len() >= 3, "created, in_progress, terminal");
        let mut output = Value::Array(Vec::new());
        let mut terminal = None;
        for (n, (name, v)) in frames.iter().enumerate() {
            assert!(terminal.is_none(), "{name} after the terminal event");
            assert_eq!(v["type"], name.as_str());
            assert_eq!(v["sequence_number"], n, "{name}");
            if n == 0 {
                assert_eq!(name, "response.created");
                assert_eq!(v["response"]["status"], "in_progress");
                assert_eq!(v["response"]["output"], json!([]));
            }
            let oi = &v["output_index"];
            match name.as_str() {
                "response.output_item.added" => {
                    let items = output.as_array_mut().unwrap();
                    assert_eq!(oi, &json!(items.len()));
                    items.push(v["item"].clone());
                }
                "response.content_part.added" => {
                    let item = get(&mut output, oi);
                    assert_eq!(item["type"], "message");
                    assert_eq!(item["id"], v["item_id"]);
                    let content = item["content"].as_array_mut().unwrap();
                    assert_eq!(v["content_index"], json!(content.len()));
                    content.push(v["part"].clone());
                }
                "response.output_text.delta" => {
                    let item = get(&mut output, oi);
                    assert_eq!(item["id"], v["item_id"]);
                    let part = get(&mut item["content"], &v["content_index"]);
                    assert_eq!(part["type"], "output_text");
                    let t = format!(
                        "{}{}",
                        part["text"].as_str().unwrap(),
                        v["delta"].as_str().unwrap()
                    );
                    part["text"] = json!(t);
                }
                "response.output_text.done" | "response.content_part.done" => {
                    let item = get(&mut output, oi);
                    let part = get(&mut item["content"], &v["content_index"]);
                    let done = v.get("text").unwrap_or(&v["part"]["text"]);
                    assert_eq!(&part["text"], done);
                }
                "response.reasoning_summary_part.added" => {
                    let item = get(&mut output, oi);
                    assert_eq!(item["type"], "reasoning");
                    let summary = item["summary"].as_array_mut().unwrap();
                    assert_eq!(v["summary_index"], json!(summary.len()));
                    summary.push(v["part"].clone());
                }
                "response.reasoning_summary_text.delta" => {
                    let item = get(&mut output, oi);
                    let part = get(&mut item["summary"], &v["summary_index"]);
                    let t = format!(
                        "{}{}",
                        part["text"].as_str().unwrap(),
                        v["delta"].as_str().unwrap()
                    );
                    part["text"] = json!(t);
                }
                "response.reasoning_summary_text.done" | "response.reasoning_summary_part.done" => {
                    let item = get(&mut output, oi);
                    let part = get(&mut item["summary"], &v["summary_index"]);
                    let done = v.get("text").unwrap_or(&v["part"]["text"]);
                    assert_eq!(&part["text"], done);
                }
                "response.function_call_arguments.delta" => {
                    let item = get(&mut output, oi);
                    assert_eq!(item["type"], "function_call");
                    assert_eq!(item["id"], v["item_id"]);
                    let t = format!(
                        "{}{}",
                        item["arguments"].as_str().unwrap(),
                        v["delta"].as_str().unwrap()
                    );
                    item["arguments"] = json!(t);
                }
                "response.custom_tool_call_input.delta" => {
                    let item = get(&mut output, oi);
                    assert_eq!(item["type"], "custom_tool_call");
                    assert_eq!(item["id"], v["item_id"]);
                    let t = format!(
                        "{}{}",
                        item["input"].as_str().unwrap(),
                        v["delta"].as_str().unwrap()
                    );
                    item["input"] = json!(t);
                }
                "response.custom_tool_call_input.done" => {
                    let item = get(&mut output, oi);
                    assert_eq!(item["type"], "custom_tool_call");
                    assert_eq!(item["id"], v["item_id"]);
                    assert_eq!(item["input"], v["input"]);
                }
                "response.function_call_arguments.done" => {
                    let item = get(&mut output, oi);
                    assert_eq!(item["arguments"], v["arguments"]);
                    assert_eq!(item["name"], v["name"]);
                }
                "response.output_item.done" => {
                    let item = get(&mut output, oi);
                    assert_eq!(item["id"], v["item"]["id"]);
                    assert_ne!(v["item"]["status"], "in_progress");
                    *item = v["item"].clone();
                }
                "response.completed" | "response.incomplete" | "response.failed" => {
                    let status = name.trim_start_matches("response.");
                    assert_eq!(v["response"]["status"], status);
                    if status != "failed" {
                        assert_eq!(v["response"]["output"], output);
                        assert!(v["response"]["usage"].is_object());
                    } else {
                        assert!(v["response"]["error"]["code"].is_string());
                        assert!(v["response"]["error"]["message"].is_string());
                    }
                    terminal = Some(v["response"].clone());
                }
                "response.created" | "response.in_progress" => {
                    assert_eq!(v["response"]["status"], "in_progress");
                }
                other => panic!("unexpected event {other}"),
            }
        }
        terminal.expect("a terminal event")
    }

    // ------------------------------------------------------------ encoder

    #[test]
    fn stream_snapshot() {
        let events = [
            start(),
            StreamEvent::ReasoningDelta {
                text: "The user wants ".into(),
            },
            StreamEvent::ReasoningDelta {
                text: "the weather.".into(),
            },
            StreamEvent::ReasoningSignature {
                signature: "sig-abc".into(),
            },
            text("Let me "),
            text("check."),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_w".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"city":"#.into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#""Paris"}"#.into(),
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None,
            },
            StreamEvent::Usage(usage()),
        ];
        let out = encode(&events, None);
        let response = check(&out);
        assert_eq!(response["status"], "completed");
        assert_eq!(response["usage"]["input_tokens"], 50);
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    #[test]
    fn failed_stream_snapshot() {
        let err = GatewayError::new(ErrorCode::RateLimitExceeded, "Rate limit reached.")
            .with_retry_after(Some(std::time::Duration::from_secs(2)));
        let out = encode(&[start(), text("Hel")], Some(&err));
        let response = check(&out);
        assert_eq!(response["error"]["code"], "rate_limit_exceeded");
        assert_eq!(response["output"][0]["status"], "incomplete");
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
        // …and an upstream ax reads it back as the same error.
        let e = decode_all(&encode(&[start(), text("Hel")], Some(&err))).unwrap_err();
        assert_eq!(e.code, ErrorCode::RateLimitExceeded);
    }

    #[test]
    fn length_is_incomplete() {
        let out = encode(
            &[
                start(),
                text("cut"),
                StreamEvent::Finish {
                    reason: FinishReason::Length,
                    stop_sequence: None,
                },
            ],
            None,
        );
        let response = check(&out);
        assert_eq!(frames(&out).last().unwrap().0, "response.incomplete");
        assert_eq!(
            response["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(response["output"][0]["status"], "incomplete");
    }

    #[test]
    fn response_tracks_the_stream() {
        let mut enc = encoder();
        let mut out = Vec::new();
        enc.encode(&start(), &mut out);
        enc.encode(&text("hi"), &mut out);
        let mid = enc.response();
        assert_eq!(mid["status"], "in_progress");
        assert_eq!(mid["id"], "resp_chatcmpl-42");
        assert_eq!(mid["output"][0]["content"][0]["text"], "hi");
        enc.encode(&StreamEvent::Usage(usage()), &mut out);
        enc.finish(&mut out);
        let done = check(&out);
        assert_eq!(enc.response(), done);
        assert_eq!(enc.id(), "resp_chatcmpl-42");
        // Nothing after the end.
        let len = out.len();
        enc.encode(&text("late"), &mut out);
        enc.finish(&mut out);
        enc.error(&GatewayError::new(ErrorCode::ServerError, "x"), &mut out);
        assert_eq!(out.len(), len);
    }

    #[test]
    fn the_stream_and_the_complete_answer_agree() {
        // The same answer, streamed and not, gives the same response object.
        let events = [
            start(),
            StreamEvent::ReasoningDelta { text: "hmm".into() },
            text("ok"),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{}".into(),
            },
            StreamEvent::Usage(usage()),
        ];
        let streamed = check(&encode(&events, None));
        let (content, usage, _) = fold(&events);
        let complete = ChatResponse {
            id: "chatcmpl-42".into(),
            model: "gpt-4o".into(),
            created: 1_700_000_000,
            content,
            finish_reason: FinishReason::Stop,
            stop_sequence: None,
            usage,
        };
        let complete: Value =
            serde_json::from_slice(&encode_response(&ChatRequest::default(), &complete)).unwrap();
        assert_eq!(streamed, complete);
    }

    #[test]
    fn content_before_start_is_served() {
        let out = encode(
            &[
                text("early"),
                start(),
                StreamEvent::ToolCallDelta {
                    index: 3,
                    arguments: "{}".into(),
                },
            ],
            None,
        );
        let response = check(&out);
        let id = response["id"].as_str().unwrap();
        assert!(id.starts_with("resp_") && id != "resp_chatcmpl-42", "{id}");
        assert_eq!(response["model"], "mock/echo");
        assert_eq!(response["output"][1]["call_id"], "call_3");
        let out = encode(&[], Some(&GatewayError::new(ErrorCode::Timeout, "slow")));
        assert_eq!(check(&out)["error"]["code"], "timeout");
    }

    /// A freeform call streamed as Anthropic and OpenAI stream arguments: JSON text cut
    /// anywhere, here inside an escape.
    fn patch_events() -> Vec<StreamEvent> {
        vec![
            start(),
            text("Patching."),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_p".into(),
                name: FREEFORM.into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"input": "*** Begin Patch\"#.into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"n*** Add File: a.txt\n+\"hi\"\n*** End Patch"}"#.into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "toolu_f".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                arguments: r#"{"input":"x"}"#.into(),
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None,
            },
            StreamEvent::Usage(usage()),
        ]
    }

    const PATCH: &str = "*** Begin Patch\n*** Add File: a.txt\n+\"hi\"\n*** End Patch";

    #[test]
    fn freeform_stream_snapshot() {
        let out = encode_for(&freeform_request(), &patch_events(), None);
        let response = check(&out);
        // The decoded input, once, then done; the item as the complete answer has it.
        let frames = frames(&out);
        let kinds: Vec<&str> = frames.iter().map(|(k, _)| k.as_str()).collect();
        let at = kinds
            .iter()
            .position(|k| *k == "response.custom_tool_call_input.delta")
            .expect("an input delta");
        assert_eq!(
            kinds[at - 1..at + 3],
            [
                "response.output_item.added",
                "response.custom_tool_call_input.delta",
                "response.custom_tool_call_input.done",
                "response.output_item.done",
            ]
        );
        assert_eq!(frames[at - 1].1["item"]["input"], "");
        assert_eq!(frames[at - 1].1["item"]["status"], "in_progress");
        assert_eq!(frames[at].1["delta"], PATCH);
        assert_eq!(frames[at + 1].1["input"], PATCH);
        assert_eq!(frames[at + 1].1["item_id"], "ctc_chatcmpl-42_1");
        assert_eq!(
            response["output"][1],
            json!({"type": "custom_tool_call", "id": "ctc_chatcmpl-42_1",
                "call_id": "toolu_p", "name": FREEFORM, "input": PATCH,
                "status": "completed"})
        );
        // The other tool stays a function call.
        assert_eq!(response["output"][2]["type"], "function_call");
        assert_eq!(response["output"][2]["arguments"], r#"{"input":"x"}"#);
        insta::assert_snapshot!(String::from_utf8(out.clone()).unwrap());

        // The same answer complete gives the same response object…
        let (content, usage, _) = fold(&patch_events());
        let complete = ChatResponse {
            id: "chatcmpl-42".into(),
            model: "gpt-4o".into(),
            created: 1_700_000_000,
            content,
            finish_reason: FinishReason::ToolCalls,
            stop_sequence: None,
            usage,
        };
        let complete: Value =
            serde_json::from_slice(&encode_response(&freeform_request(), &complete)).unwrap();
        assert_eq!(response, complete);
        // …and an upstream ax reads the call back as a tool call with `{"input": …}`.
        let (back, _, finish) = fold(&decode_all(&out).unwrap());
        assert_eq!(
            back[1],
            ContentPart::ToolCall {
                id: "toolu_p".into(),
                name: FREEFORM.into(),
                arguments: FreeformTool::arguments(PATCH),
            }
        );
        assert_eq!(finish, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn freeform_calls_cut_short_or_out_of_order() {
        // Cut by the token limit: the call is incomplete and its input what came.
        let events = [
            start(),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: FREEFORM.into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"input":"*** Begin"#.into(),
            },
            StreamEvent::Finish {
                reason: FinishReason::Length,
                stop_sequence: None,
            },
        ];
        let response = check(&encode_for(&freeform_request(), &events, None));
        assert_eq!(response["output"][0]["status"], "incomplete");
        assert_eq!(response["output"][0]["input"], r#"{"input":"*** Begin"#);

        // A fragment for a freeform call already closed is dropped: its input was final.
        let events = [
            start(),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: FREEFORM.into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"input":"a"}"#.into(),
            },
            text("between"),
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "late".into(),
            },
        ];
        let response = check(&encode_for(&freeform_request(), &events, None));
        assert_eq!(response["output"][0]["input"], "a");

        // A stream that fails mid-call: the item is incomplete, nothing made up.
        let err = GatewayError::new(ErrorCode::Overloaded, "busy");
        let response = check(&encode_for(&freeform_request(), &events[..3], Some(&err)));
        assert_eq!(response["output"][0]["status"], "incomplete");
        assert_eq!(response["output"][0]["type"], "custom_tool_call");
    }

    // ------------------------------------------------------------ decoder

    #[test]
    fn decodes_an_openai_custom_tool_call_stream() {
        let item = json!({"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_p",
            "name": FREEFORM, "input": "", "status": "in_progress"});
        let mut done_item = item.clone();
        done_item["input"] = json!(PATCH);
        done_item["status"] = json!("completed");
        let stream = [
            json!({"type": "response.created", "sequence_number": 0, "response": {
                "id": "resp_c", "created_at": 1.0, "model": "gpt-5", "output": []}}),
            json!({"type": "response.output_item.added", "sequence_number": 1,
                "output_index": 0, "item": item}),
            json!({"type": "response.custom_tool_call_input.delta", "sequence_number": 2,
                "output_index": 0, "item_id": "ctc_1", "delta": "*** Begin Patch\n"}),
            json!({"type": "response.custom_tool_call_input.delta", "sequence_number": 3,
                "output_index": 0, "item_id": "ctc_1",
                "delta": &PATCH["*** Begin Patch\n".len()..]}),
            json!({"type": "response.custom_tool_call_input.done", "sequence_number": 4,
                "output_index": 0, "item_id": "ctc_1", "input": PATCH}),
            json!({"type": "response.output_item.done", "sequence_number": 5,
                "output_index": 0, "item": done_item}),
            json!({"type": "response.completed", "sequence_number": 6, "response": {
                "id": "resp_c", "status": "completed", "output": [done_item]}}),
        ];
        let call = ContentPart::ToolCall {
            id: "call_p".into(),
            name: FREEFORM.into(),
            arguments: FreeformTool::arguments(PATCH),
        };
        let decode = |frames: &[Value]| {
            let mut dec = ResponsesStreamDecoder::new();
            let mut events = Vec::new();
            for v in frames {
                events.extend(dec.decode(&ev(v.clone())).unwrap());
            }
            events.extend(dec.finish().unwrap());
            fold(&events)
        };
        let (content, _, finish) = decode(&stream);
        assert_eq!(content, std::slice::from_ref(&call));
        assert_eq!(finish, Some(FinishReason::ToolCalls));
        // Without the done event the deltas make the input; without either, the item.
        let (content, _, _) = decode(&[&stream[..4], &stream[6..]].concat());
        assert_eq!(content, std::slice::from_ref(&call));
        let (content, _, _) = decode(&[&stream[..2], &stream[5..]].concat());
        assert_eq!(content, std::slice::from_ref(&call));
        // Only the final response carries it.
        let (content, _, finish) = decode(&[stream[0].clone(), stream[6].clone()]);
        assert_eq!(content, [call]);
        assert_eq!(finish, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn decodes_an_openai_stream() {
        let item_fc = json!({"type": "function_call", "id": "fc_1", "call_id": "call_x",
            "name": "lookup", "arguments": "", "status": "in_progress"});
        let stream = [
            json!({"type": "response.created", "sequence_number": 0, "response": {
                "id": "resp_u1", "object": "response", "created_at": 1741290958,
                "status": "in_progress", "model": "o4-mini", "output": [], "usage": null}}),
            json!({"type": "response.in_progress", "sequence_number": 1, "response": {}}),
            json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
                "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
            json!({"type": "response.reasoning_summary_part.added", "sequence_number": 3,
                "item_id": "rs_1", "output_index": 0, "summary_index": 0,
                "part": {"type": "summary_text", "text": ""}}),
            json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 4,
                "item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "One."}),
            json!({"type": "response.reasoning_summary_part.added", "sequence_number": 5,
                "item_id": "rs_1", "output_index": 0, "summary_index": 1,
                "part": {"type": "summary_text", "text": ""}}),
            json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 6,
                "item_id": "rs_1", "output_index": 0, "summary_index": 1, "delta": "Two."}),
            json!({"type": "response.output_item.done", "sequence_number": 7, "output_index": 0,
                "item": {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA",
                    "summary": [{"type": "summary_text", "text": "One."},
                                {"type": "summary_text", "text": "Two."}]}}),
            json!({"type": "response.output_item.added", "sequence_number": 8, "output_index": 1,
                "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": [],
                    "status": "in_progress"}}),
            json!({"type": "response.output_text.delta", "sequence_number": 9, "item_id": "msg_1",
                "output_index": 1, "content_index": 0, "delta": "Hi", "logprobs": []}),
            json!({"type": "response.output_text.annotation.added", "sequence_number": 10}),
            json!({"type": "response.output_item.done", "sequence_number": 11, "output_index": 1,
                "item": {"type": "message", "id": "msg_1", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}}),
            json!({"type": "response.output_item.added", "sequence_number": 12, "output_index": 2,
                "item": item_fc}),
            json!({"type": "response.function_call_arguments.delta", "sequence_number": 13,
                "item_id": "fc_1", "output_index": 2, "delta": "{\"q\":"}),
            json!({"type": "response.function_call_arguments.delta", "sequence_number": 14,
                "item_id": "fc_1", "output_index": 2, "delta": "1}"}),
            json!({"type": "response.output_item.done", "sequence_number": 15, "output_index": 2,
                "item": {"type": "function_call", "id": "fc_1", "call_id": "call_x",
                    "name": "lookup", "arguments": "{\"q\":1}", "status": "completed"}}),
            json!({"type": "response.completed", "sequence_number": 16, "response": {
                "id": "resp_u1", "status": "completed", "output": [],
                "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 2},
                    "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20},
                    "total_tokens": 40}}}),
        ];
        let mut dec = ResponsesStreamDecoder::new();
        let mut events = Vec::new();
        for v in stream {
            events.extend(dec.decode(&ev(v)).unwrap());
        }
        events.extend(dec.finish().unwrap());
        assert_eq!(
            events[0],
            StreamEvent::Start {
                id: "resp_u1".into(),
                model: "o4-mini".into(),
                created: 1_741_290_958
            }
        );
        let (content, usage, finish) = fold(&events);
        assert_eq!(
            content,
            vec![
                ContentPart::Reasoning {
                    text: "One.\n\nTwo.".into(),
                    signature: Some("gAAA".into()),
                    redacted: None
                },
                ContentPart::text("Hi"),
                ContentPart::ToolCall {
                    id: "call_x".into(),
                    name: "lookup".into(),
                    arguments: "{\"q\":1}".into()
                },
            ]
        );
        assert_eq!(
            (
                usage.input_tokens,
                usage.cached_tokens,
                usage.output_tokens,
                usage.reasoning_tokens
            ),
            (10, 2, 30, 20)
        );
        assert_eq!(finish, Some(FinishReason::ToolCalls));
        // Anything after the end is ignored.
        assert!(
            dec.decode(&ev(json!({"type": "response.output_text.delta",
            "delta": "x"})))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn decoder_failures() {
        let mut dec = ResponsesStreamDecoder::new();
        let failed = json!({"type": "response.failed", "sequence_number": 3, "response": {
            "id": "resp_1", "status": "failed",
            "error": {"code": "server_is_overloaded", "message": "busy"}}});
        let e = dec.decode(&ev(failed)).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::Overloaded, "busy")
        );
        assert!(dec.finish().unwrap().is_empty());

        let mut dec = ResponsesStreamDecoder::new();
        let error = json!({"type": "error", "sequence_number": 1,
            "code": "context_length_exceeded", "message": "too long", "param": "input"});
        let e = dec.decode(&ev(error)).unwrap_err();
        assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
        assert_eq!(e.param.as_deref(), Some("input"));

        let mut dec = ResponsesStreamDecoder::new();
        let nested = SseFrame::data(r#"{"error":{"type":"server_error","message":"boom"}}"#);
        assert_eq!(
            dec.decode(&nested).unwrap_err().code,
            ErrorCode::ServerError
        );

        let mut dec = ResponsesStreamDecoder::new();
        assert!(dec.decode(&SseFrame::data("not json")).is_err());

        // Cut before a terminal event.
        let mut dec = ResponsesStreamDecoder::new();
        let events = dec
            .decode(&ev(
                json!({"type": "response.output_text.delta", "output_index": 0,
                "delta": "partial"}),
            ))
            .unwrap();
        assert!(matches!(events[0], StreamEvent::Start { .. }));
        assert_eq!(events[1], text("partial"));
        assert_eq!(dec.finish().unwrap_err().code, ErrorCode::ServerError);
    }

    #[test]
    fn decoder_fills_in_what_deltas_did_not_carry() {
        // A terminal event with content a stream never streamed.
        let mut dec = ResponsesStreamDecoder::new();
        let mut events = dec
            .decode(&ev(json!({"type": "response.incomplete", "response": {
                "id": "resp_2", "incomplete_details": {"reason": "max_output_tokens"},
                "output": [
                    {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
                    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]}})))
            .unwrap();
        events.extend(dec.finish().unwrap());
        let (content, _, finish) = fold(&events);
        assert_eq!(content.len(), 2);
        assert_eq!(finish, Some(FinishReason::Length));

        // Items given only by output_item.done.
        let mut dec = ResponsesStreamDecoder::new();
        let mut events = Vec::new();
        for v in [
            json!({"type": "response.output_item.done", "output_index": 0, "item":
                {"type": "message", "content": [{"type": "output_text", "text": "A"}]}}),
            json!({"type": "response.output_item.done", "output_index": 1, "item":
                {"type": "function_call", "id": "fc_9", "call_id": "c9", "name": "g",
                 "arguments": "{\"a\":1}"}}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_8",
                "delta": "{}"}),
            json!({"type": "response.completed", "response": {"status": "completed"}}),
        ] {
            events.extend(dec.decode(&ev(v)).unwrap());
        }
        let (content, _, finish) = fold(&events);
        assert_eq!(
            content,
            vec![
                ContentPart::text("A"),
                ContentPart::ToolCall {
                    id: "c9".into(),
                    name: "g".into(),
                    arguments: "{\"a\":1}".into()
                },
                ContentPart::ToolCall {
                    id: "fc_8".into(),
                    name: String::new(),
                    arguments: "{}".into()
                },
            ]
        );
        assert_eq!(finish, Some(FinishReason::ToolCalls));
    }

    // ------------------------------------------------------------ properties

    #[derive(Debug, Clone)]
    enum Step {
        Text(String),
        Reason(String),
        Sig(String),
        Tool(String, Vec<String>),
        /// A call of the freeform tool with this input, its arguments cut at these
        /// character positions.
        Patch(String, Vec<usize>),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            "[a-z \\n]{1,6}".prop_map(Step::Text),
            "[a-z .]{1,6}".prop_map(Step::Reason),
            "[A-Za-z0-9+/]{1,8}".prop_map(Step::Sig),
            (
                "[a-z_]{1,6}",
                prop::collection::vec("[{}\":a-z0-9]{1,4}", 0..3)
            )
                .prop_map(|(n, a)| Step::Tool(n, a)),
            (
                "[a-z \n\"\\\\*+é]{0,12}",
                prop::collection::vec(0usize..40, 0..3)
            )
                .prop_map(|(input, cuts)| Step::Patch(input, cuts)),
        ]
    }

    /// `s` cut at the character positions `cuts` (those past its end ignored).
    fn cut(s: &str, cuts: &[usize]) -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        let mut at: Vec<usize> = cuts.iter().copied().filter(|c| *c < chars.len()).collect();
        at.sort_unstable();
        at.dedup();
        let mut pieces = Vec::new();
        let mut from = 0;
        for c in at.into_iter().chain([chars.len()]) {
            if c > from {
                pieces.push(chars[from..c].iter().collect());
                from = c;
            }
        }
        pieces
    }

    fn finish_reason() -> impl Strategy<Value = FinishReason> {
        prop_oneof![
            Just(FinishReason::Stop),
            Just(FinishReason::StopSequence),
            Just(FinishReason::Length),
            Just(FinishReason::ToolCalls),
            Just(FinishReason::ContentFilter),
            Just(FinishReason::Pause),
            Just(FinishReason::Other),
        ]
    }

    fn any_usage() -> impl Strategy<Value = Usage> {
        (0u64..10_000, 0u64..10_000, 0u64..100, 0u64..100, 0u64..100).prop_map(|(i, o, c, w, r)| {
            Usage {
                input_tokens: i,
                output_tokens: o,
                cached_tokens: c,
                cache_creation_tokens: w,
                reasoning_tokens: r,
            }
        })
    }

    fn events_of(steps: &[Step]) -> Vec<StreamEvent> {
        let mut events = vec![start()];
        let mut tools = 0;
        for s in steps {
            match s {
                Step::Text(t) => events.push(text(t)),
                Step::Reason(t) => events.push(StreamEvent::ReasoningDelta { text: t.clone() }),
                Step::Sig(t) => events.push(StreamEvent::ReasoningSignature {
                    signature: t.clone(),
                }),
                Step::Tool(name, args) => {
                    events.push(StreamEvent::ToolCallStart {
                        index: tools,
                        id: format!("call_{name}_{tools}"),
                        name: name.clone(),
                    });
                    for a in args {
                        events.push(StreamEvent::ToolCallDelta {
                            index: tools,
                            arguments: a.clone(),
                        });
                    }
                    tools += 1;
                }
                Step::Patch(input, cuts) => {
                    events.push(StreamEvent::ToolCallStart {
                        index: tools,
                        id: format!("call_patch_{tools}"),
                        name: FREEFORM.into(),
                    });
                    for a in cut(&FreeformTool::arguments(input), cuts) {
                        events.push(StreamEvent::ToolCallDelta {
                            index: tools,
                            arguments: a,
                        });
                    }
                    tools += 1;
                }
            }
        }
        events
    }

    /// A tool name: now and then the freeform tool's.
    fn any_name() -> impl Strategy<Value = String> {
        prop_oneof![3 => "[a-z]{0,4}", 1 => Just(FREEFORM.to_owned())]
    }

    /// Any event, with small indexes so that they collide.
    fn any_event() -> impl Strategy<Value = StreamEvent> {
        prop_oneof![
            ("[a-z-]{0,6}", "[a-z]{0,4}", any::<i64>())
                .prop_map(|(id, model, created)| StreamEvent::Start { id, model, created }),
            "[a-z]{0,4}".prop_map(|t| StreamEvent::TextDelta { text: t }),
            "[a-z]{0,4}".prop_map(|t| StreamEvent::ReasoningDelta { text: t }),
            "[a-z]{0,4}".prop_map(|t| StreamEvent::ReasoningSignature { signature: t }),
            (0u32..3, "[a-z]{0,4}", any_name())
                .prop_map(|(index, id, name)| StreamEvent::ToolCallStart { index, id, name }),
            (0u32..4, "[a-z{}\":\\\\]{0,4}")
                .prop_map(|(index, arguments)| StreamEvent::ToolCallDelta { index, arguments }),
            finish_reason().prop_map(|reason| StreamEvent::Finish {
                reason,
                stop_sequence: None
            }),
            any_usage().prop_map(StreamEvent::Usage),
        ]
    }

    fn any_content() -> impl Strategy<Value = Vec<ContentPart>> {
        let part = prop_oneof![
            "[a-z ]{0,6}".prop_map(ContentPart::text),
            ("[a-z ]{0,6}", prop::option::of("[a-z0-9]{1,6}")).prop_map(|(text, signature)| {
                ContentPart::Reasoning {
                    text,
                    signature,
                    redacted: None,
                }
            }),
            ("[a-z0-9_]{1,6}", any_name(), "[{}a-z\":]{0,6}").prop_map(|(id, name, arguments)| {
                ContentPart::ToolCall {
                    id,
                    name,
                    arguments,
                }
            }),
        ];
        prop::collection::vec(part, 0..8)
    }

    /// `content` as a Responses round trip keeps it: adjacent texts joined, empty
    /// texts and empty reasoning gone, a freeform call's arguments `{"input": …}`.
    fn normalized(content: &[ContentPart]) -> Vec<ContentPart> {
        let mut out: Vec<ContentPart> = Vec::new();
        for p in content {
            match p {
                ContentPart::Text { text } if text.is_empty() => {}
                ContentPart::Text { text } => match out.last_mut() {
                    Some(ContentPart::Text { text: t }) => t.push_str(text),
                    _ => out.push(p.clone()),
                },
                ContentPart::Reasoning {
                    text, signature, ..
                } if text.is_empty() && signature.is_none() => {}
                ContentPart::ToolCall {
                    id,
                    name,
                    arguments,
                } if name == FREEFORM => out.push(ContentPart::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: FreeformTool::arguments(&FreeformTool::input_of(arguments)),
                }),
                _ => out.push(p.clone()),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn streams_read_back(
            steps in prop::collection::vec(step(), 0..10),
            reason in finish_reason(),
            usage in any_usage(),
        ) {
            let mut events = events_of(&steps);
            events.push(StreamEvent::Finish { reason, stop_sequence: None });
            events.push(StreamEvent::Usage(usage));
            let out = encode_for(&freeform_request(), &events, None);
            check(&out);
            let back = decode_all(&out).unwrap();
            let (content, u, _) = fold(&events);
            let (content_back, u_back, finish) = fold(&back);
            let has_calls = content.iter().any(|p| matches!(p, ContentPart::ToolCall { .. }));
            prop_assert_eq!(content_back, content);
            prop_assert_eq!(u_back, u);
            prop_assert_eq!(finish, Some(finish_back(reason, has_calls)));
        }

        #[test]
        fn complete_answers_read_back(
            content in any_content(),
            reason in finish_reason(),
            usage in any_usage(),
        ) {
            let r = ChatResponse {
                id: "x".into(),
                model: "m".into(),
                created: 1,
                content,
                finish_reason: reason,
                stop_sequence: None,
                usage,
            };
            let back = decode_response(&encode_response(&freeform_request(), &r)).unwrap();
            prop_assert_eq!(&back.content, &normalized(&r.content));
            prop_assert_eq!(back.usage, r.usage);
            prop_assert_eq!(back.finish_reason, finish_back(reason, r.has_tool_calls()));
        }

        #[test]
        fn any_order_is_a_valid_stream(
            events in prop::collection::vec(any_event(), 0..24),
            fail in any::<bool>(),
        ) {
            let err = GatewayError::new(ErrorCode::Overloaded, "busy");
            let out = encode_for(&freeform_request(), &events, fail.then_some(&err));
            let response = check(&out);
            prop_assert_eq!(
                response["status"].as_str() == Some("failed"),
                fail
            );
            // The upstream side reads the same stream without failing (or fails with
            // the code sent).
            match decode_all(&out) {
                Ok(_) => prop_assert!(!fail),
                Err(e) => prop_assert_eq!(e.code, ErrorCode::Overloaded),
            }
        }
    }

    #[test]
    fn a_streamed_namespaced_call_is_a_function_call_with_its_namespace() {
        let request = super::super::response::tests::namespaced_request();
        let events = [
            start(),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_1".into(),
                name: "multi_agent_v1__exec_command".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"cmd\":\"ls\"}".into(),
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None,
            },
        ];
        let out = encode_for(&request, &events, None);
        let frames = frames(&out);
        let added = frames
            .iter()
            .find(|(kind, _)| kind == "response.output_item.added")
            .map(|(_, v)| &v["item"])
            .unwrap();
        assert_eq!(added["type"], "function_call");
        assert_eq!(added["name"], "exec_command");
        assert_eq!(added["namespace"], "multi_agent_v1");
        let done = frames
            .iter()
            .find(|(kind, _)| kind == "response.output_item.done")
            .map(|(_, v)| &v["item"])
            .unwrap();
        assert_eq!(done["namespace"], "multi_agent_v1");
        assert_eq!(done["arguments"], "{\"cmd\":\"ls\"}");
        let response = check(&out);
        assert_eq!(response["output"][0]["name"], "exec_command");
        assert_eq!(response["output"][0]["namespace"], "multi_agent_v1");
    }
}
