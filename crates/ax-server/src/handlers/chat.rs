//! The chat pipeline shared by the three client formats: decode → plan → route →
//! encode, with the request tracked through its lifecycle from the first byte so that
//! every request, rejected ones included, ends in exactly one log record.

use std::sync::Arc;

use ax_core::lifecycle::{Context, Event};
use ax_core::{ChatRequest, ErrorCode, GatewayError, StreamChunk, StreamEvent, WireFormat};
use ax_providers::{ClientCodec, DecodeOptions, StreamEncoder, client_codec};
use ax_router::{RequestOptions, RoutedStream, Tracked};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::config::LogDurability;
use crate::error::ApiError;
use crate::request_log::{LogExtras, acknowledged, finish_hook, loggable_body, not_committed};
use crate::request_meta::{GatewayHeaders, names};
use crate::state::AppState;

/// Where the model and the streaming flag come from for this endpoint.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// The model from the path (Gemini).
    pub path_model: Option<String>,
    /// Streaming implied by the path (Gemini).
    pub path_stream: Option<bool>,
    /// The path itself was unusable (logged and answered like a bad body).
    pub path_error: Option<GatewayError>,
    /// Stream as one JSON array instead of SSE (Gemini `streamGenerateContent`
    /// without `?alt=sse`, as the REST API does).
    pub json_array: bool,
}

/// Serves one chat request in `format`.
pub async fn handle_chat(
    state: AppState,
    format: WireFormat,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let extras = Arc::new(LogExtras::default());
    let resp = chat(state.clone(), format, endpoint, headers, body, &extras).await;
    // Acknowledged durability: an answer built whole (success or error) goes out once
    // its log record has committed; a stream holds its last frames itself
    // (`async_stream_body`). Buffered: returned as it is.
    acknowledged(&state, &extras, format, resp).await
}

