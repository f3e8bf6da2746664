//! Streams (`streamGenerateContent?alt=sse`): unified events → Gemini chunks (client
//! side) and upstream chunks → unified events (upstream side).
//!
//! Wire sequence (FirebaseExtended/vertexai-sdk-test-data `mock-responses/googleai/
//! streaming-*.txt`, recorded from the API): every event is `data: <a whole
//! GenerateContentResponse>` with no event name; text arrives as whole parts, one or
//! more per chunk; `functionCall` parts arrive whole; `usageMetadata` is on every chunk
//! (prompt counts first, the totals on the last); the last chunk carries
//! `finishReason`; there is **no** end marker — the stream ends when the connection
//! closes. A blocked prompt arrives as a chunk with `promptFeedback.blockReason` and no
//! candidates; a failure after the 200 as `data: {"error": {...}}`.

use std::borrow::Cow;

use ax_core::{ContentPart, ErrorCode, FinishReason, GatewayError, StreamEvent, Usage};
use serde_json::Value;

use super::error::{decode_stream_error, error_body};
use super::fields::parse_upstream;
use super::parts::{Calls, args_value, client_id, decode_part, is_wire_signature};
use super::response::{
    candidate_filtered, created_at, finish_reason_in, finish_reason_out, first_candidate,
    generated_id, prompt_blocked, usage_in, usage_out,
};
use super::wire::{InResponse, OutCandidate, OutContent, OutFunctionCall, OutPart, OutResponse};
use crate::codec::{StreamDecoder, StreamEncoder};
use crate::sse::{SseFrame, write_frame, write_json_frame};

// ====================================================================== encoder

/// Encodes unified events as Gemini stream chunks for one client stream.
///
/// Each content event becomes one part of one chunk. The most recent chunk is held
/// back until the next content event (or the end), so that the final chunk carries the
/// last part together with `finishReason` and `usageMetadata`, as Gemini's own final
/// chunk does — SDK code that prints `chunk.text` for every chunk never sees an empty
/// one. Tool calls are buffered until their arguments are complete (Gemini sends
/// `functionCall.args` as one object). A `ReasoningSignature` goes on the part before
/// it (the thought part for Anthropic, the text part for Gemini); a call's own
/// signature comes out of its id ([`crate::tool_ids`]) onto its `functionCall` part.
/// `Usage` may come before or after `Finish` and is merged by maximum. There is no end
/// marker; a mid-stream error ends the stream with `data: {"error": {...}}`.
#[derive(Debug, Default)]
pub struct GeminiStreamEncoder {
    id: String,
    model: String,
    started: bool,
    /// Parts of the chunk held back.
    pending: Vec<OutPart<'static>>,
    /// The tool call being assembled: (index, id, name, arguments so far).
    open_call: Option<(u32, String, String, String)>,
    finish: Option<FinishReason>,
    saw_tool_call: bool,
    usage: Option<Usage>,
    closed: bool,
}

impl GeminiStreamEncoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    fn ensure_started(&mut self) {
        if !self.started {
            self.started = true;
            if self.id.is_empty() {
                self.id = generated_id();
            }
        }
    }

    fn close_call(&mut self) {
        if let Some((_, id, name, args)) = self.open_call.take() {
            // A signature Gemini gave the call travels in its id: back on the part.
            let (id, signature) = crate::tool_ids::thought_signature(&id);
            self.pending.push(OutPart {
                function_call: Some(OutFunctionCall {
                    id: (!id.is_empty()).then(|| Cow::Owned(client_id(id).to_owned())),
                    name: Cow::Owned(name),
                    args: args_value(&args),
                }),
                thought_signature: signature.map(Cow::Owned),
                ..Default::default()
            });
        }
    }

    /// Writes the held-back chunk (if any) as a chunk without a finish reason.
    fn flush(&mut self, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            return;
        }
        let parts = std::mem::take(&mut self.pending);
        self.write(out, parts, None, None);
    }

    fn write(
        &self,
        out: &mut Vec<u8>,
        parts: Vec<OutPart<'static>>,
        finish: Option<&'static str>,
        usage: Option<&Usage>,
    ) {
        let chunk = OutResponse {
            candidates: vec![OutCandidate {
                content: Some(OutContent {
                    parts,
                    role: Some("model"),
                }),
                finish_reason: finish,
                index: 0,
            }],
            usage_metadata: usage.map(usage_out),
            model_version: &self.model,
            response_id: &self.id,
        };
        write_json_frame(out, None, &chunk);
    }

    /// Starts a new part: the held-back chunk goes out first.
    fn push_part(&mut self, part: OutPart<'static>, out: &mut Vec<u8>) {
        self.close_call();
        self.flush(out);
        self.pending.push(part);
    }
}

