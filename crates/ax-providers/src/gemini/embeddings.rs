//! Embeddings against a Gemini upstream: `:embedContent` for one input,
//! `:batchEmbedContents` for several (python-genai `models.py`
//! `_EmbedContentParameters_to_mldev`: `requests[{model: "models/{model}", content:
//! {parts: [{text}]}, outputDimensionality}]`). Answers are `embedding.values` and
//! `embeddings[].values`.
//!
//! Gemini reports no token counts for embeddings; unless an answer carries
//! `usageMetadata`, usage is left empty (the router can then estimate and say so).
//!
//! The client side is the mirror: a Gemini client's `:embedContent` body
//! (`{content: {parts: [{text}]}, outputDimensionality?, taskType?, title?}`) or
//! `:batchEmbedContents` body (`{requests: [{model, content, …}]}`), answered with
//! `{embedding: {values}}` or `{embeddings: [{values}]}`. The model comes from the URL.

use ax_core::{Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, GatewayError};
use serde_json::{Value, json};

use super::fields::{bad_upstream, parse_upstream};
use super::response::usage_in;
use super::wire::InEmbedResponse;
use crate::codec::EmbeddingReply;
use crate::fields::{index, invalid, join, type_name};

/// Which endpoint an embeddings body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedMethod {
    /// `:embedContent` (one input).
    Single,
    /// `:batchEmbedContents` (several inputs).
    Batch,
}

impl EmbedMethod {
    /// The method name after the model in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "embedContent",
            Self::Batch => "batchEmbedContents",
        }
    }
}

/// `models/{model}` (a model already named `models/…` or `tunedModels/…` is kept).
pub(crate) fn resource_name(model: &str) -> String {
    if model.starts_with("models/") || model.starts_with("tunedModels/") {
        model.to_owned()
    } else {
        format!("models/{model}")
    }
}

fn one(model: &str, text: &str, dimensions: Option<u32>) -> Value {
    let mut v = json!({"model": model, "content": {"parts": [{"text": text}]}});
    if let (Some(d), Value::Object(m)) = (dimensions, &mut v) {
        m.insert("outputDimensionality".into(), json!(d));
    }
    v
}

/// The upstream body for `req` as `model`, and the method it is for.
pub fn encode_embedding_request(req: &EmbeddingRequest, model: &str) -> (EmbedMethod, Vec<u8>) {
    let name = resource_name(model);
    let (method, body) = match &req.input {
        EmbeddingInput::Single(text) => (EmbedMethod::Single, one(&name, text, req.dimensions)),
        EmbeddingInput::Batch(texts) => (
            EmbedMethod::Batch,
            json!({"requests": texts.iter().map(|t| one(&name, t, req.dimensions)).collect::<Vec<_>>()}),
        ),
    };
    (method, serde_json::to_vec(&body).unwrap_or_default())
}

/// Decodes an upstream embeddings answer for `expected` inputs, answered by `model`.
pub fn decode_embedding_response(
    bytes: &[u8],
    expected: usize,
    model: &str,
) -> Result<EmbeddingResponse, GatewayError> {
    let resp: InEmbedResponse = parse_upstream(bytes, "embeddings answer")?;
    let vectors: Vec<Vec<f32>> = match (resp.embedding, resp.embeddings) {
        (Some(e), _) => vec![e.values.unwrap_or_default()],
        (None, Some(list)) => list
            .into_iter()
            .map(|e| e.values.unwrap_or_default())
            .collect(),
        (None, None) => {
            return Err(bad_upstream(
                "embeddings answer",
                "neither `embedding` nor `embeddings` is present",
            ));
        }
    };
    if vectors.len() != expected {
        return Err(bad_upstream(
            "embeddings answer",
            format_args!("{} vectors for {expected} inputs", vectors.len()),
        ));
    }
    Ok(EmbeddingResponse {
        model: model.to_owned(),
        data: vectors
            .into_iter()
            .enumerate()
            .map(|(i, vector)| Embedding {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                vector,
            })
            .collect(),
        usage: resp
            .usage_metadata
            .as_ref()
            .map(usage_in)
            .unwrap_or_default(),
    })
}

/// The text of one client `content` (`{parts: [{text}]}`), at `path`; its text parts
/// are embedded together, as the API does.
fn content_text(content: Option<&Value>, path: &str) -> Result<String, GatewayError> {
    let content = content.ok_or_else(|| invalid(path, "is required"))?;
    let parts = content
        .get("parts")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(&join(path, "parts"), "must be an array of parts"))?;
    if parts.is_empty() {
        return Err(invalid(&join(path, "parts"), "must not be empty"));
    }
    let mut text = String::new();
    for (i, part) in parts.iter().enumerate() {
        match part.get("text") {
            Some(Value::String(t)) => text.push_str(t),
            _ => {
                return Err(invalid(
                    &join(&index(&join(path, "parts"), i), "text"),
                    "only text parts can be embedded through this gateway",
                ));
            }
        }
    }
    Ok(text)
}

fn dimensions(v: &Value, path: &str) -> Result<Option<u32>, GatewayError> {
    match v.get("outputDimensionality") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| *d > 0)
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    &join(path, "outputDimensionality"),
                    "must be a positive integer",
                )
            }),
        Some(other) => Err(invalid(
            &join(path, "outputDimensionality"),
            format!("expected an integer, got {}", type_name(other)),
        )),
    }
}

