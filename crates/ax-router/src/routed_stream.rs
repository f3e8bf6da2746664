//! The stream a client receives once a provider's first chunk has arrived.
//!
//! It owns the request's [`Tracked`] from then on: each chunk is an event
//! (`FirstChunkReceived` was applied when the attempt won, `ChunkReceived` for every
//! later one), usage events are merged into a running total, and the stream ends with
//! exactly one of
//! - `StreamCompleted` when the upstream ends normally (usage estimated from the
//!   request and the streamed characters / 4, and marked so, when none arrived);
//! - `RequestFailed` on an upstream error item or an idle gap longer than the idle
//!   timeout, counted against the provider's health and circuit (nothing is retried
//!   after the first chunk: the client has already seen bytes). The router is the only
//!   owner of this idle deadline (the adapters keep none between chunks);
//! - `TimedOut` when the whole-request deadline passes (not the provider's fault);
//! - `Cancelled` when the stream is dropped before its end (the client went away); the
//!   upstream stream is dropped with it, and nothing is counted against the provider.
//!
//! The finish hook runs as soon as the end is known, so the log record does not wait
//! for the server to drop the body. The attempt's admission is settled at the end with
//! the tokens the stream used, whichever way it ended.
//!
//! One timer serves both deadlines (it is set to the earlier of the next idle deadline
//! and the request deadline): one allocation and one timer-wheel entry per stream, not
//! two.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use ax_core::lifecycle::{Context, Event};
use ax_core::{
    ChatStream, ErrorCode, GatewayError, Provider, StreamChunk, StreamEvent, Usage, WireFormat,
};
use futures::{FutureExt, Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::admission;
use crate::executor::OpenAttempt;
use crate::pending::complete_detached;
use crate::tracked::Tracked;

/// A routed, tracked stream of chunks from the provider that answered.
pub struct RoutedStream {
    tracked: Tracked,
    first: Option<StreamChunk>,
    inner: Option<ChatStream>,
    provider: Arc<dyn Provider>,
    /// What the end records and settles (taken when settled).
    open: Option<OpenAttempt>,
    idle_timeout: Duration,
    /// When the stream stalls if no chunk arrives before.
    idle_at: Instant,
    deadline: Instant,
    /// Fires at the earlier of `idle_at` and `deadline`.
    timer: Pin<Box<Sleep>>,
    usage: Usage,
    output_chars: u64,
    estimated_input: u64,
    done: bool,
}

impl fmt::Debug for RoutedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutedStream")
            .field("provider", &self.provider.name())
            .field("state", &self.tracked.context().state)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Everything a stream starts with.
pub(crate) struct Parts {
    pub(crate) tracked: Tracked,
    pub(crate) first: StreamChunk,
    pub(crate) inner: ChatStream,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) open: Option<OpenAttempt>,
    pub(crate) idle_timeout: Duration,
    pub(crate) deadline: Instant,
    pub(crate) estimated_input: u64,
}

impl RoutedStream {
    pub(crate) fn new(parts: Parts) -> Self {
        let idle_at = Instant::now() + parts.idle_timeout;
        Self {
            tracked: parts.tracked,
            first: Some(parts.first),
            inner: Some(parts.inner),
            provider: parts.provider,
            open: parts.open,
            idle_timeout: parts.idle_timeout,
            idle_at,
            deadline: parts.deadline,
            timer: Box::pin(tokio::time::sleep_until(idle_at.min(parts.deadline))),
            usage: Usage::default(),
            output_chars: 0,
            estimated_input: parts.estimated_input,
            done: false,
        }
    }

    /// The request's context so far (provider, model, attempts, fallback…).
    pub fn context(&self) -> &Context {
        self.tracked.context()
    }

    /// The request's context, to add what the caller learned (tags for the log).
    pub fn context_mut(&mut self) -> &mut Context {
        self.tracked.context_mut()
    }

    /// The wire format of the provider that answered (`None` for the mock).
    pub fn wire_format(&self) -> Option<WireFormat> {
        self.provider.wire_format()
    }

    /// Whether the provider that answered passes a `format` client's stream through:
    /// each chunk's `raw` frame may then go to the client unchanged.
    pub fn passes_through(&self, format: WireFormat) -> bool {
        self.provider.passes_through(format)
    }

    /// The name of the provider that answered.
    pub fn provider(&self) -> &str {
        self.provider.name()
    }

