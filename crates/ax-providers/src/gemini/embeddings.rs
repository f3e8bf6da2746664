//! Embeddings against a Gemini upstream: `:embedContent` for one input,
//! `:batchEmbedContents` for several (python-genai `models.py`
//! `_EmbedContentParameters_to_mldev`: `requests[{model: "models/{model}", content:
//! {parts: [{text}]}, outputDimensionality}]`). Answers are `embedding.values` and
//! `embeddings[].values`.
//!
//! Gemini reports no token counts for embeddings; unless an answer carries
//! `usageMetadata`, usage is left empty (the router can then estimate and say so).

use ax_core::{Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, GatewayError};
use serde_json::{Value, json};

use super::fields::{bad_upstream, parse_upstream};
use super::response::usage_in;
use super::wire::InEmbedResponse;

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
}
