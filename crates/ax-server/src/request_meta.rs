//! The `x-ax-*` request headers (DESIGN §3), parsed once at the edge.

use ax_core::{RequestId, RequestMetadata};
use axum::http::{HeaderMap, HeaderName};

/// The `x-ax-*` header names, built at compile time: a `&str` name is parsed and
/// validated again on every lookup or insert.
pub mod names {
    use super::HeaderName;

    /// `x-ax-request-id` (request and response).
    pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-ax-request-id");
    /// `x-ax-fallback` (request: off/on; response: whether a fallback served it).
    pub const FALLBACK: HeaderName = HeaderName::from_static("x-ax-fallback");
    /// `x-ax-dry-run` (request).
    pub const DRY_RUN: HeaderName = HeaderName::from_static("x-ax-dry-run");
    /// `x-ax-tags` (request).
    pub const TAGS: HeaderName = HeaderName::from_static("x-ax-tags");
    /// `x-ax-conversation-id` (request).
    pub const CONVERSATION_ID: HeaderName = HeaderName::from_static("x-ax-conversation-id");
    /// `x-ax-user-id` (request).
    pub const USER_ID: HeaderName = HeaderName::from_static("x-ax-user-id");
    /// `x-ax-provider` (response).
    pub const PROVIDER: HeaderName = HeaderName::from_static("x-ax-provider");
    /// `x-ax-model` (response).
    pub const MODEL: HeaderName = HeaderName::from_static("x-ax-model");
    /// `x-ax-attempts` (response).
    pub const ATTEMPTS: HeaderName = HeaderName::from_static("x-ax-attempts");
}

/// What the client asked of the gateway itself, beyond the model call.
#[derive(Debug, Clone)]
pub struct GatewayHeaders {
    /// `x-ax-request-id`, or a fresh one.
    pub request_id: RequestId,
    /// `x-ax-fallback: off` turns fallback off for this request.
    pub fallback: bool,
    /// `x-ax-dry-run: true` returns the plan without calling upstream.
    pub dry_run: bool,
    /// Conversation, user and tags.
    pub metadata: RequestMetadata,
}

fn header(h: &HeaderMap, name: HeaderName) -> Option<&str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

impl GatewayHeaders {
    /// Parses the headers; anything malformed is ignored rather than rejected, except
    /// that an unusable request ID is replaced by a fresh one.
    ///
    /// `tenant` is the slug of the caller's tenant when gateway keys are in use. A
    /// client-chosen `x-ax-request-id` is then scoped to it (`team-a:req-1`), so one
    /// tenant can never write rows under, or collide with, another tenant's request
    /// IDs; the scoped ID is what the log row and `x-ax-request-id` answer carry.
    pub fn parse(h: &HeaderMap, tenant: Option<&str>) -> Self {
        let request_id = match header(h, names::REQUEST_ID).and_then(RequestId::parse) {
            Some(id) => match tenant {
                Some(slug) => id.scoped_to(slug),
                None => id,
            },
            None => RequestId::new(),
        };
        let fallback = !header(h, names::FALLBACK).is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "off" | "false" | "0" | "no"
            )
        });
        let dry_run = header(h, names::DRY_RUN).is_some_and(truthy);
        let tags = header(h, names::TAGS)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .take(32)
                    .map(|t| t.chars().take(64).collect())
                    .collect()
            })
            .unwrap_or_default();
        let clip = |s: &str| -> String { s.chars().take(256).collect() };
        Self {
            request_id,
            fallback,
            dry_run,
            metadata: RequestMetadata {
                conversation_id: header(h, names::CONVERSATION_ID).map(clip),
                user_id: header(h, names::USER_ID).map(clip),
                tags,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parses_every_header() {
        let mut h = HeaderMap::new();
        h.insert("x-ax-request-id", HeaderValue::from_static("req-1"));
        h.insert("x-ax-fallback", HeaderValue::from_static("off"));
        h.insert("x-ax-dry-run", HeaderValue::from_static("true"));
        h.insert("x-ax-tags", HeaderValue::from_static("a, b,,c"));
        h.insert("x-ax-conversation-id", HeaderValue::from_static("conv"));
        h.insert("x-ax-user-id", HeaderValue::from_static("u1"));
        let g = GatewayHeaders::parse(&h, None);
        assert_eq!(g.request_id.as_str(), "req-1");
        // With gateway keys, a client's ID is scoped to its tenant.
        let g = GatewayHeaders::parse(&h, Some("team-a"));
        assert_eq!(g.request_id.as_str(), "team-a:req-1");
        assert!(!g.fallback && g.dry_run);
        assert_eq!(g.metadata.tags, vec!["a", "b", "c"]);
        assert_eq!(g.metadata.conversation_id.as_deref(), Some("conv"));
        assert_eq!(g.metadata.user_id.as_deref(), Some("u1"));
    }

    #[test]
    fn defaults() {
        let g = GatewayHeaders::parse(&HeaderMap::new(), Some("team-a"));
        assert!(g.fallback && !g.dry_run);
        assert!(g.metadata.tags.is_empty());
        // A generated ID needs no scope: it cannot collide.
        assert_eq!(g.request_id.as_str().len(), 36);
    }
}
