//! Token counts of a request's input, as the token counting endpoints answer them
//! (Anthropic `POST /v1/messages/count_tokens`, Gemini `:countTokens`).

use serde::{Deserialize, Serialize};

use super::usage::Usage;

/// How many tokens a request's input holds, and whether that is the provider's own
/// number or a guess.
///
/// `exact` is true when the count comes from the model's own tokenizer: the provider's
/// count endpoint (Anthropic, Gemini) or a local tokenizer known to be the model's
/// (tiktoken for OpenAI models, text only). Anything else — a model whose tokenizer is
/// unknown, images, tool definitions formatted in ways no document states — is an
/// estimate and says so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCount {
    /// Input tokens: messages, system prompt and tool definitions.
    pub input_tokens: u64,
    /// Whether `input_tokens` is the model's own count rather than an estimate.
    pub exact: bool,
}

impl TokenCount {
    /// A count from the model's own tokenizer.
    pub fn exact(input_tokens: u64) -> Self {
        Self {
            input_tokens,
            exact: true,
        }
    }

    /// An estimate.
    pub fn estimated(input_tokens: u64) -> Self {
        Self {
            input_tokens,
            exact: false,
        }
    }

    /// The count as usage: input only, nothing generated.
    pub fn usage(self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            ..Usage::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_and_usage() {
        assert_eq!(
            TokenCount::exact(7),
            TokenCount {
                input_tokens: 7,
                exact: true
            }
        );
        assert!(!TokenCount::estimated(7).exact);
        let u = TokenCount::exact(12).usage();
        assert_eq!((u.input_tokens, u.output_tokens), (12, 0));
    }
}
