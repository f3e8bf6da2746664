//! The request pipeline: one entry point, [`Gateway::serve`], for every client
//! operation in every wire format. HTTP handlers only turn an HTTP request into a
//! [`Call`] and the [`Served`] answer back into a response; the auth layer only says
//! who is calling.
//!
//! For each call, in order:
//! 1. the lifecycle starts ([`Tracked`], from the first byte), so that every request,
//!    refused ones included, ends in exactly one log record ([`record`]);
//! 2. the body is read under the size limit and decoded by the client's codec under
//!    the request-shape limits;
//! 3. the [`Stage`]s run in order ([`stages`]: today the key and tenant admission; a
//!    response cache goes right after it), each able to refuse;
//! 4. the router plans (an unknown model or a key's allow-list is a validation
//!    failure) and executes the plan (retries, fallback, breakers, provider limits,
//!    hedging, deadlines);
//! 5. the answer is encoded in the client's format (or the upstream's bytes forwarded
//!    when both speak it), and the finish hook settles admission and queues the log
//!    record from the final context.
//!
//! This module knows no HTTP framework (only the `http` crate's types): it is the
//! boundary the HTTP layer, and later other ingress APIs, call into.

mod answer;
mod chat;
mod count;
mod embed;
mod json_array;
pub mod record;
pub mod responses;
pub mod stages;
mod stream;

use std::future::Future;
use std::sync::Arc;

use ax_core::lifecycle::{Context, Event};
use ax_core::{GatewayError, RequestLimits, WireFormat};
use ax_router::admission::Admission;
use ax_router::{RequestOptions, Router, Tracked};
use ax_store::LogWriter;
use bytes::Bytes;
use futures::future::Either;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::{Identity, Refusal};
use crate::config::LogDurability;
use crate::request_meta::{GatewayHeaders, names};
pub use answer::{ByteStream, Payload, Served, insert_retry_after};
use record::{LogExtras, MetricLabels};
pub use responses::ResponsesKeeping;
pub use stages::{Exchange, Stage};

/// Settings of the pipeline, fixed at start.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    /// Whether request and response bodies are logged.
    pub store_bodies: bool,
    /// Request body limit, bytes.
    pub max_body_bytes: usize,
    /// Request-shape limits, enforced while a body is decoded.
    pub request_limits: RequestLimits,
    /// Whether an answer waits for its log record to commit.
    pub log_durability: LogDurability,
}

