//! OpenAI: `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`.
//! Shapes follow openai-python `types/chat/chat_completion*.py`,
//! `types/create_embedding_response.py` and `types/model.py`.

use axum::body::Body;
use axum::response::Response;
use serde::Serialize;

use crate::MockConfig;
use crate::plan::{Emitter, Framing, Plan, cut_body, drive};
use crate::request::{OpenAiChat, OpenAiEmbeddings, role};
use crate::server::Ctx;
use crate::trigger::{self, Reply};
use crate::util::{
    Format, Vector, answer_text, bad_request, json_ok, malformed_json, now_secs, piece, response,
    to_json, tokens,
};

const FINGERPRINT: &str = "fp_mock";
const ROLES: u32 =
    role::USER | role::ASSISTANT | role::SYSTEM | role::DEVELOPER | role::TOOL | role::FUNCTION;

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Serialize, Clone, Copy)]
struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize, Clone, Copy)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl Usage {
    fn new(prompt: u64, completion: u64) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: PromptDetails {
                cached_tokens: 0,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<()>,
    annotations: &'static [()],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    service_tier: &'static str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent unless `include_usage`; then `null` except on the usage chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<Option<()>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[DeltaToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct DeltaToolCall<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: DeltaFunction<'a>,
}

#[derive(Serialize)]
struct DeltaFunction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
}

struct Stream<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
    /// Text answer, or the arguments when `call` is set.
    text: &'a str,
    /// `(call id, function name)`.
    call: Option<(&'a str, &'a str)>,
    include_usage: bool,
    usage: Usage,
}

impl Stream<'_> {
    fn frame(&self, p: &mut Plan, delta: Delta<'_>, finish_reason: Option<&'static str>) {
        let choices = [ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        }];
        p.event(
            None,
            &Chunk {
                id: self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: self.model,
                service_tier: "default",
                system_fingerprint: FINGERPRINT,
                choices: &choices,
                usage: self.include_usage.then_some(None),
            },
        );
    }
}

impl Emitter for Stream<'_> {
    fn preamble(&self, p: &mut Plan) {
        let delta = match self.call {
            None => Delta {
                role: Some("assistant"),
                content: Some(Some("")),
                refusal: Some(None),
                tool_calls: None,
            },
            Some((id, name)) => Delta {
                role: Some("assistant"),
                content: Some(None),
                refusal: Some(None),
                tool_calls: Some([DeltaToolCall {
                    index: 0,
                    id: Some(id),
                    kind: Some("function"),
                    function: DeltaFunction {
                        name: Some(name),
                        arguments: Some(""),
                    },
                }]),
            },
        };
        self.frame(p, delta, None);
    }

    fn chunk(&self, p: &mut Plan, i: usize, n: usize) {
        let part = piece(self.text, i, n);
        let delta = match self.call {
            None => Delta {
                content: Some(Some(part)),
                ..Delta::default()
            },
            Some(_) => Delta {
                tool_calls: Some([DeltaToolCall {
                    index: 0,
                    id: None,
                    kind: None,
                    function: DeltaFunction {
                        name: None,
                        arguments: Some(part),
                    },
                }]),
                ..Delta::default()
            },
        };
        self.frame(p, delta, None);
    }

    fn error(&self, p: &mut Plan) {
        p.event_raw(None, &crate::util::error_body(Format::OpenAi, 500, None));
    }

    fn tail(&self, p: &mut Plan) {
        let finish = if self.call.is_some() {
            "tool_calls"
        } else {
            "stop"
        };
        self.frame(p, Delta::default(), Some(finish));
        if self.include_usage {
            p.event(
                None,
                &Chunk {
                    id: self.id,
                    object: "chat.completion.chunk",
                    created: self.created,
                    model: self.model,
                    service_tier: "default",
                    system_fingerprint: FINGERPRINT,
                    choices: &[],
                    usage: Some(Some(self.usage)),
                },
            );
        }
        p.raw(b"data: [DONE]\n\n");
    }
}

