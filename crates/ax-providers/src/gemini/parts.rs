//! `Part` ↔ [`ContentPart`], shared by requests, answers and streams.
//!
//! Conventions (both directions, so a Gemini → unified → Gemini trip is lossless):
//! - a `thought: true` text part is `Reasoning { text, signature: thoughtSignature }`;
//! - the `thoughtSignature` of a `functionCall` in an **upstream answer** (Gemini puts
//!   it on the first call of each step, and Gemini 3 refuses the next turn without it)
//!   rides in the call's id ([`crate::tool_ids`]: `<id>__axg_<base64url>`), so that a
//!   client of any format hands it back with the call and its result, streams
//!   included; the encoder takes it out of the id and puts it back on the
//!   `functionCall` part (for a Gemini upstream and for a Gemini client alike);
//! - a `thoughtSignature` on any other part (the last text part of an answer), or on a
//!   `functionCall` in a *client request* (whose `functionResponse` ids must keep
//!   matching the call's id), becomes a *signature carrier*,
//!   `Reasoning { text: "", signature: Some(..), redacted: None }`, placed right
//!   **after** the part it came with; the encoder puts it back on the part before it;
//! - `functionCall.args` (an object) is the JSON text of the unified arguments;
//! - `functionResponse.response` `{"output": "<text>"}` / `{"error": "<text>"}` is that
//!   text (the second with `is_error`), any other object its JSON text; the encoder
//!   sends JSON-object text as the object and wraps other text in `output`/`error`
//!   (the keys python-genai documents for `FunctionResponse.response`);
//! - ids: Gemini 2.x never sends call ids, and its API rejects an `id` it did not issue
//!   ("Unknown name \"id\" at 'contents[..].parts[..].function_call'", reported against
//!   googleapis/java-genai #694, JetBrains/koog #735), while Gemini 3 issues ids and wants
//!   them echoed back. So an id *Gemini issued* is kept in the unified model as
//!   `gmid_<id>` ([`ISSUED_PREFIX`]) and sent back to a Gemini upstream as `<id>`; any
//!   other id (another provider's, or one this codec synthesized for a call that had
//!   none, [`synth_call_id`]) is left out there and the call is matched by name and
//!   order, as Gemini 2.x does. Gemini clients see ids without the prefix, as the API
//!   would have sent them. Synthesized ids are stable for identical input and unique
//!   within a request or answer.

use std::borrow::Cow;

use ax_core::{ContentPart, DocumentSource, GatewayError, ImageSource};
use serde_json::{Map, Value};

use super::fields::{invalid, type_name};
use super::wire::{InPart, OutBlob, OutFileData, OutFunctionCall, OutFunctionResponse, OutPart};
use crate::tool_ids::{self, Attachment};

/// The prefix of every call id this codec invents.
pub(crate) const SYNTH_PREFIX: &str = "call_gx";

