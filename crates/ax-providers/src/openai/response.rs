//! Complete (non-streamed) answers: `chat.completion` ↔ [`ChatResponse`], plus the
//! finish-reason and usage mapping tables shared with the stream codec.

use std::borrow::Cow;

use ax_core::{ChatResponse, ContentPart, FinishReason, GatewayError, Usage};
use serde_json::Value;

use crate::tool_ids::{self, Attachment, ReasoningBlock};

use super::wire::{
    InChoice, InContent, InResponse, InUsage, OutChoice, OutCompletionDetails, OutFunctionCall,
    OutPromptDetails, OutResponse, OutResponseMessage, OutToolCall, OutUsage, reasoning_text,
};

/// OpenAI `finish_reason` → unified, used when decoding upstream answers. A value not in
/// the table becomes [`FinishReason::Other`]; a missing one becomes `Stop`.
pub const FINISH_REASONS_IN: &[(&str, FinishReason)] = &[
    ("stop", FinishReason::Stop),
    ("length", FinishReason::Length),
    ("tool_calls", FinishReason::ToolCalls),
    ("content_filter", FinishReason::ContentFilter),
    // Deprecated `function_call` mode: the model called a function.
    ("function_call", FinishReason::ToolCalls),
];

/// Unified → OpenAI `finish_reason`, used when encoding for OpenAI clients. OpenAI has
/// no value for a matched stop sequence, a paused turn or "other": they are `stop`.
pub const FINISH_REASONS_OUT: &[(FinishReason, &str)] = &[
    (FinishReason::Stop, "stop"),
    (FinishReason::StopSequence, "stop"),
    (FinishReason::Length, "length"),
    (FinishReason::ToolCalls, "tool_calls"),
    (FinishReason::ContentFilter, "content_filter"),
    (FinishReason::Pause, "stop"),
    (FinishReason::Other, "stop"),
];

/// The unified finish reason for an OpenAI `finish_reason` (see [`FINISH_REASONS_IN`]).
///
/// Two refinements: a `stop` accompanied by tool calls is `ToolCalls` (Ollama and other
/// compatible servers say `stop` there, and Anthropic/Gemini clients need `tool_use`);
/// a `stop` with vLLM's `stop_reason` string is `StopSequence` with that string.
pub(crate) fn finish_reason_in(
    reason: Option<&str>,
    has_tool_calls: bool,
    stop_reason: Option<&Value>,
) -> (FinishReason, Option<String>) {
    let mapped = match reason {
        None => FinishReason::Stop,
        Some(r) => FINISH_REASONS_IN
            .iter()
            .find(|(name, _)| *name == r)
            .map_or(FinishReason::Other, |(_, f)| *f),
    };
    match (mapped, stop_reason) {
        (FinishReason::Stop, _) if has_tool_calls => (FinishReason::ToolCalls, None),
        (FinishReason::Stop, Some(Value::String(s))) => {
            (FinishReason::StopSequence, Some(s.clone()))
        }
        (other, _) => (other, None),
    }
}

/// The OpenAI `finish_reason` for a unified one (see [`FINISH_REASONS_OUT`]).
pub(crate) fn finish_reason_out(reason: FinishReason) -> &'static str {
    FINISH_REASONS_OUT
        .iter()
        .find(|(f, _)| *f == reason)
        .map_or("stop", |(_, s)| s)
}