    /// Usage merged from the stream so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    fn observe(&mut self, chunk: &StreamChunk) {
        for event in &chunk.events {
            match event {
                StreamEvent::Usage(u) => self.usage.merge_max(u),
                StreamEvent::TextDelta { text } | StreamEvent::ReasoningDelta { text } => {
                    self.output_chars += text.len() as u64;
                }
                StreamEvent::ToolCallStart { name, .. } => self.output_chars += name.len() as u64,
                StreamEvent::ToolCallDelta { arguments, .. } => {
                    self.output_chars += arguments.len() as u64;
                }
                StreamEvent::Start { .. }
                | StreamEvent::ReasoningSignature { .. }
                | StreamEvent::Finish { .. } => {}
            }
        }
        self.idle_at = Instant::now() + self.idle_timeout;
        let wake = self.idle_at.min(self.deadline);
        self.timer.as_mut().reset(wake);
    }

    /// The usage to record: the provider's, with any part it never sent estimated from
    /// the request and the streamed characters / 4, and marked so. A stream that did
    /// not end normally never saw its final usage frame (Anthropic's `message_start`
    /// reports one output token, for one), so its output count is at least the
    /// estimate of what was streamed.
    fn final_usage(&self, ended_normally: bool) -> (Usage, bool) {
        let mut usage = self.usage;
        let mut estimated = false;
        if usage.input_tokens == 0 && self.estimated_input > 0 {
            usage.input_tokens = self.estimated_input;
            estimated = true;
        }
        let streamed = Usage::estimate_from_chars(self.output_chars);
        if (usage.output_tokens == 0 || !ended_normally) && streamed > usage.output_tokens {
            usage.output_tokens = streamed;
            estimated = true;
        }
        (usage, estimated)
    }

    /// Writes the final usage into the context, so a failed, timed-out or cancelled
    /// stream is logged with the tokens it did consume.
    fn record_usage(&mut self) -> Usage {
        let ended_normally = self.tracked.context().state == ax_core::lifecycle::State::Completed;
        let (usage, estimated) = self.final_usage(ended_normally);
        let ctx = self.tracked.context_mut();
        ctx.usage = usage;
        ctx.tokens_estimated = estimated;
        usage
    }

    fn end(&mut self) {
        self.done = true;
        // Dropping the upstream stream closes its connection.
        self.inner = None;
        self.settle();
        self.tracked.finish_in_place();
    }

    /// Records the final usage and settles the admission with its tokens.
    fn settle(&mut self) {
        let usage = self.record_usage();
        if let Some((admission, permit)) = self.open.as_mut().and_then(|o| o.admission.take()) {
            let spent = admission::Usage {
                tokens: usage.total_tokens(),
                cost_usd: None,
            };
            complete_detached(admission.settle(permit, spent));
        }
    }

    fn complete(&mut self) {
        let (usage, estimated) = self.final_usage(true);
        self.tracked
            .apply(Event::StreamCompleted { usage, estimated });
        self.end();
    }

    fn fail(&mut self, error: &GatewayError) {
        self.tracked.apply(Event::RequestFailed {
            code: error.code,
            message: error.message.clone(),
        });
        if error.counts_against_provider()
            && let Some(open) = &self.open
        {
            complete_detached(open.state.late_failure(&open.provider, error));
        }
        self.end();
    }
}

impl Stream for RoutedStream {
    type Item = Result<StreamChunk, GatewayError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(first) = this.first.take() {
            this.observe(&first);
            return Poll::Ready(Some(Ok(first)));
        }
        let Some(inner) = this.inner.as_mut() else {
            this.done = true;
            return Poll::Ready(None);
        };
        match inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.tracked.apply(Event::ChunkReceived);
                this.observe(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(mut e))) => {
                if e.provider.is_none() {
                    e.provider = Some(this.provider.name().to_owned());
                }
                this.fail(&e);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.complete();
                Poll::Ready(None)
            }
            Poll::Pending => {
                while this.timer.poll_unpin(cx).is_ready() {
                    let now = Instant::now();
                    if now >= this.idle_at {
                        let e = GatewayError::new(
                            ErrorCode::Timeout,
                            format!(
                                "the stream stalled: no chunk for {} ms",
                                this.idle_timeout.as_millis()
                            ),
                        )
                        .with_provider(this.provider.name());
                        this.fail(&e);
                        return Poll::Ready(Some(Err(e)));
                    }
                    if now >= this.deadline {
                        this.tracked.apply(Event::TimedOut);
                        this.end();
                        return Poll::Ready(Some(Err(GatewayError::new(
                            ErrorCode::Timeout,
                            "the request deadline passed while streaming",
                        ))));
                    }
                    // Woken early (never expected): wait for the earlier deadline again.
                    let wake = this.idle_at.min(this.deadline);
                    this.timer.as_mut().reset(wake);
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for RoutedStream {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The client went away: cancel the upstream first, then record the request.
        self.inner = None;
        if !self.tracked.context().state.is_terminal() {
            self.tracked.apply(Event::Cancelled);
        }
        self.settle();
        self.tracked.finish_in_place();
    }
}
