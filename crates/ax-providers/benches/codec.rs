//! Codec hot paths (issue 7): for each of the 9 client → upstream format pairs, decode +
//! translate + encode of a typical ~1 KB chat request (client body → upstream body) and
//! of its ~1 KB answer (upstream body → client body); and, per format, one SSE text
//! chunk decoded from upstream bytes and re-encoded for a client of the same format.
//!
//! Same-format pairs take the fast path (raw body, `model` rewritten), as in the server.
//! `cargo bench -p ax-providers --bench codec`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use ax_core::{ChatRequest, ChatResponse, ProviderKind, WireFormat};
use ax_providers::codec::{DecodeOptions, StreamDecoder, StreamEncoder, client_codec};
use ax_providers::sse::{SseDecoder, SseFrame};
use ax_providers::{ProviderConfig, anthropic, gemini, openai};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenAi,
    WireFormat::Anthropic,
    WireFormat::Gemini,
];

fn name(f: WireFormat) -> &'static str {
    match f {
        WireFormat::OpenAi => "openai",
        WireFormat::Anthropic => "anthropic",
        WireFormat::Gemini => "gemini",
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    }
}

const SYSTEM: &str = "You are a concise assistant for an online store. Answer in at most three \
sentences, cite the order number when there is one, and never invent prices, delivery dates or \
stock levels that are not in the conversation. Be polite and do not apologise more than once.";
const USER1: &str = "Hi! I ordered a pair of running shoes last week (order 48213) and the \
tracking page has not changed for four days.";
const ASSISTANT1: &str = "Sorry about that. Order 48213 left our warehouse on Monday; carriers \
sometimes skip scans between hubs.";
const USER2: &str = "Can you tell me when it will arrive, and whether I can still change the \
size from 42 to 43?";
const ANSWER: &str = "Order 48213 is with the carrier and should arrive by Friday; the last scan \
was at the regional hub on Tuesday, which is normal for this route. Because it has already \
shipped, the size cannot be changed on this order, but once it arrives you can exchange the 42s \
for 43s free of charge from the Returns page within 30 days. If the tracking page still shows no \
movement by Thursday evening, reply here and I will open a trace with the carrier for you.";

/// The same ~1 KB conversation in each client format.
fn request_body(f: WireFormat) -> Vec<u8> {
    let v = match f {
        WireFormat::OpenAi => serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": USER1},
                {"role": "assistant", "content": ASSISTANT1},
                {"role": "user", "content": USER2},
            ],
            "temperature": 0.2,
            "max_tokens": 256,
        }),
        WireFormat::Anthropic => serde_json::json!({
            "model": "claude-3-5-haiku-latest",
            "system": SYSTEM,
            "messages": [
                {"role": "user", "content": USER1},
                {"role": "assistant", "content": ASSISTANT1},
                {"role": "user", "content": USER2},
            ],
            "temperature": 0.2,
            "max_tokens": 256,
        }),
        WireFormat::Gemini => serde_json::json!({
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "contents": [
                {"role": "user", "parts": [{"text": USER1}]},
                {"role": "model", "parts": [{"text": ASSISTANT1}]},
                {"role": "user", "parts": [{"text": USER2}]},
            ],
            "generationConfig": {"temperature": 0.2, "maxOutputTokens": 256},
        }),
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    };
    serde_json::to_vec(&v).unwrap()
}

/// A ~1 KB upstream answer in each format.
fn response_body(f: WireFormat) -> Vec<u8> {
    let v = match f {
        WireFormat::OpenAi => serde_json::json!({
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion",
            "created": 1_741_570_283, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER,
                "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 182, "completion_tokens": 96, "total_tokens": 278,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_06737a9306",
        }),
        WireFormat::Anthropic => serde_json::json!({
            "model": "claude-3-5-haiku-20241022", "id": "msg_01Egs18hRzhru3uGon3qesbA",
            "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 182, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, "output_tokens": 96, "service_tier": "standard"},
        }),
        WireFormat::Gemini => serde_json::json!({
            "candidates": [{"content": {"parts": [{"text": ANSWER}], "role": "model"},
                "finishReason": "STOP", "avgLogprobs": -0.0487}],
            "usageMetadata": {"promptTokenCount": 182, "candidatesTokenCount": 96,
                "totalTokenCount": 278,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 182}]},
            "modelVersion": "gemini-2.0-flash", "responseId": "mcPUaKPwOKHi7M8P2-TF-Ac",
        }),
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    };
    serde_json::to_vec(&v).unwrap()
}

fn opts(f: WireFormat, stream: bool) -> DecodeOptions {
    DecodeOptions {
        path_model: (f == WireFormat::Gemini).then(|| "gemini-2.0-flash".to_owned()),
        path_stream: (f == WireFormat::Gemini).then_some(stream),
        ..DecodeOptions::default()
    }
}

fn config(f: WireFormat) -> ProviderConfig {
    match f {
        WireFormat::OpenAi => ProviderConfig::new("openai", ProviderKind::OpenAi),
        WireFormat::Anthropic => ProviderConfig::new("claude", ProviderKind::Anthropic),
        WireFormat::Gemini => ProviderConfig::new("gemini", ProviderKind::Gemini),
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    }
}

fn upstream_model(f: WireFormat) -> &'static str {
    match f {
        WireFormat::OpenAi => "gpt-4o-mini",
        WireFormat::Anthropic => "claude-3-5-haiku-latest",
        WireFormat::Gemini => "gemini-2.0-flash",
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    }
}