/// OpenAI usage → unified. Field by field (OpenAI semantics are the unified ones):
///
/// | OpenAI | unified |
/// |---|---|
/// | `prompt_tokens` | `input_tokens` |
/// | `completion_tokens` | `output_tokens` |
/// | `prompt_tokens_details.cached_tokens` (DeepSeek: `prompt_cache_hit_tokens`) | `cached_tokens` |
/// | `prompt_tokens_details.cache_write_tokens` | `cache_creation_tokens` |
/// | `completion_tokens_details.reasoning_tokens` | `reasoning_tokens` |
///
/// `total_tokens` is not read (it is `input + output` by definition).
///
/// A count the object lacks decodes as 0, "not reported": the router estimates it and
/// marks the record `tokens_estimated` (see [`Usage`]).
pub(crate) fn usage_in(u: &InUsage) -> Usage {
    let prompt = u.prompt_tokens_details.as_ref();
    Usage {
        input_tokens: u.prompt_tokens.unwrap_or(0),
        output_tokens: u.completion_tokens.unwrap_or(0),
        cached_tokens: prompt
            .and_then(|p| p.cached_tokens)
            .or(u.prompt_cache_hit_tokens)
            .unwrap_or(0),
        cache_creation_tokens: prompt.and_then(|p| p.cache_write_tokens).unwrap_or(0),
        reasoning_tokens: u
            .completion_tokens_details
            .as_ref()
            .and_then(|c| c.reasoning_tokens)
            .unwrap_or(0),
    }
}

/// Unified usage → OpenAI (the inverse of [`usage_in`]; `total_tokens` saturates).
pub(crate) fn usage_out(u: &Usage) -> OutUsage {
    OutUsage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.input_tokens.saturating_add(u.output_tokens),
        prompt_tokens_details: OutPromptDetails {
            cached_tokens: u.cached_tokens,
            cache_write_tokens: u.cache_creation_tokens,
        },
        completion_tokens_details: OutCompletionDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
    }
}

pub(crate) use crate::fields::{bad_upstream, parse_upstream};

/// A synthesized tool-call id for upstreams that send none.
pub(crate) fn synth_call_id(index: usize) -> String {
    format!("call_{index}")
}

/// Decodes an upstream `chat.completion` body. Only `choices[0]` is kept (the unified
/// model has one answer; a same-format client still receives every choice through the
/// raw body). Errors are `server_error` naming the field.
pub fn decode_response(bytes: &[u8]) -> Result<ChatResponse, GatewayError> {
    let resp: InResponse = parse_upstream(bytes, "chat completion")?;
    let choice = resp
        .choices
        .into_iter()
        .min_by_key(|c| c.index.unwrap_or(0))
        .ok_or_else(|| bad_upstream("chat completion", "`choices` is empty"))?;
    let (content, finish_reason, stop_sequence) = choice_content(choice);
    Ok(ChatResponse {
        id: resp
            .id
            .unwrap_or_else(|| format!("chatcmpl-{}", uuid::Uuid::now_v7().simple())),
        model: resp.model.unwrap_or_default(),
        created: resp
            .created
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp()),
        content,
        finish_reason,
        stop_sequence,
        usage: resp.usage.as_ref().map(usage_in).unwrap_or_default(),
    })
}

fn choice_content(choice: InChoice) -> (Vec<ContentPart>, FinishReason, Option<String>) {
    let mut content = Vec::new();
    let mut n_calls = 0;
    if let Some(msg) = choice.message {
        if let Some(text) =
            reasoning_text(msg.reasoning_content, msg.reasoning).filter(|t| !t.is_empty())
        {
            content.push(ContentPart::Reasoning {
                text,
                signature: None,
                redacted: None,
            });
        }
        let text = match msg.content {
            Some(InContent::Text(s)) => s,
            Some(InContent::Parts(parts)) => parts.into_iter().filter_map(|p| p.text).collect(),
            None => String::new(),
        };
        // A refusal is what the client gets to read; OpenAI puts it beside `content`.
        let text = match msg.refusal.filter(|r| !r.is_empty()) {
            Some(r) if text.is_empty() => r,
            Some(r) => format!("{text}{r}"),
            None => text,
        };
        if !text.is_empty() {
            content.push(ContentPart::Text { text });
        }
        for (i, call) in msg.tool_calls.into_iter().enumerate() {
            if call.kind.as_deref().is_some_and(|k| k != "function") {
                continue;
            }
            let f = call.function.unwrap_or(super::wire::InFunctionCall {
                name: None,
                arguments: None,
            });
            content.push(ContentPart::ToolCall {
                id: call
                    .id
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| synth_call_id(i)),
                name: f.name.unwrap_or_default(),
                arguments: f.arguments.unwrap_or_default(),
            });
            n_calls += 1;
        }
    }
    let (reason, stop) = finish_reason_in(
        choice.finish_reason.as_deref(),
        n_calls > 0,
        choice.stop_reason.as_ref(),
    );
    (content, reason, stop)
}

