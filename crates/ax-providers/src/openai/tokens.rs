//! Token counting for OpenAI models, which have no count endpoint: the request is
//! counted here with the model's own tokenizer (tiktoken's BPE, from the `tiktoken-rs`
//! crate), the way the OpenAI cookbook "How to count tokens with tiktoken" counts chat
//! messages: each message costs 3 tokens of framing plus its role and content (plus 1
//! and the name's tokens when it has a `name`), and the reply is primed with 3 more.
//!
//! The encoding comes from the model's name (tiktoken's own model table:
//! `o200k_base` for gpt-4o, gpt-4.1, gpt-5 and the o-series, `cl100k_base` for gpt-4 and
//! gpt-3.5). A model the table does not know (an openai-compatible server's `llama3`)
//! is counted with `o200k_base` and the count marked estimated, as is anything the
//! cookbook does not state the cost of: tool definitions (their JSON counted as text),
//! tool calls and results, images (OpenAI's tile price for an image of unknown size),
//! documents (the gateway's character estimate) and a JSON-schema response format.
//! Text-only conversations with a known model are exact.
//!
//! Each encoding's BPE tables are built once, on first use ([`LazyLock`]), never per
//! request. Texts are encoded in pieces of at most [`CHUNK_BYTES`], cut where tiktoken's
//! split pattern itself cuts (after a line break before a letter or digit), so the count
//! is unchanged; only a run longer than that with no such place is cut elsewhere (and
//! the count marked estimated). That bounds the regex engine's work per call: one
//! million spaces in one call make `tiktoken-rs` 0.12 panic (fancy-regex's backtracking
//! limit, unwrapped inside the crate).

use std::sync::LazyLock;

use ax_core::{ChatRequest, ContentPart, DocumentSource, ResponseFormat, Role, TokenCount, Usage};
use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

/// Tokens of framing per message (cookbook: `tokens_per_message = 3`).
const PER_MESSAGE: u64 = 3;
/// Extra tokens when a message has a `name` (cookbook: `tokens_per_name = 1`).
const PER_NAME: u64 = 1;
/// Tokens priming the reply (cookbook: "every reply is primed with
/// <|start|>assistant<|message|>").
const REPLY_PRIMING: u64 = 3;
/// An image of unknown size at `detail: low` (OpenAI's vision pricing: 85 tokens).
const IMAGE_LOW: u64 = 85;
/// An image of unknown size otherwise: 85 + 170 per 512 px tile, for a 1024 × 1024
/// image (4 tiles).
const IMAGE_DEFAULT: u64 = 85 + 4 * 170;
/// A document given by URL (its size unknown): the gateway's usual guess.
const DOCUMENT_URL: u64 = 1000;

/// Longest text handed to the tokenizer in one call.
pub const CHUNK_BYTES: usize = 16 * 1024;

/// Requests with more text than this are counted on the blocking thread pool
/// ([`Counting::runs_long`]), so a runtime worker is never held for long.
pub const INLINE_BYTES: usize = 64 * 1024;

/// The BPE tables of one encoding, built on first use. `None` only if the tables shipped
/// in `tiktoken-rs` failed to load (then the count is the gateway's estimate).
static O200K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::o200k_base().ok());
static CL100K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::cl100k_base().ok());

/// The tiktoken encodings chat models use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// gpt-4o, gpt-4.1, gpt-5, o1/o3/o4 (and the fallback for unknown models).
    O200kBase,
    /// gpt-4, gpt-3.5-turbo.
    Cl100kBase,
}

impl Encoding {
    /// The encoding of `model` and whether that is known (tiktoken's model table, an
    /// `ft:` fine-tune counting as its base); unknown models get `o200k_base`.
    pub fn for_model(model: &str) -> (Self, bool) {
        match get_tokenizer(model) {
            Some(Tokenizer::O200kBase) => (Self::O200kBase, true),
            Some(Tokenizer::Cl100kBase) => (Self::Cl100kBase, true),
            // gpt-oss (o200k_harmony: the same text tokens, another message framing),
            // legacy completion models, or no entry at all.
            _ => (Self::O200kBase, false),
        }
    }

    fn bpe(self) -> Option<&'static CoreBPE> {
        match self {
            Self::O200kBase => O200K.as_ref(),
            Self::Cl100kBase => CL100K.as_ref(),
        }
    }
}

