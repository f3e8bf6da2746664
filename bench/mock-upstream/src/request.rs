//! Borrowing views of the three providers' request bodies: only what the mock needs,
//! parsed without building a JSON tree (unknown fields are skipped).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON string, borrowed from the body unless it contained escapes.
#[derive(Debug, Clone)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl Str<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The text of a message's content: a string, or an array of blocks/parts whose
/// `text` fields count (non-text blocks and Gemini `thought` parts are skipped).
#[derive(Debug, Default)]
pub(crate) struct Texts<'a> {
    /// The last text in the content.
    pub last: Option<Cow<'a, str>>,
    /// Total bytes of text.
    pub len: usize,
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    text: Option<Str<'a>>,
    #[serde(default)]
    thought: Option<bool>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Texts<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Texts<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an array of content blocks, or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Texts {
                    last: Some(Cow::Borrowed(v)),
                    len: v.len(),
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                self.visit_string(v.to_owned())
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Texts {
                    len: v.len(),
                    last: Some(Cow::Owned(v)),
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Texts::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Texts::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut t = Texts::default();
                while let Some(b) = seq.next_element::<Block<'de>>()? {
                    let is_text = b.kind.as_ref().is_none_or(|k| k.as_str() == "text");
                    if let (true, false, Some(text)) = (is_text, b.thought == Some(true), b.text) {
                        t.len += text.0.len();
                        t.last = Some(text.0);
                    }
                }
                Ok(t)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Texts::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Role bits, so each format can check which roles it accepts.
pub(crate) mod role {
    pub const USER: u32 = 1;
    pub const ASSISTANT: u32 = 1 << 1;
    pub const SYSTEM: u32 = 1 << 2;
    pub const DEVELOPER: u32 = 1 << 3;
    pub const TOOL: u32 = 1 << 4;
    pub const FUNCTION: u32 = 1 << 5;
    pub const MODEL: u32 = 1 << 6;
    pub const OTHER: u32 = 1 << 7;

    pub fn bit(r: &str) -> u32 {
        match r {
            "user" => USER,
            "assistant" => ASSISTANT,
            "system" => SYSTEM,
            "developer" => DEVELOPER,
            "tool" => TOOL,
            "function" => FUNCTION,
            "model" => MODEL,
            _ => OTHER,
        }
    }
}

#[derive(Deserialize)]
struct Turn<'a> {
    #[serde(borrow, default)]
    role: Option<Str<'a>>,
    #[serde(borrow, default, alias = "parts")]
    content: Texts<'a>,
}

/// A `messages` (OpenAI, Anthropic) or `contents` (Gemini) array, folded on the fly.
#[derive(Debug, Default)]
pub(crate) struct Conversation<'a> {
    /// The last text of the last user turn that had text (a missing role is `user`).
    pub last_user_text: Option<Cow<'a, str>>,
    /// Total bytes of text in every turn.
    pub text_len: usize,
    /// Number of turns.
    pub turns: usize,
    /// Union of [`role`] bits seen.
    pub roles: u32,
    /// The first role that is not one of the known names.
    pub unknown_role: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Conversation<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Conversation<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of messages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut c = Conversation::default();
                while let Some(t) = seq.next_element::<Turn<'de>>()? {
                    c.turns += 1;
                    c.text_len += t.content.len;
                    let bit = t
                        .role
                        .as_ref()
                        .map_or(role::USER, |r| role::bit(r.as_str()));
                    c.roles |= bit;
                    if bit == role::OTHER && c.unknown_role.is_none() {
                        c.unknown_role = t.role.map(|r| r.0);
                    }
                    if bit == role::USER && t.content.last.is_some() {
                        c.last_user_text = t.content.last;
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_seq(V)
    }
}

