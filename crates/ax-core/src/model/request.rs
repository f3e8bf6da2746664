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

/// Where a document comes from (Anthropic `document` blocks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DocumentSource {
    /// Inline base64 data (Anthropic sends PDFs this way: `application/pdf`).
    Base64 {
        /// MIME type, e.g. `application/pdf`.
        media_type: String,
        /// Base64 payload without a `data:` prefix.
        data: String,
    },
    /// A URL the provider fetches itself.
    Url {
        /// The URL.
        url: String,
    },
    /// Plain text (`text/plain`).
    Text {
        /// The document's text.
        text: String,
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
    /// A document input (a PDF or a plain-text document), in user turns.
    Document {
        /// Where the document is.
        source: DocumentSource,
        /// Its title, when the client gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
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
    /// Set for a freeform tool (an OpenAI Responses `custom` tool), whose calls carry
    /// free text rather than JSON arguments. Such a tool still looks like an ordinary
    /// function to every encoder: its `parameters` are [`FreeformTool::parameters`] and
    /// its calls' arguments `{"input": "<the text>"}`, so any upstream can be asked for
    /// one; the Responses encoder turns those calls back into `custom_tool_call` items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeform: Option<FreeformTool>,
}

/// What marks a [`ToolDefinition`] as freeform (an OpenAI Responses `custom` tool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreeformTool {
    /// The client's `format` as sent (`{"type": "text"}` or `{"type": "grammar",
    /// "syntax": "lark" | "regex", "definition": …}`), kept for the log and the
    /// same-format upstream; `None` when the client gave none (unconstrained text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<serde_json::Value>,
}

impl FreeformTool {
    /// The one argument of a freeform tool seen as a function: the whole input text.
    pub const INPUT: &'static str = "input";

    /// The JSON Schema of a freeform tool seen as a function: one required string,
    /// [`INPUT`](Self::INPUT).
    pub fn parameters() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {Self::INPUT: {"type": "string"}},
            "required": [Self::INPUT],
        })
    }

    /// The arguments (JSON text) of a call with `input`: `{"input": "<input>"}`.
    pub fn arguments(input: &str) -> String {
        serde_json::json!({Self::INPUT: input}).to_string()
    }

    /// The input text of a call with `arguments`: the [`INPUT`](Self::INPUT) string of
    /// a JSON object, else (a model that ignored the schema) the arguments as they are.
    pub fn input_of(arguments: &str) -> std::borrow::Cow<'_, str> {
        #[derive(Deserialize)]
        struct Args {
            input: String,
        }
        match serde_json::from_str::<Args>(arguments) {
            Ok(args) => std::borrow::Cow::Owned(args.input),
            Err(_) => std::borrow::Cow::Borrowed(arguments),
        }
    }
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
    /// OpenAI `reasoning_effort` (`low`, `medium`, `high`, …), Anthropic
    /// `output_config.effort`, Gemini `thinkingLevel` (lower-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

/// Effort names ↔ thinking budgets, for formats that have only one of the two (OpenAI
/// `reasoning_effort` has names, Gemini `thinkingBudget` and Anthropic `budget_tokens`
/// have numbers). LiteLLM uses the same order of magnitude. `xhigh` and `max` (Anthropic
/// `output_config.effort`) get the `high` budget: Gemini Flash models accept no more.
pub const EFFORT_BUDGETS: &[(&str, u32)] = &[
    ("none", 0),
    ("minimal", 512),
    ("low", 1024),
    ("medium", 8192),
    ("high", 24576),
    ("xhigh", 24576),
    ("max", 24576),
];

impl ReasoningConfig {
    /// The budget for an effort name (case-insensitive); `None` for unknown names.
    pub fn budget_for_effort(effort: &str) -> Option<u32> {
        EFFORT_BUDGETS
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(effort))
            .map(|(_, b)| *b)
    }

    /// The effort name for a budget: the row with the largest budget it reaches, the
    /// first name of a tie (`high`, not `xhigh`); 0 is `none`, and any budget below
    /// `minimal`'s is `minimal` (some thinking was asked for).
    pub fn effort_for_budget(budget: u32) -> &'static str {
        let mut name = "none";
        let mut reached = 0;
        for (e, b) in EFFORT_BUDGETS {
            if *b <= budget && *b > reached {
                name = e;
                reached = *b;
            }
        }
        if budget > 0 && reached == 0 {
            "minimal"
        } else {
            name
        }
    }
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

