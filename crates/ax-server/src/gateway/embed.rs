//! The embeddings operation: decode → stages → plan (the embedding plan, which both
//! validates and executes) → execute → encode.

use std::sync::Arc;

use ax_core::lifecycle::Event;
use ax_providers::client_codec;
use ax_router::{EmbedOp, Op};

use super::record::LogExtras;
use super::{EmbedPath, Flight, Gateway, Parts, Served, failed, record, served_headers};

/// Serves one embeddings call, start to end (the acknowledged-durability wait
/// included).
pub(super) async fn serve(gw: &Arc<Gateway>, call: Parts, path: EmbedPath) -> Served {
    let extras = &Arc::new(LogExtras::default());
    let Parts {
        format,
        headers,
        identity,
        body,
    } = call;
    let served = run(gw, format, headers, identity, body, path, extras).await;
    record::acknowledged(gw.settings.log_durability, extras, format, served).await
}

async fn run(
    gw: &Arc<Gateway>,
    format: ax_core::WireFormat,
    headers: http::HeaderMap,
    identity: Option<Arc<crate::auth::Identity>>,
    body: Result<bytes::Bytes, ax_core::GatewayError>,
    path: EmbedPath,
    extras: &Arc<LogExtras>,
) -> Served {
    let codec = client_codec(format);
    let settings = gw.settings;
    let mut flight = gw.start(format, &headers, identity, extras);
    flight.tracked.context_mut().tags.push("embeddings".into());
    let bytes = match body {
        Ok(b) => b,
        Err(e) => return flight.refuse(e),
    };
    let (request, reply) =
        match codec.decode_embeddings(&bytes, path.model.as_deref(), &settings.request_limits) {
            Ok(r) => r,
            Err(e) => return flight.refuse(e),
        };
    let chars: u64 = request.input.texts().iter().map(|t| t.len() as u64).sum();
    let estimate = chars.div_ceil(4).max(1);
    let ex = flight.exchange(&request.model, estimate);
    if let Err(e) = gw.admit(ex, extras).await {
        return flight.refuse(e);
    }
    let router = Arc::clone(gw.router());
    let opts = flight.route_options();
    // One plan validates the request and runs it.
    let plan = match router.plan_for(Op::Embed, &request.model, &opts) {
        Ok(plan) => plan,
        Err(e) => return flight.refuse(e),
    };
    let Flight { mut tracked, .. } = flight;
    tracked.apply(Event::ValidationPassed);
    match router
        .execute(&EmbedOp::new(&request), plan, &opts, &mut tracked)
        .await
    {
        Ok(resp) => {
            let mut served = Served::json(codec.encode_embeddings(&resp, reply));
            // Who served it, as for chat: `x-ax-request-id`, `-provider`, `-model`, …
            served_headers(&mut served.headers, tracked.context());
            tracked.finish();
            served
        }
        Err(e) => failed(tracked, format, e),
    }
}
