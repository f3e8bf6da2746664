//! Streams: unified events → Anthropic server-sent events (client side) and upstream
//! events → unified events (upstream side).
//!
//! Wire sequence (platform.claude.com streaming docs; anthropics/anthropic-sdk-python
//! `types/raw_*_event.py`, `lib/streaming/_messages.py`): `message_start` (the message
//! with empty `content` and the usage known so far) → per content block
//! `content_block_start {index, content_block}`, `content_block_delta {index, delta}`
//! (`text_delta`, `input_json_delta`, `thinking_delta`, `signature_delta`),
//! `content_block_stop {index}` → `message_delta {delta: {stop_reason, stop_sequence},
//! usage}` with **cumulative** usage → `message_stop`. `ping` may appear anywhere; an
//! `error` event may arrive after the 200. Every event is named (`event: <type>`) and
//! repeats its type in `data`.

use std::collections::HashMap;

use ax_core::{ErrorCode, FinishReason, GatewayError, StreamEvent, Usage};
use serde_json::value::RawValue;

use super::error::{decode_stream_error, encode_error};
use super::response::{
    parse_upstream, stop_reason_in, stop_reason_out, synth_message_id, synth_tool_id, usage_in,
    usage_out,
};
use super::wire::{
    InEvent, InJsonDelta, InRedacted, InStop, InText, InThinking, InToolUse, InTyped, OutBare,
    OutBlock, OutBlockDelta, OutBlockStart, OutBlockStop, OutDelta, OutInput, OutMessageDelta,
    OutMessageStart, OutResponse, OutStop, OutText, OutThinking, OutToolUse,
};
use crate::codec::{StreamDecoder, StreamEncoder};
use crate::sse::{SseFrame, write_frame, write_json_frame};

// ====================================================================== encoder

/// The content block the encoder has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    Thinking(u32),
    Tool { block: u32, tool: u32 },
}

impl Open {
    fn index(self) -> u32 {
        match self {
            Self::Text(i) | Self::Thinking(i) | Self::Tool { block: i, .. } => i,
        }
    }
}

/// Encodes unified events as an Anthropic event stream for one client.
///
/// Accepts events from any upstream:
/// - `message_start` is written at the first event that is neither `Start` nor
///   `Usage`, so usage reported right after `Start` is in it; a missing `Start` is
///   synthesized; one `ping` follows, as Anthropic sends it.
/// - Blocks open and close as the event kind changes (text, thinking, each tool call
///   its own block), one at a time, numbered 0, 1, …; a signature goes into the open
///   thinking block, and is dropped when none is open (a Gemini signature carrier); a
///   tool-call fragment for a call never started opens
///   one; a fragment for a call whose block was already closed (an upstream that
///   interleaves calls) is still sent with that block's index, which the SDKs
///   accumulate by index.
/// - `Finish` closes the open block and is **buffered**: `message_delta` and
///   `message_stop` are written by `finish()`, after any `Usage` that followed
///   `Finish` (OpenAI sends usage last), so the final `message_delta` carries the real
///   totals, input tokens included. `Stop` after tool calls is sent as `tool_use`.
#[derive(Debug)]
pub struct AnthropicStreamEncoder {
    id: String,
    model: String,
    started: bool,
    closed: bool,
    open: Option<Open>,
    next_block: u32,
    /// Unified tool-call index → its block index.
    tool_blocks: HashMap<u32, u32>,
    finish: Option<(FinishReason, Option<String>)>,
    usage: Usage,
}

