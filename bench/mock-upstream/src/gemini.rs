//! Gemini: `…:generateContent`, `…:streamGenerateContent`, `…:embedContent`,
//! `…:batchEmbedContents`, `GET /v1beta/models`. Shapes follow python-genai `types.py`
//! (`GenerateContentResponse`, `Candidate`, `Part`, `FunctionCall`,
//! `GenerateContentResponseUsageMetadata`, `EmbedContentResponse`).

use std::borrow::Cow;

use axum::body::Body;
use axum::response::Response;
use serde::Serialize;

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
