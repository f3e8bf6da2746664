//! The chat operation: decode → stages → plan → execute → encode, in any of the three
//! client formats, streamed or not.

use std::sync::Arc;

use ax_core::ChatRequest;
use ax_core::lifecycle::Event;
use ax_core::{ErrorCode, WireFormat};
use ax_providers::{DecodeOptions, client_codec};
use ax_router::{ChatOp, RequestOptions, Router};
use bytes::Bytes;

use super::record::{LogExtras, loggable_body};
use super::stream::{Delivery, stream_response};
use super::{ChatPath, Flight, Gateway, Parts, Served, failed, record, served_headers, set_header};
use crate::config::LogDurability;
use crate::request_meta::names;

/// Output tokens assumed for the admission estimate when the request sets no cap.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// Serves one chat call, start to end (the acknowledged-durability wait included).
pub(super) async fn serve(gw: &Arc<Gateway>, call: Parts, path: ChatPath) -> Served {
    let extras = &Arc::new(LogExtras::default());
    let format = call.format;
    let served = 'served: {
        // Anthropic clients' `anthropic-version` and `anthropic-beta`, for an Anthropic
        // upstream.
        let anthropic = match format {
            WireFormat::Anthropic => ax_providers::anthropic::client_headers(&call.headers),
            _ => None,
        };
        let flight = gw.start(format, &call.headers, call.identity, extras);
        let json_array = path.json_array;
        let (flight, mut request) = match decode(gw, flight, call.body, path, anthropic, extras) {
            Ok(decoded) => decoded,
            Err(refused) => break 'served *refused,
        };
        // Responses API: a stored conversation to continue, an answer to keep. Boxed:
        // the store's future would otherwise grow every chat request's.
        let keeper = if format == WireFormat::Responses {
            let identity = flight.identity.as_deref();
            match Box::pin(super::responses::prepare(gw, &mut request, identity)).await {
                Ok(keeper) => keeper,
                Err(e) => break 'served flight.refuse(e),
            }
        } else {
            None
        };
        let estimate = request.estimated_input_tokens()
            + request
                .params
                .max_tokens
                .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
        let ex = flight.exchange(&request.model, estimate);
        if let Err(e) = gw.admit(ex, extras).await {
            break 'served flight.refuse(e);
        }
        let router = Arc::clone(gw.router());
        let route_opts = flight.route_options();
        if flight.meta.dry_run {
            break 'served dry_run(&router, flight, &request.model, &route_opts);
        }
        let plan = match router.plan_for(ax_router::Op::Chat, &request.model, &route_opts) {
            Ok(plan) => plan,
            Err(e) => break 'served flight.refuse(e),
        };
        let Flight { mut tracked, .. } = flight;
        tracked.apply(Event::ValidationPassed);

        let codec = client_codec(format);
        if request.stream {
            let delivery = Delivery {
                ack: (gw.settings.log_durability == LogDurability::Acknowledged)
                    .then(|| Arc::clone(extras)),
                json_array,
                keeper,
            };
            return stream_response(router, codec, request, plan, route_opts, tracked, delivery)
                .await;
        }
        match router
            .execute(&ChatOp::new(&request), plan, &route_opts, &mut tracked)
            .await
        {
            Ok(outcome) => {
                // The upstream's own bytes when the client speaks its format.
                let bytes: Bytes = match outcome.raw {
                    Some(raw) if raw.format == format => raw.bytes,
                    _ => {
                        note_dropped(tracked.context_mut(), &request.dropped_fields);
                        let bytes = Bytes::from(codec.encode_response(&request, &outcome.response));
                        // A translated Responses answer is kept by ax (an upstream that
                        // speaks the format keeps its own).
                        if let Some(keeper) = keeper {
                            Box::pin(keeper.keep(&outcome.response, &bytes)).await;
                        }
                        bytes
                    }
                };
                if let Ok(mut slot) = extras.response.lock() {
                    *slot = gw.settings.store_bodies.then(|| loggable_body(&bytes));
                }
                let mut served = Served::json(bytes);
                served_headers(&mut served.headers, tracked.context());
                tracked.finish();
                served
            }
            Err(e) => failed(tracked, format, e),
        }
    };
    // Acknowledged durability: an answer built whole (success or error) goes out once
    // its log record has committed; a stream holds its last frames itself.
    record::acknowledged(gw.settings.log_durability, extras, format, served).await
}