impl Default for AnthropicStreamEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl AnthropicStreamEncoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            started: false,
            closed: false,
            open: None,
            next_block: 0,
            tool_blocks: HashMap::new(),
            finish: None,
            usage: Usage::default(),
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if self.id.is_empty() {
            self.id = synth_message_id();
        }
        let start = OutMessageStart {
            kind: "message_start",
            message: OutResponse {
                id: &self.id,
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: usage_out(&self.usage),
            },
        };
        write_json_frame(out, Some("message_start"), &start);
        write_json_frame(out, Some("ping"), &OutBare { kind: "ping" });
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some(open) = self.open.take() {
            let stop = OutBlockStop {
                kind: "content_block_stop",
                index: open.index(),
            };
            write_json_frame(out, Some("content_block_stop"), &stop);
        }
    }

    /// Closes the open block and starts `block`, returning its index.
    fn open_block(&mut self, out: &mut Vec<u8>, block: OutBlock<'_>) -> u32 {
        self.close_block(out);
        let index = self.next_block;
        self.next_block = self.next_block.saturating_add(1);
        let start = OutBlockStart {
            kind: "content_block_start",
            index,
            content_block: block,
        };
        write_json_frame(out, Some("content_block_start"), &start);
        index
    }

    fn delta(out: &mut Vec<u8>, index: u32, delta: OutDelta<'_>) {
        let d = OutBlockDelta {
            kind: "content_block_delta",
            index,
            delta,
        };
        write_json_frame(out, Some("content_block_delta"), &d);
    }

    fn text_block(&mut self, out: &mut Vec<u8>) -> u32 {
        match self.open {
            Some(Open::Text(i)) => i,
            _ => {
                let i = self.open_block(
                    out,
                    OutBlock::Text(OutText {
                        kind: "text",
                        text: "",
                    }),
                );
                self.open = Some(Open::Text(i));
                i
            }
        }
    }

    fn thinking_block(&mut self, out: &mut Vec<u8>) -> u32 {
        match self.open {
            Some(Open::Thinking(i)) => i,
            _ => {
                let block = OutBlock::Thinking(OutThinking {
                    kind: "thinking",
                    thinking: "",
                    signature: "",
                });
                let i = self.open_block(out, block);
                self.open = Some(Open::Thinking(i));
                i
            }
        }
    }

    fn tool_block(&mut self, out: &mut Vec<u8>, tool: u32, id: &str, name: &str) -> u32 {
        let block = OutBlock::ToolUse(OutToolUse {
            kind: "tool_use",
            id,
            name,
            input: OutInput::Empty(super::wire::Empty {}),
        });
        let i = self.open_block(out, block);
        self.open = Some(Open::Tool { block: i, tool });
        self.tool_blocks.insert(tool, i);
        i
    }
}