async fn chat(
    state: AppState,
    format: WireFormat,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
    extras: &Arc<LogExtras>,
) -> Response {
    let codec = client_codec(format);
    let identity = crate::auth::current_identity();
    let gw = GatewayHeaders::parse(
        &headers,
        identity.as_deref().map(|i| i.tenant_slug.as_str()),
    );
    let request_id = gw.request_id.clone();

    let mut ctx = Context::new(request_id.clone());
    ctx.conversation_id = gw.metadata.conversation_id.clone();
    ctx.user_id = gw.metadata.user_id.clone();
    ctx.tags = gw.metadata.tags.clone();
    let body = match read_body(body, state.max_body_bytes()).await {
        Ok(b) => b,
        Err((e, status)) => {
            let mut tracked = Tracked::new(ctx, finish_hook(&state, format, extras.clone()));
            tracked.apply(Event::InitiateRequest);
            tracked.apply(Event::ValidationFailed {
                code: e.code,
                message: e.message.clone(),
            });
            tracked.finish();
            return ApiError::new(format, e)
                .with_request_id(request_id)
                .with_status(status)
                .into_response();
        }
    };
    // The body to log when the request fails before it is decoded: a copy, so the
    // record does not pin the connection's read buffer.
    let keep_raw_body = |extras: &LogExtras| {
        if state.store_bodies() {
            extras.set_request(Bytes::copy_from_slice(&body));
        }
    };
    let mut tracked = Tracked::new(ctx, finish_hook(&state, format, extras.clone()));
    tracked.apply(Event::InitiateRequest);

    let fail = |mut tracked: Tracked, e: GatewayError, validation: bool| -> Response {
        let event = if validation {
            Event::ValidationFailed {
                code: e.code,
                message: e.message.clone(),
            }
        } else {
            Event::RequestFailed {
                code: e.code,
                message: e.message.clone(),
            }
        };
        tracked.apply(event);
        let id = tracked.context().request_id.clone();
        tracked.finish();
        ApiError::new(format, e).with_request_id(id).into_response()
    };

    if let Some(e) = endpoint.path_error {
        keep_raw_body(extras);
        return fail(tracked, e, true);
    }
    let opts = DecodeOptions {
        path_model: endpoint.path_model,
        path_stream: endpoint.path_stream,
        metadata: gw.metadata.clone(),
        limits: state.request_limits(),
    };
    // The decoded request shares `body` (no second copy of up to 10 MiB).
    let mut request = match codec.decode_shared(&body, opts) {
        Ok(r) => r,
        Err(e) => {
            keep_raw_body(extras);
            return fail(tracked, e, true);
        }
    };
    match &request.raw {
        Some(raw) if state.store_bodies() => extras.set_request(raw.bytes.clone()),
        _ => keep_raw_body(extras),
    }
    // The wire format's own user field fills in when the header did not.
    if tracked.context().user_id.is_none() {
        tracked.context_mut().user_id = request.metadata.user_id.clone();
    }
    request.metadata.conversation_id = gw.metadata.conversation_id.clone();
    request.metadata.tags = gw.metadata.tags.clone();

    let router = state.router().clone();
    let route_opts = RequestOptions {
        fallback: gw.fallback,
        // Tenancy: the key may be limited to some models; the plan keeps only the
        // targets it allows (403 when none is left).
        allowed_models: crate::auth::allowed_models(),
        ..RequestOptions::default()
    };

    if gw.dry_run {
        return match router.dry_run(&request.model, &route_opts) {
            Ok(plan) => {
                // A dry run calls no upstream; its record says so (tag `dry_run`,
                // code `cancelled`: the request was deliberately not executed).
                tracked.context_mut().tags.push("dry_run".into());
                tracked.apply(Event::ValidationFailed {
                    code: ErrorCode::Cancelled,
                    message: "dry run: plan returned, no upstream called".into(),
                });
                tracked.finish();
                let body = serde_json::json!({"dry_run": true, "plan": plan});
                let mut resp = axum::Json(body).into_response();
                set_header(resp.headers_mut(), names::REQUEST_ID, request_id.as_str());
                resp
            }
            Err(e) => fail(tracked, e, true),
        };
    }
    let plan = match router.plan(&request.model, &route_opts) {
        Ok(plan) => plan,
        Err(e) => return fail(tracked, e, true),
    };
    tracked.apply(Event::ValidationPassed);

    if request.stream {
        let delivery = Delivery {
            ack: (state.log_durability() == LogDurability::Acknowledged).then(|| extras.clone()),
            json_array: endpoint.json_array,
        };
        stream_response(router, codec, request, plan, route_opts, tracked, delivery).await
    } else {
        match router
            .chat_planned(&request, plan, &route_opts, &mut tracked)
            .await
        {
            Ok(outcome) => {
                let same_format = outcome.raw.as_ref().is_some_and(|r| r.format == format);
                let bytes: Bytes = match outcome.raw {
                    Some(raw) if same_format => raw.bytes,
                    _ => Bytes::from(codec.encode_response(&outcome.response)),
                };
                if let Ok(mut slot) = extras.response.lock() {
                    *slot = state.store_bodies().then(|| loggable_body(&bytes));
                }
                let mut resp = (StatusCode::OK, bytes).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                served_headers(resp.headers_mut(), tracked.context());
                tracked.finish();
                resp
            }
            Err(e) => {
                let id = tracked.context().request_id.clone();
                let mut resp = ApiError::new(format, e).with_request_id(id).into_response();
                served_headers(resp.headers_mut(), tracked.context());
                tracked.finish();
                resp
            }
        }
    }
}

/// How a stream's bytes leave the gateway.
struct Delivery {
    /// Acknowledged durability: the record whose commit the end frames wait for.
    ack: Option<Arc<LogExtras>>,
    /// One JSON array instead of SSE (Gemini without `?alt=sse`).
    json_array: bool,
}

