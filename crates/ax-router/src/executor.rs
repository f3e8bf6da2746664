//! The executor: one plain attempt loop over a plan of targets, generic over the
//! [`Operation`] (chat, streamed chat, embeddings; no nested tower retry layers). It
//! owns every deadline of a request: the whole-request deadline and the idle timeout
//! of a stream (before its first chunk here, between chunks in [`RoutedStream`]); the
//! provider adapters enforce none of their own between chunks.
//!
//! For each target, in order:
//! 1. the provider's circuit is asked first ([`ProviderState::acquire`]); an open
//!    circuit skips the target without any network call;
//! 2. the provider's rate limits are asked next ([`Admission::admit`] for
//!    [`Scope::Provider`], and only when the provider has an `rpm` or `tpm`); a
//!    limited provider is skipped when another target follows, otherwise the request
//!    waits in `RateLimited` for up to `max_queue` and then fails with 429
//!    `rate_limit_exceeded` (with `retry_after`);
//! 3. the call is made (`RequestSent`) under the request deadline. A retryable failure
//!    is retried on the same provider up to its `max_retries` with backoff
//!    (`RetryScheduled`), then the loop falls to the next target (`FallbackTriggered`).
//!    A failure of the client's making (`invalid_request`, `context_length_exceeded`,
//!    `content_filtered`, `not_found`) ends the request at once: no retry, no
//!    fallback. An upstream `authentication_error`/`permission_denied` marks the
//!    provider unhealthy and falls to the next target; so does an upstream
//!    `quota_exceeded` (the operator's billing, not the client's request).
//!
//! Every attempt's outcome is recorded on the provider state (successes, and failures
//! that count against the provider, feed its circuit and health), and its admission is
//! settled: with the real tokens on success, with none after an upstream error. When
//! every target failed the request ends with `all_providers_failed` listing each
//! attempt (a single-target plan ends with that target's own error instead, e.g.
//! `circuit_open` or the 429; when every target was rate limited the answer is a 429
//! with the soonest `retry_after`). Every step is an event on the request's lifecycle
//! (`Tracked`).
//!
//! Streams count as answered when their first chunk arrives: a failure before it is
//! retried or falls back like any other, invisibly to the client; after it, the
//! [`RoutedStream`] ends with an error item and nothing is retried. The stream carries
//! the attempt's admission to its end and settles it there.
//!
//! Hedging (a route's `hedge_after`): when the first target has not answered in time,
//! the second is started too; the first success wins and the loser is dropped
//! (cancelled). Hedged attempts are single attempts (no per-leg retries); when both
//! fail the loop continues with the third target.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use ax_core::lifecycle::{Event, State};
use ax_core::{
    ChatOutcome, ChatRequest, ChatResponse, ChatStream, ContentPart, EmbeddingRequest,
    EmbeddingResponse, ErrorCode, GatewayError, Provider, StreamChunk, TokenCount, Usage,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::time::{Instant, error::Elapsed, timeout_at};

use crate::adapters::{Adapters, Slot};
use crate::admission::{self, Admission, Ask, Permit, Scope};
use crate::planner::{Op, Plan, Target};
use crate::provider_state::{Attempt, Outcome, ProviderState};
use crate::routed_stream::RoutedStream;
use crate::router::RequestOptions;
use crate::routing_table::RoutingTable;
use crate::tracked::Tracked;

/// Output tokens charged against a TPM limit before the call when the request sets no
/// `max_tokens` (reconciled with the real usage afterwards).
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// The deadlines an [`Operation`] applies inside one call; the executor bounds the
/// whole call by the request deadline itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTimeouts {
    /// Longest wait for a stream's first chunk once the upstream accepted it.
    pub idle: Duration,
}

/// What a won call's output means for the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answered {
    /// The answer is whole: its usage (and whether it was estimated) is known.
    Complete {
        /// The usage to record.
        usage: Usage,
        /// Whether any of it was estimated.
        estimated: bool,
    },
    /// A stream whose first chunk arrived: its usage is known at its end.
    Streaming,
}

/// One kind of upstream call the executor can drive through a plan.
pub trait Operation: Sync {
    /// The plans it runs on (made by [`Router::plan_for`](crate::Router::plan_for)
    /// with this `Op`).
    const OP: Op;
    /// One successful call's output.
    type Output: Send;
    /// What the caller receives.
    type Answer;

    /// Tokens charged against a provider's tokens-per-minute limit before a call
    /// (asked only when a provider has limits).
    fn estimate(&self) -> u64;

    /// One call to `target`.
    fn call<'a>(
        &'a self,
        target: &'a Target,
        timeouts: CallTimeouts,
    ) -> BoxFuture<'a, Result<Self::Output, GatewayError>>;

    /// Whether `output` is a whole answer (and its usage) or a stream under way.
    fn answered(&self, output: &Self::Output) -> Answered;

    /// The caller's answer from the winning call.
    fn answer(&self, won: Won<Self::Output>) -> Self::Answer;
}