impl Conversation<'_> {
    /// The first role outside `allowed`, for the error message.
    pub(crate) fn bad_role(&self, allowed: u32) -> Option<&str> {
        let bad = self.roles & !allowed;
        if bad == 0 {
            return None;
        }
        if bad & role::OTHER != 0 {
            return Some(self.unknown_role.as_deref().unwrap_or("?"));
        }
        [
            ("user", role::USER),
            ("assistant", role::ASSISTANT),
            ("system", role::SYSTEM),
            ("developer", role::DEVELOPER),
            ("tool", role::TOOL),
            ("function", role::FUNCTION),
            ("model", role::MODEL),
        ]
        .into_iter()
        .find(|(_, b)| bad & b != 0)
        .map(|(n, _)| n)
    }
}

/// `{"name": ...}` (also used for `{"function": {"name"}}` wrappers).
#[derive(Deserialize)]
pub(crate) struct Named<'a> {
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
}

// ------------------------------------------------------------------------- OpenAI

/// `POST /v1/chat/completions`.
#[derive(Deserialize)]
pub(crate) struct OpenAiChat<'a> {
    #[serde(borrow, default)]
    pub model: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub messages: Option<Conversation<'a>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<OpenAiTool<'a>>>,
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
}

/// `stream_options`.
#[derive(Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// One entry of `tools`.
#[derive(Deserialize)]
pub(crate) struct OpenAiTool<'a> {
    #[serde(borrow, default)]
    pub function: Option<Named<'a>>,
}

impl<'a> OpenAiChat<'a> {
    /// The function to call: `tool_choice` `"required"` → the first tool, or the named
    /// function; `None` for `auto`/`none`/absent.
    pub(crate) fn forced_tool(&self) -> Option<Cow<'a, str>> {
        let tools = self.tools.as_ref()?;
        let first = || {
            tools
                .iter()
                .find_map(|t| t.function.as_ref()?.name.as_ref().map(|n| n.0.clone()))
        };
        match self.tool_choice.as_ref()? {
            serde_json::Value::String(s) if s == "required" => first(),
            serde_json::Value::Object(o) => {
                match o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(|n| n.as_str())
                {
                    Some(n) => Some(Cow::Owned(n.to_owned())),
                    None => first(),
                }
            }
            _ => None,
        }
    }
}

/// `POST /v1/embeddings`.
#[derive(Deserialize)]
pub(crate) struct OpenAiEmbeddings<'a> {
    #[serde(borrow, default)]
    pub model: Option<Str<'a>>,
    #[serde(default)]
    pub input: Option<EmbeddingInput>,
    #[serde(borrow, default)]
    pub encoding_format: Option<Str<'a>>,
    #[serde(default)]
    pub dimensions: Option<usize>,
}

/// One embedding input: a seed for the vector and its length in bytes (or tokens).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmbedItem {
    pub seed: u64,
    pub len: usize,
}

/// `input`: a string, an array of strings, an array of token ids, or an array of
/// token-id arrays.
#[derive(Debug, Default)]
pub(crate) struct EmbeddingInput(pub Vec<EmbedItem>);

enum Elem {
    Text(EmbedItem),
    Token(u64),
    Tokens(EmbedItem),
}

