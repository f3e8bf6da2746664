//! The built-in `mock` provider: deterministic answers with no network, for demos,
//! tests and benchmarks. It answers any model. Knobs: latency before the answer, delay
//! between chunks, chunk count, and a failure rate.
//!
//! The answer is a fixed sentence naming the model and echoing the start of the last
//! user message, so tests can assert on it. When the request offers tools and requires
//! one (`tool_choice` required or a named function), it answers with a call to the
//! first allowed tool with `{}` arguments, so tool-call paths work end to end.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ax_core::{
    ChatOutcome, ChatRequest, ChatResponse, ChatStream, ContentPart, Embedding, EmbeddingRequest,
    EmbeddingResponse, ErrorCode, FinishReason, GatewayError, Provider, ProviderKind, Role,
    StreamChunk, StreamEvent, TokenCount, ToolChoice, Usage,
};
use futures::StreamExt;
use rand::Rng;
use serde::Deserialize;

use crate::config::ProviderConfig;
use crate::registry::{
    KeyUse, KindSettings, ProviderKindSpec, SettingsError, SettingsMap, parse_settings,
};

/// Kind `mock`: built in, no network, no key.
pub static KIND: ProviderKindSpec = ProviderKindSpec {
    kind: ProviderKind::Mock,
    default_base_url: "",
    default_model: "mock-1",
    key: KeyUse::None,
    env: None,
    apply_settings,
    build,
};

/// The own settings of kind `mock` as given (`[[providers]]` keys beyond the common
/// ones, or a stored row's `config_json`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Delay before the answer (or before the first chunk), ms.
    pub latency_ms: Option<u64>,
    /// Delay between stream chunks, ms.
    pub chunk_delay_ms: Option<u64>,
    /// Number of text chunks in a streamed answer (at least 1).
    pub chunks: Option<u32>,
    /// Probability (0.0–1.0) that a call fails with `server_error`.
    pub failure_rate: Option<f64>,
}

/// The mock's resolved knobs, held in [`ProviderConfig::settings`].
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

fn apply_settings(given: &SettingsMap, cfg: &mut ProviderConfig) -> Result<(), SettingsError> {
    let s: Settings = parse_settings(given)?;
    let mut m = cfg
        .settings
        .get::<MockSettings>()
        .cloned()
        .unwrap_or_default();
    if let Some(ms) = s.latency_ms {
        m.latency = Duration::from_millis(ms);
    }
    if let Some(ms) = s.chunk_delay_ms {
        m.chunk_delay = Duration::from_millis(ms);
    }
    if let Some(n) = s.chunks {
        m.chunks = n.max(1);
    }
    if let Some(f) = s.failure_rate {
        if !(0.0..=1.0).contains(&f) {
            return Err(SettingsError::new(
                "failure_rate",
                "must be between 0 and 1",
            ));
        }
        m.failure_rate = f;
    }
    cfg.settings = KindSettings::new(m);
    Ok(())
}

fn build(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    Ok(Arc::new(MockProvider::new(&cfg)))
}

/// The mock provider.
#[derive(Debug, Clone)]
pub struct MockProvider {
    name: String,
    default_model: String,
    settings: MockSettings,
}