/// The call that won.
pub struct Won<T> {
    /// Its output.
    pub value: T,
    /// The provider that answered.
    pub provider: Arc<dyn Provider>,
    /// The request deadline.
    pub deadline: Instant,
    /// The provider's stream idle timeout.
    pub idle_timeout: Duration,
    /// For a [`Answered::Streaming`] output: what its end must record and settle.
    pub open: Option<OpenAttempt>,
}

/// The bookkeeping a stream carries to its end: its provider's state (a failure after
/// the first chunk counts against it) and its admission (settled with the tokens the
/// stream really used).
pub struct OpenAttempt {
    pub(crate) provider: Arc<str>,
    pub(crate) state: Arc<dyn ProviderState>,
    pub(crate) admission: Option<(Arc<dyn Admission>, Permit)>,
}

impl std::fmt::Debug for OpenAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAttempt")
            .field("provider", &self.provider)
            .field("admitted", &self.admission.is_some())
            .finish()
    }
}

/// A non-streamed chat completion.
#[derive(Debug, Clone, Copy)]
pub struct ChatOp<'r> {
    req: &'r ChatRequest,
}

impl<'r> ChatOp<'r> {
    /// The operation for `req`.
    pub fn new(req: &'r ChatRequest) -> Self {
        Self { req }
    }
}

/// Input estimate plus `max_tokens` (or a default) of output.
fn chat_estimate(req: &ChatRequest) -> u64 {
    req.estimated_input_tokens()
        + req
            .params
            .max_tokens
            .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from)
}

impl Operation for ChatOp<'_> {
    const OP: Op = Op::Chat;
    type Output = ChatOutcome;
    type Answer = ChatOutcome;

    fn estimate(&self) -> u64 {
        chat_estimate(self.req)
    }

    fn call<'a>(
        &'a self,
        target: &'a Target,
        _: CallTimeouts,
    ) -> BoxFuture<'a, Result<ChatOutcome, GatewayError>> {
        // The adapter's own boxed future: no second box.
        target.provider.chat(self.req, &target.model)
    }

    fn answered(&self, output: &ChatOutcome) -> Answered {
        let (usage, estimated) = chat_usage(self.req, &output.response);
        Answered::Complete { usage, estimated }
    }

    fn answer(&self, won: Won<ChatOutcome>) -> ChatOutcome {
        won.value
    }
}

/// A streamed chat completion, won at its first chunk.
#[derive(Debug, Clone, Copy)]
pub struct ChatStreamOp<'r> {
    req: &'r ChatRequest,
    estimated_input: u64,
}

impl<'r> ChatStreamOp<'r> {
    /// The operation for `req`.
    pub fn new(req: &'r ChatRequest) -> Self {
        Self {
            req,
            // A stream's usage may never arrive: its input is estimated up front.
            estimated_input: req.estimated_input_tokens(),
        }
    }
}

impl Operation for ChatStreamOp<'_> {
    const OP: Op = Op::Chat;
    type Output = (StreamChunk, ChatStream);
    type Answer = StreamStart;

    fn estimate(&self) -> u64 {
        self.estimated_input
            + self
                .req
                .params
                .max_tokens
                .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from)
    }

    fn call<'a>(
        &'a self,
        target: &'a Target,
        timeouts: CallTimeouts,
    ) -> BoxFuture<'a, Result<(StreamChunk, ChatStream), GatewayError>> {
        let idle = timeouts.idle;
        Box::pin(async move {
            let p = &target.provider;
            let mut stream = p.chat_stream(self.req, &target.model).await?;
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(Ok(first))) => Ok((first, stream)),
                Ok(Some(Err(e))) => Err(e),
                Ok(None) => Err(GatewayError::new(
                    ErrorCode::ServerError,
                    "the upstream ended the stream before its first chunk",
                )
                .with_provider(p.name())),
                Err(_) => Err(GatewayError::new(
                    ErrorCode::Timeout,
                    format!("no stream chunk within {} ms", idle.as_millis()),
                )
                .with_provider(p.name())),
            }
        })
    }

    fn answered(&self, _: &Self::Output) -> Answered {
        Answered::Streaming
    }

    fn answer(&self, won: Won<Self::Output>) -> StreamStart {
        let Won {
            value: (first, inner),
            provider,
            deadline,
            idle_timeout,
            open,
        } = won;
        StreamStart {
            first,
            inner,
            provider,
            open,
            idle_timeout,
            deadline,
            estimated_input: self.estimated_input,
        }
    }
}

/// A stream whose first chunk arrived, not yet handed its request's [`Tracked`].
pub struct StreamStart {
    first: StreamChunk,
    inner: ChatStream,
    provider: Arc<dyn Provider>,
    open: Option<OpenAttempt>,
    idle_timeout: Duration,
    deadline: Instant,
    estimated_input: u64,
}

impl std::fmt::Debug for StreamStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamStart")
            .field("provider", &self.provider.name())
            .finish_non_exhaustive()
    }
}

