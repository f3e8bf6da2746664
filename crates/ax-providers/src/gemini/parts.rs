//! `Part` ↔ [`ContentPart`], shared by requests, answers and streams.
//!
//! Conventions (both directions, so a Gemini → unified → Gemini trip is lossless):
//! - a `thought: true` text part is `Reasoning { text, signature: thoughtSignature }`;
//! - a `thoughtSignature` on any other part (Gemini puts it on the first `functionCall`
//!   of a step, or on the last text part) becomes a *signature carrier*,
//!   `Reasoning { text: "", signature: Some(..), redacted: None }`, placed right
//!   **after** the part it came with; the encoder puts it back on the part before it;
//! - `functionCall.args` (an object) is the JSON text of the unified arguments;
//! - `functionResponse.response` `{"output": "<text>"}` / `{"error": "<text>"}` is that
//!   text (the second with `is_error`), any other object its JSON text; the encoder
//!   sends JSON-object text as the object and wraps other text in `output`/`error`
//!   (the keys python-genai documents for `FunctionResponse.response`);
//! - calls without an id get a synthesized one ([`synth_call_id`]): stable for identical
//!   input, unique within a request or answer, and recognizable ([`is_synth_id`]) so it
//!   is never sent to a Gemini upstream (Gemini 2.x models reject ids they did not issue;
//!   Gemini 3 issues its own, which are kept and sent back).

use std::borrow::Cow;

use ax_core::{ContentPart, GatewayError, ImageSource};
use serde_json::{Map, Value};

use super::fields::{invalid, type_name};
use super::wire::{InPart, OutBlob, OutFileData, OutFunctionCall, OutFunctionResponse, OutPart};

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

/// Whether `id` was synthesized by [`synth_call_id`].
pub(crate) fn is_synth_id(id: &str) -> bool {
    id.strip_prefix(SYNTH_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .is_some_and(|(pos, hash)| {
            !pos.is_empty()
                && pos.bytes().all(|b| b.is_ascii_digit())
                && hash.len() == 16
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// The calls seen so far in one request or answer, for ids and name look-ups.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    /// Seed of synthesized ids (the response id, or empty).
    pub seed: String,
    /// `(id, name, answered)` in order.
    pub seen: Vec<(String, String, bool)>,
}

impl Calls {
    /// A tracker whose synthesized ids are seeded with `seed`.
    pub(crate) fn new(seed: impl Into<String>) -> Self {
        Self {
            seed: seed.into(),
            seen: Vec::new(),
        }
    }

    fn call(&mut self, id: Option<&str>, name: &str, args: &str) -> String {
        let id = match id.filter(|i| !i.is_empty()) {
            Some(id) => id.to_owned(),
            None => synth_call_id(&self.seed, name, args, self.seen.len()),
        };
        self.seen.push((id.clone(), name.to_owned(), false));
        id
    }

    /// The id a `functionResponse` answers: its own, else the oldest unanswered call of
    /// that name, else a synthesized one.
    fn answer(&mut self, id: Option<&str>, name: &str) -> String {
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            if let Some(c) = self.seen.iter_mut().find(|c| c.0 == id) {
                c.2 = true;
            }
            return id.to_owned();
        }
        if let Some(c) = self.seen.iter_mut().find(|c| !c.2 && c.1 == name) {
            c.2 = true;
            return c.0.clone();
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

/// Unified tool-result content → `functionResponse.response`. Only text is sent (images
/// in tool results are dropped: Gemini 2.x function responses take JSON only).
pub(crate) fn tool_result_response(content: &[ContentPart], is_error: bool) -> Value {
    let text: String = content.iter().filter_map(ContentPart::as_text).collect();
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
    /// A Gemini upstream: synthesized ids are left out, opaque (redacted) reasoning of
    /// other providers is dropped.
    Upstream,
    /// A Gemini client: everything it can read.
    Client,
}

/// Unified parts → Gemini parts. `name_of` finds the function name of a call id (for
/// tool results that do not carry one); a result whose name cannot be found is sent
/// under its call id.
pub(crate) fn encode_parts<'a>(
    content: &'a [ContentPart],
    target: Target,
    name_of: &dyn Fn(&str) -> Option<&'a str>,
    out: &mut Vec<OutPart<'a>>,
) {
    let keep_id = |id: &'a str| -> Option<&'a str> {
        (!(id.is_empty() || target == Target::Upstream && is_synth_id(id))).then_some(id)
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
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => out.push(OutPart {
                function_call: Some(OutFunctionCall {
                    id: keep_id(id).map(Cow::Borrowed),
                    name: Cow::Borrowed(name),
                    args: args_value(arguments),
                }),
                ..Default::default()
            }),
            ContentPart::ToolResult {
                tool_call_id,
                name,
                content,
                is_error,
            } => {
                let name = name
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .or_else(|| name_of(tool_call_id))
                    .unwrap_or(tool_call_id);
                out.push(OutPart {
                    function_response: Some(OutFunctionResponse {
                        id: keep_id(tool_call_id),
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
    let signature = part.thought_signature.clone().filter(|s| !s.is_empty());
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
        let id = calls.call(fc.id.as_deref(), &name, &arguments);
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
    fn synthesized_ids_are_stable_unique_and_recognizable() {
        let a = synth_call_id("r1", "now", "{}", 0);
        assert_eq!(a, synth_call_id("r1", "now", "{}", 0));
        assert_ne!(a, synth_call_id("r1", "now", "{}", 1));
        assert_ne!(a, synth_call_id("r2", "now", "{}", 0));
        assert!(is_synth_id(&a), "{a}");
        for real in ["call_abc", "toolu_01", "call_gx", "call_gx1_zz", "abc"] {
            assert!(!is_synth_id(real), "{real}");
        }
    }

    #[test]
    fn responses_without_ids_answer_the_oldest_call_of_that_name() {
        let mut calls = Calls::new("");
        let a = calls.call(None, "f", "{}");
        let b = calls.call(None, "f", "{\"x\":1}");
        let c = calls.call(Some("given"), "g", "{}");
        assert_eq!(calls.answer(None, "f"), a);
        assert_eq!(calls.answer(None, "f"), b);
        assert_eq!(calls.answer(Some("given"), "g"), c);
        assert!(is_synth_id(&calls.answer(None, "f")));
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
