//! Chat requests in the unified model.

use serde::{Deserialize, Serialize};

use crate::format::WireFormat;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model (OpenAI `system`/`developer`, Anthropic `system`,
    /// Gemini `systemInstruction`).
    System,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// Results of tool calls (OpenAI `tool` messages; user-side blocks elsewhere).
    Tool,
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// A URL the provider fetches itself (http(s) or a `data:` URL kept as is).
    Url {
        /// The URL.
        url: String,
    },
    /// Inline base64 data.
    Base64 {
        /// MIME type, e.g. `image/png`.
        media_type: String,
        /// Base64 payload without a `data:` prefix.
        data: String,
    },
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image input.
    Image {
        /// Where the image is.
        source: ImageSource,
        /// OpenAI `detail` hint (`low`, `high`, `auto`), kept when present.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A tool call made by the assistant.
    ToolCall {
        /// Call ID; synthesized by the decoder when the wire format has none.
        id: String,
        /// Function name.
        name: String,
        /// Arguments as JSON text.
        arguments: String,
    },
    /// The result of a tool call, sent back by the client.
    ToolResult {
        /// The ID of the call this answers.
        tool_call_id: String,
        /// The function name, when known (Gemini needs it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The result content (text and images).
        content: Vec<ContentPart>,
        /// Whether the tool reported an error (Anthropic `is_error`).
        #[serde(default)]
        is_error: bool,
    },
    /// Model reasoning ("thinking"). `signature` must be replayed unmodified to the
    /// provider that produced it.
    Reasoning {
        /// The reasoning text (empty for redacted reasoning).
        text: String,
        /// Anthropic `signature` / Gemini `thoughtSignature`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        /// Anthropic `redacted_thinking.data`, opaque.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redacted: Option<String>,
    },
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// The text of a `Text` part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text { text } => Some(text),
            _ => None,
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The author.
    pub role: Role,
    /// The content, in order.
    pub content: Vec<ContentPart>,
    /// Optional participant name (OpenAI `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    /// A message with a single text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![ContentPart::text(text)],
            name: None,
        }
    }

    /// All text parts joined with no separator.
    pub fn joined_text(&self) -> String {
        self.content
            .iter()
            .filter_map(ContentPart::as_text)
            .collect()
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments, with lower-case JSON-schema type names.
    pub parameters: serde_json::Value,
    /// OpenAI `strict` flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// How the model should choose tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call (OpenAI `required`, Anthropic `any`, Gemini `ANY`).
    Required,
    /// This specific function.
    Function(String),
}

/// The shape the answer must take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// Schema name (OpenAI requires one).
        name: String,
        /// The JSON Schema.
        schema: serde_json::Value,
        /// OpenAI `strict`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

/// Extended thinking / reasoning budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningConfig {
    /// Token budget for reasoning (Anthropic `budget_tokens`, Gemini `thinkingBudget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u32>,
    /// OpenAI `reasoning_effort` (`low`, `medium`, `high`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

/// Sampling and length parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling (Anthropic, Gemini).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Maximum output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Deterministic sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
}

/// Gateway-level metadata about a request, from `x-ax-*` headers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestMetadata {
    /// `x-ax-conversation-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// `x-ax-user-id` (or the wire format's own `user` / `metadata.user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `x-ax-tags`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// The client's original body, kept so that a same-format upstream receives every
/// field unchanged (the fast path), unknown and newer fields included.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRequest {
    /// The format the client spoke.
    pub format: WireFormat,
    /// The parsed body as the client sent it.
    pub body: serde_json::Map<String, serde_json::Value>,
    /// The body's bytes exactly as received, sent on unchanged when the fast path has
    /// nothing to rewrite (no re-serialization).
    pub bytes: bytes::Bytes,
}

/// A chat request in the unified model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model as the client named it (`provider/model`, a route, or a bare name).
    pub model: String,
    /// The conversation; system messages first.
    pub messages: Vec<Message>,
    /// Functions the model may call.
    pub tools: Vec<ToolDefinition>,
    /// How to choose among `tools`.
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn (OpenAI).
    pub parallel_tool_calls: Option<bool>,
    /// Sampling and length parameters.
    pub params: GenerationParams,
    /// Requested output shape.
    pub response_format: Option<ResponseFormat>,
    /// Extended thinking configuration.
    pub reasoning: Option<ReasoningConfig>,
    /// Whether the client wants a stream.
    pub stream: bool,
    /// Whether the client asked for a usage chunk at the end of an OpenAI stream.
    pub include_usage: bool,
    /// Gateway metadata.
    pub metadata: RequestMetadata,
    /// The client's body, for the same-format fast path.
    pub raw: Option<RawRequest>,
}

impl ChatRequest {
    /// The system prompt: the text of every system message, joined by blank lines.
    pub fn system_text(&self) -> Option<String> {
        let parts: Vec<String> = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(Message::joined_text)
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    /// A rough count of prompt characters, for token estimates before the call.
    pub fn prompt_chars(&self) -> usize {
        fn part_chars(p: &ContentPart) -> usize {
            match p {
                ContentPart::Text { text } => text.len(),
                ContentPart::Image { .. } => 1000,
                ContentPart::ToolCall {
                    name, arguments, ..
                } => name.len() + arguments.len(),
                ContentPart::ToolResult { content, .. } => content.iter().map(part_chars).sum(),
                ContentPart::Reasoning { text, .. } => text.len(),
            }
        }
        let msgs: usize = self
            .messages
            .iter()
            .map(|m| m.content.iter().map(part_chars).sum::<usize>() + 8)
            .sum();
        let tools: usize = self
            .tools
            .iter()
            .map(|t| t.name.len() + t.parameters.to_string().len())
            .sum();
        msgs + tools
    }

    /// The estimated prompt size in tokens (about four characters per token).
    pub fn estimated_input_tokens(&self) -> u64 {
        (self.prompt_chars() as u64).div_ceil(4).max(1)
    }
}