async fn stream_response(
    router: Arc<ax_router::Router>,
    codec: &'static dyn ClientCodec,
    request: ChatRequest,
    plan: ax_router::Plan,
    opts: RequestOptions,
    tracked: Tracked,
    delivery: Delivery,
) -> Response {
    let Delivery { ack, json_array } = delivery;
    let format = codec.format();
    let encoder = codec.stream_encoder(&request);
    let include_usage = request.include_usage;
    let routed = match router
        .chat_stream_planned(&request, plan, &opts, tracked)
        .await
    {
        Ok(s) => s,
        Err((e, tracked)) => {
            let id = tracked.context().request_id.clone();
            let mut resp = ApiError::new(format, e).with_request_id(id).into_response();
            served_headers(resp.headers_mut(), tracked.context());
            tracked.finish();
            return resp;
        }
    };
    let mut headers = HeaderMap::new();
    served_headers(&mut headers, routed.context());
    let passthrough = routed.wire_format() == Some(format);

    // Drive the routed stream, turning each chunk into client bytes.
    let stream = async_stream_body(routed, encoder, passthrough, include_usage, format, ack);
    let (body, content_type) = if json_array {
        (
            Body::from_stream(super::gemini::json_array(stream)),
            "application/json",
        )
    } else {
        (Body::from_stream(stream), "text/event-stream")
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.extend(headers);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

fn async_stream_body(
    routed: RoutedStream,
    encoder: Box<dyn StreamEncoder>,
    passthrough: bool,
    include_usage: bool,
    format: WireFormat,
    ack: Option<Arc<LogExtras>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct St {
        routed: RoutedStream,
        encoder: Box<dyn StreamEncoder>,
        done: bool,
        /// Acknowledged durability: where the record's commit signal appears.
        ack: Option<Arc<LogExtras>>,
        /// Acknowledged durability: frames that may end the answer (see below), held
        /// until more content follows or the record has committed.
        held: Vec<u8>,
    }
    let st = St {
        routed,
        encoder,
        done: false,
        ack,
        held: Vec::new(),
    };
    futures::stream::unfold(st, move |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            let mut out = Vec::new();
            match st.routed.next().await {
                Some(Ok(chunk)) => {
                    // Acknowledged: a frame with no content, or saying the answer is
                    // finished (`finish_reason`, `message_delta`, `message_stop`,
                    // `[DONE]`, Gemini's last chunk), waits for the commit; a later
                    // content frame releases it, in order.
                    let closing = st.ack.is_some() && closes_answer(&chunk);
                    write_chunk(
                        &mut out,
                        &mut *st.encoder,
                        chunk,
                        passthrough,
                        include_usage,
                        format,
                    );
                    if closing {
                        st.held.append(&mut out);
                    } else if !st.held.is_empty() {
                        st.held.append(&mut out);
                        out = std::mem::take(&mut st.held);
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    // The record of a failed stream is awaited too (its error is an
                    // answer); the stream fails either way.
                    if let Some(Err(commit_error)) = committed(st.ack.as_deref()).await {
                        tracing::error!(error = %commit_error, "log record of a failed stream not committed");
                    }
                    out = std::mem::take(&mut st.held);
                    st.encoder.error(&e, &mut out);
                }
                None => {
                    st.done = true;
                    match committed(st.ack.as_deref()).await {
                        Some(Err(commit_error)) => {
                            // Never a silent success: the held end frames are dropped
                            // and the stream ends with an error event instead.
                            st.encoder.error(&not_committed(&commit_error), &mut out);
                        }
                        _ => {
                            out = std::mem::take(&mut st.held);
                            if !passthrough {
                                st.encoder.finish(&mut out);
                            }
                        }
                    }
                }
            }
            if !out.is_empty() {
                return Some((Ok(Bytes::from(out)), st));
            }
        }
    })
}

/// Whether a frame may be the end of the answer: it carries no content, or it says the
/// model finished. In acknowledged durability such frames wait for the commit.
fn closes_answer(chunk: &StreamChunk) -> bool {
    let finished = |e: &StreamEvent| matches!(e, StreamEvent::Finish { .. });
    !chunk.events.iter().any(StreamEvent::is_content) || chunk.events.iter().any(finished)
}

/// Waits for the commit of the record the finished stream queued (acknowledged
/// durability); `None` when there is nothing to wait for.
async fn committed(ack: Option<&LogExtras>) -> Option<Result<(), ax_store::StoreError>> {
    let commit = ack?.take_commit()?;
    Some(commit.await)
}

fn write_chunk(
    out: &mut Vec<u8>,
    encoder: &mut dyn StreamEncoder,
    chunk: StreamChunk,
    passthrough: bool,
    include_usage: bool,
    format: WireFormat,
) {
    match chunk.raw {
        Some(raw) if passthrough => {
            // The usage chunk was forced on upstream; a client that did not ask for it
            // does not get it.
            let usage_only = format == WireFormat::OpenAi
                && !chunk.events.is_empty()
                && chunk
                    .events
                    .iter()
                    .all(|e| matches!(e, StreamEvent::Usage(_)));
            if !usage_only || include_usage {
                out.extend_from_slice(&raw);
            }
        }
        _ => {
            for event in &chunk.events {
                encoder.encode(event, out);
            }
        }
    }
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, (GatewayError, StatusCode)> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // Typed, not by matching the message: the limit error is the source.
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            (
                GatewayError::invalid(format!("request body is larger than {limit} bytes")),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        } else {
            (
                GatewayError::invalid(format!("could not read the request body: {e}")),
                StatusCode::BAD_REQUEST,
            )
        }
    })
}

fn set_header(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The `x-ax-*` response headers: who served the request and how.
pub(crate) fn served_headers(h: &mut HeaderMap, ctx: &Context) {
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