/// A synthesized call id: FNV-1a over `seed` (the response id, or a per-request tag),
/// the name, the arguments and the call's position.
pub(crate) fn synth_call_id(seed: &str, name: &str, args: &str, position: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for chunk in [
        seed.as_bytes(),
        b"\0",
        name.as_bytes(),
        b"\0",
        args.as_bytes(),
        b"\0",
        &position.to_le_bytes(),
    ] {
        for b in chunk {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{SYNTH_PREFIX}{position}_{h:016x}")
}

/// The prefix marking call ids that a Gemini upstream issued.
pub(crate) const ISSUED_PREFIX: &str = "gmid_";

/// The id to send a Gemini upstream for unified `id`: only ids Gemini issued.
pub(crate) fn upstream_id(id: &str) -> Option<&str> {
    id.strip_prefix(ISSUED_PREFIX).filter(|i| !i.is_empty())
}

/// The id a Gemini client sees for unified `id`: Gemini's own without the prefix.
pub(crate) fn client_id(id: &str) -> &str {
    upstream_id(id).unwrap_or(id)
}

/// One call seen in a request or answer.
#[derive(Debug)]
pub(crate) struct Call {
    id: String,
    name: String,
    answered: bool,
    turn: usize,
}

/// The calls seen so far in one request or answer, for ids and name look-ups.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    /// Seed of synthesized ids (the response id, or a per-request tag).
    pub seed: String,
    /// The calls, in order.
    pub seen: Vec<Call>,
    /// The current content's position (calls are answered by the next user turn).
    turn: usize,
    /// Whether ids come from a Gemini upstream (and get [`ISSUED_PREFIX`]).
    issued: bool,
}

impl Calls {
    /// A tracker for a client request (ids kept as the client sent them).
    pub(crate) fn new(seed: impl Into<String>) -> Self {
        Self {
            seed: seed.into(),
            ..Default::default()
        }
    }

    /// A tracker for an upstream answer (ids Gemini sends are marked as issued).
    pub(crate) fn upstream(seed: impl Into<String>) -> Self {
        Self {
            seed: seed.into(),
            issued: true,
            ..Default::default()
        }
    }

    /// Moves on to the next content of the conversation.
    pub(crate) fn next_turn(&mut self) {
        self.turn += 1;
    }

    fn call(&mut self, id: Option<&str>, name: &str, args: &str) -> String {
        let id = match id.filter(|i| !i.is_empty()) {
            Some(id) if self.issued => format!("{ISSUED_PREFIX}{id}"),
            Some(id) => id.to_owned(),
            None => synth_call_id(&self.seed, name, args, self.seen.len()),
        };
        self.seen.push(Call {
            id: id.clone(),
            name: name.to_owned(),
            answered: false,
            turn: self.turn,
        });
        id
    }

    /// The id a `functionResponse` answers: its own; else the first unanswered call of
    /// that name in the latest turn that made calls (Gemini answers the turn before);
    /// else the oldest unanswered call of that name; else a synthesized one.
    fn answer(&mut self, id: Option<&str>, name: &str) -> String {
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            if let Some(c) = self.seen.iter_mut().find(|c| c.id == id) {
                c.answered = true;
            }
            return id.to_owned();
        }
        let latest = self.seen.last().map(|c| c.turn);
        let pick = self
            .seen
            .iter()
            .position(|c| !c.answered && c.name == name && Some(c.turn) == latest)
            .or_else(|| self.seen.iter().position(|c| !c.answered && c.name == name));
        if let Some(c) = pick.and_then(|i| self.seen.get_mut(i)) {
            c.answered = true;
            return c.id.clone();
        }
        synth_call_id(&self.seed, name, "", self.seen.len() + 1_000_000)
    }
}

/// Arguments object → JSON text (`{}` when absent).
pub(crate) fn args_text(args: Option<&Value>) -> String {
    match args {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(v) => v.to_string(),
    }
}

/// JSON text → the arguments object Gemini wants. Empty text is `{}`; text that is not
/// a JSON object is sent as `{"arguments": "<text>"}` rather than failing the request.
pub(crate) fn args_value(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let mut m = Map::new();
            m.insert("arguments".into(), Value::String(text.to_owned()));
            Value::Object(m)
        }
    }
}

/// `functionResponse.response` → (content, is_error).
pub(crate) fn tool_result_content(response: Option<&Value>) -> (Vec<ContentPart>, bool) {
    let Some(v) = response.filter(|v| !v.is_null()) else {
        return (vec![ContentPart::text("{}")], false);
    };
    if let Value::Object(m) = v {
        let is_error = m.contains_key("error") && !m.contains_key("output");
        if m.len() == 1 {
            for key in ["output", "error"] {
                if let Some(Value::String(s)) = m.get(key) {
                    return (vec![ContentPart::text(s.clone())], is_error);
                }
            }
        }
        return (vec![ContentPart::text(v.to_string())], is_error);
    }
    (vec![ContentPart::text(v.to_string())], false)
}

