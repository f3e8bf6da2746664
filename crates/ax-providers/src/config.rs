//! What a provider adapter needs to call its upstream: resolved settings, secrets
//! already loaded (from env, `ax.toml` or the encrypted store).

use std::fmt;
use std::time::Duration;

use ax_core::ProviderKind;
use secrecy::SecretString;

/// Deadlines for one upstream call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (and TLS) connect.
    pub connect: Duration,
    /// From sending the request to the response headers.
    pub first_byte: Duration,
    /// The whole non-streamed call.
    pub total: Duration,
    /// Longest silence between two stream chunks.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            total: Duration::from_secs(600),
            idle: Duration::from_secs(60),
        }
    }
}

/// Knobs of the built-in mock provider.
#[derive(Debug, Clone, PartialEq)]
pub struct MockSettings {
    /// Delay before the answer (or before the first chunk).
    pub latency: Duration,
    /// Delay between stream chunks.
    pub chunk_delay: Duration,
    /// Number of text chunks in a streamed answer.
    pub chunks: u32,
    /// Probability (0.0–1.0) that a call fails with `server_error`.
    pub failure_rate: f64,
}

impl Default for MockSettings {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: 8,
            failure_rate: 0.0,
        }
    }
}

/// Resolved settings of one provider.
#[derive(Clone)]
pub struct ProviderConfig {
    /// Configured name (`claude`, `gemini`, `openai`, `mock`, …).
    pub name: String,
    /// Kind.
    pub kind: ProviderKind,
    /// Base URL without a trailing slash, e.g. `https://api.openai.com` (a `/v1` suffix
    /// is accepted and not doubled).
    pub base_url: String,
    /// API key, if any (openai-compatible servers may need none).
    pub api_key: Option<SecretString>,
    /// The model used when none is given.
    pub default_model: String,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// `OpenAI-Organization` header (OpenAI only).
    pub organization: Option<String>,
    /// `max_tokens` sent to Anthropic when the client gave none (it is required there).
    pub default_max_tokens: u32,
    /// Gemini `safetySettings` threshold for the four harm categories
    /// (e.g. `BLOCK_MEDIUM_AND_ABOVE`); `None` sends no safety settings.
    pub safety_threshold: Option<String>,
    /// Mock knobs (kind `mock` only).
    pub mock: MockSettings,
}

impl ProviderConfig {
    /// Settings with defaults for `kind`; callers override what they know.
    pub fn new(name: impl Into<String>, kind: ProviderKind) -> Self {
        let (base_url, model) = match kind {
            ProviderKind::OpenAi => ("https://api.openai.com", "gpt-4o"),
            ProviderKind::Anthropic => ("https://api.anthropic.com", "claude-3-5-sonnet-20241022"),
            ProviderKind::Gemini => (
                "https://generativelanguage.googleapis.com",
                "gemini-2.0-flash",
            ),
            ProviderKind::OpenAiCompatible => ("http://127.0.0.1:8000", "default"),
            ProviderKind::Mock => ("", "mock-1"),
        };
        Self {
            name: name.into(),
            kind,
            base_url: base_url.to_owned(),
            api_key: None,
            default_model: model.to_owned(),
            timeouts: Timeouts::default(),
            organization: None,
            default_max_tokens: 4096,
            safety_threshold: None,
            mock: MockSettings::default(),
        }
    }

    /// The base URL with any trailing `/` and `suffix` (e.g. `/v1`) removed, so paths
    /// can be appended without doubling.
    pub fn base_without(&self, suffix: &str) -> &str {
        let b = self.base_url.trim_end_matches('/');
        b.strip_suffix(suffix).unwrap_or(b)
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("default_model", &self.default_model)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}
