//! Streaming events in the unified model.

use serde::{Deserialize, Serialize};

use super::response::FinishReason;
use super::usage::Usage;

/// One unit of a streamed answer. A decoder turns each upstream SSE frame into zero or
/// more of these; an encoder turns each into zero or more client SSE frames. Encoders
/// are stateful (they track open blocks and tool-call indexes) and must accept any
/// order a well-behaved upstream can produce.
///
/// A stream always begins with `Start` and, when it completes normally, contains exactly
/// one `Finish`; `Usage` may come before or after `Finish` and may repeat (the last
/// one, merged by maximum, is the total). Errors travel as the stream's `Err` items, not
/// as events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The answer began.
    Start {
        /// Response ID.
        id: String,
        /// Model name as the provider reported it.
        model: String,
        /// Unix seconds.
        created: i64,
    },
    /// A piece of visible text.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A piece of reasoning text.
    ReasoningDelta {
        /// The reasoning text.
        text: String,
    },
    /// The signature closing a reasoning block (Anthropic), to be replayed later.
    ReasoningSignature {
        /// Opaque signature.
        signature: String,
    },
    /// A new tool call begins. `index` counts tool calls within the answer, from 0.
    ToolCallStart {
        /// Tool-call index within this answer.
        index: u32,
        /// Call ID.
        id: String,
        /// Function name.
        name: String,
    },
    /// A fragment of a tool call's JSON arguments.
    ToolCallDelta {
        /// Tool-call index within this answer.
        index: u32,
        /// JSON text fragment.
        arguments: String,
    },
    /// The model finished.
    Finish {
        /// Why.
        reason: FinishReason,
        /// The stop sequence that matched, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_sequence: Option<String>,
    },
    /// Token counts so far (cumulative).
    Usage(Usage),
}

impl StreamEvent {
    /// Whether this event carries output the client sees as content (first-token
    /// latency is measured at the first such event).
    pub fn is_content(&self) -> bool {
        matches!(
            self,
            Self::TextDelta { .. }
                | Self::ReasoningDelta { .. }
                | Self::ToolCallStart { .. }
                | Self::ToolCallDelta { .. }
        )
    }
}
