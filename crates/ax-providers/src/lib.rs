//! Wire-protocol codecs (OpenAI, Anthropic, Gemini) and upstream provider adapters.
