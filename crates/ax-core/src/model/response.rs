//! Chat responses in the unified model.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::request::ContentPart;
use super::usage::Usage;

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end of the turn (OpenAI `stop`, Anthropic `end_turn`, Gemini `STOP`).
    Stop,
    /// A stop sequence matched (OpenAI reports this as `stop`).
    StopSequence,
    /// The token limit was reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// The provider filtered the output (Gemini `SAFETY`, `RECITATION`, …; OpenAI
    /// `content_filter`; Anthropic `refusal`).
    ContentFilter,
    /// The provider paused a long turn (Anthropic `pause_turn`).
    Pause,
    /// Anything else the provider reported.
    Other,
}

impl FinishReason {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::StopSequence => "stop_sequence",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Pause => "pause",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A complete (non-streamed) chat answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The provider's response ID (or one we generated).
    pub id: String,
    /// The model that answered, as the provider named it.
    pub model: String,
    /// Unix seconds.
    pub created: i64,
    /// The assistant's output: text, reasoning and tool calls, in order.
    pub content: Vec<ContentPart>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// The stop sequence that matched, when the provider says which.
    pub stop_sequence: Option<String>,
    /// Token usage.
    pub usage: Usage,
}

impl ChatResponse {
    /// All text output joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(ContentPart::as_text)
            .collect()
    }

    /// Whether the answer contains tool calls.
    pub fn has_tool_calls(&self) -> bool {
        self.content
            .iter()
            .any(|p| matches!(p, ContentPart::ToolCall { .. }))
    }
}
