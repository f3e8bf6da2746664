//! `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
//! `:embedContent`, `:batchEmbedContents` and `:countTokens`, also
//! under `/v1/models/…`. The model may contain `/` (`openai/gpt-4o-mini`), so the path
//! tail is parsed by hand: everything up to the last `:` is the model.

use ax_core::{GatewayError, WireFormat};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::gateway::{ChatPath, EmbedPath, Op};
use crate::state::AppState;

/// The action named after the model in a Gemini path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiAction {
    /// `generateContent`.
    Generate,
    /// `streamGenerateContent`.
    StreamGenerate,
    /// `embedContent` (one input).
    EmbedContent,
    /// `batchEmbedContents` (several inputs).
    BatchEmbedContents,
    /// `countTokens`.
    CountTokens,
}

/// Splits `models/{model}:{action}` tails.
pub fn parse_tail(tail: &str) -> Result<(String, GeminiAction), GatewayError> {
    let tail = tail.trim_start_matches('/');
    let tail = tail.strip_prefix("models/").unwrap_or(tail);
    let (model, action) = tail.rsplit_once(':').ok_or_else(|| {
        GatewayError::new(
            ax_core::ErrorCode::NotFound,
            format!("no action in path `{tail}` (expected {{model}}:generateContent)"),
        )
    })?;
    let action = match action {
        "generateContent" => GeminiAction::Generate,
        "streamGenerateContent" => GeminiAction::StreamGenerate,
        "embedContent" => GeminiAction::EmbedContent,
        "batchEmbedContents" => GeminiAction::BatchEmbedContents,
        "countTokens" => GeminiAction::CountTokens,
        other => {
            return Err(GatewayError::new(
                ax_core::ErrorCode::NotFound,
                format!(
                    "unsupported action `{other}` (supported: generateContent, \
                     streamGenerateContent, embedContent, batchEmbedContents, countTokens)"
                ),
            ));
        }
    };
    if model.is_empty() {
        return Err(GatewayError::invalid("empty model in path"));
    }
    Ok((model.to_owned(), action))
}

/// Gemini generateContent / streamGenerateContent.
pub async fn generate(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(tail): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let op = match parse_tail(&tail) {
        Ok((model, GeminiAction::EmbedContent | GeminiAction::BatchEmbedContents)) => {
            Op::Embed(EmbedPath { model: Some(model) })
        }
        Ok((model, GeminiAction::CountTokens)) => Op::CountTokens(ChatPath {
            model: Some(model),
            ..ChatPath::default()
        }),
        Ok((model, action)) => {
            let stream = action == GeminiAction::StreamGenerate;
            // Without `alt=sse` the REST API streams one JSON array of responses.
            let sse = uri
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "alt=sse"));
            Op::Chat(ChatPath {
                model: Some(model),
                stream: Some(stream),
                error: None,
                json_array: stream && !sse,
            })
        }
        // Still one log row: the pipeline answers the path error like a bad body.
        Err(e) => Op::Chat(ChatPath {
            error: Some(e),
            ..ChatPath::default()
        }),
    };
    super::serve(&state, WireFormat::Gemini, op, identity, headers, body).await
}

/// Answers a path that is not a Gemini model path with a Gemini-shaped 404.
pub async fn not_found() -> Response {
    ApiError::new(
        WireFormat::Gemini,
        GatewayError::new(ax_core::ErrorCode::NotFound, "unknown Gemini endpoint"),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        assert_eq!(
            parse_tail("gemini-2.0-flash:generateContent").unwrap(),
            ("gemini-2.0-flash".into(), GeminiAction::Generate)
        );
        assert_eq!(
            parse_tail("openai/gpt-4o-mini:streamGenerateContent").unwrap(),
            ("openai/gpt-4o-mini".into(), GeminiAction::StreamGenerate)
        );
        assert_eq!(
            parse_tail("models/text-embedding-004:batchEmbedContents").unwrap(),
            (
                "text-embedding-004".into(),
                GeminiAction::BatchEmbedContents
            )
        );
        assert_eq!(
            parse_tail("models/openai/gpt-4o:countTokens").unwrap(),
            ("openai/gpt-4o".into(), GeminiAction::CountTokens)
        );
        assert!(parse_tail("x:computeTokens").is_err());
        assert!(parse_tail("nothing").is_err());
        assert!(parse_tail(":generateContent").is_err());
    }
}