/// Lists in the log row (as `dropped:<path>` tags) what the translation to another
/// format left out of the client's request; a same-format answer drops nothing.
pub(super) fn note_dropped(ctx: &mut ax_core::lifecycle::Context, dropped: &[String]) {
    ctx.tags
        .extend(dropped.iter().map(|f| format!("dropped:{f}")));
}

/// Decodes the body in the client's format (under the request-shape limits) and keeps
/// it for the log; a refusal is answered in the client's format.
fn decode(
    gw: &Gateway,
    mut flight: Flight,
    body: Result<Bytes, ax_core::GatewayError>,
    path: ChatPath,
    anthropic: Option<ax_core::AnthropicHeaders>,
    extras: &LogExtras,
) -> Result<(Flight, ChatRequest), Box<Served>> {
    let store_bodies = gw.settings.store_bodies;
    let body = match body {
        Ok(b) => b,
        Err(e) => return Err(Box::new(flight.refuse(e))),
    };
    // The body to log when the request fails before it is decoded: a copy, so the
    // record does not pin the connection's read buffer.
    let keep_raw_body = |extras: &LogExtras| {
        if store_bodies {
            extras.set_request(Bytes::copy_from_slice(&body));
        }
    };
    if let Some(e) = path.error {
        keep_raw_body(extras);
        return Err(Box::new(flight.refuse(e)));
    }
    let opts = DecodeOptions {
        path_model: path.model,
        path_stream: path.stream,
        metadata: flight.meta.metadata.clone(),
        limits: gw.settings.request_limits,
        anthropic,
    };
    // The decoded request shares `body` (no second copy of up to 10 MiB).
    let mut request = match client_codec(flight.format).decode_shared(&body, opts) {
        Ok(r) => r,
        Err(e) => {
            keep_raw_body(extras);
            return Err(Box::new(flight.refuse(e)));
        }
    };
    match &request.raw {
        Some(raw) if store_bodies => extras.set_request(raw.bytes.clone()),
        _ => keep_raw_body(extras),
    }
    // The wire format's own user field fills in when the header did not.
    if flight.tracked.context().user_id.is_none() {
        flight.tracked.context_mut().user_id = request.metadata.user_id.clone();
    }
    request.metadata.conversation_id = flight.meta.metadata.conversation_id.clone();
    request.metadata.tags = flight.meta.metadata.tags.clone();
    Ok((flight, request))
}

/// The plan with each target's state, calling no upstream (`x-ax-dry-run`).
pub(super) fn dry_run(
    router: &Router,
    flight: Flight,
    model: &str,
    opts: &RequestOptions,
) -> Served {
    let plan = match router.dry_run(model, opts) {
        Ok(plan) => plan,
        Err(e) => return flight.refuse(e),
    };
    let Flight {
        mut tracked, meta, ..
    } = flight;
    // A dry run calls no upstream; its record says so (tag `dry_run`, code
    // `cancelled`: the request was deliberately not executed).
    tracked.context_mut().tags.push("dry_run".into());
    tracked.apply(Event::ValidationFailed {
        code: ErrorCode::Cancelled,
        message: "dry run: plan returned, no upstream called".into(),
    });
    tracked.finish();
    let body = serde_json::json!({"dry_run": true, "plan": plan});
    let mut served = Served::json(body.to_string());
    set_header(
        &mut served.headers,
        names::REQUEST_ID,
        meta.request_id.as_str(),
    );
    served
}
