//! Complete (non-streamed) answers: `message` ↔ [`ChatResponse`], plus the stop-reason
//! and usage mapping tables shared with the stream codec.

use ax_core::{ChatResponse, ContentPart, FinishReason, GatewayError, Usage};
use serde_json::value::RawValue;

use super::error::decode_stream_error;
use super::wire::{
    Empty, InMessage, InRedacted, InText, InThinking, InToolUse, InTyped, InUsage, OutBlock,
    OutImage, OutInput, OutOutputDetails, OutRedactedThinking, OutResponse, OutSource, OutText,
    OutThinking, OutToolUse, OutUsage,
};

/// Anthropic `stop_reason` → unified, used when decoding upstream answers. A value not
/// in the table becomes [`FinishReason::Other`].
pub const STOP_REASONS_IN: &[(&str, FinishReason)] = &[
    ("end_turn", FinishReason::Stop),
    ("max_tokens", FinishReason::Length),
    ("stop_sequence", FinishReason::StopSequence),
    ("tool_use", FinishReason::ToolCalls),
    ("pause_turn", FinishReason::Pause),
    ("refusal", FinishReason::ContentFilter),
    // The context window filled before `max_tokens`: still "ran out of room".
    ("model_context_window_exceeded", FinishReason::Length),
];

/// Unified → Anthropic `stop_reason`, used when encoding for Anthropic clients.
/// Anthropic has no "other": it is `end_turn`.
pub const STOP_REASONS_OUT: &[(FinishReason, &str)] = &[
    (FinishReason::Stop, "end_turn"),
    (FinishReason::StopSequence, "stop_sequence"),
    (FinishReason::Length, "max_tokens"),
    (FinishReason::ToolCalls, "tool_use"),
    (FinishReason::ContentFilter, "refusal"),
    (FinishReason::Pause, "pause_turn"),
    (FinishReason::Other, "end_turn"),
];

/// Anthropic usage fields and the unified fields they feed (documentation of
/// [`usage_in`]/[`usage_out`]; each row has a test). Anthropic `input_tokens` excludes
/// cache reads and writes, the unified value includes them:
///
/// | Anthropic | unified |
/// |---|---|
/// | `input_tokens + cache_creation_input_tokens + cache_read_input_tokens` | `input_tokens` |
/// | `cache_read_input_tokens` | `cached_tokens` |
/// | `cache_creation_input_tokens` | `cache_creation_tokens` |
/// | `output_tokens` | `output_tokens` |
/// | `output_tokens_details.thinking_tokens` | `reasoning_tokens` |
///
/// The encoder reverses it: `input_tokens = input − cached − cache_creation`
/// (saturating).
pub const USAGE_FIELDS: &[(&str, &str)] = &[
    ("input_tokens", "input_tokens (uncached part)"),
    ("cache_read_input_tokens", "cached_tokens"),
    ("cache_creation_input_tokens", "cache_creation_tokens"),
    ("output_tokens", "output_tokens"),
    ("output_tokens_details.thinking_tokens", "reasoning_tokens"),
];

/// The unified finish reason for an Anthropic `stop_reason` (see [`STOP_REASONS_IN`]).
/// A missing one is `ToolCalls` when the answer called tools, else `Stop`.
pub(crate) fn stop_reason_in(reason: Option<&str>, has_tool_calls: bool) -> FinishReason {
    match reason {
        None if has_tool_calls => FinishReason::ToolCalls,
        None => FinishReason::Stop,
        Some(r) => STOP_REASONS_IN
            .iter()
            .find(|(name, _)| *name == r)
            .map_or(FinishReason::Other, |(_, f)| *f),
    }
}

/// The Anthropic `stop_reason` for a unified one (see [`STOP_REASONS_OUT`]). A plain
/// `Stop` after tool calls is `tool_use` (Gemini says `STOP` there, and Anthropic
/// clients run their tool loop on `tool_use`).
pub(crate) fn stop_reason_out(reason: FinishReason, has_tool_calls: bool) -> &'static str {
    if reason == FinishReason::Stop && has_tool_calls {
        return "tool_use";
    }
    STOP_REASONS_OUT
        .iter()
        .find(|(f, _)| *f == reason)
        .map_or("end_turn", |(_, s)| s)
}

/// Anthropic usage → unified (see [`USAGE_FIELDS`]). Sums saturate.
///
/// A count the object lacks decodes as 0, "not reported": the router estimates it and
/// marks the record `tokens_estimated` (see [`Usage`]).
pub(crate) fn usage_in(u: &InUsage) -> Usage {
    let creation = u.cache_creation_input_tokens.unwrap_or(0);
    let read = u.cache_read_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: u
            .input_tokens
            .unwrap_or(0)
            .saturating_add(creation)
            .saturating_add(read),
        output_tokens: u.output_tokens.unwrap_or(0),
        cached_tokens: read,
        cache_creation_tokens: creation,
        reasoning_tokens: u
            .output_tokens_details
            .as_ref()
            .and_then(|d| d.thinking_tokens)
            .unwrap_or(0),
    }
}

