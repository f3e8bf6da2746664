//! Routing for ax: model selection into plans of targets, and a plain attempt loop over
//! them with retries and backoff, fallback, circuit breakers, health scoring, rate
//! limits, hedging and timeouts. Every request is driven through the lifecycle state
//! machine of `ax_core::lifecycle` via [`Tracked`]. No HTTP parsing, no SQL.
//!
//! Use: build a [`Router`] once from a [`RouterConfig`] and the provider adapters,
//! share it as `Arc<Router>`, and for each request call [`Router::chat`],
//! [`Router::chat_stream`] or [`Router::embed`] with a [`Tracked`] context.

mod adapters;
pub mod admission;
mod backoff;
mod circuit_breaker;
mod config;
mod error;
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