impl MockProvider {
    /// A mock provider with the given settings.
    pub fn new(cfg: &ProviderConfig) -> Self {
        Self {
            name: cfg.name.clone(),
            default_model: cfg.default_model.clone(),
            settings: cfg
                .settings
                .get::<MockSettings>()
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The mock speaks no wire format: a request only a same-format upstream can serve
    /// is refused, as a translating upstream refuses it.
    fn translatable(&self, request: &ChatRequest) -> Result<(), GatewayError> {
        match &request.passthrough_only {
            Some(why) => Err(GatewayError::new(
                ErrorCode::InvalidRequest,
                format!("{why}; provider `{}` would have to translate it", self.name),
            )
            .with_provider(&self.name)),
            None => Ok(()),
        }
    }

    fn maybe_fail(&self) -> Result<(), GatewayError> {
        if self.settings.failure_rate > 0.0
            && rand::rng().random_bool(self.settings.failure_rate.min(1.0))
        {
            return Err(
                GatewayError::new(ErrorCode::ServerError, "mock failure (failure_rate)")
                    .with_provider(&self.name)
                    .with_status(500),
            );
        }
        Ok(())
    }
}

/// What the mock answers to `request`.
fn answer(request: &ChatRequest, model: &str) -> (Vec<ContentPart>, FinishReason) {
    let wanted_tool = match &request.tool_choice {
        Some(ToolChoice::Function(name)) => request.tools.iter().find(|t| &t.name == name),
        Some(ToolChoice::Required) => request.tools.first(),
        _ => None,
    };
    if let Some(tool) = wanted_tool {
        let part = ContentPart::ToolCall {
            id: "call_mock_0".into(),
            name: tool.name.clone(),
            arguments: "{}".into(),
        };
        return (vec![part], FinishReason::ToolCalls);
    }
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.joined_text())
        .unwrap_or_default();
    let echo: String = last_user.chars().take(40).collect();
    let text = format!("This is a mock response from {model}. You said: {echo}");
    (vec![ContentPart::text(text)], FinishReason::Stop)
}

fn usage_for(request: &ChatRequest, content: &[ContentPart]) -> Usage {
    let out_chars: usize = content
        .iter()
        .map(|p| match p {
            ContentPart::Text { text } => text.len(),
            ContentPart::ToolCall {
                name, arguments, ..
            } => name.len() + arguments.len(),
            _ => 0,
        })
        .sum();
    Usage {
        input_tokens: request.estimated_input_tokens(),
        output_tokens: (out_chars as u64).div_ceil(4).max(1),
        ..Default::default()
    }
}

/// Splits `text` into at most `n` pieces on char boundaries.
fn split_text(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[async_trait]
impl Provider for MockProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Mock
    }

    fn default_model(&self) -> &str {
        &self.default_model
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatOutcome, GatewayError> {
        if !self.settings.latency.is_zero() {
            tokio::time::sleep(self.settings.latency).await;
        }
        self.maybe_fail()?;
        self.translatable(request)?;
        let (content, finish_reason) = answer(request, model);
        let usage = usage_for(request, &content);
        Ok(ChatOutcome {
            response: ChatResponse {
                id: format!("mock-{}", uuid::Uuid::now_v7().simple()),
                model: model.to_owned(),
                created: time::OffsetDateTime::now_utc().unix_timestamp(),
                content,
                finish_reason,
                stop_sequence: None,
                usage,
            },
            raw: None,
        })
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        model: &str,
    ) -> Result<ChatStream, GatewayError> {
        if !self.settings.latency.is_zero() {
            tokio::time::sleep(self.settings.latency).await;
        }
        self.maybe_fail()?;
        self.translatable(request)?;
        let (content, finish_reason) = answer(request, model);
        let usage = usage_for(request, &content);
        let mut chunks: Vec<Vec<StreamEvent>> = vec![vec![StreamEvent::Start {
            id: format!("mock-{}", uuid::Uuid::now_v7().simple()),
            model: model.to_owned(),
            created: time::OffsetDateTime::now_utc().unix_timestamp(),
        }]];
        for (index, part) in content.into_iter().enumerate() {
            match part {
                ContentPart::Text { text } => {
                    for piece in split_text(&text, self.settings.chunks as usize) {
                        chunks.push(vec![StreamEvent::TextDelta { text: piece }]);
                    }
                }
                ContentPart::ToolCall {
                    id,
                    name,
                    arguments,
                } => {
                    let index = index as u32;
                    chunks.push(vec![StreamEvent::ToolCallStart { index, id, name }]);
                    chunks.push(vec![StreamEvent::ToolCallDelta { index, arguments }]);
                }
                _ => {}
            }
        }
        chunks.push(vec![
            StreamEvent::Finish {
                reason: finish_reason,
                stop_sequence: None,
            },
            StreamEvent::Usage(usage),
        ]);
        // The first chunk is immediate (latency was paid above); later ones are paced.
        let delay = self.settings.chunk_delay;
        let stream = futures::stream::iter(chunks.into_iter().enumerate()).then(
            move |(i, events)| async move {
                if i > 1 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(StreamChunk { events, raw: None })
            },
        );
        Ok(Box::pin(stream))
    }

    async fn embed(
        &self,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        self.maybe_fail()?;
        let dims = request.dimensions.unwrap_or(8).clamp(1, 4096) as usize;
        let texts = request.input.texts();
        let data = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Embedding {
                index: i as u32,
                vector: pseudo_vector(t, dims),
            })
            .collect();
        let chars: usize = texts.iter().map(|t| t.len()).sum();
        Ok(EmbeddingResponse {
            model: model.to_owned(),
            data,
            usage: Usage {
                input_tokens: (chars as u64).div_ceil(4).max(1),
                ..Default::default()
            },
        })
    }