/// What is to be counted for one request, owned, so that the counting can run on
/// another thread: the texts to tokenize, the tokens already known (framing and
/// estimates), and whether the total will be exact.
#[derive(Debug, Clone)]
pub struct Counting {
    encoding: Encoding,
    texts: Vec<String>,
    fixed: u64,
    exact: bool,
}

impl Counting {
    /// The counting of `request` for `model`, in Chat Completions' terms (one message
    /// per unified message, roles as the OpenAI encoder names them, reasoning parts left
    /// out as the encoder leaves them out).
    pub fn of(request: &ChatRequest, model: &str) -> Self {
        let (encoding, known) = Encoding::for_model(model);
        let mut c = Self {
            encoding,
            texts: Vec::with_capacity(request.messages.len() * 2 + request.tools.len()),
            fixed: REPLY_PRIMING,
            exact: known,
        };
        for m in &request.messages {
            c.fixed += PER_MESSAGE;
            c.texts.push(role_name(m.role).to_owned());
            if let Some(name) = &m.name {
                c.fixed += PER_NAME;
                c.texts.push(name.clone());
            }
            let mut text = String::new();
            for part in &m.content {
                c.part(part, &mut text);
            }
            if !text.is_empty() {
                c.texts.push(text);
            }
        }
        for t in &request.tools {
            // Tool definitions reach the model in a format OpenAI does not document: their
            // JSON, as Chat Completions takes it, counted as text.
            c.exact = false;
            let mut function = serde_json::Map::new();
            function.insert("name".into(), t.name.clone().into());
            if let Some(d) = &t.description {
                function.insert("description".into(), d.clone().into());
            }
            function.insert("parameters".into(), t.parameters.clone());
            let tool = serde_json::json!({"type": "function", "function": function});
            c.texts.push(tool.to_string());
        }
        if let Some(ResponseFormat::JsonSchema { schema, .. }) = &request.response_format {
            c.exact = false;
            c.texts.push(schema.to_string());
        }
        c
    }

    /// Adds one content part: text joins the message's text (the parts of one message are
    /// one content for the model); anything else is counted or estimated apart.
    fn part(&mut self, part: &ContentPart, text: &mut String) {
        match part {
            ContentPart::Text { text: t } => text.push_str(t),
            ContentPart::Image { detail, .. } => {
                self.exact = false;
                self.fixed += if detail.as_deref() == Some("low") {
                    IMAGE_LOW
                } else {
                    IMAGE_DEFAULT
                };
            }
            ContentPart::Document { source, title } => {
                self.exact = false;
                if let Some(t) = title {
                    self.texts.push(t.clone());
                }
                match source {
                    DocumentSource::Text { text: t } => self.texts.push(t.clone()),
                    DocumentSource::Base64 { data, .. } => {
                        self.fixed += Usage::estimate_from_chars(data.len() as u64);
                    }
                    DocumentSource::Url { .. } => self.fixed += DOCUMENT_URL,
                }
            }
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                self.exact = false;
                self.texts.push(id.clone());
                self.texts.push(name.clone());
                self.texts.push(arguments.clone());
            }
            ContentPart::ToolResult {
                tool_call_id,
                content,
                ..
            } => {
                self.exact = false;
                self.texts.push(tool_call_id.clone());
                for p in content {
                    self.part(p, text);
                }
            }
            // The OpenAI encoder sends no reasoning of earlier turns.
            ContentPart::Reasoning { .. } => {}
        }
    }

    /// Bytes of text to tokenize.
    pub fn text_bytes(&self) -> usize {
        self.texts.iter().map(String::len).sum()
    }

    /// Whether counting should leave the async runtime's threads
    /// (more than [`INLINE_BYTES`] of text).
    pub fn runs_long(&self) -> bool {
        self.text_bytes() > INLINE_BYTES
    }

    /// Counts. Without the encoding's tables (never expected: they are built into the
    /// binary) the texts are estimated at the gateway's four characters per token.
    pub fn count(&self) -> TokenCount {
        let Some(bpe) = self.encoding.bpe() else {
            let chars = self.text_bytes() as u64;
            return TokenCount::estimated(self.fixed + Usage::estimate_from_chars(chars));
        };
        let mut exact = self.exact;
        let mut total = self.fixed;
        for t in &self.texts {
            let (n, cut) = count_text(bpe, t);
            total += n;
            exact &= !cut;
        }
        TokenCount {
            input_tokens: total,
            exact,
        }
    }
}