/// The pipeline and everything it needs: the router, the admission seam, the stage
/// list, the log writer and the metric labels. Shared as `Arc<Gateway>`.
pub struct Gateway {
    router: Arc<Router>,
    admission: Arc<dyn Admission>,
    stages: Vec<Arc<dyn Stage>>,
    writer: Option<LogWriter>,
    labels: MetricLabels,
    settings: PipelineSettings,
    responses: Option<ResponsesKeeping>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("router", &self.router)
            .field("stages", &self.stages.len())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What an operation a client called is.
#[derive(Debug, Clone)]
pub enum Op {
    /// A chat completion, streamed or not, in any format.
    Chat(ChatPath),
    /// Embeddings, in any format that has them.
    Embed(EmbedPath),
    /// Counting a chat request's input tokens (Anthropic `count_tokens`, Gemini
    /// `:countTokens`); the path says what a chat path says (Gemini's model).
    CountTokens(ChatPath),
}

/// What an embeddings endpoint's path says beyond the body.
#[derive(Debug, Clone, Default)]
pub struct EmbedPath {
    /// The model from the path (Gemini `:embedContent`, `:batchEmbedContents`).
    pub model: Option<String>,
}

/// What a chat endpoint's path says beyond the body (Gemini puts the model and the
/// streaming choice there).
#[derive(Debug, Clone, Default)]
pub struct ChatPath {
    /// The model from the path (Gemini).
    pub model: Option<String>,
    /// Streaming implied by the path (Gemini).
    pub stream: Option<bool>,
    /// The path itself was unusable (logged and answered like a bad body).
    pub error: Option<GatewayError>,
    /// Stream as one JSON array instead of SSE (Gemini `streamGenerateContent`
    /// without `?alt=sse`, as the REST API does).
    pub json_array: bool,
}

/// One client call, as the HTTP layer hands it over.
#[derive(Debug)]
pub struct Call {
    /// The client's wire format (its error shape too).
    pub format: WireFormat,
    /// The operation.
    pub op: Op,
    /// The request headers (`x-ax-*` are read from them).
    pub headers: HeaderMap,
    /// Who is calling, when gateway keys are in use.
    pub identity: Option<Arc<Identity>>,
    /// The body as the HTTP layer read it under [`Gateway::max_body_bytes`], or why
    /// it could not (413 for a body over the limit): the pipeline answers and logs it.
    pub body: Result<Bytes, GatewayError>,
}

/// A call without its operation, as an operation's module receives it.
pub(super) struct Parts {
    format: WireFormat,
    headers: HeaderMap,
    identity: Option<Arc<Identity>>,
    body: Result<Bytes, GatewayError>,
}

/// What [`Gateway::new`] needs.
pub struct GatewayParts {
    /// The router.
    pub router: Arc<Router>,
    /// Limits of every scope (the router's provider scopes use the same one).
    pub admission: Arc<dyn Admission>,
    /// The log writer, `None` when logging is off.
    pub writer: Option<LogWriter>,
    /// The label values metrics may carry.
    pub labels: MetricLabels,
    /// Fixed settings.
    pub settings: PipelineSettings,
    /// Where Responses API answers are kept (`None`: none are).
    pub responses: Option<ResponsesKeeping>,
}

impl Gateway {
    /// The pipeline with the standard stage list ([`stages::standard`]).
    pub fn new(parts: GatewayParts) -> Self {
        let stages = stages::standard(&parts.admission);
        Self {
            router: parts.router,
            admission: parts.admission,
            stages,
            writer: parts.writer,
            labels: parts.labels,
            settings: parts.settings,
            responses: parts.responses,
        }
    }

    /// The router.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The log writer, if logging is on.
    pub fn writer(&self) -> Option<&LogWriter> {
        self.writer.as_ref()
    }

    /// The request body limit, bytes: the HTTP layer reads bodies up to it.
    pub fn max_body_bytes(&self) -> usize {
        self.settings.max_body_bytes
    }

