//! Gemini: `…:generateContent`, `…:streamGenerateContent`, `…:embedContent`,
//! `…:batchEmbedContents`, `GET /v1beta/models`. Shapes follow python-genai `types.py`
//! (`GenerateContentResponse`, `Candidate`, `Part`, `FunctionCall`,
//! `GenerateContentResponseUsageMetadata`, `EmbedContentResponse`).
//!
//! Models named `gemini-3*` answer like Gemini 3: each function call carries a
//! `thoughtSignature` (opaque base64, a few hundred bytes, as real ones), and in strict
//! mode a later request whose model turns since the last user message bring a call back
//! without it is refused as the API does ("Function call is missing a
//! thought_signature in functionCall parts. …"), or with one the mock did not issue
//! ("Corrupted thought signature."); Google's documented `skip_thought_signature_validator`
//! and `context_engineering_is_the_way_to_go` pass.

use std::borrow::Cow;

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::Value;

use crate::MockConfig;
use crate::openai::{finish, malformed_sse};
use crate::plan::{Emitter, Framing, Plan, drive};
use crate::request::{GeminiBatchEmbed, GeminiCountTokens, GeminiEmbed, GeminiGenerate, role};
use crate::server::Ctx;
use crate::trigger::{self, ArgsObject, Reply};
use crate::util::{
    Format, Vector, answer_text, bad_request, error_body, fnv, malformed_json, piece, response,
    to_json, tokens,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentResponse<'a> {
    candidates: [Candidate<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageMetadata>,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Candidate<'a> {
    content: Content<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
struct Content<'a> {
    parts: [Part<'a>; 1],
    role: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Part<'a> {
    Text {
        text: &'a str,
    },
    Call {
        #[serde(rename = "functionCall")]
        function_call: FunctionCall<'a>,
        #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
        thought_signature: Option<&'a str>,
    },
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    name: &'a str,
    args: ArgsObject<'a>,
}

#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: u64,
    candidates_token_count: u64,
    total_token_count: u64,
    prompt_tokens_details: [ModalityTokenCount; 1],
}

#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct ModalityTokenCount {
    modality: &'static str,
    token_count: u64,
}

struct Answer<'a> {
    model: &'a str,
    response_id: &'a str,
    /// The text answer (ignored when `call` is set).
    text: &'a str,
    /// `(name, arguments)` of a function call.
    call: Option<(&'a str, &'a str)>,
    /// The call's `thoughtSignature` (models that sign, see the module docs).
    signature: Option<String>,
    usage: UsageMetadata,
}

impl Answer<'_> {
    fn response<'b>(&'b self, text: &'b str, last: bool) -> GenerateContentResponse<'b> {
        let part = match self.call {
            Some((name, args)) => Part::Call {
                function_call: FunctionCall {
                    name,
                    args: ArgsObject(args),
                },
                thought_signature: self.signature.as_deref(),
            },
            None => Part::Text { text },
        };
        GenerateContentResponse {
            candidates: [Candidate {
                content: Content {
                    parts: [part],
                    role: "model",
                },
                finish_reason: last.then_some("STOP"),
                index: 0,
            }],
            usage_metadata: last.then_some(self.usage),
            model_version: self.model,
            response_id: self.response_id,
        }
    }
}

impl Emitter for Answer<'_> {
    fn preamble(&self, _p: &mut Plan) {}

    fn chunk(&self, p: &mut Plan, i: usize, n: usize) {
        p.event(None, &self.response(piece(self.text, i, n), i + 1 == n));
    }

    fn error(&self, p: &mut Plan) {
        p.event_raw(None, &error_body(Format::Gemini, 503, None));
    }

    fn tail(&self, _p: &mut Plan) {}
}