impl StreamStart {
    /// The provider that answered.
    pub fn provider(&self) -> &str {
        self.provider.name()
    }

    /// The client's stream: it owns `tracked` from now on and finishes it at its end.
    pub fn into_stream(self, tracked: Tracked) -> RoutedStream {
        RoutedStream::new(crate::routed_stream::Parts {
            tracked,
            first: self.first,
            inner: self.inner,
            provider: self.provider,
            open: self.open,
            idle_timeout: self.idle_timeout,
            deadline: self.deadline,
            estimated_input: self.estimated_input,
        })
    }
}

/// Embeddings for every input.
#[derive(Debug, Clone, Copy)]
pub struct EmbedOp<'r> {
    req: &'r EmbeddingRequest,
}

impl<'r> EmbedOp<'r> {
    /// The operation for `req`.
    pub fn new(req: &'r EmbeddingRequest) -> Self {
        Self { req }
    }
}

impl Operation for EmbedOp<'_> {
    const OP: Op = Op::Embed;
    type Output = EmbeddingResponse;
    type Answer = EmbeddingResponse;

    fn estimate(&self) -> u64 {
        let chars: u64 = self.req.input.texts().iter().map(|t| t.len() as u64).sum();
        chars.div_ceil(4).max(1)
    }

    fn call<'a>(
        &'a self,
        target: &'a Target,
        _: CallTimeouts,
    ) -> BoxFuture<'a, Result<EmbeddingResponse, GatewayError>> {
        target.provider.embed(self.req, &target.model)
    }

    fn answered(&self, output: &EmbeddingResponse) -> Answered {
        if output.usage.is_empty() {
            Answered::Complete {
                usage: Usage {
                    input_tokens: self.estimate(),
                    ..Usage::default()
                },
                estimated: true,
            }
        } else {
            Answered::Complete {
                usage: output.usage,
                estimated: false,
            }
        }
    }

    fn answer(&self, won: Won<EmbeddingResponse>) -> EmbeddingResponse {
        won.value
    }
}

/// Counting a chat request's input tokens, asked of the chat model's provider (its count
/// endpoint, its tokenizer, or the gateway's estimate: [`Provider::count_tokens`]).
#[derive(Debug, Clone, Copy)]
pub struct CountTokensOp<'r> {
    req: &'r ChatRequest,
}

impl<'r> CountTokensOp<'r> {
    /// The operation for `req`.
    pub fn new(req: &'r ChatRequest) -> Self {
        Self { req }
    }
}

impl Operation for CountTokensOp<'_> {
    const OP: Op = Op::CountTokens;
    type Output = TokenCount;
    type Answer = TokenCount;

    /// A count call generates nothing; a provider's token limit is charged only a
    /// token per call, reconciled with the count itself afterwards.
    fn estimate(&self) -> u64 {
        1
    }

    fn call<'a>(
        &'a self,
        target: &'a Target,
        _: CallTimeouts,
    ) -> BoxFuture<'a, Result<TokenCount, GatewayError>> {
        target.provider.count_tokens(self.req, &target.model)
    }

    /// The count is the request's usage: its input, nothing generated; estimated when
    /// the count is.
    fn answered(&self, output: &TokenCount) -> Answered {
        Answered::Complete {
            usage: output.usage(),
            estimated: !output.exact,
        }
    }

    fn answer(&self, won: Won<TokenCount>) -> TokenCount {
        won.value
    }
}

/// The attempt loop, over the router's parts.
#[derive(Clone, Copy)]
pub(crate) struct Executor<'r> {
    pub(crate) table: &'r RoutingTable,
    pub(crate) adapters: &'r Adapters,
    pub(crate) state: &'r Arc<dyn ProviderState>,
    pub(crate) admission: &'r Arc<dyn Admission>,
}

/// Per-request bookkeeping of the attempt loop.
struct Run {
    deadline: Instant,
    /// The token estimate, computed when a limited provider first needs it.
    estimate: Option<u64>,
    failures: Vec<Failure>,
    last_error: Option<GatewayError>,
}

/// One failed (or skipped) attempt, for the final error message.
struct Failure {
    provider: String,
    /// The target's model, for a log row of a request refused before any call.
    model: String,
    code: ErrorCode,
    retry_after: Option<Duration>,
}

impl Run {
    fn record(&mut self, target: &Target, error: GatewayError) {
        self.failures.push(Failure {
            provider: target.provider.name().to_owned(),
            model: target.model.clone(),
            code: error.code,
            retry_after: error.retry_after,
        });
        self.last_error = Some(error);
    }

    fn estimate(&mut self, op: &impl Operation) -> u64 {
        *self.estimate.get_or_insert_with(|| op.estimate())
    }
}

/// A call that may be made: its circuit attempt and its admission.
struct Admitted {
    attempt: Attempt,
    permit: Permit,
}

/// A successful attempt, before the caller's answer is made of it.
struct Winner<'r, T> {
    value: T,
    slot: &'r Slot,
    provider: Arc<dyn Provider>,
    permit: Permit,
}