    /// Serves one call, start to end. Not an `async fn`: each operation's own future
    /// is handed back as it is, without a layer around it that would copy it.
    pub fn serve(self: &Arc<Self>, call: Call) -> impl Future<Output = Served> + Send + '_ {
        let Call {
            format,
            op,
            headers,
            identity,
            body,
        } = call;
        let parts = Parts {
            format,
            headers,
            identity,
            body,
        };
        match op {
            Op::Chat(path) => Either::Left(chat::serve(self, parts, path)),
            // Boxed: embeddings and counts are the rarer operations; inline, their
            // futures would grow every chat request's.
            Op::Embed(path) => Either::Right(Box::pin(embed::serve(self, parts, path)) as Rare<'_>),
            Op::CountTokens(path) => {
                Either::Right(Box::pin(count::serve(self, parts, path)) as Rare<'_>)
            }
        }
    }

    /// Answers a call the auth layer refused (401, 403), with its one log record.
    pub fn refuse(
        self: &Arc<Self>,
        format: WireFormat,
        headers: &HeaderMap,
        refusal: Refusal,
    ) -> Served {
        let Refusal { error, identity } = refusal;
        let extras = Arc::new(LogExtras::default());
        let flight = self.start(format, headers, identity, &extras);
        let served = flight.refuse(error);
        // The body waits for the log record to commit (acknowledged durability).
        record::gate_body(self.settings.log_durability, &extras, served)
    }

    /// Starts a request's lifecycle: its context from the `x-ax-*` headers, the hook
    /// that ends it in one log record.
    fn start(
        self: &Arc<Self>,
        format: WireFormat,
        headers: &HeaderMap,
        identity: Option<Arc<Identity>>,
        extras: &Arc<LogExtras>,
    ) -> Flight {
        let meta =
            GatewayHeaders::parse(headers, identity.as_deref().map(|i| i.tenant_slug.as_str()));
        let mut ctx = Context::new(meta.request_id.clone());
        ctx.conversation_id = meta.metadata.conversation_id.clone();
        ctx.user_id = meta.metadata.user_id.clone();
        ctx.tags = meta.metadata.tags.clone();
        let hook = self.finish_hook(format, identity.clone(), Arc::clone(extras));
        let mut tracked = Tracked::new(ctx, hook);
        tracked.apply(Event::InitiateRequest);
        Flight {
            tracked,
            format,
            meta,
            identity,
        }
    }

    /// Runs the stage list for a decoded request; the first refusal ends it. What
    /// a stage holds for the request's end (the admission permit) is kept for the
    /// finish hook.
    async fn admit(&self, mut ex: Exchange<'_>, extras: &LogExtras) -> Result<(), GatewayError> {
        let mut verdict = Ok(());
        for stage in &self.stages {
            verdict = stage.before(&mut ex).await;
            if verdict.is_err() {
                break;
            }
        }
        if let Some(permit) = ex.permit.take() {
            extras.set_permit(permit);
        }
        verdict
    }
}

/// The boxed future of a rare operation (embeddings, token counts).
type Rare<'a> = std::pin::Pin<Box<dyn Future<Output = Served> + Send + 'a>>;

/// One request on its way through the pipeline.
struct Flight {
    tracked: Tracked,
    format: WireFormat,
    meta: GatewayHeaders,
    identity: Option<Arc<Identity>>,
}

impl Flight {
    /// What the stages see of this request once decoded.
    fn exchange<'a>(&'a self, model: &'a str, estimate: u64) -> Exchange<'a> {
        Exchange {
            format: self.format,
            identity: self.identity.as_deref(),
            model,
            estimate,
            permit: None,
        }
    }

    /// Routing options from the headers and the caller's key.
    fn route_options(&self) -> RequestOptions {
        RequestOptions {
            fallback: self.meta.fallback,
            // Tenancy: the key may be limited to some models; the plan keeps only the
            // targets it allows (403 when none is left).
            allowed_models: self
                .identity
                .as_ref()
                .and_then(|i| i.allowed_models.clone()),
            ..RequestOptions::default()
        }
    }

    /// Ends the request before any upstream call (`ValidationFailed`), answering
    /// `error`.
    fn refuse(mut self, error: GatewayError) -> Served {
        self.tracked.apply(Event::ValidationFailed {
            code: error.code,
            message: error.message.clone(),
        });
        let id = self.tracked.context().request_id.clone();
        self.tracked.finish();
        Served::error(self.format, error, Some(&id))
    }
}

/// The router's failure as the client's answer, with the `x-ax-*` headers of what was
/// tried; ends the lifecycle.
fn failed(tracked: Tracked, format: WireFormat, error: GatewayError) -> Served {
    let id = tracked.context().request_id.clone();
    let mut served = Served::error(format, error, Some(&id));
    served_headers(&mut served.headers, tracked.context());
    tracked.finish();
    served
}

fn set_header(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The `x-ax-*` response headers: who served the request and how.
fn served_headers(h: &mut HeaderMap, ctx: &Context) {
    set_header(h, names::REQUEST_ID, ctx.request_id.as_str());
    if let Some(p) = &ctx.provider {
        set_header(h, names::PROVIDER, p);
    }
    if let Some(m) = &ctx.model {
        set_header(h, names::MODEL, m);
    }
    h.insert(names::ATTEMPTS, HeaderValue::from(ctx.attempts));
    h.insert(
        names::FALLBACK,
        HeaderValue::from_static(if ctx.is_fallback() { "true" } else { "false" }),
    );
}
