//! The request lifecycle state machine (DESIGN §2).
//!
//! Every client request is driven through this machine by the router: the states it
//! visits, with timestamps, become the `state_timeline` of its log record. The machine
//! is a pure function, `transition(context, event, now)`, over one explicit table of
//! legal moves ([`next_state`]); anything not in the table is a [`TransitionError`] and
//! leaves the context untouched. Time is passed in, never read, so tests are exact.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ErrorCode;
use crate::ids::RequestId;
use crate::model::Usage;

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Created, nothing done yet.
    Idle,
    /// Decoding and checking the client's request.
    Validating,
    /// An upstream call is being made (or about to be).
    Requesting,
    /// The first chunk has reached us; chunks are flowing to the client.
    Streaming,
    /// Waiting for a rate limit to clear.
    RateLimited,
    /// Between attempts: backing off, or moving to the next target.
    Retrying,
    /// Answered successfully (terminal).
    Completed,
    /// Ended in an error (terminal).
    Failed,
}

impl State {
    /// Every state.
    pub const ALL: [State; 8] = [
        Self::Idle,
        Self::Validating,
        Self::Requesting,
        Self::Streaming,
        Self::RateLimited,
        Self::Retrying,
        Self::Completed,
        Self::Failed,
    ];

    /// Lower-case name as stored in `provider_logs.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Validating => "validating",
            Self::Requesting => "requesting",
            Self::Streaming => "streaming",
            Self::RateLimited => "rate_limited",
            Self::Retrying => "retrying",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Whether no event can leave this state.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown lifecycle state `{s}`"))
    }
}

/// Something that happened to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The gateway accepted the connection and began work.
    InitiateRequest,
    /// The request decoded and passed every check.
    ValidationPassed,
    /// The request was rejected before any upstream call.
    ValidationFailed {
        /// Why.
        code: ErrorCode,
        /// Details.
        message: String,
    },
    /// An attempt was sent to a provider.
    RequestSent {
        /// Provider name.
        provider: String,
        /// Upstream model.
        model: String,
    },
    /// The first chunk of a streamed answer arrived.
    FirstChunkReceived,
    /// A further chunk arrived.
    ChunkReceived,
    /// A complete non-streamed answer arrived.
    ResponseReceived {
        /// Usage it reported.
        usage: Usage,
        /// Whether `usage` is a local estimate.
        estimated: bool,
    },
    /// A stream ended normally.
    StreamCompleted {
        /// Final usage.
        usage: Usage,
        /// Whether `usage` is a local estimate.
        estimated: bool,
    },
    /// A rate limit must be waited out.
    RateLimitHit,
    /// The rate limit cleared.
    RateLimitCleared,
    /// The last attempt failed retryably; the same provider will be tried again.
    RetryScheduled {
        /// Why the attempt failed.
        code: ErrorCode,
    },
    /// The last target failed or was skipped; the next provider in the plan is next.
    FallbackTriggered {
        /// The provider that failed or was skipped.
        from: String,
        /// The provider tried next.
        to: String,
    },
    /// The request failed for good.
    RequestFailed {
        /// Why.
        code: ErrorCode,
        /// Details.
        message: String,
    },
    /// The client went away.
    Cancelled,
    /// A deadline passed.
    TimedOut,
}

/// The discriminant of an [`Event`], used by the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum EventKind {
    InitiateRequest,
    ValidationPassed,
    ValidationFailed,
    RequestSent,
    FirstChunkReceived,
    ChunkReceived,
    ResponseReceived,
    StreamCompleted,
    RateLimitHit,
    RateLimitCleared,
    RetryScheduled,
    FallbackTriggered,
    RequestFailed,
    Cancelled,
    TimedOut,
}

impl EventKind {
    /// Every event kind.
    pub const ALL: [EventKind; 15] = [
        Self::InitiateRequest,
        Self::ValidationPassed,
        Self::ValidationFailed,
        Self::RequestSent,
        Self::FirstChunkReceived,
        Self::ChunkReceived,
        Self::ResponseReceived,
        Self::StreamCompleted,
        Self::RateLimitHit,
        Self::RateLimitCleared,
        Self::RetryScheduled,
        Self::FallbackTriggered,
        Self::RequestFailed,
        Self::Cancelled,
        Self::TimedOut,
    ];
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::InitiateRequest => EventKind::InitiateRequest,
            Self::ValidationPassed => EventKind::ValidationPassed,
            Self::ValidationFailed { .. } => EventKind::ValidationFailed,
            Self::RequestSent { .. } => EventKind::RequestSent,
            Self::FirstChunkReceived => EventKind::FirstChunkReceived,
            Self::ChunkReceived => EventKind::ChunkReceived,
            Self::ResponseReceived { .. } => EventKind::ResponseReceived,
            Self::StreamCompleted { .. } => EventKind::StreamCompleted,
            Self::RateLimitHit => EventKind::RateLimitHit,
            Self::RateLimitCleared => EventKind::RateLimitCleared,
            Self::RetryScheduled { .. } => EventKind::RetryScheduled,
            Self::FallbackTriggered { .. } => EventKind::FallbackTriggered,
            Self::RequestFailed { .. } => EventKind::RequestFailed,
            Self::Cancelled => EventKind::Cancelled,
            Self::TimedOut => EventKind::TimedOut,
        }
    }
}