impl StreamEncoder for AnthropicStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        match event {
            StreamEvent::Start { id, model, .. } => {
                if !self.started {
                    self.id.clone_from(id);
                    self.model.clone_from(model);
                }
                return;
            }
            StreamEvent::Usage(u) => {
                self.usage.merge_max(u);
                return;
            }
            // Nothing but usage may follow the finish.
            _ if self.finish.is_some() => return,
            _ => {}
        }
        self.ensure_started(out);
        match event {
            StreamEvent::TextDelta { text } if !text.is_empty() => {
                let i = self.text_block(out);
                Self::delta(
                    out,
                    i,
                    OutDelta::Text {
                        kind: "text_delta",
                        text,
                    },
                );
            }
            StreamEvent::ReasoningDelta { text } if !text.is_empty() => {
                let i = self.thinking_block(out);
                Self::delta(
                    out,
                    i,
                    OutDelta::Thinking {
                        kind: "thinking_delta",
                        thinking: text,
                    },
                );
            }
            // A signature with no thinking block open is a carrier for a text or tool
            // part (Gemini's `thoughtSignature`): not Anthropic's, so not sent (see
            // `blocks_out`).
            StreamEvent::ReasoningSignature { .. }
                if !matches!(self.open, Some(Open::Thinking(_))) => {}
            StreamEvent::ReasoningSignature { signature } => {
                let i = self.thinking_block(out);
                Self::delta(
                    out,
                    i,
                    OutDelta::Signature {
                        kind: "signature_delta",
                        signature,
                    },
                );
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.tool_block(out, *index, id, name);
            }
            StreamEvent::ToolCallDelta { index, arguments } if !arguments.is_empty() => {
                let block = match (self.open, self.tool_blocks.get(index)) {
                    (Some(Open::Tool { block, tool }), _) if tool == *index => block,
                    (_, Some(block)) => *block,
                    (_, None) => {
                        let id = synth_tool_id();
                        self.tool_block(out, *index, &id, "")
                    }
                };
                Self::delta(
                    out,
                    block,
                    OutDelta::InputJson {
                        kind: "input_json_delta",
                        partial_json: arguments,
                    },
                );
            }
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => {
                self.close_block(out);
                self.finish = Some((*reason, stop_sequence.clone()));
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        self.ensure_started(out);
        self.close_block(out);
        let (reason, stop_sequence) = self.finish.take().unwrap_or((FinishReason::Stop, None));
        let delta = OutMessageDelta {
            kind: "message_delta",
            delta: OutStop {
                stop_reason: stop_reason_out(reason, !self.tool_blocks.is_empty()),
                stop_sequence: stop_sequence.as_deref(),
            },
            usage: usage_out(&self.usage),
        };
        write_json_frame(out, Some("message_delta"), &delta);
        write_json_frame(
            out,
            Some("message_stop"),
            &OutBare {
                kind: "message_stop",
            },
        );
        self.closed = true;
    }

    fn error(&mut self, error: &GatewayError, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        let body = encode_error(error);
        write_frame(out, Some("error"), &String::from_utf8_lossy(&body));
        self.closed = true;
    }
}

// ====================================================================== decoder

/// What a wire content block index holds, for routing its deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(u32),
    /// Server tools, results, redacted thinking…: deltas ignored.
    Other,
}

/// Decodes an upstream Anthropic event stream into unified events.
///
/// Emits `Start` at `message_start` (synthesized if content comes first) and `Usage`
/// whenever usage is reported, as the running total (reports are cumulative; a
/// `message_delta` without `input_tokens` keeps the input from `message_start`; the
/// output count is `message_delta`'s only, see `report_usage`). Tool
/// calls are numbered 0, 1, … by block order. The first non-null `stop_reason` becomes
/// `Finish`. `ping`, `content_block_stop` and unknown event types yield nothing; an
/// `error` event fails with its mapped code. End of input succeeds only after
/// `message_stop`, by which time exactly one `Finish` has been emitted.
///
/// Not carried by unified events: `redacted_thinking` blocks, citations, server-tool
/// blocks (a same-format client still receives them through the raw frames).
#[derive(Debug, Default)]
pub struct AnthropicStreamDecoder {
    started: bool,
    finished: bool,
    done: bool,
    blocks: HashMap<u64, Block>,
    tools: u32,
    usage: Usage,
}