/// Unified usage → Anthropic (the inverse of [`usage_in`]).
pub(crate) fn usage_out(u: &Usage) -> OutUsage {
    OutUsage {
        input_tokens: u.uncached_input_tokens(),
        cache_creation_input_tokens: u.cache_creation_tokens,
        cache_read_input_tokens: u.cached_tokens,
        output_tokens: u.output_tokens,
        output_tokens_details: (u.reasoning_tokens > 0).then_some(OutOutputDetails {
            thinking_tokens: u.reasoning_tokens,
        }),
    }
}

pub(crate) use crate::fields::parse_upstream;

/// A generated message id, for upstreams that send none.
pub(crate) fn synth_message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// A content block of an upstream answer, decoded to a unified part. `Ok(None)` for
/// blocks the unified model has no place for (`server_tool_use`, web search results,
/// `document`, future types) and for empty text; they still reach a same-format client
/// through the raw body.
pub(crate) fn block_in(raw: &RawValue, what: &str) -> Result<Option<ContentPart>, GatewayError> {
    let typed: InTyped = parse_upstream(raw.get().as_bytes(), what)?;
    Ok(match typed.kind.as_deref() {
        Some("text") => {
            let b: InText = parse_upstream(raw.get().as_bytes(), what)?;
            Some(ContentPart::Text {
                text: b.text.unwrap_or_default(),
            })
        }
        Some("tool_use") => {
            let b: InToolUse = parse_upstream(raw.get().as_bytes(), what)?;
            Some(ContentPart::ToolCall {
                id: b.id.filter(|s| !s.is_empty()).unwrap_or_else(synth_tool_id),
                name: b.name.unwrap_or_default(),
                arguments: b
                    .input
                    .map_or_else(|| "{}".to_owned(), |i| i.get().to_owned()),
            })
        }
        Some("thinking") => {
            let b: InThinking = parse_upstream(raw.get().as_bytes(), what)?;
            Some(ContentPart::Reasoning {
                text: b.thinking.unwrap_or_default(),
                signature: b.signature.filter(|s| !s.is_empty()),
                redacted: None,
            })
        }
        Some("redacted_thinking") => {
            let b: InRedacted = parse_upstream(raw.get().as_bytes(), what)?;
            Some(ContentPart::Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some(b.data.unwrap_or_default()),
            })
        }
        _ => None,
    })
}

/// A generated tool-use id, for upstreams that send none.
pub(crate) fn synth_tool_id() -> String {
    format!("toolu_{}", uuid::Uuid::now_v7().simple())
}

/// Decodes an upstream `message` body. Errors are `server_error` naming the field; a
/// 200 body that is an error object (`"type": "error"`) becomes that error.
pub fn decode_response(bytes: &[u8]) -> Result<ChatResponse, GatewayError> {
    let msg: InMessage = parse_upstream(bytes, "message")?;
    if msg.kind.as_deref() == Some("error")
        && let Some(err) = msg.error.as_ref()
    {
        return Err(decode_stream_error(err));
    }
    let mut content = Vec::with_capacity(msg.content.len());
    for (i, raw) in msg.content.iter().enumerate() {
        if let Some(part) = block_in(raw, &format!("message (`content[{i}]`)"))? {
            content.push(part);
        }
    }
    let has_calls = content
        .iter()
        .any(|p| matches!(p, ContentPart::ToolCall { .. }));
    let finish_reason = stop_reason_in(msg.stop_reason.as_deref(), has_calls);
    Ok(ChatResponse {
        id: msg
            .id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(synth_message_id),
        model: msg.model.unwrap_or_default(),
        // Anthropic answers carry no timestamp: the time we decoded it.
        created: time::OffsetDateTime::now_utc().unix_timestamp(),
        content,
        finish_reason,
        stop_sequence: msg.stop_sequence,
        usage: msg.usage.as_ref().map(usage_in).unwrap_or_default(),
    })
}

/// `arguments` as a tool `input` object: the exact text when it is a JSON object,
/// `{}` for empty arguments; `Err` with the reason otherwise.
pub(crate) fn input_object(arguments: &str) -> Result<OutInput, String> {
    if arguments.trim().is_empty() {
        return Ok(OutInput::Empty(Empty {}));
    }
    let raw: Box<RawValue> = serde_json::from_str(arguments).map_err(|e| e.to_string())?;
    if raw.get().starts_with('{') {
        Ok(OutInput::Raw(raw))
    } else {
        Err("the arguments are JSON but not an object".to_owned())
    }
}