/// Decodes a Gemini client's embeddings body for the model of the URL: one content
/// (`:embedContent`) or a list of requests (`:batchEmbedContents`).
pub(crate) fn decode_client_request(
    body: &[u8],
    path_model: Option<&str>,
    limits: &ax_core::RequestLimits,
) -> Result<(EmbeddingRequest, EmbeddingReply), GatewayError> {
    let model = path_model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("model", "the URL names no model"))?;
    let value = crate::bounded::parse(body, crate::bounded::Shape::Gemini, limits)?;
    if !value.is_object() {
        return Err(invalid("", "the body must be a JSON object"));
    }
    let (input, dims, batch) = match value.get("requests") {
        Some(Value::Array(requests)) => {
            if requests.is_empty() {
                return Err(invalid("requests", "must not be empty"));
            }
            let mut texts = Vec::with_capacity(requests.len());
            let mut dims = None;
            for (i, r) in requests.iter().enumerate() {
                let path = index("requests", i);
                texts.push(content_text(r.get("content"), &join(&path, "content"))?);
                dims = dims.or(dimensions(r, &path)?);
            }
            (EmbeddingInput::Batch(texts), dims, true)
        }
        Some(other) => {
            return Err(invalid(
                "requests",
                format!("expected an array, got {}", type_name(other)),
            ));
        }
        None => (
            EmbeddingInput::Single(content_text(value.get("content"), "content")?),
            dimensions(&value, "")?,
            false,
        ),
    };
    let request = EmbeddingRequest {
        model: model.to_owned(),
        input,
        dimensions: dims,
        user: None,
    };
    Ok((
        request,
        EmbeddingReply {
            base64: false,
            batch,
        },
    ))
}

/// A Gemini client's embeddings answer: `{embedding: {values}}` for `:embedContent`,
/// `{embeddings: [{values}]}` for `:batchEmbedContents`.
pub(crate) fn encode_client_response(resp: &EmbeddingResponse, reply: EmbeddingReply) -> Vec<u8> {
    let values = |e: &Embedding| json!({"values": e.vector});
    let body = if reply.batch {
        json!({"embeddings": resp.data.iter().map(values).collect::<Vec<_>>()})
    } else {
        json!({"embedding": resp.data.first().map(values).unwrap_or_else(|| json!({"values": []}))})
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::ErrorCode;

    #[test]
    fn single_and_batch_bodies() {
        let req = EmbeddingRequest {
            model: "gemini/text-embedding-004".into(),
            input: EmbeddingInput::Single("hello".into()),
            dimensions: Some(256),
            user: None,
        };
        let (m, body) = encode_embedding_request(&req, "text-embedding-004");
        assert_eq!(m, EmbedMethod::Single);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]},
                "outputDimensionality": 256})
        );
        let req = EmbeddingRequest {
            input: EmbeddingInput::Batch(vec!["a".into(), "b".into()]),
            dimensions: None,
            ..req
        };
        let (m, body) = encode_embedding_request(&req, "models/x");
        assert_eq!(m, EmbedMethod::Batch);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["requests"][1]["content"]["parts"][0]["text"], "b");
        assert_eq!(v["requests"][0]["model"], "models/x");
    }

    #[test]
    fn answers() {
        let r =
            decode_embedding_response(br#"{"embedding": {"values": [0.5, -1]}}"#, 1, "m").unwrap();
        assert_eq!(r.data[0].vector, vec![0.5, -1.0]);
        let r = decode_embedding_response(
            br#"{"embeddings": [{"values": [1]}, {"values": [2]}]}"#,
            2,
            "m",
        )
        .unwrap();
        assert_eq!(r.data[1].index, 1);
        assert!(r.usage.is_empty());
        let e = decode_embedding_response(br#"{"embeddings": []}"#, 2, "m").unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerError);
        let e = decode_embedding_response(br#"{}"#, 1, "m").unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerError);
    }

    #[test]
    fn client_bodies_single_and_batch() {
        let limits = ax_core::RequestLimits::default();
        let (r, reply) = decode_client_request(
            br#"{"content": {"parts": [{"text": "he"}, {"text": "llo"}]}, "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 8}"#,
            Some("text-embedding-004"),
            &limits,
        )
        .unwrap();
        assert_eq!(r.model, "text-embedding-004");
        assert_eq!(r.input, EmbeddingInput::Single("hello".into()));
        assert_eq!(r.dimensions, Some(8));
        assert!(!reply.batch);
        let (r, reply) = decode_client_request(
            br#"{"requests": [{"model": "models/m", "content": {"parts": [{"text": "a"}]}}, {"model": "models/m", "content": {"parts": [{"text": "b"}]}}]}"#,
            Some("m"),
            &limits,
        )
        .unwrap();
        assert_eq!(r.input, EmbeddingInput::Batch(vec!["a".into(), "b".into()]));
        assert!(reply.batch);
        let e = decode_client_request(
            br#"{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": ""}}]}}"#,
            Some("m"),
            &limits,
        )
        .unwrap_err();
        assert!(e.message.contains("content.parts[0].text"), "{}", e.message);
        assert!(decode_client_request(br#"{}"#, Some("m"), &limits).is_err());
        assert!(decode_client_request(br#"{"requests": []}"#, Some("m"), &limits).is_err());

        let resp = EmbeddingResponse {
            model: "m".into(),
            data: vec![
                Embedding {
                    index: 0,
                    vector: vec![0.5],
                },
                Embedding {
                    index: 1,
                    vector: vec![1.0],
                },
            ],
            usage: ax_core::Usage::default(),
        };
        let batch: Value = serde_json::from_slice(&encode_client_response(
            &resp,
            EmbeddingReply {
                base64: false,
                batch: true,
            },
        ))
        .unwrap();
        assert_eq!(
            batch,
            json!({"embeddings": [{"values": [0.5]}, {"values": [1.0]}]})
        );
        let single: Value =
            serde_json::from_slice(&encode_client_response(&resp, EmbeddingReply::default()))
                .unwrap();
        assert_eq!(single, json!({"embedding": {"values": [0.5]}}));
    }
}