/// `POST /v1/chat/completions`.
pub(crate) fn chat(ctx: &Ctx<'_>, cfg: &MockConfig) -> Response {
    let req: OpenAiChat<'_> = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                Format::OpenAi,
                &format!("We could not parse the JSON body of your request. ({e})"),
            );
        }
    };
    let Some(model) = req.model.as_ref() else {
        return bad_request(Format::OpenAi, "you must provide a model parameter");
    };
    let Some(conv) = req.messages.as_ref() else {
        return bad_request(Format::OpenAi, "Missing required parameter: 'messages'.");
    };
    if conv.turns == 0 {
        return bad_request(
            Format::OpenAi,
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
        );
    }
    if let Some(bad) = conv.bad_role(ROLES) {
        return bad_request(
            Format::OpenAi,
            &format!(
                "Invalid value: '{bad}'. Supported values are: 'system', 'assistant', 'user', \
                 'function', 'tool', and 'developer'."
            ),
        );
    }
    let stream = req.stream.unwrap_or(false);
    if cfg.malformed {
        return if stream {
            malformed_sse()
        } else {
            malformed_json()
        };
    }
    // Only a request with tools can hold a trigger or a tool result: the others never
    // build a JSON tree.
    let turn = if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        trigger::openai_chat(ctx.body)
    } else {
        None
    };
    let reply = trigger::decide(req.forced_tool(), turn);
    let answer;
    let call_id;
    let (text, call) = match &reply {
        Reply::Call { name, args } => {
            call_id = format!("call_mock{}", ctx.shared.next_id());
            (args.as_ref(), Some((call_id.as_str(), name.as_ref())))
        }
        Reply::Text(t) => (t.as_str(), None),
        Reply::Answer => {
            answer = answer_text(Format::OpenAi, conv.last_user_text.as_deref());
            (answer.as_str(), None)
        }
    };
    let prompt = tokens(conv.text_len);
    let completion = tokens(text.len() + call.map_or(0, |(_, n)| n.len()));
    let usage = Usage::new(prompt, completion);
    let id = format!("chatcmpl-mock{}", ctx.shared.next_id());
    let created = now_secs();
    let model = model.as_str();

    if stream {
        let include_usage = req
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let s = Stream {
            id: &id,
            created,
            model,
            text,
            call,
            include_usage,
            usage,
        };
        return drive(&s, Framing::Sse, cfg.chunks, cfg).into_response(cfg, ctx.cancel());
    }

    let body = to_json(&Completion {
        id: &id,
        object: "chat.completion",
        created,
        model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: if call.is_some() { None } else { Some(text) },
                refusal: None,
                annotations: &[],
                tool_calls: call.map(|(id, name)| {
                    [ToolCall {
                        id,
                        kind: "function",
                        function: Function {
                            name,
                            arguments: text,
                        },
                    }]
                }),
            },
            logprobs: None,
            finish_reason: if call.is_some() { "tool_calls" } else { "stop" },
        }],
        usage,
        service_tier: "default",
        system_fingerprint: FINGERPRINT,
    });
    finish(body, cfg, ctx)
}

/// A complete JSON body, or half of it when `cut_after` is set.
pub(crate) fn finish(body: Vec<u8>, cfg: &MockConfig, ctx: &Ctx<'_>) -> Response {
    if cfg.cut_after.is_some() {
        cut_body(body, ctx.cancel())
    } else {
        json_ok(body)
    }
}

/// 200 `text/event-stream` whose only event does not parse.
pub(crate) fn malformed_sse() -> Response {
    response(
        200,
        "text/event-stream",
        Body::from(&b"data: {\"id\":\"mock-malformed\",\"object\":\n\n"[..]),
    )
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: EmbeddingValue,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EmbeddingValue {
    Floats(Vector),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// `POST /v1/embeddings`.
pub(crate) fn embeddings(ctx: &Ctx<'_>, cfg: &MockConfig) -> Response {
    let req: OpenAiEmbeddings<'_> = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                Format::OpenAi,
                &format!("We could not parse the JSON body of your request. ({e})"),
            );
        }
    };
    let Some(model) = req.model.as_ref() else {
        return bad_request(Format::OpenAi, "you must provide a model parameter");
    };
    let Some(input) = req.input.as_ref().filter(|i| !i.0.is_empty()) else {
        return bad_request(Format::OpenAi, "'input' is a required property");
    };
    let base64 = match req.encoding_format.as_ref().map(|f| f.as_str()) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return bad_request(
                Format::OpenAi,
                &format!("Invalid value: '{other}'. Supported values are: 'float' and 'base64'."),
            );
        }
    };
    if cfg.malformed {
        return malformed_json();
    }
    let dims = req.dimensions.unwrap_or(cfg.embedding_dims).max(1);
    let data = input
        .0
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let v = Vector {
                seed: item.seed,
                dims,
            };
            Embedding {
                object: "embedding",
                index,
                embedding: if base64 {
                    EmbeddingValue::Base64(v.base64())
                } else {
                    EmbeddingValue::Floats(v)
                },
            }
        })
        .collect();
    let prompt_tokens = input.0.iter().map(|i| tokens(i.len)).sum();
    let body = to_json(&EmbeddingList {
        object: "list",
        data,
        model: model.as_str(),
        usage: EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    });
    finish(body, cfg, ctx)
}

/// `GET /v1/models`.
pub(crate) fn models() -> Response {
    response(
        200,
        "application/json",
        Body::from(&br#"{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"text-embedding-3-small","object":"model","created":1705948997,"owned_by":"system"}]}"#[..]),
    )
}
