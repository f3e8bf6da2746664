//! What a provider adapter needs to call its upstream: resolved settings, secrets
//! already loaded (from env, `ax.toml` or the encrypted store).

use std::fmt;
use std::time::Duration;

use ax_core::ProviderKind;
use secrecy::SecretString;

use crate::registry::KindSettings;

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
    /// `OpenAI-Organization` header (kinds openai and openai-compatible: their
    /// `organization` setting).
    pub organization: Option<String>,
    /// `max_tokens` sent to Anthropic when the client gave none (it is required there;
    /// kind anthropic's `default_max_tokens` setting).
    pub default_max_tokens: u32,
    /// Gemini `safetySettings` threshold for the four harm categories
    /// (e.g. `BLOCK_MEDIUM_AND_ABOVE`); `None` sends no safety settings (kind gemini's
    /// `safety_threshold` setting).
    pub safety_threshold: Option<String>,
    /// The kind's own typed settings, for kinds whose adapter reads them from here
    /// (mock). The three fields above predate the registry and are filled by their
    /// kinds' registry entries the same way; a new kind adds no field here.
    pub settings: KindSettings,
}

impl ProviderConfig {
    /// Settings with the defaults of `kind` (from its registry entry); callers
    /// override what they know.
    pub fn new(name: impl Into<String>, kind: ProviderKind) -> Self {
        let (base_url, model) =
            crate::registry::spec(kind).map_or(("", ""), |s| (s.default_base_url, s.default_model));
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
            settings: KindSettings::default(),
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
            .field("organization", &self.organization)
            .field("default_max_tokens", &self.default_max_tokens)
            .field("safety_threshold", &self.safety_threshold)
            .field("settings", &self.settings)
            .finish()
    }
}