impl<'de> Deserialize<'de> for Elem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a token id or an array of token ids")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Elem, E> {
                Ok(Elem::Text(EmbedItem {
                    seed: crate::util::fnv(v.as_bytes()),
                    len: v.len(),
                }))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Elem, E> {
                Ok(Elem::Token(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Elem, E> {
                u64::try_from(v)
                    .map(Elem::Token)
                    .map_err(|_| E::custom("negative token id"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Elem, A::Error> {
                let mut h = crate::util::FNV_OFFSET;
                let mut len = 0;
                while let Some(t) = seq.next_element::<u64>()? {
                    h = crate::util::fnv_step(h, &t.to_le_bytes());
                    len += 1;
                }
                Ok(Elem::Tokens(EmbedItem { seed: h, len }))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for EmbeddingInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EmbeddingInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(EmbeddingInput(vec![EmbedItem {
                    seed: crate::util::fnv(v.as_bytes()),
                    len: v.len(),
                }]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                let mut tokens: Option<(u64, usize)> = None;
                while let Some(e) = seq.next_element::<Elem>()? {
                    match e {
                        Elem::Text(i) | Elem::Tokens(i) => items.push(i),
                        Elem::Token(t) => {
                            let (h, n) = tokens.unwrap_or((crate::util::FNV_OFFSET, 0));
                            tokens = Some((crate::util::fnv_step(h, &t.to_le_bytes()), n + 1));
                        }
                    }
                }
                match tokens {
                    Some(_) if !items.is_empty() => Err(de::Error::custom(
                        "input mixes token ids with strings or arrays",
                    )),
                    Some((seed, len)) => Ok(EmbeddingInput(vec![EmbedItem { seed, len }])),
                    None => Ok(EmbeddingInput(items)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------- Anthropic

/// `POST /v1/messages`.
#[derive(Deserialize)]
pub(crate) struct AnthropicMessages<'a> {
    #[serde(borrow, default)]
    pub model: Option<Str<'a>>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(borrow, default)]
    pub messages: Option<Conversation<'a>>,
    #[serde(borrow, default)]
    pub system: Option<Texts<'a>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<Named<'a>>>,
    #[serde(borrow, default)]
    pub tool_choice: Option<AnthropicToolChoice<'a>>,
}

/// `tool_choice`.
#[derive(Deserialize)]
pub(crate) struct AnthropicToolChoice<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
}

impl<'a> AnthropicMessages<'a> {
    /// The tool to call: `{type:"any"}` → the first tool, `{type:"tool",name}` → that one.
    pub(crate) fn forced_tool(&self) -> Option<Cow<'a, str>> {
        let tools = self.tools.as_ref()?;
        let choice = self.tool_choice.as_ref()?;
        match choice.kind.as_ref()?.as_str() {
            "any" => tools
                .iter()
                .find_map(|t| t.name.as_ref().map(|n| n.0.clone())),
            "tool" => choice.name.as_ref().map(|n| n.0.clone()).or_else(|| {
                tools
                    .iter()
                    .find_map(|t| t.name.as_ref().map(|n| n.0.clone()))
            }),
            _ => None,
        }
    }
}

// ------------------------------------------------------------------------- Gemini

/// `POST …:generateContent` / `…:streamGenerateContent` (camelCase; the API also
/// accepts the proto field names).
#[derive(Deserialize)]
pub(crate) struct GeminiGenerate<'a> {
    #[serde(borrow, default)]
    pub contents: Option<Conversation<'a>>,
    #[serde(
        borrow,
        default,
        rename = "systemInstruction",
        alias = "system_instruction"
    )]
    pub system_instruction: Option<GeminiContent<'a>>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<GeminiTool<'a>>>,
    #[serde(borrow, default, rename = "toolConfig", alias = "tool_config")]
    pub tool_config: Option<GeminiToolConfig<'a>>,
}

/// A `Content` whose role does not matter.
#[derive(Deserialize)]
pub(crate) struct GeminiContent<'a> {
    #[serde(borrow, default)]
    pub parts: Texts<'a>,
}

/// One entry of `tools`.
#[derive(Deserialize)]
pub(crate) struct GeminiTool<'a> {
    #[serde(
        borrow,
        default,
        rename = "functionDeclarations",
        alias = "function_declarations"
    )]
    pub function_declarations: Option<Vec<Named<'a>>>,
}

/// `toolConfig`.
#[derive(Deserialize)]
pub(crate) struct GeminiToolConfig<'a> {
    #[serde(
        borrow,
        default,
        rename = "functionCallingConfig",
        alias = "function_calling_config"
    )]
    pub function_calling_config: Option<FunctionCallingConfig<'a>>,
}

/// `toolConfig.functionCallingConfig`.
#[derive(Deserialize)]
pub(crate) struct FunctionCallingConfig<'a> {
    #[serde(borrow, default)]
    pub mode: Option<Str<'a>>,
    #[serde(
        borrow,
        default,
        rename = "allowedFunctionNames",
        alias = "allowed_function_names"
    )]
    pub allowed_function_names: Option<Vec<Str<'a>>>,
}