impl StreamEncoder for GeminiStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        match event {
            StreamEvent::Start { id, model, .. } if !self.started => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.ensure_started();
            }
            StreamEvent::Usage(u) => {
                self.usage.get_or_insert_with(Usage::default).merge_max(u);
            }
            // Nothing but usage may follow the finish.
            _ if self.finish.is_some() => {}
            StreamEvent::TextDelta { text } if !text.is_empty() => {
                self.ensure_started();
                self.push_part(
                    OutPart {
                        text: Some(Cow::Owned(text.clone())),
                        ..Default::default()
                    },
                    out,
                );
            }
            StreamEvent::ReasoningDelta { text } if !text.is_empty() => {
                self.ensure_started();
                self.push_part(
                    OutPart {
                        text: Some(Cow::Owned(text.clone())),
                        thought: Some(true),
                        ..Default::default()
                    },
                    out,
                );
            }
            StreamEvent::ReasoningSignature { signature } if is_wire_signature(signature) => {
                self.ensure_started();
                self.close_call();
                match self.pending.last_mut() {
                    Some(p) if p.thought_signature.is_none() => {
                        p.thought_signature = Some(Cow::Owned(signature.clone()));
                    }
                    _ => self.pending.push(OutPart {
                        text: Some(Cow::Borrowed("")),
                        thought: Some(true),
                        thought_signature: Some(Cow::Owned(signature.clone())),
                        ..Default::default()
                    }),
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.ensure_started();
                self.close_call();
                self.flush(out);
                self.saw_tool_call = true;
                self.open_call = Some((*index, id.clone(), name.clone(), String::new()));
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.ensure_started();
                match &mut self.open_call {
                    Some((i, _, _, args)) if i == index => args.push_str(arguments),
                    _ => {
                        // A fragment of a call that was never started (a lenient
                        // upstream): open one without a name rather than lose it.
                        self.close_call();
                        self.flush(out);
                        self.saw_tool_call = true;
                        self.open_call =
                            Some((*index, String::new(), String::new(), arguments.clone()));
                    }
                }
            }
            StreamEvent::Finish { reason, .. } => {
                self.ensure_started();
                self.close_call();
                self.finish = Some(*reason);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        self.ensure_started();
        self.close_call();
        let mut parts = std::mem::take(&mut self.pending);
        if parts.is_empty() {
            parts.push(OutPart {
                text: Some(Cow::Borrowed("")),
                ..Default::default()
            });
        }
        let reason = match self.finish.unwrap_or(FinishReason::Stop) {
            FinishReason::ToolCalls if !self.saw_tool_call => FinishReason::Stop,
            other => other,
        };
        let usage = self.usage.unwrap_or_default();
        self.write(out, parts, Some(finish_reason_out(reason)), Some(&usage));
        self.closed = true;
    }

    fn error(&mut self, error: &GatewayError, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        // What the client has not seen yet but was complete still goes out; a tool call
        // with partial arguments does not.
        self.open_call = None;
        self.flush(out);
        write_frame(out, None, &String::from_utf8_lossy(&error_body(error)));
        self.closed = true;
    }
}

// ====================================================================== decoder

/// Decodes an upstream Gemini event stream into unified events.
///
/// Emits `Start` on the first chunk; reads only the first candidate; every text part is
/// a `TextDelta`, every `thought` part a `ReasoningDelta`, every `functionCall` a
/// `ToolCallStart` (id from the call, or synthesized as in a complete answer) and one
/// `ToolCallDelta` with the whole arguments; the `thoughtSignature` of a `functionCall`
/// rides in the call's id ([`crate::tool_ids`]), any other `thoughtSignature` follows its
/// part as a `ReasoningSignature`; `usageMetadata` is a `Usage` on every chunk that has one (the
/// last is the total; consumers merge by maximum); the first `finishReason` is the one
/// `Finish` (`STOP` after function calls → `ToolCalls`).
///
/// Fails on an `{"error": …}` frame, on a blocked prompt, and on a content-filter
/// finish before any content. Gemini has no end marker, so [`StreamDecoder::finish`]
/// succeeds when a `finishReason` was seen and fails otherwise (the stream was cut).
#[derive(Debug)]
pub struct GeminiStreamDecoder {
    started: bool,
    finished: bool,
    content_seen: bool,
    /// Calls so far; synthesized ids are seeded with the response id.
    calls: Calls,
}

