//! Token usage in one set of semantics that every wire format converts to and from.

use serde::{Deserialize, Serialize};

/// Token counts of one request.
///
/// Semantics are OpenAI's: `input_tokens` is the whole prompt, *including* cached reads
/// and cache writes; `output_tokens` includes reasoning tokens. Codecs convert at the
/// edge: Anthropic `input_tokens` excludes cache reads and writes, so the Anthropic
/// decoder adds them and the encoder subtracts them; Gemini `candidatesTokenCount`
/// excludes `thoughtsTokenCount`, so the Gemini decoder adds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// All prompt tokens (uncached + cache read + cache write).
    pub input_tokens: u64,
    /// All generated tokens, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache (a subset of `input_tokens`).
    #[serde(default)]
    pub cached_tokens: u64,
    /// Prompt tokens written to the provider's cache (a subset of `input_tokens`).
    #[serde(default)]
    pub cache_creation_tokens: u64,
    /// Reasoning tokens (a subset of `output_tokens`).
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// `input_tokens + output_tokens`, saturating at `u64::MAX` (an upstream may report
    /// absurd counts; a total must never overflow).
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Prompt tokens that were neither read from nor written to a cache.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cached_tokens)
            .saturating_sub(self.cache_creation_tokens)
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.input_tokens == 0 && self.output_tokens == 0
    }

    /// Merges a later report into this one, keeping the larger value of each field.
    /// Streams report cumulative counts (Anthropic `message_delta`) or a final total
    /// (OpenAI, Gemini), so the maximum is always the right running total.
    pub fn merge_max(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.cached_tokens = self.cached_tokens.max(other.cached_tokens);
        self.cache_creation_tokens = self.cache_creation_tokens.max(other.cache_creation_tokens);
        self.reasoning_tokens = self.reasoning_tokens.max(other.reasoning_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_running_totals() {
        let mut u = Usage {
            input_tokens: 10,
            ..Default::default()
        };
        u.merge_max(&Usage {
            output_tokens: 5,
            ..Default::default()
        });
        u.merge_max(&Usage {
            output_tokens: 3,
            ..Default::default()
        });
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.total_tokens()),
            (10, 5, 15)
        );
    }

    #[test]
    fn total_saturates_instead_of_overflowing() {
        let u = Usage {
            input_tokens: u64::MAX,
            output_tokens: 7,
            ..Default::default()
        };
        assert_eq!(u.total_tokens(), u64::MAX);
        let u = Usage {
            input_tokens: u64::MAX - 1,
            output_tokens: 1,
            ..Default::default()
        };
        assert_eq!(u.total_tokens(), u64::MAX);
    }

    #[test]
    fn uncached_never_underflows() {
        let u = Usage {
            input_tokens: 5,
            cached_tokens: 4,
            cache_creation_tokens: 3,
            ..Default::default()
        };
        assert_eq!(u.uncached_input_tokens(), 0);
    }
}
