//! The heart of ax: the unified request/response model every wire format translates
//! through, the request lifecycle state machine, error codes, IDs and the `Provider`
//! trait. This crate does no I/O and knows nothing of HTTP frameworks or SQL.

pub mod error;
pub mod format;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod model;
pub mod pattern;
pub mod pricing;
pub mod provider;
pub mod tenant;

pub use error::{ErrorCode, GatewayError};
pub use format::{ProviderKind, WireFormat};
pub use ids::{KeyId, LogId, RequestId, TenantId};
pub use limits::RequestLimits;
pub use model::*;
pub use provider::{ChatOutcome, ChatStream, Provider, RawBody, StreamChunk};