/// The table of legal transitions: the state `event` leads to from `from`, or `None`
/// when the event is illegal there. This is the only place transitions are defined.
pub const fn next_state(from: State, event: EventKind) -> Option<State> {
    use EventKind as E;
    use State as S;
    Some(match (from, event) {
        (S::Idle, E::InitiateRequest) => S::Validating,

        (S::Validating, E::ValidationPassed) => S::Requesting,
        (S::Validating, E::ValidationFailed) => S::Failed,

        (S::Requesting, E::RequestSent) => S::Requesting,
        (S::Requesting, E::FirstChunkReceived) => S::Streaming,
        (S::Requesting, E::ResponseReceived) => S::Completed,
        (S::Requesting, E::RateLimitHit) => S::RateLimited,
        (S::Requesting, E::RetryScheduled) => S::Retrying,
        (S::Requesting, E::FallbackTriggered) => S::Retrying,

        (S::RateLimited, E::RateLimitCleared) => S::Requesting,
        (S::RateLimited, E::FallbackTriggered) => S::Retrying,

        (S::Retrying, E::RequestSent) => S::Requesting,
        (S::Retrying, E::FallbackTriggered) => S::Retrying,
        (S::Retrying, E::RetryScheduled) => S::Retrying,
        (S::Retrying, E::RateLimitHit) => S::RateLimited,

        (S::Streaming, E::ChunkReceived) => S::Streaming,
        (S::Streaming, E::StreamCompleted) => S::Completed,

        // Any live state can fail for good.
        (
            S::Idle | S::Validating | S::Requesting | S::Streaming | S::RateLimited | S::Retrying,
            E::RequestFailed | E::Cancelled | E::TimedOut,
        ) => S::Failed,

        _ => return None,
    })
}

/// Events that report an upstream answer, and so need an attempt to have been sent.
/// This is the one guard on top of the table: it keeps "completed without ever asking
/// a provider" unrepresentable.
pub const fn needs_attempt(event: EventKind) -> bool {
    matches!(
        event,
        EventKind::FirstChunkReceived | EventKind::ResponseReceived
    )
}

/// An event that is not legal in the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal lifecycle transition: {event:?} in state {from}")]
pub struct TransitionError {
    /// The state the request was in.
    pub from: State,
    /// The event that was refused.
    pub event: EventKind,
}

/// One visited state and when it was entered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The state entered.
    pub state: State,
    /// The event that led there.
    pub event: EventKind,
    /// When, as Unix milliseconds.
    pub at_ms: i64,
}

/// Everything known about a request as it moves through its life; the final value
/// becomes the log record.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The request ID.
    pub request_id: RequestId,
    /// `x-ax-conversation-id`.
    pub conversation_id: Option<String>,
    /// `x-ax-user-id`.
    pub user_id: Option<String>,
    /// `x-ax-tags`.
    pub tags: Vec<String>,
    /// Current state.
    pub state: State,
    /// The provider of the latest attempt.
    pub provider: Option<String>,
    /// The upstream model of the latest attempt.
    pub model: Option<String>,
    /// The first provider tried, when a fallback then took over.
    pub fallback_from: Option<String>,
    /// The provider a fallback moved to (the latest one).
    pub fallback_provider: Option<String>,
    /// Number of upstream attempts sent.
    pub attempts: u32,
    /// Number of retries (attempts after the first) of any kind.
    pub retries: u32,
    /// When the request began.
    pub started_at: Option<OffsetDateTime>,
    /// When the first chunk (stream) or the whole answer arrived.
    pub first_token_at: Option<OffsetDateTime>,
    /// When it ended.
    pub ended_at: Option<OffsetDateTime>,
    /// Token usage.
    pub usage: Usage,
    /// Whether `usage` is a local estimate.
    pub tokens_estimated: bool,
    /// Stream chunks received.
    pub chunks: u64,
    /// The final error, when it failed.
    pub error: Option<(ErrorCode, String)>,
    /// Visited states with timestamps.
    pub timeline: Vec<TimelineEntry>,
}

