//! Routing for ax: model selection into plans of targets, and a plain attempt loop over
//! them with retries and backoff, fallback, circuit breakers, health scoring, rate
//! limits, hedging and timeouts. Every request is driven through the lifecycle state
//! machine of `ax_core::lifecycle` via [`Tracked`]. No HTTP parsing, no SQL.
//!
//! The parts: a [`RoutingTable`] (the configuration, validated once, without
//! adapters); a pure planner ([`Router::plan_for`]: model selection over the table and
//! the providers' [`provider_state::Vitals`]); an executor generic over the
//! [`Operation`] ([`Router::execute`]: attempts, retries, fallback, hedging and every
//! deadline); and two seams it consults, [`ProviderState`] (circuit and health per
//! provider) and [`admission::Admission`] (rate limits and quotas per scope), each with
//! an in-memory implementation.
//!
//! Use: build a [`Router`] once ([`Router::new`] from a [`RouterConfig`] and the
//! provider adapters, or [`Router::with_seams`] from a table and shared seams), share
//! it as `Arc<Router>`, and for each request plan and execute it with a [`Tracked`]
//! context ([`Router::chat`], [`Router::chat_stream`] and [`Router::embed`] do both).

mod adapters;
pub mod admission;
mod backoff;
mod circuit_breaker;
mod config;
mod error;
mod executor;
mod health;
mod pending;
mod planner;
pub mod provider_state;
mod rate_limit;
mod routed_stream;
mod router;
mod routing_table;
mod status;
mod tracked;

pub use backoff::{Backoff, MAX_RETRY_AFTER};
pub use circuit_breaker::{
    CircuitBreaker, CircuitPermit, CircuitRejected, CircuitSnapshot, CircuitState,
};
pub use config::{ProviderSettings, RouteConfig, RouterConfig, Strategy, TargetRef};
pub use error::RouterError;
pub use executor::{
    Answered, CallTimeouts, ChatOp, ChatStreamOp, CountTokensOp, EmbedOp, OpenAttempt, Operation,
    StreamStart, Won,
};
pub use health::{HEALTHY_AFTER, Health, HealthTracker, LastError, UNHEALTHY_AFTER};
pub use pending::{Pending, complete_detached};
pub use planner::{Op, Plan, Target};
pub use provider_state::{LocalProviderState, ProviderState};
pub use rate_limit::{Limited, RateLimiter, RateLimits, RatePermit, RetryAfter};
pub use routed_stream::RoutedStream;
pub use router::{RequestOptions, Router};
pub use routing_table::RoutingTable;
pub use status::{PlanEntry, ProviderStatus};
pub use tracked::{FinishHook, Tracked};
