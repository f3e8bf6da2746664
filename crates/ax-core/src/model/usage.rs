//! Token usage in one set of semantics that every wire format converts to and from.

use serde::{Deserialize, Serialize};

/// Token counts of one request.
///
/// Semantics are OpenAI's: `input_tokens` is the whole prompt, *including* cached reads
/// and cache writes; `output_tokens` includes reasoning tokens. Codecs convert at the
/// edge: Anthropic `input_tokens` excludes cache reads and writes, so the Anthropic
/// decoder adds them and the encoder subtracts them; Gemini `candidatesTokenCount`
/// excludes `thoughtsTokenCount`, so the Gemini decoder adds them.
///
/// **A count of 0 means "not reported".** A provider's usage object may lack one of its
/// counts (a reply with `prompt_tokens` but no `completion_tokens`); the codecs decode
/// what is missing as 0, never guessing, and whoever records the request fills each
/// unreported count with the gateway's estimate ([`Usage::fill_unreported`], request
/// characters / 4 for input, answered characters / 4 for output) and marks the record
/// `tokens_estimated`. Zero output is only kept as exact when nothing was answered.
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
    /// Characters per token of every estimate the gateway makes (request text for input,
    /// answered or streamed text for output).
    pub const CHARS_PER_TOKEN: u64 = 4;

    /// The estimated token count of `chars` characters of text (rounded up).
    pub fn estimate_from_chars(chars: u64) -> u64 {
        chars.div_ceil(Self::CHARS_PER_TOKEN)
    }

    /// Fills each count the provider did not report (0) with its estimate, and says
    /// whether any was filled (the record is then `tokens_estimated`). An estimate of 0
    /// fills nothing: an empty answer really has no output tokens.
    pub fn fill_unreported(&mut self, input_estimate: u64, output_estimate: u64) -> bool {
        let mut filled = false;
        if self.input_tokens == 0 && input_estimate > 0 {
            self.input_tokens = input_estimate;
            filled = true;
        }
        if self.output_tokens == 0 && output_estimate > 0 {
            self.output_tokens = output_estimate;
            filled = true;
        }
        filled
    }

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
    fn only_unreported_counts_are_filled() {
        // Output missing: estimated, input kept.
        let mut u = Usage {
            input_tokens: 12,
            ..Default::default()
        };
        assert!(u.fill_unreported(99, Usage::estimate_from_chars(9)));
        assert_eq!((u.input_tokens, u.output_tokens), (12, 3));
        // Both reported: nothing changes.
        let mut u = Usage {
            input_tokens: 12,
            output_tokens: 5,
            ..Default::default()
        };
        assert!(!u.fill_unreported(99, 99));
        assert_eq!((u.input_tokens, u.output_tokens), (12, 5));
        // Nothing answered: zero output is exact, not estimated.
        let mut u = Usage {
            input_tokens: 12,
            ..Default::default()
        };
        assert!(!u.fill_unreported(99, Usage::estimate_from_chars(0)));
        assert_eq!(u.output_tokens, 0);
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