/// Joins the text of `parts` selected by `pick`, borrowing when there is one piece.
pub(crate) fn joined<'a>(
    parts: &'a [ContentPart],
    pick: impl Fn(&'a ContentPart) -> Option<&'a str>,
) -> Option<Cow<'a, str>> {
    let mut it = parts.iter().filter_map(pick);
    let first = it.next()?;
    match it.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut s = String::from(first);
            s.push_str(second);
            it.for_each(|t| s.push_str(t));
            Some(Cow::Owned(s))
        }
    }
}

/// The id each tool call of `parts` gets in an answer to an OpenAI client, in order:
/// its own, plus (as a [`tool_ids`] attachment) the signed and redacted reasoning that
/// came before it since the previous call. Chat Completions has no field for reasoning
/// signatures, but a client sends the call id back, and with it `reasoning_content`
/// (when it keeps it, as DeepSeek-style clients do): the request decoder then rebuilds
/// the blocks an Anthropic upstream wants replayed before the call. A signed block is
/// named by its byte range in `reasoning_content` — the non-empty reasoning texts
/// joined with nothing between them, as [`encode_response`] and the stream encoder
/// send it. Bare signatures (empty text: Gemini's carriers) are not carried.
pub(crate) fn client_call_ids(parts: &[ContentPart]) -> Vec<Cow<'_, str>> {
    let mut ids = Vec::new();
    let mut offset = 0;
    let mut pending = Vec::new();
    for part in parts {
        match part {
            ContentPart::Reasoning {
                text,
                signature,
                redacted,
            } => {
                match (redacted, signature.as_deref().filter(|s| !s.is_empty())) {
                    (Some(data), _) => {
                        pending.push(ReasoningBlock::Redacted { data: data.clone() })
                    }
                    (None, Some(sig)) if !text.is_empty() => {
                        pending.push(ReasoningBlock::Thinking {
                            start: offset,
                            len: text.len(),
                            signature: sig.to_owned(),
                        });
                    }
                    _ => {}
                }
                offset += text.len();
            }
            ContentPart::ToolCall { id, .. } if pending.is_empty() => {
                ids.push(Cow::Borrowed(id.as_str()))
            }
            ContentPart::ToolCall { id, .. } => {
                let blocks = std::mem::take(&mut pending);
                ids.push(Cow::Owned(tool_ids::attach(
                    id,
                    &Attachment::Reasoning(blocks),
                )));
            }
            _ => {}
        }
    }
    ids
}

/// Tool calls of `parts` in wire form, with the ids of [`client_call_ids`].
pub(crate) fn tool_calls_out<'a>(
    parts: &'a [ContentPart],
    ids: &'a [Cow<'a, str>],
) -> Vec<OutToolCall<'a>> {
    parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::ToolCall {
                name, arguments, ..
            } => Some((name, arguments)),
            _ => None,
        })
        .zip(ids)
        .map(|((name, arguments), id)| OutToolCall {
            id,
            kind: "function",
            function: OutFunctionCall { name, arguments },
        })
        .collect()
}

