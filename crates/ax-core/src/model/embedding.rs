//! Embedding requests and responses in the unified model.

use serde::{Deserialize, Serialize};

use super::usage::Usage;

/// What to embed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    Single(String),
    /// Several texts, embedded in one call.
    Batch(Vec<String>),
}

impl EmbeddingInput {
    /// The inputs as a slice-like list.
    pub fn texts(&self) -> Vec<&str> {
        match self {
            Self::Single(s) => vec![s.as_str()],
            Self::Batch(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// An embeddings request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    /// The model as the client named it.
    pub model: String,
    /// The texts.
    pub input: EmbeddingInput,
    /// Requested vector size, when the model supports truncation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// End-user ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// One vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// Position in the input list.
    pub index: u32,
    /// The vector.
    pub vector: Vec<f32>,
}

/// An embeddings answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    /// The model that answered.
    pub model: String,
    /// One vector per input, in input order.
    pub data: Vec<Embedding>,
    /// Token usage (input only).
    pub usage: Usage,
}
