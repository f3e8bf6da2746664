//! Streams: unified events → `chat.completion.chunk` frames (client side) and upstream
//! chunks → unified events (upstream side).
//!
//! Wire sequence (openai-python `types/chat/chat_completion_chunk.py`, recorded streams
//! in `.inline-snapshot/external/`): every chunk carries the same `id` and `created`; the
//! first has `delta.role: "assistant"`; tool calls arrive keyed by `index` with `id` and
//! `function.name` once and `function.arguments` as fragments; one chunk has a
//! `finish_reason`; with `stream_options.include_usage` a last chunk with `choices: []`
//! carries the usage (every other chunk then has `"usage": null`); `data: [DONE]` ends
//! the stream. Errors after the 200 arrive as `data: {"error": {...}}`.

use std::borrow::Cow;
use std::collections::HashMap;

use ax_core::{ErrorCode, FinishReason, GatewayError, StreamEvent, Usage};
use serde_json::Value;

use super::error::{decode_stream_error, encode_error};
use super::response::{
    finish_reason_in, finish_reason_out, parse_upstream, synth_call_id, usage_in, usage_out,
};
use super::wire::{
    InChunk, OutChunk, OutChunkChoice, OutDelta, OutDeltaFunction, OutDeltaToolCall, reasoning_text,
};
use crate::codec::{StreamDecoder, StreamEncoder};
use crate::sse::{SseFrame, write_frame, write_json_frame};
use crate::tool_ids::{self, Attachment, ReasoningBlock};

// ====================================================================== encoder

/// Encodes unified events as OpenAI chunks for one client stream.
///
/// Accepts events from any upstream: a missing `Start` is synthesized; text arrives
/// whole or in pieces; tool calls are renumbered 0, 1, … in order of appearance; `Usage`
/// may come before or after `Finish` and is merged by maximum and sent (only if the
/// client asked with `include_usage`) in the usage chunk right before `[DONE]`; a `stop`
/// finish after tool calls is reported as `tool_calls` (Gemini says `STOP` there).
/// Reasoning goes out as `delta.reasoning_content`; a signature closing it rides in the
/// id of the next tool call with the text's byte range in the joined
/// `reasoning_content`, as in a complete answer
/// ([`super::response::client_call_ids`]).
#[derive(Debug)]
pub struct OpenAiStreamEncoder {
    include_usage: bool,
    id: String,
    model: String,
    created: i64,
    started: bool,
    finished: bool,
    closed: bool,
    tool_index: HashMap<u32, u32>,
    usage: Option<Usage>,
    /// Bytes of `reasoning_content` sent so far.
    reasoning_len: usize,
    /// The reasoning block being streamed: its byte range so far.
    open_reasoning: Option<(usize, usize)>,
    /// Signed blocks waiting for the next tool call's id.
    signed: Vec<ReasoningBlock>,
}