impl Context {
    /// A fresh context in `Idle`.
    pub fn new(request_id: RequestId) -> Self {
        Self {
            request_id,
            conversation_id: None,
            user_id: None,
            tags: Vec::new(),
            state: State::Idle,
            provider: None,
            model: None,
            fallback_from: None,
            fallback_provider: None,
            attempts: 0,
            retries: 0,
            started_at: None,
            first_token_at: None,
            ended_at: None,
            usage: Usage::default(),
            tokens_estimated: false,
            chunks: 0,
            error: None,
            timeline: Vec::new(),
        }
    }

    /// Whether a fallback provider served (or last tried) the request.
    pub fn is_fallback(&self) -> bool {
        self.fallback_provider.is_some()
    }

    /// Whole-request duration in milliseconds, once ended.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(whole_ms(self.ended_at? - self.started_at?))
    }

    /// Time to first token in milliseconds, when one arrived.
    pub fn first_token_ms(&self) -> Option<i64> {
        Some(whole_ms(self.first_token_at? - self.started_at?))
    }

    /// Applies `event` in place; on an illegal event the context is unchanged.
    pub fn apply(&mut self, event: Event, now: OffsetDateTime) -> Result<(), TransitionError> {
        let refused = TransitionError {
            from: self.state,
            event: event.kind(),
        };
        let to = next_state(self.state, event.kind()).ok_or(refused.clone())?;
        if needs_attempt(event.kind()) && self.attempts == 0 {
            return Err(refused);
        }
        self.record(event, to, now);
        Ok(())
    }

    fn record(&mut self, event: Event, to: State, now: OffsetDateTime) {
        let kind = event.kind();
        match event {
            Event::InitiateRequest => self.started_at = Some(now),
            Event::RequestSent { provider, model } => {
                if self.attempts > 0 {
                    self.retries += 1;
                }
                self.attempts += 1;
                self.provider = Some(provider);
                self.model = Some(model);
            }
            Event::FirstChunkReceived => {
                self.first_token_at.get_or_insert(now);
                self.chunks += 1;
            }
            Event::ChunkReceived => self.chunks += 1,
            Event::ResponseReceived { usage, estimated }
            | Event::StreamCompleted { usage, estimated } => {
                self.first_token_at.get_or_insert(now);
                self.usage = usage;
                self.tokens_estimated = estimated;
                self.error = None;
            }
            Event::FallbackTriggered { from, to } => {
                self.fallback_from.get_or_insert(from);
                self.fallback_provider = Some(to);
            }
            Event::ValidationFailed { code, message } | Event::RequestFailed { code, message } => {
                self.error = Some((code, message));
            }
            Event::Cancelled => {
                self.error = Some((ErrorCode::Cancelled, "the client went away".into()));
            }
            Event::TimedOut => {
                self.error = Some((ErrorCode::Timeout, "the request deadline passed".into()));
            }
            Event::ValidationPassed
            | Event::RateLimitHit
            | Event::RateLimitCleared
            | Event::RetryScheduled { .. } => {}
        }
        if to.is_terminal() {
            self.ended_at = Some(now);
        }
        // Self-loops on chunks would bloat the timeline; record state changes and
        // every attempt.
        if to != self.state || kind == EventKind::RequestSent {
            self.timeline.push(TimelineEntry {
                state: to,
                event: kind,
                at_ms: unix_ms(now),
            });
        }
        self.state = to;
    }
}

