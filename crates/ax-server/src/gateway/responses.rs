//! What the Responses API adds to the chat operation: conversations the gateway keeps.
//!
//! A Responses client may ask the server to keep an answer (`store`, true unless the
//! client says `false`, as Codex does) and continue it later by naming it in
//! `previous_response_id`. An OpenAI upstream keeps what passes through to it; for an
//! answer ax translated (any other upstream, or an OpenAI upstream reached through Chat
//! Completions), ax keeps the whole conversation in its store ([`ResponseStore`]) for
//! the retention setting, so that any upstream can continue it, and serves
//! `GET`/`DELETE /v1/responses/{id}` from there. Rows belong to the caller's tenant.

use std::sync::Arc;
use std::time::Duration;

use ax_core::{
    ChatRequest, ChatResponse, ContentPart, ErrorCode, FinishReason, GatewayError, Message, Role,
    StreamEvent, ToolDefinition, Usage, WireFormat,
};
use ax_providers::client_codec;
use ax_store::{ResponseStore, StoredResponse};
use bytes::Bytes;
use http::StatusCode;

use super::{Gateway, Served};
use crate::auth::Identity;

/// How stored responses are kept: where, and for how long.
#[derive(Clone)]
pub struct ResponsesKeeping {
    /// The store.
    pub store: Arc<dyn ResponseStore>,
    /// How long a stored response lives; zero keeps none.
    pub retention: Duration,
}

impl std::fmt::Debug for ResponsesKeeping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponsesKeeping")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// A Responses answer to keep once it is complete.
pub(super) struct Keeper {
    store: Arc<dyn ResponseStore>,
    retention: Duration,
    tenant_id: Option<String>,
    model: String,
    /// Earlier turns and this request's input (instructions excluded: the API does not
    /// carry them over to the next response).
    conversation: Vec<Message>,
    /// The request's freeform (`custom`) tools: a streamed answer is encoded again for
    /// the store, and their calls must come out as `custom_tool_call` items there too.
    freeform: Vec<ToolDefinition>,
}