impl AnthropicStreamDecoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    fn ensure_started(
        &mut self,
        events: &mut Vec<StreamEvent>,
        id: Option<String>,
        model: Option<String>,
    ) {
        if self.started {
            return;
        }
        self.started = true;
        events.push(StreamEvent::Start {
            id: id
                .filter(|s| !s.is_empty())
                .unwrap_or_else(synth_message_id),
            model: model.unwrap_or_default(),
            created: time::OffsetDateTime::now_utc().unix_timestamp(),
        });
    }

    /// Merges one usage report into the running total and emits it. `message_start`'s
    /// `output_tokens` is a placeholder (the first token or so, before anything was
    /// generated), so it is not carried: the output count of record comes with
    /// `message_delta`, and a stream whose `message_delta` reports none leaves the
    /// output unreported (0) for the router to estimate, rather than logging 1.
    fn report_usage(
        &mut self,
        events: &mut Vec<StreamEvent>,
        u: &super::wire::InUsage,
        at_start: bool,
    ) {
        let mut reported = usage_in(u);
        if at_start {
            reported.output_tokens = 0;
            reported.reasoning_tokens = 0;
        }
        self.usage.merge_max(&reported);
        events.push(StreamEvent::Usage(self.usage));
    }

    fn block_start(
        &mut self,
        index: u64,
        raw: &RawValue,
        events: &mut Vec<StreamEvent>,
    ) -> Result<(), GatewayError> {
        let what = "content_block_start";
        let bytes = raw.get().as_bytes();
        let typed: InTyped = parse_upstream(bytes, what)?;
        let block = match typed.kind.as_deref() {
            Some("text") => {
                let b: InText = parse_upstream(bytes, what)?;
                if let Some(text) = b.text.filter(|t| !t.is_empty()) {
                    events.push(StreamEvent::TextDelta { text });
                }
                Block::Text
            }
            Some("thinking") => {
                let b: InThinking = parse_upstream(bytes, what)?;
                if let Some(text) = b.thinking.filter(|t| !t.is_empty()) {
                    events.push(StreamEvent::ReasoningDelta { text });
                }
                if let Some(signature) = b.signature.filter(|s| !s.is_empty()) {
                    events.push(StreamEvent::ReasoningSignature { signature });
                }
                Block::Thinking
            }
            Some("tool_use") => {
                let b: InToolUse = parse_upstream(bytes, what)?;
                let tool = self.tools;
                self.tools = self.tools.saturating_add(1);
                events.push(StreamEvent::ToolCallStart {
                    index: tool,
                    id: b.id.filter(|s| !s.is_empty()).unwrap_or_else(synth_tool_id),
                    name: b.name.unwrap_or_default(),
                });
                // The API starts tool blocks with `input: {}` and streams the arguments;
                // a proxy that sends them whole in the start is honoured.
                if let Some(input) = b.input.filter(|i| {
                    let t = i.get().trim();
                    t != "{}" && t.starts_with('{')
                }) {
                    events.push(StreamEvent::ToolCallDelta {
                        index: tool,
                        arguments: input.get().to_owned(),
                    });
                }
                Block::Tool(tool)
            }
            Some("redacted_thinking") => {
                // Validated, but the unified stream has no event for it.
                let _: InRedacted = parse_upstream(bytes, what)?;
                Block::Other
            }
            _ => Block::Other,
        };
        self.blocks.insert(index, block);
        Ok(())
    }

    fn block_delta(
        &mut self,
        index: u64,
        raw: &RawValue,
        events: &mut Vec<StreamEvent>,
    ) -> Result<(), GatewayError> {
        let what = "content_block_delta";
        let bytes = raw.get().as_bytes();
        let typed: InTyped = parse_upstream(bytes, what)?;
        let block = self.blocks.get(&index).copied();
        match typed.kind.as_deref() {
            Some("text_delta") => {
                let d: InText = parse_upstream(bytes, what)?;
                if let Some(text) = d.text.filter(|t| !t.is_empty()) {
                    events.push(StreamEvent::TextDelta { text });
                }
            }
            Some("thinking_delta") => {
                let d: InThinking = parse_upstream(bytes, what)?;
                if let Some(text) = d.thinking.filter(|t| !t.is_empty()) {
                    events.push(StreamEvent::ReasoningDelta { text });
                }
            }
            Some("signature_delta") => {
                let d: InThinking = parse_upstream(bytes, what)?;
                if let Some(signature) = d.signature.filter(|s| !s.is_empty()) {
                    events.push(StreamEvent::ReasoningSignature { signature });
                }
            }
            Some("input_json_delta") => {
                let d: InJsonDelta = parse_upstream(bytes, what)?;
                if let (Some(Block::Tool(tool)), Some(arguments)) =
                    (block, d.partial_json.filter(|p| !p.is_empty()))
                {
                    events.push(StreamEvent::ToolCallDelta {
                        index: tool,
                        arguments,
                    });
                }
            }
            // `citations_delta` and future delta types.
            _ => {}
        }
        Ok(())
    }
}