/// The pure transition function: the context after `event`, or why it is illegal.
pub fn transition(
    mut context: Context,
    event: Event,
    now: OffsetDateTime,
) -> Result<Context, TransitionError> {
    context.apply(event, now)?;
    Ok(context)
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn whole_ms(d: time::Duration) -> i64 {
    d.whole_milliseconds() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ms: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap()
    }

    fn sample(kind: EventKind) -> Event {
        match kind {
            EventKind::InitiateRequest => Event::InitiateRequest,
            EventKind::ValidationPassed => Event::ValidationPassed,
            EventKind::ValidationFailed => Event::ValidationFailed {
                code: ErrorCode::InvalidRequest,
                message: "bad".into(),
            },
            EventKind::RequestSent => Event::RequestSent {
                provider: "p".into(),
                model: "m".into(),
            },
            EventKind::FirstChunkReceived => Event::FirstChunkReceived,
            EventKind::ChunkReceived => Event::ChunkReceived,
            EventKind::ResponseReceived => Event::ResponseReceived {
                usage: Usage::default(),
                estimated: false,
            },
            EventKind::StreamCompleted => Event::StreamCompleted {
                usage: Usage::default(),
                estimated: true,
            },
            EventKind::RateLimitHit => Event::RateLimitHit,
            EventKind::RateLimitCleared => Event::RateLimitCleared,
            EventKind::RetryScheduled => Event::RetryScheduled {
                code: ErrorCode::ServerError,
            },
            EventKind::FallbackTriggered => Event::FallbackTriggered {
                from: "a".into(),
                to: "b".into(),
            },
            EventKind::RequestFailed => Event::RequestFailed {
                code: ErrorCode::ServerError,
                message: "x".into(),
            },
            EventKind::Cancelled => Event::Cancelled,
            EventKind::TimedOut => Event::TimedOut,
        }
    }

    #[test]
    fn happy_stream_path_records_timeline() {
        let mut c = Context::new(RequestId::new());
        let steps = [
            EventKind::InitiateRequest,
            EventKind::ValidationPassed,
            EventKind::RequestSent,
            EventKind::FirstChunkReceived,
            EventKind::ChunkReceived,
            EventKind::ChunkReceived,
            EventKind::StreamCompleted,
        ];
        for (i, k) in steps.into_iter().enumerate() {
            c.apply(sample(k), t(1000 + i as i64 * 10)).unwrap();
        }
        assert_eq!(c.state, State::Completed);
        assert_eq!(c.chunks, 3);
        assert_eq!(c.attempts, 1);
        assert_eq!(c.duration_ms(), Some(60));
        assert_eq!(c.first_token_ms(), Some(30));
        let states: Vec<_> = c.timeline.iter().map(|e| e.state).collect();
        assert_eq!(
            states,
            vec![
                State::Validating,
                State::Requesting,
                State::Requesting,
                State::Streaming,
                State::Completed
            ]
        );
    }

    #[test]
    fn fallback_then_success() {
        let mut c = Context::new(RequestId::new());
        for e in [
            Event::InitiateRequest,
            Event::ValidationPassed,
            Event::RequestSent {
                provider: "claude".into(),
                model: "c".into(),
            },
            Event::FallbackTriggered {
                from: "claude".into(),
                to: "gemini".into(),
            },
            Event::RequestSent {
                provider: "gemini".into(),
                model: "g".into(),
            },
            Event::ResponseReceived {
                usage: Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                    ..Default::default()
                },
                estimated: false,
            },
        ] {
            c.apply(e, t(0)).unwrap();
        }
        assert!(c.is_fallback());
        assert_eq!(c.fallback_from.as_deref(), Some("claude"));
        assert_eq!(c.provider.as_deref(), Some("gemini"));
        assert_eq!((c.attempts, c.retries), (2, 1));
        assert_eq!(c.usage.total_tokens(), 7);
    }

    #[test]
    fn illegal_event_leaves_context_unchanged() {
        let c = Context::new(RequestId::new());
        let before = c.clone();
        let err = transition(
            c,
            Event::StreamCompleted {
                usage: Usage::default(),
                estimated: false,
            },
            t(0),
        )
        .unwrap_err();
        assert_eq!(err.from, State::Idle);
        let mut c = before.clone();
        assert!(c.apply(Event::ChunkReceived, t(0)).is_err());
        assert_eq!(c, before);
    }

    #[test]
    fn state_names_round_trip() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), s);
        }
    }

    fn any_kind() -> impl Strategy<Value = EventKind> {
        proptest::sample::select(EventKind::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn random_sequences_follow_the_table(kinds in proptest::collection::vec(any_kind(), 0..40)) {
            let mut c = Context::new(RequestId::new());
            let mut visited = vec![State::Idle];
            for (i, k) in kinds.into_iter().enumerate() {
                let from = c.state;
                let before = c.clone();
                let expected = next_state(from, k).filter(|_| !(needs_attempt(k) && c.attempts == 0));
                match c.apply(sample(k), t(i as i64)) {
                    Ok(()) => {
                        // Every accepted move is in the table, and terminal states accept nothing.
                        prop_assert!(!from.is_terminal());
                        prop_assert_eq!(Some(c.state), expected);
                        visited.push(c.state);
                    }
                    Err(e) => {
                        prop_assert_eq!(expected, None);
                        prop_assert_eq!(e, TransitionError { from, event: k });
                        prop_assert_eq!(&c, &before);
                    }
                }
            }
            if c.state == State::Completed {
                prop_assert!(visited.contains(&State::Requesting));
                prop_assert!(c.attempts >= 1, "completed without an attempt");
            }
            if c.state.is_terminal() {
                prop_assert!(c.ended_at.is_some());
            }
        }

        #[test]
        fn terminal_states_accept_no_event(k in any_kind()) {
            prop_assert_eq!(next_state(State::Completed, k), None);
            prop_assert_eq!(next_state(State::Failed, k), None);
        }
    }
}