enum Admit {
    Ok(Admitted),
    Skip,
    Deadline,
}

enum Step<'r, T> {
    Won(Winner<'r, T>),
    /// This target is done; try the next one.
    Next,
    /// The client's own mistake: end the request with this error.
    Client(GatewayError),
    Deadline,
}

enum Hedge<'r, T> {
    /// Hedging did not start (the first target could not be called right now).
    NotStarted,
    /// Only the first target ran (it answered before `hedge_after`, or the second
    /// could not be started); this is its outcome.
    FirstOnly(Step<'r, T>),
    /// Both ran; this is the outcome.
    Done(Step<'r, T>),
}

enum Settled<'r, T> {
    Won(Winner<'r, T>),
    Client(GatewayError),
    Deadline,
    Failed { retryable: bool },
}

fn step_of<T>(s: Settled<'_, T>) -> Step<'_, T> {
    match s {
        Settled::Won(w) => Step::Won(w),
        Settled::Client(e) => Step::Client(e),
        Settled::Deadline => Step::Deadline,
        Settled::Failed { .. } => Step::Next,
    }
}

impl<'r> Executor<'r> {
    /// The request deadline: the router's `request_timeout` from now, or the caller's
    /// deadline when earlier.
    fn deadline(&self, opts: &RequestOptions) -> Instant {
        let own = Instant::now() + self.table.request_timeout();
        opts.deadline.map_or(own, |d| d.min(own))
    }

    fn slot(&self, target: &Target) -> Result<&'r Slot, GatewayError> {
        self.adapters.slot_of(target, self.table).ok_or_else(|| {
            GatewayError::new(
                ErrorCode::ServerError,
                format!("provider `{}` is not registered", target.provider.name()),
            )
        })
    }

    /// Runs `op` along `plan` (the body of [`Router::execute`](crate::Router::execute)).
    /// On success the answer's event (`ResponseReceived` or `FirstChunkReceived`) is
    /// applied; on failure the lifecycle is already `Failed`.
    pub(crate) async fn run<O: Operation>(
        &self,
        op: &O,
        plan: Plan,
        opts: &RequestOptions,
        tracked: &mut Tracked,
    ) -> Result<O::Answer, GatewayError> {
        begin(tracked)?;
        if plan.op != O::OP {
            // A plan is validated for one operation: running another on it would
            // skip that validation (an embeddings request on a chat plan would fall
            // back to chat models).
            let e = GatewayError::new(
                ErrorCode::ServerError,
                format!("a plan made for {} cannot run {}", plan.op, O::OP),
            );
            return Err(fail(tracked, e));
        }
        let mut run = Run {
            deadline: self.deadline(opts),
            estimate: None,
            failures: Vec::new(),
            last_error: None,
        };
        let winner = self.attempts(op, &plan, &mut run, tracked).await?;
        let Winner {
            value,
            slot,
            provider,
            permit,
        } = winner;
        let open = match op.answered(&value) {
            Answered::Complete { usage, estimated } => {
                self.settle_admission(permit, usage.total_tokens()).await;
                tracked.apply(Event::ResponseReceived { usage, estimated });
                None
            }
            Answered::Streaming => {
                tracked.apply(Event::FirstChunkReceived);
                Some(OpenAttempt {
                    provider: Arc::clone(&slot.name),
                    state: Arc::clone(self.state),
                    admission: (!permit.grants.is_empty())
                        .then(|| (Arc::clone(self.admission), permit)),
                })
            }
        };
        Ok(op.answer(Won {
            value,
            provider,
            deadline: run.deadline,
            idle_timeout: slot.idle_timeout,
            open,
        }))
    }

    /// Replaces a permit's estimate with what the call used (nothing to do for a
    /// provider without limits).
    async fn settle_admission(&self, permit: Permit, tokens: u64) {
        if permit.grants.is_empty() {
            return;
        }
        let usage = admission::Usage {
            tokens,
            cost_usd: None,
        };
        self.admission.settle(permit, usage).await;
    }

    async fn attempts<'p, O: Operation>(
        &self,
        op: &O,
        plan: &'p Plan,
        run: &mut Run,
        tracked: &mut Tracked,
    ) -> Result<Winner<'r, O::Output>, GatewayError> {
        let targets = &plan.targets;
        let mut start = 0;
        if let (Some(after), [first, second, ..]) = (plan.hedge_after, targets.as_slice()) {
            // Boxed: the hedging race is a large future that most plans never run, and
            // inline it would be copied with every request's future.
            match Box::pin(self.hedged(op, first, second, after, run, tracked)).await {
                Hedge::NotStarted => {}
                Hedge::Done(step) => match self.conclude(step, run, tracked) {
                    Some(result) => return result,
                    None => {
                        start = 2;
                        if let Some(next) = targets.get(2) {
                            fallback_event(tracked, second, next);
                        }
                    }
                },
                Hedge::FirstOnly(step) => match self.conclude(step, run, tracked) {
                    Some(result) => return result,
                    None => {
                        start = 1;
                        fallback_event(tracked, first, second);
                    }
                },
            }
        }
        for i in start..targets.len() {
            let target = &targets[i];
            let next = targets.get(i + 1);
            let step = self
                .try_target(op, target, next.is_some(), run, tracked)
                .await;
            if let Some(result) = self.conclude(step, run, tracked) {
                return result;
            }
            if let Some(next) = next {
                fallback_event(tracked, target, next);
            }
        }
        Err(all_failed(run, targets.len(), tracked))
    }

    /// Ends the request for a decisive step; `None` to go on with the next target.
    fn conclude<T>(
        &self,
        step: Step<'r, T>,
        run: &mut Run,
        tracked: &mut Tracked,
    ) -> Option<Result<Winner<'r, T>, GatewayError>> {
        match step {
            Step::Won(w) => Some(Ok(w)),
            Step::Next => None,
            Step::Client(e) => Some(Err(fail(tracked, e))),
            Step::Deadline => {
                tracked.apply(Event::TimedOut);
                let mut message = String::from("the request deadline passed");
                if !run.failures.is_empty() {
                    let _ = write!(message, " after: {}", attempts_list(&run.failures));
                }
                Some(Err(GatewayError::new(ErrorCode::Timeout, message)))
            }
        }
    }

    /// Everything that happens on one target: admission, the call, retries.
    async fn try_target<O: Operation>(
        &self,
        op: &O,
        target: &Target,
        has_next: bool,
        run: &mut Run,
        tracked: &mut Tracked,
    ) -> Step<'r, O::Output> {
        let slot = match self.slot(target) {
            Ok(s) => s,
            Err(e) => return Step::Client(e),
        };
        let timeouts = CallTimeouts {
            idle: slot.idle_timeout,
        };
        let mut retry = 0u32;
        loop {
            if Instant::now() >= run.deadline {
                return Step::Deadline;
            }
            let admitted = match self
                .admit(op, target, slot, has_next, retry == 0, run, tracked)
                .await
            {
                Admit::Ok(a) => a,
                Admit::Skip => return Step::Next,
                Admit::Deadline => return Step::Deadline,
            };
            sent(tracked, target);
            let started = Instant::now();
            let result = timeout_at(run.deadline, op.call(target, timeouts)).await;
            match self
                .settle(target, slot, admitted, result, started, run)
                .await
            {
                Settled::Won(w) => return Step::Won(w),
                Settled::Client(e) => return Step::Client(e),
                Settled::Deadline => return Step::Deadline,
                Settled::Failed { retryable: false } => return Step::Next,
                Settled::Failed { retryable: true } => {
                    let retry_after = run.last_error.as_ref().and_then(|e| e.retry_after);
                    let code = run
                        .last_error
                        .as_ref()
                        .map_or(ErrorCode::ServerError, |e| e.code);
                    if retry >= slot.max_retries {
                        return Step::Next;
                    }
                    let Some(delay) = self.table.backoff().delay_before(
                        retry,
                        retry_after,
                        Instant::now(),
                        run.deadline,
                    ) else {
                        return Step::Next;
                    };
                    tracked.apply(Event::RetryScheduled { code });
                    let name = metrics::SharedString::from_shared(Arc::clone(&slot.name));
                    metrics::counter!("ax_retries_total", "provider" => name).increment(1);
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
            }
        }
    }

    /// The provider's admission of one call: a permit for nothing when it has no
    /// limits (the admission seam is not asked at all), else its answer.
    async fn admit_provider<O: Operation>(
        &self,
        op: &O,
        slot: &Slot,
        run: &mut Run,
    ) -> Result<Permit, admission::Refusal> {
        if slot.limits.rpm.is_none() && slot.limits.tpm.is_none() {
            return Ok(Permit::empty());
        }
        let estimate = run.estimate(op);
        let asks = [Ask {
            scope: Scope::Provider(Arc::clone(&slot.name)),
            limits: slot.limits,
        }];
        self.admission.admit(&asks, estimate).await
    }

    /// Circuit, then rate limit (skipping or queueing). A circuit that opened during
    /// this target's own retries ends them without being recorded as another attempt:
    /// the failures that opened it are the story.
    #[expect(
        clippy::too_many_arguments,
        reason = "the loop's state, passed down one level"
    )]
    async fn admit<O: Operation>(
        &self,
        op: &O,
        target: &Target,
        slot: &Slot,
        can_skip: bool,
        first_attempt: bool,
        run: &mut Run,
        tracked: &mut Tracked,
    ) -> Admit {
        let name = target.provider.name();
        let mut queued_since: Option<Instant> = None;
        loop {
            let attempt = match self.state.acquire(&slot.name).await {
                Ok(a) => a,
                Err(_) if !first_attempt => return Admit::Skip,
                Err(rejected) => {
                    let e = GatewayError::new(
                        ErrorCode::CircuitOpen,
                        format!(
                            "provider `{name}` circuit is {}: skipped without calling it",
                            rejected.state.as_str()
                        ),
                    )
                    .with_provider(name);
                    run.record(target, e);
                    return Admit::Skip;
                }
            };
            match self.admit_provider(op, slot, run).await {
                Ok(permit) => {
                    if queued_since.is_some() {
                        tracked.apply(Event::RateLimitCleared);
                    }
                    return Admit::Ok(Admitted { attempt, permit });
                }
                Err(refusal) => {
                    self.state.record(attempt, Outcome::NotCounted).await;
                    metrics::counter!(
                        "ax_rate_limited_total",
                        "scope" => refusal.scope.metric_label(refusal.is_quota())
                    )
                    .increment(1);
                    let e = *refusal.error;
                    let now = Instant::now();
                    let Some(wait) = e.retry_after.filter(|_| !can_skip) else {
                        run.record(target, e);
                        return Admit::Skip;
                    };
                    let since = match queued_since {
                        Some(s) => s,
                        None => {
                            tracked.apply(Event::RateLimitHit);
                            *queued_since.insert(now)
                        }
                    };
                    let budget_end = (since + self.table.max_queue()).min(run.deadline);
                    if now + wait > budget_end {
                        run.record(target, e);
                        return if now >= run.deadline {
                            Admit::Deadline
                        } else {
                            Admit::Skip
                        };
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Admission without waiting (for hedging): `None` if the target cannot be called
    /// right now; nothing is recorded then (the plain loop will try it properly).
    async fn admit_now<O: Operation>(
        &self,
        op: &O,
        slot: &Slot,
        run: &mut Run,
    ) -> Option<Admitted> {
        let attempt = self.state.acquire(&slot.name).await.ok()?;
        match self.admit_provider(op, slot, run).await {
            Ok(permit) => Some(Admitted { attempt, permit }),
            Err(_) => {
                self.state.record(attempt, Outcome::NotCounted).await;
                None
            }
        }
    }

    /// Races the first two targets once the first has not answered within `after`.
    async fn hedged<O: Operation>(
        &self,
        op: &O,
        first: &Target,
        second: &Target,
        after: Duration,
        run: &mut Run,
        tracked: &mut Tracked,
    ) -> Hedge<'r, O::Output> {
        let (Ok(slot0), Ok(slot1)) = (self.slot(first), self.slot(second)) else {
            return Hedge::NotStarted;
        };
        let Some(adm0) = self.admit_now(op, slot0, run).await else {
            return Hedge::NotStarted;
        };
        sent(tracked, first);
        let started0 = Instant::now();
        let timeouts0 = CallTimeouts {
            idle: slot0.idle_timeout,
        };
        let mut f0 = std::pin::pin!(timeout_at(run.deadline, op.call(first, timeouts0)));
        let hedge_at = started0 + after;
        tokio::select! {
            biased;
            r = &mut f0 => {
                let s = self.settle(first, slot0, adm0, r, started0, run).await;
                return Hedge::FirstOnly(step_of(s));
            }
            () = tokio::time::sleep_until(hedge_at) => {}
        }
        let Some(adm1) = self.admit_now(op, slot1, run).await else {
            // The second target cannot be called now: wait for the first alone.
            let r = f0.await;
            let s = self.settle(first, slot0, adm0, r, started0, run).await;
            return Hedge::FirstOnly(step_of(s));
        };
        // The lifecycle has no hedge event: the second start reads as a fallback in the
        // timeline (and is undone below if the first target wins), but it is not
        // counted in `ax_fallbacks_total`.
        tracked.apply(Event::FallbackTriggered {
            from: first.provider.name().to_owned(),
            to: second.provider.name().to_owned(),
        });
        sent(tracked, second);
        let started1 = Instant::now();
        let timeouts1 = CallTimeouts {
            idle: slot1.idle_timeout,
        };
        let mut f1 = std::pin::pin!(timeout_at(run.deadline, op.call(second, timeouts1)));
        let (mut adm0, mut adm1) = (Some(adm0), Some(adm1));
        loop {
            let (which, r) = tokio::select! {
                r = &mut f0, if adm0.is_some() => (0, r),
                r = &mut f1, if adm1.is_some() => (1, r),
            };
            let step = if which == 0 {
                let Some(a) = adm0.take() else { continue };
                step_of(self.settle(first, slot0, a, r, started0, run).await)
            } else {
                let Some(a) = adm1.take() else { continue };
                step_of(self.settle(second, slot1, a, r, started1, run).await)
            };
            if !matches!(step, Step::Next) {
                // The other leg, if still running, is dropped below with its call.
                if let Some(a) = adm0.take().or_else(|| adm1.take()) {
                    self.abandon(a).await;
                }
            }
            match step {
                Step::Next if adm0.is_some() || adm1.is_some() => continue,
                Step::Won(w) => {
                    if which == 0 {
                        // The first target won after all: the record says so.
                        let ctx = tracked.context_mut();
                        ctx.provider = Some(first.provider.name().to_owned());
                        ctx.model = Some(first.model.clone());
                        ctx.fallback_provider = None;
                        ctx.fallback_from = None;
                    }
                    // The loser's future is dropped here: the upstream call is
                    // cancelled, and its unrecorded attempt records nothing.
                    return Hedge::Done(Step::Won(w));
                }
                other => return Hedge::Done(other),
            }
        }
    }

    /// A call dropped unfinished (the deadline passed, or the other hedged leg
    /// decided): nothing counts against the provider, and the admission keeps its
    /// estimate (the call may have cost it).
    async fn abandon(&self, admitted: Admitted) {
        let Admitted { attempt, permit } = admitted;
        self.state.record(attempt, Outcome::NotCounted).await;
        let charged = permit.grants.first().map_or(0, |g| g.charged);
        self.settle_admission(permit, charged).await;
    }

    /// Books the result of one call on the provider's state and its admission.
    async fn settle<T>(
        &self,
        target: &Target,
        slot: &'r Slot,
        admitted: Admitted,
        result: Result<Result<T, GatewayError>, Elapsed>,
        started: Instant,
        run: &mut Run,
    ) -> Settled<'r, T> {
        let name = target.provider.name();
        let Admitted { attempt, permit } = admitted;
        match result {
            // The request deadline passed mid-call: not the provider's fault, not
            // counted; the estimate stays charged (the call may have cost it).
            Err(_) => {
                self.abandon(Admitted { attempt, permit }).await;
                Settled::Deadline
            }
            Ok(Ok(value)) => {
                let latency = started.elapsed();
                self.state
                    .record(attempt, Outcome::Success { latency })
                    .await;
                Settled::Won(Winner {
                    value,
                    slot,
                    provider: Arc::clone(&target.provider),
                    permit,
                })
            }
            Ok(Err(mut e)) => {
                // It came from this provider's call, whatever the adapter filled in.
                if e.provider.is_none() {
                    e.provider = Some(name.to_owned());
                }
                // Upstream errors consume no tokens worth charging.
                self.settle_admission(permit, 0).await;
                let disposition = disposition(&e);
                if disposition == Disposition::Client {
                    self.state.record(attempt, Outcome::NotCounted).await;
                    return Settled::Client(e);
                }
                if e.credentials_refused {
                    tracing::warn!(
                        provider = name,
                        model = %target.model,
                        code = %e.code,
                        upstream_status = e.upstream_status,
                        message = %e.message,
                        "the upstream refused the gateway's credentials for this provider; \
                         check its API key"
                    );
                }
                let outcome = if e.counts_against_provider() {
                    Outcome::Failure(&e)
                } else {
                    Outcome::NotCounted
                };
                self.state.record(attempt, outcome).await;
                tracing::debug!(provider = name, model = %target.model, code = %e.code, "attempt failed");
                run.record(target, e);
                Settled::Failed {
                    retryable: disposition == Disposition::Retry,
                }
            }
        }
    }
}

/// The final error when no target answered.
fn all_failed(run: &mut Run, targets: usize, tracked: &mut Tracked) -> GatewayError {
    let last = run.last_error.take();
    let all_rate_limited = !run.failures.is_empty()
        && run
            .failures
            .iter()
            .all(|f| f.code == ErrorCode::RateLimitExceeded);
    let soonest = run.failures.iter().filter_map(|f| f.retry_after).min();
    let error = match last {
        Some(e) if targets == 1 => {
            // A refusal before any call (an open circuit, a full rate limit) names
            // the target's model, as `fail` names its provider.
            if tracked.context().model.is_none()
                && let Some(f) = run.failures.last()
            {
                tracked.context_mut().model = Some(f.model.clone());
            }
            refused_credentials_message(e)
        }
        // Every target was rate limited: the client should come back later (429).
        _ if all_rate_limited => GatewayError::new(
            ErrorCode::RateLimitExceeded,
            format!(
                "every provider is rate limited: {}",
                attempts_list(&run.failures)
            ),
        )
        .with_retry_after(soonest),
        _ => GatewayError::new(
            ErrorCode::AllProvidersFailed,
            format!("every provider failed: {}", attempts_list(&run.failures)),
        )
        .with_retry_after(soonest),
    };
    fail(tracked, error)
}

/// The client's message when the upstream refused the gateway's own credentials: a
/// configuration error for the operator (502), not the client's invalid key. The
/// upstream's own words stay in the provider's `last_error` and the warning logged.
fn refused_credentials_message(mut e: GatewayError) -> GatewayError {
    if e.credentials_refused {
        let provider = e.provider.as_deref().unwrap_or("?");
        let status = e
            .upstream_status
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        e.message = format!(
            "the gateway's credentials for provider `{provider}` were refused by the \
             upstream{status}; the operator must check its API key"
        );
    }
    e
}

/// `provider: code` of each attempt, in order.
fn attempts_list(failures: &[Failure]) -> String {
    failures
        .iter()
        .map(|f| format!("{}: {}", f.provider, f.code))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the router treats a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Retry the same provider, then fall back.
    Retry,
    /// The provider's (or its operator's) problem: fall back without retrying.
    NextTarget,
    /// The client's request is at fault: return it.
    Client,
}

fn disposition(e: &GatewayError) -> Disposition {
    if e.is_retryable() {
        return Disposition::Retry;
    }
    match e.code {
        ErrorCode::AuthenticationError
        | ErrorCode::PermissionDenied
        | ErrorCode::QuotaExceeded
        | ErrorCode::CircuitOpen
        | ErrorCode::AllProvidersFailed
        | ErrorCode::Cancelled => Disposition::NextTarget,
        ErrorCode::InvalidRequest
        | ErrorCode::NotFound
        | ErrorCode::ContentFiltered
        | ErrorCode::ContextLengthExceeded => Disposition::Client,
        // Retryable codes were handled above.
        ErrorCode::RateLimitExceeded
        | ErrorCode::ServerError
        | ErrorCode::Overloaded
        | ErrorCode::Timeout
        | ErrorCode::NetworkError => Disposition::Retry,
    }
}

/// Brings a request handed to the router into `Requesting`.
pub(crate) fn begin(tracked: &mut Tracked) -> Result<(), GatewayError> {
    match tracked.context().state {
        State::Idle => {
            tracked.apply(Event::InitiateRequest);
            tracked.apply(Event::ValidationPassed);
        }
        State::Validating => {
            tracked.apply(Event::ValidationPassed);
        }
        State::Requesting | State::Retrying => {}
        other => {
            return Err(GatewayError::new(
                ErrorCode::ServerError,
                format!("the request is already {other}; it cannot be routed"),
            ));
        }
    }
    Ok(())
}

/// Ends the request with `error` (`RequestFailed`) and hands the error back.
pub(crate) fn fail(tracked: &mut Tracked, error: GatewayError) -> GatewayError {
    // A request refused before any call (an open circuit, a full rate limit) is still
    // attributed to the provider that refused it, so per-provider logs and stats show it.
    if tracked.context().provider.is_none()
        && let Some(p) = &error.provider
    {
        tracked.context_mut().provider = Some(p.clone());
    }
    tracked.apply(Event::RequestFailed {
        code: error.code,
        message: error.message.clone(),
    });
    error
}

fn sent(tracked: &mut Tracked, target: &Target) {
    tracked.apply(Event::RequestSent {
        provider: target.provider.name().to_owned(),
        model: target.model.clone(),
    });
}

fn fallback_event(tracked: &mut Tracked, from: &Target, to: &Target) {
    let (from, to) = (from.provider.name(), to.provider.name());
    metrics::counter!("ax_fallbacks_total", "from" => from.to_owned(), "to" => to.to_owned())
        .increment(1);
    tracked.apply(Event::FallbackTriggered {
        from: from.to_owned(),
        to: to.to_owned(),
    });
}

/// The usage to record for a chat answer: the provider's, or an estimate (input from
/// the request, output from the answer's characters / 4) when it reported none.
fn chat_usage(req: &ChatRequest, resp: &ChatResponse) -> (Usage, bool) {
    // The common case, both counts reported, walks neither the request nor the answer.
    if resp.usage.input_tokens > 0 && resp.usage.output_tokens > 0 {
        return (resp.usage, false);
    }
    let out_chars: usize = resp
        .content
        .iter()
        .map(|p| match p {
            ContentPart::Text { text } | ContentPart::Reasoning { text, .. } => text.len(),
            ContentPart::ToolCall {
                name, arguments, ..
            } => name.len() + arguments.len(),
            _ => 0,
        })
        .sum();
    // Each count the provider left out is estimated on its own: a reply with
    // `prompt_tokens` but no `completion_tokens` is partial, not zero output.
    let mut usage = resp.usage;
    let estimated = usage.fill_unreported(
        req.estimated_input_tokens(),
        Usage::estimate_from_chars(out_chars as u64),
    );
    (usage, estimated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions() {
        let up = |c| GatewayError::new(c, "x").with_provider("p");
        assert_eq!(disposition(&up(ErrorCode::ServerError)), Disposition::Retry);
        assert_eq!(
            disposition(&up(ErrorCode::RateLimitExceeded)),
            Disposition::Retry
        );
        assert_eq!(
            disposition(&up(ErrorCode::AuthenticationError)),
            Disposition::NextTarget
        );
        assert_eq!(
            disposition(&up(ErrorCode::QuotaExceeded)),
            Disposition::NextTarget
        );
        assert_eq!(
            disposition(&up(ErrorCode::InvalidRequest)),
            Disposition::Client
        );
        assert_eq!(
            disposition(&up(ErrorCode::ContextLengthExceeded)),
            Disposition::Client
        );
        assert_eq!(
            disposition(&up(ErrorCode::ContentFiltered)),
            Disposition::Client
        );
    }
}