/// `POST …/models/{model}:generateContent` and `:streamGenerateContent`.
pub(crate) fn generate(
    ctx: &Ctx<'_>,
    cfg: &MockConfig,
    model: &str,
    stream: bool,
    sse: bool,
) -> Response {
    let req: GeminiGenerate<'_> = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                Format::Gemini,
                &format!("Invalid JSON payload received. {e}"),
            );
        }
    };
    let Some(conv) = req.contents.as_ref().filter(|c| c.turns > 0) else {
        return bad_request(
            Format::Gemini,
            "* GenerateContentRequest.contents: contents is not specified",
        );
    };
    if conv.bad_role(role::USER | role::MODEL).is_some() {
        return bad_request(Format::Gemini, "Please use a valid role: user, model.");
    }
    if cfg.malformed {
        return if stream && sse {
            malformed_sse()
        } else {
            malformed_json()
        };
    }
    let signs = signs_calls(model);
    if signs
        && !cfg.lenient
        && let Some(refusal) = unsigned_call(ctx.body)
    {
        return bad_request(Format::Gemini, &refusal);
    }
    // Only a request with function declarations can hold a trigger or a tool result:
    // the others never build a JSON tree.
    let declares = req.tools.as_ref().is_some_and(|ts| {
        ts.iter().any(|t| {
            t.function_declarations
                .as_ref()
                .is_some_and(|f| !f.is_empty())
        })
    });
    let turn = if declares {
        trigger::gemini(ctx.body)
    } else {
        None
    };
    let reply = trigger::decide(req.forced_tool(), turn);
    let (answer, call) = match &reply {
        Reply::Call { name, args } => (Cow::Borrowed(""), Some((name.as_ref(), args.as_ref()))),
        Reply::Text(t) => (Cow::Borrowed(t.as_str()), None),
        Reply::Answer => (
            Cow::Owned(answer_text(Format::Gemini, conv.last_user_text.as_deref())),
            None,
        ),
    };
    let system_len = req.system_instruction.as_ref().map_or(0, |s| s.parts.len);
    let prompt = tokens(conv.text_len + system_len);
    let out = match call {
        Some((name, args)) => tokens(name.len() + args.len()),
        None => tokens(answer.len()),
    };
    let response_id = format!("mock{}", ctx.shared.next_id());
    let a = Answer {
        model,
        response_id: &response_id,
        text: &answer,
        call,
        signature: (signs && call.is_some()).then(|| thought_signature(&response_id)),
        usage: UsageMetadata {
            prompt_token_count: prompt,
            candidates_token_count: out,
            total_token_count: prompt + out,
            prompt_tokens_details: [ModalityTokenCount {
                modality: "TEXT",
                token_count: prompt,
            }],
        },
    };
    if stream {
        // A function call is one part: it cannot be split.
        let n = if a.call.is_some() { 1 } else { cfg.chunks };
        let framing = if sse {
            Framing::Sse
        } else {
            Framing::JsonArray
        };
        return drive(&a, framing, n, cfg).into_response(cfg, ctx.cancel());
    }
    finish(to_json(&a.response(&answer, true)), cfg, ctx)
}

/// Whether `model` signs its function calls (Gemini 3).
fn signs_calls(model: &str) -> bool {
    model.starts_with("gemini-3")
}

/// What every signature the mock issues holds first (before base64).
const SIGNATURE_PREFIX: &[u8] = b"ax-mock thought signature for ";

/// The values Google documents for calls that have no real signature (a history from
/// another model): they skip the check (ai.google.dev/gemini-api/docs/thought-signatures;
/// gemini-cli sends the first).
const SKIP_VALIDATOR: &[&str] = &[
    "skip_thought_signature_validator",
    "context_engineering_is_the_way_to_go",
];

/// The signature of the call in answer `response_id`: standard base64 of about 300
/// opaque bytes (real ones run from hundreds of bytes to kilobytes).
fn thought_signature(response_id: &str) -> String {
    let mut bytes = SIGNATURE_PREFIX.to_vec();
    bytes.extend_from_slice(response_id.as_bytes());
    let mut h = fnv(response_id.as_bytes());
    while bytes.len() < 300 {
        h = h.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xa5;
        bytes.extend_from_slice(&h.to_le_bytes());
    }
    STANDARD.encode(bytes)
}

