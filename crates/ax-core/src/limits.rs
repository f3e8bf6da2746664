//! Bounds on what one request may cost the gateway once decoded (DESIGN §8: "a
//! request's decoded size is bounded, not only its bytes"). The body-size limit alone
//! does not bound memory: 10 MiB of `{"role":"user","content":"x"}` is 300,000
//! messages. Codecs check these counts while decoding and refuse with a 400 naming the
//! limit, before the unified request is built.

use crate::GatewayError;

/// Default most messages (or Gemini `contents`) in one request.
pub const DEFAULT_MAX_MESSAGES: usize = 10_000;
/// Default most content parts (blocks) in one request, all messages together.
pub const DEFAULT_MAX_CONTENT_PARTS: usize = 20_000;
/// Default most tool definitions in one request.
pub const DEFAULT_MAX_TOOLS: usize = 1_000;
/// Default most JSON objects anywhere in one request body.
pub const DEFAULT_MAX_JSON_OBJECTS: usize = 100_000;
/// Array elements allowed in one body per allowed JSON object: an element costs ~1/20
/// of an object once decoded, so this keeps both budgets of a similar size.
pub const ARRAY_ELEMENTS_PER_OBJECT: usize = 16;

/// The request-shape limits, configurable (`[limits]` in `ax.toml`, `AX_MAX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Most messages in one request.
    pub max_messages: usize,
    /// Most content parts (text, image, tool call and tool result blocks) in one request.
    pub max_content_parts: usize,
    /// Most tool definitions in one request.
    pub max_tools: usize,
    /// Most JSON objects (`{…}`) anywhere in the body, unknown fields included: each
    /// costs ~0.7 KB once decoded, whatever its size on the wire.
    pub max_json_objects: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_messages: DEFAULT_MAX_MESSAGES,
            max_content_parts: DEFAULT_MAX_CONTENT_PARTS,
            max_tools: DEFAULT_MAX_TOOLS,
            max_json_objects: DEFAULT_MAX_JSON_OBJECTS,
        }
    }
}

/// Which request-shape limit a request went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// [`RequestLimits::max_messages`].
    Messages,
    /// [`RequestLimits::max_content_parts`].
    ContentParts,
    /// [`RequestLimits::max_tools`].
    Tools,
    /// [`RequestLimits::max_json_objects`].
    JsonObjects,
    /// Array elements anywhere in the body: [`ARRAY_ELEMENTS_PER_OBJECT`] ×
    /// [`RequestLimits::max_json_objects`] (`[0,0,0,…]` costs 16 bytes per byte).
    ArrayElements,
}

impl LimitKind {
    /// The setting's name, as an operator writes it in `ax.toml` `[limits]`.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Messages => "max_messages",
            Self::ContentParts => "max_content_parts",
            Self::Tools => "max_tools",
            Self::JsonObjects | Self::ArrayElements => "max_json_objects",
        }
    }

    /// What is counted, for the error message.
    fn noun(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::ContentParts => "content parts",
            Self::Tools => "tools",
            Self::JsonObjects => "JSON objects",
            Self::ArrayElements => "array elements",
        }
    }
}

impl RequestLimits {
    /// The limit of `kind`.
    pub fn of(&self, kind: LimitKind) -> usize {
        match kind {
            LimitKind::Messages => self.max_messages,
            LimitKind::ContentParts => self.max_content_parts,
            LimitKind::Tools => self.max_tools,
            LimitKind::JsonObjects => self.max_json_objects,
            LimitKind::ArrayElements => self
                .max_json_objects
                .saturating_mul(ARRAY_ELEMENTS_PER_OBJECT),
        }
    }

    /// `Ok` when `count` items of `kind` are within the limit, else the 400 that names it.
    pub fn check(&self, kind: LimitKind, count: usize) -> Result<(), GatewayError> {
        let limit = self.of(kind);
        if count <= limit {
            return Ok(());
        }
        Err(GatewayError::invalid(format!(
            "request has more than {limit} {} (the gateway's `{}` limit)",
            kind.noun(),
            kind.setting()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_limit() {
        let l = RequestLimits {
            max_messages: 2,
            ..RequestLimits::default()
        };
        assert!(l.check(LimitKind::Messages, 2).is_ok());
        let e = l.check(LimitKind::Messages, 3).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidRequest);
        assert!(e.message.contains("more than 2 messages"), "{}", e.message);
        assert!(e.message.contains("max_messages"), "{}", e.message);
    }
}