impl<'a> GeminiGenerate<'a> {
    /// The function to call when `mode` is `ANY`: the first allowed name, else the first
    /// declared function.
    pub(crate) fn forced_tool(&self) -> Option<Cow<'a, str>> {
        let fcc = self
            .tool_config
            .as_ref()?
            .function_calling_config
            .as_ref()?;
        if fcc.mode.as_ref()?.as_str() != "ANY" {
            return None;
        }
        if let Some(n) = fcc.allowed_function_names.as_ref().and_then(|a| a.first()) {
            return Some(n.0.clone());
        }
        self.tools
            .as_ref()?
            .iter()
            .filter_map(|t| t.function_declarations.as_ref())
            .flatten()
            .find_map(|f| f.name.as_ref().map(|n| n.0.clone()))
    }
}

/// `POST …:countTokens`: `contents`, or a whole `generateContentRequest`.
#[derive(Deserialize)]
pub(crate) struct GeminiCountTokens<'a> {
    #[serde(borrow, default)]
    pub contents: Option<Conversation<'a>>,
    #[serde(
        borrow,
        default,
        rename = "generateContentRequest",
        alias = "generate_content_request"
    )]
    pub generate_content_request: Option<GeminiGenerate<'a>>,
}

/// `POST …:embedContent`, and one entry of `batchEmbedContents.requests`.
#[derive(Deserialize)]
pub(crate) struct GeminiEmbed<'a> {
    #[serde(borrow, default)]
    pub content: Option<GeminiContent<'a>>,
    #[serde(
        default,
        rename = "outputDimensionality",
        alias = "output_dimensionality"
    )]
    pub output_dimensionality: Option<usize>,
}

/// `POST …:batchEmbedContents`.
#[derive(Deserialize)]
pub(crate) struct GeminiBatchEmbed<'a> {
    #[serde(borrow, default)]
    pub requests: Option<Vec<GeminiEmbed<'a>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_keeps_last_user_text_and_borrows() {
        let body = br#"{"model":"m","messages":[
            {"role":"system","content":"sys"},
            {"role":"user","content":[{"type":"text","text":"first"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"second"}]},
            {"role":"assistant","content":null,"tool_calls":[]},
            {"role":"tool","content":"{\"t\":1}","tool_call_id":"c"}
        ],"unknown":{"deep":[1,2]}}"#;
        let r: OpenAiChat<'_> = serde_json::from_slice(body).unwrap();
        let c = r.messages.unwrap();
        assert_eq!(c.last_user_text.as_deref(), Some("second"));
        assert!(matches!(c.last_user_text, Some(Cow::Borrowed(_))));
        assert_eq!(c.turns, 4);
        assert_eq!(
            c.bad_role(role::USER | role::ASSISTANT | role::SYSTEM),
            Some("tool")
        );
    }

    #[test]
    fn gemini_parts_and_roles() {
        let body = br#"{"contents":[{"parts":[{"text":"hi","thought":true},{"text":"there"}]},
            {"role":"wizard","parts":[]}]}"#;
        let r: GeminiGenerate<'_> = serde_json::from_slice(body).unwrap();
        let c = r.contents.unwrap();
        assert_eq!(c.last_user_text.as_deref(), Some("there"));
        assert_eq!(c.bad_role(role::USER | role::MODEL), Some("wizard"));
    }

    #[test]
    fn embedding_inputs() {
        let one: OpenAiEmbeddings<'_> = serde_json::from_str(r#"{"input":"a"}"#).unwrap();
        assert_eq!(one.input.unwrap().0.len(), 1);
        let many: OpenAiEmbeddings<'_> = serde_json::from_str(r#"{"input":["a","b"]}"#).unwrap();
        assert_eq!(many.input.unwrap().0.len(), 2);
        let toks: OpenAiEmbeddings<'_> = serde_json::from_str(r#"{"input":[1,2,3]}"#).unwrap();
        assert_eq!(toks.input.unwrap().0.len(), 1);
        let batch: OpenAiEmbeddings<'_> = serde_json::from_str(r#"{"input":[[1,2],[3]]}"#).unwrap();
        assert_eq!(batch.input.unwrap().0.len(), 2);
    }
}
