//! Complete answers: `GenerateContentResponse` ↔ [`ChatResponse`], with the
//! finish-reason and usage tables shared with the stream codec.

use ax_core::{ChatResponse, ContentPart, ErrorCode, FinishReason, GatewayError, Usage};

use super::fields::{bad_upstream, parse_upstream};
use super::parts::{Calls, Target, decode_part, encode_parts};
use super::wire::{
    InCandidate, InPromptFeedback, InResponse, InUsage, OutCandidate, OutContent, OutResponse,
    OutUsage,
};

/// Gemini `finishReason` → unified, used when decoding upstream answers. A value not in
/// the table (and `FINISH_REASON_UNSPECIFIED`) becomes [`FinishReason::Other`]; a
/// missing one is `Stop`. `STOP` with function calls in the answer is refined to
/// `ToolCalls` (Gemini says `STOP` there).
pub const FINISH_REASONS_IN: &[(&str, FinishReason)] = &[
    ("STOP", FinishReason::Stop),
    ("MAX_TOKENS", FinishReason::Length),
    ("SAFETY", FinishReason::ContentFilter),
    ("RECITATION", FinishReason::ContentFilter),
    ("BLOCKLIST", FinishReason::ContentFilter),
    ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
    ("SPII", FinishReason::ContentFilter),
    ("IMAGE_SAFETY", FinishReason::ContentFilter),
    ("IMAGE_PROHIBITED_CONTENT", FinishReason::ContentFilter),
    ("IMAGE_RECITATION", FinishReason::ContentFilter),
    ("LANGUAGE", FinishReason::Other),
    ("OTHER", FinishReason::Other),
    ("MALFORMED_FUNCTION_CALL", FinishReason::Other),
    ("UNEXPECTED_TOOL_CALL", FinishReason::Other),
    ("TOO_MANY_TOOL_CALLS", FinishReason::Other),
    ("IMAGE_OTHER", FinishReason::Other),
    ("NO_IMAGE", FinishReason::Other),
];

/// Unified → Gemini `finishReason`, used when encoding for Gemini clients. Gemini has no
/// value for tool calls (it says `STOP`), a matched stop sequence or a paused turn.
pub const FINISH_REASONS_OUT: &[(FinishReason, &str)] = &[
    (FinishReason::Stop, "STOP"),
    (FinishReason::StopSequence, "STOP"),
    (FinishReason::Length, "MAX_TOKENS"),
    (FinishReason::ToolCalls, "STOP"),
    (FinishReason::ContentFilter, "SAFETY"),
    (FinishReason::Pause, "STOP"),
    (FinishReason::Other, "OTHER"),
];

/// The unified finish reason for a Gemini one (see [`FINISH_REASONS_IN`]).
pub(crate) fn finish_reason_in(reason: Option<&str>, has_tool_calls: bool) -> FinishReason {
    let mapped = match reason {
        None => FinishReason::Stop,
        Some(r) => FINISH_REASONS_IN
            .iter()
            .find(|(name, _)| *name == r)
            .map_or(FinishReason::Other, |(_, f)| *f),
    };
    if mapped == FinishReason::Stop && has_tool_calls {
        FinishReason::ToolCalls
    } else {
        mapped
    }
}

/// The Gemini finish reason for a unified one (see [`FINISH_REASONS_OUT`]).
pub(crate) fn finish_reason_out(reason: FinishReason) -> &'static str {
    FINISH_REASONS_OUT
        .iter()
        .find(|(f, _)| *f == reason)
        .map_or("STOP", |(_, s)| s)
}

