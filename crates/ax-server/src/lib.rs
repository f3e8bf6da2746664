//! The HTTP surface of ax: client endpoints in three wire formats, the admin API,
//! health, Prometheus metrics and the dashboard. No routing or codec logic lives here:
//! handlers decode with `ax-providers`, route with `ax-router` and log with `ax-store`.

pub mod assemble;
pub mod auth;
pub mod config;
mod connections;
pub mod error;
pub mod gateway;
pub mod guard;
pub mod handlers;
mod header_limit;
mod panic_guard;
pub mod request_meta;
pub mod server;
pub mod state;

pub use config::{Config, ConfigError};
pub use server::{RunningServer, ServeError, ServeOptions, app, start};
pub use state::AppState;