/// Unified parts of an answer as Anthropic blocks, in order. Reasoning without a
/// signature (OpenAI-compatible or Gemini reasoning) is a `thinking` block with an empty
/// signature, which the request decoder reads back as "no signature" (and so never
/// replays to Anthropic). A bare signature carrier (empty text, a signature, nothing
/// redacted: what the Gemini codec makes of a `thoughtSignature` on a text part) is left
/// out: it is not Anthropic's, an empty `thinking` block means nothing to the client,
/// and replayed to Anthropic it would be rejected. (A Gemini call's own signature rides
/// in its id, [`crate::tool_ids`], which the client sends back as it got it.) Tool calls
/// whose arguments are not a JSON object get `{}`: the SDKs type `input` as an object,
/// and a complete answer cannot fail.
pub(crate) fn blocks_out(parts: &[ContentPart]) -> Vec<OutBlock<'_>> {
    parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text { text } => Some(OutBlock::Text(OutText { kind: "text", text })),
            ContentPart::Reasoning {
                text,
                signature: Some(_),
                redacted: None,
            } if text.is_empty() => None,
            ContentPart::Reasoning {
                redacted: Some(data),
                ..
            } => Some(OutBlock::RedactedThinking(OutRedactedThinking {
                kind: "redacted_thinking",
                data,
            })),
            ContentPart::Reasoning {
                text, signature, ..
            } => Some(OutBlock::Thinking(OutThinking {
                kind: "thinking",
                thinking: text,
                signature: signature.as_deref().unwrap_or(""),
            })),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => Some(OutBlock::ToolUse(OutToolUse {
                kind: "tool_use",
                id,
                name,
                input: input_object(arguments).unwrap_or(OutInput::Empty(Empty {})),
            })),
            ContentPart::Image { source, .. } => Some(OutBlock::Image(OutImage {
                kind: "image",
                source: image_source_out(source),
            })),
            // Answers carry neither.
            ContentPart::ToolResult { .. } | ContentPart::Document { .. } => None,
        })
        .collect()
}

/// An image source in wire form (a `data:` URL becomes inline base64).
pub(crate) fn image_source_out(source: &ax_core::ImageSource) -> OutSource<'_> {
    match source {
        ax_core::ImageSource::Base64 { media_type, data } => OutSource::Data {
            kind: "base64",
            media_type,
            data,
        },
        ax_core::ImageSource::Url { url } => match split_data_url(url) {
            Some((media_type, data)) => OutSource::Data {
                kind: "base64",
                media_type,
                data,
            },
            None => OutSource::Url { kind: "url", url },
        },
    }
}

/// `data:<mime>;base64,<data>` → `(mime, data)`.
pub(crate) fn split_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    (!media_type.is_empty() && !media_type.contains(';')).then_some((media_type, data))
}