/// The Anthropic protocol headers an Anthropic-format client sent, for an Anthropic
/// upstream (which otherwise gets ax's fixed `anthropic-version` and no beta).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnthropicHeaders {
    /// `anthropic-version`, when the client sent one.
    pub version: Option<String>,
    /// The `anthropic-beta` names, in order (one header may list several, comma
    /// separated; the header may also come several times).
    pub betas: Vec<String>,
}

/// At most this many paths in [`ChatRequest::dropped_fields`]; one more entry, `+N more`,
/// counts the rest, so a body of ten thousand unknown keys logs one short list.
pub const MAX_DROPPED_FIELDS: usize = 32;

/// A chat request in the unified model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model as the client named it (`provider/model`, a route, or a bare name).
    pub model: String,
    /// The conversation. System messages usually come first, but may sit anywhere
    /// (Anthropic `system`-role entries inside `messages`): encoders whose format has
    /// one system instruction (Anthropic `system`, Gemini `systemInstruction`) merge
    /// them there, in order; OpenAI keeps each in place.
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
    /// What the client sent that a translation to another format drops, for the log:
    /// JSON paths of fields and blocks the unified model does not carry
    /// (`context_management`, `messages[2].content[0].cache_control`, an unknown
    /// top-level key, …) and `anthropic-beta: <name>` for betas with no equivalent
    /// elsewhere. At most [`MAX_DROPPED_FIELDS`] of them, then `+N more`. The
    /// same-format fast path forwards all of it, so the list means nothing there.
    pub dropped_fields: Vec<String>,
    /// The Anthropic headers of an Anthropic-format client, sent on to an Anthropic
    /// upstream.
    pub anthropic: Option<AnthropicHeaders>,
    /// Why only a same-format upstream can serve this request, when the client asked
    /// for something no translation carries (a Responses built-in tool such as
    /// `web_search`): a translating upstream refuses it with `invalid_request` and this
    /// text instead of silently dropping it.
    pub passthrough_only: Option<String>,
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
                ContentPart::Document { source, .. } => match source {
                    // Base64 is 4 characters per 3 bytes; a PDF page is a few thousand
                    // tokens whichever way it is sent.
                    DocumentSource::Base64 { data, .. } => data.len(),
                    DocumentSource::Url { .. } => 4000,
                    DocumentSource::Text { text } => text.len(),
                },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_effort_has_a_budget_and_back() {
        for (effort, budget) in EFFORT_BUDGETS {
            assert_eq!(ReasoningConfig::budget_for_effort(effort), Some(*budget));
            assert_eq!(
                ReasoningConfig::budget_for_effort(&effort.to_ascii_uppercase()),
                Some(*budget)
            );
        }
        assert_eq!(ReasoningConfig::budget_for_effort("extreme"), None);
        // Each distinct budget names the first effort that has it.
        for (budget, effort) in [
            (0, "none"),
            (1, "minimal"),
            (512, "minimal"),
            (1023, "minimal"),
            (1024, "low"),
            (8191, "low"),
            (8192, "medium"),
            (24576, "high"),
            (31999, "high"),
            (u32::MAX, "high"),
        ] {
            assert_eq!(
                ReasoningConfig::effort_for_budget(budget),
                effort,
                "{budget}"
            );
        }
    }

    #[test]
    fn freeform_arguments_carry_the_input_and_read_back() {
        for input in [
            "",
            "*** Begin Patch\n*** End Patch",
            "quote \" and \\ and é",
        ] {
            let args = FreeformTool::arguments(input);
            let v: serde_json::Value = serde_json::from_str(&args).unwrap();
            assert_eq!(v, serde_json::json!({"input": input}));
            assert_eq!(FreeformTool::input_of(&args), input);
        }
        // Not the schema's shape: the arguments themselves.
        for raw in [
            "",
            "plain text",
            r#"{"location":"Paris"}"#,
            r#"{"input":3}"#,
            "[1]",
        ] {
            assert_eq!(FreeformTool::input_of(raw), raw);
        }
        // Other keys beside the input do not hide it.
        assert_eq!(FreeformTool::input_of(r#"{"input":"x","extra":1}"#), "x");
        assert_eq!(
            FreeformTool::parameters()["required"],
            serde_json::json!(["input"])
        );
    }

    #[test]
    fn documents_count_toward_the_prompt_estimate() {
        let req = ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentPart::Document {
                    source: DocumentSource::Text {
                        text: "x".repeat(400),
                    },
                    title: None,
                }],
                name: None,
            }],
            ..Default::default()
        };
        assert_eq!(req.prompt_chars(), 408);
    }
}