/// Unified tool-result content → `functionResponse.response`. Only text is sent here
/// (Gemini 2.x function responses take JSON only); the result's images go as parts of
/// their own after it ([`tool_result_images`]).
/// A result with images and no text says so rather than look empty.
pub(crate) fn tool_result_response(content: &[ContentPart], is_error: bool) -> Value {
    let mut text: String = content.iter().filter_map(ContentPart::as_text).collect();
    if text.is_empty()
        && content
            .iter()
            .any(|p| matches!(p, ContentPart::Image { .. }))
    {
        text.push_str(TOOL_IMAGES_PLACEHOLDER);
    }
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&text) {
        return v;
    }
    let mut m = Map::new();
    m.insert(
        if is_error { "error" } else { "output" }.into(),
        Value::String(text),
    );
    Value::Object(m)
}

/// The `output` of a tool result that held images only (they follow its
/// `functionResponse`, see [`tool_result_images`]).
pub(crate) const TOOL_IMAGES_PLACEHOLDER: &str = "[image attached below]";

/// The images of a tool result as parts for the `user` content that carries its
/// `functionResponse` (Gemini takes mixed parts in one turn): a text part naming the
/// function they came from, so the model can tell whose they are, then `inlineData` for
/// base64 data (and `data:` URLs) and `fileData` for other URLs, with the MIME type
/// their extension suggests. Nothing when the result has no images.
pub(crate) fn tool_result_images<'a>(
    name: &str,
    content: &'a [ContentPart],
    out: &mut Vec<OutPart<'a>>,
) {
    let mut images = content.iter().filter_map(|p| match p {
        ContentPart::Image { source, .. } => Some(image_part(source)),
        _ => None,
    });
    let Some(first) = images.next() else {
        return;
    };
    out.push(OutPart {
        text: Some(Cow::Owned(format!("Images from the {name} call:"))),
        ..Default::default()
    });
    out.push(first);
    out.extend(images);
}

/// A MIME type guessed from a URL's extension, for `fileData` (which has a place for
/// it that the unified image URL has not).
pub(crate) fn mime_from_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// A document: base64 data as `inlineData`, a URL as `fileData` (Anthropic URL
/// documents are PDFs), plain text as a text part.
pub(crate) fn document_part(source: &DocumentSource) -> OutPart<'_> {
    match source {
        DocumentSource::Base64 { media_type, data } => OutPart {
            inline_data: Some(OutBlob {
                mime_type: Cow::Borrowed(media_type),
                data: Cow::Borrowed(data),
            }),
            ..Default::default()
        },
        DocumentSource::Url { url } => OutPart {
            file_data: Some(OutFileData {
                mime_type: Some("application/pdf"),
                file_uri: Cow::Borrowed(url),
            }),
            ..Default::default()
        },
        DocumentSource::Text { text } => OutPart {
            text: Some(Cow::Borrowed(text)),
            ..Default::default()
        },
    }
}

/// A unified image as a Gemini part: inline data stays inline, a `data:` URL becomes
/// inline data, any other URL becomes `fileData`.
pub(crate) fn image_part(source: &ImageSource) -> OutPart<'_> {
    match source {
        ImageSource::Base64 { media_type, data } => OutPart {
            inline_data: Some(OutBlob {
                mime_type: Cow::Borrowed(media_type),
                data: Cow::Borrowed(data),
            }),
            ..Default::default()
        },
        ImageSource::Url { url } => {
            if let Some(rest) = url.strip_prefix("data:")
                && let Some((meta, data)) = rest.split_once(',')
                && let Some(mime) = meta.strip_suffix(";base64")
                && !mime.is_empty()
            {
                return OutPart {
                    inline_data: Some(OutBlob {
                        mime_type: Cow::Borrowed(mime),
                        data: Cow::Borrowed(data),
                    }),
                    ..Default::default()
                };
            }
            OutPart {
                file_data: Some(OutFileData {
                    mime_type: mime_from_url(url),
                    file_uri: Cow::Borrowed(url),
                }),
                ..Default::default()
            }
        }
    }
}