/// The upstream side of protocol `u`: unified request → upstream body.
fn encode_upstream(u: WireFormat, req: &ChatRequest, cfg: &ProviderConfig) -> bytes::Bytes {
    let model = upstream_model(u);
    match u {
        WireFormat::OpenAi => openai::encode_request(req, model, false, cfg),
        WireFormat::Anthropic => anthropic::encode_request(req, model, false, cfg).unwrap(),
        WireFormat::Gemini => gemini::encode_request(req, model, false, cfg),
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    }
}

/// The upstream side of protocol `u`: upstream body → unified answer.
fn decode_upstream(u: WireFormat, body: &[u8]) -> ChatResponse {
    match u {
        WireFormat::OpenAi => openai::decode_response(body),
        WireFormat::Anthropic => anthropic::decode_response(body),
        WireFormat::Gemini => gemini::decode_response(body),
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    }
    .unwrap()
}

fn requests(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    for client in FORMATS {
        let body = request_body(client);
        let codec = client_codec(client);
        for up in FORMATS {
            let cfg = config(up);
            g.throughput(Throughput::Bytes(body.len() as u64));
            g.bench_function(format!("{}->{}", name(client), name(up)), |b| {
                b.iter(|| {
                    let req = codec
                        .decode_request(black_box(&body), opts(client, false))
                        .unwrap();
                    black_box(encode_upstream(up, &req, &cfg))
                });
            });
        }
    }
    g.finish();
}

fn responses(c: &mut Criterion) {
    let mut g = c.benchmark_group("response");
    for up in FORMATS {
        let body = response_body(up);
        for client in FORMATS {
            let codec = client_codec(client);
            g.throughput(Throughput::Bytes(body.len() as u64));
            g.bench_function(format!("{}->{}", name(up), name(client)), |b| {
                b.iter(|| {
                    let resp = decode_upstream(up, black_box(&body));
                    black_box(codec.encode_response(&ax_core::ChatRequest::default(), &resp))
                });
            });
        }
    }
    g.finish();
}

/// Frames that open a stream (before the first text chunk) and one text chunk.
fn stream_frames(f: WireFormat) -> (Vec<u8>, Vec<u8>) {
    match f {
        WireFormat::OpenAi => (
            b"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1741570283,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_06737a9306\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]}\n\n".to_vec(),
            b"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1741570283,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_06737a9306\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" should arrive by\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n".to_vec(),
        ),
        WireFormat::Anthropic => (
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-haiku-20241022\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":182,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_vec(),
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" should arrive by\"}}\n\n".to_vec(),
        ),
        WireFormat::Gemini => (
            b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Order\"}],\"role\": \"model\"}}],\"usageMetadata\": {\"promptTokenCount\": 182,\"totalTokenCount\": 182},\"modelVersion\": \"gemini-2.0-flash\"}\r\n\r\n".to_vec(),
            b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" should arrive by\"}],\"role\": \"model\"}}],\"usageMetadata\": {\"promptTokenCount\": 182,\"totalTokenCount\": 182},\"modelVersion\": \"gemini-2.0-flash\"}\r\n\r\n".to_vec(),
        ),
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    }
}

fn stream_decoder(f: WireFormat) -> Box<dyn StreamDecoder> {
    match f {
        WireFormat::OpenAi => Box::new(openai::OpenAiStreamDecoder::new()),
        WireFormat::Anthropic => Box::new(anthropic::AnthropicStreamDecoder::new()),
        WireFormat::Gemini => Box::new(gemini::GeminiStreamDecoder::new()),
        WireFormat::Responses => unreachable!("the benchmark covers the three chat formats"),
    }
}

/// Feeds `bytes` through the SSE parser, the upstream decoder and the client encoder.
fn pump(
    sse: &mut SseDecoder,
    dec: &mut dyn StreamDecoder,
    enc: &mut dyn StreamEncoder,
    bytes: &[u8],
    frames: &mut Vec<SseFrame>,
    out: &mut Vec<u8>,
) {
    sse.feed(bytes, frames).unwrap();
    for frame in frames.drain(..) {
        for ev in dec.decode(&frame).unwrap() {
            enc.encode(&ev, out);
        }
    }
}

fn sse_chunks(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse_chunk");
    for f in FORMATS {
        let codec = client_codec(f);
        let req = codec
            .decode_request(&request_body(f), opts(f, true))
            .unwrap();
        let (head, chunk) = stream_frames(f);
        g.throughput(Throughput::Bytes(chunk.len() as u64));
        g.bench_function(name(f), |b| {
            let mut sse = SseDecoder::new();
            let mut dec = stream_decoder(f);
            let mut enc = codec.stream_encoder(&req);
            let mut frames = Vec::new();
            let mut out = Vec::new();
            pump(
                &mut sse,
                dec.as_mut(),
                enc.as_mut(),
                &head,
                &mut frames,
                &mut out,
            );
            b.iter(|| {
                out.clear();
                pump(
                    &mut sse,
                    dec.as_mut(),
                    enc.as_mut(),
                    black_box(&chunk),
                    &mut frames,
                    &mut out,
                );
                assert!(!out.is_empty());
                black_box(out.len())
            });
        });
    }
    g.finish();
}

criterion_group!(benches, requests, responses, sse_chunks);
criterion_main!(benches);