impl GeminiStreamDecoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self {
            started: false,
            finished: false,
            content_seen: false,
            calls: Calls::upstream(""),
        }
    }
}

impl Default for GeminiStreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder for GeminiStreamDecoder {
    fn decode(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, GatewayError> {
        let data = frame.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let chunk: InResponse = match parse_upstream(data.as_bytes(), "stream chunk") {
            Ok(c) => c,
            Err(e) => {
                return Err(match serde_json::from_str::<Value>(data) {
                    Ok(v) => match error_of(&v) {
                        Some(err) => decode_stream_error(err),
                        None => e,
                    },
                    Err(_) => e,
                });
            }
        };
        if let Some(err) = chunk.error.as_ref().filter(|e| !e.is_null()) {
            return Err(decode_stream_error(err));
        }
        let mut events = Vec::new();
        if !self.started {
            self.started = true;
            if let Some(id) = &chunk.response_id {
                self.calls.seed.clone_from(id);
            }
            events.push(StreamEvent::Start {
                id: chunk.response_id.clone().unwrap_or_else(generated_id),
                model: chunk.model_version.clone().unwrap_or_default(),
                created: created_at(chunk.create_time.as_deref()),
            });
        }
        let usage = chunk.usage_metadata.as_ref().map(usage_in);
        let Some(candidate) = first_candidate(chunk.candidates) else {
            if let Some(err) = prompt_blocked(chunk.prompt_feedback.as_ref()) {
                return Err(err);
            }
            events.extend(usage.map(StreamEvent::Usage));
            return Ok(events);
        };
        if let Some(c) = &candidate.content {
            for part in c.parts.iter().flatten() {
                let before = self.calls.seen.len();
                for p in decode_part(part, None, &mut self.calls)? {
                    push_events(p, before, &mut events, &mut self.content_seen);
                }
            }
        }
        let reason = candidate
            .finish_reason
            .as_deref()
            .filter(|r| *r != "FINISH_REASON_UNSPECIFIED");
        if let Some(r) = reason
            && !self.finished
        {
            let mapped = finish_reason_in(Some(r), !self.calls.seen.is_empty());
            if mapped == FinishReason::ContentFilter && !self.content_seen {
                return Err(candidate_filtered(r, candidate.finish_message.as_deref()));
            }
            self.finished = true;
            events.push(StreamEvent::Finish {
                reason: mapped,
                stop_sequence: None,
            });
        }
        events.extend(usage.map(StreamEvent::Usage));
        Ok(events)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, GatewayError> {
        if self.finished {
            Ok(Vec::new())
        } else if self.started {
            Err(GatewayError::new(
                ErrorCode::ServerError,
                "Gemini stream ended without a finishReason (connection cut)",
            ))
        } else {
            Err(GatewayError::new(
                ErrorCode::ServerError,
                "Gemini stream ended before any chunk",
            ))
        }
    }
}

/// The `error` object of an error frame (`{"error": …}` or `[{"error": …}]`).
fn error_of(v: &Value) -> Option<&Value> {
    let v = match v {
        Value::Array(items) => items.first()?,
        other => other,
    };
    v.get("error").filter(|e| !e.is_null())
}

fn push_events(
    part: ContentPart,
    call_index: usize,
    events: &mut Vec<StreamEvent>,
    content_seen: &mut bool,
) {
    match part {
        ContentPart::Text { text } => {
            *content_seen = true;
            events.push(StreamEvent::TextDelta { text });
        }
        ContentPart::Reasoning {
            text, signature, ..
        } => {
            if !text.is_empty() {
                events.push(StreamEvent::ReasoningDelta { text });
            }
            if let Some(signature) = signature {
                events.push(StreamEvent::ReasoningSignature { signature });
            }
        }
        ContentPart::ToolCall {
            id,
            name,
            arguments,
        } => {
            *content_seen = true;
            let index = u32::try_from(call_index).unwrap_or(u32::MAX);
            events.push(StreamEvent::ToolCallStart { index, id, name });
            events.push(StreamEvent::ToolCallDelta { index, arguments });
        }
        // Generated images and tool results have no stream event (and answers carry
        // no documents).
        ContentPart::Image { .. } => *content_seen = true,
        ContentPart::ToolResult { .. } | ContentPart::Document { .. } => {}
    }
}