/// Whether `sig` can travel as a Gemini `thoughtSignature`: protobuf `bytes` in JSON,
/// i.e. base64 (standard or URL-safe alphabet, padded or not, canonical trailing bits)
/// — what the Gemini API and google-genai (pydantic `bytes`) accept. A signature of
/// another provider that is not base64 is dropped rather than failing the request or
/// the client's parser.
pub(crate) fn is_wire_signature(sig: &str) -> bool {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    !sig.is_empty() && (standard.decode(sig).is_ok() || url_safe.decode(sig).is_ok())
}

/// Whether a reasoning part is a bare signature carrier.
pub(crate) fn is_signature_carrier(part: &ContentPart) -> Option<&str> {
    match part {
        ContentPart::Reasoning {
            text,
            signature: Some(sig),
            redacted: None,
        } if text.is_empty() => Some(sig),
        _ => None,
    }
}

/// Where encoded parts go (decides ids and what may be sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A Gemini upstream: only ids Gemini issued are sent, opaque (redacted) reasoning
    /// of other providers is dropped.
    Upstream,
    /// A Gemini client: everything it can read.
    Client,
}

/// Unified parts → Gemini parts. `name_of` finds the function name of a call id without
/// its attachment ([`tool_ids::base`]; for tool results that do not carry one); a
/// result whose name cannot be found is sent under its call id.
pub(crate) fn encode_parts<'a>(
    content: &'a [ContentPart],
    target: Target,
    name_of: &dyn Fn(&str) -> Option<&'a str>,
    out: &mut Vec<OutPart<'a>>,
) {
    let keep_id = |id: &'a str| -> Option<&'a str> {
        match target {
            Target::Upstream => upstream_id(id),
            Target::Client => Some(client_id(id)).filter(|i| !i.is_empty()),
        }
    };
    for part in content {
        if let Some(sig) = is_signature_carrier(part) {
            // Back onto the part it came with; a carrier with nothing before it has no
            // part to ride on (Gemini rejects a part without data) and is dropped.
            if let Some(prev) = out.last_mut()
                && prev.thought_signature.is_none()
                && is_wire_signature(sig)
            {
                prev.thought_signature = Some(Cow::Borrowed(sig));
            }
            continue;
        }
        match part {
            ContentPart::Text { text } => {
                if !text.is_empty() {
                    out.push(OutPart {
                        text: Some(Cow::Borrowed(text)),
                        ..Default::default()
                    });
                }
            }
            ContentPart::Image { source, .. } => out.push(image_part(source)),
            ContentPart::Document { source, .. } => out.push(document_part(source)),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                // A signature Gemini gave the call travels in its id: back on the part.
                let (id, signature) = tool_ids::thought_signature(id);
                out.push(OutPart {
                    function_call: Some(OutFunctionCall {
                        id: keep_id(id).map(Cow::Borrowed),
                        name: Cow::Borrowed(name),
                        args: args_value(arguments),
                    }),
                    thought_signature: signature.map(Cow::Owned),
                    ..Default::default()
                });
            }
            ContentPart::ToolResult {
                tool_call_id,
                name,
                content,
                is_error,
            } => {
                let call_id = tool_ids::base(tool_call_id);
                let name = name
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .or_else(|| name_of(call_id))
                    .unwrap_or(call_id);
                out.push(OutPart {
                    function_response: Some(OutFunctionResponse {
                        id: keep_id(call_id),
                        name,
                        response: tool_result_response(content, *is_error),
                    }),
                    ..Default::default()
                });
            }
            ContentPart::Reasoning {
                text,
                signature,
                redacted,
            } => {
                if redacted.is_some() || text.is_empty() {
                    continue;
                }
                out.push(OutPart {
                    text: Some(Cow::Borrowed(text)),
                    thought: Some(true),
                    thought_signature: signature
                        .as_deref()
                        .filter(|s| is_wire_signature(s))
                        .map(Cow::Borrowed),
                    ..Default::default()
                });
            }
        }
    }
}

