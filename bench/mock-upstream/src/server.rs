//! The HTTP server: one fallback handler that routes by method and path itself.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::util::{
    Credentials, Format, error_response, forced_error, json_ok, malformed_json, to_json,
};
use crate::{Scripted, Shared, anthropic, gemini, knobs, openai};

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What one call needs from the server.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    pub body: &'a [u8],
}

impl Ctx<'_> {
    pub(crate) fn cancel(&self) -> CancellationToken {
        self.shared.cancel().clone()
    }
}

/// Serves until the shared cancellation token fires.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let cancel = shared.cancel().clone();
    let app = Router::new().fallback(handle).with_state(shared);
    let listener = listener.tap_io(|tcp| {
        // Best effort: a socket that refuses TCP_NODELAY still works.
        let _ = tcp.set_nodelay(true);
    });
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    OpenAiChat,
    OpenAiEmbeddings,
    OpenAiModels,
    AnthropicMessages,
    AnthropicModels,
    GeminiGenerate {
        model: &'a str,
        stream: bool,
        sse: bool,
    },
    GeminiEmbed,
    GeminiBatchEmbed,
    GeminiModels,
    NotFound,
}

impl<'a> Route<'a> {
    fn classify(method: &Method, path: &'a str, query: Option<&str>, h: &HeaderMap) -> Self {
        let post = method == Method::POST;
        let get = method == Method::GET;
        match path {
            "/v1/chat/completions" if post => return Route::OpenAiChat,
            "/v1/embeddings" if post => return Route::OpenAiEmbeddings,
            "/v1/messages" if post => return Route::AnthropicMessages,
            "/v1beta/models" if get => return Route::GeminiModels,
            "/v1/models" if get => {
                return if h.contains_key("x-goog-api-key") {
                    Route::GeminiModels
                } else if h.contains_key("anthropic-version") || h.contains_key("x-api-key") {
                    Route::AnthropicModels
                } else {
                    Route::OpenAiModels
                };
            }
            _ => {}
        }
        let rest = path
            .strip_prefix("/v1beta/models/")
            .or_else(|| path.strip_prefix("/v1/models/"));
        if let (true, Some((model, action))) = (post, rest.and_then(|r| r.rsplit_once(':'))) {
            match action {
                "generateContent" => {
                    return Route::GeminiGenerate {
                        model,
                        stream: false,
                        sse: false,
                    };
                }
                "streamGenerateContent" => {
                    let sse = query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
                    return Route::GeminiGenerate {
                        model,
                        stream: true,
                        sse,
                    };
                }
                "embedContent" => return Route::GeminiEmbed,
                "batchEmbedContents" => return Route::GeminiBatchEmbed,
                _ => {}
            }
        }
        Route::NotFound
    }

    fn format(self) -> Format {
        match self {
            Route::OpenAiChat | Route::OpenAiEmbeddings | Route::OpenAiModels | Route::NotFound => {
                Format::OpenAi
            }
            Route::AnthropicMessages | Route::AnthropicModels => Format::Anthropic,
            Route::GeminiGenerate { .. }
            | Route::GeminiEmbed
            | Route::GeminiBatchEmbed
            | Route::GeminiModels => Format::Gemini,
        }
    }

    /// The credential error of this call, if any.
    fn auth_error(self, h: &HeaderMap, query: Option<&str>) -> Option<(u16, &'static str)> {
        match self.format() {
            Format::OpenAi => None,
            Format::Anthropic => {
                // anthropic-sdk-python 2.x sends `Authorization: Bearer <key>` instead.
                let bearer = h
                    .get(axum::http::header::AUTHORIZATION)
                    .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
                if !h.contains_key("x-api-key") && !bearer {
                    Some((401, "x-api-key header is required"))
                } else if !h.contains_key("anthropic-version") {
                    Some((401, "anthropic-version header is required"))
                } else {
                    None
                }
            }
            Format::Gemini => {
                let query_key =
                    query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("key=")));
                if h.contains_key("x-goog-api-key") || query_key {
                    None
                } else {
                    Some((
                        403,
                        "Method doesn't allow unregistered callers (callers without established \
                         identity). Please use API Key or other form of API consumer identity to \
                         call this API.",
                    ))
                }
            }
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query();
    if let Some(ctl) = path.strip_prefix("/_mock/") {
        return control(&shared, &parts.method, ctl);
    }
    let route = Route::classify(&parts.method, path, query, &parts.headers);
    let format = route.format();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return error_response(format, 413, None, None),
    };
    let overrides = Scripted::from_headers(&parts.headers);
    let auth_error = route.auth_error(&parts.headers, query);
    let credentials = Credentials::of(&parts.headers);
    let (defaults, script) = shared.record(path, body.clone(), parts.headers, auth_error.is_none());
    let cfg = knobs::resolve(defaults, script, &overrides);

    if cfg.hang {
        shared.cancel().cancelled().await;
        return error_response(format, 503, None, Some("mock-upstream shutting down"));
    }
    if cfg.latency_ms > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(cfg.latency_ms)) => {}
            () = shared.cancel().cancelled() => {
                return error_response(format, 503, None, Some("mock-upstream shutting down"));
            }
        }
    }
    if let Some((status, message)) = auth_error {
        return error_response(format, status, None, Some(message));
    }
    let echo = cfg.echo_auth.then(|| credentials.echo(query));
    if let Some(r) = forced_error(format, &cfg, echo.as_deref()) {
        return r;
    }
    let ctx = Ctx {
        shared: &shared,
        body: &body,
    };
    match route {
        Route::OpenAiChat => openai::chat(&ctx, &cfg),
        Route::OpenAiEmbeddings => openai::embeddings(&ctx, &cfg),
        Route::AnthropicMessages => anthropic::messages(&ctx, &cfg),
        Route::GeminiGenerate { model, stream, sse } => {
            gemini::generate(&ctx, &cfg, model, stream, sse)
        }
        Route::GeminiEmbed => gemini::embed(&ctx, &cfg),
        Route::GeminiBatchEmbed => gemini::batch_embed(&ctx, &cfg),
        Route::OpenAiModels | Route::AnthropicModels | Route::GeminiModels if cfg.malformed => {
            malformed_json()
        }
        Route::OpenAiModels => openai::models(),
        Route::AnthropicModels => anthropic::models(),
        Route::GeminiModels => gemini::models(),
        Route::NotFound => {
            error_response(format, 404, None, Some("mock-upstream: no such endpoint"))
        }
    }
}

fn control(shared: &Shared, method: &Method, what: &str) -> Response {
    match (method, what) {
        (&Method::GET, "stats") => json_ok(to_json(&shared.stats_json())),
        (&Method::POST, "reset") => {
            shared.reset();
            json_ok(br#"{"ok":true}"#.to_vec())
        }
        _ => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
            r
        }
    }
}
