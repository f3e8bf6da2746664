//! Wire formats (what a client or upstream speaks) and provider kinds (what a
//! configured provider is).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A wire protocol ax can decode and encode on either side of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireFormat {
    /// OpenAI Chat Completions (also spoken by openai-compatible servers).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini generateContent.
    Gemini,
    /// The OpenAI Responses API (`/v1/responses`): a client format of its own, passed
    /// through to an OpenAI upstream's `/v1/responses` and translated for the others.
    Responses,
}

impl WireFormat {
    /// Lower-case name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Responses => "responses",
        }
    }
}

impl fmt::Display for WireFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a configured provider; the string form is the config `kind` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProviderKind {
    /// api.openai.com or anything speaking its API with an OpenAI key.
    #[serde(rename = "openai")]
    OpenAi,
    /// api.anthropic.com.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Gemini API (generativelanguage.googleapis.com).
    #[serde(rename = "gemini")]
    Gemini,
    /// vLLM, Ollama, llama.cpp, Groq…: the OpenAI wire format at a custom base URL.
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    /// The built-in deterministic provider.
    #[serde(rename = "mock")]
    Mock,
}

impl ProviderKind {
    /// The config/log name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::OpenAiCompatible => "openai-compatible",
            Self::Mock => "mock",
        }
    }

    /// The wire format an upstream of this kind speaks, if any (mock speaks none).
    pub fn wire_format(self) -> Option<WireFormat> {
        match self {
            Self::OpenAi | Self::OpenAiCompatible => Some(WireFormat::OpenAi),
            Self::Anthropic => Some(WireFormat::Anthropic),
            Self::Gemini => Some(WireFormat::Gemini),
            Self::Mock => None,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "openai" => Self::OpenAi,
            "anthropic" | "claude" => Self::Anthropic,
            "gemini" | "google" => Self::Gemini,
            "openai-compatible" | "openai_compatible" => Self::OpenAiCompatible,
            "mock" => Self::Mock,
            other => {
                return Err(format!(
                    "unknown provider kind `{other}` (expected openai, anthropic, gemini, openai-compatible or mock)"
                ));
            }
        })
    }
}