impl StreamDecoder for AnthropicStreamDecoder {
    fn decode(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, GatewayError> {
        if self.done {
            return Ok(Vec::new());
        }
        let data = frame.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let what = match frame.event.as_deref() {
            Some(name) => format!("`{name}` event"),
            None => "stream event".to_owned(),
        };
        let ev: InEvent = parse_upstream(data.as_bytes(), &what)?;
        let kind = ev.kind.as_deref().or(frame.event.as_deref()).unwrap_or("");
        let mut events = Vec::new();
        match kind {
            "ping" | "content_block_stop" => {}
            "error" => {
                let err = ev.error.unwrap_or(serde_json::Value::Null);
                return Err(decode_stream_error(&err));
            }
            "message_start" => {
                let (id, model, usage) = match ev.message {
                    Some(m) => (m.id, m.model, m.usage),
                    None => (None, None, None),
                };
                self.ensure_started(&mut events, id, model);
                if let Some(u) = usage {
                    self.report_usage(&mut events, &u, true);
                }
            }
            "content_block_start" => {
                self.ensure_started(&mut events, None, None);
                let index = ev.index.unwrap_or(0);
                if let Some(raw) = ev.content_block.as_deref() {
                    self.block_start(index, raw, &mut events)?;
                }
            }
            "content_block_delta" => {
                self.ensure_started(&mut events, None, None);
                let index = ev.index.unwrap_or(0);
                if let Some(raw) = ev.delta.as_deref() {
                    self.block_delta(index, raw, &mut events)?;
                }
            }
            "message_delta" => {
                self.ensure_started(&mut events, None, None);
                let stop: Option<InStop> = match ev.delta.as_deref() {
                    Some(raw) => Some(parse_upstream(raw.get().as_bytes(), &what)?),
                    None => None,
                };
                if let Some(reason) = stop.as_ref().and_then(|s| s.stop_reason.as_deref())
                    && !self.finished
                {
                    self.finished = true;
                    events.push(StreamEvent::Finish {
                        reason: stop_reason_in(Some(reason), self.tools > 0),
                        stop_sequence: stop.as_ref().and_then(|s| s.stop_sequence.clone()),
                    });
                }
                if let Some(u) = &ev.usage {
                    self.report_usage(&mut events, u, false);
                }
            }
            "message_stop" => {
                self.ensure_started(&mut events, None, None);
                self.done = true;
                if !self.finished {
                    self.finished = true;
                    events.push(StreamEvent::Finish {
                        reason: stop_reason_in(None, self.tools > 0),
                        stop_sequence: None,
                    });
                }
            }
            // New event types may be added (the docs say so): ignore them.
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
                "stream ended before message_stop",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(events: &[StreamEvent]) -> String {
        let mut enc = AnthropicStreamEncoder::new();
        let mut out = Vec::new();
        for e in events {
            enc.encode(e, &mut out);
        }
        enc.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn signature_carriers_open_no_thinking_block() {
        // Gemini puts its signature on a call: the carrier follows the call and is not
        // sent to an Anthropic client.
        let out = encode(&[
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{}".into(),
            },
            StreamEvent::ReasoningSignature {
                signature: "Q2lRQjBl".into(),
            },
        ]);
        assert!(!out.contains("Q2lRQjBl"), "{out}");
        assert!(!out.contains("thinking"), "{out}");
        // A signature closing real thinking is kept.
        let out = encode(&[
            StreamEvent::ReasoningDelta {
                text: "plan".into(),
            },
            StreamEvent::ReasoningSignature {
                signature: "EqQB".into(),
            },
        ]);
        assert!(
            out.contains("\"signature_delta\",\"signature\":\"EqQB\""),
            "{out}"
        );
    }
}