/// Gemini `usageMetadata` → unified usage:
///
/// | unified | Gemini |
/// |---|---|
/// | `input_tokens` | `promptTokenCount + toolUsePromptTokenCount` |
/// | `output_tokens` | `candidatesTokenCount + thoughtsTokenCount` |
/// | `cached_tokens` | `cachedContentTokenCount` |
/// | `reasoning_tokens` | `thoughtsTokenCount` |
///
/// `totalTokenCount` is not read (it is the sum). Gemini reports no cache writes.
///
/// A count the object lacks decodes as 0, "not reported": the router estimates it and
/// marks the record `tokens_estimated` (see [`Usage`]).
pub(crate) fn usage_in(u: &InUsage) -> Usage {
    let thoughts = u.thoughts_token_count.unwrap_or(0);
    Usage {
        input_tokens: u
            .prompt_token_count
            .unwrap_or(0)
            .saturating_add(u.tool_use_prompt_token_count.unwrap_or(0)),
        output_tokens: u
            .candidates_token_count
            .unwrap_or(0)
            .saturating_add(thoughts),
        cached_tokens: u.cached_content_token_count.unwrap_or(0),
        cache_creation_tokens: 0,
        reasoning_tokens: thoughts,
    }
}

/// Unified usage → Gemini (the inverse of [`usage_in`]; tool-use prompt tokens cannot
/// be told apart again and stay in `promptTokenCount`).
pub(crate) fn usage_out(u: &Usage) -> OutUsage {
    OutUsage {
        prompt_token_count: u.input_tokens,
        candidates_token_count: u.output_tokens.saturating_sub(u.reasoning_tokens),
        total_token_count: u.input_tokens.saturating_add(u.output_tokens),
        cached_content_token_count: u.cached_tokens,
        thoughts_token_count: u.reasoning_tokens,
    }
}

/// A `content_filtered` error (never retried: another attempt gets the same verdict).
pub(crate) fn filtered(message: String) -> GatewayError {
    GatewayError::new(ErrorCode::ContentFiltered, message)
}

/// The error for a blocked prompt, if `feedback` says the prompt was blocked.
pub(crate) fn prompt_blocked(feedback: Option<&InPromptFeedback>) -> Option<GatewayError> {
    let f = feedback?;
    if f.block_reason.is_none() && f.block_reason_message.is_none() {
        return None;
    }
    let reason = f
        .block_reason
        .as_deref()
        .unwrap_or("BLOCK_REASON_UNSPECIFIED");
    Some(filtered(match f.block_reason_message.as_deref() {
        Some(m) if !m.is_empty() => format!("Gemini blocked the prompt ({reason}): {m}"),
        _ => format!("Gemini blocked the prompt ({reason})"),
    }))
}

/// The error for a candidate stopped by a content filter before it said anything.
pub(crate) fn candidate_filtered(reason: &str, message: Option<&str>) -> GatewayError {
    filtered(match message.filter(|m| !m.is_empty()) {
        Some(m) => format!("Gemini filtered the answer ({reason}): {m}"),
        None => format!("Gemini filtered the answer ({reason}) before it produced any content"),
    })
}

/// Whether `parts` hold something a client sees (text or a tool call).
pub(crate) fn has_visible(parts: &[ContentPart]) -> bool {
    parts.iter().any(|p| match p {
        ContentPart::Text { text } => !text.is_empty(),
        ContentPart::ToolCall { .. } | ContentPart::Image { .. } => true,
        _ => false,
    })
}

/// The candidate the unified model keeps: the one with the lowest `index`.
pub(crate) fn first_candidate(candidates: Option<Vec<InCandidate>>) -> Option<InCandidate> {
    candidates?.into_iter().min_by_key(|c| c.index.unwrap_or(0))
}

/// A generated response id for upstreams that send none.
pub(crate) fn generated_id() -> String {
    format!("gemini-{}", uuid::Uuid::now_v7().simple())
}

/// Unix seconds of an RFC 3339 `createTime` (Vertex AI), else now.
pub(crate) fn created_at(create_time: Option<&str>) -> i64 {
    create_time
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or_else(
            || time::OffsetDateTime::now_utc().unix_timestamp(),
            time::OffsetDateTime::unix_timestamp,
        )
}

