//! The end of every request: its final lifecycle context becomes one log record (queued
//! to the batched writer, never written on the request path) and its metrics.

use std::sync::{Arc, Mutex};

use ax_core::WireFormat;
use ax_core::lifecycle::{Context, State};
use ax_store::LogRecord;
use bytes::Bytes;

use crate::state::AppState;
use ax_core::pricing;

/// Longest body stored in a log row; longer ones are cut (and say so).
const MAX_LOGGED_BODY: usize = 64 * 1024;

/// Bodies captured along the way, filled in by the handler.
#[derive(Debug, Default)]
pub struct LogExtras {
    /// The client's request body as received, made text only when the record is
    /// written. After a successful decode it is the request's own copy (shared, not
    /// copied again), so a long stream holds one copy of the body, not two.
    pub request: Mutex<Option<Bytes>>,
    /// The answer (non-streamed only).
    pub response: Mutex<Option<String>>,
}

impl LogExtras {
    /// Keeps `body` as the request body of the log record.
    pub fn set_request(&self, body: Bytes) {
        if let Ok(mut slot) = self.request.lock() {
            *slot = Some(body);
        }
    }
}

/// Builds the hook the router calls exactly once with the final context.
pub fn finish_hook(
    state: &AppState,
    format: WireFormat,
    extras: Arc<LogExtras>,
) -> Box<dyn FnOnce(Context) + Send> {
    let state = state.clone();
    // Tenancy: the authenticated key of this request (set by `auth::client_auth`).
    let identity = crate::auth::current_identity();
    Box::new(move |ctx: Context| {
        record_metrics(&ctx, format);
        if let Some(id) = &identity {
            let cost = ctx
                .model
                .as_deref()
                .and_then(|m| pricing::cost_usd(m, &ctx.usage));
            id.record_usage(&ctx.usage, cost);
        }
        let Some(writer) = state.writer() else { return };
        let mut rec = LogRecord::from_context(&ctx);
        rec.tenant_id = identity.as_ref().map(|i| i.tenant_id);
        rec.key_id = identity.as_ref().map(|i| i.key_id);
        rec.cost_usd = ctx
            .model
            .as_deref()
            .and_then(|m| pricing::cost_usd(m, &ctx.usage));
        if state.store_bodies() {
            rec.request_data = extras
                .request
                .lock()
                .ok()
                .and_then(|r| r.as_deref().map(loggable_body));
            rec.response_data = extras.response.lock().ok().and_then(|mut r| r.take());
        }
        // Queue without a task per request; only a full queue (backpressure) needs
        // one, to wait for room. The hook may run inside Drop (client went away), so
        // that wait is spawned on the runtime rather than awaited here.
        // `ax_log_queue_depth` is read from the writer when /metrics is scraped.
        match writer.try_submit(rec) {
            Ok(()) => {}
            Err(ax_store::TrySubmitError::Full(rec)) => {
                let writer = writer.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(async move { writer.submit(*rec).await });
                    }
                    Err(_) => tracing::error!("log record dropped: queue full and no runtime"),
                }
            }
            Err(ax_store::TrySubmitError::Closed(_)) => {
                tracing::error!("log writer is shut down: log record refused");
            }
        }
    })
}

/// A body for the log: valid UTF-8 text, cut at [`MAX_LOGGED_BODY`].
pub fn loggable_body(bytes: &[u8]) -> String {
    let cut = bytes.len().min(MAX_LOGGED_BODY);
    // Bodies are almost always valid UTF-8: validate and copy in one pass, and fall back
    // to the slower replacing conversion only when needed (a cut may split a char).
    let mut s = match std::str::from_utf8(&bytes[..cut]) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(&bytes[..cut]).into_owned(),
    };
    if bytes.len() > MAX_LOGGED_BODY {
        s.push_str("…[truncated]");
    }
    s
}

fn record_metrics(ctx: &Context, format: WireFormat) {
    let provider = ctx.provider.clone().unwrap_or_else(|| "none".into());
    let model = ctx.model.clone().unwrap_or_else(|| "none".into());
    let outcome = match (ctx.state, &ctx.error) {
        (State::Completed, _) => "success",
        (_, Some((code, _))) => code.as_str(),
        _ => "error",
    };
    metrics::counter!("ax_requests_total", "provider" => provider.clone(), "model" => model, "outcome" => outcome, "format" => format.as_str())
        .increment(1);
    if let Some(ms) = ctx.duration_ms() {
        metrics::histogram!("ax_request_duration_seconds", "provider" => provider.clone())
            .record(ms as f64 / 1000.0);
    }
    if let Some(ms) = ctx.first_token_ms() {
        metrics::histogram!("ax_first_token_seconds", "provider" => provider.clone())
            .record(ms as f64 / 1000.0);
    }
    if ctx.usage.input_tokens > 0 {
        metrics::counter!("ax_tokens_total", "provider" => provider.clone(), "direction" => "input")
            .increment(ctx.usage.input_tokens);
    }
    if ctx.usage.output_tokens > 0 {
        metrics::counter!("ax_tokens_total", "provider" => provider, "direction" => "output")
            .increment(ctx.usage.output_tokens);
    }
}