/// The role as Chat Completions names it.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// The tokens of `text` (special-token names counted as plain text, as OpenAI treats
/// them in a message), and whether it had to be cut where tiktoken would not.
pub fn count_text(bpe: &CoreBPE, text: &str) -> (u64, bool) {
    let mut total = 0u64;
    let mut cut_inexactly = false;
    let mut rest = text;
    while !rest.is_empty() {
        let (chunk, exact) = next_chunk(rest, CHUNK_BYTES);
        cut_inexactly |= !exact;
        total += bpe.encode_ordinary(chunk).len() as u64;
        rest = &rest[chunk.len()..];
    }
    (total, cut_inexactly)
}

/// The longest head of `text` of at most `max` bytes that ends where tiktoken's split
/// pattern ends a piece anyway — right after a `\n` followed by a letter or digit (no
/// alternative of the `cl100k_base` or `o200k_base` pattern lets a piece run from a line
/// break into a letter or digit) — and `true`; the whole `text` when it fits. When no
/// such place exists, the head up to `max` (on a char boundary) and `false`.
fn next_chunk(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, true);
    }
    let mut limit = max;
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let head = &text[..limit];
    // The last `\n` in the head whose next char (in the whole text) is alphanumeric.
    let mut search = head;
    while let Some(nl) = search.rfind('\n') {
        let after = nl + 1;
        if after < text.len()
            && text[after..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
        {
            return (&text[..after], true);
        }
        search = &search[..nl];
    }
    if limit == 0 {
        // `max` is smaller than the first char: take that char whole.
        let first = text.chars().next().map_or(text.len(), char::len_utf8);
        return (&text[..first], false);
    }
    (head, false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ax_core::{ImageSource, Message, ToolDefinition};
    use proptest::prelude::*;

    use super::*;

    fn bpe(e: Encoding) -> &'static CoreBPE {
        e.bpe().unwrap()
    }

    fn chat(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages,
            ..ChatRequest::default()
        }
    }

    #[test]
    fn encodings_follow_tiktokens_model_table() {
        for (model, enc, known) in [
            ("gpt-4o", Encoding::O200kBase, true),
            ("gpt-4o-mini-2024-07-18", Encoding::O200kBase, true),
            ("gpt-4.1-nano", Encoding::O200kBase, true),
            ("gpt-5", Encoding::O200kBase, true),
            ("o3-mini", Encoding::O200kBase, true),
            ("ft:gpt-4o-mini:org::abc", Encoding::O200kBase, true),
            ("gpt-4", Encoding::Cl100kBase, true),
            ("gpt-4-turbo", Encoding::Cl100kBase, true),
            ("gpt-3.5-turbo", Encoding::Cl100kBase, true),
            ("llama3", Encoding::O200kBase, false),
            ("gpt-oss-20b", Encoding::O200kBase, false),
        ] {
            assert_eq!(Encoding::for_model(model), (enc, known), "{model}");
        }
    }

    #[test]
    fn a_text_conversation_is_counted_as_the_cookbook_does() {
        // Each term of the cookbook's sum, computed with the encoding itself.
        let r = chat(vec![
            Message::text(Role::System, "You are a helpful assistant."),
            Message {
                name: Some("example_user".into()),
                ..Message::text(Role::User, "Hello there!")
            },
        ]);
        for model in ["gpt-4o", "gpt-4"] {
            let (enc, _) = Encoding::for_model(model);
            let b = bpe(enc);
            let t = |s: &str| b.encode_ordinary(s).len() as u64;
            let expected = 3
                + t("system")
                + t("You are a helpful assistant.")
                + 3
                + t("user")
                + t("Hello there!")
                + t("example_user")
                + 1
                + 3;
            assert_eq!(
                Counting::of(&r, model).count(),
                TokenCount::exact(expected),
                "{model}"
            );
        }
        // tiktoken-rs's own implementation of the cookbook agrees.
        let msgs = [
            tiktoken_rs::ChatCompletionRequestMessage {
                role: "system".into(),
                content: Some("You are a helpful assistant.".into()),
                ..Default::default()
            },
            tiktoken_rs::ChatCompletionRequestMessage {
                role: "user".into(),
                content: Some("Hello there!".into()),
                name: Some("example_user".into()),
                ..Default::default()
            },
        ];
        let theirs = tiktoken_rs::num_tokens_from_messages("gpt-4o", &msgs).unwrap() as u64;
        assert_eq!(Counting::of(&r, "gpt-4o").count().input_tokens, theirs);
    }

    #[test]
    fn what_the_cookbook_does_not_price_is_estimated() {
        let plain = chat(vec![Message::text(Role::User, "hi")]);
        assert!(Counting::of(&plain, "gpt-4o").count().exact);
        assert!(!Counting::of(&plain, "llama3").count().exact);
        let mut tools = plain.clone();
        tools.tools.push(ToolDefinition {
            name: "get_weather".into(),
            description: Some("Weather of a city".into()),
            parameters: serde_json::json!({"type": "object"}),
            strict: None,
            freeform: None,
        });
        let with_tools = Counting::of(&tools, "gpt-4o").count();
        assert!(!with_tools.exact);
        assert!(with_tools.input_tokens > Counting::of(&plain, "gpt-4o").count().input_tokens);
        let image = chat(vec![Message {
            role: Role::User,
            content: vec![
                ContentPart::text("what is this?"),
                ContentPart::Image {
                    source: ImageSource::Url {
                        url: "https://x/y.png".into(),
                    },
                    detail: Some("low".into()),
                },
            ],
            name: None,
        }]);
        let c = Counting::of(&image, "gpt-4o").count();
        assert!(!c.exact);
        let text_only = chat(vec![Message::text(Role::User, "what is this?")]);
        assert_eq!(
            c.input_tokens,
            Counting::of(&text_only, "gpt-4o").count().input_tokens + IMAGE_LOW
        );
    }

    #[test]
    fn long_texts_are_cut_where_tiktoken_cuts() {
        let b = bpe(Encoding::O200kBase);
        let line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit!\n";
        let text = line.repeat(2000);
        assert!(text.len() > 4 * CHUNK_BYTES);
        let whole = b.encode_ordinary(&text).len() as u64;
        assert_eq!(count_text(b, &text), (whole, false));
        let mut c = Counting::of(&chat(vec![Message::text(Role::User, text)]), "gpt-4o");
        assert!(c.runs_long());
        assert!(c.count().exact);
        c.texts.truncate(1);
        assert!(!c.runs_long());
    }

    #[test]
    fn a_huge_run_without_line_breaks_is_counted_without_a_panic() {
        // One million spaces in one call panic inside tiktoken-rs 0.12.
        let spaces = " ".repeat(1_000_000);
        let (n, cut) = count_text(bpe(Encoding::O200kBase), &spaces);
        assert!(cut);
        assert!(n > 0);
    }

    #[test]
    fn chunks_respect_char_boundaries() {
        let text = "é".repeat(10);
        let (head, exact) = next_chunk(&text, 5);
        assert_eq!((head, exact), ("éé", false));
        let (head, _) = next_chunk("é", 1);
        assert_eq!(head, "é");
        assert_eq!(next_chunk("ab\ncd", 4), ("ab\n", true));
        assert_eq!(next_chunk("ab\n cd", 5), ("ab\n c", false));
    }

    proptest! {
        /// Cut where the pattern cuts, the count of any text of letters, digits, spaces,
        /// punctuation and line breaks is the count of the whole.
        #[test]
        fn cutting_never_changes_an_exact_count(
            text in "[a-zA-Z0-9 .,!/'\n\té]{0,400}",
            max in 8usize..64,
        ) {
            for enc in [Encoding::O200kBase, Encoding::Cl100kBase] {
                let b = bpe(enc);
                let mut total = 0;
                let mut exact = true;
                let mut rest = text.as_str();
                while !rest.is_empty() {
                    let (chunk, ok) = next_chunk(rest, max);
                    prop_assert!(!chunk.is_empty());
                    exact &= ok;
                    total += b.encode_ordinary(chunk).len();
                    rest = &rest[chunk.len()..];
                }
                if exact {
                    prop_assert_eq!(total, b.encode_ordinary(&text).len());
                }
            }
        }
    }
}
