//! OpenAI embeddings (`POST /v1/embeddings`), both sides.
//!
//! Shapes from openai/openai-python `types/embedding_create_params.py`,
//! `types/create_embedding_response.py` and `resources/embeddings.py`. The official
//! Python SDK asks for `encoding_format: "base64"` when the caller did not choose one
//! and decodes the string as little-endian `f32`s, so the client side must answer in
//! base64 when asked.

use ax_core::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, GatewayError, Usage,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{Obj, index, invalid, type_name};
use super::response::{bad_upstream, parse_upstream};

/// Decodes a client's embeddings body. Returns the request and whether the client
/// asked for `encoding_format: "base64"`. `input` may be a string or an array of
/// strings; token arrays are refused with `invalid_request` (the unified model carries
/// text, and other providers cannot take OpenAI token ids).
pub fn decode_embedding_request(
    body: &[u8],
    limits: &ax_core::RequestLimits,
) -> Result<(EmbeddingRequest, bool), GatewayError> {
    // Bounded like a chat body: `[0,0,0,…]` inputs would cost 16 bytes per byte.
    let value = crate::bounded::parse(body, crate::bounded::Shape::OpenAi, limits)?;
    let o = Obj::new(&value, "")?;
    let model = o.str_req("model")?;
    if model.is_empty() {
        return Err(invalid("model", "must not be empty"));
    }
    let token_msg = "token-array inputs are not supported by this gateway; send the text instead";
    let input = match o.get("input") {
        None => return Err(invalid("input", "is required")),
        Some(Value::String(s)) => EmbeddingInput::Single(s.clone()),
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(invalid("input", "must not be an empty array"));
            }
            let mut texts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => texts.push(s.clone()),
                    Value::Number(_) | Value::Array(_) => return Err(invalid("input", token_msg)),
                    other => {
                        return Err(invalid(
                            &index("input", i),
                            format!("expected a string, got {}", type_name(other)),
                        ));
                    }
                }
            }
            EmbeddingInput::Batch(texts)
        }
        Some(other) => {
            return Err(invalid(
                "input",
                format!(
                    "expected a string or an array of strings, got {}",
                    type_name(other)
                ),
            ));
        }
    };
    let base64 = match o.str_opt("encoding_format")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(invalid(
                "encoding_format",
                format!("unknown value `{other}` (expected float or base64)"),
            ));
        }
    };
    let request = EmbeddingRequest {
        model: model.to_owned(),
        input,
        dimensions: o.u32_opt("dimensions")?,
        user: o.str_opt("user")?.map(str::to_owned),
    };
    Ok((request, base64))
}

#[derive(Serialize)]
struct OutList<'a> {
    object: &'static str,
    data: Vec<OutEmbedding>,
    model: &'a str,
    usage: OutEmbeddingUsage,
}

#[derive(Serialize)]
struct OutEmbedding {
    object: &'static str,
    index: u32,
    embedding: OutVector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutVector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct OutEmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// Little-endian `f32`s, base64-encoded (what `encoding_format: "base64"` returns).
pub(crate) fn vector_to_base64(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    B64.encode(bytes)
}

/// The inverse of [`vector_to_base64`].
pub(crate) fn vector_from_base64(s: &str) -> Result<Vec<f32>, String> {
    let bytes = B64
        .decode(s.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "{} bytes is not a whole number of 32-bit floats",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Encodes an embeddings answer in OpenAI's list shape, vectors as float arrays or (when
/// the client asked for it) base64 strings.
pub fn encode_embedding_response(response: &EmbeddingResponse, base64: bool) -> Vec<u8> {
    let body = OutList {
        object: "list",
        data: response
            .data
            .iter()
            .map(|e| OutEmbedding {
                object: "embedding",
                index: e.index,
                embedding: if base64 {
                    OutVector::Base64(vector_to_base64(&e.vector))
                } else {
                    OutVector::Floats(e.vector.clone())
                },
            })
            .collect(),
        model: &response.model,
        usage: OutEmbeddingUsage {
            prompt_tokens: response.usage.input_tokens,
            total_tokens: response.usage.input_tokens,
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Serialize)]
struct OutEmbeddingRequest<'a> {
    model: &'a str,
    input: &'a EmbeddingInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    encoding_format: &'static str,
}

/// Encodes an embeddings request for an upstream. `base64` asks for base64 vectors
/// (a quarter smaller on the wire than decimal floats; OpenAI supports it, some
/// compatible servers do not).
pub fn encode_embedding_request(request: &EmbeddingRequest, model: &str, base64: bool) -> Vec<u8> {
    let body = OutEmbeddingRequest {
        model,
        input: &request.input,
        dimensions: request.dimensions,
        user: request.user.as_deref(),
        encoding_format: if base64 { "base64" } else { "float" },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize)]
struct InList {
    #[serde(default)]
    data: Vec<InEmbedding>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<InEmbeddingUsage>,
}

#[derive(Deserialize)]
struct InEmbedding {
    #[serde(default)]
    index: Option<u32>,
    embedding: InVector,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum InVector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Deserialize)]
struct InEmbeddingUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
}

/// Decodes an upstream embeddings answer, float or base64 vectors, sorted by `index`.
pub fn decode_embedding_response(bytes: &[u8]) -> Result<EmbeddingResponse, GatewayError> {
    let list: InList = parse_upstream(bytes, "embeddings response")?;
    let mut data = Vec::with_capacity(list.data.len());
    for (i, e) in list.data.into_iter().enumerate() {
        let vector = match e.embedding {
            InVector::Floats(v) => v,
            InVector::Base64(s) => vector_from_base64(&s).map_err(|m| {
                bad_upstream(
                    "embeddings response",
                    format_args!("`data[{i}].embedding`: {m}"),
                )
            })?,
        };
        data.push(Embedding {
            index: e.index.unwrap_or(i as u32),
            vector,
        });
    }
    data.sort_by_key(|e| e.index);
    Ok(EmbeddingResponse {
        model: list.model.unwrap_or_default(),
        data,
        usage: Usage {
            input_tokens: list.usage.and_then(|u| u.prompt_tokens).unwrap_or(0),
            ..Default::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        // 1.0f32 = 0x3f800000 → LE bytes 00 00 80 3f.
        assert_eq!(vector_to_base64(&[1.0]), B64.encode([0u8, 0, 0x80, 0x3f]));
        let v = vec![0.5, -2.25, f32::MIN_POSITIVE, 1e30];
        assert_eq!(vector_from_base64(&vector_to_base64(&v)).unwrap(), v);
        assert!(vector_from_base64("AAAA AA").is_err());
        assert!(vector_from_base64("AAA=").is_err());
    }
}
