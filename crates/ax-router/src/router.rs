//! The executor: one plain attempt loop over a plan of targets, shared by chat,
//! streamed chat and embeddings (no nested tower retry layers).
//!
//! For each target, in order:
//! 1. the circuit breaker is asked first; an open circuit skips the target without any
//!    network call;
//! 2. the provider's rate limiter is asked next; a limited provider is skipped when
//!    another target follows, otherwise the request waits in `RateLimited` for up to
//!    `max_queue` and then fails with 429 `rate_limit_exceeded` (with `retry_after`);
//! 3. the call is made (`RequestSent`) under the request deadline. A retryable failure
//!    is retried on the same provider up to its `max_retries` with backoff
//!    (`RetryScheduled`), then the loop falls to the next target (`FallbackTriggered`).
//!    A failure of the client's making (`invalid_request`, `context_length_exceeded`,
//!    `content_filtered`, `not_found`) ends the request at once: no retry, no
//!    fallback. An upstream `authentication_error`/`permission_denied` marks the
//!    provider unhealthy and falls to the next target; so does an upstream
//!    `quota_exceeded` (the operator's billing, not the client's request).
//!
//! Successes and counted failures (`counts_against_provider`) feed the provider's
//! circuit breaker and health. When every target failed the request ends with
//! `all_providers_failed` listing each attempt (a single-target plan ends with that
//! target's own error instead, e.g. `circuit_open` or the 429; when every target was
//! rate limited the answer is a 429 with the soonest `retry_after`). The whole loop is
//! bounded by the request deadline (`timeout`). Every step is an event on the request's
//! lifecycle (`Tracked`).
//!
//! Streams count as answered when their first chunk arrives: a failure before it is
//! retried or falls back like any other, invisibly to the client; after it, the
//! [`RoutedStream`] ends with an error item and nothing is retried.
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
    ChatOutcome, ChatRequest, ChatResponse, ContentPart, EmbeddingRequest, EmbeddingResponse,
    ErrorCode, GatewayError, Provider, Usage,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::time::{Instant, error::Elapsed, timeout_at};

use crate::adapters::{self, Adapters, ProviderRuntime};
use crate::backoff::Backoff;
use crate::circuit_breaker::CircuitSnapshot;
use crate::config::RouterConfig;
use crate::error::RouterError;
use crate::pending::complete_detached;
use crate::planner::{Op, Plan, Planner, Target};
use crate::provider_state::{Attempt, LocalProviderState, Outcome, ProviderState, Vitals};
use crate::rate_limit::{RatePermit, RetryAfter};
use crate::routed_stream::RoutedStream;
use crate::routing_table::RoutingTable;
use crate::status::{PlanEntry, ProviderStatus};
use crate::tracked::Tracked;

/// Output tokens charged against a TPM limit before the call when the request sets no
/// `max_tokens` (reconciled with the real usage afterwards).
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// Per-request routing options (from `x-ax-*` headers and the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// Whether fallback is allowed (`x-ax-fallback: off` → `false`). Default `true`.
    pub fallback: bool,
    /// An absolute deadline for the whole request; the router's `request_timeout`
    /// applies as well (the earlier wins).
    pub deadline: Option<Instant>,
    /// The calling key's model allow-list (`None`: every model). Targets it does not
    /// allow are dropped from the plan, fallbacks, routes and hedges included
    /// ([`ax_core::tenant::target_allowed`]); a plan left empty is `permission_denied`.
    pub allowed_models: Option<Arc<[String]>>,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            fallback: true,
            deadline: None,
            allowed_models: None,
        }
    }
}