/// Encodes a complete answer as a `message` body.
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let has_calls = response.has_tool_calls();
    let body = OutResponse {
        id: &response.id,
        kind: "message",
        role: "assistant",
        model: &response.model,
        content: blocks_out(&response.content),
        stop_reason: Some(stop_reason_out(response.finish_reason, has_calls)),
        stop_sequence: response.stop_sequence.as_deref(),
        usage: usage_out(&response.usage),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_incoming_stop_reason_row() {
        for (wire, unified) in STOP_REASONS_IN {
            assert_eq!(stop_reason_in(Some(wire), false), *unified, "{wire}");
        }
        assert_eq!(stop_reason_in(Some("weird"), false), FinishReason::Other);
        assert_eq!(stop_reason_in(None, false), FinishReason::Stop);
        assert_eq!(stop_reason_in(None, true), FinishReason::ToolCalls);
    }

    #[test]
    fn every_outgoing_stop_reason_row() {
        let all = [
            FinishReason::Stop,
            FinishReason::StopSequence,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter,
            FinishReason::Pause,
            FinishReason::Other,
        ];
        assert_eq!(STOP_REASONS_OUT.len(), all.len());
        for f in all {
            assert!(STOP_REASONS_OUT.iter().any(|(u, _)| *u == f), "{f} missing");
        }
        for (unified, wire) in STOP_REASONS_OUT {
            assert_eq!(stop_reason_out(*unified, false), *wire, "{unified}");
            // Every outgoing value except `end_turn` for Other reads back as itself.
            if *unified != FinishReason::Other {
                assert_eq!(stop_reason_in(Some(wire), false), *unified, "{unified}");
            }
        }
        assert_eq!(stop_reason_out(FinishReason::Stop, true), "tool_use");
        assert_eq!(stop_reason_out(FinishReason::Length, true), "max_tokens");
    }

    #[test]
    fn every_usage_row() {
        type Row = (&'static str, serde_json::Value, fn(&Usage) -> u64, u64);
        let rows: [Row; 5] = [
            (
                "input_tokens",
                json!({"input_tokens": 7}),
                |u| u.input_tokens,
                7,
            ),
            (
                "cache_read_input_tokens",
                json!({"cache_read_input_tokens": 7}),
                |u| u.cached_tokens,
                7,
            ),
            (
                "cache_creation_input_tokens",
                json!({"cache_creation_input_tokens": 7}),
                |u| u.cache_creation_tokens,
                7,
            ),
            (
                "output_tokens",
                json!({"output_tokens": 7}),
                |u| u.output_tokens,
                7,
            ),
            (
                "output_tokens_details.thinking_tokens",
                json!({"output_tokens": 9, "output_tokens_details": {"thinking_tokens": 7}}),
                |u| u.reasoning_tokens,
                7,
            ),
        ];
        assert_eq!(rows.len(), USAGE_FIELDS.len());
        for (name, wire, get, want) in rows {
            let u: InUsage = serde_json::from_value(wire).unwrap();
            let unified = usage_in(&u);
            assert_eq!(get(&unified), want, "{name}");
            // …and back.
            let back = serde_json::to_value(usage_out(&unified)).unwrap();
            let again: InUsage = serde_json::from_value(back).unwrap();
            assert_eq!(usage_in(&again), unified, "{name}");
        }
    }

    #[test]
    fn a_missing_count_is_unreported_not_guessed() {
        let u: InUsage = serde_json::from_value(json!({"input_tokens": 7})).unwrap();
        let u = usage_in(&u);
        assert_eq!((u.input_tokens, u.output_tokens), (7, 0));
        let u: InUsage = serde_json::from_value(json!({"output_tokens": 3})).unwrap();
        let u = usage_in(&u);
        assert_eq!((u.input_tokens, u.output_tokens), (0, 3));
    }

    #[test]
    fn cache_reads_and_writes_count_as_input() {
        let u: InUsage = serde_json::from_value(json!({
            "input_tokens": 6, "cache_creation_input_tokens": 133,
            "cache_read_input_tokens": 75512, "output_tokens": 152
        }))
        .unwrap();
        let unified = usage_in(&u);
        assert_eq!(unified.input_tokens, 6 + 133 + 75512);
        assert_eq!(unified.uncached_input_tokens(), 6);
        let out = usage_out(&unified);
        assert_eq!(
            (
                out.input_tokens,
                out.cache_creation_input_tokens,
                out.cache_read_input_tokens
            ),
            (6, 133, 75512)
        );
        // Saturation instead of overflow.
        let huge: InUsage =
            serde_json::from_value(json!({"input_tokens": u64::MAX, "cache_read_input_tokens": 5}))
                .unwrap();
        assert_eq!(usage_in(&huge).input_tokens, u64::MAX);
    }

    #[test]
    fn signature_carriers_are_not_blocks() {
        // A Gemini `thoughtSignature` on a call, carried as bare reasoning, never reaches
        // an Anthropic client; real thinking and redacted thinking do.
        let parts = [
            ContentPart::Reasoning {
                text: "plan".into(),
                signature: Some("EqQB".into()),
                redacted: None,
            },
            ContentPart::ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: "{}".into(),
            },
            ContentPart::Reasoning {
                text: String::new(),
                signature: Some("Q2lRQjBl".into()),
                redacted: None,
            },
            ContentPart::Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some("opaque".into()),
            },
        ];
        let blocks = serde_json::to_value(blocks_out(&parts)).unwrap();
        assert_eq!(
            blocks,
            json!([
                {"type": "thinking", "thinking": "plan", "signature": "EqQB"},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {}},
                {"type": "redacted_thinking", "data": "opaque"}
            ])
        );
    }

    #[test]
    fn tool_inputs() {
        assert!(matches!(input_object(""), Ok(OutInput::Empty(_))));
        assert!(
            matches!(input_object(" {\"a\": 1} "), Ok(OutInput::Raw(r)) if r.get() == "{\"a\": 1}")
        );
        assert!(input_object("[1]").is_err());
        assert!(input_object("{\"a\":").is_err());
    }

    #[test]
    fn data_urls() {
        assert_eq!(
            split_data_url("data:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(split_data_url("https://x/y.png"), None);
        assert_eq!(split_data_url("data:;base64,AAAA"), None);
        assert_eq!(split_data_url("data:image/png,AAAA"), None);
    }
}