/// Decodes an upstream `GenerateContentResponse`. Only the first candidate is kept (a
/// same-format client still gets them all through the raw body).
///
/// Content filtering is an error, not an empty success: a blocked prompt
/// (`promptFeedback.blockReason`, no candidates) and a candidate stopped by a filter
/// (`SAFETY`, `RECITATION`, …) with no content are `content_filtered`. A filtered
/// candidate that did produce content is a success with finish reason
/// `ContentFilter`. Malformed bodies are `server_error` naming the field.
pub fn decode_response(bytes: &[u8]) -> Result<ChatResponse, GatewayError> {
    let resp: InResponse = parse_upstream(bytes, "generateContent answer")?;
    if let Some(err) = resp.error.as_ref().filter(|e| !e.is_null()) {
        return Err(super::error::decode_stream_error(err));
    }
    let Some(candidate) = first_candidate(resp.candidates) else {
        return Err(prompt_blocked(resp.prompt_feedback.as_ref())
            .unwrap_or_else(|| bad_upstream("generateContent answer", "`candidates` is empty")));
    };
    let seed = resp.response_id.clone().unwrap_or_default();
    let mut calls = Calls::upstream(seed);
    let mut content = Vec::new();
    if let Some(c) = &candidate.content {
        for part in c.parts.iter().flatten() {
            content.extend(decode_part(part, None, &mut calls)?);
        }
    }
    let reason = candidate
        .finish_reason
        .as_deref()
        .filter(|r| *r != "FINISH_REASON_UNSPECIFIED");
    let finish_reason = finish_reason_in(reason, !calls.seen.is_empty());
    if finish_reason == FinishReason::ContentFilter && !has_visible(&content) {
        return Err(candidate_filtered(
            reason.unwrap_or("SAFETY"),
            candidate.finish_message.as_deref(),
        ));
    }
    Ok(ChatResponse {
        id: resp.response_id.unwrap_or_else(generated_id),
        model: resp.model_version.unwrap_or_default(),
        created: created_at(resp.create_time.as_deref()),
        content,
        finish_reason,
        stop_sequence: None,
        usage: resp
            .usage_metadata
            .as_ref()
            .map(usage_in)
            .unwrap_or_default(),
    })
}

