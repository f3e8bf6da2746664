//! List prices, for the `cost_usd` of each log record. Prices are USD per million
//! tokens, matched by the longest model-name prefix; a model not in the table has no
//! cost (NULL), never a made-up one.

use crate::model::Usage;

/// Price of one model family, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Uncached input.
    pub input: f64,
    /// Output (reasoning included).
    pub output: f64,
    /// Input read from cache.
    pub cached_input: f64,
    /// Input written to cache (Anthropic charges extra; others charge input price).
    pub cache_write: f64,
}

const fn p(input: f64, output: f64, cached_input: f64, cache_write: f64) -> Price {
    Price {
        input,
        output,
        cached_input,
        cache_write,
    }
}

/// Model-name prefix → price. Longest matching prefix wins.
const PRICES: &[(&str, Price)] = &[
    ("gpt-4o-mini", p(0.15, 0.60, 0.075, 0.15)),
    ("gpt-4o", p(2.50, 10.00, 1.25, 2.50)),
    ("gpt-4.1-nano", p(0.10, 0.40, 0.025, 0.10)),
    ("gpt-4.1-mini", p(0.40, 1.60, 0.10, 0.40)),
    ("gpt-4.1", p(2.00, 8.00, 0.50, 2.00)),
    ("gpt-3.5-turbo", p(0.50, 1.50, 0.50, 0.50)),
    ("o1-mini", p(1.10, 4.40, 0.55, 1.10)),
    ("o1", p(15.00, 60.00, 7.50, 15.00)),
    ("o3-mini", p(1.10, 4.40, 0.55, 1.10)),
    ("o3", p(2.00, 8.00, 0.50, 2.00)),
    ("o4-mini", p(1.10, 4.40, 0.275, 1.10)),
    ("text-embedding-3-small", p(0.02, 0.0, 0.02, 0.02)),
    ("text-embedding-3-large", p(0.13, 0.0, 0.13, 0.13)),
    ("claude-3-5-sonnet", p(3.00, 15.00, 0.30, 3.75)),
    ("claude-3-7-sonnet", p(3.00, 15.00, 0.30, 3.75)),
    ("claude-sonnet-4", p(3.00, 15.00, 0.30, 3.75)),
    ("claude-3-5-haiku", p(0.80, 4.00, 0.08, 1.00)),
    ("claude-haiku-4", p(1.00, 5.00, 0.10, 1.25)),
    ("claude-3-haiku", p(0.25, 1.25, 0.03, 0.30)),
    ("claude-3-opus", p(15.00, 75.00, 1.50, 18.75)),
    ("claude-opus-4", p(15.00, 75.00, 1.50, 18.75)),
    ("gemini-2.0-flash-lite", p(0.075, 0.30, 0.01875, 0.075)),
    ("gemini-2.0-flash", p(0.10, 0.40, 0.025, 0.10)),
    ("gemini-2.5-flash", p(0.30, 2.50, 0.075, 0.30)),
    ("gemini-2.5-pro", p(1.25, 10.00, 0.31, 1.25)),
    ("gemini-1.5-flash", p(0.075, 0.30, 0.01875, 0.075)),
    ("gemini-1.5-pro", p(1.25, 5.00, 0.3125, 1.25)),
    ("mock", p(0.0, 0.0, 0.0, 0.0)),
];

/// The price of `model` (a `provider/` prefix is ignored), if known.
pub fn price(model: &str) -> Option<Price> {
    let model = model.rsplit('/').next().unwrap_or(model);
    PRICES
        .iter()
        .filter(|(prefix, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, price)| *price)
}

/// What `usage` of `model` costs in USD, if the model is priced.
pub fn cost_usd(model: &str, usage: &Usage) -> Option<f64> {
    let p = price(model)?;
    let per = 1_000_000.0;
    Some(
        usage.uncached_input_tokens() as f64 * p.input / per
            + usage.cached_tokens as f64 * p.cached_input / per
            + usage.cache_creation_tokens as f64 * p.cache_write / per
            + usage.output_tokens as f64 * p.output / per,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        assert_eq!(price("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(price("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(price("openai/gpt-4o").unwrap().input, 2.50);
        assert!(price("llama-3-70b").is_none());
    }

    #[test]
    fn cached_tokens_are_cheaper() {
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            cached_tokens: 500_000,
            ..Default::default()
        };
        let c = cost_usd("claude-3-5-sonnet-20241022", &u).unwrap();
        assert!((c - (0.5 * 3.0 + 0.5 * 0.30 + 15.0)).abs() < 1e-9, "{c}");
    }
}