/// Gemini part → unified parts. With `path` (a client request) missing required fields
/// are `invalid_request` errors naming them; without (an upstream answer) they default.
/// Parts with no unified form (`executableCode`, `codeExecutionResult`, `videoMetadata`
/// alone, …) yield nothing.
pub(crate) fn decode_part(
    part: &InPart,
    path: Option<&str>,
    calls: &mut Calls,
) -> Result<Vec<ContentPart>, GatewayError> {
    let required = |field: &str| -> Result<(), GatewayError> {
        match path {
            Some(p) => Err(invalid(&format!("{p}.{field}"), "is required")),
            None => Ok(()),
        }
    };
    let mut out = Vec::with_capacity(2);
    let mut signature = part.thought_signature.clone().filter(|s| !s.is_empty());
    if let Some(text) = &part.text {
        if part.thought == Some(true) {
            out.push(ContentPart::Reasoning {
                text: text.clone(),
                signature,
                redacted: None,
            });
            return Ok(out);
        }
        if !text.is_empty() {
            out.push(ContentPart::text(text.clone()));
        }
    } else if let Some(blob) = &part.inline_data {
        let data = match &blob.data {
            Some(d) => d.clone(),
            None => {
                required("inlineData.data")?;
                String::new()
            }
        };
        let media_type = match &blob.mime_type {
            Some(m) => m.clone(),
            None => {
                required("inlineData.mimeType")?;
                "application/octet-stream".to_owned()
            }
        };
        out.push(ContentPart::Image {
            source: ImageSource::Base64 { media_type, data },
            detail: None,
        });
    } else if let Some(file) = &part.file_data {
        let url = match &file.file_uri {
            Some(u) => u.clone(),
            None => {
                required("fileData.fileUri")?;
                String::new()
            }
        };
        out.push(ContentPart::Image {
            source: ImageSource::Url { url },
            detail: None,
        });
    } else if let Some(fc) = &part.function_call {
        let name = match fc.name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => n.to_owned(),
            None => {
                required("functionCall.name")?;
                String::new()
            }
        };
        if let (Some(p), Some(args)) = (path, &fc.args)
            && !matches!(args, Value::Object(_) | Value::Null)
        {
            return Err(invalid(
                &format!("{p}.functionCall.args"),
                format!("expected an object, got {}", type_name(args)),
            ));
        }
        let arguments = args_text(fc.args.as_ref());
        let mut id = calls.call(fc.id.as_deref(), &name, &arguments);
        if calls.issued
            && let Some(sig) = signature.as_deref()
        {
            let carried = tool_ids::attach(&id, &Attachment::ThoughtSignature(sig.to_owned()));
            if carried.len() > id.len() {
                // In the id now; no carrier (see the module docs).
                id = carried;
                signature = None;
                if let Some(c) = calls.seen.last_mut() {
                    c.id.clone_from(&id);
                }
            }
        }
        out.push(ContentPart::ToolCall {
            id,
            name,
            arguments,
        });
    } else if let Some(fr) = &part.function_response {
        let name = match fr.name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => n.to_owned(),
            None => {
                required("functionResponse.name")?;
                String::new()
            }
        };
        let tool_call_id = calls.answer(fr.id.as_deref(), &name);
        let (content, is_error) = tool_result_content(fr.response.as_ref());
        out.push(ContentPart::ToolResult {
            tool_call_id,
            name: Some(name),
            content,
            is_error,
        });
    }
    if let Some(sig) = signature {
        out.push(ContentPart::Reasoning {
            text: String::new(),
            signature: Some(sig),
            redacted: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn synthesized_ids_are_stable_and_unique() {
        let a = synth_call_id("r1", "now", "{}", 0);
        assert_eq!(a, synth_call_id("r1", "now", "{}", 0));
        assert_ne!(a, synth_call_id("r1", "now", "{}", 1));
        assert_ne!(a, synth_call_id("r2", "now", "{}", 0));
        assert!(a.starts_with(SYNTH_PREFIX));
        // Never sent upstream; other providers' ids neither; Gemini's own are.
        assert_eq!(upstream_id(&a), None);
        assert_eq!(upstream_id("call_abc"), None);
        assert_eq!(upstream_id("gmid_x1"), Some("x1"));
        assert_eq!(upstream_id("gmid_"), None);
        assert_eq!(client_id("gmid_x1"), "x1");
        assert_eq!(client_id("toolu_01"), "toolu_01");
    }

    #[test]
    fn ids_from_an_upstream_are_marked_as_issued() {
        let mut calls = Calls::upstream("r");
        assert_eq!(calls.call(Some("abc"), "f", "{}"), "gmid_abc");
        assert!(calls.call(None, "f", "{}").starts_with(SYNTH_PREFIX));
        let mut calls = Calls::new("r");
        assert_eq!(calls.call(Some("abc"), "f", "{}"), "abc");
    }

    #[test]
    fn responses_without_ids_answer_the_latest_turn_first() {
        let mut calls = Calls::new("");
        let old = calls.call(None, "f", "{}");
        calls.next_turn();
        let a = calls.call(None, "f", "{}");
        let b = calls.call(None, "f", "{\"x\":1}");
        let c = calls.call(Some("given"), "g", "{}");
        calls.next_turn();
        assert_eq!(calls.answer(None, "f"), a);
        assert_eq!(calls.answer(None, "f"), b);
        assert_eq!(calls.answer(Some("given"), "g"), c);
        // The latest turn is all answered: the older open call is next.
        assert_eq!(calls.answer(None, "f"), old);
        assert!(calls.answer(None, "f").starts_with(SYNTH_PREFIX));
    }

    #[test]
    fn tool_result_shapes() {
        let cases = [
            (json!({"output": "sunny"}), "sunny", false),
            (json!({"error": "boom"}), "boom", true),
            (json!({"temp": 20}), "{\"temp\":20}", false),
            (
                json!({"error": {"code": 1}}),
                "{\"error\":{\"code\":1}}",
                true,
            ),
        ];
        for (wire, text, err) in cases {
            let (content, is_error) = tool_result_content(Some(&wire));
            assert_eq!(content, vec![ContentPart::text(text)], "{wire}");
            assert_eq!(is_error, err, "{wire}");
            assert_eq!(tool_result_response(&content, is_error), wire);
        }
        assert_eq!(tool_result_content(None).0, vec![ContentPart::text("{}")]);
        assert_eq!(
            tool_result_response(&[ContentPart::text("[1]")], false),
            json!({"output": "[1]"})
        );
    }

    #[test]
    fn wire_signatures_are_base64() {
        for ok in [
            "c2lnbmF0dXJl",
            "EqQBCgIYAhIM",
            "a-b_",
            "ab+/",
            "abc",
            "abc=",
        ] {
            assert!(is_wire_signature(ok), "{ok}");
        }
        for bad in ["", "c2lnbmF0dXJ", "ab==", "anthropic-sig", "a b"] {
            assert!(!is_wire_signature(bad), "{bad}");
        }
    }

    #[test]
    fn arguments() {
        assert_eq!(args_value(""), json!({}));
        assert_eq!(args_value("{\"a\":1}"), json!({"a": 1}));
        assert_eq!(args_value("[1]"), json!({"arguments": "[1]"}));
        assert_eq!(args_text(None), "{}");
        assert_eq!(args_text(Some(&json!({"a": [1]}))), "{\"a\":[1]}");
    }

    #[test]
    fn mime_guesses() {
        assert_eq!(mime_from_url("https://x/y.PNG?s=1"), Some("image/png"));
        assert_eq!(mime_from_url("gs://b/doc.pdf"), Some("application/pdf"));
        assert_eq!(mime_from_url("https://x/files/abc"), None);
    }
}