    async fn probe(&self) -> Result<(), GatewayError> {
        Ok(())
    }

    /// The input usage a chat answer to `request` would report (the gateway's estimate,
    /// which is the mock's own tokenizer): exact, as far as the mock goes.
    async fn count_tokens(
        &self,
        request: &ChatRequest,
        _model: &str,
    ) -> Result<TokenCount, GatewayError> {
        self.maybe_fail()?;
        Ok(TokenCount::exact(request.estimated_input_tokens()))
    }
}

/// A deterministic unit vector derived from the text (FNV-1a seeded per dimension).
fn pseudo_vector(text: &str, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dims)
        .map(|d| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ d as u64;
            for b in text.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            ((h % 2000) as f32 / 1000.0) - 1.0
        })
        .collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::{Message, ToolDefinition};

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: "mock/x".into(),
            messages: vec![Message::text(Role::User, text)],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn chat_is_deterministic() {
        let p = MockProvider::new(&ProviderConfig::new("mock", ProviderKind::Mock));
        let a = p.chat(&req("hello"), "m").await.unwrap().response;
        let b = p.chat(&req("hello"), "m").await.unwrap().response;
        assert_eq!(a.text(), b.text());
        assert!(a.text().contains("You said: hello"));
        assert!(a.usage.input_tokens > 0 && a.usage.output_tokens > 0);
    }

    #[tokio::test]
    async fn stream_reassembles_to_the_same_text() {
        let p = MockProvider::new(&ProviderConfig::new("mock", ProviderKind::Mock));
        let whole = p.chat(&req("hi there"), "m").await.unwrap().response.text();
        let mut s = p.chat_stream(&req("hi there"), "m").await.unwrap();
        let mut text = String::new();
        let mut finished = false;
        while let Some(chunk) = s.next().await {
            for e in chunk.unwrap().events {
                match e {
                    StreamEvent::TextDelta { text: t } => text.push_str(&t),
                    StreamEvent::Finish { reason, .. } => {
                        assert_eq!(reason, FinishReason::Stop);
                        finished = true;
                    }
                    _ => {}
                }
            }
        }
        assert!(finished);
        assert_eq!(text, whole);
    }

    #[tokio::test]
    async fn required_tool_choice_calls_the_tool() {
        let p = MockProvider::new(&ProviderConfig::new("mock", ProviderKind::Mock));
        let mut r = req("weather?");
        r.tools.push(ToolDefinition {
            name: "get_weather".into(),
            description: None,
            parameters: serde_json::json!({"type": "object"}),
            strict: None,
            freeform: None,
        });
        r.tool_choice = Some(ToolChoice::Required);
        let resp = p.chat(&r, "m").await.unwrap().response;
        assert_eq!(resp.finish_reason, FinishReason::ToolCalls);
        assert!(resp.has_tool_calls());
    }

    #[tokio::test]
    async fn failure_rate_one_always_fails() {
        let mut cfg = ProviderConfig::new("mock", ProviderKind::Mock);
        cfg.settings = KindSettings::new(MockSettings {
            failure_rate: 1.0,
            ..MockSettings::default()
        });
        let p = MockProvider::new(&cfg);
        let e = p.chat(&req("x"), "m").await.unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerError);
    }

    #[tokio::test]
    async fn counts_match_the_usage_of_a_chat_answer() {
        let p = MockProvider::new(&ProviderConfig::new("mock", ProviderKind::Mock));
        let r = req("count these words please");
        let count = p.count_tokens(&r, "m").await.unwrap();
        let usage = p.chat(&r, "m").await.unwrap().response.usage;
        assert_eq!(count, TokenCount::exact(usage.input_tokens));
    }

    #[test]
    fn embeddings_are_unit_vectors() {
        let v = pseudo_vector("abc", 16);
        let n: f32 = v.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4);
        assert_eq!(v, pseudo_vector("abc", 16));
    }
}
