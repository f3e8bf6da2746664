//! [`LogRecord`]: everything written for one client request — one `provider_logs` row
//! and its `provider_metrics` row. Built from the request's final lifecycle context by
//! [`LogRecord::from_context`]; the caller adds what the context cannot know (tenant,
//! key, bodies).

use ax_core::lifecycle::{Context, State, TimelineEntry};
use ax_core::{ErrorCode, KeyId, LogId, TenantId, Usage, pricing};
use time::OffsetDateTime;

/// One request's log row and metrics row.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Row ID (UUID v7).
    pub id: LogId,
    /// The request ID the client saw in `x-ax-request-id`.
    pub request_id: String,
    /// `x-ax-conversation-id`.
    pub conversation_id: Option<String>,
    /// `x-ax-user-id`.
    pub user_id: Option<String>,
    /// The tenant whose key made the request.
    pub tenant_id: Option<TenantId>,
    /// The gateway key that made the request.
    pub key_id: Option<KeyId>,
    /// The provider of the last attempt.
    pub provider: Option<String>,
    /// The upstream model of the last attempt.
    pub model: Option<String>,
    /// Final lifecycle state.
    pub state: State,
    /// Visited states with timestamps.
    pub timeline: Vec<TimelineEntry>,
    /// The client's request body (JSON text), when bodies are logged.
    pub request_data: Option<String>,
    /// The answer body (JSON text), when bodies are logged.
    pub response_data: Option<String>,
    /// Why it failed.
    pub error_code: Option<ErrorCode>,
    /// Details of the failure.
    pub error_message: Option<String>,
    /// When the request began; also the row's `created_at`, which time windows use.
    pub start_time: OffsetDateTime,
    /// When it ended.
    pub end_time: Option<OffsetDateTime>,
    /// Whole-request duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// Time to first token (stream) or to the answer, in milliseconds.
    pub first_token_ms: Option<i64>,
    /// Upstream attempts sent.
    pub attempts: u32,
    /// Attempts after the first, of any kind.
    pub retries: u32,
    /// Whether a fallback provider served (or last tried) the request.
    pub is_fallback: bool,
    /// The first provider tried, when a fallback took over.
    pub fallback_from: Option<String>,
    /// The provider the latest fallback moved to.
    pub fallback_provider: Option<String>,
    /// `x-ax-tags`.
    pub tags: Vec<String>,
    /// Token usage.
    pub usage: Usage,
    /// Whether `usage` is a local estimate.
    pub tokens_estimated: bool,
    /// Stream chunks received.
    pub chunks: u64,
    /// What the request cost, when the model is priced.
    pub cost_usd: Option<f64>,
    /// Whether the request completed.
    pub success: bool,
}

impl LogRecord {
    /// A record with a fresh ID holding everything `ctx` knows. The cost is filled from
    /// the list prices of [`ax_core::pricing`] when the model is priced. Tenant, key and
    /// bodies are left empty for the caller. A context that never started is stamped
    /// with the current time.
    pub fn from_context(ctx: &Context) -> LogRecord {
        let start_time = ctx.started_at.unwrap_or_else(OffsetDateTime::now_utc);
        let (error_code, error_message) = match &ctx.error {
            Some((code, message)) => (Some(*code), Some(message.clone())),
            None => (None, None),
        };
        LogRecord {
            id: LogId::new(),
            request_id: ctx.request_id.as_str().to_owned(),
            conversation_id: ctx.conversation_id.clone(),
            user_id: ctx.user_id.clone(),
            tenant_id: None,
            key_id: None,
            provider: ctx.provider.clone(),
            model: ctx.model.clone(),
            state: ctx.state,
            timeline: ctx.timeline.clone(),
            request_data: None,
            response_data: None,
            error_code,
            error_message,
            start_time,
            end_time: ctx.ended_at,
            duration_ms: ctx.duration_ms(),
            first_token_ms: ctx.first_token_ms(),
            attempts: ctx.attempts,
            retries: ctx.retries,
            is_fallback: ctx.is_fallback(),
            fallback_from: ctx.fallback_from.clone(),
            fallback_provider: ctx.fallback_provider.clone(),
            tags: ctx.tags.clone(),
            usage: ctx.usage,
            tokens_estimated: ctx.tokens_estimated,
            chunks: ctx.chunks,
            cost_usd: ctx
                .model
                .as_deref()
                .and_then(|m| pricing::cost_usd(m, &ctx.usage)),
            success: ctx.state == State::Completed,
        }
    }