/// Whether `sig` is one the mock issued (base64, standard or URL-safe, as protobuf JSON
/// accepts) or a documented skip value.
fn valid_signature(sig: &str) -> bool {
    if SKIP_VALIDATOR.contains(&sig) {
        return true;
    }
    let unpadded = sig.trim_end_matches('=');
    let bytes = STANDARD
        .decode(sig)
        .ok()
        .or_else(|| URL_SAFE_NO_PAD.decode(unpadded).ok());
    bytes.is_some_and(|b| b.starts_with(SIGNATURE_PREFIX))
}

/// Gemini 3's check of the current turn (the model contents after the last user
/// content that is not only function responses): the first function call of each must
/// carry a signature the model issued. The refusal's message, if any.
fn unsigned_call(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let contents = v.get("contents")?.as_array()?;
    let parts = |c: &Value| -> Vec<Value> {
        c.get("parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let is_user = |c: &Value| c.get("role").and_then(Value::as_str).unwrap_or("user") == "user";
    let answers_only = |c: &Value| {
        parts(c).iter().all(|p| {
            p.get("functionResponse")
                .or_else(|| p.get("function_response"))
                .is_some()
        })
    };
    let start = contents
        .iter()
        .rposition(|c| is_user(c) && !answers_only(c))
        .map_or(0, |i| i + 1);
    for (i, content) in contents.iter().enumerate().skip(start) {
        if is_user(content) {
            continue;
        }
        let parts = parts(content);
        let Some(call) = parts.iter().find(|p| {
            p.get("functionCall")
                .or_else(|| p.get("function_call"))
                .is_some()
        }) else {
            continue;
        };
        let sig = call
            .get("thoughtSignature")
            .or_else(|| call.get("thought_signature"))
            .and_then(Value::as_str);
        match sig {
            None => {
                let name = call
                    .get("functionCall")
                    .or_else(|| call.get("function_call"))
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Some(format!(
                    "Function call is missing a thought_signature in functionCall parts. This \
                     is required for tools to work correctly, and missing thought_signature may \
                     lead to degraded model performance. Additional data, function call \
                     `default_api:{name}` , position {}. Please refer to \
                     https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                    i + 1
                ));
            }
            Some(sig) if !valid_signature(sig) => {
                return Some("Corrupted thought signature.".to_owned());
            }
            Some(_) => {}
        }
    }
    None
}

/// `CountTokensResponse` (python-genai `types.py`: `totalTokens`,
/// `cachedContentTokenCount`; the REST answer also has `promptTokensDetails`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CountTokensResponse {
    total_tokens: u64,
    prompt_tokens_details: [ModalityTokenCount; 1],
}

/// `POST …/models/{model}:countTokens`: the prompt tokens a `generateContent` call with
/// these contents (and system instruction) would report.
pub(crate) fn count_tokens(ctx: &Ctx<'_>, cfg: &MockConfig) -> Response {
    let req: GeminiCountTokens<'_> = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                Format::Gemini,
                &format!("Invalid JSON payload received. {e}"),
            );
        }
    };
    let (contents, system, what) = match &req.generate_content_request {
        Some(g) => (
            g.contents.as_ref(),
            g.system_instruction.as_ref(),
            "GenerateContentRequest",
        ),
        None => (req.contents.as_ref(), None, "CountTokensRequest"),
    };
    let Some(conv) = contents.filter(|c| c.turns > 0) else {
        return bad_request(
            Format::Gemini,
            &format!("* {what}.contents: contents is not specified"),
        );
    };
    if conv.bad_role(role::USER | role::MODEL).is_some() {
        return bad_request(Format::Gemini, "Please use a valid role: user, model.");
    }
    if cfg.malformed {
        return malformed_json();
    }
    let prompt = tokens(conv.text_len + system.map_or(0, |s| s.parts.len));
    let body = CountTokensResponse {
        total_tokens: prompt,
        prompt_tokens_details: [ModalityTokenCount {
            modality: "TEXT",
            token_count: prompt,
        }],
    };
    finish(to_json(&body), cfg, ctx)
}