/// Encodes a complete answer as a `chat.completion` body. Reasoning text goes in
/// `message.reasoning_content` (the DeepSeek/vLLM field); reasoning signatures and
/// redacted reasoning have no OpenAI field and ride in the id of the call they precede
/// ([`client_call_ids`]; before no call, they are dropped). With tool calls and no text,
/// `content` is `null`, as OpenAI sends it.
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let ids = client_call_ids(&response.content);
    let tool_calls = tool_calls_out(&response.content, &ids);
    let text = joined(&response.content, |p| p.as_text());
    let content = match text {
        Some(t) => Some(t),
        None if tool_calls.is_empty() => Some(Cow::Borrowed("")),
        None => None,
    };
    let reasoning = joined(&response.content, |p| match p {
        ContentPart::Reasoning { text, .. } if !text.is_empty() => Some(text.as_str()),
        _ => None,
    });
    let finish = if !tool_calls.is_empty() && response.finish_reason == FinishReason::Stop {
        "tool_calls"
    } else {
        finish_reason_out(response.finish_reason)
    };
    let body = OutResponse {
        id: &response.id,
        object: "chat.completion",
        created: response.created,
        model: &response.model,
        choices: [OutChoice {
            index: 0,
            message: OutResponseMessage {
                role: "assistant",
                content,
                reasoning_content: reasoning,
                refusal: None,
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish,
        }],
        usage: usage_out(&response.usage),
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
            assert_eq!(
                finish_reason_in(Some(wire), false, None).0,
                *unified,
                "{wire}"
            );
        }
        assert_eq!(
            finish_reason_in(Some("weird"), false, None).0,
            FinishReason::Other
        );
        assert_eq!(finish_reason_in(None, false, None).0, FinishReason::Stop);
    }

    #[test]
    fn stop_refinements() {
        assert_eq!(
            finish_reason_in(Some("stop"), true, None).0,
            FinishReason::ToolCalls
        );
        assert_eq!(
            finish_reason_in(Some("stop"), false, Some(&json!("###"))),
            (FinishReason::StopSequence, Some("###".into()))
        );
        // A token-id stop_reason (vLLM EOS) is a plain stop.
        assert_eq!(
            finish_reason_in(Some("stop"), false, Some(&json!(128001))).0,
            FinishReason::Stop
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
        }
        for f in all {
            assert!(
                FINISH_REASONS_OUT.iter().any(|(u, _)| *u == f),
                "{f} missing"
            );
        }
    }

    #[test]
    fn every_usage_field() {
        type Row = (&'static str, serde_json::Value, fn(&Usage) -> u64);
        let rows: [Row; 6] = [
            ("prompt_tokens", json!({"prompt_tokens": 7}), |u| {
                u.input_tokens
            }),
            ("completion_tokens", json!({"completion_tokens": 7}), |u| {
                u.output_tokens
            }),
            (
                "cached_tokens",
                json!({"prompt_tokens_details": {"cached_tokens": 7}}),
                |u| u.cached_tokens,
            ),
            (
                "prompt_cache_hit_tokens",
                json!({"prompt_cache_hit_tokens": 7}),
                |u| u.cached_tokens,
            ),
            (
                "cache_write_tokens",
                json!({"prompt_tokens_details": {"cache_write_tokens": 7}}),
                |u| u.cache_creation_tokens,
            ),
            (
                "reasoning_tokens",
                json!({"completion_tokens_details": {"reasoning_tokens": 7}}),
                |u| u.reasoning_tokens,
            ),
        ];
        for (name, wire, get) in rows {
            let u: InUsage = serde_json::from_value(wire).unwrap();
            let unified = usage_in(&u);
            assert_eq!(get(&unified), 7, "{name}");
            // …and back.
            let back = serde_json::to_value(usage_out(&unified)).unwrap();
            let again: InUsage = serde_json::from_value(back).unwrap();
            assert_eq!(usage_in(&again), unified, "{name}");
        }
    }

    #[test]
    fn a_missing_count_is_unreported_not_guessed() {
        // `total_tokens` is not used to fill the gap: the missing count stays 0 (not
        // reported), for the router to estimate and mark `tokens_estimated`.
        let u: InUsage =
            serde_json::from_value(json!({"prompt_tokens": 7, "total_tokens": 9})).unwrap();
        let u = usage_in(&u);
        assert_eq!((u.input_tokens, u.output_tokens), (7, 0));
        let u: InUsage = serde_json::from_value(json!({"completion_tokens": 3})).unwrap();
        let u = usage_in(&u);
        assert_eq!((u.input_tokens, u.output_tokens), (0, 3));
    }

    #[test]
    fn total_saturates() {
        let u = Usage {
            input_tokens: u64::MAX,
            output_tokens: 5,
            ..Default::default()
        };
        assert_eq!(usage_out(&u).total_tokens, u64::MAX);
    }
}