/// Encodes a complete answer as a `GenerateContentResponse` for a Gemini client:
/// one candidate (`role: "model"`), `finishReason`, `usageMetadata`, `modelVersion`
/// (the model) and `responseId` (the id). Tool calls keep their ids; reasoning is sent
/// as `thought: true` parts with their signatures.
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let mut parts = Vec::with_capacity(response.content.len());
    encode_parts(&response.content, Target::Client, &|_| None, &mut parts);
    let body = OutResponse {
        candidates: vec![OutCandidate {
            content: Some(OutContent {
                parts,
                role: Some("model"),
            }),
            finish_reason: Some(finish_reason_out(response.finish_reason)),
            index: 0,
        }],
        usage_metadata: Some(usage_out(&response.usage)),
        model_version: &response.model,
        response_id: &response.id,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_incoming_finish_reason_row() {
        for (wire, unified) in FINISH_REASONS_IN {
            assert_eq!(finish_reason_in(Some(wire), false), *unified, "{wire}");
        }
        assert_eq!(
            finish_reason_in(Some("NEW_THING"), false),
            FinishReason::Other
        );
        assert_eq!(finish_reason_in(None, false), FinishReason::Stop);
        assert_eq!(
            finish_reason_in(Some("STOP"), true),
            FinishReason::ToolCalls
        );
        assert_eq!(
            finish_reason_in(Some("MAX_TOKENS"), true),
            FinishReason::Length
        );
    }

    #[test]
    fn every_outgoing_finish_reason_row() {
        let all = [
            FinishReason::Stop,
            FinishReason::StopSequence,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter,
            FinishReason::Pause,
            FinishReason::Other,
        ];
        assert_eq!(FINISH_REASONS_OUT.len(), all.len());
        for (unified, wire) in FINISH_REASONS_OUT {
            assert_eq!(finish_reason_out(*unified), *wire, "{unified}");
            // What we send reads back as the same class (tool calls need the parts).
            let back = finish_reason_in(Some(wire), *unified == FinishReason::ToolCalls);
            let expected = match unified {
                FinishReason::StopSequence | FinishReason::Pause => FinishReason::Stop,
                other => *other,
            };
            assert_eq!(back, expected, "{unified}");
        }
        for f in all {
            assert!(FINISH_REASONS_OUT.iter().any(|(u, _)| *u == f), "{f}");
        }
    }

    #[test]
    fn every_usage_field() {
        type Row = (
            &'static str,
            serde_json::Value,
            fn(&Usage) -> (u64, u64, u64, u64),
        );
        let rows: [Row; 5] = [
            ("promptTokenCount", json!({"promptTokenCount": 7}), |u| {
                (
                    u.input_tokens,
                    u.output_tokens,
                    u.cached_tokens,
                    u.reasoning_tokens,
                )
            }),
            (
                "toolUsePromptTokenCount",
                json!({"promptTokenCount": 7, "toolUsePromptTokenCount": 3}),
                |u| (u.input_tokens, 0, 0, 0),
            ),
            (
                "candidatesTokenCount",
                json!({"candidatesTokenCount": 7}),
                |u| (u.input_tokens, u.output_tokens, 0, u.reasoning_tokens),
            ),
            (
                "thoughtsTokenCount",
                json!({"candidatesTokenCount": 2, "thoughtsTokenCount": 5}),
                |u| (0, u.output_tokens, 0, u.reasoning_tokens),
            ),
            (
                "cachedContentTokenCount",
                json!({"promptTokenCount": 9, "cachedContentTokenCount": 4}),
                |u| (u.input_tokens, 0, u.cached_tokens, 0),
            ),
        ];
        let expected = [
            (7, 0, 0, 0),
            (10, 0, 0, 0),
            (0, 7, 0, 0),
            (0, 7, 0, 5),
            (9, 0, 4, 0),
        ];
        for ((name, wire, get), want) in rows.into_iter().zip(expected) {
            let u: InUsage = serde_json::from_value(wire).unwrap();
            let unified = usage_in(&u);
            assert_eq!(get(&unified), want, "{name}");
            // …and back: the encoder reverses (tool-use tokens stay in the prompt).
            let back: InUsage =
                serde_json::from_value(serde_json::to_value(usage_out(&unified)).unwrap()).unwrap();
            assert_eq!(usage_in(&back), unified, "{name}");
        }
        let out = serde_json::to_value(usage_out(&Usage {
            input_tokens: 10,
            output_tokens: 7,
            cached_tokens: 4,
            reasoning_tokens: 5,
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({"promptTokenCount": 10, "candidatesTokenCount": 2, "totalTokenCount": 17,
                "cachedContentTokenCount": 4, "thoughtsTokenCount": 5})
        );
    }

    #[test]
    fn saturating_and_lenient_counts() {
        let u = Usage {
            input_tokens: u64::MAX,
            output_tokens: 1,
            reasoning_tokens: 5,
            ..Default::default()
        };
        let out = usage_out(&u);
        assert_eq!(out.total_token_count, u64::MAX);
        assert_eq!(out.candidates_token_count, 0);
        let u: InUsage = serde_json::from_value(
            json!({"promptTokenCount": "12", "candidatesTokenCount": -3, "thoughtsTokenCount": 2.7}),
        )
        .unwrap();
        assert_eq!(
            usage_in(&u),
            Usage {
                input_tokens: 12,
                output_tokens: 2,
                reasoning_tokens: 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn a_missing_count_is_unreported_not_guessed() {
        // Early stream chunks and some replies carry only the prompt count.
        let u: InUsage =
            serde_json::from_value(json!({"promptTokenCount": 7, "totalTokenCount": 7})).unwrap();
        let u = usage_in(&u);
        assert_eq!((u.input_tokens, u.output_tokens), (7, 0));
        let u: InUsage = serde_json::from_value(json!({"candidatesTokenCount": 3})).unwrap();
        let u = usage_in(&u);
        assert_eq!((u.input_tokens, u.output_tokens), (0, 3));
    }

    #[test]
    fn blocked_and_filtered_answers_are_errors() {
        let e = decode_response(
            br#"{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 3}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ContentFiltered);
        assert!(!e.is_retryable());
        assert!(e.message.contains("PROHIBITED_CONTENT"), "{}", e.message);
        let e = decode_response(
            br#"{"candidates": [{"finishReason": "SAFETY", "finishMessage": "unsafe", "index": 0}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ContentFiltered);
        assert!(e.message.contains("SAFETY") && e.message.contains("unsafe"));
        let e = decode_response(br#"{"candidates": []}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerError);
    }
}
