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

use crate::strict::{self, Refusal};
use crate::util::{
    Credentials, Format, error_response, forced_error, json_ok, malformed_json, to_json,
};
use crate::{Scripted, Shared, anthropic, gemini, knobs, openai, responses};

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
    OpenAiResponses,
    AnthropicMessages,
    AnthropicCountTokens,
    AnthropicModels,
    GeminiGenerate {
        model: &'a str,
        stream: bool,
        sse: bool,
    },
    GeminiEmbed,
    GeminiBatchEmbed,
    GeminiCountTokens {
        model: &'a str,
    },
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
            "/v1/responses" if post => return Route::OpenAiResponses,
            "/v1/messages" if post => return Route::AnthropicMessages,
            "/v1/messages/count_tokens" if post => return Route::AnthropicCountTokens,
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
                "countTokens" => return Route::GeminiCountTokens { model },
                _ => {}
            }
        }
        Route::NotFound
    }

    fn format(self) -> Format {
        match self {
            Route::OpenAiChat
            | Route::OpenAiEmbeddings
            | Route::OpenAiModels
            | Route::OpenAiResponses
            | Route::NotFound => Format::OpenAi,
            Route::AnthropicMessages | Route::AnthropicCountTokens | Route::AnthropicModels => {
                Format::Anthropic
            }
            Route::GeminiGenerate { .. }
            | Route::GeminiEmbed
            | Route::GeminiBatchEmbed
            | Route::GeminiCountTokens { .. }
            | Route::GeminiModels => Format::Gemini,
        }
    }

    /// The credential error of this call, if any (the rules and their sources are in
    /// [`crate::strict`]). Lenient mode checks only that a key is present, and not at
    /// all for OpenAI.
    fn auth_error(
        self,
        h: &HeaderMap,
        query: Option<&str>,
        keys: &strict::Keys,
        lenient: bool,
    ) -> Option<Refusal> {
        match self.format() {
            // No such endpoint: the 404 says so whatever the credentials.
            _ if self == Route::NotFound => None,
            Format::OpenAi if lenient => None,
            Format::OpenAi => strict::openai_auth(h, keys),
            Format::Anthropic => strict::anthropic_auth(h, keys, !lenient),
            Format::Gemini => strict::gemini_auth(h, query, keys),
        }
    }

    /// The strict refusal of this call's body or model, if any.
    fn body_error(self, path: &str, body: &[u8], beta: &str) -> Option<Refusal> {
        match self {
            Route::OpenAiChat => strict::openai_chat(body),
            Route::OpenAiEmbeddings => strict::openai_embeddings(body),
            Route::OpenAiResponses => responses::strict_check(body),
            Route::AnthropicMessages => strict::anthropic_messages(body, beta),
            Route::AnthropicCountTokens => strict::anthropic_count_tokens(body, beta),
            Route::GeminiCountTokens { model } => {
                strict::gemini_model(model, gemini_version(path), "countTokens")
                    .or_else(|| strict::gemini_count_tokens(model, body))
            }
            Route::GeminiGenerate { model, stream, .. } => {
                let method = if stream {
                    "streamGenerateContent"
                } else {
                    "generateContent"
                };
                strict::gemini_model(model, gemini_version(path), method)
                    .or_else(|| strict::gemini_generate(model, body))
            }
            Route::GeminiEmbed => {
                strict::gemini_model(gemini_model_of(path), gemini_version(path), "embedContent")
                    .or_else(|| strict::gemini_embed(body))
            }
            Route::GeminiBatchEmbed => strict::gemini_model(
                gemini_model_of(path),
                gemini_version(path),
                "batchEmbedContents",
            )
            .or_else(|| strict::gemini_batch_embed(body)),
            Route::OpenAiModels
            | Route::AnthropicModels
            | Route::GeminiModels
            | Route::NotFound => None,
        }
    }
}

/// `v1beta` or `v1`, from a Gemini path.
fn gemini_version(path: &str) -> &'static str {
    if path.starts_with("/v1beta/") {
        "v1beta"
    } else {
        "v1"
    }
}

/// The `{model}` of `/v1beta/models/{model}:{method}`.
fn gemini_model_of(path: &str) -> &str {
    path.strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))
        .and_then(|r| r.rsplit_once(':'))
        .map_or("", |(m, _)| m)
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
    let lenient = shared.lenient();
    // Lenient mode never reads the keys (no lock, no copy on the benchmark's path).
    let keys = if lenient {
        strict::Keys::default()
    } else {
        shared.keys()
    };
    let auth_error = route.auth_error(&parts.headers, query, &keys, lenient);
    let credentials = Credentials::of(&parts.headers);
    let beta = parts.headers.get("anthropic-beta").cloned();
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
    if let Some(refusal) = auth_error {
        return refusal.into_response(format);
    }
    // A request the real API refuses is refused before any scripted fault: a test whose
    // request is malformed fails whatever the script says.
    if !cfg.lenient
        && let Some(refusal) = route.body_error(
            path,
            &body,
            beta.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
        )
    {
        return refusal.into_response(format);
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
        Route::OpenAiResponses => responses::create(&ctx, &cfg),
        Route::AnthropicMessages => anthropic::messages(&ctx, &cfg),
        Route::AnthropicCountTokens => anthropic::count_tokens(&ctx, &cfg),
        Route::GeminiCountTokens { .. } => gemini::count_tokens(&ctx, &cfg),
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