    /// A minimal record: `request_id` in `state`, starting now, nothing else known.
    /// Handy for tests and for requests rejected before a lifecycle existed.
    pub fn new(request_id: impl Into<String>, state: State) -> LogRecord {
        LogRecord {
            id: LogId::new(),
            request_id: request_id.into(),
            conversation_id: None,
            user_id: None,
            tenant_id: None,
            key_id: None,
            provider: None,
            model: None,
            state,
            timeline: Vec::new(),
            request_data: None,
            response_data: None,
            error_code: None,
            error_message: None,
            start_time: OffsetDateTime::now_utc(),
            end_time: None,
            duration_ms: None,
            first_token_ms: None,
            attempts: 0,
            retries: 0,
            is_fallback: false,
            fallback_from: None,
            fallback_provider: None,
            tags: Vec::new(),
            usage: Usage::default(),
            tokens_estimated: false,
            chunks: 0,
            cost_usd: None,
            success: state == State::Completed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::RequestId;
    use ax_core::lifecycle::{Event, EventKind};
    use time::macros::datetime;

    #[test]
    fn from_context_takes_everything_the_context_knows() {
        let t0 = datetime!(2025-05-01 12:00:00 UTC);
        let ms = |n: i64| t0 + time::Duration::milliseconds(n);
        let mut c = Context::new(RequestId::parse("req-1").unwrap());
        c.conversation_id = Some("conv".into());
        c.user_id = Some("user".into());
        c.tags = vec!["a".into(), "b".into()];
        let usage = Usage {
            input_tokens: 1_000,
            output_tokens: 500,
            ..Default::default()
        };
        let events = [
            Event::InitiateRequest,
            Event::ValidationPassed,
            Event::RequestSent {
                provider: "claude".into(),
                model: "claude-3-5-sonnet-20241022".into(),
            },
            Event::FallbackTriggered {
                from: "claude".into(),
                to: "openai".into(),
            },
            Event::RequestSent {
                provider: "openai".into(),
                model: "gpt-4o".into(),
            },
            Event::FirstChunkReceived,
            Event::ChunkReceived,
            Event::StreamCompleted {
                usage,
                estimated: true,
            },
        ];
        for (i, e) in events.into_iter().enumerate() {
            c.apply(e, ms(i as i64 * 100)).unwrap();
        }
        let r = LogRecord::from_context(&c);
        assert_eq!(r.request_id, "req-1");
        assert_eq!(r.state, State::Completed);
        assert!(r.success);
        assert_eq!(r.provider.as_deref(), Some("openai"));
        assert_eq!(r.model.as_deref(), Some("gpt-4o"));
        assert_eq!((r.attempts, r.retries), (2, 1));
        assert!(r.is_fallback);
        assert_eq!(r.fallback_from.as_deref(), Some("claude"));
        assert_eq!(r.fallback_provider.as_deref(), Some("openai"));
        assert_eq!(r.start_time, t0);
        assert_eq!(r.end_time, Some(ms(700)));
        assert_eq!(r.duration_ms, Some(700));
        assert_eq!(r.first_token_ms, Some(500));
        assert_eq!(r.chunks, 2);
        assert_eq!(r.usage, usage);
        assert!(r.tokens_estimated);
        assert_eq!(r.tags, vec!["a", "b"]);
        assert_eq!(r.conversation_id.as_deref(), Some("conv"));
        assert_eq!(r.user_id.as_deref(), Some("user"));
        assert_eq!(
            r.timeline.last().map(|e| e.event),
            Some(EventKind::StreamCompleted)
        );
        assert_eq!(r.error_code, None);
        // gpt-4o: 1000 * 2.50/M + 500 * 10.00/M
        let cost = r.cost_usd.unwrap();
        assert!((cost - 0.0075).abs() < 1e-12, "{cost}");
    }

    #[test]
    fn from_context_of_a_failure() {
        let mut c = Context::new(RequestId::new());
        let now = OffsetDateTime::now_utc();
        c.apply(Event::InitiateRequest, now).unwrap();
        c.apply(
            Event::ValidationFailed {
                code: ErrorCode::InvalidRequest,
                message: "no messages".into(),
            },
            now,
        )
        .unwrap();
        let r = LogRecord::from_context(&c);
        assert_eq!(r.state, State::Failed);
        assert!(!r.success);
        assert_eq!(r.error_code, Some(ErrorCode::InvalidRequest));
        assert_eq!(r.error_message.as_deref(), Some("no messages"));
        assert_eq!(r.provider, None);
        assert_eq!(r.cost_usd, None);
        assert_eq!(r.attempts, 0);
    }
}