#[derive(Serialize)]
struct ContentEmbedding {
    values: Vector,
}

#[derive(Serialize)]
struct EmbedContentResponse {
    embedding: ContentEmbedding,
}

#[derive(Serialize)]
struct BatchEmbedContentsResponse {
    embeddings: Vec<ContentEmbedding>,
}

fn embedding(req: &GeminiEmbed<'_>, cfg: &MockConfig) -> Option<ContentEmbedding> {
    let text = req.content.as_ref()?.parts.last.as_deref()?;
    Some(ContentEmbedding {
        values: Vector {
            seed: fnv(text.as_bytes()),
            dims: req
                .output_dimensionality
                .unwrap_or(cfg.embedding_dims)
                .max(1),
        },
    })
}

/// `POST …/models/{model}:embedContent`.
pub(crate) fn embed(ctx: &Ctx<'_>, cfg: &MockConfig) -> Response {
    let req: GeminiEmbed<'_> = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                Format::Gemini,
                &format!("Invalid JSON payload received. {e}"),
            );
        }
    };
    let Some(embedding) = embedding(&req, cfg) else {
        return bad_request(
            Format::Gemini,
            "* EmbedContentRequest.content: contents is not specified",
        );
    };
    if cfg.malformed {
        return malformed_json();
    }
    finish(to_json(&EmbedContentResponse { embedding }), cfg, ctx)
}

/// `POST …/models/{model}:batchEmbedContents`.
pub(crate) fn batch_embed(ctx: &Ctx<'_>, cfg: &MockConfig) -> Response {
    let req: GeminiBatchEmbed<'_> = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                Format::Gemini,
                &format!("Invalid JSON payload received. {e}"),
            );
        }
    };
    let Some(requests) = req.requests.as_ref().filter(|r| !r.is_empty()) else {
        return bad_request(
            Format::Gemini,
            "* BatchEmbedContentsRequest.requests: requests is not specified",
        );
    };
    let mut embeddings = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        match embedding(r, cfg) {
            Some(e) => embeddings.push(e),
            None => {
                return bad_request(
                    Format::Gemini,
                    &format!(
                        "* BatchEmbedContentsRequest.requests[{i}].content: contents is not specified"
                    ),
                );
            }
        }
    }
    if cfg.malformed {
        return malformed_json();
    }
    finish(
        to_json(&BatchEmbedContentsResponse { embeddings }),
        cfg,
        ctx,
    )
}

/// `GET /v1beta/models`.
pub(crate) fn models() -> Response {
    response(
        200,
        "application/json",
        Body::from(&br#"{"models":[{"name":"models/gemini-2.0-flash","version":"2.0","displayName":"Gemini 2.0 Flash","description":"Mock Gemini 2.0 Flash","inputTokenLimit":1048576,"outputTokenLimit":8192,"supportedGenerationMethods":["generateContent","countTokens"]},{"name":"models/gemini-1.5-pro","version":"001","displayName":"Gemini 1.5 Pro","description":"Mock Gemini 1.5 Pro","inputTokenLimit":2000000,"outputTokenLimit":8192,"supportedGenerationMethods":["generateContent","countTokens"]},{"name":"models/text-embedding-004","version":"004","displayName":"Text Embedding 004","description":"Mock embedding model","inputTokenLimit":2048,"outputTokenLimit":1,"supportedGenerationMethods":["embedContent"]}]}"#[..]),
    )
}