impl OpenAiStreamEncoder {
    /// A fresh encoder; `include_usage` is the client's `stream_options.include_usage`.
    pub fn new(include_usage: bool) -> Self {
        Self {
            include_usage,
            id: String::new(),
            model: String::new(),
            created: 0,
            started: false,
            finished: false,
            closed: false,
            tool_index: HashMap::new(),
            usage: None,
            reasoning_len: 0,
            open_reasoning: None,
            signed: Vec::new(),
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: OutDelta<'_>, finish: Option<&'static str>) {
        let chunk = OutChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![OutChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: self.include_usage.then_some(None),
        };
        write_json_frame(out, None, &chunk);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if self.id.is_empty() {
            self.id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
            self.created = time::OffsetDateTime::now_utc().unix_timestamp();
        }
        let delta = OutDelta {
            role: Some("assistant"),
            content: Some(""),
            ..Default::default()
        };
        self.chunk(out, delta, None);
    }

    fn tool_slot(&mut self, index: u32) -> (u32, bool) {
        let next = self.tool_index.len() as u32;
        match self.tool_index.get(&index) {
            Some(i) => (*i, false),
            None => {
                self.tool_index.insert(index, next);
                (next, true)
            }
        }
    }
}

impl StreamEncoder for OpenAiStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        if let StreamEvent::Usage(u) = event {
            self.usage.get_or_insert_with(Usage::default).merge_max(u);
            return;
        }
        if let StreamEvent::Start { id, model, created } = event {
            if !self.started {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.created = *created;
                self.ensure_started(out);
            }
            return;
        }
        if self.finished {
            // Nothing but usage may follow the finish chunk.
            return;
        }
        self.ensure_started(out);
        if !matches!(
            event,
            StreamEvent::ReasoningDelta { .. } | StreamEvent::ReasoningSignature { .. }
        ) {
            // Reasoning that ends without a signature is not carried.
            self.open_reasoning = None;
        }
        match event {
            StreamEvent::TextDelta { text } if !text.is_empty() => {
                let delta = OutDelta {
                    content: Some(text),
                    ..Default::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::ReasoningDelta { text } if !text.is_empty() => {
                let (_, len) = self.open_reasoning.get_or_insert((self.reasoning_len, 0));
                *len += text.len();
                self.reasoning_len += text.len();
                let delta = OutDelta {
                    reasoning_content: Some(text),
                    ..Default::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::ReasoningSignature { signature } if !signature.is_empty() => {
                // A signature with no reasoning open is a Gemini carrier: not carried.
                if let Some((start, len)) = self.open_reasoning.take() {
                    self.signed.push(ReasoningBlock::Thinking {
                        start,
                        len,
                        signature: signature.clone(),
                    });
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let (i, _) = self.tool_slot(*index);
                let id = match std::mem::take(&mut self.signed) {
                    blocks if blocks.is_empty() => Cow::Borrowed(id.as_str()),
                    blocks => Cow::Owned(tool_ids::attach(id, &Attachment::Reasoning(blocks))),
                };
                let delta = OutDelta {
                    tool_calls: vec![OutDeltaToolCall {
                        index: i,
                        id: Some(&id),
                        kind: Some("function"),
                        function: OutDeltaFunction {
                            name: Some(name),
                            arguments: "",
                        },
                    }],
                    ..Default::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                let (i, new) = self.tool_slot(*index);
                // A fragment for a call never started (a lenient upstream): give the
                // client what it needs to open one.
                let synth_id = new.then(|| synth_call_id(i as usize));
                let delta = OutDelta {
                    tool_calls: vec![OutDeltaToolCall {
                        index: i,
                        id: synth_id.as_deref(),
                        kind: new.then_some("function"),
                        function: OutDeltaFunction {
                            name: new.then_some(""),
                            arguments,
                        },
                    }],
                    ..Default::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::Finish { reason, .. } => {
                self.finished = true;
                let wire = if *reason == FinishReason::Stop && !self.tool_index.is_empty() {
                    "tool_calls"
                } else {
                    finish_reason_out(*reason)
                };
                self.chunk(out, OutDelta::default(), Some(wire));
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        self.ensure_started(out);
        if !self.finished {
            self.finished = true;
            self.chunk(out, OutDelta::default(), Some("stop"));
        }
        if self.include_usage {
            let usage = self.usage.unwrap_or_default();
            let chunk = OutChunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: Vec::new(),
                usage: Some(Some(usage_out(&usage))),
            };
            write_json_frame(out, None, &chunk);
        }
        write_frame(out, None, "[DONE]");
        self.closed = true;
    }

    fn error(&mut self, error: &GatewayError, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        let body = encode_error(error);
        write_frame(out, None, &String::from_utf8_lossy(&body));
        self.closed = true;
    }
}

// ====================================================================== decoder

/// Decodes an upstream OpenAI-format event stream into unified events.
///
/// Emits `Start` on the first chunk; reads only choice 0; numbers tool calls 0, 1, … by
/// first appearance of their wire `index`; turns the first `finish_reason` into
/// `Finish` (`stop` with tool calls → `ToolCalls`); emits `Usage` for any chunk with
/// a non-null `usage` (the usage chunk yields nothing else, so a passthrough can drop
/// it); fails on an `{"error": …}` frame; succeeds at end of input only after
/// `[DONE]`, and guarantees exactly one `Finish` by then.
#[derive(Debug, Default)]
pub struct OpenAiStreamDecoder {
    started: bool,
    finished: bool,
    done: bool,
    /// Wire tool-call index → (unified index, whether it has been announced).
    tools: HashMap<u64, u32>,
}

impl OpenAiStreamDecoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StreamDecoder for OpenAiStreamDecoder {
    fn decode(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, GatewayError> {
        if self.done {
            return Ok(Vec::new());
        }
        let data = frame.data.trim();
        if data.starts_with("[DONE]") {
            self.done = true;
            let mut events = Vec::new();
            if !self.started {
                self.started = true;
                events.push(StreamEvent::Start {
                    id: format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
                    model: String::new(),
                    created: time::OffsetDateTime::now_utc().unix_timestamp(),
                });
            }
            if !self.finished {
                // Some compatible servers end without a finish_reason chunk.
                self.finished = true;
                events.push(StreamEvent::Finish {
                    reason: FinishReason::Stop,
                    stop_sequence: None,
                });
            }
            return Ok(events);
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: InChunk = match parse_upstream(data.as_bytes(), "stream chunk") {
            Ok(c) => c,
            // An error object whose siblings do not fit a chunk is still an error.
            Err(e) => match serde_json::from_str::<Value>(data) {
                Ok(v) if v.get("error").is_some_and(|e| !e.is_null()) => {
                    return Err(decode_stream_error(&v["error"]));
                }
                _ => return Err(e),
            },
        };
        if let Some(err) = chunk.error.as_ref().filter(|e| !e.is_null()) {
            return Err(decode_stream_error(err));
        }
        let mut events = Vec::new();
        if !self.started {
            self.started = true;
            events.push(StreamEvent::Start {
                id: chunk
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("chatcmpl-{}", uuid::Uuid::now_v7().simple())),
                model: chunk.model.clone().unwrap_or_default(),
                created: chunk
                    .created
                    .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp()),
            });
        }
        if let Some(choice) = chunk
            .choices
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0)
        {
            let delta = choice.delta.unwrap_or_default();
            if let Some(text) =
                reasoning_text(delta.reasoning_content, delta.reasoning).filter(|t| !t.is_empty())
            {
                events.push(StreamEvent::ReasoningDelta { text });
            }
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                events.push(StreamEvent::TextDelta { text });
            }
            if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
                events.push(StreamEvent::TextDelta { text });
            }
            for (pos, call) in delta.tool_calls.into_iter().enumerate() {
                let wire_index = call.index.unwrap_or(pos as u64);
                let (name, arguments) = match call.function {
                    Some(f) => (f.name, f.arguments),
                    None => (None, None),
                };
                let index = match self.tools.get(&wire_index) {
                    Some(i) => *i,
                    None => {
                        let i = self.tools.len() as u32;
                        self.tools.insert(wire_index, i);
                        events.push(StreamEvent::ToolCallStart {
                            index: i,
                            id: call
                                .id
                                .filter(|s| !s.is_empty())
                                .unwrap_or_else(|| synth_call_id(i as usize)),
                            name: name.unwrap_or_default(),
                        });
                        i
                    }
                };
                if let Some(arguments) = arguments.filter(|a| !a.is_empty()) {
                    events.push(StreamEvent::ToolCallDelta { index, arguments });
                }
            }
            if let Some(reason) = choice.finish_reason.as_deref()
                && !self.finished
            {
                self.finished = true;
                let (reason, stop_sequence) = finish_reason_in(
                    Some(reason),
                    !self.tools.is_empty(),
                    choice.stop_reason.as_ref(),
                );
                events.push(StreamEvent::Finish {
                    reason,
                    stop_sequence,
                });
            }
        }
        if let Some(u) = &chunk.usage {
            events.push(StreamEvent::Usage(usage_in(u)));
        }
        Ok(events)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, GatewayError> {
        if self.done {
            Ok(Vec::new())
        } else {
            Err(GatewayError::new(
                ErrorCode::ServerError,
                "stream ended before [DONE]",
            ))
        }
    }
}
