//! Error codes (DESIGN §3) and the one error value that crosses crate boundaries on
//! the request path. It carries everything the router decides on — code, upstream
//! status, `retry_after` — so nothing downstream ever matches on message strings.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a request (or one attempt of it) failed. Stored in `provider_logs.error_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or semantically invalid.
    InvalidRequest,
    /// Missing or invalid credentials.
    AuthenticationError,
    /// Authenticated but not allowed (suspended tenant, model not allowed).
    PermissionDenied,
    /// Unknown model, route or resource.
    NotFound,
    /// A rate limit (gateway or upstream) was hit.
    RateLimitExceeded,
    /// A tenant quota (tokens per day, budget) is used up.
    QuotaExceeded,
    /// The upstream failed with a 5xx or an unexpected answer.
    ServerError,
    /// The upstream is overloaded (Anthropic 529, Gemini 503 UNAVAILABLE).
    Overloaded,
    /// A deadline (connect, first byte, idle, total) passed.
    Timeout,
    /// Connection refused, reset or otherwise broken.
    NetworkError,
    /// The provider refused or filtered the content.
    ContentFiltered,
    /// The prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// The provider's circuit breaker is open.
    CircuitOpen,
    /// Every target of the plan failed.
    AllProvidersFailed,
    /// The client went away before the answer was complete.
    Cancelled,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 15] = [
        Self::InvalidRequest,
        Self::AuthenticationError,
        Self::PermissionDenied,
        Self::NotFound,
        Self::RateLimitExceeded,
        Self::QuotaExceeded,
        Self::ServerError,
        Self::Overloaded,
        Self::Timeout,
        Self::NetworkError,
        Self::ContentFiltered,
        Self::ContextLengthExceeded,
        Self::CircuitOpen,
        Self::AllProvidersFailed,
        Self::Cancelled,
    ];

    /// The snake_case name stored in the database and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::AuthenticationError => "authentication_error",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::QuotaExceeded => "quota_exceeded",
            Self::ServerError => "server_error",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::NetworkError => "network_error",
            Self::ContentFiltered => "content_filtered",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::CircuitOpen => "circuit_open",
            Self::AllProvidersFailed => "all_providers_failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether another attempt (same or next provider) may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimitExceeded
                | Self::ServerError
                | Self::Overloaded
                | Self::Timeout
                | Self::NetworkError
        )
    }

    /// The HTTP status the gateway answers a client with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::ContextLengthExceeded => 400,
            Self::AuthenticationError => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::RateLimitExceeded | Self::QuotaExceeded => 429,
            Self::ServerError | Self::AllProvidersFailed | Self::NetworkError => 502,
            Self::Overloaded | Self::CircuitOpen => 503,
            Self::Timeout => 504,
            Self::ContentFiltered => 400,
            // 499 is nginx's "client closed request": nobody reads it, but logs do.
            Self::Cancelled => 499,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown error code `{s}`"))
    }
}

/// A failure on the request path: what went wrong, where, and what the router needs to
/// decide whether to retry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct GatewayError {
    /// The classified cause.
    pub code: ErrorCode,
    /// Human-readable message (never contains secrets).
    pub message: String,
    /// The provider that produced the error, when one did.
    pub provider: Option<String>,
    /// The upstream HTTP status, when the error came from an upstream response.
    pub upstream_status: Option<u16>,
    /// How long the upstream asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The client-visible parameter at fault, for invalid requests.
    pub param: Option<String>,
    /// The upstream refused the gateway's own credentials for `provider` (its 401 or
    /// 403): `code` stays what the upstream said (the router marks the provider
    /// unhealthy on it), but the client is not at fault and gets a 502 server error.
    pub credentials_refused: bool,
    /// The HTTP status the client gets when it is not the code's own (413 for a body
    /// over the limit, 415, 431), so every format's body names the status sent.
    pub http_status: Option<u16>,
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.provider {
            Some(p) => write!(f, "{} ({}): {}", self.code, p, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl GatewayError {
    /// An error with a code and message and nothing else.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            provider: None,
            upstream_status: None,
            retry_after: None,
            param: None,
            credentials_refused: false,
            http_status: None,
        }
    }

    /// Shorthand for an `invalid_request` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// Shorthand for an `invalid_request` error naming the offending parameter.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with_param(param)
    }

    /// Attaches the provider name.
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    /// Attaches the upstream HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.upstream_status = Some(status);
        self
    }

    /// Attaches a retry-after hint.
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    /// Attaches the parameter at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Whether the router may try again.
    pub fn is_retryable(&self) -> bool {
        self.code.is_retryable()
    }

    /// Whether this failure should count against the provider's circuit breaker and
    /// health. Client mistakes (4xx of the client's making) do not; upstream
    /// authentication failures do, because they are the operator's problem.
    pub fn counts_against_provider(&self) -> bool {
        self.code.is_retryable()
            || (self.provider.is_some()
                && matches!(
                    self.code,
                    ErrorCode::AuthenticationError | ErrorCode::PermissionDenied
                ))
    }

    /// The code a client is shown: `server_error` when the upstream refused the
    /// gateway's credentials (an operator's problem), else `code`.
    pub fn client_code(&self) -> ErrorCode {
        if self.credentials_refused {
            ErrorCode::ServerError
        } else {
            self.code
        }
    }

    /// Answers the client with `status` instead of the code's own.
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// The HTTP status the client should see.
    pub fn http_status(&self) -> u16 {
        self.http_status
            .unwrap_or_else(|| self.client_code().http_status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 15);
    }

    #[test]
    fn retryable_classification() {
        let retryable: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.is_retryable())
            .collect();
        assert_eq!(
            retryable,
            vec![
                ErrorCode::RateLimitExceeded,
                ErrorCode::ServerError,
                ErrorCode::Overloaded,
                ErrorCode::Timeout,
                ErrorCode::NetworkError
            ]
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(ErrorCode::InvalidRequest.http_status(), 400);
        assert_eq!(ErrorCode::QuotaExceeded.http_status(), 429);
        assert_eq!(ErrorCode::AllProvidersFailed.http_status(), 502);
        assert_eq!(ErrorCode::CircuitOpen.http_status(), 503);
        assert_eq!(ErrorCode::Timeout.http_status(), 504);
    }

    #[test]
    fn refused_gateway_credentials_are_a_502_server_error_for_the_client() {
        let mut e = GatewayError::new(ErrorCode::AuthenticationError, "bad key").with_provider("p");
        assert_eq!((e.http_status(), e.client_code()), (401, e.code));
        e.credentials_refused = true;
        assert_eq!(e.http_status(), 502);
        assert_eq!(e.client_code(), ErrorCode::ServerError);
        assert_eq!(e.code, ErrorCode::AuthenticationError);
    }

    #[test]
    fn upstream_auth_counts_against_provider() {
        let e = GatewayError::new(ErrorCode::AuthenticationError, "bad key").with_provider("x");
        assert!(e.counts_against_provider());
        let client = GatewayError::new(ErrorCode::AuthenticationError, "bad key");
        assert!(!client.counts_against_provider());
        assert!(
            !GatewayError::invalid("x")
                .with_provider("p")
                .counts_against_provider()
        );
    }
}
