//! The token counting operation: Anthropic `POST /v1/messages/count_tokens` and Gemini
//! `…:countTokens`, answered by any upstream kind. Decode (the client's chat decoder,
//! with no output cap required) → stages → plan (as chat: [`Op::CountTokens`]) → the
//! provider's count → the client's answer.
//!
//! Who counts is the provider the plan picks ([`ax_core::Provider::count_tokens`]):
//! Anthropic and Gemini upstreams are asked at their own count endpoints (exact),
//! OpenAI-format upstreams are counted here with tiktoken (exact for known models and
//! text only), the mock and any other provider give the gateway's estimate. Whether
//! the number is exact goes back in `x-ax-tokens-exact`.
//!
//! One log row per request, tagged `count_tokens`: its input tokens are the count, its
//! output 0, and it costs nothing (Anthropic's and Gemini's count endpoints are free;
//! the record is [`LogExtras::set_unbilled`], so neither the row nor the caller's
//! budget is charged for the prompt that was only counted). Admission charges the
//! caller's request limits and a token estimate of 1: a count generates nothing.

use std::sync::Arc;

use ax_core::lifecycle::Event;
use ax_core::{TokenCount, WireFormat};
use ax_providers::{DecodeOptions, client_codec};
use ax_router::{CountTokensOp, Op};
use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use super::record::{LogExtras, loggable_body};
use super::{ChatPath, Flight, Gateway, Parts, Served, chat, failed, record, served_headers};

/// `x-ax-tokens-exact` (response): `true` when the count is the model's own, `false`
/// when it is an estimate.
pub const TOKENS_EXACT: HeaderName = HeaderName::from_static("x-ax-tokens-exact");

/// The tag of every count's log row.
pub const TAG: &str = "count_tokens";

/// Tokens a count is charged by admission before it runs: it generates nothing.
const ADMISSION_ESTIMATE: u64 = 1;

/// Serves one count call, start to end (the acknowledged-durability wait included).
pub(super) async fn serve(gw: &Arc<Gateway>, call: Parts, path: ChatPath) -> Served {
    let extras = &Arc::new(LogExtras::default());
    let format = call.format;
    let served = run(gw, call, path, extras).await;
    record::acknowledged(gw.settings.log_durability, extras, format, served).await
}

async fn run(gw: &Arc<Gateway>, call: Parts, path: ChatPath, extras: &Arc<LogExtras>) -> Served {
    let Parts {
        format,
        headers,
        identity,
        body,
    } = call;
    // An Anthropic client's `anthropic-version` and betas go on to an Anthropic upstream,
    // as for Messages.
    let anthropic = match format {
        WireFormat::Anthropic => ax_providers::anthropic::client_headers(&headers),
        _ => None,
    };
    let mut flight = gw.start(format, &headers, identity, extras);
    flight.tracked.context_mut().tags.push(TAG.into());
    extras.set_unbilled();
    let (flight, request) = match decode(gw, flight, body, path, anthropic, extras) {
        Ok(decoded) => decoded,
        Err(refused) => return *refused,
    };
    let ex = flight.exchange(&request.model, ADMISSION_ESTIMATE);
    if let Err(e) = gw.admit(ex, extras).await {
        return flight.refuse(e);
    }
    let router = Arc::clone(gw.router());
    let route_opts = flight.route_options();
    if flight.meta.dry_run {
        return chat::dry_run(&router, flight, &request.model, &route_opts);
    }
    let plan = match router.plan_for(Op::CountTokens, &request.model, &route_opts) {
        Ok(plan) => plan,
        Err(e) => return flight.refuse(e),
    };
    let Flight { mut tracked, .. } = flight;
    tracked.apply(Event::ValidationPassed);
    match router
        .execute(
            &CountTokensOp::new(&request),
            plan,
            &route_opts,
            &mut tracked,
        )
        .await
    {
        Ok(count) => {
            let body = Bytes::from(client_codec(format).encode_token_count(count));
            if let Ok(mut slot) = extras.response.lock() {
                *slot = gw.settings.store_bodies.then(|| loggable_body(&body));
            }
            let mut served = Served::json(body);
            served_headers(&mut served.headers, tracked.context());
            served.headers.insert(TOKENS_EXACT, exact_header(count));
            tracked.finish();
            served
        }
        Err(e) => failed(tracked, format, e),
    }
}

fn exact_header(count: TokenCount) -> HeaderValue {
    HeaderValue::from_static(if count.exact { "true" } else { "false" })
}

/// Decodes the body with the client's count decoder (under the request-shape limits)
/// and keeps it for the log; a refusal is answered in the client's format.
fn decode(
    gw: &Gateway,
    mut flight: Flight,
    body: Result<Bytes, ax_core::GatewayError>,
    path: ChatPath,
    anthropic: Option<ax_core::AnthropicHeaders>,
    extras: &LogExtras,
) -> Result<(Flight, ax_core::ChatRequest), Box<Served>> {
    let body = match body {
        Ok(b) => b,
        Err(e) => return Err(Box::new(flight.refuse(e))),
    };
    if gw.settings.store_bodies {
        // A copy: the record must not pin the connection's read buffer.
        extras.set_request(Bytes::copy_from_slice(&body));
    }
    if let Some(e) = path.error {
        return Err(Box::new(flight.refuse(e)));
    }
    let opts = DecodeOptions {
        path_model: path.model,
        // A count is never a stream, whatever the body says.
        path_stream: Some(false),
        metadata: flight.meta.metadata.clone(),
        limits: gw.settings.request_limits,
        anthropic,
    };
    let mut request = match client_codec(flight.format).decode_count_tokens(&body, opts) {
        Ok(r) => r,
        Err(e) => return Err(Box::new(flight.refuse(e))),
    };
    // The wire format's own user field fills in when the header did not.
    if flight.tracked.context().user_id.is_none() {
        flight.tracked.context_mut().user_id = request.metadata.user_id.clone();
    }
    request.metadata.conversation_id = flight.meta.metadata.conversation_id.clone();
    request.metadata.tags = flight.meta.metadata.tags.clone();
    Ok((flight, request))
}