/// Continues a stored conversation named by `previous_response_id`, and says whether
/// (and how) this request's answer is to be kept. A name ax does not hold is left for
/// an OpenAI upstream, which keeps its own: a translating upstream refuses it.
pub(super) async fn prepare(
    gw: &Gateway,
    request: &mut ChatRequest,
    identity: Option<&Identity>,
) -> Result<Option<Keeper>, GatewayError> {
    let Some(keeping) = gw.responses.as_ref() else {
        return Ok(None);
    };
    let tenant_id = identity.map(|i| i.tenant_id.to_string());
    let body = request.raw.as_ref().map(|raw| &raw.body);
    let previous = body
        .and_then(|b| b.get("previous_response_id"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let store_it = body.and_then(|b| b.get("store")) != Some(&serde_json::Value::Bool(false));
    let mut history = Vec::new();
    if let Some(previous) = previous {
        let found = keeping
            .store
            .response(&previous, tenant_id.as_deref())
            .await
            .map_err(|e| GatewayError::new(ErrorCode::ServerError, format!("store: {e}")))?;
        match found {
            Some(stored) => {
                history =
                    serde_json::from_str::<Vec<Message>>(&stored.conversation).map_err(|e| {
                        GatewayError::new(
                            ErrorCode::ServerError,
                            format!("stored response `{previous}` is unreadable: {e}"),
                        )
                    })?;
                // The earlier turns go right after this request's instructions.
                let at = request
                    .messages
                    .iter()
                    .take_while(|m| m.role == Role::System)
                    .count();
                request.messages.splice(at..at, history.iter().cloned());
                // The upstream's own store does not hold a conversation ax kept: it goes
                // translated, as a whole, even to an OpenAI upstream.
                request.raw = None;
            }
            None => {
                request.passthrough_only.get_or_insert_with(|| {
                    format!(
                        "previous_response_id `{previous}` is not stored by ax (unknown or \
                         expired), so only an OpenAI upstream, which keeps its own, can \
                         continue it"
                    )
                });
            }
        }
    }
    if !store_it || keeping.retention.is_zero() {
        return Ok(None);
    }
    let input = request
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .skip(history.len())
        .cloned();
    history.extend(input);
    Ok(Some(Keeper {
        store: Arc::clone(&keeping.store),
        retention: keeping.retention,
        tenant_id,
        model: request.model.clone(),
        conversation: history,
        freeform: request
            .tools
            .iter()
            .filter(|t| t.freeform.is_some())
            .cloned()
            .collect(),
    }))
}

impl Keeper {
    /// Stores a complete answer as the client received it (`served`: the `response`
    /// object). A store failure is logged, not answered: the client has its answer.
    pub(super) async fn keep(mut self, answer: &ChatResponse, served: &[u8]) {
        let Some(id) = serde_json::from_slice::<serde_json::Value>(served)
            .ok()
            .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
        else {
            return;
        };
        self.conversation.push(Message {
            role: Role::Assistant,
            content: answer.content.clone(),
            name: None,
        });
        let Ok(conversation) = serde_json::to_string(&self.conversation) else {
            return;
        };
        let now = time::OffsetDateTime::now_utc();
        let row = StoredResponse {
            id,
            tenant_id: self.tenant_id,
            model: self.model,
            conversation,
            response: String::from_utf8_lossy(served).into_owned(),
            created_at: ax_store::timestamp::format(now),
            expires_at: ax_store::timestamp::format(now + self.retention),
        };
        if let Err(e) = self.store.put_response(&row).await {
            tracing::warn!(error = %e, response = %row.id, "a Responses answer could not be stored");
        }
    }

    /// Stores a streamed answer once it has ended well, from what the stream carried.
    pub(super) async fn keep_stream(mut self, transcript: Transcript) {
        let answer = transcript.into_response();
        let request = ChatRequest {
            tools: std::mem::take(&mut self.freeform),
            ..ChatRequest::default()
        };
        let served = client_codec(WireFormat::Responses).encode_response(&request, &answer);
        self.keep(&answer, &served).await;
    }
}

/// A streamed answer put back together from its events, for the store.
#[derive(Debug, Default)]
pub(super) struct Transcript {
    id: String,
    model: String,
    created: i64,
    content: Vec<ContentPart>,
    /// Index in `content` of each tool call, by the stream's tool-call index.
    calls: Vec<(u32, usize)>,
    finish: Option<(FinishReason, Option<String>)>,
    usage: Usage,
}

impl Transcript {
    /// Takes one event of the stream into account.
    pub(super) fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Start { id, model, created } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.created = *created;
            }
            StreamEvent::TextDelta { text } => match self.content.last_mut() {
                Some(ContentPart::Text { text: t }) => t.push_str(text),
                _ => self.content.push(ContentPart::text(text.clone())),
            },
            StreamEvent::ReasoningDelta { text } => match self.content.last_mut() {
                Some(ContentPart::Reasoning { text: t, .. }) => t.push_str(text),
                _ => self.content.push(ContentPart::Reasoning {
                    text: text.clone(),
                    signature: None,
                    redacted: None,
                }),
            },
            StreamEvent::ReasoningSignature { signature } => {
                let last = self
                    .content
                    .iter_mut()
                    .rev()
                    .find(|p| matches!(p, ContentPart::Reasoning { .. }));
                match last {
                    Some(ContentPart::Reasoning { signature: s, .. }) => {
                        *s = Some(signature.clone());
                    }
                    _ => self.content.push(ContentPart::Reasoning {
                        text: String::new(),
                        signature: Some(signature.clone()),
                        redacted: None,
                    }),
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.calls.push((*index, self.content.len()));
                self.content.push(ContentPart::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                let at = self.calls.iter().rev().find(|(i, _)| i == index);
                if let Some(ContentPart::ToolCall { arguments: a, .. }) =
                    at.and_then(|(_, at)| self.content.get_mut(*at))
                {
                    a.push_str(arguments);
                }
            }
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => self.finish = Some((*reason, stop_sequence.clone())),
            StreamEvent::Usage(usage) => self.usage.merge_max(usage),
        }
    }

    /// The answer the stream carried.
    fn into_response(self) -> ChatResponse {
        let (finish_reason, stop_sequence) = self.finish.unwrap_or((FinishReason::Stop, None));
        ChatResponse {
            id: self.id,
            model: self.model,
            created: self.created,
            content: self.content,
            finish_reason,
            stop_sequence,
            usage: self.usage,
        }
    }
}

/// `GET /v1/responses/{id}`: a response ax stored, for the caller's tenant.
pub async fn get(gw: &Gateway, id: &str, identity: Option<&Identity>) -> Served {
    let tenant = identity.map(|i| i.tenant_id.to_string());
    match lookup(gw, id, tenant.as_deref()).await {
        Ok(Some(stored)) => Served::json(Bytes::from(stored.response)),
        Ok(None) => not_found(id),
        Err(e) => Served::error(WireFormat::Responses, e, None),
    }
}

/// `DELETE /v1/responses/{id}`: forgets a response ax stored.
pub async fn delete(gw: &Gateway, id: &str, identity: Option<&Identity>) -> Served {
    let tenant = identity.map(|i| i.tenant_id.to_string());
    let Some(keeping) = gw.responses.as_ref() else {
        return not_found(id);
    };
    match keeping.store.delete_response(id, tenant.as_deref()).await {
        Ok(true) => {
            let body = serde_json::json!({"id": id, "object": "response.deleted", "deleted": true});
            Served::json(body.to_string())
        }
        Ok(false) => not_found(id),
        Err(e) => Served::error(
            WireFormat::Responses,
            GatewayError::new(ErrorCode::ServerError, format!("store: {e}")),
            None,
        ),
    }
}

async fn lookup(
    gw: &Gateway,
    id: &str,
    tenant: Option<&str>,
) -> Result<Option<StoredResponse>, GatewayError> {
    let Some(keeping) = gw.responses.as_ref() else {
        return Ok(None);
    };
    keeping
        .store
        .response(id, tenant)
        .await
        .map_err(|e| GatewayError::new(ErrorCode::ServerError, format!("store: {e}")))
}

/// OpenAI's answer for a response it does not have.
fn not_found(id: &str) -> Served {
    let mut served = Served::error(
        WireFormat::Responses,
        GatewayError::new(
            ErrorCode::NotFound,
            format!("Response with id '{id}' not found."),
        ),
        None,
    );
    served.status = StatusCode::NOT_FOUND;
    served
}

/// Deletes expired stored responses every `every`, for as long as the process runs.
pub fn spawn_pruning(keeping: &ResponsesKeeping, every: Duration) -> tokio::task::JoinHandle<()> {
    let store = Arc::clone(&keeping.store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match store.prune_responses().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(pruned = n, "expired stored responses deleted"),
                Err(e) => tracing::warn!(error = %e, "stored responses not pruned"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_puts_a_stream_back_together() {
        let mut t = Transcript::default();
        for e in [
            StreamEvent::Start {
                id: "u1".into(),
                model: "m".into(),
                created: 7,
            },
            StreamEvent::ReasoningDelta { text: "th".into() },
            StreamEvent::ReasoningDelta { text: "ink".into() },
            StreamEvent::ReasoningSignature {
                signature: "sig".into(),
            },
            StreamEvent::TextDelta { text: "Hel".into() },
            StreamEvent::TextDelta { text: "lo".into() },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "c1".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"a\":".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "1}".into(),
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None,
            },
        ] {
            t.observe(&e);
        }
        let r = t.into_response();
        assert_eq!(r.id, "u1");
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            r.content,
            vec![
                ContentPart::Reasoning {
                    text: "think".into(),
                    signature: Some("sig".into()),
                    redacted: None
                },
                ContentPart::text("Hello"),
                ContentPart::ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    arguments: "{\"a\":1}".into()
                },
            ]
        );
    }
}
