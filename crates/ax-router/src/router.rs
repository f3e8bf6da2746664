//! The router: a validated [`RoutingTable`], the provider adapters bound to it, and
//! the two seams it consults on every attempt, [`ProviderState`] (circuit and health)
//! and [`Admission`] (the providers' rate limits, and the gateway's tenant scopes
//! through [`Router::admission`]). Both default to in-memory implementations; shared
//! ones make several replicas agree.
//!
//! A request is planned ([`Router::plan_for`], pure: the [`Planner`]) and then executed
//! along its plan ([`Router::execute`], generic over the [`Operation`]: the
//! executor's attempt loop with retries, fallback, hedging and every deadline). The
//! gateway calls those two; `chat`, `chat_stream` and `embed` plan and execute in one
//! call for tests and tools.

use std::sync::Arc;

use ax_core::{
    ChatOutcome, ChatRequest, EmbeddingRequest, EmbeddingResponse, GatewayError, Provider,
};
use tokio::time::Instant;

use crate::adapters::{self, Adapters};
use crate::admission::{Admission, LocalAdmission};
use crate::config::RouterConfig;
use crate::error::RouterError;
use crate::executor::{self, ChatOp, ChatStreamOp, EmbedOp, Executor, Operation};
use crate::pending::complete_detached;
use crate::planner::{Op, Plan, Planner};
use crate::provider_state::{LocalProviderState, ProviderSnapshot, ProviderState, Vitals};
use crate::routed_stream::RoutedStream;
use crate::routing_table::RoutingTable;
use crate::status::{PlanEntry, ProviderStatus};
use crate::tracked::Tracked;

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
/// circuit breaker, health and rate limits behind its seams. `Send + Sync`; share it
/// as `Arc<Router>`.
pub struct Router {
    table: RoutingTable,
    adapters: Adapters,
    state: Arc<dyn ProviderState>,
    admission: Arc<dyn Admission>,
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
    /// in-memory provider state and admission. Settings and adapters are matched by
    /// name; an adapter with no settings is enabled with default settings; an enabled
    /// setting with no adapter is an error. Routes and the fallback chain must name
    /// known providers.
    pub fn new(
        mut config: RouterConfig,
        providers: Vec<Arc<dyn Provider>>,
    ) -> Result<Self, RouterError> {
        adapters::add_defaults(&mut config.providers, &providers)?;
        let table = RoutingTable::new(config)?;
        let state = Arc::new(LocalProviderState::for_table(&table));
        Self::with_seams(table, providers, state, Arc::new(LocalAdmission::new()))
    }

    /// Builds a router from a table validated at config load, the provider adapters
    /// (each must have settings in the table; every enabled provider needs one), the
    /// provider state and the admission it shares (with other routers, the gateway's
    /// own tenant checks, or other replicas). `provider_state` must know every
    /// provider of the table (see [`LocalProviderState::for_table`]).
    pub fn with_seams(
        table: RoutingTable,
        providers: Vec<Arc<dyn Provider>>,
        provider_state: Arc<dyn ProviderState>,
        admission: Arc<dyn Admission>,
    ) -> Result<Self, RouterError> {
        let adapters = Adapters::bind(&table, providers)?;
        Ok(Self {
            table,
            adapters,
            state: provider_state,
            admission,
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

    /// The admission the executor asks for provider scopes; the gateway asks the same
    /// one for key and tenant scopes.
    pub fn admission(&self) -> &Arc<dyn Admission> {
        &self.admission
    }

    fn planner(&self) -> Planner<'_> {
        Planner {
            table: &self.table,
            adapters: &self.adapters,
            state: &*self.state,
        }
    }

    fn executor(&self) -> Executor<'_> {
        Executor {
            table: &self.table,
            adapters: &self.adapters,
            state: &self.state,
            admission: &self.admission,
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
                let mut state = self
                    .state
                    .snapshot(&settings.name)
                    .unwrap_or_else(ProviderSnapshot::unknown);
                // The admin API shows tenths of a millisecond.
                state.latency_ema_ms = state.latency_ema_ms.map(|ms| (ms * 10.0).round() / 10.0);
                ProviderStatus {
                    name: settings.name.clone(),
                    kind: settings.kind,
                    enabled: slot.usable().is_some(),
                    state,
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

    /// Runs `op` along `plan` (made by [`plan_for`](Self::plan_for) with `O::OP`):
    /// retries, fallback, hedging, deadlines. The lifecycle ends in `Completed`
    /// (`ResponseReceived`), `Streaming` (`FirstChunkReceived`: the answer's stream
    /// takes it from there) or `Failed` (`RequestFailed`/`TimedOut`); the caller then
    /// finishes `tracked` (or hands it to the stream).
    pub async fn execute<O: Operation>(
        &self,
        op: &O,
        plan: Plan,
        opts: &RequestOptions,
        tracked: &mut Tracked,
    ) -> Result<O::Answer, GatewayError> {
        self.executor().run(op, plan, opts, tracked).await
    }

    /// Plans `op` for `model` and runs it; a planning failure fails the request.
    async fn plan_and_execute<O: Operation>(
        &self,
        op: &O,
        model: &str,
        opts: &RequestOptions,
        tracked: &mut Tracked,
    ) -> Result<O::Answer, GatewayError> {
        let plan = match self.plan_for(O::OP, model, opts) {
            Ok(p) => p,
            Err(e) => {
                executor::begin(tracked)?;
                return Err(executor::fail(tracked, e));
            }
        };
        self.execute(op, plan, opts, tracked).await
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
        self.plan_and_execute(&ChatOp::new(req), &req.model, opts, tracked)
            .await
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
        let op = ChatStreamOp::new(req);
        match self
            .plan_and_execute(&op, &req.model, opts, &mut tracked)
            .await
        {
            Ok(start) => Ok(start.into_stream(tracked)),
            Err(e) => Err((e, tracked)),
        }
    }

    /// Embeddings for every input, with the same retries and fallback as chat, along
    /// the embeddings plan of `req.model`.
    pub async fn embed(
        &self,
        req: &EmbeddingRequest,
        opts: &RequestOptions,
        tracked: &mut Tracked,
    ) -> Result<EmbeddingResponse, GatewayError> {
        self.plan_and_execute(&EmbedOp::new(req), &req.model, opts, tracked)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Router>();
        check::<std::sync::Arc<Router>>();
    }
}