/// The router: plans, executes with retries and fallback, and keeps each provider's
/// circuit breaker, health and rate limits. `Send + Sync`; share it as `Arc<Router>`.
pub struct Router {
    table: RoutingTable,
    adapters: Adapters,
    state: Arc<dyn ProviderState>,
    backoff: Backoff,
    request_timeout: Duration,
    max_queue: Duration,
    stream_idle_timeout: Duration,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "providers",
                &self
                    .table
                    .providers()
                    .iter()
                    .map(|p| &p.name)
                    .collect::<Vec<_>>(),
            )
            .field(
                "routes",
                &self
                    .table
                    .routes()
                    .iter()
                    .map(|r| &r.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Builds a router from its configuration and the provider adapters, with
    /// in-memory provider state. Settings and adapters are matched by name; an adapter
    /// with no settings is enabled with default settings; an enabled setting with no
    /// adapter is an error. Routes and the fallback chain must name known providers.
    pub fn new(
        mut config: RouterConfig,
        providers: Vec<Arc<dyn Provider>>,
    ) -> Result<Self, RouterError> {
        adapters::add_defaults(&mut config.providers, &providers)?;
        let table = RoutingTable::new(config)?;
        let state = Arc::new(LocalProviderState::for_table(&table));
        Self::with_seams(table, providers, state)
    }

    /// Builds a router from a table validated at config load, the provider adapters
    /// (each must have settings in the table; every enabled provider needs one) and the
    /// provider state it shares (with other routers, or other replicas).
    pub fn with_seams(
        table: RoutingTable,
        providers: Vec<Arc<dyn Provider>>,
        provider_state: Arc<dyn ProviderState>,
    ) -> Result<Self, RouterError> {
        let adapters = Adapters::bind(&table, providers)?;
        Ok(Self {
            backoff: table.backoff(),
            request_timeout: table.request_timeout(),
            max_queue: table.max_queue(),
            stream_idle_timeout: table.stream_idle_timeout(),
            table,
            adapters,
            state: provider_state,
        })
    }

    /// The validated configuration this router routes by.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// Every provider's circuit and health (shared with whoever else holds it).
    pub fn provider_state(&self) -> &Arc<dyn ProviderState> {
        &self.state
    }

    fn planner(&self) -> Planner<'_> {
        Planner {
            table: &self.table,
            adapters: &self.adapters,
            state: &*self.state,
        }
    }

    /// The ordered targets an `op` request for `model` would try (DESIGN §3 model
    /// selection, then for chat the fallback chain). Unknown models are `not_found`.
    pub fn plan_for(
        &self,
        op: Op,
        model: &str,
        opts: &RequestOptions,
    ) -> Result<Plan, GatewayError> {
        self.planner().plan(op, model, opts)
    }

    /// The plan of a chat request for `model`: [`plan_for`](Self::plan_for) with
    /// [`Op::Chat`].
    pub fn plan(&self, model: &str, opts: &RequestOptions) -> Result<Plan, GatewayError> {
        self.plan_for(Op::Chat, model, opts)
    }

    /// The plan for an embeddings request: as [`plan`](Self::plan) but without the
    /// fallback chain, whose targets carry *chat* default models that cannot embed
    /// (their refusal would hide the real failure). Route targets still apply.
    pub fn embedding_plan(&self, model: &str, opts: &RequestOptions) -> Result<Plan, GatewayError> {
        self.plan_for(Op::Embed, model, opts)
    }

    /// The plan with each target's health and circuit state, calling no upstream (for
    /// `x-ax-dry-run` and `ax route explain`).
    pub fn dry_run(
        &self,
        model: &str,
        opts: &RequestOptions,
    ) -> Result<Vec<PlanEntry>, GatewayError> {
        let plan = self.plan(model, opts)?;
        Ok(plan
            .targets
            .iter()
            .map(|t| {
                let name = t.provider.name();
                let v = self.state.vitals(name).unwrap_or_else(Vitals::unknown);
                PlanEntry {
                    provider: name.to_owned(),
                    model: t.model.clone(),
                    health: v.health,
                    circuit: v.circuit,
                    is_fallback: t.is_fallback,
                }
            })
            .collect())
    }

    /// Every provider's live state, in configuration order.
    pub fn providers_status(&self) -> Vec<ProviderStatus> {
        self.table
            .providers()
            .iter()
            .zip(&self.adapters.slots)
            .map(|(settings, slot)| {
                let snap = self.state.snapshot(&settings.name);
                let v = snap.as_ref().map_or_else(Vitals::unknown, |s| s.vitals());
                ProviderStatus {
                    name: settings.name.clone(),
                    kind: settings.kind,
                    enabled: slot.usable().is_some(),
                    health: v.health,
                    circuit: snap.as_ref().map_or_else(
                        || CircuitSnapshot {
                            state: v.circuit,
                            consecutive_failures: 0,
                            opened_at: None,
                        },
                        |s| s.circuit.clone(),
                    ),
                    latency_ema_ms: v.latency_ema_ms.map(|ms| (ms * 10.0).round() / 10.0),
                    consecutive_successes: v.consecutive_successes,
                    consecutive_failures: v.consecutive_failures,
                    last_error: snap.and_then(|s| s.last_error),
                }
            })
            .collect()
    }

    /// Closes `name`'s circuit (operator reset). `false` when no such provider. With a
    /// shared provider state the reset completes in the background; await
    /// [`ProviderState::reset`] through [`provider_state`](Self::provider_state) to
    /// wait for it.
    pub fn reset_circuit(&self, name: &str) -> bool {
        if self.table.index_of(name).is_none() {
            return false;
        }
        complete_detached(self.state.reset(name));
        tracing::info!(provider = name, "circuit reset by operator");
        true
    }

    /// The adapter of provider `name` (enabled or not), if one was built.
    pub fn provider(&self, name: &str) -> Option<Arc<dyn Provider>> {
        let i = self.table.index_of(name)?;
        self.adapters.slots.get(i)?.adapter().cloned()
    }

    /// Every routable model for `GET /v1/models`: each route name, then
    /// `provider/default_model` of each enabled provider (and `default` when the mock
    /// serves it).
    pub fn model_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.table.routes().iter().map(|r| r.name.clone()).collect();
        if self.adapters.mock_only && !names.iter().any(|n| n == "default") {
            names.push("default".to_owned());
        }
        for s in &self.adapters.slots {
            if let Some(p) = s.usable() {
                let id = format!("{}/{}", s.name, p.default_model());
                if !names.contains(&id) {
                    names.push(id);
                }
            }
        }
        names
    }

    /// One non-streamed chat completion, with retries and fallback. The lifecycle ends
    /// in `Completed` (`ResponseReceived`) or `Failed` (`RequestFailed`/`TimedOut`); the
    /// caller then calls [`Tracked::finish`].
    pub async fn chat(
        &self,
        req: &ChatRequest,
        opts: &RequestOptions,
        tracked: &mut Tracked,
    ) -> Result<ChatOutcome, GatewayError> {
        let plan = match self.plan(&req.model, opts) {
            Ok(p) => p,
            Err(e) => {
                begin(tracked)?;
                return Err(fail(tracked, e));
            }
        };
        self.chat_planned(req, plan, opts, tracked).await
    }

    /// [`chat`](Self::chat) along a plan the caller already built with
    /// [`plan`](Self::plan) for `req.model` (the server plans first to refuse an
    /// unknown model as a validation failure, and need not plan twice).
    pub async fn chat_planned(
        &self,
        req: &ChatRequest,
        plan: Plan,
        opts: &RequestOptions,
        tracked: &mut Tracked,
    ) -> Result<ChatOutcome, GatewayError> {
        begin(tracked)?;
        let estimate = req.estimated_input_tokens()
            + req
                .params
                .max_tokens
                .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
        let won = self
            .execute(plan, opts, estimate, tracked, |t: &Target| {
                let (p, m) = (Arc::clone(&t.provider), t.model.clone());
                Box::pin(async move { p.chat(req, &m).await })
            })
            .await?;
        let Won {
            value: outcome,
            mut rate,
            ..
        } = won;
        let (usage, estimated) = chat_usage(req, &outcome.response);
        rate.reconcile(usage.total_tokens());
        tracked.apply(Event::ResponseReceived { usage, estimated });
        Ok(outcome)
    }

    /// One streamed chat completion. Returns once a provider's first chunk arrived (a
    /// failure before that was retried or fell back); the [`RoutedStream`] owns the
    /// `Tracked` from then on and finishes it when the stream ends or is dropped. On
    /// failure the `Tracked` comes back (already `Failed`) for the caller to finish.
    pub async fn chat_stream(
        &self,
        req: &ChatRequest,
        opts: &RequestOptions,
        mut tracked: Tracked,
    ) -> Result<RoutedStream, (GatewayError, Tracked)> {
        let plan = match self.plan(&req.model, opts) {
            Ok(p) => p,
            Err(e) => {
                if let Err(e) = begin(&mut tracked) {
                    return Err((e, tracked));
                }
                let e = fail(&mut tracked, e);
                return Err((e, tracked));
            }
        };
        self.chat_stream_planned(req, plan, opts, tracked).await
    }

    /// [`chat_stream`](Self::chat_stream) along a plan the caller already built with
    /// [`plan`](Self::plan) for `req.model`.
    pub async fn chat_stream_planned(
        &self,
        req: &ChatRequest,
        plan: Plan,
        opts: &RequestOptions,
        mut tracked: Tracked,
    ) -> Result<RoutedStream, (GatewayError, Tracked)> {
        if let Err(e) = begin(&mut tracked) {
            return Err((e, tracked));
        }
        let estimated_input = req.estimated_input_tokens();
        let estimate = estimated_input
            + req
                .params
                .max_tokens
                .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
        let idle = self.stream_idle_timeout;
        let deadline = self.deadline(opts);
        let result = self
            .execute(plan, opts, estimate, &mut tracked, |t: &Target| {
                let (p, m) = (Arc::clone(&t.provider), t.model.clone());
                Box::pin(async move {
                    let mut stream = p.chat_stream(req, &m).await?;
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
            })
            .await;
        match result {
            Ok(won) => {
                tracked.apply(Event::FirstChunkReceived);
                let (first, inner) = won.value;
                Ok(RoutedStream::new(
                    tracked,
                    first,
                    inner,
                    won.runtime,
                    Arc::clone(&self.state),
                    won.rate,
                    won.provider.wire_format(),
                    idle,
                    deadline,
                    estimated_input,
                ))
            }
            Err(e) => Err((e, tracked)),
        }
    }

    /// Embeddings for every input, with the same retries and fallback as chat.
    pub async fn embed(
        &self,
        req: &EmbeddingRequest,
        opts: &RequestOptions,
        tracked: &mut Tracked,
    ) -> Result<EmbeddingResponse, GatewayError> {
        begin(tracked)?;
        let plan = match self.embedding_plan(&req.model, opts) {
            Ok(p) => p,
            Err(e) => return Err(fail(tracked, e)),
        };
        let chars: u64 = req.input.texts().iter().map(|t| t.len() as u64).sum();
        let estimate = chars.div_ceil(4).max(1);
        let won = self
            .execute(plan, opts, estimate, tracked, |t: &Target| {
                let (p, m) = (Arc::clone(&t.provider), t.model.clone());
                Box::pin(async move { p.embed(req, &m).await })
            })
            .await?;
        let Won {
            value: resp,
            mut rate,
            ..
        } = won;
        let (usage, estimated) = if resp.usage.is_empty() {
            (
                Usage {
                    input_tokens: estimate,
                    ..Usage::default()
                },
                true,
            )
        } else {
            (resp.usage, false)
        };
        rate.reconcile(usage.total_tokens());
        tracked.apply(Event::ResponseReceived { usage, estimated });
        Ok(resp)
    }

    fn deadline(&self, opts: &RequestOptions) -> Instant {
        let own = Instant::now() + self.request_timeout;
        opts.deadline.map_or(own, |d| d.min(own))
    }

    fn runtime(&self, target: &Target) -> Result<(Arc<ProviderRuntime>, u32), GatewayError> {
        let name = target.provider.name();
        // The plan names the provider's slot; a plan from another router falls back to
        // the name.
        let index = match self.adapters.slots.get(target.slot) {
            Some(s) if &*s.name == name => Some(target.slot),
            _ => self.table.index_of(name),
        };
        index
            .and_then(|i| {
                let slot = self.adapters.slots.get(i)?;
                let settings = self.table.providers().get(i)?;
                Some((Arc::clone(&slot.runtime), settings.max_retries))
            })
            .ok_or_else(|| {
                GatewayError::new(
                    ErrorCode::ServerError,
                    format!("provider `{name}` is not registered"),
                )
            })
    }

    /// The attempt loop. On success the caller applies the success event; on failure
    /// the lifecycle is already `Failed`.
    async fn execute<'c, T, F>(
        &self,
        plan: Plan,
        opts: &RequestOptions,
        estimate: u64,
        tracked: &mut Tracked,
        call: F,
    ) -> Result<Won<T>, GatewayError>
    where
        T: Send + 'c,
        F: Fn(&Target) -> BoxFuture<'c, Result<T, GatewayError>> + Send + Sync,
    {
        let mut run = Run {
            deadline: self.deadline(opts),
            estimate,
            failures: Vec::new(),
            last_error: None,
        };
        let targets = plan.targets;
        let mut start = 0;
        if let (Some(after), [first, second, ..]) = (plan.hedge_after, targets.as_slice()) {
            match self
                .hedged(first, second, after, &mut run, tracked, &call)
                .await
            {
                Hedge::NotStarted => {}
                Hedge::Done(step) => match self.conclude(step, &mut run, tracked) {
                    Some(result) => return result,
                    None => {
                        start = 2;
                        if let Some(next) = targets.get(2) {
                            fallback_event(tracked, second, next);
                        }
                    }
                },
                Hedge::FirstOnly(step) => match self.conclude(step, &mut run, tracked) {
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
                .try_target(target, next.is_some(), &mut run, tracked, &call)
                .await;
            if let Some(result) = self.conclude(step, &mut run, tracked) {
                return result;
            }
            if let Some(next) = next {
                fallback_event(tracked, target, next);
            }
        }
        Err(self.all_failed(&mut run, targets.len(), tracked))
    }

    /// Ends the request for a decisive step; `None` to go on with the next target.
    fn conclude<T>(
        &self,
        step: Step<T>,
        run: &mut Run,
        tracked: &mut Tracked,
    ) -> Option<Result<Won<T>, GatewayError>> {
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

    fn all_failed(&self, run: &mut Run, targets: usize, tracked: &mut Tracked) -> GatewayError {
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

    /// Everything that happens on one target: admission, the call, retries.
    async fn try_target<'c, T, F>(
        &self,
        target: &Target,
        has_next: bool,
        run: &mut Run,
        tracked: &mut Tracked,
        call: &F,
    ) -> Step<T>
    where
        T: Send + 'c,
        F: Fn(&Target) -> BoxFuture<'c, Result<T, GatewayError>> + Send + Sync,
    {
        let (rt, max_retries) = match self.runtime(target) {
            Ok(r) => r,
            Err(e) => return Step::Client(e),
        };
        let mut retry = 0u32;
        loop {
            if Instant::now() >= run.deadline {
                return Step::Deadline;
            }
            let admission = match self
                .admit(target, &rt, has_next, retry == 0, run, tracked)
                .await
            {
                Admit::Ok(a) => a,
                Admit::Skip => return Step::Next,
                Admit::Deadline => return Step::Deadline,
            };
            sent(tracked, target);
            let started = Instant::now();
            let result = timeout_at(run.deadline, call(target)).await;
            match self
                .settle(target, &rt, admission, result, started, run)
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
                    if retry >= max_retries {
                        return Step::Next;
                    }
                    let Some(delay) =
                        self.backoff
                            .delay_before(retry, retry_after, Instant::now(), run.deadline)
                    else {
                        return Step::Next;
                    };
                    tracked.apply(Event::RetryScheduled { code });
                    metrics::counter!("ax_retries_total", "provider" => rt.name.to_string())
                        .increment(1);
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
            }
        }
    }

    /// Circuit breaker, then rate limit (skipping or queueing). A circuit that opened
    /// during this target's own retries ends them without being recorded as another
    /// attempt: the failures that opened it are the story.
    async fn admit(
        &self,
        target: &Target,
        rt: &Arc<ProviderRuntime>,
        can_skip: bool,
        first_attempt: bool,
        run: &mut Run,
        tracked: &mut Tracked,
    ) -> Admit {
        let name = target.provider.name();
        let mut queued_since: Option<Instant> = None;
        loop {
            let attempt = match self.state.acquire(name).await {
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
            match rt.limiter.try_acquire(run.estimate) {
                Ok(rate) => {
                    if queued_since.is_some() {
                        tracked.apply(Event::RateLimitCleared);
                    }
                    return Admit::Ok(Admission { attempt, rate });
                }
                Err(RetryAfter(wait)) => {
                    self.state.record(attempt, Outcome::NotCounted).await;
                    metrics::counter!("ax_rate_limited_total", "scope" => "provider").increment(1);
                    let e = GatewayError::new(
                        ErrorCode::RateLimitExceeded,
                        format!("provider `{name}` rate limit (rpm/tpm) reached"),
                    )
                    .with_provider(name)
                    .with_retry_after(Some(wait));
                    let now = Instant::now();
                    if can_skip {
                        run.record(target, e);
                        return Admit::Skip;
                    }
                    let since = match queued_since {
                        Some(s) => s,
                        None => {
                            tracked.apply(Event::RateLimitHit);
                            *queued_since.insert(now)
                        }
                    };
                    let budget_end = (since + self.max_queue).min(run.deadline);
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
    async fn admit_now(&self, rt: &ProviderRuntime, run: &Run) -> Option<Admission> {
        let attempt = self.state.acquire(&rt.name).await.ok()?;
        match rt.limiter.try_acquire(run.estimate) {
            Ok(rate) => Some(Admission { attempt, rate }),
            Err(_) => {
                self.state.record(attempt, Outcome::NotCounted).await;
                None
            }
        }
    }

    /// Races the first two targets once the first has not answered within `after`.
    async fn hedged<'c, T, F>(
        &self,
        first: &Target,
        second: &Target,
        after: Duration,
        run: &mut Run,
        tracked: &mut Tracked,
        call: &F,
    ) -> Hedge<T>
    where
        T: Send + 'c,
        F: Fn(&Target) -> BoxFuture<'c, Result<T, GatewayError>> + Send + Sync,
    {
        let (Ok((rt0, _)), Ok((rt1, _))) = (self.runtime(first), self.runtime(second)) else {
            return Hedge::NotStarted;
        };
        let Some(adm0) = self.admit_now(&rt0, run).await else {
            return Hedge::NotStarted;
        };
        sent(tracked, first);
        let started0 = Instant::now();
        let mut f0 = Box::pin(timeout_at(run.deadline, call(first)));
        let hedge_at = started0 + after;
        tokio::select! {
            biased;
            r = &mut f0 => {
                return Hedge::FirstOnly(step_of(self.settle(first, &rt0, adm0, r, started0, run).await));
            }
            () = tokio::time::sleep_until(hedge_at) => {}
        }
        let Some(adm1) = self.admit_now(&rt1, run).await else {
            // The second target cannot be called now: wait for the first alone.
            let r = f0.await;
            return Hedge::FirstOnly(step_of(
                self.settle(first, &rt0, adm0, r, started0, run).await,
            ));
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
        let mut f1 = Box::pin(timeout_at(run.deadline, call(second)));
        let (mut adm0, mut adm1) = (Some(adm0), Some(adm1));
        loop {
            let (which, r) = tokio::select! {
                r = &mut f0, if adm0.is_some() => (0, r),
                r = &mut f1, if adm1.is_some() => (1, r),
            };
            let step = if which == 0 {
                let Some(a) = adm0.take() else { continue };
                step_of(self.settle(first, &rt0, a, r, started0, run).await)
            } else {
                let Some(a) = adm1.take() else { continue };
                step_of(self.settle(second, &rt1, a, r, started1, run).await)
            };
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
                    // The loser's future is dropped here: the upstream call is cancelled.
                    return Hedge::Done(Step::Won(w));
                }
                other => return Hedge::Done(other),
            }
        }
    }

    /// Books the result of one call on the provider's state and rate limiter.
    async fn settle<T>(
        &self,
        target: &Target,
        rt: &Arc<ProviderRuntime>,
        admission: Admission,
        result: Result<Result<T, GatewayError>, Elapsed>,
        started: Instant,
        run: &mut Run,
    ) -> Settled<T> {
        let name = target.provider.name();
        let state = &self.state;
        let Admission { attempt, mut rate } = admission;
        match result {
            // The request deadline passed mid-call: not the provider's fault, not counted.
            Err(_) => {
                state.record(attempt, Outcome::NotCounted).await;
                Settled::Deadline
            }
            Ok(Ok(value)) => {
                let latency = started.elapsed();
                state.record(attempt, Outcome::Success { latency }).await;
                Settled::Won(Won {
                    value,
                    runtime: Arc::clone(rt),
                    rate,
                    provider: Arc::clone(&target.provider),
                })
            }
            Ok(Err(mut e)) => {
                // It came from this provider's call, whatever the adapter filled in.
                if e.provider.is_none() {
                    e.provider = Some(name.to_owned());
                }
                // Upstream errors consume no tokens worth charging.
                rate.reconcile(0);
                let disposition = disposition(&e);
                if disposition == Disposition::Client {
                    state.record(attempt, Outcome::NotCounted).await;
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
                state.record(attempt, outcome).await;
                tracing::debug!(provider = name, model = %target.model, code = %e.code, "attempt failed");
                run.record(target, e);
                Settled::Failed {
                    retryable: disposition == Disposition::Retry,
                }
            }
        }
    }
}

/// Per-request bookkeeping of the attempt loop.
struct Run {
    deadline: Instant,
    estimate: u64,
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

/// A successful attempt.
struct Won<T> {
    value: T,
    runtime: Arc<ProviderRuntime>,
    rate: RatePermit,
    provider: Arc<dyn Provider>,
}

struct Admission {
    attempt: Attempt,
    rate: RatePermit,
}

enum Admit {
    Ok(Admission),
    Skip,
    Deadline,
}

enum Step<T> {
    Won(Won<T>),
    /// This target is done; try the next one.
    Next,
    /// The client's own mistake: end the request with this error.
    Client(GatewayError),
    Deadline,
}

enum Hedge<T> {
    /// Hedging did not start (the first target could not be called right now).
    NotStarted,
    /// Only the first target ran (it answered before `hedge_after`, or the second
    /// could not be started); this is its outcome.
    FirstOnly(Step<T>),
    /// Both ran; this is the outcome.
    Done(Step<T>),
}

enum Settled<T> {
    Won(Won<T>),
    Client(GatewayError),
    Deadline,
    Failed { retryable: bool },
}

fn step_of<T>(s: Settled<T>) -> Step<T> {
    match s {
        Settled::Won(w) => Step::Won(w),
        Settled::Client(e) => Step::Client(e),
        Settled::Deadline => Step::Deadline,
        Settled::Failed { .. } => Step::Next,
    }
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
fn begin(tracked: &mut Tracked) -> Result<(), GatewayError> {
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
fn fail(tracked: &mut Tracked, error: GatewayError) -> GatewayError {
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

    #[test]
    fn router_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Router>();
        check::<std::sync::Arc<Router>>();
    }
}
